"""Marker geometry of sounding objects (no ROS needed)."""
from __future__ import annotations

import numpy as np
import pytest

from avs_ros.core.markers import object_markers
from avs_ros.core.postprocess import SoundingObject, make_palette


def test_box_follows_pixel_edges_and_label_sits_above():
    obj = SoundingObject(1, "sounding", 0.8765, x=10, y=20, width=4, height=2,
                         centroid_x=11.5, centroid_y=20.5, area=8)
    box, label = object_markers([obj], make_palette(), m_per_px=0.5, text_height_px=4,
                                line_width_px=2)
    # columns 10..13 -> [9.5, 13.5] px, rows 20..21 -> [19.5, 21.5] px; times 0.5 m/px
    assert box.points == ((4.75, 9.75), (6.75, 9.75), (6.75, 10.75), (4.75, 10.75),
                          (4.75, 9.75))
    assert (box.kind, box.ns, box.id, box.line_width_m) == ("box", "box", 0, 1.0)
    assert box.rgba == (1.0, 0.0, 0.0, 1.0)            # class 1 is pure red
    assert (label.kind, label.ns, label.id, label.text) == ("label", "label", 0, "sounding 0.88")
    assert label.position == (5.75, 9.75 - 0.75 * 4 * 0.5) and label.height_m == 2.0


def test_ids_count_up_and_errors():
    objs = [SoundingObject(2, "dog", 0.5, 0, 0, 1, 1, 0.0, 0.0, 1)] * 3
    specs = object_markers(objs, make_palette(), 0.01)
    assert [s.id for s in specs] == [0, 0, 1, 1, 2, 2]
    assert all(0.0 <= c <= 1.0 for s in specs for c in s.rgba)
    with pytest.raises(ValueError, match="m_per_px"):
        object_markers(objs, make_palette(), 0.0)
    with pytest.raises(ValueError, match="no colour"):
        object_markers(objs, np.zeros((2, 3), np.uint8), 0.01)
