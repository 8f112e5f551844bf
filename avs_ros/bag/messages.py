"""Message builders for rosbags (numpy in, typestore message objects out).

Images follow :mod:`avs_ros.core.image_codec` (the node's encoder), so a bag written here
carries byte for byte what the node publishes: masks as ``mono8`` class ids, overlays as
``bgr8``. Audio is 16-bit PCM: float samples in [-1, 1] are scaled by 32768, rounded and
clipped (the exact inverse of the buffer's division by 32768).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

from avs_ros.core.geometry import ObjectGeometry, message_fields
from avs_ros.core.image_codec import ImageFields, mask_to_mono8, rgb_to_bgr8
from avs_ros.core.markers import MarkerSpec
from avs_ros.core.postprocess import SoundingObject

from .types import AUDIO_INFO, COMPRESSED_IMAGE, IMAGE, MARKER_ARRAY, OBJECTS

NS_PER_S = 1_000_000_000
#: PortAudio's paInt16 constant (mgonzs13 AudioInfo.format)
PA_INT16 = 8
#: visualization_msgs/Marker constants
LINE_STRIP, TEXT_VIEW_FACING, ADD, DELETEALL = 4, 9, 0, 3
MARKER_TYPES = {"box": LINE_STRIP, "label": TEXT_VIEW_FACING, "arrow": 0, "cube": 1,
                "sphere": 2}
_BASE_DEFAULTS = {"string": "", "bool": False, "float32": 0.0, "float64": 0.0}
_NUMPY = {"bool": np.bool_, "byte": np.uint8, "char": np.uint8, "float32": np.float32,
          "float64": np.float64, "int8": np.int8, "int16": np.int16, "int32": np.int32,
          "int64": np.int64, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
          "uint64": np.uint64}


def default(store: Typestore, msgtype: str, **fields):
    """A ``msgtype`` message with every field at its ROS default (0, "", empty sequences,
    nested defaults), then ``fields`` set (rosbags message classes take no defaults)."""
    values = {}
    for name, (kind, spec) in store.fielddefs[msgtype][1]:
        if name in fields:
            continue
        if kind == Nodetype.BASE:
            values[name] = _BASE_DEFAULTS.get(spec[0], 0)
        elif kind == Nodetype.NAME:
            values[name] = default(store, spec)
        else:
            (sub_kind, sub), size = spec
            if sub_kind == Nodetype.BASE and sub[0] in _NUMPY:
                values[name] = np.zeros(size if kind == Nodetype.ARRAY else 0, _NUMPY[sub[0]])
            elif kind == Nodetype.ARRAY:
                values[name] = [default(store, sub) if sub_kind == Nodetype.NAME
                                else _BASE_DEFAULTS.get(sub[0], 0) for _ in range(size)]
            else:
                values[name] = []
    return store.types[msgtype](**values, **fields)


def time_msg(store: Typestore, stamp_ns: int):
    """builtin_interfaces/Time of an integer ns stamp (>= 0)."""
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return store.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)


def header(store: Typestore, stamp_ns: int, frame_id: str):
    """std_msgs/Header."""
    return store.types["std_msgs/msg/Header"](stamp=time_msg(store, stamp_ns), frame_id=frame_id)


def image_from_fields(store: Typestore, stamp_ns: int, frame_id: str, fields: ImageFields):
    """sensor_msgs/Image from :class:`~avs_ros.core.image_codec.ImageFields`."""
    return store.types[IMAGE](
        header=header(store, stamp_ns, frame_id), height=fields.height, width=fields.width,
        encoding=fields.encoding, is_bigendian=fields.is_bigendian, step=fields.step,
        data=np.frombuffer(fields.data, np.uint8))


def rgb_image(store: Typestore, stamp_ns: int, frame_id: str, rgb: np.ndarray):
    """``rgb8`` sensor_msgs/Image of a uint8 [H, W, 3] RGB frame."""
    h, w = rgb.shape[:2]
    return image_from_fields(store, stamp_ns, frame_id, ImageFields(
        h, w, "rgb8", 0, 3 * w, np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()))


def bgr8_image(store: Typestore, stamp_ns: int, frame_id: str, rgb: np.ndarray):
    """``bgr8`` sensor_msgs/Image of an RGB uint8 [H, W, 3] array (the node's overlay)."""
    return image_from_fields(store, stamp_ns, frame_id, rgb_to_bgr8(rgb))


def mono8_image(store: Typestore, stamp_ns: int, frame_id: str, mask: np.ndarray):
    """``mono8`` sensor_msgs/Image of a uint8 [H, W] class-id mask."""
    return image_from_fields(store, stamp_ns, frame_id, mask_to_mono8(mask))


def depth_image(store: Typestore, stamp_ns: int, frame_id: str, depth: np.ndarray):
    """Depth sensor_msgs/Image: uint16 [H, W] -> ``16UC1`` (mm), float32 [H, W] -> ``32FC1``
    (m), little-endian (REP 118)."""
    encoding = {np.dtype(np.uint16): "16UC1", np.dtype(np.float32): "32FC1"}[depth.dtype]
    h, w = depth.shape
    data = np.ascontiguousarray(depth, depth.dtype.newbyteorder("<")).tobytes()
    return image_from_fields(store, stamp_ns, frame_id, ImageFields(
        h, w, encoding, 0, w * depth.dtype.itemsize, data))


def camera_info(store: Typestore, stamp_ns: int, frame_id: str, camera):
    """sensor_msgs/CameraInfo of a distortion-free camera (``plumb_bob``, D = 0; K, P from a
    :class:`~avs_models.data.synth.depth.PinholeCamera`; R identity)."""
    return default(store, "sensor_msgs/msg/CameraInfo", header=header(store, stamp_ns, frame_id),
                   height=camera.height, width=camera.width, distortion_model="plumb_bob",
                   d=np.zeros(5), k=np.asarray(camera.k, np.float64),
                   r=np.eye(3).reshape(-1), p=np.asarray(camera.p, np.float64))


def compressed_image(store: Typestore, stamp_ns: int, frame_id: str, rgb: np.ndarray,
                     quality: int = 90):
    """sensor_msgs/CompressedImage (JPEG at ``quality``) of an RGB uint8 [H, W, 3] frame."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed for a frame of shape {rgb.shape}")
    return store.types[COMPRESSED_IMAGE](header=header(store, stamp_ns, frame_id),
                                         format="rgb8; jpeg compressed bgr8",
                                         data=buf.reshape(-1))


def pcm16(samples: np.ndarray) -> np.ndarray:
    """float samples [n] in [-1, 1] -> int16 [n] (x 32768, rounded, clipped; SynthAVS's
    :func:`~avs_models.data.synth.writers.to_pcm16`): the exact inverse of the buffer's
    division by 32768, so 16-bit audio (AVSBench's WAVs) reaches the node unchanged."""
    from avs_models.data.synth.writers import to_pcm16

    return to_pcm16(np.asarray(samples, np.float64))


def audio_stamped(store: Typestore, audio_type: str, stamp_ns: int, frame_id: str,
                  samples: np.ndarray, sample_rate: int = 16000):
    """One mono audio chunk as the flavour's stamped message; ``stamp_ns`` is the stamp of
    its first sample.

    ``audio_data_stamped``: AudioDataStamped with S16LE bytes (format in AudioInfo, see
    :func:`audio_info`); ``audio_stamped``: AudioStamped with ``int16_data`` and info
    (paInt16, 1 channel, ``sample_rate``, chunk = samples in the message).
    """
    pcm = pcm16(samples)
    types = store.types
    if audio_type == "audio_data_stamped":
        data = types["audio_common_msgs/msg/AudioData"](
            data=np.frombuffer(pcm.astype("<i2").tobytes(), np.uint8))
        return types["audio_common_msgs/msg/AudioDataStamped"](
            header=header(store, stamp_ns, frame_id), audio=data)
    empty = {k: np.zeros(0, d) for k, d in (("float32_data", np.float32), ("int32_data", np.int32),
                                             ("int8_data", np.int8), ("uint8_data", np.uint8))}
    data = types["audio_common_msgs/msg/AudioData"](int16_data=pcm, **empty)
    info = types[AUDIO_INFO](format=PA_INT16, channels=1, rate=int(sample_rate), chunk=pcm.size)
    return types["audio_common_msgs/msg/AudioStamped"](
        header=header(store, stamp_ns, frame_id),
        audio=types["audio_common_msgs/msg/Audio"](audio_data=data, info=info))


def audio_info(store: Typestore, sample_rate: int = 16000, channels: int = 1):
    """ros-drivers AudioInfo of raw S16LE PCM (``coding_format`` "wave", as audio_capture
    announces it with ``format:=wave``)."""
    return store.types[AUDIO_INFO](channels=channels, sample_rate=int(sample_rate),
                                   sample_format="S16LE", bitrate=int(sample_rate) * 16 * channels,
                                   coding_format="wave")


def string(store: Typestore, text: str):
    """std_msgs/String."""
    return store.types["std_msgs/msg/String"](data=text)


def _xyz(store: Typestore, msgtype: str, values):
    return store.types[msgtype](*(float(v) for v in values))


def sounding_objects(store: Typestore, stamp_ns: int, frame_id: str,
                     objects: Sequence[SoundingObject], window_start_ns: int,
                     window_end_ns: int, latency_ms: float,
                     geometry: Sequence[ObjectGeometry] | None = None):
    """avs_ros/SoundingObjectArray (field semantics in msg/SoundingObject.msg): class id as a
    decimal string, box centre of columns x .. x + w - 1 at x + (w - 1) / 2, size w, h; 3-D
    fields from ``geometry`` (per object) in ``frame_id``."""
    obj_type = store.types["avs_ros/msg/SoundingObject"]
    items = []
    for i, o in enumerate(objects):
        f = message_fields(geometry[i] if geometry else None)
        items.append(obj_type(
            class_id=str(o.class_id), class_name=o.class_name, score=float(o.score),
            bbox_center_x=o.x + (o.width - 1) / 2.0, bbox_center_y=o.y + (o.height - 1) / 2.0,
            bbox_size_x=float(o.width), bbox_size_y=float(o.height),
            centroid_x=float(o.centroid_x), centroid_y=float(o.centroid_y), area_px=int(o.area),
            frame_id=frame_id, has_bearing=f["has_bearing"],
            bearing=_xyz(store, "geometry_msgs/msg/Vector3", f["bearing"]),
            azimuth_deg=float(f["azimuth_deg"]), elevation_deg=float(f["elevation_deg"]),
            has_position=f["has_position"],
            position=_xyz(store, "geometry_msgs/msg/Point", f["position"]),
            extent=_xyz(store, "geometry_msgs/msg/Vector3", f["extent"]),
            valid_depth_fraction=float(f["valid_depth_fraction"])))
    return store.types[OBJECTS](header=header(store, stamp_ns, frame_id), objects=items,
                                audio_window_start=time_msg(store, window_start_ns),
                                audio_window_end=time_msg(store, window_end_ns),
                                inference_latency_ms=float(latency_ms))


def marker_array(store: Typestore, stamp_ns: int, frame_id: str, specs: Sequence[MarkerSpec]):
    """visualization_msgs/MarkerArray as the node publishes it: a DELETEALL marker (clears
    the previous frame's), then per :class:`~avs_ros.core.markers.MarkerSpec` a LINE_STRIP
    box, TEXT_VIEW_FACING label, ARROW, SPHERE or CUBE in the image's frame (identity
    orientation)."""
    head = header(store, stamp_ns, frame_id)
    quat = default(store, "geometry_msgs/msg/Quaternion", w=1.0)

    def point(p):
        return _xyz(store, "geometry_msgs/msg/Point", (*p, 0.0)[:3])

    markers = [default(store, "visualization_msgs/msg/Marker", header=head, id=0,
                       action=DELETEALL)]
    for spec in specs:
        colour = store.types["std_msgs/msg/ColorRGBA"](*(float(c) for c in spec.rgba))
        fields = dict(header=head, ns=spec.ns, id=spec.id, action=ADD, color=colour,
                      type=MARKER_TYPES[spec.kind])
        if spec.kind in ("box", "arrow"):
            fields["points"] = [point(p) for p in spec.points]
            pose = default(store, "geometry_msgs/msg/Pose", orientation=quat)
        else:
            pose = default(store, "geometry_msgs/msg/Pose", orientation=quat,
                           position=point(spec.position))
        if spec.kind == "box":
            scale = default(store, "geometry_msgs/msg/Vector3", x=spec.line_width_m)
        elif spec.kind == "label":
            scale = default(store, "geometry_msgs/msg/Vector3", z=spec.height_m)
            fields["text"] = spec.text
        else:
            scale = _xyz(store, "geometry_msgs/msg/Vector3", spec.scale)
        markers.append(default(store, "visualization_msgs/msg/Marker", pose=pose, scale=scale,
                               **fields))
    return store.types[MARKER_ARRAY](markers=markers)
