"""Writing ROS 2 bags (MCAP or sqlite3) from a source of timed frames and audio.

Topics (defaults; ``BagTopics``): ``/camera/image_raw`` (sensor_msgs/Image rgb8, or
sensor_msgs/CompressedImage JPEG on ``/camera/image_raw/compressed``), the audio as one
audio_common_msgs flavour (ros-drivers: AudioDataStamped on ``/audio/audio_stamped`` with
AudioInfo on ``/audio/audio_info`` at the start and every 5 s, as audio_capture does;
mgonzs13: AudioStamped on ``/audio``), ``/avs/gt_mask`` (mono8 class ids, the image's stamp)
where ground truth exists, and ``/avs/clip`` (std_msgs/String, the clip's name, before its
first frame). Frames with depth (``avs bag --depth``) add, with the image's stamp and arrival,
``/camera/camera_info`` (sensor_msgs/CameraInfo), ``/camera/depth_registered/image_raw``
(16UC1 mm, registered to the image) and the geometry's ground truth ``/avs/gt_depth`` (32FC1
m) and ``/avs/gt_instances`` (mono8 instance ids).

Receive (log) times model a live recording: an audio message arrives
:data:`AUDIO_DELAY_NS` after its last sample, an image :data:`IMAGE_DELAY_NS` after its stamp.
Audio is cut into messages of a length drawn uniformly from ``chunk_ms`` (whole samples),
each stamped with its first sample. Messages are written in log-time order; every
definition goes into the bag (MCAP schemas, sqlite3 ``message_definitions``) so that readers
without our packages decode it.
"""
from __future__ import annotations

import heapq
import itertools
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from . import messages
from .msgdefs import STAMPED_AUDIO
from .sources import NS_PER_S, SAMPLE_RATE, Audio, Frame
from .types import AUDIO_INFO, CAMERA_INFO, COMPRESSED_IMAGE, IMAGE, STRING, typestore

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
AUDIO_DELAY_NS = 2_000_000
IMAGE_DELAY_NS = 5_000_000
INFO_PERIOD_NS = 5 * NS_PER_S


@dataclass(frozen=True)
class BagTopics:
    """Topic names of a bag; ``audio=""`` means the flavour's usual topic."""

    image: str = "/camera/image_raw"
    audio: str = ""
    audio_info: str = "/audio/audio_info"
    gt: str = "/avs/gt_mask"
    clip: str = "/avs/clip"
    depth: str = "/camera/depth_registered/image_raw"
    camera_info: str = "/camera/camera_info"
    gt_depth: str = "/avs/gt_depth"
    gt_instances: str = "/avs/gt_instances"

    def audio_topic(self, audio_type: str) -> str:
        """The audio topic for ``audio_type`` (node defaults when ``audio`` is empty)."""
        if self.audio:
            return self.audio
        return "/audio/audio_stamped" if audio_type == "audio_data_stamped" else "/audio"


class BagWriter:
    """A rosbag2 writer with per-topic connections created on first use and a time-ordered
    queue: :meth:`put` queues a message, :meth:`flush` writes those up to a log time.

    Args:
        path: the bag folder to create (must not exist unless ``overwrite``).
        store: the typestore (:func:`.types.typestore`).
        storage: ``"mcap"`` or ``"sqlite3"``.
        overwrite: remove an existing ``path`` first.

    Raises:
        ValueError: unknown storage.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """

    def __init__(self, path: str | Path, store, storage: str = "mcap",
                 overwrite: bool = False) -> None:
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {sorted(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            if not overwrite:
                raise FileExistsError(f"{self.path} exists; remove it or choose another path")
            shutil.rmtree(self.path) if self.path.is_dir() else self.path.unlink()
        self.store = store
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        self._writer.open()
        self._connections: dict[str, object] = {}
        self._queue: list = []
        self._seq = itertools.count()
        self.counts: dict[str, int] = {}

    def put(self, topic: str, msgtype: str, log_ns: int, msg) -> None:
        """Queue ``msg`` (a typestore object of ``msgtype``) for ``topic`` at ``log_ns``."""
        heapq.heappush(self._queue, (int(log_ns), next(self._seq), topic, msgtype, msg))

    def put_raw(self, topic: str, msgtype: str, log_ns: int, data: bytes, msgdef: str,
                rihs01: str) -> None:
        """Queue an already serialised (CDR) message with its type's stored definition
        (``msgdef`` text, ``rihs01`` hash), e.g. copied from another bag."""
        heapq.heappush(self._queue, (int(log_ns), next(self._seq), topic, msgtype,
                                     (bytes(data), msgdef, rihs01)))

    def flush(self, until_ns: int | None = None) -> None:
        """Write queued messages with log time <= ``until_ns`` (all when None), in order."""
        while self._queue and (until_ns is None or self._queue[0][0] <= until_ns):
            log_ns, _, topic, msgtype, msg = heapq.heappop(self._queue)
            if isinstance(msg, tuple):
                self._write_raw(topic, msgtype, log_ns, *msg)
            else:
                self.write(topic, msgtype, log_ns, msg)

    def write(self, topic: str, msgtype: str, log_ns: int, msg) -> None:
        """Write one message now (the caller keeps log times ordered)."""
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self.store)
        self._writer.write(conn, int(log_ns), self.store.serialize_cdr(msg, msgtype))
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def _write_raw(self, topic, msgtype, log_ns, data, msgdef, rihs01) -> None:
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._connections[topic] = self._writer.add_connection(
                topic, msgtype, msgdef=msgdef, rihs01=rihs01)
        self._writer.write(conn, int(log_ns), data)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def close(self) -> None:
        """Write what is queued and close the bag (idempotent)."""
        if self._writer is not None:
            self.flush()
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AudioChunker:
    """Cuts contiguous 16 kHz pieces into messages of ``chunk_ms`` = (min, max) ms, lengths
    drawn uniformly with ``rng``. A piece that does not continue the previous one (its stamp
    off by more than one sample) first flushes the remainder and starts a new run.

    Raises:
        ValueError: a range outside (0, 10000] ms or min > max.
    """

    def __init__(self, chunk_ms: tuple[float, float], rng: np.random.Generator) -> None:
        lo, hi = chunk_ms
        if not 0 < lo <= hi <= 10_000:
            raise ValueError(f"chunk_ms must satisfy 0 < min <= max <= 10000, got {chunk_ms}")
        self.lo, self.hi = int(round(lo * SAMPLE_RATE / 1000)), int(round(hi * SAMPLE_RATE / 1000))
        self.rng = rng
        self._start_ns = 0
        self._done = 0          # samples emitted in the current run
        self._pending = np.zeros(0, np.float32)
        self._next = self._draw()

    def _draw(self) -> int:
        return int(self.rng.integers(max(1, self.lo), self.hi + 1))

    def _stamp(self, index: int) -> int:
        return self._start_ns + (index * NS_PER_S + SAMPLE_RATE // 2) // SAMPLE_RATE

    def feed(self, piece: Audio) -> list[tuple[int, np.ndarray]]:
        """Add a piece; return the complete chunks as (stamp_ns, float32 samples)."""
        out = []
        expected = self._stamp(self._done + self._pending.size)
        if abs(piece.stamp_ns - expected) > NS_PER_S // SAMPLE_RATE or not (
                self._done or self._pending.size):
            out += self.finish()
            self._start_ns, self._done = piece.stamp_ns, 0
        self._pending = np.concatenate([self._pending, piece.samples.astype(np.float32)])
        while self._pending.size >= self._next:
            out.append((self._stamp(self._done), self._pending[:self._next]))
            self._done += self._next
            self._pending = self._pending[self._next:]
            self._next = self._draw()
        return out

    def finish(self) -> list[tuple[int, np.ndarray]]:
        """The remainder of the current run as a last (shorter) chunk, if any."""
        if not self._pending.size:
            return []
        out = [(self._stamp(self._done), self._pending)]
        self._done += self._pending.size
        self._pending = np.zeros(0, np.float32)
        return out


@dataclass
class WriteSummary:
    """What :func:`write_bag` wrote: message counts by topic, frames, seconds of audio."""

    path: Path
    counts: dict[str, int]
    frames: int
    audio_s: float


def _put_depth(bag: BagWriter, store, topics: BagTopics, item: Frame, arrival: int) -> None:
    """The frame's registered depth (16UC1 mm) and camera_info, as an RGB-D driver publishes
    them with the colour image's stamp, plus the ground truth of the geometry: true depth
    (32FC1 m) and instance ids (mono8)."""
    stamp = item.stamp_ns
    bag.put(topics.camera_info, CAMERA_INFO, arrival,
            messages.camera_info(store, stamp, "camera", item.camera))
    bag.put(topics.depth, IMAGE, arrival, messages.depth_image(store, stamp, "camera",
                                                               item.depth))
    bag.put(topics.gt_depth, IMAGE, arrival, messages.depth_image(
        store, stamp, "camera", item.true_depth.astype(np.float32)))
    bag.put(topics.gt_instances, IMAGE, arrival,
            messages.mono8_image(store, stamp, "camera", item.instances))


def write_bag(items: Iterable[Frame | Audio], out: str | Path, storage: str = "mcap",
              audio_type: str = "audio_data_stamped", compressed: bool = False,
              chunk_ms: tuple[float, float] = (20.0, 100.0), seed: int = 0,
              topics: BagTopics = BagTopics(), overwrite: bool = False,
              progress=None) -> WriteSummary:
    """Write a source (:mod:`.sources`) to a new bag; see the module docstring.

    Args:
        items: frames and audio pieces in stamp order.
        out: bag folder to create.
        storage: ``"mcap"`` or ``"sqlite3"``.
        audio_type: ``"audio_data_stamped"`` (ros-drivers) or ``"audio_stamped"`` (mgonzs13).
        compressed: JPEG CompressedImage instead of raw rgb8 Image.
        chunk_ms: audio message length range in ms.
        seed: seed of the chunk lengths.
        topics: topic names.
        overwrite: replace an existing ``out``.
        progress: optional callable(frame_count) after each frame.

    Raises:
        ValueError, FileExistsError: bad arguments (see :class:`BagWriter`,
            :class:`AudioChunker`); errors of the source propagate, and the bag written so far
            is closed properly (readable, up to the last message written).
    """
    store = typestore(audio_type)
    chunker = AudioChunker(chunk_ms, np.random.default_rng([seed, 0xA0D]))
    audio_topic, audio_msgtype = topics.audio_topic(audio_type), STAMPED_AUDIO[audio_type]
    image_type = COMPRESSED_IMAGE if compressed else IMAGE
    image_topic = topics.image + "/compressed" if compressed and not \
        topics.image.endswith("/compressed") else topics.image
    frames, audio_samples, last_info, clip = 0, 0, None, None
    with BagWriter(out, store, storage, overwrite) as bag:
        def put_chunks(chunks):
            nonlocal audio_samples, last_info
            for stamp, samples in chunks:
                arrival = stamp + (samples.size * NS_PER_S) // SAMPLE_RATE + AUDIO_DELAY_NS
                if audio_type == "audio_data_stamped" and (
                        last_info is None or arrival - last_info >= INFO_PERIOD_NS):
                    bag.put(topics.audio_info, AUDIO_INFO, arrival - 1, messages.audio_info(store))
                    last_info = arrival
                bag.put(audio_topic, audio_msgtype, arrival, messages.audio_stamped(
                    store, audio_type, stamp, "microphone", samples))
                audio_samples += samples.size

        for item in items:
            if isinstance(item, Audio):
                put_chunks(chunker.feed(item))
            else:
                arrival = item.stamp_ns + IMAGE_DELAY_NS
                if item.clip != clip:
                    clip = item.clip
                    bag.put(topics.clip, STRING, arrival - 1, messages.string(store, clip))
                msg = (messages.compressed_image if compressed else messages.rgb_image)(
                    store, item.stamp_ns, "camera", item.image)
                bag.put(image_topic, image_type, arrival, msg)
                if item.gt is not None:
                    bag.put(topics.gt, IMAGE, arrival,
                            messages.mono8_image(store, item.stamp_ns, "camera", item.gt))
                if item.depth is not None:
                    _put_depth(bag, store, topics, item, arrival)
                frames += 1
                if progress:
                    progress(frames)
            bag.flush(item.stamp_ns)
        put_chunks(chunker.finish())
        bag.flush()
        counts = dict(bag.counts)
    return WriteSummary(Path(out), counts, frames, audio_samples / SAMPLE_RATE)
