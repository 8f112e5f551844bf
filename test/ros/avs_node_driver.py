"""Test-side rclpy process that drives a running avs_node and reports what it published.

    python avs_node_driver.py SCENARIO NAMESPACE

SCENARIO is ``stream`` (ros-drivers audio: every image encoding, then bad input),
``formats`` (ros-drivers audio: the image encodings and audio sample formats real drivers
publish, mp3 as audio_capture sends it, and an AudioInfo that must survive reconfigure) or
``lifecycle`` (mgonzs13 audio in every PortAudio format; configure/activate/deactivate
through the lifecycle services and a rejected parameter). NAMESPACE is the node's namespace; its inputs are
``NAMESPACE/camera/image_raw``, ``NAMESPACE/camera/image_raw/compressed``,
``NAMESPACE/audio``, ``NAMESPACE/audio_info``. Prints one JSON object (the observations) on
its last line; exits 0 when the scenario ran to the end, 3 when a wait timed out (the
observations so far are printed anyway).
"""
from __future__ import annotations

import json
import math
import sys
import time

import cv2
import numpy as np
import rclpy
from avs_ros.msg import SoundingObjectArray
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import MarkerArray

NS = 1_000_000_000
QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


class Timeout(Exception):
    """A wait ran out; the message says for what."""


class Driver:
    def __init__(self, namespace: str) -> None:
        self.ns = namespace
        self.node = rclpy.create_node("avs_test_driver")
        self.node_path = f"{namespace}/avs_node"
        self.out: dict = {"masks": {}, "objects": {}, "markers": {}, "overlays": {},
                          "diagnostics": []}
        sub = self.node.create_subscription
        sub(Image, f"{self.node_path}/mask", lambda m: self._keep("masks", m), QOS)
        sub(Image, f"{self.node_path}/overlay", lambda m: self._keep("overlays", m), QOS)
        sub(SoundingObjectArray, f"{self.node_path}/objects",
            lambda m: self._keep("objects", m), QOS)
        sub(MarkerArray, f"{self.node_path}/markers", lambda m: self._keep_markers(m), QOS)
        sub(DiagnosticArray, "/diagnostics", self._keep_diagnostics, QOS)
        self.pubs: dict = {}
        self.t0 = time.time_ns() - 30 * NS   # stamps: the stream "started" 30 s ago

    # ---- receiving ------------------------------------------------------------------
    def _keep(self, kind: str, msg) -> None:
        stamp = msg.header.stamp.sec * NS + msg.header.stamp.nanosec
        if kind in ("masks", "overlays"):
            data = np.frombuffer(bytes(msg.data), np.uint8)
            self.out[kind][stamp] = {"width": msg.width, "height": msg.height,
                                     "encoding": msg.encoding, "step": msg.step,
                                     "frame_id": msg.header.frame_id, "len": data.size,
                                     "nonzero": int(np.count_nonzero(data)),
                                     "max": int(data.max(initial=0))}
        else:
            self.out[kind][stamp] = {
                "frame_id": msg.header.frame_id,
                "window": [msg.audio_window_start.sec * NS + msg.audio_window_start.nanosec,
                           msg.audio_window_end.sec * NS + msg.audio_window_end.nanosec],
                "latency_ms": msg.inference_latency_ms,
                "objects": [{"class_id": o.class_id, "area_px": o.area_px, "score": o.score,
                             "box": [o.bbox_center_x, o.bbox_center_y, o.bbox_size_x,
                                     o.bbox_size_y]} for o in msg.objects]}

    def _keep_markers(self, msg) -> None:
        stamp = msg.markers[0].header.stamp
        self.out["markers"][stamp.sec * NS + stamp.nanosec] = [
            {"action": m.action, "type": m.type, "ns": m.ns, "id": m.id, "text": m.text,
             "frame_id": m.header.frame_id, "points": len(m.points),
             "rgba": [m.color.r, m.color.g, m.color.b, m.color.a]} for m in msg.markers]

    def _keep_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.hardware_id == self.node_path:
                self.out["diagnostics"].append(
                    {"level": status.level[0] if isinstance(status.level, bytes)
                     else int(status.level), "message": status.message,
                     "values": {kv.key: kv.value for kv in status.values}})

    def wait(self, what: str, done, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise Timeout(f"timed out after {timeout} s waiting for {what}")
            rclpy.spin_once(self.node, timeout_sec=0.05)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.02)

    # ---- publishing -----------------------------------------------------------------
    def publisher(self, cls, topic: str):
        if topic not in self.pubs:
            self.pubs[topic] = self.node.create_publisher(cls, f"{self.ns}/{topic}", QOS)
        return self.pubs[topic]

    def wait_matched(self, timeout: float = 90.0) -> None:
        self.wait("avs_node's subscriptions",
                  lambda: all(p.get_subscription_count() > 0 for p in self.pubs.values()),
                  timeout)

    def stamp(self, t_s: float):
        ns = self.t0 + round(t_s * NS)
        return ns, {"sec": ns // NS, "nanosec": ns % NS}

    def header(self, t_s: float, msg) -> int:
        ns, st = self.stamp(t_s)
        msg.header.stamp.sec, msg.header.stamp.nanosec = st["sec"], st["nanosec"]
        msg.header.frame_id = "camera_optical"
        return ns

    def image(self, t_s: float, encoding: str = "rgb8", width: int = 64, height: int = 48,
              pad: int = 0, data: bytes | None = None, step: int | None = None) -> int:
        channels = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4}.get(encoding, 2)
        row = width * channels + pad
        msg = Image(height=height, width=width, encoding=encoding,
                    step=row if step is None else step)
        if data is None:
            rng = np.random.default_rng(round(t_s * 1000))
            data = rng.integers(0, 256, row * height, dtype=np.uint8).tobytes()
        msg.data = data
        stamp = self.header(t_s, msg)
        self.publisher(Image, "camera/image_raw").publish(msg)
        return stamp

    def compressed(self, t_s: float, claim: tuple[int, int] | None = None) -> int:
        """A 56x40 JPEG; ``claim`` (width, height) rewrites the size its header announces."""
        rgb = np.random.default_rng(7).integers(0, 256, (40, 56, 3), dtype=np.uint8)
        data = bytearray(cv2.imencode(".jpg", rgb)[1].tobytes())
        if claim is not None:
            sof = data.find(b"\xff\xc0")
            data[sof + 5:sof + 9] = claim[1].to_bytes(2, "big") + claim[0].to_bytes(2, "big")
        msg = CompressedImage(format="jpeg", data=bytes(data))
        stamp = self.header(t_s, msg)
        self.publisher(CompressedImage, "camera/image_raw/compressed").publish(msg)
        return stamp

    def tone(self, t_start: float, t_end: float, rate: int, channels: int = 1) -> np.ndarray:
        n = round((t_end - t_start) * rate)
        t = t_start + np.arange(n) / rate
        mono = 0.3 * np.sin(2 * math.pi * 440.0 * t)
        return np.repeat(mono[:, None], channels, axis=1).reshape(-1)

    def wait_mask(self, stamp: int, timeout: float = 20.0) -> None:
        self.wait(f"the outputs of stamp {stamp}", lambda: all(
            stamp in self.out[k] for k in ("masks", "objects", "markers", "overlays")), timeout)

    def wait_diagnostics(self, done, timeout: float = 20.0) -> dict:
        """The first diagnostics status received from now on for which ``done(values)``."""
        seen = len(self.out["diagnostics"])

        def ok():
            return len(self.out["diagnostics"]) > seen and done(
                self.out["diagnostics"][-1]["values"])
        self.wait("diagnostics", ok, timeout)
        return self.out["diagnostics"][-1]

    def settle(self) -> None:
        """Wait two diagnostics periods, so that the node's executor has taken what was sent
        before (audio and AudioInfo come on two subscriptions, served in no fixed order)."""
        for _ in range(2):
            self.wait_diagnostics(lambda v: True)


# ---- ros-drivers flavour: AudioDataStamped + AudioInfo ----------------------------------
def stream(d: Driver) -> None:
    from audio_common_msgs.msg import AudioDataStamped, AudioInfo

    audio = d.publisher(AudioDataStamped, "audio")
    info = d.publisher(AudioInfo, "audio_info")
    d.publisher(Image, "camera/image_raw")
    d.publisher(CompressedImage, "camera/image_raw/compressed")
    d.wait_matched()
    info.publish(AudioInfo(channels=1, sample_rate=16000, sample_format="S16LE",
                           bitrate=256000, coding_format="wave"))

    def send(t0: float, t1: float, step: float = 0.1, rate: int = 16000, stamp_step=None):
        t = t0
        while t < t1 - 1e-9:
            samples = d.tone(t, t + step, rate)
            msg = AudioDataStamped()
            d.header(t, msg)
            msg.audio.data = (samples * 32767).astype("<i2").tobytes()
            audio.publish(msg)
            t += stamp_step or step
            time.sleep(0.002)

    send(0.0, 3.0)
    images = {}
    for i, (enc, pad) in enumerate([("rgb8", 0), ("bgr8", 5), ("mono8", 3), ("rgba8", 0),
                                    ("bgra8", 8)]):
        images[enc] = d.image(1.5 + 0.1 * i, enc, pad=pad)
        d.wait_mask(images[enc])
    images["jpeg"] = d.compressed(2.1)
    d.wait_mask(images["jpeg"])
    images["before_audio"] = d.image(0.5)     # its window starts before the first sample
    d.compressed(2.15, claim=(65000, 65000))  # once crashed cv2.imdecode; now skipped
    d.out["images"] = images
    d.out["t0"] = d.t0
    # ---- bad input; the node must go on -------------------------------------------------
    images["backwards"] = d.image(1.0)                 # stamp before the previous image
    d.wait_mask(images["backwards"])
    d.image(2.2, "16UC1")                              # unsupported encoding
    d.spin_for(0.1)                                    # (the node keeps the newest 5 only)
    d.image(2.2, "rgb8", step=10)                      # step shorter than a row
    d.spin_for(0.1)
    d.image(2.2, "rgb8", data=bytes(100))              # truncated data
    bad = AudioDataStamped()
    d.header(3.0, bad)
    bad.audio.data = bytes(3)                          # not a whole S16LE sample
    audio.publish(bad)
    send(3.0, 3.5)
    send(3.8, 4.5)                                     # a 0.3 s gap
    images["future"] = d.image(500.0)                  # its audio never comes
    send(20.0, 23.0, rate=48000)                       # 48 kHz data announced as 16 kHz
    # The node takes audio and AudioInfo from two subscriptions in no fixed order: the chunks
    # must be handled before the next AudioInfo is sent (CI once refused the last ones).
    d.wait_diagnostics(lambda v: int(v["audio_rate_mismatches"]) >= 1)
    # an AudioInfo whose rate once cost a 149 GiB allocation; its data must be refused
    info.publish(AudioInfo(channels=1, sample_rate=1000000007, sample_format="S16LE",
                           bitrate=256000, coding_format="wave"))
    d.wait_diagnostics(lambda v: int(v["bad_audio_info"]) >= 1)
    send(30.0, 30.3)                                   # 3 chunks, refused (+ the 3-byte one)
    d.wait_diagnostics(lambda v: int(v["bad_audio"]) >= 4)
    info.publish(AudioInfo(channels=1, sample_rate=16000, sample_format="S16LE",
                           bitrate=256000, coding_format="wave"))
    d.settle()
    send(40.0, 42.0)
    images["after"] = d.image(41.5)
    d.wait_mask(images["after"])
    d.out["final_diagnostics"] = d.wait_diagnostics(
        lambda v: int(v["dropped_no_audio"]) >= 1 and int(v["audio_rate_mismatches"]) >= 1)


# ---- what real drivers publish (ros-drivers flavour) -------------------------------------
def _driver_image(encoding: str, rgb: np.ndarray) -> tuple[bytes, int]:
    """``rgb`` uint8 [H, W, 3] as a driver lays it out in ``encoding`` -> (data, step)."""
    h, w = rgb.shape[:2]
    if encoding in ("yuv422", "uyvy"):
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_UYVY).tobytes(), 2 * w
    if encoding in ("yuv422_yuy2", "yuyv"):
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_YUY2).tobytes(), 2 * w
    if encoding in ("nv12", "nv21"):
        i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
        u, v = i420[h:h + h // 4].reshape(-1), i420[h + h // 4:].reshape(-1)
        uv = np.stack([u, v] if encoding == "nv12" else [v, u], 1).reshape(h // 2, w)
        return np.concatenate([i420[:h], uv]).tobytes(), w
    if encoding.startswith("bayer_"):
        mosaic = np.empty((h, w), np.uint8)
        for k, letter in enumerate(encoding[6:10]):
            dy, dx = divmod(k, 2)
            mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, "rgb".index(letter)]
        return mosaic.tobytes(), w
    if encoding == "8UC3":
        return rgb[:, :, ::-1].tobytes(), 3 * w
    if encoding == "mono16":
        return (rgb[:, :, 1].astype("<u2") * 257).tobytes(), 2 * w
    raise ValueError(encoding)


DRIVER_ENCODINGS = ("yuv422_yuy2", "yuyv", "yuv422", "uyvy", "nv12", "nv21", "bayer_rggb8",
                    "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8", "8UC3", "mono16")


def _pcm_bytes(samples: np.ndarray, fmt: str) -> bytes:
    """float samples in [-1, 1] -> raw little-endian ``fmt`` bytes (GStreamer names)."""
    if fmt == "S24LE":
        x = np.round(samples * (2 ** 23 - 1)).astype(np.int64)
        return np.stack([x & 255, (x >> 8) & 255, (x >> 16) & 255], 1).astype(np.uint8).tobytes()
    if fmt == "U8":
        return (np.round(samples * 127) + 128).astype(np.uint8).tobytes()
    dtype, scale = {"S8": ("i1", 127), "S16LE": ("<i2", 32767), "S24_32LE": ("<i4", 2 ** 23 - 1),
                    "S32LE": ("<i4", 2 ** 31 - 1), "F32LE": ("<f4", 1),
                    "F64LE": ("<f8", 1)}[fmt]
    return (np.round(samples * scale) if scale > 1 else samples).astype(dtype).tobytes()


def _lame_frames(d: Driver, t0: float, seconds: float, rate: int = 16000) -> list[bytes]:
    """A tone encoded by LAME (libmp3lame through PyAV) at audio_capture's 192 kbit/s: one
    MPEG frame per packet, as lamemp3enc hands them to audio_capture's appsink."""
    import av

    enc = av.CodecContext.create("libmp3lame", "w")
    enc.sample_rate, enc.layout, enc.format, enc.bit_rate = rate, "mono", "s16p", 192000
    pcm = np.round(d.tone(t0, t0 + seconds, rate) * 32767).astype(np.int16)
    packets = []
    for start in range(0, pcm.size, 1152):
        frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 1152], format="s16p",
                                           layout="mono")
        frame.sample_rate = rate
        packets += [bytes(p) for p in enc.encode(frame)]
    return packets + [bytes(p) for p in enc.encode(None)]


def formats(d: Driver) -> None:
    from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo

    audio = d.publisher(AudioDataStamped, "audio")
    info = d.publisher(AudioInfo, "audio_info")
    d.publisher(Image, "camera/image_raw")
    d.wait_matched()

    def announce(fmt: str, rate: int, channels: int = 1, coding: str = "wave") -> None:
        info.publish(AudioInfo(channels=channels, sample_rate=rate, sample_format=fmt,
                               bitrate=192 if coding == "mp3" else rate * channels * 16,
                               coding_format=coding))
        d.settle()           # the AudioInfo is on its own topic: let it land first

    def send(t0: float, t1: float, fmt: str, rate: int, channels: int = 1, step: float = 0.1):
        t = t0
        while t < t1 - 1e-9:
            msg = AudioDataStamped()
            d.header(t, msg)
            msg.audio.data = _pcm_bytes(d.tone(t, t + step, rate, channels), fmt)
            audio.publish(msg)
            t += step
            time.sleep(0.002)

    def mismatches() -> int:
        return int(d.wait_diagnostics(lambda v: True)["values"]["audio_rate_mismatches"])

    rgb = np.random.default_rng(11).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    announce("S16LE", 16000)
    send(0.0, 3.0, "S16LE", 16000)
    images = {}
    for i, encoding in enumerate(DRIVER_ENCODINGS):
        data, step = _driver_image(encoding, rgb)
        images[encoding] = d.image(1.5 + 0.1 * i, encoding, data=data, step=step)
        d.wait_mask(images[encoding])
    audio_checks = {}
    # every raw sample format, each 2.6 s (the buffer checks the stamp-measured rate after
    # 2 s: a wrong sample width shows as a rate mismatch), in a segment of its own
    for k, (fmt, rate, channels) in enumerate([
            ("S8", 16000, 1), ("U8", 16000, 1), ("S24LE", 48000, 1), ("S24_32LE", 48000, 2),
            ("S32LE", 44100, 1), ("F32LE", 16000, 2), ("F64LE", 16000, 1)]):
        t0 = 10.0 + 10.0 * k
        announce(fmt, rate, channels)
        before = mismatches()
        send(t0, t0 + 2.6, fmt, rate, channels)
        images[fmt] = d.image(t0 + 2.5)
        d.wait_mask(images[fmt])
        audio_checks[fmt] = mismatches() - before
    # mp3 as audio_capture publishes it by default: one LAME frame per message, stamped with
    # the frame's first sample
    t0 = 100.0
    announce("S16LE", 16000, coding="mp3")
    before = mismatches()
    for k, frame in enumerate(_lame_frames(d, t0, 3.0)):
        msg = AudioDataStamped(audio=AudioData(data=frame))
        d.header(t0 + k * 576 / 16000, msg)          # MPEG-2 layer III: 576 samples a frame
        audio.publish(msg)
        time.sleep(0.002)
    images["mp3"] = d.image(t0 + 2.5)
    d.wait_mask(images["mp3"])
    audio_checks["mp3"] = mismatches() - before
    d.out["mp3_values"] = d.wait_diagnostics(lambda v: True)["values"]
    # the last AudioInfo (48 kHz stereo) survives cleanup -> configure: data that follows
    # reconfigure without a new AudioInfo is read at 48 kHz, not at the 16 kHz default
    announce("S16LE", 48000, 2)
    send(120.0, 121.0, "S16LE", 48000, 2)
    lifecycle_call = _lifecycle_client(d)
    d.out["reconfigured"] = [lifecycle_call(t) for t in (
        Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP,
        Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE)]
    d.wait_matched()
    d.spin_for(1.0)          # let discovery settle on the new subscriptions
    send(130.0, 132.6, "S16LE", 48000, 2)
    images["reconfigured"] = d.image(132.5)
    d.wait_mask(images["reconfigured"])
    d.out["after_reconfigure"] = d.wait_diagnostics(lambda v: True)["values"]
    d.out["images"] = images
    d.out["audio_rate_mismatches"] = audio_checks


def _lifecycle_client(d: Driver):
    """A function that triggers a lifecycle transition of the node (id) and returns success."""
    change = d.node.create_client(ChangeState, f"{d.node_path}/change_state")

    def transition(tid: int) -> bool:
        d.wait(f"service {change.srv_name}", change.service_is_ready, 90.0)
        future = change.call_async(ChangeState.Request(transition=Transition(id=tid)))
        d.wait(f"reply of {change.srv_name}", future.done, 120.0)
        return future.result().success
    return transition


# ---- mgonzs13 flavour through the lifecycle services ------------------------------------
def lifecycle(d: Driver) -> None:
    from audio_common_msgs.msg import AudioStamped

    change = d.node.create_client(ChangeState, f"{d.node_path}/change_state")
    get = d.node.create_client(GetState, f"{d.node_path}/get_state")
    set_params = d.node.create_client(SetParameters, f"{d.node_path}/set_parameters")

    def call(client, request):
        d.wait(f"service {client.srv_name}", client.service_is_ready, 90.0)
        future = client.call_async(request)
        d.wait(f"reply of {client.srv_name}", future.done, 120.0)
        return future.result()

    def transition(tid: int) -> bool:
        return call(change, ChangeState.Request(transition=Transition(id=tid))).success

    states = [call(get, GetState.Request()).current_state.label]
    value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=-1.0)
    rejected = call(set_params, SetParameters.Request(
        parameters=[Parameter(name="max_skew_s", value=value)])).results[0]
    d.out["rejected"] = {"successful": rejected.successful, "reason": rejected.reason}
    d.out["configure"] = transition(Transition.TRANSITION_CONFIGURE)
    d.out["activate"] = transition(Transition.TRANSITION_ACTIVATE)
    states.append(call(get, GetState.Request()).current_state.label)
    audio = d.publisher(AudioStamped, "audio")
    d.publisher(Image, "camera/image_raw")
    d.wait_matched()

    def send(t0: float, t1: float, rate: int, channels: int, fmt: int, step: float = 0.05):
        t = t0
        while t < t1 - 1e-9:
            samples = d.tone(t, t + step, rate, channels)
            msg = AudioStamped()
            d.header(t, msg)
            msg.audio.info.format, msg.audio.info.channels = fmt, channels
            msg.audio.info.rate, msg.audio.info.chunk = rate, round(step * rate)
            data = msg.audio.audio_data
            if fmt == 8:            # paInt16
                data.int16_data = (samples * 32767).astype(np.int16).tolist()
            elif fmt == 2:          # paInt32
                data.int32_data = (samples * (2 ** 31 - 1)).astype(np.int32).tolist()
            elif fmt == 4:          # paInt24: 24-bit values in int32_data
                data.int32_data = (samples * (2 ** 23 - 1)).astype(np.int32).tolist()
            elif fmt == 16:         # paInt8
                data.int8_data = (samples * 127).astype(np.int8).tolist()
            elif fmt == 32:         # paUInt8: offset binary
                data.uint8_data = (samples * 127 + 128).astype(np.uint8).tolist()
            else:                   # paFloat32
                data.float32_data = samples.astype(np.float32).tolist()
            audio.publish(msg)
            t += step
            time.sleep(0.002)

    send(0.0, 2.0, 48000, 2, 8)                       # int16, 48 kHz stereo
    first = d.image(1.5)
    d.wait_mask(first)
    send(10.0, 12.0, 44100, 1, 1)                     # float32, 44.1 kHz mono (new segment)
    second = d.image(11.5, "bgr8")
    d.wait_mask(second)
    d.out["deactivate"] = transition(Transition.TRANSITION_DEACTIVATE)
    states.append(call(get, GetState.Request()).current_state.label)
    send(20.0, 22.0, 16000, 1, 8)
    ignored = d.image(21.5)
    d.spin_for(1.5)                                   # inactive: nothing may come back
    d.out["activate_again"] = transition(Transition.TRANSITION_ACTIVATE)
    d.wait_matched()
    send(30.0, 32.0, 16000, 1, 8)
    third = d.image(31.5)
    d.wait_mask(third)
    images = {"first": first, "second": second, "ignored": ignored, "third": third}
    for k, (name, fmt) in enumerate([("paInt32", 2), ("paInt24", 4), ("paInt8", 16),
                                     ("paUInt8", 32)]):
        t0 = 40.0 + 10.0 * k
        send(t0, t0 + 2.0, 48000, 2, fmt)
        images[name] = d.image(t0 + 1.5)
        d.wait_mask(images[name])
    d.out["images"] = images
    d.out["states"] = states


def main(argv: list[str]) -> int:
    scenario, namespace = argv
    rclpy.init()
    driver = Driver(namespace)
    code = 0
    try:
        {"stream": stream, "formats": formats, "lifecycle": lifecycle}[scenario](driver)
    except Timeout as exc:
        print(str(exc), file=sys.stderr)
        code = 3
    finally:
        out = driver.out
        for kind in ("masks", "objects", "markers", "overlays"):
            out[kind] = {str(k): v for k, v in out[kind].items()}
        print(json.dumps(out), flush=True)
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
