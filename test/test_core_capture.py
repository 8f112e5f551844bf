"""Microphone capture helpers: sample-count stamps and device selection (no audio needed)."""
from __future__ import annotations

import pytest

from avs_ros.core.capture import SampleClock, select_input_device

MS = 1_000_000


def test_stamps_follow_the_sample_count_through_jitter_and_resync_on_drift():
    clock = SampleClock(16000, max_drift_s=0.05)
    # 512-frame chunks (32 ms) handed over with jitter of up to 20 ms
    assert clock.stamp(1000 * MS, 512) == 968 * MS
    assert clock.stamp(1052 * MS, 512) == 1000 * MS        # 20 ms late: still counted
    assert clock.stamp(1050 * MS, 512) == 1032 * MS        # early: still counted
    assert clock.resyncs == 0
    assert clock.stamp(2000 * MS, 512) == 1968 * MS        # far off: re-anchored
    assert clock.resyncs == 1
    assert clock.stamp(2032 * MS, 512) == 2000 * MS
    with pytest.raises(ValueError):
        SampleClock(0)


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
