"""Microphone capture helpers: sample-count stamps and device selection (no audio needed)."""
from __future__ import annotations

import pytest

from avs_ros.core.capture import SampleClock, select_input_device

MS = 1_000_000


def test_stamps_follow_the_sample_count_through_jitter_and_resync_after_lost_samples():
    clock = SampleClock(16000, max_drift_s=0.05, hold_s=0.1)
    # 512-frame chunks (32 ms) handed over with jitter of up to 20 ms
    assert clock.stamp(1000 * MS, 512) == 968 * MS
    assert clock.stamp(1052 * MS, 512) == 1000 * MS        # 20 ms late: still counted
    assert clock.stamp(1050 * MS, 512) == 1032 * MS        # early: still counted
    assert clock.resyncs == 0
    # 900 ms of samples lost: the count goes on until the offset has lasted hold_s ...
    stamps = [clock.stamp((2000 + 32 * k) * MS, 512) for k in range(4)]
    assert stamps == [(1064 + 32 * k) * MS for k in range(4)]
    assert clock.resyncs == 0
    # ... then re-anchors forward to the wall clock
    assert clock.stamp(2128 * MS, 512) == 2096 * MS
    assert clock.resyncs == 1
    assert clock.stamp(2160 * MS, 512) == 2128 * MS
    with pytest.raises(ValueError):
        SampleClock(0)
    with pytest.raises(ValueError):
        SampleClock(16000, hold_s=-1)


def test_a_stalled_callback_moves_no_stamp():
    """A 300 ms stall, then the backlog in a burst (as a loaded machine does): the stamps
    keep counting, never step back, and no resync is counted."""
    clock = SampleClock(16000)
    handed = [1000 + 32 * k for k in range(10)]               # on time
    handed += [handed[-1] + 300 + 32] + [handed[-1] + 301 + 32 + k for k in range(1, 10)]
    handed += [handed[-1] + 32 * k for k in range(1, 20)]     # the backlog drained: on time
    stamps = [clock.stamp(t * MS, 512) for t in handed]
    assert stamps == [(968 + 32 * k) * MS for k in range(len(handed))]
    assert clock.resyncs == 0


def test_a_count_ahead_of_the_wall_clock_is_pulled_back_in_increasing_stamps():
    """The first chunk handed over 150 ms late puts the count 150 ms ahead of every later
    estimate: it is pulled back by at most half a chunk per chunk, within max_drift_s."""
    clock = SampleClock(16000, max_drift_s=0.05)
    handed = [1150] + [1000 + 32 * k for k in range(1, 30)]
    stamps = [clock.stamp(t * MS, 512) for t in handed]
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert min(steps) >= 16 * MS
    assert clock.resyncs == 1
    lateness = stamps[-1] - (handed[-1] - 32) * MS
    assert 0 < lateness <= 50 * MS


DEVICES = [
    {"index": 0, "name": "HDA Intel PCH: ALC3232 Analog (hw:0,0)", "maxInputChannels": 2},
    {"index": 1, "name": "hdmi", "maxInputChannels": 0},
    {"index": 2, "name": "pulse", "maxInputChannels": 32},
    {"index": 3, "name": "default", "maxInputChannels": 32},
]


@pytest.mark.parametrize("spec, index", [("", 2), ("0", 0), ("3", 3), ("alc3232", 0),
                                         ("PULSE", 2), ("default", 3)])
def test_device_by_default_index_or_name(spec, index):
    assert select_input_device(DEVICES, spec) == index


@pytest.mark.parametrize("spec, reason", [("1", "not an input device"),
                                          ("usb", "no input device matches 'usb'")])
def test_device_errors_list_the_inputs(spec, reason):
    with pytest.raises(ValueError, match=reason) as err:
        select_input_device(DEVICES, spec)
    assert "2: pulse" in str(err.value)
    with pytest.raises(ValueError, match="no audio input device"):
        select_input_device(DEVICES[1:2], "")
