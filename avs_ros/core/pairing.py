"""Frame/audio pairing policy of single-frame real-time AVS (T = 1), on an explicit clock.

Each camera frame is paired with the ``window_samples`` (VGGish: 15600 = 0.975 s) of 16 kHz
audio that end at the frame's stamp (AVESFormer Sec. 3.1 feeds one frame with the audio of its
own time step; the window ends at the stamp so that no future audio is used). The policy:

1. A frame enters a small *pending* list when it arrives (``add_frame``).
2. A pending frame is *ready* once its audio window is complete in the
   :class:`~avs_ros.core.audio_buffer.AudioBuffer`. Only the newest ready frame is kept
   (latest-wins slot): when a newer frame becomes ready, every older pending frame is dropped
   as ``dropped_superseded``. Inference therefore always gets the freshest frame it can, and
   nothing queues up while it is busy.
3. A frame whose audio has not arrived waits at most ``max_skew_s`` after its arrival (clock
   ``now_ns``), then is dropped as ``dropped_no_audio``. A ready frame never expires: it waits
   for inference, superseded only by a newer ready frame. A frame whose window is older than
   the buffer holds (evicted, or before the current audio segment began) can never be served
   and is dropped as ``dropped_audio_gone``, except before the audio stream has started
   (no audio yet, or a window reaching back before the first sample): ``waiting_for_audio``.
4. The caller decides when inference is free and then calls ``take(now_ns)``, which returns
   the ready frame with its audio (counted ``paired``), or None.
The pending list is capped at ``max_pending`` frames (oldest dropped as superseded), so memory
stays bounded even if the clock stops.

Nothing here reads a wall clock: the node passes its clock's now (ROS time), the replay tool a
bag's receive time, so that replay is deterministic. Methods are serialised by a lock (the node
may push audio, add frames and take from different callbacks); the audio buffer must be pushed
through :meth:`push_audio` or under :attr:`lock`.
"""
from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .audio_buffer import AudioBuffer, WindowStatus

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class PairedFrame:
    """A frame ready for inference: ``audio`` float32 [window_samples] at 16 kHz, ending at
    ``stamp_ns``; ``waited_ns`` = take's now minus the frame's arrival time."""

    stamp_ns: int
    frame: Any
    audio: np.ndarray
    waited_ns: int


@dataclass
class PairingStats:
    """Counters since construction: ``frames`` added = paired + waiting_for_audio +
    dropped_* + still pending. ``waiting_for_audio``: frames that came before the audio
    stream had started (no audio at all when their wait ran out, or a window reaching back
    before the first audio sample), which is normal at start-up and not a loss of audio;
    ``dropped_audio_gone``: windows evicted from the buffer or lost to a stream reset."""

    frames: int = 0
    paired: int = 0
    waiting_for_audio: int = 0
    dropped_no_audio: int = 0
    dropped_audio_gone: int = 0
    dropped_superseded: int = 0


def unserved_outcome(status: WindowStatus, buffer: AudioBuffer, waited_ns: int,
                     max_skew_ns: int) -> str | None:
    """Rule 3 of the module docstring for a frame whose audio window is not complete
    (``status`` is not OK) after it waited ``waited_ns`` since its arrival: None to keep
    waiting, else the :class:`PairingStats` counter it leaves under (``waiting_for_audio``,
    ``dropped_no_audio`` or ``dropped_audio_gone``). Shared by the node's pairer and the
    replay tool's offline schedule, so both count frames alike."""
    if status is WindowStatus.NOT_YET:
        if waited_ns <= max_skew_ns:
            return None
        return "waiting_for_audio" if buffer.end_ns is None else "dropped_no_audio"
    if status is WindowStatus.BEFORE_START and buffer.stats.resets == 0:
        return "waiting_for_audio"                  # the stream's first window is not full
    return "dropped_audio_gone"


@dataclass(order=True)
class _Pending:
    stamp_ns: int
    arrival_ns: int = field(compare=False)
    frame: Any = field(compare=False)


class FramePairer:
    """Pairs frames with the audio window ending at their stamp (see the module docstring).

    Args:
        buffer: the audio ring buffer (its capacity must exceed the window).
        window_samples: 16 kHz samples per window (``InputContract.window_samples``).
        max_skew_s: longest wait for a frame's audio, in s of the caller's clock.
        max_pending: most frames held at once (ready and waiting).

    Raises:
        ValueError: negative skew, ``max_pending < 1`` or a window longer than the buffer.
    """

    def __init__(self, buffer: AudioBuffer, window_samples: int = 15600,
                 max_skew_s: float = 0.15, max_pending: int = 8) -> None:
        if not max_skew_s >= 0:
            raise ValueError(f"max_skew_s must be >= 0 s, got {max_skew_s!r}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        if not 1 <= window_samples <= buffer.capacity:
            raise ValueError(f"window_samples must be in [1, {buffer.capacity}] (the audio "
                             f"buffer's capacity), got {window_samples}")
        self.buffer = buffer
        self.window_samples = int(window_samples)
        self.max_skew_ns = int(max_skew_s * NS_PER_S)
        self.max_pending = int(max_pending)
        self.stats = PairingStats()
        self.lock = threading.RLock()
        self._pending: list[_Pending] = []   # sorted by stamp
        self._ready: _Pending | None = None  # newest frame whose window is complete

    @property
    def pending(self) -> int:
        """Frames held (ready or waiting)."""
        return len(self._pending)

    @property
    def has_ready(self) -> bool:
        """Whether :meth:`take` would return a frame if called now (as of the last update)."""
        return self._ready is not None

    def push_audio(self, stamp_ns: int, samples, sample_rate: int, channels: int = 1,
                   fmt: str | None = "S16LE") -> None:
        """:meth:`AudioBuffer.push` under the lock (same arguments and errors)."""
        with self.lock:
            self.buffer.push(stamp_ns, samples, sample_rate, channels, fmt)

    def add_frame(self, stamp_ns: int, frame: Any, now_ns: int) -> None:
        """Register a frame (``frame`` is carried through untouched) that arrived at
        ``now_ns``, then update (expiry, supersession) at ``now_ns``."""
        with self.lock:
            self.stats.frames += 1
            bisect.insort(self._pending, _Pending(int(stamp_ns), int(now_ns), frame))
            while len(self._pending) > self.max_pending:
                dropped = self._pending.pop(0)
                if dropped is self._ready:
                    self._ready = None
                self.stats.dropped_superseded += 1
            self._update(int(now_ns))

    def update(self, now_ns: int) -> None:
        """Expire frames that waited too long and apply latest-wins at ``now_ns`` (call from a
        timer when neither audio nor frames arrive, so counters stay current)."""
        with self.lock:
            self._update(int(now_ns))

    def take(self, now_ns: int) -> PairedFrame | None:
        """Call when inference is free: update at ``now_ns``, then remove and return the
        newest ready frame with its audio window, or None when no frame is ready."""
        with self.lock:
            self._update(int(now_ns))
            if self._ready is None:
                return None
            item, self._ready = self._ready, None
            self._pending.remove(item)
            window = self.buffer.window(item.stamp_ns, self.window_samples)
            self.stats.paired += 1
            return PairedFrame(item.stamp_ns, item.frame, window.samples,
                               max(0, int(now_ns) - item.arrival_ns))

    def _update(self, now_ns: int) -> None:
        keep: list[_Pending] = []
        ready = None
        for item in reversed(self._pending):      # newest first
            if ready is not None:
                self.stats.dropped_superseded += 1
                continue
            status = self.buffer.status(item.stamp_ns, self.window_samples)
            if status is WindowStatus.OK:
                ready = item
                keep.append(item)
                continue
            outcome = unserved_outcome(status, self.buffer, now_ns - item.arrival_ns,
                                       self.max_skew_ns)
            if outcome is None:
                keep.append(item)
            else:
                setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)
        keep.reverse()
        self._pending = keep
        self._ready = ready
