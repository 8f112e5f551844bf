"""SynthAVS depth (scene and sensor model), ``avs bag --depth`` and the 3-D part of
``avs replay``: the depth agrees with the rendered stream, perfect masks meet the 3-D targets
through the node's Localizer, and replay reports the errors."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from rosbags.highlevel import AnyReader

from avs_models.backends import TorchBackend
from avs_models.data.synth.depth import DepthScene, PinholeCamera
from avs_models.data.synth.stream import stream
from avs_models.registry import build_model
from avs_ros.bag.reader import BagReader, CameraInfoEvent, DepthEvent, GeometryTruthEvent
from avs_ros.bag.sources import Frame, synth_stream
from avs_ros.bag.writer import write_bag
from avs_ros.core.geometry import CameraModel, DepthImage, Localizer
from avs_ros.core.model_source import LoadedModel
from avs_ros.core.pipeline import Result
from avs_ros.core.postprocess import Postprocessor
from avs_ros.replay.engine import ImageEvent, ProcessedFrame
from avs_ros.replay.geometry_eval import GeometryEvaluator
from avs_ros.replay.session import replay

START = 1_700_000_000 * 10**9


def test_depth_scene_matches_the_rendered_stream():
    size = (96, 128)
    camera = PinholeCamera.with_fov(size)
    assert camera.fx == pytest.approx(64 / np.tan(np.radians(34.5)))
    frames = list(stream(1.0, fps=4, seed=2, size=size, n_objects=3))
    scene = DepthScene(camera, frames[0].n_objects, seed=2)
    z = scene.object_depths
    assert list(z) == sorted(z, reverse=True) and 1.0 <= z.min() and z.max() <= 4.0
    for f in frames:
        truth = scene.true_depth(f.instances)
        for i in range(3):
            assert np.all(truth[f.instances == i + 1] == np.float32(z[i]))
        assert np.all(truth[f.instances == 0] > 4.0)                   # the wall behind
        # the sounding mask is exactly the sounding objects' instances
        assert np.array_equal(f.mask, np.isin(f.instances, np.asarray(f.sounding_ids) + 1))
        sensor = scene.sensor_depth(f.instances).astype(np.float64) / 1000.0
        assert np.all(sensor[:, :3] == 0)                              # invalid left band
        holes = (sensor == 0).mean()
        assert 0.05 < holes < 0.4
        for i in range(3):
            pix = (f.instances == i + 1) & (sensor > 0)
            if pix.sum() > 200:
                err = sensor[pix] - z[i]
                sigma = z[i] ** 2 * 0.08 / (420 * 0.05)
                assert abs(np.median(err)) < sigma and 0.5 * sigma < err.std() < 3 * sigma


def test_perfect_masks_meet_the_3d_targets():
    """The ground-truth sounding mask through the node's Localizer on the sensor depth: what
    the geometry adds when segmentation is right (bearing error ~0, position error from the
    sensor noise only)."""
    evaluator = GeometryEvaluator()
    post = Postprocessor(1, min_area_px=16)
    loc = Localizer()
    for item in synth_stream(4.0, 5.0, seed=5, size=(120, 160), depth=True):
        if not isinstance(item, Frame):
            continue
        cam = item.camera
        loc.set_camera(CameraModel(cam.width, cam.height, cam.k, [0.0] * 5))
        loc.depth.push(DepthImage(item.stamp_ns, item.depth, 0.001))
        mask = item.gt
        objects = post.objects(mask, mask.astype(np.float32))
        geometry, incidents = loc.locate(item.stamp_ns, mask, objects)
        for kind, data in (("depth", item.true_depth), ("instances", item.instances)):
            evaluator.truth(GeometryTruthEvent(0, item.stamp_ns, kind, data))
        evaluator.truth(GeometryTruthEvent(0, item.stamp_ns, "mask", mask))
        frame = ProcessedFrame(ImageEvent(0, item.stamp_ns, "camera", item.image), "s", 0, 0,
                               Result(mask, None, objects, None, {"total": 0.0}), geometry)
        evaluator.frame(frame, loc.camera)
    s = evaluator.summary()
    assert s["matched_j_ge_0_5"] >= 5
    assert s["bearing_error_deg_p50"] < 0.1
    assert s["position_error_rel_p50_1_4m"] < 0.01


@pytest.fixture(scope="module")
def depth_bag(tmp_path_factory):
    out = tmp_path_factory.mktemp("depth") / "bag"
    write_bag(synth_stream(2.5, 8.0, seed=4, size=(64, 64), start_ns=START, depth=True), out)
    return out


def test_bag_carries_depth_camera_info_and_truth(depth_bag):
    with BagReader(depth_bag) as reader:
        lay = reader.layout
        assert (lay.image_topic, lay.camera_info_topic, lay.depth_topic) == (
            "/camera/image_raw", "/camera/camera_info", "/camera/depth_registered/image_raw")
        assert (lay.gt_depth_topic, lay.gt_instances_topic) == ("/avs/gt_depth",
                                                              "/avs/gt_instances")
        events = list(reader.events())
    infos = [e for e in events if isinstance(e, CameraInfoEvent)]
    depths = [e for e in events if isinstance(e, DepthEvent)]
    truth = [e for e in events if isinstance(e, GeometryTruthEvent)]
    assert len(infos) == len(depths) == 20 and len(truth) == 40
    assert infos[0].camera.model == "none" and infos[0].camera.K[0, 0] == pytest.approx(
        PinholeCamera.with_fov((64, 64)).fx)
    assert depths[0].depth.data.dtype == np.uint16 and depths[0].depth.scale == 0.001
    with AnyReader([depth_bag]) as raw:
        conn = next(c for c in raw.connections if c.topic == "/camera/depth_registered/image_raw")
        msg = raw.deserialize(next(raw.messages([conn]))[2], conn.msgtype)
        assert (msg.encoding, msg.step, msg.header.frame_id) == ("16UC1", 128, "camera")


def test_replay_reports_bearing_and_position_errors(depth_bag, tmp_path):
    torch.manual_seed(0)
    model = build_model("lightavseg_t").eval()
    model.contract = replace(model.contract, image_size=(64, 64))
    loaded = LoadedModel(TorchBackend(model), model.contract, None, "test model", True)
    out = tmp_path / "out"
    summary = replay(depth_bag, out, loaded, progress=False)
    geo = summary["geometry"]
    assert geo["topics"] == {"camera_info": "/camera/camera_info",
                             "depth": "/camera/depth_registered/image_raw"}
    assert geo["errors"]["frames"] == summary["frames"]["processed"] > 0
    assert geo["step_p50_ms"] > 0 and "depth_missing" not in geo["incidents"]
    assert json.loads((out / "metrics.json").read_text())["geometry"] == geo
    with AnyReader([out / "bag"]) as reader:
        conn = next(c for c in reader.connections if c.topic == "/avs_node/objects")
        msgs = [reader.deserialize(raw, conn.msgtype) for _, _, raw in reader.messages([conn])]
    with AnyReader([out / "bag"]) as reader:
        conn = next(c for c in reader.connections if c.topic == "/avs_node/markers")
        markers = [m for _, _, raw in reader.messages([conn])
                   for m in reader.deserialize(raw, conn.msgtype).markers]
    assert {(m.ns, m.type) for m in markers} >= {("ray", 0), ("position", 2), ("extent", 1)}
    objects = [o for m in msgs for o in m.objects]
    assert objects, "the random model found no objects: nothing was located"
    assert all(o.has_bearing and o.frame_id == "camera" for o in objects)
    assert any(o.has_position for o in objects)
