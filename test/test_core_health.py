"""Incident counting/throttling and the diagnostic status (no ROS needed)."""
from __future__ import annotations

import pytest

from avs_ros.core.health import OK, WARN, IncidentLog, build_report, silence_warning


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
