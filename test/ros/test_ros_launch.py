"""launch/avs.launch.py, config/*.yaml and rviz/avs.rviz as installed: checked as data
against the install space and the parameters a real AvsNode declares, and run for real with
``ros2 launch`` under the Jazzy-era (launch 3.7.1) and Humble (launch 1.0.7) launch systems
(installed by scripts/setup_ros.sh from ../shared/ros2_launch; without them those tests skip,
or fail under AVS_REQUIRE_ROS)."""
from __future__ import annotations

import contextlib
import json
import math
import os
import runpy
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from ros_harness import INSTALL_SPACES, ROS_BUILD, SITE_PACKAGES, require_ros
from test_ros_audio_capture import pulse  # noqa: F401 - the PulseAudio fixture

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


# ---- `ros2 launch` for real -------------------------------------------------------------
# The launch system (launch, launch_ros, ros2launch, ros2cli) as scripts/setup_ros.sh installs
# it from ../shared/ros2_launch: the Jazzy-era set in the venv, Humble's in
# build/ros/launch_humble (first on PYTHONPATH), composition_interfaces in its own space.
LAUNCH_SPACE = ROS_BUILD / "ros2_launch" / "install"
HUMBLE = ROS_BUILD / "launch_humble"
LAUNCH_SETS = {"jazzy": ("3.", None), "humble": ("1.0.", HUMBLE)}   # launch version prefix
PEER = Path(__file__).with_name("launch_peer.py")
SHUTDOWN_S = 5.0          # SIGINT to the process group -> every process gone


def _need(ok: bool, what: str) -> None:
    if not ok:
        message = f"{what} (scripts/setup_ros.sh installs it from ../shared/ros2_launch)"
        if require_ros():
            pytest.fail(message + " [AVS_REQUIRE_ROS is set]", pytrace=False)
        pytest.skip(message)


def _session_pids(sid: int) -> list[int]:
    """Processes whose session id is ``sid`` (what a launch started with start_new_session
    = its pid leaves behind)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:                  # state ppid pgrp session ...
            pids.append(int(stat.parent.name))
    return pids


class Launch:
    """``ros2 launch avs_ros avs.launch.py ARGS`` in its own session, output in a file."""

    def __init__(self, env: dict, log: Path, args: list[str]) -> None:
        self.env, self.log = env, log
        self.file = open(log, "w")
        self.proc = subprocess.Popen(
            [str(Path(env["AVS_VENV_BIN"]) / "ros2"), "launch", "avs_ros", "avs.launch.py",
             *args], env=env, cwd=ROS_BUILD, stdout=self.file, stderr=subprocess.STDOUT,
            start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} after {timeout} s (exit "
                                     f"{self.proc.poll()}):\n{self.output()[-4000:]}")
            time.sleep(0.2)

    def cli(self, *args: str, tries: int = 4) -> str:
        """``ros2 ARGS`` of the same launch set; its stdout. Without the daemon each call
        discovers the graph anew, and "Node not found" can come before discovery has settled
        (seen with Humble's ``ros2 lifecycle get`` on a loaded machine): asked again then."""
        for _ in range(tries):
            done = subprocess.run([str(Path(self.env["AVS_VENV_BIN"]) / "ros2"), *args],
                                  env=self.env, cwd=ROS_BUILD, capture_output=True, text=True,
                                  timeout=90, check=False)
            if "Node not found" not in done.stdout + done.stderr:
                break
        assert done.returncode == 0, f"ros2 {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout.strip()

    def interrupt(self) -> float:
        """Ctrl-C as a terminal sends it (SIGINT to the whole process group); the seconds
        until the launch process and everything in its session are gone (inf: not within
        2 x SHUTDOWN_S, then everything is killed)."""
        start = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        while time.monotonic() - start < 2 * SHUTDOWN_S:
            if self.proc.poll() is not None and not _session_pids(self.proc.pid):
                return time.monotonic() - start
            time.sleep(0.02)
        self.kill()
        return math.inf

    def kill(self) -> None:
        for pid in _session_pids(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self.file.close()


def launch_environment(ros_build, humble: Path | None = None) -> dict | None:
    """Environment for ``ros2 launch`` with the avs_ros and ros_drivers install spaces, the
    launch system of the venv (or ``humble``'s first on PYTHONPATH) and composition_interfaces;
    None where composition_interfaces was not built (no launch wheels)."""
    if not (LAUNCH_SPACE / "setup.sh").is_file():
        return None
    env = ros_build.env("ros_drivers")
    env["AMENT_PREFIX_PATH"] = f"{LAUNCH_SPACE}{os.pathsep}{env['AMENT_PREFIX_PATH']}"
    site = [str(LAUNCH_SPACE / SITE_PACKAGES)] + ([str(humble)] if humble else [])
    env["PYTHONPATH"] = os.pathsep.join(site[::-1] + [env["PYTHONPATH"]])
    env["LD_LIBRARY_PATH"] = f"{LAUNCH_SPACE / 'lib'}{os.pathsep}{env['LD_LIBRARY_PATH']}"
    env["AVS_VENV_BIN"] = str(ros_build.python.parent)
    # the node scripts start with "#!/usr/bin/env python3": the venv is active, as for a user
    env["PATH"] = f"{ros_build.python.parent}{os.pathsep}{env['PATH']}"
    return env


@pytest.fixture(params=list(LAUNCH_SETS))
def launch_env(request, ros_build, tmp_path_factory) -> dict:
    """Environment running ``ros2 launch`` under one launch set (jazzy-era or humble)."""
    name = request.param
    prefix, humble = LAUNCH_SETS[name]
    env = launch_environment(ros_build, humble)
    _need(env is not None, f"composition_interfaces not built in {LAUNCH_SPACE}")
    _need(humble is None or (humble / "launch").is_dir(), f"Humble's launch set not in {humble}")
    env["ROS_LOG_DIR"] = str(tmp_path_factory.mktemp("ros_log"))
    probe = subprocess.run(
        [str(ros_build.python), "-c", "import importlib.metadata as m, launch_ros, ros2launch;"
         " print(m.version('launch'))"], env=env, cwd=ROS_BUILD, capture_output=True,
        text=True, timeout=60, check=False)
    _need(probe.returncode == 0, f"the ROS 2 launch system is not importable "
          f"({probe.stderr.strip()[-300:]})")
    version = probe.stdout.strip()
    assert version.startswith(prefix), f"{name} set runs launch {version}"
    return env


def _start(env: dict, tmp_path: Path, name: str, *args: str) -> Launch:
    return Launch(env, tmp_path / f"{name}.log", list(args))


def _assert_clean_exit(launch: Launch, seconds: float) -> None:
    out = launch.output()
    assert seconds <= SHUTDOWN_S, f"still running {SHUTDOWN_S} s after SIGINT:\n{out[-4000:]}"
    assert launch.proc.returncode == 0, f"exit {launch.proc.returncode}:\n{out[-4000:]}"
    for bad in ("Traceback", "KeyboardInterrupt", "RCLError", "process has died"):
        assert bad not in out, f"{bad!r} in the output:\n{out[-4000:]}"


def test_launch_passes_arguments_autostarts_masks_flow_and_stops_cleanly(
        launch_env, ros_build, tmp_path):
    ns = f"/avs_test_{ros_build.token}_launch"
    launch = _start(launch_env, tmp_path, "default", f"namespace:={ns}",
                    f"image_topic:={ns}/camera/image_raw", f"audio_topic:={ns}/audio",
                    f"camera_info_topic:={ns}/camera/camera_info",
                    f"depth_topic:={ns}/camera/depth")
    try:
        launch.wait_for("avs_node]: active:", 240)
        node = f"{ns}/avs_node"
        get = ("param", "get", "--no-daemon", "--spin-time", "3", node)
        assert launch.cli(*get, "image_topic") == f"String value is: {ns}/camera/image_raw"
        assert launch.cli(*get, "depth_topic") == f"String value is: {ns}/camera/depth"
        assert launch.cli(*get, "camera_info_topic") == \
            f"String value is: {ns}/camera/camera_info"
        assert launch.cli(*get, "backend") == "String value is: auto"      # launch default
        assert launch.cli(*get, "autostart") == "Boolean value is: True"   # fixed in launch
        assert launch.cli(*get, "publish_overlay") == "Boolean value is: True"   # config file
        assert launch.cli("lifecycle", "get", "--no-daemon", "--spin-time", "3", node)\
            .startswith("active")
        assert "backend auto: onnxruntime" in launch.output()
        peer = ros_build.run_python([str(PEER), ns, "3"], "ros_drivers", timeout=180)
        assert peer.returncode == 0, peer.stderr[-3000:] + launch.output()[-3000:]
        assert json.loads(peer.stdout.strip().splitlines()[-1])["masks"] >= 3
        seconds = launch.interrupt()
    finally:
        launch.kill()
    _assert_clean_exit(launch, seconds)
    assert "[avs_node-1]: process has finished cleanly" in launch.output()


def test_launch_fails_visibly_when_a_node_fails(launch_env, tmp_path):
    launch = _start(launch_env, tmp_path, "fail", "backend:=onnxruntime",
                    "checkpoint:=/nonexistent/model.pt")
    try:
        launch.proc.wait(180)
        survivors = _session_pids(launch.proc.pid)
    finally:
        launch.kill()
    out = launch.output()
    assert launch.proc.returncode != 0, out[-4000:]
    assert "checkpoint /nonexistent/model.pt does not exist" in out
    assert "avs_node-1 exited with code 1" in out and "Caught exception in launch" in out
    assert survivors == [], out[-4000:]


def test_launch_rviz_without_rviz2_warns_once_and_runs_the_rest(launch_env, tmp_path):
    probe = subprocess.run(
        [str(Path(launch_env["AVS_VENV_BIN"]) / "python"), "-c",
         "from ament_index_python.packages import get_package_prefix as g; g('rviz2')"],
        env=launch_env, capture_output=True, check=False, timeout=60)
    if probe.returncode == 0:
        pytest.skip("rviz2 is installed here: this test is about a system without it")
    launch = _start(launch_env, tmp_path, "rviz", "rviz:=true",
                    "image_topic:=/avs_test_rviz/image")
    try:
        launch.wait_for("avs_node]: active:", 240)
        seconds = launch.interrupt()
    finally:
        launch.kill()
    out = launch.output()
    assert out.count("rviz2 not started (rviz:=true): package 'rviz2' not found") == 1, out
    _assert_clean_exit(launch, seconds)


def test_launch_with_microphone_stops_cleanly_every_time(launch_env, ros_build, pulse,
                                                         tmp_path):
    """use_mic:=true through a private PulseAudio server: both nodes run and a group SIGINT
    ends them cleanly, three times in a row (the shutdown races are timing-dependent)."""
    env = dict(launch_env)
    env.update({k: pulse[k] for k in ("PULSE_SERVER", "PULSE_SOURCE", "PULSE_RUNTIME_PATH")})
    times = []
    for run in range(3):
        launch = _start(env, tmp_path, f"mic{run}", "use_mic:=true", "mic_device:=pulse",
                        f"image_topic:=/avs_test_{ros_build.token}_mic/image")
        try:
            launch.wait_for("avs_node]: active:", 240)
            launch.wait_for("audio_capture_node]: capturing from device", 60)
            time.sleep(1.0)                       # audio flowing when the signal comes
            seconds = launch.interrupt()
        finally:
            launch.kill()
        _assert_clean_exit(launch, seconds)
        assert "[audio_capture_node-2]: process has finished cleanly" in launch.output()
        times.append(round(seconds, 2))
    print(f"shutdown after SIGINT, s: {times}")
