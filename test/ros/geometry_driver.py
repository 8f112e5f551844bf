"""Test-side rclpy process for avs_node's 3-D outputs: publishes image + registered depth +
camera_info + audio and records objects, markers, ~/target, masks and diagnostics.

    python geometry_driver.py NAMESPACE

Inputs of the node: ``NAMESPACE/camera/image_raw``, ``NAMESPACE/camera/depth/image_raw``,
``NAMESPACE/camera/camera_info``, ``NAMESPACE/audio`` (+ ``audio_info``). Frames (64x48):

- ``mm``: camera_info (plumb_bob, with distortion) and a 16UC1 depth plane at 2.5 m with
  holes, same stamp as the image;
- ``metres``: 32FC1 depth plane at 1.75 m with NaN holes;
- bad input, each followed by a frame: depth of another size (``small``), an unknown depth
  encoding (``rgb8``), all-zero depth (``zeros``), depth 0.5 s off the frame's stamp
  (``late``), camera_info of another resolution (``vga``), camera_info with zero focal length
  (``nofocal``).

Prints one JSON object on its last line; exit 0 when the scenario ran to the end, 3 when a
wait timed out (what was seen so far is printed anyway).
"""
from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
import rclpy
from avs_ros.msg import SoundingObjectArray
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import MarkerArray

NS = 1_000_000_000
QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
W, H = 64, 48
K = [52.0, 0.0, 31.0, 0.0, 51.0, 24.5, 0.0, 0.0, 1.0]
D = [0.15, -0.3, 0.001, -0.002, 0.1]


def stamp_ns(header) -> int:
    return header.stamp.sec * NS + header.stamp.nanosec


class Driver:
    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.node = rclpy.create_node("avs_geometry_driver")
        path = f"{ns}/avs_node"
        self.path = path
        self.out: dict = {"objects": {}, "markers": {}, "targets": {}, "masks": {},
                          "diagnostics": []}
        sub = self.node.create_subscription
        sub(SoundingObjectArray, f"{path}/objects", self._objects, QOS)
        sub(MarkerArray, f"{path}/markers", self._markers, QOS)
        sub(PointStamped, f"{path}/target", self._target, QOS)
        sub(Image, f"{path}/mask", self._mask, QOS)
        sub(DiagnosticArray, "/diagnostics", self._diagnostics, QOS)
        self.pubs: dict = {}
        self.t0 = time.time_ns() - 30 * NS

    def _objects(self, msg) -> None:
        self.out["objects"][stamp_ns(msg.header)] = {
            "frame_id": msg.header.frame_id,
            "objects": [{"score": o.score, "area_px": o.area_px, "frame_id": o.frame_id,
                         "box": [o.bbox_center_x, o.bbox_center_y, o.bbox_size_x,
                                 o.bbox_size_y],
                         "has_bearing": o.has_bearing,
                         "bearing": [o.bearing.x, o.bearing.y, o.bearing.z],
                         "azimuth_deg": o.azimuth_deg, "elevation_deg": o.elevation_deg,
                         "has_position": o.has_position,
                         "position": [o.position.x, o.position.y, o.position.z],
                         "extent": [o.extent.x, o.extent.y, o.extent.z],
                         "valid_depth_fraction": o.valid_depth_fraction}
                        for o in msg.objects]}

    def _markers(self, msg) -> None:
        self.out["markers"][stamp_ns(msg.markers[0].header)] = [
            {"type": m.type, "ns": m.ns, "frame_id": m.header.frame_id,
             "points": [[p.x, p.y, p.z] for p in m.points],
             "position": [m.pose.position.x, m.pose.position.y, m.pose.position.z]}
            for m in msg.markers]

    def _target(self, msg) -> None:
        self.out["targets"][stamp_ns(msg.header)] = {
            "frame_id": msg.header.frame_id, "point": [msg.point.x, msg.point.y, msg.point.z]}

    def _mask(self, msg) -> None:
        self.out["masks"][stamp_ns(msg.header)] = np.frombuffer(
            bytes(msg.data), np.uint8).reshape(msg.height, msg.width).tolist()

    def _diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.hardware_id == self.path:
                self.out["diagnostics"].append({kv.key: kv.value for kv in status.values})

    def wait(self, what: str, done, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            rclpy.spin_once(self.node, timeout_sec=0.05)

    def pub(self, cls, topic: str):
        if topic not in self.pubs:
            self.pubs[topic] = self.node.create_publisher(cls, f"{self.ns}/{topic}", QOS)
        return self.pubs[topic]

    def header(self, msg, t_s: float) -> int:
        ns = self.t0 + round(t_s * NS)
        msg.header.stamp.sec, msg.header.stamp.nanosec = ns // NS, ns % NS
        msg.header.frame_id = "camera_color_optical_frame"
        return ns

    def camera_info(self, t_s: float, width=W, height=H, k=K) -> None:
        msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob", d=D, k=k,
                         r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
                         p=[k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0])
        self.header(msg, t_s)
        self.pub(CameraInfo, "camera/camera_info").publish(msg)

    def depth(self, t_s: float, array: np.ndarray, encoding: str | None = None) -> None:
        encoding = encoding or {np.dtype(np.uint16): "16UC1",
                                np.dtype(np.float32): "32FC1"}[array.dtype]
        msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding,
                    step=array.shape[1] * array.dtype.itemsize, data=array.tobytes())
        self.header(msg, t_s)
        self.pub(Image, "camera/depth/image_raw").publish(msg)

    def image(self, t_s: float) -> int:
        rng = np.random.default_rng(round(t_s * 1000))
        msg = Image(height=H, width=W, encoding="rgb8", step=3 * W,
                    data=rng.integers(0, 256, 3 * W * H, dtype=np.uint8).tobytes())
        ns = self.header(msg, t_s)
        self.pub(Image, "camera/image_raw").publish(msg)
        return ns

    def audio(self, t0: float, t1: float, step: float = 0.1) -> None:
        from audio_common_msgs.msg import AudioDataStamped

        t = t0
        while t < t1 - 1e-9:
            n = round(step * 16000)
            tone = 0.3 * np.sin(2 * math.pi * 440.0 * (t + np.arange(n) / 16000))
            msg = AudioDataStamped()
            self.header(msg, t)
            msg.audio.data = (tone * 32767).astype("<i2").tobytes()
            self.pub(AudioDataStamped, "audio").publish(msg)
            t += step
            time.sleep(0.002)

    def frame(self, t_s: float) -> int:
        stamp = self.image(t_s)
        self.wait(f"outputs of {t_s} s", lambda: all(
            stamp in self.out[k] for k in ("objects", "markers", "masks")))
        return stamp


def plane(value, dtype, holes: float, seed: int) -> np.ndarray:
    depth = np.full((H, W), value, dtype)
    depth[np.random.default_rng(seed).random((H, W)) < holes] = \
        np.nan if dtype == np.float32 else 0
    return depth


def scenario(d: Driver) -> None:
    from audio_common_msgs.msg import AudioDataStamped, AudioInfo

    info = d.pub(AudioInfo, "audio_info")
    for cls, topic in ((AudioDataStamped, "audio"), (Image, "camera/image_raw"),
                       (Image, "camera/depth/image_raw"), (CameraInfo, "camera/camera_info")):
        d.pub(cls, topic)
    d.wait("avs_node's subscriptions", lambda: all(
        p.get_subscription_count() > 0 for p in d.pubs.values()), 90.0)
    info.publish(AudioInfo(channels=1, sample_rate=16000, sample_format="S16LE",
                           bitrate=256000, coding_format="wave"))
    d.audio(0.0, 3.3)                  # (the node keeps 5 s: all of it)
    frames = {}

    def frame(name: str, t: float, depth=None, shift: float = 0.0, **info_kw) -> None:
        d.camera_info(t, **info_kw)
        if depth is not None:
            d.depth(t + shift, *depth)
        time.sleep(0.05)         # camera_info and depth before the image, as drivers do
        frames[name] = d.frame(t)

    frame("mm", 1.5, (plane(2500, np.uint16, 0.1, 1),))
    frame("metres", 1.7, (plane(1.75, np.float32, 0.1, 2),))
    frame("small", 1.9, (plane(2500, np.uint16, 0.0, 3)[:24, :32],))
    frame("rgb8", 2.1, (np.zeros((H, W * 3), np.uint8), "rgb8"))
    frame("zeros", 2.3, (np.zeros((H, W), np.uint16),))
    frame("late", 2.5, (plane(2500, np.uint16, 0.0, 4),), shift=0.5)
    frame("vga", 2.7, (plane(2500, np.uint16, 0.0, 5),), width=640, height=480)
    frame("nofocal", 2.9, (plane(2500, np.uint16, 0.0, 6),),
          k=[0.0, 0.0, 31.0, 0.0, 0.0, 24.5, 0.0, 0.0, 1.0])
    frame("recovered", 3.1, (plane(2000, np.uint16, 0.0, 7),))
    d.out["frames"] = frames
    seen = len(d.out["diagnostics"])
    d.wait("diagnostics with the bad input counted", lambda: len(d.out["diagnostics"]) > seen
           and int(d.out["diagnostics"][-1].get("bad_camera_info", 0)) >= 2)
    d.out["final_diagnostics"] = d.out["diagnostics"][-1]


def main(argv: list[str]) -> int:
    rclpy.init()
    driver = Driver(argv[0])
    code = 0
    try:
        scenario(driver)
    except TimeoutError as exc:
        print(str(exc), file=sys.stderr)
        code = 3
    finally:
        out = driver.out
        for kind in ("objects", "markers", "targets", "masks"):
            out[kind] = {str(k): v for k, v in out[kind].items()}
        out["K"], out["D"] = K, D
        print(json.dumps(out), flush=True)
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
