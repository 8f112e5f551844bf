"""Launch avs_node (autostarted), optionally the microphone capture node and RViz.

    ros2 launch avs_ros avs.launch.py preset:=lightavseg_t image_topic:=/camera/image_raw \
        use_mic:=true rviz:=true

What is launched is plain data (ARGUMENTS, NODES) so that tests can check it without
launch_ros: every executable and file named must be installed, every parameter set must be
one avs_node declares. ``generate_launch_description`` only turns that data into actions.
Each node's parameters: its ``config/<preset>.yaml`` first, then the launch arguments.
"""

# launch argument -> (default, description)
ARGUMENTS = {
    "preset": ("lightavseg_t", "model preset; also selects config/<preset>.yaml"),
    "checkpoint": ("", "checkpoint (.pt) or ONNX file; empty: shipped model or random weights"),
    "backend": ("torch", "torch or onnxruntime"),
    "device": ("cpu", "cpu, cuda or cuda:N"),
    "image_topic": ("/camera/image_raw", "sensor_msgs/Image input"),
    "audio_topic": ("", "audio input; empty: the audio flavour's usual topic"),
    "use_mic": ("false", "start audio_capture_node (PyAudio microphone)"),
    "rviz": ("false", "start RViz with rviz/avs.rviz"),
}

# One entry per node: package, executable, node name, the parameter file (relative to the
# package's share folder, "{preset}" replaced by the launch argument), node parameter ->
# launch argument (or a fixed value in "fixed"), the launch argument that enables it, and
# extra command-line arguments (share-relative file paths start with "share:").
NODES = [
    {"package": "avs_ros", "executable": "avs_node", "name": "avs_node",
     "parameters_file": "config/{preset}.yaml",
     "parameters": {"preset": "preset", "checkpoint": "checkpoint", "backend": "backend",
                    "device": "device", "image_topic": "image_topic",
                    "audio_topic": "audio_topic"},
     "fixed": {"autostart": True}, "condition": None, "arguments": []},
    {"package": "avs_ros", "executable": "audio_capture_node", "name": "audio_capture_node",
     "parameters_file": None, "parameters": {}, "fixed": {}, "condition": "use_mic",
     "arguments": []},
    {"package": "rviz2", "executable": "rviz2", "name": "rviz2", "parameters_file": None,
     "parameters": {}, "fixed": {}, "condition": "rviz",
     "arguments": ["-d", "share:rviz/avs.rviz"]},
]


def generate_launch_description():
    """The launch description built from ARGUMENTS and NODES."""
    from launch.actions import DeclareLaunchArgument
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
    from launch_ros.actions import Node
    from launch_ros.substitutions import FindPackageShare

    from launch import LaunchDescription

    share = FindPackageShare("avs_ros")
    actions = [DeclareLaunchArgument(name, default_value=default, description=text)
               for name, (default, text) in ARGUMENTS.items()]
    for spec in NODES:
        parameters = []
        if spec["parameters_file"]:
            head, tail = spec["parameters_file"].split("{preset}")
            parameters.append(PathJoinSubstitution(
                [share, head.rstrip("/"), [LaunchConfiguration("preset"), tail]]))
        parameters.append({**spec["fixed"], **{p: LaunchConfiguration(a)
                                               for p, a in spec["parameters"].items()}})
        arguments = [PathJoinSubstitution([share, a[len("share:"):]])
                     if a.startswith("share:") else a for a in spec["arguments"]]
        condition = IfCondition(LaunchConfiguration(spec["condition"])) \
            if spec["condition"] else None
        actions.append(Node(package=spec["package"], executable=spec["executable"],
                            name=spec["name"], parameters=parameters, arguments=arguments,
                            condition=condition, output="screen"))
    return LaunchDescription(actions)
