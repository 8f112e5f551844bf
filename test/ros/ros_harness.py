"""Harness for the tests that run real ROS 2 processes against the colcon install spaces.

``scripts/setup_ros.sh`` builds, under build/ros/: ``install/`` (avs_ros), and one install
space per audio_common_msgs flavour (``fixtures/ros_drivers/install``,
``fixtures/mgonzs13/install``), and writes ``build/ros/python`` (the venv python they were
built for). Without that build these tests are skipped, unless AVS_REQUIRE_ROS is set to a
non-empty value other than 0 (CI sets it), in which case they fail.

Processes run in build/ros/ (so that the repo's own avs_ros/ is not on their sys.path) with
the environment a sourced ``setup.sh`` of the chosen install spaces would give
(AMENT_PREFIX_PATH, CMAKE_PREFIX_PATH, PYTHONPATH, LD_LIBRARY_PATH) over the venv as
underlay, a ROS_DOMAIN_ID chosen for this test session, and discovery limited to this host.
"""
from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROS_BUILD = ROOT / "build" / "ros"
INSTALL_SPACES = {
    "avs_ros": ROS_BUILD / "install",
    "ros_drivers": ROS_BUILD / "fixtures" / "ros_drivers" / "install",
    "mgonzs13": ROS_BUILD / "fixtures" / "mgonzs13" / "install",
}
PEER = Path(__file__).with_name("ros_dds_peer.py")
# The ROS 2 Kilted wheels are cp311 only, so the install spaces are built for Python 3.11.
SITE_PACKAGES = "lib/python3.11/site-packages"


def require_ros() -> bool:
    """True when AVS_REQUIRE_ROS asks for failure, not a skip, where the build is absent."""
    return os.environ.get("AVS_REQUIRE_ROS", "") not in ("", "0")


@dataclass(frozen=True)
class RosBuild:
    """Where the ROS build lives and how to start processes against it."""

    python: Path      # the venv python the install spaces were built for
    domain_id: int    # ROS_DOMAIN_ID of this test session
    token: str        # unique per session, for topic names: "/avs_test_<token>/..."

    def env(self, *spaces: str) -> dict[str, str]:
        """Environment of ``setup.sh`` of the named install spaces (first one wins), over
        the venv as underlay.

        ``spaces`` are keys of INSTALL_SPACES; "avs_ros" is always included, last.
        """
        prefixes = [INSTALL_SPACES[s] for s in spaces if s != "avs_ros"]
        prefixes.append(INSTALL_SPACES["avs_ros"])
        env = dict(os.environ)
        # Let the venv's start-up hook (ros_wheels_bootstrapper) add the wheels' library
        # folders in the child even where this process already ran it.
        env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)

        def prepend(var: str, paths: list[str]) -> None:
            old = [p for p in env.get(var, "").split(os.pathsep) if p]
            env[var] = os.pathsep.join(paths + old)

        # The venv is the underlay (where /opt/ros/kilted would be): an ament prefix with the
        # resource index of the wheels' packages.
        venv = self.python.parent.parent
        prepend("AMENT_PREFIX_PATH", [str(p) for p in prefixes] + [str(venv)])
        prepend("CMAKE_PREFIX_PATH", [str(p) for p in prefixes])
        prepend("PYTHONPATH", [str(p / SITE_PACKAGES) for p in prefixes])
        prepend("LD_LIBRARY_PATH", [str(p / "lib") for p in prefixes])
        env["ROS_DOMAIN_ID"] = str(self.domain_id)
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        env["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
        env["PYTHONUNBUFFERED"] = "1"
        # backend auto exports the model to ONNX once: keep that with the build, not in ~
        env.setdefault("AVS_ONNX_CACHE", str(ROS_BUILD / "onnx_cache"))
        return env

    def run_python(self, args: list[str], *spaces: str,
                   timeout: float) -> subprocess.CompletedProcess:
        """Run the venv python with ``args`` to completion; the caller checks the exit code.

        Raises subprocess.TimeoutExpired (after killing it) when it runs past ``timeout`` s.
        """
        return subprocess.run([str(self.python), *args], env=self.env(*spaces), cwd=ROS_BUILD,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def start_python(self, args: list[str], *spaces: str) -> subprocess.Popen:
        """Start the venv python with ``args``; the caller must call :func:`stop`."""
        return subprocess.Popen([str(self.python), *args], env=self.env(*spaces), cwd=ROS_BUILD,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen, grace_s: float = 5.0) -> tuple[str, str]:
    """Stop ``proc`` and return its (stdout, stderr).

    SIGINT first, which rclpy turns into a clean shutdown (DDS participants and shared-memory
    segments released), then SIGKILL if it is still running after ``grace_s`` seconds.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def missing_build_files() -> list[str]:
    """Files of the ROS build that are absent (empty when the build is complete)."""
    missing = [str(p / "setup.sh") for p in INSTALL_SPACES.values()
               if not (p / "setup.sh").is_file()]
    marker = ROS_BUILD / "python"
    if not marker.is_file():
        missing.append(str(marker))
    elif not Path(marker.read_text().strip()).is_file():
        missing.append(marker.read_text().strip())
    return missing
