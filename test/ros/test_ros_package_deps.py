"""package.xml declares what ``rosdep install`` must bring for the installed node and launch
file to run: every import of the installed code (build/ros install space: avs_ros, avs_models,
the node scripts, the launch file) is either a declared dependency (its rosdep key below), a
pip-only library the README's install section names, or a library of the offline tools
(training, bags, replay) that the node and the launch file never load (checked by loading
them for real and looking at ``sys.modules``).

Rosdep keys: the Python ones exist in ros/rosdistro ``rosdep/python.yaml`` (checked at commit
8468e88, 2026-08): python3-numpy, -opencv, -scipy, -pyaudio, -yaml. There is no key for the
CPU onnxruntime (only -gpu-pip and -openvino-pip) nor for onnx; python3-torch exists but its
Ubuntu packages (jammy, noble) are older than the torch>=2.4 we need; PyAV (``av``, the optional
mp3 decoder for ``audio_capture``'s default coding) has no key at all: these four are installed
with pip (README, "Installing in a ROS 2 workspace").
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

from ros_harness import INSTALL_SPACES, ROOT, ROS_BUILD, SITE_PACKAGES
from test_ros_launch import _need, launch_environment

INSTALL = INSTALL_SPACES["avs_ros"]
SITE = INSTALL / SITE_PACKAGES

# import name -> rosdep key declared in package.xml (ROS packages: their own name)
ROSDEP = {
    "rclpy": "rclpy", "rcl_interfaces": "rcl_interfaces",
    "builtin_interfaces": "builtin_interfaces", "std_msgs": "std_msgs",
    "sensor_msgs": "sensor_msgs", "geometry_msgs": "geometry_msgs",
    "visualization_msgs": "visualization_msgs", "diagnostic_msgs": "diagnostic_msgs",
    "audio_common_msgs": "audio_common_msgs", "launch": "launch", "launch_ros": "launch_ros",
    "ament_index_python": "ament_index_python",
    # imported by the generated message modules; rosidl_default_runtime brings them
    "rosidl_generator_py": "rosidl_default_runtime", "rosidl_parser": "rosidl_default_runtime",
    "numpy": "python3-numpy", "cv2": "python3-opencv", "scipy": "python3-scipy",
    "pyaudio": "python3-pyaudio", "yaml": "python3-yaml",
}
# no usable rosdep key: pip install (README); the node needs torch, the fast path onnx*,
# mp3 audio av (optional: without it mp3 messages are refused, naming the package)
PIP_ONLY = {"torch", "onnx", "onnxruntime", "av"}
# the offline tools' libraries (setup.py extras train/replay): never loaded by node or launch
TOOLS_ONLY = {"PIL", "skimage", "soundfile", "tqdm", "matplotlib", "rosbags"}
# declared without an import of ours: the `ros2 launch` verb itself
NO_IMPORT = {"ros2launch"}

# Loads what the node and the launch file load at start-up: both node modules, the model the
# node configures with by default (backend auto: the ONNX export path), and the launch file's
# node actions for its default arguments plus use_mic and rviz. Records every import statement
# executed by a file of the install space (argv[2]), whatever imports it transitively.
PROBE = r"""
import builtins, json, runpy, sys
install, executed = sys.argv[2], set()
real_import = builtins.__import__
def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and (globals or {}).get("__file__", "").startswith(install):
        executed.add(name.split(".")[0])
    return real_import(name, globals, locals, fromlist, level)
builtins.__import__ = recording_import
import avs_ros.node, avs_ros.audio_capture_node
from avs_ros.core.model_source import load_planned, plan_model
load_planned(plan_model("lightavseg_t", "", "auto"))
from launch import LaunchContext
ld = runpy.run_path(sys.argv[1])["generate_launch_description"]()
context = LaunchContext()
for entity in ld.entities:
    entity.visit(context)
context.launch_configurations.update(use_mic="true", rviz="true")
ld.entities[-1].visit(context)
print(json.dumps(sorted(executed)))
"""


def _imports(path) -> set[str]:
    """Top-level names of the absolute imports in a Python file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return _third_party(names)


def _third_party(names: set[str]) -> set[str]:
    return names - set(sys.stdlib_module_names) - {"avs_ros", "avs_models", "__future__"}


def _declared() -> set[str]:
    root = ET.parse(INSTALL / "share" / "avs_ros" / "package.xml").getroot()
    return {e.text.strip() for tag in ("depend", "exec_depend") for e in root.iter(tag)}


def _installed_files() -> tuple[list, list]:
    """(every installed Python file of ours, those of the ROS layer: node scripts, node
    modules, launch file)."""
    scripts = list((INSTALL / "lib" / "avs_ros").iterdir())
    launch = list((INSTALL / "share" / "avs_ros" / "launch").glob("*.py"))
    package = [*SITE.joinpath("avs_ros").rglob("*.py"), *SITE.joinpath("avs_models").rglob("*.py")]
    ros_layer = [*scripts, *launch, SITE / "avs_ros" / "node.py",
                 SITE / "avs_ros" / "audio_capture_node.py"]
    return package + scripts + launch, ros_layer


def test_every_import_is_declared_pip_only_or_tool_only(ros_build):
    files, _ = _installed_files()
    used = set().union(*(_imports(f) for f in files))
    unknown = used - set(ROSDEP) - PIP_ONLY - TOOLS_ONLY
    assert not unknown, f"imports with no entry here (add the rosdep key to package.xml): " \
                        f"{sorted(unknown)}"
    declared = _declared()
    missing = {ROSDEP[name] for name in used & set(ROSDEP)} - declared
    assert not missing, f"package.xml lacks {sorted(missing)}"
    assert NO_IMPORT <= declared
    # the README tells how to get the pip-only ones
    readme = (ROOT / "README.md").read_text()
    assert all("pip install" in readme and name in readme for name in PIP_ONLY)


def test_node_and_launch_file_load_only_declared_or_pip_only_libraries(ros_build):
    env = launch_environment(ros_build)
    _need(env is not None, "the ROS 2 launch system is not installed")
    _, ros_layer = _installed_files()
    launch_file = INSTALL / "share" / "avs_ros" / "launch" / "avs.launch.py"
    done = subprocess.run([str(ros_build.python), "-c", PROBE, str(launch_file), str(INSTALL)],
                          env=env, cwd=ROS_BUILD, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    executed = _third_party(set(json.loads(done.stdout.strip().splitlines()[-1])))
    # every import written in the ROS layer counts (pyaudio: in AudioCaptureNode.__init__)
    runtime = executed | set().union(*(_imports(f) for f in ros_layer))
    assert not runtime & TOOLS_ONLY, f"node/launch load tool-only {runtime & TOOLS_ONLY}"
    assert runtime <= set(ROSDEP) | PIP_ONLY, runtime - set(ROSDEP) - PIP_ONLY
    assert {"rclpy", "launch_ros", "numpy", "cv2", "torch", "onnxruntime"} <= runtime
