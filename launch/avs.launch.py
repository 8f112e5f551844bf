"""Launch avs_node (autostarted), optionally the microphone capture node and RViz.

    ros2 launch avs_ros avs.launch.py preset:=lightavseg_t image_topic:=/camera/image_raw \
        use_mic:=true rviz:=true

What is launched is plain data (ARGUMENTS, NODES) so that tests can check it without
launch_ros: every executable and file named must be installed, every parameter set must be
one avs_node declares. ``generate_launch_description`` only turns that data into actions.
Each node's parameters: its ``config/<preset>.yaml`` first, then the launch arguments.

Behaviour (tested with ``ros2 launch`` under Humble's launch 1.0.7 and launch 3.7.1):
- a node of this package that exits with a non-zero code while the launch is not shutting
  down fails the launch: its message is logged and ``ros2 launch`` exits 1, after stopping
  the other nodes;
- ``rviz:=true`` where rviz2 is not installed logs one warning and starts the rest;
- only API that Humble's launch/launch_ros have: the file paths and the optional nodes are
  decided in an ``OpaqueFunction`` on the arguments' values (no nested lists in
  ``PathJoinSubstitution``, no ``IfElseSubstitution``).
"""

import os

# launch argument -> (default, description)
ARGUMENTS = {
    "preset": ("lightavseg_t", "model preset; also selects config/<preset>.yaml"),
    "checkpoint": ("", "checkpoint (.pt) or ONNX file; empty: the shipped model (or random "
                       "weights for a preset without one)"),
    "backend": ("auto", "auto (onnxruntime when installed, else torch), onnxruntime or torch; "
                        "a .pt is exported to ONNX once and cached for onnxruntime"),
    "namespace": ("", "namespace of the nodes"),
    "device": ("cpu", "cpu, cuda or cuda:N"),
    "image_topic": ("/camera/image_raw", "sensor_msgs/Image input"),
    "audio_topic": ("", "audio input; empty: the audio flavour's usual topic"),
    "camera_info_topic": ("", "sensor_msgs/CameraInfo of the image: objects get a bearing; "
                              "empty = none"),
    "depth_topic": ("", "depth registered to the image (16UC1 mm or 32FC1 m): objects get a "
                        "3-D position; needs camera_info_topic; empty = none"),
    "use_mic": ("false", "start audio_capture_node (PyAudio microphone)"),
    "mic_device": ("", "audio_capture_node's input device: '' = the default input, an index, "
                       "or part of a device name (e.g. pulse)"),
    "rviz": ("false", "start RViz with rviz/avs.rviz"),
}

# One entry per node: package, executable, node name, the parameter file (relative to the
# package's share folder, "{preset}" replaced by the launch argument), node parameter ->
# launch argument (or a fixed value in "fixed"), the launch argument that enables it, and
# extra command-line arguments (share-relative file paths start with "share:"). Every node
# runs in the namespace given by the "namespace" argument.
NODES = [
    {"package": "avs_ros", "executable": "avs_node", "name": "avs_node",
     "parameters_file": "config/{preset}.yaml",
     "parameters": {"preset": "preset", "checkpoint": "checkpoint", "backend": "backend",
                    "device": "device", "image_topic": "image_topic",
                    "audio_topic": "audio_topic", "camera_info_topic": "camera_info_topic",
                    "depth_topic": "depth_topic"},
     "fixed": {"autostart": True}, "condition": None, "arguments": []},
    {"package": "avs_ros", "executable": "audio_capture_node", "name": "audio_capture_node",
     "parameters_file": None, "parameters": {"device": "mic_device"}, "fixed": {},
     "condition": "use_mic",
     "arguments": []},
    {"package": "rviz2", "executable": "rviz2", "name": "rviz2", "parameters_file": None,
     "parameters": {}, "fixed": {}, "condition": "rviz",
     "arguments": ["-d", "share:rviz/avs.rviz"]},
]


def generate_launch_description():
    """The launch description: ARGUMENTS declared, NODES made by :func:`_nodes`."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchDescription

    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, (default, text) in ARGUMENTS.items()] + [OpaqueFunction(function=_nodes)])


def _nodes(context):
    """The Node actions for the arguments' values in ``context`` (an OpaqueFunction)."""
    from ament_index_python.packages import get_package_share_directory
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    import launch.logging

    value = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    share = get_package_share_directory("avs_ros")
    actions = []
    for spec in NODES:
        if spec["condition"] and not IfCondition(
                LaunchConfiguration(spec["condition"])).evaluate(context):
            continue
        missing = _missing_executable(spec["package"], spec["executable"])
        if missing:
            launch.logging.get_logger("launch.user").warning(
                f"{spec['name']} not started ({spec['condition']}:=true): {missing}; "
                "the other nodes run")
            continue
        parameters = []
        if spec["parameters_file"]:
            parameters.append(os.path.join(
                share, spec["parameters_file"].format(preset=value["preset"])))
        parameters.append({**spec["fixed"], **{p: LaunchConfiguration(a)
                                               for p, a in spec["parameters"].items()}})
        arguments = [os.path.join(share, a[len("share:"):]) if a.startswith("share:") else a
                     for a in spec["arguments"]]
        actions.append(Node(package=spec["package"], executable=spec["executable"],
                            name=spec["name"], namespace=value["namespace"],
                            parameters=parameters, arguments=arguments, output="screen",
                            on_exit=_fail_launch_on_error
                            if spec["package"] == "avs_ros" else None))
    return actions


def _missing_executable(package: str, executable: str) -> str | None:
    """Why ``package``'s ``executable`` cannot be started here, or None when it can."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = get_package_prefix(package)
    except PackageNotFoundError:
        return f"package '{package}' not found"
    path = os.path.join(prefix, "lib", package, executable)
    return None if os.access(path, os.X_OK) else f"{path} is not an executable"


def _fail_launch_on_error(event, context):
    """on_exit of this package's nodes: a non-zero exit outside shutdown fails the launch
    (launch logs "Caught exception in launch ...: <message>", stops the rest, exits 1)."""
    if event.returncode != 0 and not context.is_shutdown:
        raise RuntimeError(f"{event.process_name} exited with code {event.returncode} "
                           "(its error is logged above); stopping the launch")
    return None
