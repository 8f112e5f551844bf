"""Real two-process DDS round trips (Fast DDS) of our messages and both audio_common_msgs.

A publisher process and a receiver process (plain rclpy nodes, test/ros/ros_dds_peer.py) run
with the venv's python against the install spaces; every field that went out must come back.
Float values are chosen exactly representable in float32 so that equality is exact.
"""
from __future__ import annotations

import json

from ros_harness import PEER, stop


def _header(sec: int, nanosec: int, frame_id: str) -> dict:
    return {"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": frame_id}


def _sounding_objects() -> dict:
    obj = {
        "class_id": "1", "class_name": "sounding", "score": 0.875,
        "bbox_center_x": 31.5, "bbox_center_y": 20.0, "bbox_size_x": 12.0, "bbox_size_y": 9.0,
        "centroid_x": 30.25, "centroid_y": 21.75, "area_px": 87,
        "frame_id": "camera_optical", "has_bearing": True,
        "bearing": {"x": 0.5, "y": -0.25, "z": 0.8125}, "azimuth_deg": -31.5,
        "elevation_deg": 14.25, "has_position": True,
        "position": {"x": 1.5, "y": -0.75, "z": 2.4375},
        "extent": {"x": 0.25, "y": 0.5, "z": 0.125}, "valid_depth_fraction": 0.75,
    }
    other = dict(obj, class_id="17", class_name="dog", score=0.5, area_px=4096,
                 bbox_center_x=1.0e3, centroid_y=-0.0, has_bearing=False, has_position=False,
                 bearing={"x": 0.0, "y": 0.0, "z": 0.0}, position={"x": 0.0, "y": 0.0, "z": 0.0},
                 valid_depth_fraction=0.0)
    return {
        "header": _header(1_700_000_123, 456_000_000, "camera_optical"),
        "objects": [obj, other],
        "audio_window_start": {"sec": 1_700_000_122, "nanosec": 481_250_000},
        "audio_window_end": {"sec": 1_700_000_123, "nanosec": 456_000_000},
        "inference_latency_ms": 12.5,
    }


def _round_trip(ros_build, tmp_path, spec: list[dict], *spaces: str) -> dict[str, dict]:
    """Publish ``spec`` from one process, receive it in another; topic -> received fields."""
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    publisher = ros_build.start_python([str(PEER), "publish", str(spec_file)], *spaces)
    try:
        done = ros_build.run_python([str(PEER), "echo", str(spec_file)], *spaces, timeout=30)
    finally:
        pub_out, pub_err = stop(publisher)
    assert done.returncode == 0, (
        f"receiver exit {done.returncode}\nreceiver stderr:\n{done.stderr}\n"
        f"publisher stdout:\n{pub_out}\npublisher stderr:\n{pub_err}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {line["topic"]: line["fields"] for line in lines}


def test_sounding_objects_and_ros_drivers_audio_cross_processes(ros_build, tmp_path):
    pcm = [(7 * i + 3) % 256 for i in range(640)]  # 320 S16LE samples as bytes
    spec = [
        {"topic": f"/avs_test_{ros_build.token}/objects",
         "type": "avs_ros/msg/SoundingObjectArray", "fields": _sounding_objects()},
        {"topic": f"/avs_test_{ros_build.token}/audio_stamped",
         "type": "audio_common_msgs/msg/AudioDataStamped",
         "fields": {"header": _header(1_700_000_122, 500_000_000, "mic"), "audio": {"data": pcm}}},
    ]
    received = _round_trip(ros_build, tmp_path, spec, "ros_drivers")
    assert received == {entry["topic"]: entry["fields"] for entry in spec}


def test_mgonzs13_audio_stamped_crosses_processes(ros_build, tmp_path):
    samples = [((i * 2654435761) % 65536) - 32768 for i in range(512)]  # full int16 range
    audio = {
        "audio_data": {
            "float32_data": [-1.0, -0.5, 0.0, 0.25, 0.999969482421875],
            "int32_data": [-2147483648, 0, 2147483647],
            "int16_data": samples,
            "int8_data": [-128, -1, 0, 127],
            "uint8_data": [0, 128, 255],
        },
        "info": {"format": 8, "channels": 1, "rate": 16000, "chunk": 512},
    }
    spec = [{"topic": f"/avs_test_{ros_build.token}/audio",
             "type": "audio_common_msgs/msg/AudioStamped",
             "fields": {"header": _header(1_700_000_124, 32_000_000, "respeaker"), "audio": audio}}]
    received = _round_trip(ros_build, tmp_path, spec, "mgonzs13")
    assert received == {spec[0]["topic"]: spec[0]["fields"]}
