"""Microphone capture helpers (ROS-free): input device selection and chunk stamps.

Stamps. A capture callback runs some time after its samples were recorded, with jitter of
a few ms to tens of ms (sound-server periods), more than the audio buffer's gap tolerance.
Stamping each chunk with "now - its duration" would make that jitter look like gaps and
overlaps. :class:`SampleClock` stamps by counting samples instead: chunk k starts at
``t0 + samples_before_k / rate`` where ``t0`` is the first chunk's "now - duration".

The wall clock's estimate "now - duration" can only be late (a chunk is never handed over
before it was recorded), so the two kinds of disagreement are told apart by their sign:

* estimate ahead of the count by more than ``max_drift_s``: either the callback stalled (the
  backlog then arrives in a burst and the estimates fall back onto the count) or samples were
  lost (an overrun; the offset stays). The clock re-anchors forward only once the offset has
  lasted ``hold_s`` of wall time, so a stall never moves the stamps.
* count ahead of the estimate by more than ``max_drift_s`` (a first chunk handed over late,
  a device clock slower than its nominal rate): the count is impossible and is pulled back,
  by at most half a chunk per chunk, so stamps stay strictly increasing.

Each correction begun counts one resync.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

NS_PER_S = 1_000_000_000


class SampleClock:
    """Strictly increasing stamps of consecutive chunks from a sample counter anchored to a
    wall clock (see the module docstring for the corrections).

    Args:
        sample_rate: frames per second of the device, Hz (> 0).
        max_drift_s: tolerated disagreement between the counted start of a chunk and the wall
            clock's estimate ("now - duration"), s (> 0).
        hold_s: how long the estimate must stay ahead of the count before the clock re-anchors
            forward (lost samples rather than a stalled callback), s (>= 0).

    Raises:
        ValueError: non-positive rate or drift, negative hold.
    """

    def __init__(self, sample_rate: int, max_drift_s: float = 0.1, hold_s: float = 0.5) -> None:
        if sample_rate <= 0 or not max_drift_s > 0 or not hold_s >= 0:
            raise ValueError(f"sample_rate and max_drift_s must be > 0 and hold_s >= 0, got "
                             f"{sample_rate}, {max_drift_s}, {hold_s}")
        self.sample_rate = int(sample_rate)
        self.max_drift_ns = int(max_drift_s * NS_PER_S)
        self.hold_ns = int(hold_s * NS_PER_S)
        self.resyncs = 0
        self._origin_ns: int | None = None
        self._frames = 0
        self._late_since: int | None = None
        self._pulling_back = False
        self._last_duration = 0

    def stamp(self, now_ns: int, frames: int) -> int:
        """Stamp (ns) of the first sample of a chunk of ``frames`` frames that was handed over
        at ``now_ns``; later than the previous chunk's stamp by at least half its duration."""
        now_ns = int(now_ns)
        duration = frames * NS_PER_S // self.sample_rate
        estimate = now_ns - duration
        previous, self._last_duration = self._last_duration, duration
        if self._origin_ns is None:
            self._origin_ns, self._frames = estimate, frames
            return estimate
        counted = self._origin_ns + self._frames * NS_PER_S // self.sample_rate
        offset = estimate - counted
        if offset > self.max_drift_ns:
            if self._late_since is None:
                self._late_since = now_ns
            if now_ns - self._late_since >= self.hold_ns:
                self.resyncs += 1
                self._late_since, self._pulling_back = None, False
                self._origin_ns, self._frames = estimate, frames
                return estimate
        else:
            self._late_since = None
        pull_back = offset < -self.max_drift_ns
        if pull_back:
            self.resyncs += not self._pulling_back
            step = min(-offset, previous // 2)
            self._origin_ns -= step
            counted -= step
        self._pulling_back = pull_back
        self._frames += frames
        return counted


def select_input_device(devices: Sequence[Mapping], spec: str) -> int:
    """Index of the input device named by ``spec`` among PortAudio's device infos.

    Args:
        devices: ``PyAudio.get_device_info_by_index(i)`` for every i (dicts with ``index``,
            ``name``, ``maxInputChannels``).
        spec: "" = the first input device named "default" or "pulse", else the first input
            device; a decimal index; or a case-insensitive part of the name (an exact name
            wins over a partial one).

    Raises:
        ValueError: no input device matches (the message lists the input devices), or an
            index that is not an input device.
    """
    inputs = [d for d in devices if int(d.get("maxInputChannels", 0)) > 0]
    listing = "; ".join(f"{d['index']}: {d['name']}" for d in inputs) or "none"
    spec = spec.strip()
    if spec.isdigit():
        for d in inputs:
            if int(d["index"]) == int(spec):
                return int(d["index"])
        raise ValueError(f"device index {spec} is not an input device; inputs: {listing}")
    if not spec:
        preferred = [d for d in inputs if d["name"] in ("default", "pulse")]
        if preferred or inputs:
            return int((preferred or inputs)[0]["index"])
        raise ValueError("no audio input device found (is a sound server running?)")
    exact = [d for d in inputs if d["name"].lower() == spec.lower()]
    partial = [d for d in inputs if spec.lower() in d["name"].lower()]
    if exact or partial:
        return int((exact or partial)[0]["index"])
    raise ValueError(f"no input device matches {spec!r}; inputs: {listing}")
