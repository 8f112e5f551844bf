"""ROS messages <-> the runtime core's arrays and records (imports message types, not rclpy).

Field-by-field copies only; the logic they feed lives in :mod:`avs_ros.core`.
"""
from __future__ import annotations

import array
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, PointStamped, Vector3
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import Marker, MarkerArray

from avs_ros.msg import SoundingObject as SoundingObjectMsg
from avs_ros.msg import SoundingObjectArray

from .core.geometry import ObjectGeometry, message_fields
from .core.health import DiagnosticReport
from .core.image_codec import MAX_SIZE, ImageFields, compressed_to_rgb, raw_to_rgb
from .core.markers import MarkerSpec
from .core.postprocess import SoundingObject


def ns_to_time(ns: int) -> Time:
    """Integer ns -> ``builtin_interfaces/Time``."""
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def image_to_rgb(msg: Image | CompressedImage,
                 max_size: tuple[int, int] = MAX_SIZE) -> np.ndarray:
    """``sensor_msgs/Image`` or ``CompressedImage`` -> uint8 [H, W, 3] RGB; images larger
    than ``max_size`` (height, width) px are refused before decoding.

    Raises:
        ImageFormatError: see :func:`~avs_ros.core.image_codec.raw_to_rgb` and
            :func:`~avs_ros.core.image_codec.compressed_to_rgb`.
    """
    if isinstance(msg, CompressedImage):
        return compressed_to_rgb(msg.format, msg.data, max_size)
    return raw_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data, msg.is_bigendian,
                      max_size)


def fields_to_image(fields: ImageFields, header) -> Image:
    """:class:`ImageFields` + header -> ``sensor_msgs/Image`` (data copied once)."""
    return Image(header=header, height=fields.height, width=fields.width,
                 encoding=fields.encoding, is_bigendian=fields.is_bigendian, step=fields.step,
                 data=array.array("B", fields.data))


def _geometry_fields(geo: ObjectGeometry | None, frame_id: str) -> dict:
    f = message_fields(geo)
    return dict(frame_id=frame_id, has_bearing=f["has_bearing"],
                bearing=Vector3(**dict(zip("xyz", map(float, f["bearing"])))),
                azimuth_deg=float(f["azimuth_deg"]), elevation_deg=float(f["elevation_deg"]),
                has_position=f["has_position"],
                position=Point(**dict(zip("xyz", map(float, f["position"])))),
                extent=Vector3(**dict(zip("xyz", map(float, f["extent"])))),
                valid_depth_fraction=float(f["valid_depth_fraction"]))


def objects_to_msg(header, objects: Sequence[SoundingObject], window_start_ns: int,
                   window_end_ns: int, latency_ms: float,
                   geometry: Sequence[ObjectGeometry] | None = None) -> SoundingObjectArray:
    """Sounding objects -> ``avs_ros/SoundingObjectArray`` (box as centre and size in px,
    3-D fields from ``geometry`` in ``header.frame_id``; see msg/SoundingObject.msg)."""
    items = [SoundingObjectMsg(
        class_id=str(o.class_id), class_name=o.class_name, score=float(o.score),
        bbox_center_x=o.x + (o.width - 1) / 2.0, bbox_center_y=o.y + (o.height - 1) / 2.0,
        bbox_size_x=float(o.width), bbox_size_y=float(o.height),
        centroid_x=float(o.centroid_x), centroid_y=float(o.centroid_y), area_px=int(o.area),
        **_geometry_fields(geometry[i] if geometry else None, header.frame_id))
        for i, o in enumerate(objects)]
    return SoundingObjectArray(header=header, objects=items,
                               audio_window_start=ns_to_time(window_start_ns),
                               audio_window_end=ns_to_time(window_end_ns),
                               inference_latency_ms=float(latency_ms))


def target_to_msg(header, geometry: ObjectGeometry) -> PointStamped:
    """The position of the strongest sounding object as ``geometry_msgs/PointStamped``."""
    x, y, z = (float(v) for v in geometry.position)
    return PointStamped(header=header, point=Point(x=x, y=y, z=z))


def _point(p) -> Point:
    return Point(x=float(p[0]), y=float(p[1]), z=float(p[2]) if len(p) > 2 else 0.0)


_MARKER_TYPES = {"box": Marker.LINE_STRIP, "label": Marker.TEXT_VIEW_FACING,
                 "arrow": Marker.ARROW, "sphere": Marker.SPHERE, "cube": Marker.CUBE}


def markers_to_msg(header, specs: Sequence[MarkerSpec]) -> MarkerArray:
    """A DELETEALL marker (clears the previous frame's) followed by one marker per spec
    (kinds of :class:`~avs_ros.core.markers.MarkerSpec`)."""
    markers = [Marker(header=header, ns="", id=0, action=Marker.DELETEALL)]
    for s in specs:
        m = Marker(header=header, ns=s.ns, id=s.id, action=Marker.ADD, type=_MARKER_TYPES[s.kind])
        m.color.r, m.color.g, m.color.b, m.color.a = s.rgba
        m.pose.orientation.w = 1.0
        if s.kind in ("box", "arrow"):
            m.points = [_point(p) for p in s.points]
        else:
            m.pose.position = _point(s.position)
        if s.kind == "box":
            m.scale.x = s.line_width_m
        elif s.kind == "label":
            m.scale.z = s.height_m
            m.text = s.text
        else:
            m.scale.x, m.scale.y, m.scale.z = (float(v) for v in s.scale)
        markers.append(m)
    return MarkerArray(markers=markers)


def report_to_msg(header, report: DiagnosticReport, name: str,
                  hardware_id: str) -> DiagnosticArray:
    """:class:`DiagnosticReport` -> ``diagnostic_msgs/DiagnosticArray`` with one status."""
    status = DiagnosticStatus(level=bytes([report.level]), name=name, message=report.message,
                              hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=v) for k, v in report.values])
    return DiagnosticArray(header=header, status=[status])
