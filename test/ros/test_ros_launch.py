"""launch/avs.launch.py, config/*.yaml and rviz/avs.rviz as installed (launch_ros itself is
not installable here, so the launch file is checked as data against the install space and
against the parameters a real AvsNode declares)."""
from __future__ import annotations

import json
import runpy

import yaml
from ros_harness import INSTALL_SPACES

SHARE = INSTALL_SPACES["avs_ros"] / "share" / "avs_ros"
LIB = INSTALL_SPACES["avs_ros"] / "lib" / "avs_ros"

# Builds a real AvsNode once per parameter file (no model is loaded before activate) and
# prints the parameters it declares with the values it ended up with.
PROBE = r"""
import json, sys
import rclpy
from avs_ros.node import AvsNode
out = {}
for path in [None] + sys.argv[1:]:
    rclpy.init(args=["--ros-args"] + (["--params-file", path] if path else []))
    node = AvsNode()
    params = node.get_parameters_by_prefix("")
    out[path or "defaults"] = {k: (list(p.value) if hasattr(p.value, "tolist")
                                   or isinstance(p.value, list) else p.value)
                               for k, p in params.items() if k != "use_sim_time"}
    node.destroy_node()
    rclpy.shutdown()
print(json.dumps(out))
"""


def _launch() -> dict:
    return runpy.run_path(str(SHARE / "launch" / "avs.launch.py"))


def test_launch_names_installed_executables_and_files(ros_build):
    launch = _launch()
    arguments, nodes = launch["ARGUMENTS"], launch["NODES"]
    assert callable(launch["generate_launch_description"])
    assert set(arguments) >= {"preset", "checkpoint", "backend", "device", "image_topic",
                              "audio_topic", "use_mic", "rviz"}
    ours = [n for n in nodes if n["package"] == "avs_ros"]
    assert {n["executable"] for n in ours} == {"avs_node", "audio_capture_node"}
    for node in ours:
        exe = LIB / node["executable"]
        assert exe.is_file() and exe.stat().st_mode & 0o111, exe
    for node in nodes:
        assert node["condition"] is None or node["condition"] in arguments
        assert set(node["parameters"].values()) <= set(arguments)
        for arg in node["arguments"]:
            if arg.startswith("share:"):
                assert (SHARE / arg[len("share:"):]).is_file(), arg


def test_launch_and_config_parameters_are_declared_by_the_node(ros_build):
    launch = _launch()
    configs = sorted((SHARE / "config").glob("*.yaml"))
    done = ros_build.run_python(["-c", PROBE, *map(str, configs)], "ros_drivers", timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    declared = json.loads(done.stdout.strip().splitlines()[-1])
    names = set(declared["defaults"])
    avs = next(n for n in launch["NODES"] if n["executable"] == "avs_node")
    assert set(avs["parameters"]) | set(avs["fixed"]) <= names
    # every preset the launch file can select has its parameter file, and nothing else does
    from avs_models.registry import PRESETS

    assert {c.stem for c in configs} == set(PRESETS)
    assert avs["parameters_file"].format(preset=launch["ARGUMENTS"]["preset"][0]) \
        == "config/lightavseg_t.yaml"
    for config in configs:
        keys = set(yaml.safe_load(config.read_text())["avs_node"]["ros__parameters"])
        assert keys <= names, f"{config.name}: undeclared {sorted(keys - names)}"
        values = declared[str(config)]
        assert values["preset"] == config.stem      # the file was applied by the node
    # launch argument defaults are the node's own defaults for the parameters they set
    for param, arg in avs["parameters"].items():
        assert launch["ARGUMENTS"][arg][0] == declared["defaults"][param], param


def test_rviz_config_shows_image_overlay_and_markers(ros_build):
    rviz = yaml.safe_load((SHARE / "rviz" / "avs.rviz").read_text())
    displays = rviz["Visualization Manager"]["Displays"]
    topics = {d["Class"].split("/")[-1]: [] for d in displays}
    for d in displays:
        topics[d["Class"].split("/")[-1]].append(d["Topic"]["Value"])
    assert sorted(topics["Image"]) == ["/avs_node/overlay", "/camera/image_raw"]
    assert topics["MarkerArray"] == ["/avs_node/markers"]
