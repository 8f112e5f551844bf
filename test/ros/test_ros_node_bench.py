"""``avs node-bench`` end to end on tiny frames (the figures' consistency, not their size)."""
from __future__ import annotations

import json

import pytest


def test_node_bench_reports_consistent_figures(ros_build):
    done = ros_build.run_python(
        ["-m", "avs_ros.node_bench", "--frames", "3", "--warmup", "1", "--width", "64",
         "--height", "48", "--image-size", "64", "64", "--threads", "1", "--json"],
        "ros_drivers", timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    fig = json.loads(done.stdout.strip().splitlines()[-1])
    assert (fig["frames"], fig["lost"], fig["image"]) == (3, 0, "64x48 rgb8")
    assert fig["dds_profile"].endswith("share/avs_ros/config/fastdds_large_data.xml")
    assert fig["overhead_p50_ms"] == pytest.approx(fig["e2e_p50_ms"] - fig["inference_p50_ms"])
    assert fig["transport_p50_ms"] == pytest.approx(fig["e2e_p50_ms"] - fig["in_node_p50_ms"])
    assert 0 < fig["inference_p50_ms"] and fig["e2e_p50_ms"] <= fig["e2e_p95_ms"]
    # the breakdown: hand-over and stages inside the node's own time, CPU time from /proc
    assert 0 <= fig["handover_p50_ms"] < fig["in_node_p50_ms"]
    assert fig["rest_p50_ms"] == pytest.approx(fig["in_node_p50_ms"] - sum(
        fig[f"{k}_p50_ms"] for k in ("handover", "preprocess", "logmel", "inference",
                                     "postprocess")))
    assert fig["node_cpu_ms_per_frame"] > 0
    assert fig["node_frames_processed"] >= 4 and fig["node_dropped_frames"] == 0
