"""The parameters of ``avs_node`` as data: name, type, default, unit/description and check.

One table drives the node (it declares exactly these, with these descriptions, and rejects a
value whose check fails, with the check's reason), the launch file test (every parameter a
launch or config file sets must be declared here) and the docs. ROS-free, so it is tested
without rclpy.

Types are the ROS parameter types: ``bool``, ``int``, ``float``, ``str``, ``int[]``, ``str[]``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from avs_models.registry import PRESETS

from .audio_buffer import BYTE_FORMATS, MAX_CHANNELS, MAX_RATE_HZ, MIN_RATE_HZ
from .audio_msgs import FLAVOURS
from .model_source import BACKEND_CHOICES


@dataclass(frozen=True)
class Param:
    """One parameter: ``check(value)`` returns None when valid, else the reason."""

    name: str
    type: str
    default: Any
    description: str
    check: Callable[[Any], str | None] = lambda value: None


def _one_of(choices) -> Callable[[Any], str | None]:
    choices = tuple(choices)
    return lambda v: None if v in choices else f"must be one of {list(choices)}, got {v!r}"


def _range(lo: float | None = None, hi: float | None = None, lo_open: bool = False):
    def check(v):
        if lo is not None and (v <= lo if lo_open else v < lo):
            return f"must be {'>' if lo_open else '>='} {lo}, got {v}"
        if hi is not None and v > hi:
            return f"must be <= {hi}, got {v}"
        return None
    return check


def _device(v: str) -> str | None:
    kind, _, index = v.partition(":")
    if kind == "cpu" and not index or kind == "cuda" and (not index or index.isdigit()):
        return None
    return f"must be 'cpu', 'cuda' or 'cuda:N', got {v!r}"


def _image_size(v) -> str | None:
    v = list(v)
    if v == [0, 0]:
        return None
    if len(v) != 2 or any(x <= 0 or x % 32 for x in v):
        return f"must be [0, 0] (the model's own size) or [height, width], positive " \
               f"multiples of 32 px, got {v}"
    return None


def _max_size(v) -> str | None:
    v = list(v)
    if len(v) != 2 or any(not 1 <= x <= 65535 for x in v):
        return f"must be [height, width] in px, each in [1, 65535], got {v}"
    return None


def _topic(optional: bool):
    def check(v: str) -> str | None:
        if not v:
            return None if optional else "must not be empty"
        if any(c.isspace() for c in v) or v.endswith("/") or "//" in v:
            return f"is not a valid topic name: {v!r}"
        return None
    return check


PARAMETERS: tuple[Param, ...] = (
    Param("autostart", "bool", False,
          "configure and activate at start-up (else wait for lifecycle transitions)"),
    Param("preset", "str", "lightavseg_t",
          "model preset (ignored when the checkpoint names its own)", _one_of(PRESETS)),
    Param("checkpoint", "str", "",
          "avs_ros/1 .pt checkpoint or .onnx file; empty: the shipped default model if "
          "installed, else the preset with RANDOM weights (warned)"),
    Param("backend", "str", "auto",
          "'auto' (onnxruntime when installed, a .pt exported to ONNX once and cached; else "
          "torch), 'onnxruntime' (same export) or 'torch'", _one_of(BACKEND_CHOICES)),
    Param("device", "str", "cpu", "'cpu', 'cuda' or 'cuda:N'", _device),
    Param("threads", "int", 0, "intra-op CPU threads; 0 = the library's default",
          _range(0, 256)),
    Param("image_size", "int[]", [0, 0],
          "network input [height, width] in px (multiples of 32); [0, 0] = the model's",
          _image_size),
    Param("score_threshold", "float", 0.5,
          "probability a pixel must exceed to be labelled, in [0, 1)",
          lambda v: None if 0.0 <= v < 1.0 else f"must be in [0, 1), got {v}"),
    Param("min_area_px", "int", 16, "smallest region reported as an object, px",
          _range(1)),
    Param("temporal_smoothing", "float", 0.0,
          "weight of the previous frames in a moving average of the logits, in [0, 1); "
          "0 = off (each frame on its own)",
          lambda v: None if 0.0 <= v < 1.0 else f"must be in [0, 1), got {v}"),
    Param("class_names", "str[]", [""],
          "names by mask id, background first; [''] = the checkpoint's or default names"),
    Param("image_topic", "str", "/camera/image_raw",
          "sensor_msgs/Image input; empty = none", _topic(True)),
    Param("compressed_image_topic", "str", "",
          "sensor_msgs/CompressedImage input (JPEG/PNG); empty = none", _topic(True)),
    Param("audio_topic", "str", "",
          "audio input; empty = the flavour's usual topic (/audio/audio_stamped for "
          "AudioDataStamped, /audio for AudioStamped)", _topic(True)),
    Param("audio_info_topic", "str", "/audio/audio_info",
          "audio_common_msgs/AudioInfo of AudioDataStamped audio", _topic(False)),
    Param("audio_type", "str", "auto",
          "'auto' (whichever audio_common_msgs defines), 'audio_data_stamped' "
          "(ros-drivers) or 'audio_stamped' (mgonzs13)", _one_of(("auto", *FLAVOURS))),
    Param("audio_format", "str", "S16LE",
          "sample format of AudioDataStamped bytes until an AudioInfo arrives ('MP3': an mp3 "
          "stream, audio_capture's default)",
          _one_of((*(k.upper() for k in BYTE_FORMATS), "MP3"))),
    Param("audio_sample_rate", "int", 16000,
          "sample rate of AudioDataStamped audio until an AudioInfo arrives, Hz",
          _range(MIN_RATE_HZ, MAX_RATE_HZ)),
    Param("audio_channels", "int", 1,
          "channels of AudioDataStamped audio until an AudioInfo arrives (averaged)",
          _range(1, MAX_CHANNELS)),
    Param("max_image_size", "int[]", [8192, 8192],
          "largest input image decoded, [height, width] px; larger ones (raw, or JPEG/PNG by "
          "their header) are counted as bad_image and skipped before decoding", _max_size),
    Param("input_reliability", "str", "best_effort",
          "QoS reliability of the inputs: 'best_effort' (sensor data; hears both kinds of "
          "publisher) or 'reliable'", _one_of(("best_effort", "reliable"))),
    Param("max_skew_s", "float", 0.15,
          "longest wait for a frame's audio after the frame arrived, s", _range(0.0, 5.0)),
    Param("audio_buffer_s", "float", 5.0, "audio kept for pairing, s", _range(2.0, 60.0)),
    Param("publish_overlay", "bool", True, "publish ~/overlay (bgr8)"),
    Param("marker_m_per_px", "float", 0.001,
          "marker scale: metres per image pixel in the image's frame (x right, y down)",
          _range(0.0, 1.0, lo_open=True)),
    Param("camera_info_topic", "str", "",
          "sensor_msgs/CameraInfo of the image (K, D; plumb_bob, rational_polynomial or "
          "equidistant): objects get a bearing in the image's optical frame; empty = none",
          _topic(True)),
    Param("depth_topic", "str", "",
          "depth sensor_msgs/Image registered to the image (16UC1 mm or 32FC1 m, same size): "
          "objects get a 3-D position; needs camera_info_topic; empty = none", _topic(True)),
    Param("depth_tolerance_s", "float", 0.02,
          "largest |depth stamp - image stamp| that pairs a depth image with a frame, s",
          _range(0.0, 1.0)),
    Param("min_valid_depth_fraction", "float", 0.25,
          "share of an object's mask pixels that must have valid depth for a position",
          lambda v: None if 0.0 < v <= 1.0 else f"must be in (0, 1], got {v}"),
    Param("depth_min_m", "float", 0.1, "nearest valid depth, m", _range(0.0, 100.0)),
    Param("depth_max_m", "float", 20.0, "farthest valid depth, m",
          _range(0.0, 1000.0, lo_open=True)),
    Param("marker_bearing_length_m", "float", 1.0,
          "arrow length of an object with a bearing but no position, m",
          _range(0.0, 100.0, lo_open=True)),
    Param("diagnostics_period_s", "float", 1.0, "period of /diagnostics, s",
          _range(0.05, 60.0)),
    Param("no_input_warning_s", "float", 5.0,
          "warn when an input has delivered nothing this long after activation, s",
          _range(0.5, 3600.0)),
    Param("log_throttle_s", "float", 5.0,
          "shortest interval between two log lines about the same kind of bad input, s",
          _range(0.0, 3600.0)),
)

BY_NAME = {p.name: p for p in PARAMETERS}

_PY_TYPES = {"bool": (bool,), "int": (int,), "float": (float, int), "str": (str,)}


def check(name: str, value: Any) -> str | None:
    """Reason why ``value`` is not valid for parameter ``name``, or None when it is.

    Checks the type (ints are accepted for floats; bools are not ints) and the parameter's
    own rule. An unknown name is invalid.
    """
    param = BY_NAME.get(name)
    if param is None:
        return f"unknown parameter {name!r}"
    base = param.type.rstrip("[]")
    types = _PY_TYPES[base]
    is_array = param.type.endswith("[]")
    sequence = not isinstance(value, (str, bytes)) and hasattr(value, "__iter__")
    if is_array != sequence:
        return f"{name} must be of type {param.type}, got {value!r}"
    items = list(value) if is_array else [value]   # ROS arrays may come as array.array
    if any(not isinstance(v, types) or (base != "bool" and isinstance(v, bool)) for v in items):
        return f"{name} must be of type {param.type}, got {value!r}"
    reason = param.check(items if is_array else value)
    return f"{name} {reason}" if reason else None
