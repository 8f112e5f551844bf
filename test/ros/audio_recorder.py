"""Test-side rclpy process: records AudioDataStamped/AudioInfo from audio_capture_node.

    python audio_recorder.py NAMESPACE READY_FILE MIN_SAMPLES TIMEOUT_S

Touches READY_FILE once the first message from the capture node has arrived, then
records until MIN_SAMPLES samples have arrived since the first non-silent message (or
TIMEOUT_S passed) and prints one JSON line: the AudioInfo fields, every message's stamp
(ns) and sample count, and all samples (int16, base64 of the S16LE bytes).
"""
from __future__ import annotations

import base64
import json
import pathlib
import sys
import time

import rclpy
from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from rclpy.qos import QoSProfile, ReliabilityPolicy

QOS = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)


def main(argv: list[str]) -> int:
    namespace, ready_file, min_samples, timeout_s = argv
    rclpy.init()
    node = rclpy.create_node("avs_test_recorder")
    out = {"info": None, "stamps": [], "sizes": [], "frame_ids": set()}
    data = bytearray()
    started = []

    def on_audio(msg) -> None:
        chunk = bytes(msg.audio.data)
        if not started and any(chunk):
            started.append(len(data))
        out["stamps"].append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
        out["sizes"].append(len(chunk) // 2)
        out["frame_ids"].add(msg.header.frame_id)
        data.extend(chunk)

    def on_info(msg) -> None:
        out["info"] = {k: getattr(msg, k) for k in
                       ("channels", "sample_rate", "sample_format", "bitrate", "coding_format")}

    node.create_subscription(AudioDataStamped, f"{namespace}/audio/audio_stamped", on_audio,
                             QOS)
    node.create_subscription(AudioInfo, f"{namespace}/audio/audio_info", on_info, QOS)
    deadline = time.monotonic() + float(timeout_s)
    # ready once a message has arrived: the capture stream is live, so a sound played now is
    # recorded (a matched subscription alone once let a sound pass before capture started)
    while not out["sizes"] and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    pathlib.Path(ready_file).touch()
    while time.monotonic() < deadline and not (
            started and (len(data) - started[0]) // 2 >= int(min_samples)
            and out["info"] is not None):
        rclpy.spin_once(node, timeout_sec=0.05)
    out["frame_ids"] = sorted(out["frame_ids"])
    out["samples"] = base64.b64encode(bytes(data)).decode()
    print(json.dumps(out), flush=True)
    rclpy.try_shutdown()
    return 0 if started else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
