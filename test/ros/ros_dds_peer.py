"""A plain rclpy process for the DDS round-trip tests: publishes or receives messages.

Run with the ROS venv's python in the environment of an install space (see conftest.py):

    python ros_dds_peer.py publish SPEC.json   # publish each message once, stay up until SIGINT
    python ros_dds_peer.py echo SPEC.json      # print one JSON line per topic once all arrived

SPEC.json is a list of ``{"topic": "/t", "type": "pkg/msg/Name", "fields": {...}}``. The
publisher fills a message from ``fields`` (nested dicts for sub-messages, lists for arrays and
sequences); the receiver prints ``{"topic": ..., "fields": ...}`` built from the received
message by the same rules, so the test can compare dicts. Both sides use Reliable +
Transient Local QoS, depth 1, so the order in which the processes start does not matter.
The receiver exits 0 when every topic has delivered one message, 3 on its own timeout.
"""
from __future__ import annotations

import array
import importlib
import json
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                 durability=DurabilityPolicy.TRANSIENT_LOCAL)


def message_class(type_name: str) -> type:
    """``"pkg/msg/Name"`` or ``"pkg/Name"`` -> the generated Python class."""
    parts = type_name.split("/")
    pkg, sub, name = (parts[0], "msg", parts[1]) if len(parts) == 2 else parts
    return getattr(importlib.import_module(f"{pkg}.{sub}"), name)


def _element_class(field_type: str) -> type | None:
    """Class of the elements of a ``sequence<pkg/Name>`` or ``pkg/Name[N]`` field, else None."""
    inner = field_type
    if inner.startswith("sequence<"):
        inner = inner[len("sequence<"):-1].split(",")[0]
    inner = inner.split("[")[0]
    return message_class(inner) if "/" in inner else None


def fill(msg, fields: dict):
    """Set the fields of ``msg`` from a dict (recursively); returns ``msg``."""
    types = msg.get_fields_and_field_types()
    for name, value in fields.items():
        if name not in types:
            raise KeyError(f"{type(msg).__name__} has no field {name!r}; fields: {sorted(types)}")
        if isinstance(value, dict):
            fill(getattr(msg, name), value)
        elif isinstance(value, list) and _element_class(types[name]) is not None:
            cls = _element_class(types[name])
            setattr(msg, name, [fill(cls(), item) for item in value])
        else:
            setattr(msg, name, value)
    return msg


def to_dict(msg) -> dict:
    """All fields of ``msg`` as plain JSON types (arrays and bytes become lists)."""
    out = {}
    for name in msg.get_fields_and_field_types():
        value = getattr(msg, name)
        if hasattr(value, "get_fields_and_field_types"):
            value = to_dict(value)
        elif isinstance(value, (list, tuple)):
            value = [to_dict(v) if hasattr(v, "get_fields_and_field_types") else v for v in value]
        elif isinstance(value, (array.array, bytes, bytearray)):
            value = list(value)
        elif hasattr(value, "tolist"):  # numpy arrays of fixed-size fields
            value = value.tolist()
        out[name] = value
    return out


def publish(spec: list[dict], lifetime_s: float = 60.0) -> int:
    node = rclpy.create_node("avs_test_publisher")
    publishers = []
    for entry in spec:
        cls = message_class(entry["type"])
        pub = node.create_publisher(cls, entry["topic"], QOS)
        pub.publish(fill(cls(), entry["fields"]))
        publishers.append(pub)
    print("published", flush=True)
    deadline = time.monotonic() + lifetime_s  # the test stops us (SIGINT) long before this
    try:
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.2)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0


def echo(spec: list[dict], timeout_s: float = 20.0) -> int:
    node = rclpy.create_node("avs_test_receiver")
    received: dict[str, dict] = {}
    for entry in spec:
        topic = entry["topic"]
        node.create_subscription(
            message_class(entry["type"]), topic,
            lambda msg, topic=topic: received.setdefault(topic, to_dict(msg)), QOS)
    deadline = time.monotonic() + timeout_s
    while len(received) < len(spec) and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.2)
    for topic, fields in received.items():
        print(json.dumps({"topic": topic, "fields": fields}), flush=True)
    missing = [e["topic"] for e in spec if e["topic"] not in received]
    if missing:
        print(f"timed out after {timeout_s} s waiting for {missing}", file=sys.stderr)
        return 3
    return 0


def main(argv: list[str]) -> int:
    mode, spec_path = argv
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    rclpy.init()
    try:
        return {"publish": publish, "echo": echo}[mode](spec)
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
