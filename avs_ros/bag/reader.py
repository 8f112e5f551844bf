"""Reading a ROS 2 bag (MCAP or sqlite3, as ``ros2 bag record`` writes them) as the events the
runtime consumes: camera frames, audio chunks, ground-truth masks and clip names, in receive
(log) time order.

Topics are found by type unless named: the camera is the one ``sensor_msgs/msg/Image`` or
``CompressedImage`` topic that is not ground truth or one of our outputs (``/camera/image_raw``
preferred when several); the audio is the ``audio_common_msgs/msg/AudioDataStamped``
(ros-drivers) or ``AudioStamped`` (mgonzs13) topic; 3-D inputs when present: the
``sensor_msgs/msg/CameraInfo`` topic (the image's sibling ``camera_info`` preferred), the
registered depth topic (default ``/camera/depth_registered/image_raw``) and the geometry's
ground truth of ``avs bag --depth`` (``/avs/gt_depth`` 32FC1, ``/avs/gt_instances`` mono8).
Messages are decoded with the definitions stored in the bag; a bag without them (recorded before
ROS 2 Iron) falls back to our typestore with the ``audio_type`` flavour.

Audio is read with the node's own code (:mod:`avs_ros.core.audio_msgs`): AudioDataStamped
through the same :class:`~avs_ros.core.audio_msgs.AudioDataStampedReader`, in the format of the
latest AudioInfo on ``audio_info_topic`` (S16LE, 16 kHz, mono until one arrives; raw PCM in
any supported sample format, or mp3 decoded incrementally); AudioStamped carries its format
(a PortAudio constant) in every message.

Errors: problems with the bag as a whole (missing file, unreadable or truncated storage, no
camera or audio topic, an unknown audio type, a ground-truth topic that is not mono8) raise
:class:`BagError` naming the file or topic and what was expected; a truncated file raises it
when the reading reaches the damage, after the events before it were delivered. A single
undecodable message (bad image encoding, compressed audio) is delivered as a
:class:`BadMessage` event so that the caller can count it and go on, as the node does.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader

from avs_ros.core import audio_msgs
from avs_ros.core.errors import AudioFormatError, ImageFormatError
from avs_ros.core.geometry import CameraModel, DepthImage, GeometryInputError, decode_depth
from avs_ros.core.image_codec import compressed_to_rgb, raw_to_rgb

from .msgdefs import STAMPED_AUDIO
from .types import AUDIO_INFO, CAMERA_INFO, COMPRESSED_IMAGE, IMAGE, STRING, typestore

NS_PER_S = 1_000_000_000
AUDIO_TYPES = {v: k for k, v in STAMPED_AUDIO.items()}   # message type -> flavour
#: topics of our own outputs, never taken for the camera
OUTPUT_PREFIX = "/avs_node/"


class BagError(ValueError):
    """A bag cannot be read as asked; the message names the file or topic and what was
    expected."""


@dataclass(frozen=True)
class ImageEvent:
    """A camera frame: ``rgb`` uint8 [H, W, 3]; ``stamp_ns`` its header stamp."""

    log_ns: int
    stamp_ns: int
    frame_id: str
    rgb: np.ndarray


@dataclass(frozen=True)
class AudioEvent(audio_msgs.AudioChunk):
    """An audio message's :class:`~avs_ros.core.audio_msgs.AudioChunk` (``stamp_ns`` of its
    first sample) and the time it was logged, ``log_ns``."""

    log_ns: int


@dataclass(frozen=True)
class GroundTruthEvent:
    """A ground-truth mask: ``mask`` uint8 [H, W] class ids, for the frame of ``stamp_ns``."""

    log_ns: int
    stamp_ns: int
    mask: np.ndarray


@dataclass(frozen=True)
class CameraInfoEvent:
    """A camera_info message as a :class:`~avs_ros.core.geometry.CameraModel`."""

    log_ns: int
    camera: CameraModel


@dataclass(frozen=True)
class DepthEvent:
    """A registered depth image (:class:`~avs_ros.core.geometry.DepthImage`)."""

    log_ns: int
    depth: DepthImage


@dataclass(frozen=True)
class GeometryTruthEvent:
    """Ground truth of the geometry for the frame of ``stamp_ns``: ``kind`` "depth" (float32
    [H, W] true depth in m) or "instances" (uint8 [H, W], 0 background, i + 1 object i)."""

    log_ns: int
    stamp_ns: int
    kind: str
    data: np.ndarray


@dataclass(frozen=True)
class ClipEvent:
    """Start of a clip (AVSBench bags): frames from here on belong to ``name``."""

    log_ns: int
    name: str


@dataclass(frozen=True)
class BadMessage:
    """A message that could not be decoded: ``reason`` names topic, stamp and the problem."""

    log_ns: int
    topic: str
    reason: str


Event = (ImageEvent | AudioEvent | GroundTruthEvent | ClipEvent | BadMessage | CameraInfoEvent
         | DepthEvent | GeometryTruthEvent)


@dataclass(frozen=True)
class BagLayout:
    """The topics a :class:`BagReader` uses (None: absent) and the bag's size."""

    image_topic: str
    image_type: str
    audio_topic: str
    audio_type: str          # flavour: "audio_data_stamped" or "audio_stamped"
    audio_info_topic: str | None
    gt_topic: str | None
    clip_topic: str | None
    message_count: int       # messages on the topics above
    start_ns: int
    duration_ns: int
    camera_info_topic: str | None = None
    depth_topic: str | None = None
    gt_depth_topic: str | None = None
    gt_instances_topic: str | None = None


def _stamp(header) -> int:
    return audio_msgs.stamp_to_ns(header.stamp)


class BagReader:
    """Opens a bag and resolves its topics (see the module docstring); iterate
    :meth:`events` inside ``with``.

    Args:
        path: the bag folder (with metadata.yaml) or a single ``.mcap`` / ``.db3`` file in it.
        image_topic, audio_topic: None to find them by type.
        audio_type: ``"auto"``, ``"audio_data_stamped"`` or ``"audio_stamped"``: the flavour
            expected on the audio topic.
        audio_info_topic: AudioInfo topic of ros-drivers audio (used when present).
        gt_topic: mono8 ground truth (used when present).
        clip_topic: std_msgs/String clip names (used when present).
        depth_topic, gt_depth_topic, gt_instances_topic: registered depth and the geometry's
            ground truth (used when present).

    Raises:
        BagError: see the module docstring.
    """

    def __init__(self, path: str | Path, image_topic: str | None = None,
                 audio_topic: str | None = None, audio_type: str = "auto",
                 audio_info_topic: str = "/audio/audio_info", gt_topic: str = "/avs/gt_mask",
                 clip_topic: str = "/avs/clip",
                 depth_topic: str = "/camera/depth_registered/image_raw",
                 gt_depth_topic: str = "/avs/gt_depth",
                 gt_instances_topic: str = "/avs/gt_instances") -> None:
        if audio_type != "auto" and audio_type not in STAMPED_AUDIO:
            raise BagError(f"audio type must be 'auto' or one of {sorted(STAMPED_AUDIO)}, "
                           f"got {audio_type!r}")
        self.path = Path(path)
        folder = self.path.parent if self.path.is_file() else self.path
        if not self.path.exists():
            raise BagError(f"bag {self.path} does not exist")
        if not (folder / "metadata.yaml").is_file():
            raise BagError(f"{self.path} is not a ROS 2 bag: {folder}/metadata.yaml is missing "
                           "(expected a folder written by ros2 bag record or avs bag; a "
                           "recording that was killed lacks it: ros2 bag reindex FOLDER "
                           "writes it)")
        default = typestore("audio_stamped" if audio_type == "audio_stamped"
                            else "audio_data_stamped")
        try:
            self._reader = AnyReader([folder], default_typestore=default)
            self._reader.open()
        except Exception as exc:     # rosbags raises several types for damaged storage
            raise BagError(f"cannot open bag {folder}: {exc}; expected a complete rosbag2 "
                           "recording in MCAP or sqlite3 (a truncated file, e.g. from a "
                           "recorder that was killed, cannot be read)") from exc
        self.folder = folder
        self._audio_reader = audio_msgs.AudioDataStampedReader()   # S16LE until an AudioInfo
        self._extra = {"depth": depth_topic, "gt_depth": gt_depth_topic,
                       "gt_instances": gt_instances_topic}
        self.layout = self._resolve(image_topic, audio_topic, audio_type, audio_info_topic,
                                    gt_topic, clip_topic)

    # ---- topics ----------------------------------------------------------------------------
    def _topics(self) -> dict[str, str]:
        return {c.topic: c.msgtype for c in self._reader.connections}

    def _listing(self) -> str:
        return ", ".join(f"{t} [{m}]" for t, m in sorted(self._topics().items())) or "none"

    def _resolve(self, image_topic, audio_topic, audio_type, info_topic, gt_topic, clip_topic):
        topics = self._topics()
        where = f"bag {self.folder}"
        if image_topic is None:
            cands = sorted(t for t, m in topics.items() if m in (IMAGE, COMPRESSED_IMAGE)
                           and t != gt_topic and t not in self._extra.values()
                           and not t.startswith(OUTPUT_PREFIX))
            preferred = [t for t in cands if t in ("/camera/image_raw",
                                                   "/camera/image_raw/compressed")]
            if not cands:
                raise BagError(f"{where} has no camera image topic: expected a {IMAGE} or "
                               f"{COMPRESSED_IMAGE} topic; topics: {self._listing()}")
            if len(cands) > 1 and not preferred:
                raise BagError(f"{where} has several image topics {cands}; choose one with "
                               "--image-topic")
            image_topic = (preferred or cands)[0]
        elif image_topic not in topics:
            raise BagError(f"{where} has no topic {image_topic} (the image topic asked for); "
                           f"topics: {self._listing()}")
        if topics[image_topic] not in (IMAGE, COMPRESSED_IMAGE):
            raise BagError(f"topic {image_topic} in {where} has type {topics[image_topic]}; "
                           f"expected {IMAGE} or {COMPRESSED_IMAGE}")
        expected = " or ".join(f"{t} ({'ros-drivers' if f == 'audio_data_stamped' else 'mgonzs13'})"
                               for t, f in AUDIO_TYPES.items())
        if audio_topic is None:
            cands = sorted(t for t, m in topics.items() if m in AUDIO_TYPES)
            if not cands:
                other = sorted(f"{t} [{m}]" for t, m in topics.items()
                               if "audio" in (t + m).lower() and m != AUDIO_INFO)
                hint = f"; audio-like topics of unknown type: {other}" if other else ""
                raise BagError(f"{where} has no audio topic: expected {expected}{hint}; "
                               f"topics: {self._listing()}")
            audio_topic = cands[0]
        elif audio_topic not in topics:
            raise BagError(f"{where} has no topic {audio_topic} (the audio topic asked for); "
                           f"topics: {self._listing()}")
        flavour = AUDIO_TYPES.get(topics[audio_topic])
        if flavour is None:
            raise BagError(f"unknown audio type {topics[audio_topic]} on topic {audio_topic} "
                           f"in {where}; expected {expected}")
        if audio_type != "auto" and flavour != audio_type:
            raise BagError(f"topic {audio_topic} in {where} carries {topics[audio_topic]}, not "
                           f"the {STAMPED_AUDIO[audio_type]} asked for (--audio-type "
                           f"{audio_type})")
        info = info_topic if topics.get(info_topic) == AUDIO_INFO and \
            flavour == "audio_data_stamped" else None
        gt = gt_topic if gt_topic in topics else None
        if gt is not None and topics[gt] != IMAGE:
            raise BagError(f"ground-truth topic {gt} in {where} has type {topics[gt]}; "
                           f"expected {IMAGE} (mono8 class ids)")
        clip = clip_topic if topics.get(clip_topic) == STRING else None
        infos = sorted(t for t, m in topics.items() if m == CAMERA_INFO)
        sibling = image_topic.removesuffix("/compressed").rsplit("/", 1)[0] + "/camera_info"
        camera_info = sibling if sibling in infos else (infos[0] if infos else None)
        extra = {k: t if topics.get(t) == IMAGE else None for k, t in self._extra.items()}
        used = {image_topic, audio_topic, info, gt, clip, camera_info, *extra.values()} - {None}
        count = sum(c.msgcount for c in self._reader.connections if c.topic in used)
        return BagLayout(image_topic, topics[image_topic], audio_topic, flavour, info, gt, clip,
                         count, int(self._reader.start_time),
                         int(self._reader.end_time - self._reader.start_time), camera_info,
                         extra["depth"], extra["gt_depth"], extra["gt_instances"])

    @property
    def connections(self):
        """All connections of the bag (rosbags ``Connection`` objects)."""
        return self._reader.connections

    # ---- messages --------------------------------------------------------------------------
    def raw_messages(self) -> Iterator[tuple[object, int, bytes]]:
        """Every message of the bag as (connection, log_ns, CDR bytes), in log-time order.

        Raises:
            BagError: storage damaged from some point on (after yielding what precedes it).
        """
        done = 0
        try:
            for conn, log_ns, raw in self._reader.messages():
                yield conn, int(log_ns), raw
                done += 1
        except Exception as exc:
            raise BagError(f"bag {self.folder} is damaged or truncated: reading stopped after "
                           f"{done} messages ({type(exc).__name__}: {exc})") from exc

    def decode(self, conn, log_ns: int, raw: bytes) -> Event | list[AudioEvent] | None:
        """The event of one message from :meth:`raw_messages`; None for topics not used (and
        for an mp3 message that completes no frame), a list for an mp3 message whose frames
        are not contiguous.

        Raises:
            BagError: a ground-truth image that is not mono8.
        """
        lay = self.layout
        topic = conn.topic
        if topic not in (lay.image_topic, lay.audio_topic, lay.audio_info_topic, lay.gt_topic,
                         lay.clip_topic, lay.camera_info_topic, lay.depth_topic,
                         lay.gt_depth_topic, lay.gt_instances_topic):
            return None
        try:
            msg = self._reader.deserialize(raw, conn.msgtype)
        except Exception as exc:
            return BadMessage(log_ns, topic, f"{topic}: message at log time {log_ns} ns does not "
                              f"deserialise as {conn.msgtype} ({exc})")
        try:
            if topic == lay.image_topic:
                return ImageEvent(log_ns, _stamp(msg.header), msg.header.frame_id,
                                  self._image(msg, conn.msgtype))
            if topic == lay.audio_topic:
                return self._audio(msg, log_ns)
            if topic == lay.audio_info_topic:
                self._audio_reader.set_info(msg)
                return None
            if topic == lay.gt_topic:
                if msg.encoding != "mono8":
                    raise BagError(f"ground-truth topic {topic} in bag {self.folder}: encoding "
                                   f"{msg.encoding!r} at stamp {_stamp(msg.header)} ns; expected "
                                   "mono8 class ids")
                return GroundTruthEvent(log_ns, _stamp(msg.header), raw_to_rgb(
                    "mono8", msg.height, msg.width, msg.step, msg.data)[:, :, 0].copy())
            if topic == lay.clip_topic:
                return ClipEvent(log_ns, str(msg.data))
            return self._geometry(topic, msg, log_ns)
        except (ImageFormatError, AudioFormatError, GeometryInputError) as exc:
            stamp = _stamp(msg.header) if hasattr(msg, "header") else log_ns
            return BadMessage(log_ns, topic, f"{topic} at stamp {stamp} ns: {exc}")

    def events(self) -> Iterator[Event]:
        """:meth:`decode` of every used message, in log-time order (see :meth:`raw_messages`
        for errors)."""
        for conn, log_ns, raw in self.raw_messages():
            event = self.decode(conn, log_ns, raw)
            if isinstance(event, list):
                yield from event
            elif event is not None:
                yield event

    def _geometry(self, topic: str, msg, log_ns: int):
        lay = self.layout
        if topic == lay.camera_info_topic:
            return CameraInfoEvent(log_ns, CameraModel.from_camera_info(msg))
        stamp = _stamp(msg.header)
        if topic == lay.gt_instances_topic:
            return GeometryTruthEvent(log_ns, stamp, "instances", raw_to_rgb(
                "mono8", msg.height, msg.width, msg.step, msg.data)[:, :, 0].copy())
        depth = decode_depth(stamp, msg.encoding, msg.height, msg.width, msg.step, msg.data,
                             msg.is_bigendian)
        if topic == lay.depth_topic:
            return DepthEvent(log_ns, depth)
        return GeometryTruthEvent(log_ns, stamp, "depth", depth.data.astype(np.float32)
                                  * np.float32(depth.scale))

    @staticmethod
    def _image(msg, msgtype: str) -> np.ndarray:
        if msgtype == COMPRESSED_IMAGE:
            return compressed_to_rgb(msg.format, msg.data)
        return raw_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                          msg.is_bigendian)

    def _audio(self, msg, log_ns: int) -> AudioEvent | list[AudioEvent] | None:
        chunks = self._audio_reader.chunks(msg) \
            if self.layout.audio_type == "audio_data_stamped" \
            else [audio_msgs.chunk_from_audio_stamped(msg)]
        events = [AudioEvent(c.stamp_ns, c.samples, c.sample_rate, c.channels, c.fmt, log_ns)
                  for c in chunks]
        return events[0] if len(events) == 1 else (events or None)

    # ---- context -----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the storage (idempotent)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> "BagReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
