"""ROS messages <-> the runtime core's arrays and records (imports message types, not rclpy).

Field-by-field copies only; the logic they feed lives in :mod:`avs_ros.core`.
"""
from __future__ import annotations

import array
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import Marker, MarkerArray

from avs_ros.msg import SoundingObject as SoundingObjectMsg
from avs_ros.msg import SoundingObjectArray

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


def objects_to_msg(header, objects: Sequence[SoundingObject], window_start_ns: int,
                   window_end_ns: int, latency_ms: float) -> SoundingObjectArray:
    """Sounding objects -> ``avs_ros/SoundingObjectArray`` (box as centre and size in px,
    see msg/SoundingObject.msg)."""
    items = [SoundingObjectMsg(
        class_id=str(o.class_id), class_name=o.class_name, score=float(o.score),
        bbox_center_x=o.x + (o.width - 1) / 2.0, bbox_center_y=o.y + (o.height - 1) / 2.0,
        bbox_size_x=float(o.width), bbox_size_y=float(o.height),
        centroid_x=float(o.centroid_x), centroid_y=float(o.centroid_y), area_px=int(o.area))
        for o in objects]
    return SoundingObjectArray(header=header, objects=items,
                               audio_window_start=ns_to_time(window_start_ns),
                               audio_window_end=ns_to_time(window_end_ns),
                               inference_latency_ms=float(latency_ms))


def markers_to_msg(header, specs: Sequence[MarkerSpec]) -> MarkerArray:
    """A DELETEALL marker (clears the previous frame's) followed by one marker per spec."""
    markers = [Marker(header=header, ns="", id=0, action=Marker.DELETEALL)]
    for s in specs:
        m = Marker(header=header, ns=s.ns, id=s.id, action=Marker.ADD)
        m.color.r, m.color.g, m.color.b, m.color.a = s.rgba
        m.pose.orientation.w = 1.0
        if s.kind == "box":
            m.type = Marker.LINE_STRIP
            m.scale.x = s.line_width_m
            m.points = [Point(x=x, y=y, z=0.0) for x, y in s.points]
        else:
            m.type = Marker.TEXT_VIEW_FACING
            m.pose.position.x, m.pose.position.y = s.position
            m.scale.z = s.height_m
            m.text = s.text
        markers.append(m)
    return MarkerArray(markers=markers)


def report_to_msg(header, report: DiagnosticReport, name: str,
                  hardware_id: str) -> DiagnosticArray:
    """:class:`DiagnosticReport` -> ``diagnostic_msgs/DiagnosticArray`` with one status."""
    status = DiagnosticStatus(level=bytes([report.level]), name=name, message=report.message,
                              hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=v) for k, v in report.values])
    return DiagnosticArray(header=header, status=[status])
