"""The replay loop: a bag's messages in receive order drive the node's pairing and pipeline on
the bag's own clock.

Clock: ``now`` is each message's log (receive) time, so a replay is deterministic and the
waits and expiries are those the node would have seen live.

Two schedules run on the same :class:`~avs_ros.core.audio_buffer.AudioBuffer`:

- **offline** (what is processed and evaluated): every frame whose audio window is complete
  is run through :class:`~avs_ros.core.pipeline.Pipeline` once it is; a frame whose audio is
  still missing ``max_skew_s`` after the frame arrived is dropped as ``no_audio``, one whose
  window can never be served as ``audio_gone`` (evicted) or counted ``waiting_for_audio``
  (before the audio stream's first full window), exactly the node's rules
  (:func:`avs_ros.core.pairing.unserved_outcome`). Unlike the node, offline replay
  never drops a frame because a newer one became ready (there is no compute-time pressure).
- **real time** (reported only): a :class:`~avs_ros.core.pairing.FramePairer` is fed the same
  messages and takes a frame whenever a simulated inference is free; each inference lasts
  what the offline run measured for that frame on this machine. Its counters say what the
  node would have processed and dropped (``superseded`` included) at this machine's speed,
  and its completion times give the node's output rate and end-to-end latency
  (completion - image stamp, bag clock).

Frames are processed in stamp order; ground truth and clip names are passed to the sink as
they come (matching is the evaluator's job). With a camera_info topic (and registered depth)
in the bag, each processed frame's objects are located in 3-D by the node's
:class:`~avs_ros.core.geometry.Localizer` (node defaults for tolerance, valid fraction and
range), its incidents counted by kind. As in the node, where this step follows inference,
it sees the depth images received by the frame's completion (``done_ns``) on the bag clock;
frames go to the sink then, still in stamp order.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from avs_ros.core.audio_buffer import SAMPLE_RATE, AudioBuffer, WindowStatus
from avs_ros.core.errors import AudioFormatError
from avs_ros.core.geometry import Localizer, ObjectGeometry
from avs_ros.core.pairing import FramePairer, unserved_outcome
from avs_ros.core.pipeline import Pipeline, Result

from ..bag.reader import (AudioEvent, BadMessage, BagReader, CameraInfoEvent, ClipEvent,
                          DepthEvent, GeometryTruthEvent, GroundTruthEvent, ImageEvent)

NS_PER_S = 1_000_000_000
_END_OF_TIME = 2 ** 62


@dataclass(frozen=True)
class ProcessedFrame:
    """One processed frame: its image event, clip, the log time its audio was complete
    (``ready_ns``, processing start on the bag clock), the audio window [start, end) in ns
    and the pipeline's :class:`~avs_ros.core.pipeline.Result` (timings in wall ms);
    ``geometry`` per object when the bag has camera_info, else None."""

    image: ImageEvent
    clip: str
    ready_ns: int
    window_start_ns: int
    result: Result
    geometry: list[ObjectGeometry] | None = None

    @property
    def done_ns(self) -> int:
        """Completion on the bag clock: ready + measured processing time."""
        return self.ready_ns + int(self.result.timings_ms["total"] * 1e6)


@dataclass
class ReplayStats:
    """Counts of the offline schedule (frames = processed + waiting_for_audio + dropped +
    pending at the end), the real-time simulation's counters, bad messages and the
    processing wall time in s."""

    frames: int = 0
    processed: int = 0
    waiting_for_audio: int = 0
    dropped_no_audio: int = 0
    dropped_audio_gone: int = 0
    pending_at_end: int = 0
    bad_messages: int = 0
    bad_examples: list[str] = field(default_factory=list)
    realtime: dict = field(default_factory=dict)
    realtime_latency_ms: list[float] = field(default_factory=list)
    realtime_done_s: list[float] = field(default_factory=list)
    compute_s: float = 0.0
    geometry_incidents: dict = field(default_factory=dict)
    geometry_ms: list[float] = field(default_factory=list)


class Sink:
    """What the engine reports to; every method is optional to override."""

    def message(self, conn, log_ns: int, raw: bytes) -> None:
        """Every raw message of the bag, in log order (for copying)."""

    def frame(self, frame: ProcessedFrame) -> None:
        """A processed frame (stamp order)."""

    def ground_truth(self, event: GroundTruthEvent) -> None:
        """A ground-truth mask."""

    def geometry_truth(self, event: GeometryTruthEvent) -> None:
        """Ground truth of the geometry (true depth or instance ids)."""

    def advance(self, now_ns: int) -> None:
        """The bag clock reached ``now_ns`` (after the message of that time was handled)."""


class ReplayEngine:
    """Runs :class:`~avs_ros.bag.reader.BagReader` events through a pipeline.

    Args:
        reader: an open bag reader.
        pipeline: the node's pipeline (backend, pre/post-processing).
        window_samples: audio window in 16 kHz samples (``InputContract.window_samples``).
        max_skew_s: longest wait for a frame's audio (node parameter ``max_skew_s``).
        audio_buffer_s: audio kept (node parameter ``audio_buffer_s``).

    Raises:
        ValueError: see :class:`~avs_ros.core.pairing.FramePairer`.
    """

    def __init__(self, reader: BagReader, pipeline: Pipeline, window_samples: int = 15600,
                 max_skew_s: float = 0.15, audio_buffer_s: float = 5.0) -> None:
        self.reader = reader
        self.pipeline = pipeline
        self.window_samples = int(window_samples)
        self.max_skew_ns = int(max_skew_s * NS_PER_S)
        self.buffer = AudioBuffer(capacity_s=audio_buffer_s)
        self.pairer = FramePairer(self.buffer, window_samples, max_skew_s)
        self.stats = ReplayStats()
        self._waiting: list[tuple[ImageEvent, str]] = []
        self._clip = "stream"
        self._latency_ns: dict[int, int] = {}
        self._busy_until = 0
        self._last_ns = 0
        self.localizer = Localizer() if reader.layout.camera_info_topic else None
        self._unlocated: list[ProcessedFrame] = []

    def run(self, sink: Sink, progress: Callable[[], None] | None = None) -> ReplayStats:
        """Replay the whole bag into ``sink``; ``progress()`` is called per message read.

        Raises:
            BagError: a damaged bag (after everything before the damage was delivered), or a
                ground-truth topic that is not mono8.
            StageError: from the pipeline (e.g. a frame that does not fit the model).
        """
        for conn, log_ns, raw in self.reader.raw_messages():
            sink.message(conn, log_ns, raw)
            self._advance_realtime(log_ns)
            event = self.reader.decode(conn, log_ns, raw)
            self._handle(event, log_ns, sink)
            self._serve(log_ns, sink)
            self._emit(log_ns, sink)
            self.pairer.update(log_ns)
            self._advance_realtime(log_ns)
            self._last_ns = log_ns
            sink.advance(log_ns)
            if progress:
                progress()
        self._emit(_END_OF_TIME, sink)
        self._finish()
        return self.stats

    # ---- one message ------------------------------------------------------------------------
    def _handle(self, event, log_ns: int, sink: Sink) -> None:
        if isinstance(event, list):          # an mp3 message with several runs of frames
            for one in event:
                self._handle(one, log_ns, sink)
        elif isinstance(event, AudioEvent):
            try:
                self.pairer.push_audio(event.stamp_ns, event.samples, event.sample_rate,
                                       event.channels, event.fmt)
            except AudioFormatError as exc:
                self._bad(f"{self.reader.layout.audio_topic} at stamp {event.stamp_ns} ns: {exc}")
        elif isinstance(event, ImageEvent):
            self.stats.frames += 1
            self.pairer.add_frame(event.stamp_ns, None, log_ns)
            self._waiting.append((event, self._clip))
            self._waiting.sort(key=lambda w: w[0].stamp_ns)
        elif isinstance(event, GroundTruthEvent):
            sink.ground_truth(event)
        elif isinstance(event, ClipEvent):
            self._clip = event.name
        elif isinstance(event, CameraInfoEvent):
            self.localizer.set_camera(event.camera)
        elif isinstance(event, DepthEvent):
            self.localizer.depth.push(event.depth)
        elif isinstance(event, GeometryTruthEvent):
            sink.geometry_truth(event)
        elif isinstance(event, BadMessage):
            self._bad(event.reason)

    def _bad(self, reason: str) -> None:
        self.stats.bad_messages += 1
        if len(self.stats.bad_examples) < 5:
            self.stats.bad_examples.append(reason)

    # ---- offline schedule ---------------------------------------------------------------------
    def _serve(self, now_ns: int, sink: Sink) -> None:
        keep = []
        for image, clip in self._waiting:
            status = self.buffer.status(image.stamp_ns, self.window_samples)
            if status is WindowStatus.OK:
                window = self.buffer.window(image.stamp_ns, self.window_samples).samples
                t0 = time.perf_counter()
                result = self.pipeline.process(image.rgb, window, image.stamp_ns)
                self.stats.compute_s += time.perf_counter() - t0
                self.stats.processed += 1
                start = image.stamp_ns - self.window_samples * NS_PER_S // SAMPLE_RATE
                frame = ProcessedFrame(image, clip, now_ns, start, result)
                self._latency_ns[image.stamp_ns] = frame.done_ns - now_ns
                self._unlocated.append(frame)
            else:
                outcome = unserved_outcome(status, self.buffer, now_ns - image.log_ns,
                                           self.max_skew_ns)
                if outcome is None:
                    keep.append((image, clip))
                else:
                    setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)
        self._waiting = keep

    def _emit(self, now_ns: int, sink: Sink) -> None:
        """Frames completed by ``now_ns`` (in processing order), located in 3-D, to the sink."""
        while self._unlocated and (self.localizer is None
                                   or self._unlocated[0].done_ns <= now_ns):
            frame = self._unlocated.pop(0)
            if self.localizer is not None:
                frame = dataclasses.replace(frame, geometry=self._locate(
                    frame.image.stamp_ns, frame.result))
            sink.frame(frame)

    def _locate(self, stamp_ns: int, result: Result) -> list[ObjectGeometry]:
        t0 = time.perf_counter()
        geometry, incidents = self.localizer.locate(
            stamp_ns, result.mask, result.objects, self.reader.layout.depth_topic is not None)
        self.stats.geometry_ms.append((time.perf_counter() - t0) * 1e3)
        for kind, _ in incidents:
            self.stats.geometry_incidents[kind] = self.stats.geometry_incidents.get(kind, 0) + 1
        return geometry

    # ---- real-time simulation -------------------------------------------------------------------
    def _advance_realtime(self, now_ns: int) -> None:
        while True:
            t = max(self._busy_until, self._last_ns)
            if t > now_ns:
                return
            item = self.pairer.take(t)
            if item is None:
                return
            latency = self._latency_ns.pop(item.stamp_ns, None)
            if latency is None:        # not processed offline (cannot happen with equal rules)
                latency = int(np.median(list(self._latency_ns.values()) or [0]))
            self._busy_until = t + latency
            self.stats.realtime_latency_ms.append((self._busy_until - item.stamp_ns) / 1e6)
            self.stats.realtime_done_s.append(self._busy_until / NS_PER_S)

    def _finish(self) -> None:
        self.stats.pending_at_end = len(self._waiting)
        self._advance_realtime(_END_OF_TIME)   # the node finishes what is ready
        s = self.pairer.stats
        self.stats.realtime = {"frames": s.frames, "processed": s.paired,
                               "waiting_for_audio": s.waiting_for_audio,
                               "dropped_superseded": s.dropped_superseded,
                               "dropped_no_audio": s.dropped_no_audio,
                               "dropped_audio_gone": s.dropped_audio_gone,
                               "pending_at_end": self.pairer.pending}
