"""Test-side rclpy process: plays recorded messages into a ROS 2 graph at their recorded pace
and reports what avs_node published in return.

    python bag_player.py PLAYLIST NAMESPACE

PLAYLIST is a JSON-lines file written by the test from a bag (one message per line:
``log_ns``, ``topic``, ``type`` like ``sensor_msgs/msg/Image``, ``cdr`` base64 of the
serialised message); each is published as raw CDR on ``NAMESPACE + topic`` (like ``ros2 bag
play``, which this environment lacks). The node under test runs in NAMESPACE. The player
waits until the node subscribes to every topic, plays, then waits until the node's
diagnostics account for every frame (processed or dropped) and every processed frame's mask
has arrived. Prints one JSON object on its last line: ``masks`` (stamp -> sha256 of the mono8
bytes, width, height), ``diagnostics`` (the node's last values) and ``published`` (messages
per topic). Exit 0 when everything was accounted for, 3 on a timeout (output printed anyway).
"""
from __future__ import annotations

import base64
import hashlib
import importlib
import json
import sys
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

QOS = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
NS = 1_000_000_000


def _message_class(name: str):
    package, _, cls = name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), cls)


def main(playlist: str, namespace: str) -> int:
    records = [json.loads(line) for line in open(playlist)]
    rclpy.init()
    node = rclpy.create_node("avs_test_bag_player")
    out = {"masks": {}, "diagnostics": {}, "published": {}}
    node_path = f"{namespace}/avs_node"

    def on_mask(msg) -> None:
        stamp = msg.header.stamp.sec * NS + msg.header.stamp.nanosec
        out["masks"][str(stamp)] = {"sha256": hashlib.sha256(bytes(msg.data)).hexdigest(),
                                    "width": msg.width, "height": msg.height}

    def on_diagnostics(msg) -> None:
        for status in msg.status:
            if status.hardware_id == node_path:
                out["diagnostics"] = {kv.key: kv.value for kv in status.values}

    node.create_subscription(Image, f"{node_path}/mask", on_mask, QOS)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, QOS)
    pubs = {}
    for r in records:
        if r["topic"] not in pubs:
            pubs[r["topic"]] = node.create_publisher(_message_class(r["type"]),
                                                     namespace + r["topic"], QOS)

    def spin_until(done, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                return False
            rclpy.spin_once(node, timeout_sec=0.02)
        return True

    code = 0
    if not spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()), 120):
        print("timed out waiting for avs_node's subscriptions", file=sys.stderr)
        code = 3
    else:
        t0, log0 = time.monotonic(), records[0]["log_ns"]
        for r in records:
            spin_until(lambda: time.monotonic() - t0 >= (r["log_ns"] - log0) / NS, 60)
            pubs[r["topic"]].publish(base64.b64decode(r["cdr"]))
            out["published"][r["topic"]] = out["published"].get(r["topic"], 0) + 1
        images = max(out["published"].get(t, 0) for t in out["published"] if "image" in t)

        def accounted() -> bool:
            d = out["diagnostics"]
            return bool(d) and float(d["frames_received"]) == images and \
                float(d["frames_processed"]) + float(d["dropped_frames"]) == images and \
                len(out["masks"]) == float(d["frames_processed"])
        if not spin_until(accounted, 60):
            print("timed out waiting for every frame to be processed or reported dropped",
                  file=sys.stderr)
            code = 3
    print(json.dumps(out))
    node.destroy_node()
    rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
