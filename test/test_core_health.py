"""Incident counting/throttling and the diagnostic status (no ROS needed)."""
from __future__ import annotations

import numpy as np
import pytest

from avs_ros.core.errors import AudioFormatError
from avs_ros.core.health import (OK, WARN, FrameGapCounter, IncidentLog, build_report, describe,
                                 silence_warning)


def test_incidents_are_counted_and_logged_at_most_once_per_interval():
    log = IncidentLog(throttle_s=5.0)
    assert log.record("bad_image", 0.0) == ""
    assert log.record("bad_image", 1.0) is None
    assert log.record("bad_image", 4.9) is None
    assert log.record("bad_audio", 4.9) == ""          # kinds are throttled separately
    assert log.record("bad_image", 5.0) == " (2 more since the last report)"
    assert log.record("bad_image", 10.5) == ""
    assert log.counts == {"bad_image": 5, "bad_audio": 1}
    assert IncidentLog(0.0).record("x", 0.0) == ""
    with pytest.raises(ValueError):
        IncidentLog(-1.0)


def test_suppressed_counts_are_of_the_same_error_not_of_the_kind():
    """Once "NaN or Inf (187 more)" was logged when those 187 were other bad_audio errors."""
    log = IncidentLog(throttle_s=5.0)
    nan = "audio chunk contains NaN or Inf samples"
    odd = "{} bytes of S16LE audio are not a whole number of 1-channel frames of 2 bytes"
    assert log.record("bad_audio", 0.0, nan) == ""
    assert log.record("bad_audio", 0.1, odd.format(3)) == ""     # another error: own line
    for k in range(187):
        assert log.record("bad_audio", 0.2 + k / 100, odd.format(k + 5)) is None
    assert log.record("bad_audio", 5.0, nan) == ""               # none of the 187 were NaN
    assert log.record("bad_audio", 5.2, odd.format(1)) == " (187 more since the last report)"
    assert log.counts == {"bad_audio": 191}
    # past max_templates, further templates share one slot and say so
    few = IncidentLog(throttle_s=5.0, max_templates=1)
    assert few.record("bad_image", 0.0, "a") == ""
    assert few.record("bad_image", 0.0, "b") == ""
    assert few.record("bad_image", 1.0, "c") is None
    assert few.record("bad_image", 6.0, "b") == " (1 more of this kind since the last report)"


def test_describe_keeps_typed_messages_and_names_other_exceptions():
    assert describe(AudioFormatError("bad rate")) == "bad rate"
    assert describe(KeyError("x")) == "KeyError: 'x'"


def test_frame_gap_counter_flags_lost_frames_against_the_recent_median():
    gaps = FrameGapCounter()
    stamps = [k * 33_333_333 for k in range(40)]            # 30 Hz
    stamps += [stamps[-1] + 2 * 33_333_333]                 # one frame lost
    stamps += [stamps[-1] + k * 33_333_333 for k in range(1, 10)]
    stamps += [stamps[-1] + 5 * 33_333_333]                 # four lost
    stamps += [stamps[-1] - 10, stamps[-1] + 33_000_000]    # backwards: ignored
    flagged = [s for s in stamps if gaps.observe(s)]
    assert flagged == [stamps[40], stamps[50]]
    assert (gaps.gaps, gaps.missing) == (2, 1 + 4)
    jitter = FrameGapCounter()                             # +-20 % jitter is not a gap
    noise = np.random.default_rng(0).uniform(-6e6, 6e6, 300)
    assert not any(jitter.observe(int(k * 33_333_333 + v)) for k, v in enumerate(noise))
    with pytest.raises(ValueError):
        FrameGapCounter(factor=1.0)


def test_report_warns_about_counters_that_rose_only():
    figures = {"fps": 12.5, "latency_p50_ms": float("nan")}
    first = build_report({"frames": 3, "bad_image": 2}, {}, figures, ("bad_image",))
    assert first.level == WARN and first.message == "incidents: bad_image +2"
    assert first.values == [("fps", "12.500"), ("latency_p50_ms", "nan"), ("frames", "3"),
                            ("bad_image", "2")]
    second = build_report({"frames": 9, "bad_image": 2}, {"frames": 3, "bad_image": 2},
                          figures, ("bad_image",))
    assert (second.level, second.message) == (OK, "running")


def test_silence_warning_names_topic_publishers_and_the_qos_fix():
    assert "nothing publishes there" in silence_warning("/cam", "images", 5, "best_effort", [])
    line = silence_warning("/cam", "images", 5.0, "reliable", ["best_effort"])
    assert "/cam" in line and "5.0 s" in line and "input_reliability:=best_effort" in line
    assert "input_reliability" not in silence_warning("/cam", "images", 5, "best_effort",
                                                      ["reliable"])
