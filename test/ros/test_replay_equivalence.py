"""avs replay and avs_node agree: the same bag played into the node in a real ROS 2 graph
gives, for every frame the node processed, byte-identical masks; the frames the node did not
process it reports as dropped (its diagnostics account for every frame).

The bag is a 3 s SynthAVS stream at 10 FPS, 64 x 64 px; the model is what both load for an
empty checkpoint with the same loader (:func:`avs_ros.core.model_source.load_backend`: the
shipped default, else LightAVSeg-T with random weights from seed 0) at a 64 x 64 input with
one CPU thread (identical arithmetic). The threshold 0.475 splits the
random-weight model's probabilities (about 0.44..0.50) so that masks are not trivially empty.
"""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import torch
from ros_harness import INSTALL_SPACES, stop
from rosbags.highlevel import AnyReader

from avs_ros.bag.sources import synth_stream
from avs_ros.bag.writer import write_bag
from avs_ros.core.model_source import load_backend
from avs_ros.replay.session import ReplayOptions, replay

PLAYER = Path(__file__).with_name("bag_player.py")
NODE = INSTALL_SPACES["avs_ros"] / "lib" / "avs_ros" / "avs_node"
THRESHOLD = 0.475
INPUTS = ("/camera/image_raw", "/audio/audio_stamped", "/audio/audio_info")


def _replay_masks(bag: Path, out: Path) -> dict[str, str]:
    threads = torch.get_num_threads()
    try:
        model = load_backend("lightavseg_t", "", threads=1, image_size=(64, 64))
        replay(bag, out, model, ReplayOptions(score_threshold=THRESHOLD, video=False),
               progress=False)
    finally:
        torch.set_num_threads(threads)
    masks = {}
    with AnyReader([out / "bag"]) as reader:
        conns = [c for c in reader.connections if c.topic == "/avs_node/mask"]
        for c, _, raw in reader.messages(conns):
            msg = reader.deserialize(raw, c.msgtype)
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            masks[str(stamp)] = hashlib.sha256(bytes(msg.data)).hexdigest()
    return masks


def _playlist(bag: Path, path: Path) -> None:
    with AnyReader([bag]) as reader, open(path, "w") as f:
        conns = [c for c in reader.connections if c.topic in INPUTS]
        for c, log_ns, raw in reader.messages(conns):
            f.write(json.dumps({"log_ns": log_ns, "topic": c.topic, "type": c.msgtype,
                                "cdr": base64.b64encode(raw).decode()}) + "\n")


def test_node_publishes_the_masks_of_avs_replay(ros_build, tmp_path):
    assert NODE.is_file(), f"{NODE} is missing: the ROS build has no avs_node executable"
    bag = tmp_path / "in"
    write_bag(synth_stream(3.0, 10.0, seed=5, size=(64, 64), start_ns=1_700_000_000 * 10**9),
              bag, seed=5)
    expected = _replay_masks(bag, tmp_path / "replay")
    _playlist(bag, tmp_path / "playlist.jsonl")
    ns = f"/avs_test_{ros_build.token}_equiv"
    # backend torch, as the replay above (the node's default, auto, would run ONNX Runtime)
    params = {"autostart": True, "preset": "lightavseg_t", "backend": "torch",
              "image_size": [64, 64],
              "threads": 1, "score_threshold": THRESHOLD, "min_area_px": 16,
              "max_skew_s": 0.15, "audio_buffer_s": 5.0, "input_reliability": "reliable",
              "image_topic": f"{ns}/camera/image_raw", "audio_type": "audio_data_stamped",
              "audio_topic": f"{ns}/audio/audio_stamped",
              "audio_info_topic": f"{ns}/audio/audio_info", "diagnostics_period_s": 0.25}
    param_file = tmp_path / "params.yaml"
    param_file.write_text("/**:\n  ros__parameters:\n" + "".join(
        f"    {k}: {json.dumps(v)}\n" for k, v in params.items()))
    node = ros_build.start_python(
        [str(NODE), "--ros-args", "-r", f"__ns:={ns}", "--params-file", str(param_file)],
        "ros_drivers")
    try:
        done = ros_build.run_python([str(PLAYER), str(tmp_path / "playlist.jsonl"), ns],
                                    "ros_drivers", timeout=400)
    finally:
        node_out, node_err = stop(node)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, (
        f"player exit {done.returncode}\n{done.stderr[-3000:]}\nnode:\n{node_err[-5000:]}")
    got = json.loads(lines[-1])
    diag = {k: float(v) for k, v in got["diagnostics"].items()}
    frames = got["published"]["/camera/image_raw"]
    # every frame is accounted for: processed (mask received) or reported dropped
    assert diag["frames_received"] == frames == 30
    assert diag["frames_processed"] == len(got["masks"]) >= 5, json.dumps(diag)
    assert diag["frames_processed"] + diag["dropped_frames"] == frames
    # every mask the node published is the one avs replay computed for that frame
    for stamp, mask in got["masks"].items():
        assert (mask["width"], mask["height"]) == (64, 64)
        assert stamp in expected, f"node processed frame {stamp}, which replay did not"
        assert mask["sha256"] == expected[stamp], f"masks differ at stamp {stamp}"
    assert len(expected) >= len(got["masks"])
    assert len({m["sha256"] for m in got["masks"].values()}) > 1, "masks do not vary: vacuous"
