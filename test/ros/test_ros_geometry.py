"""avs_node's 3-D outputs over DDS: a driver process (geometry_driver.py) publishes image +
registered depth + camera_info + audio to the installed avs_node; the assertions check the
bearings against OpenCV's undistortion of the published mask's pixels, the positions against
the depth planes that were sent, the 3-D markers, ``~/target`` and the counting of bad input.
"""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from ros_harness import INSTALL_SPACES, stop

DRIVER = __file__.replace("test_ros_geometry.py", "geometry_driver.py")
NODE = INSTALL_SPACES["avs_ros"] / "lib" / "avs_ros" / "avs_node"
FRAME = "camera_color_optical_frame"


@pytest.fixture(scope="module")
def run(ros_build, tmp_path_factory):
    ns = f"/avs_test_{ros_build.token}_geometry"
    params = {"preset": "lightavseg_t", "image_size": [64, 64], "threads": 1,
              "min_area_px": 4, "score_threshold": 0.475, "autostart": True,
              "input_reliability": "reliable", "image_topic": f"{ns}/camera/image_raw",
              "audio_topic": f"{ns}/audio", "audio_info_topic": f"{ns}/audio_info",
              "camera_info_topic": f"{ns}/camera/camera_info",
              "depth_topic": f"{ns}/camera/depth/image_raw", "depth_tolerance_s": 0.02,
              "min_valid_depth_fraction": 0.5, "diagnostics_period_s": 0.25,
              "log_throttle_s": 0.0, "publish_overlay": False}
    path = tmp_path_factory.mktemp("geometry") / "params.yaml"
    path.write_text("/**:\n  ros__parameters:\n" + "".join(
        f"    {k}: {json.dumps(v)}\n" for k, v in params.items()))
    node = ros_build.start_python(
        [str(NODE), "--ros-args", "-r", f"__ns:={ns}", "--params-file", str(path)],
        "ros_drivers")
    try:
        done = ros_build.run_python([DRIVER, ns], "ros_drivers", timeout=240)
        alive = node.poll() is None
    finally:
        _, log = stop(node)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"{done.stderr[-3000:]}\nnode:\n{log[-4000:]}"
    return json.loads(lines[-1]), alive, log


def _objects(out, name):
    stamp = str(out["frames"][name])
    return stamp, out["objects"][stamp]["objects"]


def _opencv_bearing(mask: np.ndarray, obj: dict, K, D) -> np.ndarray:
    """Mean of cv2.undistortPoints over the pixels of the object's region in the mask."""
    n, labels = cv2.connectedComponents((mask > 0).astype(np.uint8), connectivity=8)
    cx, cy, sx, sy = obj["box"]
    x0, y0 = round(cx - (sx - 1) / 2), round(cy - (sy - 1) / 2)
    candidates = [k for k in range(1, n) if (labels == k).sum() == obj["area_px"]]
    for k in candidates:
        ys, xs = np.nonzero(labels == k)
        if (xs.min(), ys.min()) == (x0, y0):
            uv = np.stack([xs, ys], axis=1).astype(np.float64).reshape(-1, 1, 2)
            xy = cv2.undistortPoints(uv, np.asarray(K).reshape(3, 3), np.asarray(D),
                                     criteria=(3, 100, 1e-12)).reshape(-1, 2).mean(axis=0)
            ray = np.array([xy[0], xy[1], 1.0])
            return ray / np.linalg.norm(ray)
    raise AssertionError(f"no region of the mask matches the object {obj}")


def _angle(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return math.degrees(math.atan2(np.linalg.norm(np.cross(a, b)), a @ b))


@pytest.mark.parametrize("name, depth_m", [("mm", 2.5), ("metres", 1.75), ("recovered", 2.0)])
def test_bearings_and_positions_from_depth_and_camera_info(run, name, depth_m):
    out, alive, _ = run
    stamp, objects = _objects(out, name)
    assert objects, "no sounding objects in the frame: nothing was checked"
    mask = np.asarray(out["masks"][stamp], np.uint8)
    best = max(objects, key=lambda o: o["score"])
    for o in objects:
        assert o["frame_id"] == FRAME and o["has_bearing"] and o["has_position"]
        ref = _opencv_bearing(mask, o, out["K"], out["D"])
        assert _angle(o["bearing"], ref) < 0.01                     # degrees
        x, y, z = o["position"]
        assert z == pytest.approx(depth_m, abs=1e-4)                # the plane sent
        assert (x / z, y / z) == pytest.approx((ref[0] / ref[2], ref[1] / ref[2]), abs=1e-4)
        bx, by, bz = o["bearing"]
        assert o["azimuth_deg"] == pytest.approx(math.degrees(math.atan2(-bx, bz)))
        assert o["elevation_deg"] == pytest.approx(
            math.degrees(math.atan2(-by, math.hypot(bx, bz))))
        assert o["valid_depth_fraction"] > (0.5 if name != "recovered" else 0.99)
        assert o["extent"][2] == pytest.approx(0.0, abs=1e-3)       # a plane: no depth spread
    # markers: DELETEALL, then per object an arrow camera -> position, sphere, cube, label
    markers = out["markers"][stamp]
    arrows = [m for m in markers if (m["ns"], m["type"]) == ("ray", 0)]
    spheres = [m for m in markers if (m["ns"], m["type"]) == ("position", 2)]
    assert len(arrows) == len(spheres) == len(objects)
    assert {m["frame_id"] for m in markers} == {FRAME}
    for o, arrow, sphere in zip(objects, arrows, spheres):
        assert arrow["points"][0] == [0.0, 0.0, 0.0]
        assert arrow["points"][1] == pytest.approx(o["position"])
        assert sphere["position"] == pytest.approx(o["position"])
    assert sum((m["ns"], m["type"]) == ("extent", 1) for m in markers) == len(objects)
    target = out["targets"][stamp]
    assert target["frame_id"] == FRAME and target["point"] == pytest.approx(best["position"])
    assert alive


@pytest.mark.parametrize("name", ["small", "rgb8", "zeros", "late"])
def test_bad_depth_gives_bearing_without_position(run, name):
    out, alive, _ = run
    stamp, objects = _objects(out, name)
    assert objects
    assert all(o["has_bearing"] and not o["has_position"] for o in objects)
    assert stamp not in out["targets"]
    assert alive


@pytest.mark.parametrize("name", ["vga", "nofocal"])
def test_bad_camera_info_gives_neither(run, name):
    out, alive, _ = run
    stamp, objects = _objects(out, name)
    assert objects
    assert not any(o["has_bearing"] or o["has_position"] for o in objects)
    assert stamp not in out["targets"]
    # without a bearing the markers fall back to the image plane (LINE_STRIP boxes)
    assert sum(m["type"] == 4 for m in out["markers"][stamp]) == len(objects)
    assert alive


def test_bad_geometry_input_is_counted_on_diagnostics(run):
    out, alive, log = run
    values = {k: float(v) for k, v in out["final_diagnostics"].items()}
    assert values["bad_depth"] == 2                    # other size, rgb8 encoding
    assert values["depth_invalid"] >= 1                # all-zero depth (one per object)
    assert values["depth_missing"] == 2                # 0.5 s off; the rgb8 one rejected
    assert values["bad_camera_info"] == 2              # 640x480 for 64x48 images, fx = 0
    assert values["camera_info_missing"] >= 1          # after the unusable one
    assert values["geometry_p50_ms"] > 0
    for text in ("expected 16UC1 (mm) or 32FC1 (m)", "expected depth registered",
                 "focal lengths", "camera_info is for 640x480"):
        assert text in log, text
    assert alive
