"""RViz marker geometry for sounding objects (ROS-free; the node fills MarkerArray from it).

Markers live in the input image's ``frame_id`` on the plane z = 0, with pixel (u, v) at
(u * m_per_px, v * m_per_px) metres: x to the right and y down, the optical-frame convention
of camera images. Without camera intrinsics there is no metric placement, so this is a scaled
copy of the image plane (the same choice as drawing on the image, but viewable in 3-D views);
``m_per_px`` is the scale. Per object: a closed box outline (LINE_STRIP, namespace "box") and
a label "name score" above the box (TEXT_VIEW_FACING, namespace "label"), both in the
object's class colour with RGBA floats in [0, 1]. The node sends a DELETEALL marker first in
every array, so markers of objects that vanished never linger.

With 3-D geometry (:mod:`.geometry`; same frame, now the metric optical frame: x right, y down,
z forward, m) an object is drawn in 3-D instead: with a position, an arrow from the camera to
it (namespace "ray"), a sphere on it ("position"), a translucent box of its extent ("extent")
and the label above it; with a bearing only, an arrow of ``bearing_length_m`` along the
bearing ("ray") and the label at its tip.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .geometry import ObjectGeometry
from .postprocess import SoundingObject


@dataclass(frozen=True)
class MarkerSpec:
    """One marker: ``kind`` "box" (``points``: 5 corners (x, y) in m, closed), "label"
    (``position`` in m, ``text``, ``height_m`` of the letters), "arrow" (``points``: tail and
    head (x, y, z) in m; ``scale``: shaft diameter, head diameter, head length in m),
    "sphere" or "cube" (``position`` (x, y, z) centre, ``scale`` sizes along x, y, z in m);
    points and positions given as (x, y) lie at z = 0; ``line_width_m`` of a box's outline;
    ``ns``, ``id`` as in visualization_msgs/Marker; ``rgba`` floats in [0, 1]."""

    kind: str
    ns: str
    id: int
    rgba: tuple[float, float, float, float]
    points: tuple[tuple[float, ...], ...] = ()
    position: tuple[float, ...] = (0.0, 0.0)
    text: str = ""
    height_m: float = 0.0
    line_width_m: float = 0.0
    scale: tuple[float, float, float] = (0.0, 0.0, 0.0)


def object_markers(objects: Sequence[SoundingObject], palette: np.ndarray,
                   m_per_px: float, text_height_px: float = 16.0,
                   line_width_px: float = 2.0,
                   geometry: Sequence[ObjectGeometry] | None = None,
                   bearing_length_m: float = 1.0) -> list[MarkerSpec]:
    """Box outline and label per object (ids 0, 1, 2 ... in ``objects`` order), or its 3-D
    markers where ``geometry`` gives it a bearing (see the module docstring).

    Args:
        objects: from :class:`~avs_ros.core.postprocess.Postprocessor`.
        palette: uint8 [N, 3] RGB by class id (N > every class id).
        m_per_px: metres per pixel (> 0).
        text_height_px: label letter height in px.
        line_width_px: box outline width in px.
        geometry: per object (``objects`` order) from :class:`~.geometry.Localizer`, or None.
        bearing_length_m: arrow length of an object with a bearing but no position, m.

    The box follows pixel edges: the object's columns x .. x + w - 1 cover [x - 0.5, x + w - 0.5]
    in pixel-centre coordinates (see :mod:`.postprocess`).

    Raises:
        ValueError: ``m_per_px <= 0`` or a class id outside the palette.
    """
    if not m_per_px > 0:
        raise ValueError(f"m_per_px must be > 0, got {m_per_px!r}")
    out: list[MarkerSpec] = []
    for i, obj in enumerate(objects):
        if not 0 <= obj.class_id < len(palette):
            raise ValueError(f"class id {obj.class_id} has no colour (palette of {len(palette)})")
        r, g, b = (float(c) / 255.0 for c in palette[obj.class_id])
        rgba = (r, g, b, 1.0)
        geo = geometry[i] if geometry is not None else None
        if geo is not None and geo.bearing is not None:
            out += _markers_3d(i, obj, geo, rgba, bearing_length_m)
            continue
        x0, y0 = (obj.x - 0.5) * m_per_px, (obj.y - 0.5) * m_per_px
        x1, y1 = (obj.x + obj.width - 0.5) * m_per_px, (obj.y + obj.height - 0.5) * m_per_px
        corners = ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))
        out.append(MarkerSpec("box", "box", i, rgba, points=corners,
                              line_width_m=line_width_px * m_per_px))
        label_y = y0 - 0.75 * text_height_px * m_per_px    # just above the box
        out.append(MarkerSpec("label", "label", i, rgba, position=((x0 + x1) / 2, label_y),
                              text=f"{obj.class_name} {obj.score:.2f}",
                              height_m=text_height_px * m_per_px))
    return out


def _markers_3d(i: int, obj: SoundingObject, geo: ObjectGeometry,
                rgba: tuple[float, float, float, float], bearing_length_m: float
                ) -> list[MarkerSpec]:
    """Arrow, sphere, extent box and label of one object in the optical frame."""
    text = f"{obj.class_name} {obj.score:.2f}"
    if geo.position is None:
        tip = tuple(bearing_length_m * c for c in geo.bearing)
        return [MarkerSpec("arrow", "ray", i, rgba, points=((0.0, 0.0, 0.0), tip),
                           scale=(0.01, 0.03, 0.05)),
                MarkerSpec("label", "label", i, rgba, position=tip, text=text, height_m=0.06)]
    x, y, z = geo.position
    ex, ey, ez = (max(0.02, e) for e in geo.extent)
    distance = (x * x + y * y + z * z) ** 0.5
    translucent = (*rgba[:3], 0.35)
    return [MarkerSpec("arrow", "ray", i, rgba, points=((0.0, 0.0, 0.0), (x, y, z)),
                       scale=(0.01 * distance, 0.03 * distance, 0.05 * distance)),
            MarkerSpec("sphere", "position", i, rgba, position=(x, y, z),
                       scale=(0.06, 0.06, 0.06)),
            MarkerSpec("cube", "extent", i, translucent, position=(x, y, z),
                       scale=(ex, ey, ez)),
            MarkerSpec("label", "label", i, rgba, position=(x, y - ey / 2 - 0.08, z),
                       text=f"{text} {distance:.2f} m", height_m=0.08)]
