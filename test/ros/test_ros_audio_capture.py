"""audio_capture_node through a real sound server: PulseAudio with a null sink, a known WAV
played into it with paplay, captured by the node from the sink's monitor (PortAudio's
``pulse`` device), and the node's AudioDataStamped messages compared with the WAV.

Needs pulseaudio, paplay, pactl and PyAudio in the ROS venv (scripts/setup_audio.sh). Without
them the test skips, or fails where AVS_REQUIRE_ROS is set (CI).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import wave

import numpy as np
import pytest
from ros_harness import INSTALL_SPACES, ROS_BUILD, require_ros, stop

RECORDER = __file__.replace("test_ros_audio_capture.py", "audio_recorder.py")
NODE = INSTALL_SPACES["avs_ros"] / "lib" / "avs_ros" / "audio_capture_node"
RATE, CHUNK = 16000, 800
BLOCK = 400    # samples per block compared


def _need(ok: bool, what: str) -> None:
    if not ok:
        message = f"{what} (run scripts/setup_audio.sh)"
        if require_ros():
            pytest.fail(message + " [AVS_REQUIRE_ROS is set]", pytrace=False)
        pytest.skip(message)


def _wait_for(what: str, done, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def pulse(tmp_path):
    """A private PulseAudio server (own runtime folder, no default modules) with a 16 kHz mono
    null sink ``avs_sink``; yields the client environment. Stopped by its pid afterwards."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        _need(shutil.which(tool) is not None, f"{tool} not found")
    runtime = tmp_path / "pulse"
    runtime.mkdir()
    env = dict(os.environ, PULSE_RUNTIME_PATH=str(runtime), PULSE_STATE_PATH=str(runtime),
               PULSE_SERVER=f"unix:{runtime}/native", PULSE_SOURCE="avs_sink.monitor")
    server = subprocess.Popen(
        ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n",
         "--load=module-native-protocol-unix", "--log-target=stderr"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def up() -> bool:
            if server.poll() is not None:
                raise AssertionError(f"pulseaudio exited: {server.stderr.read()[-2000:]}")
            return subprocess.run(["pactl", "info"], env=env, capture_output=True,
                                  check=False).returncode == 0
        _wait_for("the PulseAudio server", up, 20)
        subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=avs_sink",
                        f"rate={RATE}", "channels=1", "format=s16le"],
                       env=env, check=True, capture_output=True)
        yield env
    finally:
        stop(server)


def _known_wav(path) -> np.ndarray:
    """2 s of band-limited noise (int16): unlike a tone, it aligns at exactly one offset."""
    rng = np.random.default_rng(1234)
    kernel = np.hanning(17)
    noise = np.convolve(rng.standard_normal(2 * RATE), kernel / kernel.sum(), "same")
    x = np.round(noise / noise.std() * 6000).clip(-32767, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(x.tobytes())
    return x


def _blocks_found(played: np.ndarray, captured: np.ndarray) -> tuple[int, int, list[int]]:
    """(blocks of ``played`` found sample-exact in ``captured``, blocks, where they were
    found in ``captured``)."""
    positions, found = [], 0
    total = len(played) // BLOCK
    y = captured.astype(np.float64)
    for b in range(total):
        block = played[b * BLOCK:(b + 1) * BLOCK]
        score = np.correlate(y, block.astype(np.float64), "valid")
        k = int(np.argmax(score))
        if np.array_equal(captured[k:k + BLOCK], block):
            found += 1
            positions.append(k)
    return found, total, positions


def test_capture_node_publishes_what_was_played(ros_build, pulse, tmp_path):
    _need(ros_build.run_python(["-c", "import pyaudio"], timeout=60).returncode == 0,
          "PyAudio is not installed in the ROS venv")
    played = _known_wav(tmp_path / "known.wav")
    ns = f"/avs_test_{ros_build.token}_mic"
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    device: pulse\n"
                      f"    sample_rate: {RATE}\n    channels: 1\n    chunk: {CHUNK}\n"
                      "    frame_id: test_mic\n")
    env = ros_build.env("ros_drivers")
    env.update({k: pulse[k] for k in ("PULSE_SERVER", "PULSE_SOURCE", "PULSE_RUNTIME_PATH")})
    ready = tmp_path / "ready"
    node = subprocess.Popen([str(ros_build.python), str(NODE), "--ros-args", "-r",
                             f"__ns:={ns}", "--params-file", str(params)], env=env,
                            cwd=ROS_BUILD, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    recorder = subprocess.Popen([str(ros_build.python), RECORDER, ns, str(ready),
                                 str(len(played) + RATE // 2), "60"], env=env, cwd=ROS_BUILD,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for("the recorder to subscribe", lambda: ready.exists() or
                  recorder.poll() is not None, 90)
        assert node.poll() is None, stop(node)[1][-3000:]
        subprocess.run(["paplay", "--device=avs_sink", "--latency-msec=200",
                        str(tmp_path / "known.wav")], env=pulse, check=True, timeout=30)
        rec_out, rec_err = recorder.communicate(timeout=90)
    finally:
        stop(recorder)
        node_err = stop(node)[1]
    assert recorder.returncode == 0, f"{rec_err[-2000:]}\nnode:\n{node_err[-3000:]}"
    out = json.loads(rec_out.strip().splitlines()[-1])
    assert out["info"] == {"channels": 1, "sample_rate": RATE, "sample_format": "S16LE",
                           "bitrate": RATE * 16, "coding_format": "wave"}
    assert out["frame_ids"] == ["test_mic"] and set(out["sizes"]) == {CHUNK}
    # Stamps come from the sample count: one chunk apart (50 ms), except after a resync.
    steps = np.diff(out["stamps"])
    assert (steps > 0).all()
    assert np.mean(steps == CHUNK * 10**9 // RATE) >= 0.9, steps
    captured = np.frombuffer(base64.b64decode(out["samples"]), dtype="<i2")
    # Sample-exact content (the sink runs at the WAV's rate and format, volume 100 %), in
    # order; a loaded machine may glitch a few blocks of the sound server, so 90 % must match.
    found, total, positions = _blocks_found(played, captured)
    assert found >= 0.9 * total, (found, total)
    assert (np.diff(positions) > 0).all(), positions
