"""avs replay on short SynthAVS bags with a small random-weight model (plumbing and metric
computation, not accuracy): outputs, scores recomputed by hand from the output bag, drop
counts, partial results after a failure, and the command's errors."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from rosbags.highlevel import AnyReader

from avs_models.backends import TorchBackend
from avs_models.registry import build_model
from avs_ros import cli
from avs_ros.bag.sources import Frame, synth_stream
from avs_ros.bag.writer import write_bag
from avs_ros.replay.evaluation import GroundTruthError
from avs_ros.core.model_source import LoadedModel
from avs_ros.replay.session import replay

START = 1_700_000_000 * 10**9
FPS, DURATION = 8.0, 2.5
FRAMES = int(FPS * DURATION)
# frames whose 0.975 s window starts before the audio does: stamps (k + 1) / 8 s < 0.975 s
GONE = 7


@pytest.fixture(scope="module")
def small_model() -> LoadedModel:
    torch.manual_seed(0)
    model = build_model("lightavseg_t").eval()
    model.contract = replace(model.contract, image_size=(64, 64))
    return LoadedModel(TorchBackend(model), model.contract, None, "test model", True)


def _items(bad_gt_at: int | None = None):
    for item in synth_stream(DURATION, FPS, seed=4, size=(64, 64), start_ns=START):
        if isinstance(item, Frame) and bad_gt_at is not None \
                and item.stamp_ns == START + (bad_gt_at + 1) * 10**9 // 8:
            item = Frame(item.stamp_ns, item.image, item.gt[:32, :48].copy(), item.clip)
        yield item


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("replay") / "in"
    write_bag(_items(), out, storage="mcap", seed=0)
    return out


@pytest.fixture(scope="module")
def result(bag, small_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("replay") / "out"
    return out, replay(bag, out, small_model, progress=False)


def _topic_messages(path: Path, topic: str) -> dict[int, object]:
    with AnyReader([path]) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return {(m := reader.deserialize(raw, c.msgtype)).header.stamp.sec * 10**9
                + m.header.stamp.nanosec: m for c, _, raw in reader.messages(conns)}


def _mono8(msg) -> np.ndarray:
    return np.asarray(msg.data, np.uint8).reshape(msg.height, msg.step)[:, :msg.width]


def test_counts_and_output_files(result):
    out, data = result
    fr = data["frames"]
    assert data["status"] == "ok"
    # the frames before the first 0.975 s of audio wait for it (the node's rule), none is lost
    assert (fr["in_bag_read"], fr["processed"], fr["waiting_for_audio"], fr["dropped_audio_gone"],
            fr["dropped_no_audio"], fr["pending_at_end"]) == (FRAMES, FRAMES - GONE, GONE, 0, 0, 0)
    assert fr["scored"] == FRAMES - GONE and fr["gt_unmatched"] == GONE
    assert json.loads((out / "metrics.json").read_text()) == data
    rows = (out / "frames.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + FRAMES - GONE
    video = cv2.VideoCapture(str(out / "overlay.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES - GONE
    ok, frame = video.read()
    assert ok and frame.shape == (448, 448, 3)      # 64 px enlarged 7x for legibility
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4 and "J (mean IoU)" in html
    lat = data["latency"]
    assert lat["processing_p50_ms"] > 0 and lat["compute_fps"] > 0
    stages = lat["stages"]       # the pipeline's stages, per frame
    assert list(stages) == ["preprocess", "logmel", "inference", "postprocess"]
    assert all(0 <= s["p50_ms"] <= s["p95_ms"] <= lat["processing_p95_ms"]
               for s in stages.values())
    rt = data["realtime_policy"]
    # the node's policy counts the frames before the first 0.975 s of audio as waiting
    assert rt["frames"] == FRAMES and rt["waiting_for_audio"] == GONE
    assert rt["dropped_audio_gone"] == 0
    assert rt["processed"] + rt["dropped_superseded"] + rt["dropped_no_audio"] == FRAMES - GONE


def test_output_bag_has_inputs_and_node_topics(bag, result):
    out, data = result
    with AnyReader([bag]) as src, AnyReader([out / "bag"]) as dst:
        counts = {c.topic: c.msgcount for c in dst.connections}
        for c in src.connections:
            assert counts[c.topic] == c.msgcount
        types = {c.topic: c.msgtype for c in dst.connections}
        logs = [t for _, t, _ in dst.messages()]
    processed = data["frames"]["processed"]
    node = ("/avs_node/mask", "/avs_node/overlay", "/avs_node/objects", "/avs_node/markers")
    assert {t: counts[t] for t in node} == dict.fromkeys(node, processed)
    assert types["/avs_node/objects"] == "avs_ros/msg/SoundingObjectArray"
    assert types["/avs_node/markers"] == "visualization_msgs/msg/MarkerArray"
    assert logs == sorted(logs)
    objects = _topic_messages(out / "bag", "/avs_node/objects")
    masks = _topic_messages(out / "bag", "/avs_node/mask")
    with AnyReader([out / "bag"]) as reader:
        conns = [c for c in reader.connections if c.topic == "/avs_node/markers"]
        markers = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(conns)]
    for m in markers:
        stamp = m.markers[0].header.stamp.sec * 10**9 + m.markers[0].header.stamp.nanosec
        assert m.markers[0].action == 3 and len(m.markers) == 1 + 2 * len(objects[stamp].objects)
    for stamp, msg in objects.items():
        window = (msg.audio_window_end.sec - msg.audio_window_start.sec) * 10**9 + \
            msg.audio_window_end.nanosec - msg.audio_window_start.nanosec
        assert window == 975_000_000 and msg.header.stamp == masks[stamp].header.stamp
        assert masks[stamp].encoding == "mono8"


def test_j_equals_iou_recomputed_from_the_output_bag(result):
    out, data = result
    masks = _topic_messages(out / "bag", "/avs_node/mask")
    gts = _topic_messages(out / "bag", "/avs/gt_mask")
    ious = []
    for stamp, msg in masks.items():
        p, g = _mono8(msg) != 0, _mono8(gts[stamp]) != 0
        if g.any():
            ious.append((p & g).sum() / ((p | g).sum() + 1e-7))
        else:
            ious.append((~p & ~g).sum() / (p.size + 1e-7))
    assert len(ious) == data["metrics"]["frames"]
    assert data["metrics"]["J"] == pytest.approx(float(np.mean(ious)), abs=1e-6)
    assert 0.0 <= data["metrics"]["F"] <= 1.0 and data["metrics"]["groups"] == 1


def test_stream_figures_recomputed_from_the_output_bag(result):
    out, data = result
    masks = _topic_messages(out / "bag", "/avs_node/mask")
    gts = _topic_messages(out / "bag", "/avs/gt_mask")
    objects = _topic_messages(out / "bag", "/avs_node/objects")
    silent = [s for s in masks if not _mono8(gts[s]).any()]
    sounding = []
    for stamp in sorted(set(masks) - set(silent)):
        p, g = _mono8(masks[stamp]) != 0, _mono8(gts[stamp]) != 0
        sounding.append((p & g).sum() / ((p | g).sum() + 1e-7))
    s = data["stream"]
    assert s["silent_frames"] == len(silent) and s["sounding_frames"] == len(sounding)
    assert s["silent_with_object"] == sum(bool(objects[t].objects) for t in silent)
    if sounding:
        assert s["J_sounding"] == pytest.approx(float(np.mean(sounding)), abs=1e-6)
    assert s["stable_pairs"] <= len(masks) - 1 and set(s["onset"]) >= {"events", "median_ms"}
    assert "onset lag" in (out / "report.html").read_text()


def test_gt_size_mismatch_stops_with_partial_results(tmp_path, small_model):
    bad = tmp_path / "bad"
    write_bag(_items(bad_gt_at=12), bad, storage="sqlite3")
    out = tmp_path / "out"
    with pytest.raises(GroundTruthError, match=r"ground truth on /avs/gt_mask at stamp "
                                               r"1700000001625000000 ns is 48x32 px but its "
                                               r"image .* is 64x64 px"):
        replay(bad, out, small_model, progress=False)
    data = json.loads((out / "metrics.json").read_text())
    good = 12 - GONE                      # frames scored before the bad mask
    assert data["status"] == "error" and "48x32" in data["error"]
    assert data["frames"]["scored"] == good
    video = cv2.VideoCapture(str(out / "overlay.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == good
    assert len((out / "frames.csv").read_text().strip().splitlines()) == 1 + good
    with AnyReader([out / "bag"]) as reader:      # closed properly: readable to the end
        assert sum(1 for _ in reader.messages()) == sum(c.msgcount for c in reader.connections)


def test_command_reports_a_bag_without_images(tmp_path, capsys):
    from avs_ros.bag import messages
    from avs_ros.bag.types import typestore
    from avs_ros.bag.writer import BagWriter

    store = typestore()
    with BagWriter(tmp_path / "noimg", store) as b:
        b.write("/audio/audio_stamped", "audio_common_msgs/msg/AudioDataStamped", START,
                messages.audio_stamped(store, "audio_data_stamped", START, "mic",
                                       np.zeros(320, np.float32)))
    code = cli.main(["replay", str(tmp_path / "noimg"), "--out", str(tmp_path / "o"), "--json"])
    err = capsys.readouterr().err
    assert code == 1
    assert "has no camera image topic" in err and str(tmp_path / "noimg") in err
