"""Microphone capture helpers (ROS-free): input device selection and chunk stamps.

Stamps. A capture callback runs some time after its samples were recorded, with jitter of
a few ms to tens of ms (sound-server periods), more than the audio buffer's gap tolerance.
Stamping each chunk with "now - its duration" would make that jitter look like gaps and
overlaps. :class:`SampleClock` stamps by counting samples instead: chunk k starts at
``t0 + samples_before_k / rate`` where ``t0`` is the first chunk's "now - duration"; when the
wall clock and the sample count disagree by more than ``max_drift_s`` (a device clock that
runs off, an overrun that lost samples) it re-anchors to the wall clock and counts a resync.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

NS_PER_S = 1_000_000_000


class SampleClock:
    """Stamps of consecutive chunks from a sample counter anchored to a wall clock.

    Args:
        sample_rate: frames per second of the device, Hz (> 0).
        max_drift_s: re-anchor when the counted start of a chunk differs from the wall clock's
            estimate ("now - duration") by more than this, s (> 0).

    Raises:
        ValueError: non-positive rate or drift.
    """

    def __init__(self, sample_rate: int, max_drift_s: float = 0.1) -> None:
        if sample_rate <= 0 or not max_drift_s > 0:
            raise ValueError(f"sample_rate and max_drift_s must be > 0, got {sample_rate}, "
                             f"{max_drift_s}")
        self.sample_rate = int(sample_rate)
        self.max_drift_ns = int(max_drift_s * NS_PER_S)
        self.resyncs = 0
        self._origin_ns: int | None = None
        self._frames = 0

    def stamp(self, now_ns: int, frames: int) -> int:
        """Stamp (ns) of the first sample of a chunk of ``frames`` frames that ended at
        ``now_ns`` (the time it was handed over)."""
        estimate = int(now_ns) - frames * NS_PER_S // self.sample_rate
        if self._origin_ns is not None:
            counted = self._origin_ns + self._frames * NS_PER_S // self.sample_rate
            if abs(counted - estimate) <= self.max_drift_ns:
                self._frames += frames
                return counted
            self.resyncs += 1
        self._origin_ns, self._frames = estimate, frames
        return estimate


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
