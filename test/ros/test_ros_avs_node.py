"""avs_node as a real process in a ROS 2 graph, driven by a second process (avs_node_driver.py).

The node runs the installed executable (lib/avs_ros/avs_node) with a parameter file, the
LightAVSeg-T preset (the shipped model) at a 64x64 input (plumbing, not accuracy), in a namespace of
its own. The driver publishes images and audio and records every output; the assertions are
on what came back: sizes, encodings, stamps, objects against the mask, markers, diagnostics.
"""
from __future__ import annotations

import json

import pytest
from ros_harness import INSTALL_SPACES, stop

DRIVER = __file__.replace("test_ros_avs_node.py", "avs_node_driver.py")
NODE = INSTALL_SPACES["avs_ros"] / "lib" / "avs_ros" / "avs_node"
WINDOW_NS = 15600 * 1_000_000_000 // 16000
# The random-weight model's probabilities lie around 0.44..0.50: this threshold splits the
# pixels of a random image roughly in half, into several objects per frame.
THRESHOLD = 0.475


def _params(ns: str, **overrides) -> str:
    params = {"preset": "lightavseg_t", "image_size": [64, 64], "threads": 1,
              "min_area_px": 1, "score_threshold": THRESHOLD, "max_skew_s": 0.15,
              "image_topic": f"{ns}/camera/image_raw",
              "compressed_image_topic": f"{ns}/camera/image_raw/compressed",
              "audio_topic": f"{ns}/audio", "audio_info_topic": f"{ns}/audio_info",
              "diagnostics_period_s": 0.25, "log_throttle_s": 0.0, **overrides}
    lines = ["/**:", "  ros__parameters:"]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in params.items()]
    return "\n".join(lines) + "\n"


def _run(ros_build, tmp_path, scenario: str, space: str, **overrides):
    ns = f"/avs_test_{ros_build.token}_{scenario}"
    params = tmp_path / "params.yaml"
    params.write_text(_params(ns, **overrides))
    node = ros_build.start_python(
        [str(NODE), "--ros-args", "-r", f"__ns:={ns}", "--params-file", str(params)], space)
    try:
        done = ros_build.run_python([DRIVER, scenario, ns], space, timeout=240)
        alive = node.poll() is None
    finally:
        node_out, node_err = stop(node)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, (
        f"driver exit {done.returncode}\n{done.stderr[-3000:]}\nnode stderr:\n{node_err[-5000:]}")
    return json.loads(lines[-1]), alive, node_out + node_err


def _check_frame(out: dict, stamp: int, size: tuple[int, int]) -> int:
    """Check one frame's outputs; returns its number of objects."""
    key = str(stamp)
    mask, objects, markers = out["masks"][key], out["objects"][key], out["markers"][key]
    width, height = size
    assert (mask["width"], mask["height"], mask["encoding"]) == (width, height, "mono8")
    assert mask["step"] == width and mask["len"] == width * height
    assert mask["frame_id"] == "camera_optical" and mask["max"] <= 1   # binary class ids
    overlay = out["overlays"][key]
    assert (overlay["width"], overlay["height"], overlay["encoding"]) == (width, height, "bgr8")
    assert objects["frame_id"] == "camera_optical"
    assert objects["window"] == [stamp - WINDOW_NS, stamp]
    # min_area_px = 1: the objects partition the mask's foreground.
    assert sum(o["area_px"] for o in objects["objects"]) == mask["nonzero"]
    assert all(o["class_id"] == "1" and THRESHOLD < o["score"] <= 1.0
               for o in objects["objects"])
    # DELETEALL (3) first, then a box (LINE_STRIP = 4, closed: 5 points) and a label
    # (TEXT_VIEW_FACING = 9) per object, all in the image's frame.
    assert markers[0]["action"] == 3
    assert len(markers) == 1 + 2 * len(objects["objects"])
    for box, label in zip(markers[1::2], markers[2::2]):
        assert (box["type"], box["ns"], box["points"]) == (4, "box", 5)
        assert (label["type"], label["ns"]) == (9, "label") and label["text"].startswith("sounding")
        assert box["frame_id"] == "camera_optical" and 0.0 <= min(box["rgba"]) <= 1.0
    return len(objects["objects"])


def test_stream_every_encoding_and_bad_input(ros_build, tmp_path):
    out, alive, logs = _run(ros_build, tmp_path, "stream", "ros_drivers",
                            autostart=True, input_reliability="reliable")
    images = out["images"]
    found = [_check_frame(out, images[enc], (64, 48))
             for enc in ("rgb8", "bgr8", "mono8", "rgba8", "bgra8", "backwards", "after")]
    found.append(_check_frame(out, images["jpeg"], (56, 40)))
    assert sum(found) > 0, "no frame had objects: the object and marker checks were vacuous"
    assert str(images["future"]) not in out["masks"]
    assert str(images["before_audio"]) not in out["masks"]
    status = out["final_diagnostics"]
    values = {k: float(v) for k, v in status["values"].items()}
    # 3 bad raw images and the JPEG whose header claims 65000x65000 (skipped before decoding)
    assert values["bad_image"] == 4 and values["bad_audio"] >= 2
    assert values["bad_audio_info"] == 1          # sample_rate 1000000007
    assert values["audio_gaps"] >= 1 and values["audio_rate_mismatches"] >= 1
    assert values["image_stamp_backwards"] >= 1 and values["dropped_no_audio"] >= 1
    # the frame stamped before the first 0.975 s of audio waited for audio; none was lost
    assert values["waiting_for_audio"] == 1 and values["dropped_audio_gone"] == 0
    assert values["dropped_frames"] >= values["dropped_no_audio"]
    assert values["frames_processed"] == 8 and values["frames_received"] == 14
    assert values["inference_p50_ms"] > 0 and values["latency_p95_ms"] >= values["latency_p50_ms"]
    assert any(d["level"] == 1 and "bad_image" in d["message"] for d in out["diagnostics"])
    assert alive, "avs_node died on bad input"
    assert "model loaded from" in logs and "lightavseg_t_synth_ms3.pt" in logs  # shipped model
    for text in ("unsupported image encoding", "step is shorter", "truncated",
                 "not a whole number", "audio_gaps", "audio_rate_mismatches",
                 "65000x65000 px exceeds", "bad_audio_info", "1000000007",
                 "last AudioInfo was refused"):
        assert text in logs, text


def test_driver_image_encodings_audio_formats_mp3_and_reconfigure(ros_build, tmp_path):
    """What real drivers publish, over DDS: usb_cam/v4l2 YUV 4:2:2, Jetson NV12/21, industrial
    Bayer, 8UC3, mono16; audio_capture's sample formats and its default mp3; and the last
    AudioInfo kept across cleanup -> configure."""
    out, alive, logs = _run(ros_build, tmp_path, "formats", "ros_drivers",
                            autostart=True, input_reliability="reliable")
    images = out["images"]
    for name, stamp in images.items():
        _check_frame(out, stamp, (64, 48))
    # a wrong sample width would make the stamp-measured rate differ from the announced one
    assert out["audio_rate_mismatches"] == {k: 0 for k in (
        "S8", "U8", "S24LE", "S24_32LE", "S32LE", "F32LE", "F64LE", "mp3")}
    assert out["mp3_values"]["bad_audio"] == "0" and out["mp3_values"]["bad_image"] == "0"
    assert out["reconfigured"] == [True] * 4
    after = out["after_reconfigure"]           # counters restart at activate
    assert after["audio_rate_mismatches"] == "0" and after["bad_audio"] == "0"
    assert alive and "audio format from AudioInfo" in logs


def test_lifecycle_services_and_mgonzs13_audio(ros_build, tmp_path):
    out, alive, _ = _run(ros_build, tmp_path, "lifecycle", "mgonzs13", autostart=False)
    assert out["rejected"]["successful"] is False
    assert "max_skew_s must be >= 0.0" in out["rejected"]["reason"]
    assert out["configure"] and out["activate"] and out["deactivate"] and out["activate_again"]
    assert out["states"] == ["unconfigured", "active", "inactive"]
    images = out["images"]
    for name in ("first", "second", "third",     # 48 kHz stereo int16, 44.1 kHz float32
                 "paInt32", "paInt24", "paInt8", "paUInt8"):
        _check_frame(out, images[name], (64, 48))
    assert str(images["ignored"]) not in out["masks"]
    assert alive


@pytest.mark.parametrize("bad", [{"max_skew_s": -1.0}, {"device": "gpu"},
                                 {"image_size": [100, 64]}])
def test_invalid_parameters_are_rejected_with_a_reason(ros_build, tmp_path, bad):
    params = tmp_path / "params.yaml"
    params.write_text(_params("/x", **bad))
    done = ros_build.run_python([str(NODE), "--ros-args", "--params-file", str(params)],
                                "ros_drivers", timeout=120)
    name = next(iter(bad))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "invalid parameter" in done.stderr and name in done.stderr


BEST_EFFORT_CAMERA = r"""
import sys, time
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("best_effort_camera")
pub = node.create_publisher(Image, sys.argv[1], qos_profile_sensor_data)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    pub.publish(Image(height=2, width=2, encoding="mono8", step=2, data=bytes(4)))
    rclpy.spin_once(node, timeout_sec=0.1)
rclpy.try_shutdown()
"""


def test_reliable_subscription_warns_about_a_best_effort_camera(ros_build, tmp_path):
    ns = f"/avs_test_{ros_build.token}_qos"
    params = tmp_path / "params.yaml"
    params.write_text(_params(ns, autostart=True, input_reliability="reliable",
                              no_input_warning_s=1.0))
    node = ros_build.start_python(
        [str(NODE), "--ros-args", "-r", f"__ns:={ns}", "--params-file", str(params)],
        "ros_drivers")
    try:
        camera = ros_build.run_python(["-c", BEST_EFFORT_CAMERA, f"{ns}/camera/image_raw",
                                       "12"], "ros_drivers", timeout=120)
    finally:
        _, log = stop(node)
    assert camera.returncode == 0, camera.stderr[-2000:]
    assert f"no images received on {ns}/camera/image_raw" in log, log[-3000:]
    assert "1 publisher(s) there (best_effort)" in log
    assert "set input_reliability:=best_effort" in log
