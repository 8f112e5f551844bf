"""The avs_node parameter table and its checks (no ROS needed)."""
from __future__ import annotations

import array

import pytest

from avs_ros.core import node_config
from avs_ros.core.node_config import BY_NAME, PARAMETERS, check


def test_every_default_passes_its_own_check_and_names_are_unique():
    assert len(BY_NAME) == len(PARAMETERS)
    for p in PARAMETERS:
        assert check(p.name, p.default) is None, p.name
        assert p.type in ("bool", "int", "float", "str", "int[]", "str[]") and p.description


@pytest.mark.parametrize("name, value, reason", [
    ("preset", "lightavseg_x", "must be one of"),
    ("backend", "tensorrt", "must be one of"),
    ("device", "gpu", "'cpu', 'cuda' or 'cuda:N'"),
    ("device", "cuda:x", "'cpu', 'cuda' or 'cuda:N'"),
    ("threads", -1, ">= 0"),
    ("image_size", [224], "multiples of 32"),
    ("image_size", [100, 64], "multiples of 32"),
    ("score_threshold", 1.0, "[0, 1)"),
    ("max_skew_s", -0.1, ">= 0.0"),
    ("audio_type", "wav", "must be one of"),
    ("input_reliability", "system_default", "must be one of"),
    ("marker_m_per_px", 0.0, "> 0.0"),
    ("image_topic", "/camera/ image", "not a valid topic"),
    ("audio_info_topic", "", "must not be empty"),
    ("max_skew_s", True, "of type float"),
    ("threads", 2.0, "of type int"),
    ("image_size", 64, "of type int[]"),
    ("class_names", "sounding", "of type str[]"),
    ("no_such_parameter", 1, "unknown parameter"),
])
def test_bad_values_are_rejected_with_the_parameter_named(name, value, reason):
    message = check(name, value)
    assert message is not None and reason in message and name in message


def test_good_values_pass_including_ros_arrays_and_int_for_float():
    assert check("image_size", array.array("q", [320, 640])) is None
    assert check("device", "cuda:1") is None
    assert check("max_skew_s", 1) is None
    assert check("class_names", ["background", "sounding"]) is None
    assert node_config.check("checkpoint", "/any/file.pt") is None
