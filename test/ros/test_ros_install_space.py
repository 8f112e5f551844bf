"""The colcon install space of avs_ros: generated messages and our Python packages together."""
from __future__ import annotations

import json
from pathlib import Path

from ros_harness import INSTALL_SPACES, ROOT, SITE_PACKAGES

PROBE = r"""
import json
from pathlib import Path
import avs_ros, avs_ros.cli, avs_ros.msg
from ament_index_python.packages import get_package_share_directory
from avs_ros.msg import SoundingObject, SoundingObjectArray
print(json.dumps({
    "share": get_package_share_directory("avs_ros"),
    "std_msgs_share": get_package_share_directory("std_msgs"),
    "msg_file": avs_ros.msg.__file__,
    "cli_file": avs_ros.cli.__file__,
    "array_fields": SoundingObjectArray.get_fields_and_field_types(),
    "object_fields": SoundingObject.get_fields_and_field_types(),
    "cli_help_exit": avs_ros.cli.main(["--help"]),
}))
"""


def test_messages_and_python_package_import_from_install_space(ros_build):
    done = ros_build.run_python(["-c", PROBE], timeout=60)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    site = INSTALL_SPACES["avs_ros"] / SITE_PACKAGES / "avs_ros"
    # Both the generated subpackage and the hand-written module come from the install space,
    # not from the source tree or an editable install of the repo.
    assert probe["msg_file"].startswith(str(site)), probe["msg_file"]
    assert probe["cli_file"] == str(site / "cli.py")
    assert probe["cli_help_exit"] == 0
    # The ament index sees our package in its install space and the wheels' ones in the venv.
    assert probe["share"] == str(INSTALL_SPACES["avs_ros"] / "share" / "avs_ros")
    assert probe["std_msgs_share"] == str(ros_build.python.parent.parent / "share" / "std_msgs")
    assert probe["array_fields"] == {
        "header": "std_msgs/Header",
        "objects": "sequence<avs_ros/SoundingObject>",
        "audio_window_start": "builtin_interfaces/Time",
        "audio_window_end": "builtin_interfaces/Time",
        "inference_latency_ms": "float",
    }
    assert probe["object_fields"] == {
        "class_id": "string", "class_name": "string", "score": "double",
        "bbox_center_x": "double", "bbox_center_y": "double",
        "bbox_size_x": "double", "bbox_size_y": "double",
        "centroid_x": "double", "centroid_y": "double", "area_px": "uint32",
        "frame_id": "string", "has_bearing": "boolean", "bearing": "geometry_msgs/Vector3",
        "azimuth_deg": "double", "elevation_deg": "double", "has_position": "boolean",
        "position": "geometry_msgs/Point", "extent": "geometry_msgs/Vector3",
        "valid_depth_fraction": "float",
    }


def _python_files(package_dir: Path) -> set[str]:
    """Paths of the .py files under ``package_dir``, relative to it."""
    return {str(p.relative_to(package_dir)) for p in package_dir.rglob("*.py")
            if "__pycache__" not in p.parts}


def test_every_python_module_of_both_packages_is_installed(ros_build):
    site = INSTALL_SPACES["avs_ros"] / SITE_PACKAGES
    for package in ("avs_models", "avs_ros"):
        source = _python_files(ROOT / package)
        installed = _python_files(site / package)
        assert source <= installed, f"{package}: not installed: {sorted(source - installed)}"
    # Sub-package __init__.py files are kept (only the top-level one of avs_ros is left to
    # rosidl), and nothing but the generated msg/ sub-package is added to avs_ros.
    assert (site / "avs_models" / "backbones" / "__init__.py").is_file()
    extra = _python_files(site / "avs_ros") - _python_files(ROOT / "avs_ros")
    assert extra and all(f.startswith("msg/") for f in extra), sorted(extra)
