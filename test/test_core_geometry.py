"""3-D geometry of sounding objects (avs_ros.core.geometry), checked against OpenCV's own
projection (cv2.projectPoints / cv2.fisheye.projectPoints) rather than our formulas."""
from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest

from avs_ros.core.geometry import (CameraModel, DepthImage, GeometryInputError, Localizer,
                                   angle_deg, bearing_angles, decode_depth, object_region,
                                   strongest)
from avs_ros.core.postprocess import Postprocessor

K = [615.0, 0.0, 318.5, 0.0, 612.0, 243.2, 0.0, 0.0, 1.0]
CAMERAS = {
    "plumb_bob": [0.12, -0.25, 0.001, -0.002, 0.09],
    "rational_polynomial": [0.4, -0.1, 0.001, -0.002, 0.02, 0.7, -0.05, 0.05],
    "equidistant": [0.05, -0.01, 0.002, -0.001],
}


def _points(rng, n=300):
    """Random 3-D points in front of the camera, inside a ~60 x 45 deg field of view."""
    z = rng.uniform(0.5, 6.0, n)
    x = rng.uniform(-0.5, 0.5, n) * z
    y = rng.uniform(-0.37, 0.37, n) * z
    return np.stack([x, y, z], axis=1)


def _project(points, model, d):
    k = np.asarray(K).reshape(3, 3)
    if model == "equidistant":
        uv, _ = cv2.fisheye.projectPoints(points.reshape(-1, 1, 3), np.zeros(3), np.zeros(3),
                                          k, np.asarray(d))
    else:
        uv, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), k, np.asarray(d))
    return uv.reshape(-1, 2)


@pytest.mark.parametrize("model", sorted(CAMERAS))
def test_bearing_inverts_opencv_projection(model):
    rng = np.random.default_rng(1)
    points = _points(rng)
    uv = _project(points, model, CAMERAS[model])
    cam = CameraModel(640, 480, K, CAMERAS[model], model)
    xy = cam.normalized(uv)
    rays = np.concatenate([xy, np.ones((len(xy), 1))], axis=1)
    errors = [angle_deg(r, p) for r, p in zip(rays, points)]
    assert max(errors) < 1e-3       # degrees
    # and the distortion matters: a pinhole reading of the same pixels is off
    plain = CameraModel(640, 480, K, [], model).normalized(uv)
    assert np.abs(plain - xy).max() > 1e-3


def test_ray_map_matches_undistort_points():
    cam = CameraModel(64, 48, [60.0, 0, 31.5, 0, 60.0, 23.5, 0, 0, 1], CAMERAS["plumb_bob"])
    rx, ry = cam.ray_map()
    assert rx.shape == (48, 64) and rx.dtype == np.float32
    ref = cam.normalized(np.array([[10.0, 7.0], [63.0, 47.0]]))
    assert np.allclose([rx[7, 10], ry[7, 10]], ref[0], atol=1e-6)
    assert np.allclose([rx[47, 63], ry[47, 63]], ref[1], atol=1e-6)
    assert cam.ray_map()[0] is rx      # cached


def test_pinhole_with_skew_is_k_inverse():
    k = [500.0, 3.0, 320.0, 0.0, 490.0, 240.0, 0.0, 0.0, 1.0]
    cam = CameraModel(640, 480, k, [0.0] * 5)
    p = np.array([0.3, -0.2, 2.0])
    uv = np.asarray(k).reshape(3, 3) @ p
    assert np.allclose(cam.normalized((uv[:2] / uv[2])[None]), [p[:2] / p[2]])


def test_angles_follow_rep103():
    assert bearing_angles((0, 0, 1)) == (0.0, 0.0)
    az, el = bearing_angles((-math.sin(math.radians(30)), 0, math.cos(math.radians(30))))
    assert az == pytest.approx(30.0) and el == pytest.approx(0.0)     # left is positive
    az, el = bearing_angles((0, -math.sin(math.radians(10)), math.cos(math.radians(10))))
    assert az == pytest.approx(0.0) and el == pytest.approx(10.0)     # up is positive


@pytest.mark.parametrize("k, d, model, words", [
    ([0.0, 0, 320, 0, 0.0, 240, 0, 0, 1], [0.0] * 5, "plumb_bob", "focal"),
    ([500.0, 0, 320, 0, 500, 240, 0, 0, 0], [], "plumb_bob", "last row"),
    ([500.0, 0, 320, 0, 500, 240, 0, 0, 1], [0.1, 0.0, 0, 0, 0], "kannala", "unsupported"),
    ([500.0, 0, 320, 0, 500, 240, 0, 0, 1], [0.1, 0.0, 0], "plumb_bob", "coefficients"),
    ([500.0, 0, 320, 0, 500, 240], [], "plumb_bob", "9 finite"),
])
def test_bad_camera_info_names_the_problem(k, d, model, words):
    with pytest.raises(GeometryInputError, match=words) as info:
        CameraModel(640, 480, k, d, model)
    assert info.value.kind == "bad_camera_info"


def test_unknown_model_with_zero_d_is_pinhole():
    assert CameraModel(640, 480, K, [0.0] * 4, "whatever").model == "none"


def test_decode_depth_16uc1_32fc1_padding_and_endianness():
    mm = np.array([[0, 1000, 2500], [65535, 3, 4]], np.uint16)
    padded = np.zeros((2, 8), np.uint8)
    padded[:, :6] = mm.view(np.uint8).reshape(2, 6)
    d = decode_depth(5, "16UC1", 2, 3, 8, padded.tobytes())
    assert d.scale == 0.001 and np.array_equal(d.data, mm) and d.stamp_ns == 5
    big = decode_depth(5, "16UC1", 2, 3, 6, mm.astype(">u2").tobytes(), is_bigendian=1)
    assert np.array_equal(big.data, mm)
    metres = np.array([[1.5, np.nan]], np.float32)
    f = decode_depth(0, "32FC1", 1, 2, 8, metres.tobytes())
    assert f.scale == 1.0 and f.data[0, 0] == 1.5 and np.isnan(f.data[0, 1])
    with pytest.raises(GeometryInputError, match="16UC1 .mm. or 32FC1") as info:
        decode_depth(0, "rgb8", 1, 2, 6, bytes(6))
    assert info.value.kind == "bad_depth"
    with pytest.raises(GeometryInputError, match="needs 16 bytes"):
        decode_depth(0, "32FC1", 2, 2, 8, bytes(12))


def test_depth_buffer_pairs_nearest_within_tolerance():
    loc = Localizer(depth_tolerance_s=0.01)
    for stamp in (100_000_000, 133_000_000, 166_000_000):
        loc.depth.push(DepthImage(stamp, np.zeros((2, 2), np.uint16), 0.001))
    assert loc.depth.nearest(131_000_000).stamp_ns == 133_000_000
    assert loc.depth.nearest(150_000_000) is None       # 16 ms from both


def _scene(h=480, w=640, z=2.0, spill_z=5.0):
    """A square object at depth z with some mask spill onto a wall at spill_z, pinhole K."""
    cam = CameraModel(w, h, K, [])
    mask = np.zeros((h, w), np.uint8)
    mask[100:200, 400:500] = 1
    depth = np.full((h, w), spill_z, np.float32)
    depth[100:200, 400:490] = z            # the last 10 columns of the mask are the wall
    return cam, mask, depth


def test_position_is_median_depth_along_the_mean_ray():
    cam, mask, depth = _scene()
    rng = np.random.default_rng(0)
    noisy = depth + rng.normal(0, 0.01, depth.shape).astype(np.float32)
    noisy[rng.random(depth.shape) < 0.2] = 0.0            # holes
    objects = Postprocessor(1, min_area_px=16).objects(mask, mask.astype(np.float32))
    loc = Localizer(min_valid_fraction=0.5)
    loc.set_camera(cam)
    loc.depth.push(DepthImage(7, noisy, 1.0))
    (geo,), incidents = loc.locate(7, mask, objects)
    assert incidents == []
    assert geo.status == "ok" and 0.75 < geo.valid_fraction < 0.85
    x, y, z = geo.position
    assert z == pytest.approx(2.0, abs=0.01)              # the spill and holes do not move it
    # direction: the mean ray of the mask's pixel centres (OpenCV pinhole projection back)
    uv = np.argwhere(mask)[:, ::-1].astype(np.float64)
    ref = cam.normalized(uv).mean(axis=0)
    assert angle_deg(geo.bearing, (*ref, 1.0)) < 1e-3
    assert (x / z, y / z) == pytest.approx(tuple(ref), abs=1e-5)
    assert geo.extent[0] == pytest.approx(z * 100 / 615.0, rel=0.02)
    assert strongest(objects, [geo]) == 0


def test_bad_inputs_give_objects_without_position():
    cam, mask, depth = _scene()
    objects = Postprocessor(1).objects(mask, mask.astype(np.float32))
    loc = Localizer()
    geo, inc = loc.locate(0, mask, objects)                # no camera_info yet
    assert geo[0].bearing is None and [k for k, _ in inc] == ["camera_info_missing"]
    loc.set_camera(CameraModel(320, 240, K, []))           # another resolution
    geo, inc = loc.locate(0, mask, objects)
    assert geo[0].bearing is None and [k for k, _ in inc] == ["bad_camera_info"]
    loc.set_camera(cam)
    geo, inc = loc.locate(0, mask, objects)                # no depth within tolerance
    assert geo[0].bearing is not None and geo[0].position is None
    assert [k for k, _ in inc] == ["depth_missing"]
    loc.depth.push(DepthImage(0, depth[:240, :320], 1.0))  # another size
    geo, inc = loc.locate(0, mask, objects)
    assert geo[0].position is None and [k for k, _ in inc] == ["bad_depth"]
    loc.depth.push(DepthImage(1, np.zeros_like(depth), 1.0))   # all invalid
    geo, inc = loc.locate(1, mask, objects)
    assert geo[0].position is None and geo[0].status == "too_few_valid_depth"
    assert [k for k, _ in inc] == ["depth_invalid"]
    assert strongest(objects, geo) is None
    nan = np.full_like(depth, np.nan)
    loc.depth.push(DepthImage(2, nan, 1.0))
    assert loc.locate(2, mask, objects)[0][0].position is None


def test_object_region_separates_same_class_regions_in_one_box():
    mask = np.zeros((50, 50), np.uint8)
    mask[5:45, 5:10] = 1
    mask[5:10, 5:45] = 1            # an L
    mask[20:30, 20:30] = 1          # a square inside the L's box
    objects = Postprocessor(1).objects(mask, mask.astype(np.float32))
    big = max(objects, key=lambda o: o.area)
    region = object_region(mask, big, objects)
    assert int(region.sum()) == big.area


def test_markers_in_3d_where_geometry_exists():
    from avs_ros.core.geometry import NO_GEOMETRY, ObjectGeometry
    from avs_ros.core.markers import object_markers
    from avs_ros.core.postprocess import make_palette

    mask = np.zeros((48, 64), np.uint8)
    mask[5:15, 5:15] = 1
    mask[30:40, 30:60] = 1
    objects = Postprocessor(1).objects(mask, mask.astype(np.float32))
    ray = (0.0, 0.6, 0.8)
    located = ObjectGeometry(ray, 0.0, -36.87, (0.0, 1.2, 1.6), (0.3, 0.2, 0.05), 0.9, "ok")
    bearing_only = replace(located, position=None, extent=(0.0, 0.0, 0.0), status="no_depth")
    specs = object_markers(objects, make_palette(), 0.001, geometry=[located, bearing_only])
    kinds = [(s.kind, s.ns, s.id) for s in specs]
    assert kinds == [("arrow", "ray", 0), ("sphere", "position", 0), ("cube", "extent", 0),
                     ("label", "label", 0), ("arrow", "ray", 1), ("label", "label", 1)]
    assert specs[0].points == ((0.0, 0.0, 0.0), (0.0, 1.2, 1.6))
    assert specs[2].scale == (0.3, 0.2, 0.05) and specs[2].rgba[3] < 1
    assert specs[4].points[1] == pytest.approx((0.0, 0.6, 0.8))      # 1 m along the bearing
    assert specs[3].text.endswith("2.00 m")
    flat = object_markers(objects, make_palette(), 0.001, geometry=[NO_GEOMETRY] * 2)
    assert [s.kind for s in flat] == ["box", "label", "box", "label"]


def test_extent_depth_spread_is_the_10_90_percentile_range():
    cam, mask, _ = _scene()
    depth = np.zeros(mask.shape, np.float32)
    depth[100:200, 400:500] = np.linspace(1.0, 3.0, 100 * 100, dtype=np.float32).reshape(100, 100)
    objects = Postprocessor(1).objects(mask, mask.astype(np.float32))
    loc = Localizer()
    loc.set_camera(cam)
    loc.depth.push(DepthImage(0, depth, 1.0))
    (geo,), _ = loc.locate(0, mask, objects)
    from avs_ros.core.geometry import MAX_SAMPLES

    step = math.ceil(math.sqrt(10_000 / MAX_SAMPLES))  # the depth sample grid
    z = depth[100:200, 400:500][::step, ::step].ravel()
    assert geo.position[2] == pytest.approx(np.sort(z)[(z.size - 1) // 2])
    assert geo.extent[2] == pytest.approx(np.percentile(z, 90) - np.percentile(z, 10), abs=2e-3)
