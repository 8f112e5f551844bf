"""``avs node-bench``: end-to-end latency of the running avs_node, and its overhead.

Starts ``avs_node`` (the installed executable) as a process, publishes ``--frames`` images of
``--width`` x ``--height`` rgb8 with their audio (AudioDataStamped, S16LE 16 kHz, sent up to
the image's stamp just before it), one at a time, and times each from ``publish()`` to the
arrival of its ``~/mask`` (matched by stamp), in this process. The next frame goes out once
the node has published the frame's last output (``~/overlay``, or ``~/markers`` without it),
so each figure is the latency of a frame reaching an idle node: work the node does after the
mask (objects, markers, overlay) is not counted twice, as it would be if the next frame
queued behind it. The node's own per-stage
figures come from its ``/diagnostics`` (p50 over its last 100 frames). Printed: median and
p95 end-to-end latency, the node's model-inference time (``Backend.infer``), and the
difference (overhead), broken down into: DDS transport both ways with the image decode and
the executor (end-to-end minus the node's image-callback-to-mask-published time), the hand-over
from the image callback to the inference thread, resize + normalise, log-mel,
post-processing (mask and objects), and the rest (mask message, publishing); also the node
process's CPU time per timed frame, all threads (from /proc: a figure that other load on the
machine disturbs far less than wall times). Unless FASTDDS_DEFAULT_PROFILES_FILE is set, both
processes use the package's ``config/fastdds_large_data.xml`` (images larger than Fast DDS's
default 512 KiB shared-memory segment otherwise go over UDP fragments, which are lost under
load and repaired only at the next heartbeat, seconds later).

ROS environment: with ``--ros-build DIR`` (default ``build/ros`` when it exists: the output of
scripts/setup_ros.sh) the command re-runs itself in that build's environment (its install
spaces and the ros-drivers audio_common_msgs fixture, over the venv it was built with);
without one it runs in the current, sourced, ROS 2 environment.

With ``--depth`` the frames are SynthAVS stream frames (4 objects) with their registered
16UC1 depth and camera_info (:mod:`avs_models.data.synth.depth`), published just before each
image with its stamp, and the node's 3-D step (``geometry_p50_ms``: bearings and positions of
the frame's objects) is printed with the objects per frame and the share located.
"""
from __future__ import annotations

import argparse
import array
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

NS = 1_000_000_000
_CHILD = "AVS_NODE_BENCH_IN_ROS_ENV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``avs node-bench``."""
    parser.add_argument("--preset", default="lightavseg_t")
    parser.add_argument("--checkpoint", default="", help="empty: shipped model or random")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="0: library default")
    parser.add_argument("--image-size", type=int, nargs=2, default=[0, 0],
                        metavar=("H", "W"), help="network input; 0 0: the model's")
    parser.add_argument("--width", type=int, default=640, help="published image width, px")
    parser.add_argument("--height", type=int, default=480, help="published image height, px")
    parser.add_argument("--frames", type=int, default=100, help="timed frames")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames first")
    parser.add_argument("--no-overlay", action="store_true", help="publish_overlay: false")
    parser.add_argument("--depth", action="store_true",
                        help="SynthAVS frames with registered depth and camera_info: time the "
                             "node's 3-D step")
    parser.add_argument("--ros-build", default=None,
                        help="build/ros of scripts/setup_ros.sh (default: ./build/ros if any)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark (re-executing in the ROS build's environment where there is one)."""
    if args.frames < 1 or args.warmup < 0:
        print("avs node-bench: --frames must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    build = Path(args.ros_build) if args.ros_build else Path("build/ros")
    if os.environ.get(_CHILD) or (args.ros_build is None and not build.is_dir()):
        return _bench(args)
    if not (build / "python").is_file():
        print(f"avs node-bench: {build} is no ROS build (run scripts/setup_ros.sh)",
              file=sys.stderr)
        return 2
    python = Path((build / "python").read_text().strip())
    env = _overlay_env(build.resolve(), python)
    return subprocess.run([str(python), "-m", "avs_ros.node_bench", *_argv(args)], env=env,
                          cwd=build, check=False).returncode


def _argv(args: argparse.Namespace) -> list[str]:
    """The command line that gives ``args`` back (for the re-run)."""
    out = [f"--{k.replace('_', '-')}" for k in ("no_overlay", "json", "depth")
           if getattr(args, k)]
    for key in ("preset", "checkpoint", "backend", "device", "threads", "width", "height",
                "frames", "warmup"):
        out += [f"--{key}", str(getattr(args, key))]
    return out + ["--image-size", *map(str, args.image_size)]


def _overlay_env(build: Path, python: Path) -> dict[str, str]:
    """The environment of the build's install spaces (avs_ros, the ros-drivers fixture) over
    the venv, as sourcing their setup.sh would give."""
    prefixes = [build / "fixtures" / "ros_drivers" / "install", build / "install"]
    env = dict(os.environ, **{_CHILD: "1"})
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)   # let the venv's start-up hook run again
    site = "lib/python3.11/site-packages"    # the ROS 2 Kilted wheels are cp311 only

    def prepend(var: str, paths: list) -> None:
        env[var] = os.pathsep.join([str(p) for p in paths]
                                   + [p for p in env.get(var, "").split(os.pathsep) if p])

    prepend("AMENT_PREFIX_PATH", prefixes + [python.parent.parent])
    prepend("PYTHONPATH", [p / site for p in prefixes])
    prepend("LD_LIBRARY_PATH", [p / "lib" for p in prefixes])
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return env


def _params(args, ns: str) -> str:
    params = {"autostart": True, "preset": args.preset, "checkpoint": args.checkpoint,
              "backend": args.backend, "device": args.device, "threads": args.threads,
              "image_size": list(args.image_size), "input_reliability": "reliable",
              "image_topic": f"{ns}/image", "compressed_image_topic": "",
              "audio_topic": f"{ns}/audio", "audio_info_topic": f"{ns}/audio_info",
              "publish_overlay": not args.no_overlay, "max_skew_s": 1.0,
              "diagnostics_period_s": 0.5}
    if args.depth:
        params.update(camera_info_topic=f"{ns}/camera_info", depth_topic=f"{ns}/depth")
    return "/**:\n  ros__parameters:\n" + "".join(
        f"    {k}: {json.dumps(v)}\n" for k, v in params.items())


def _bench(args: argparse.Namespace) -> int:
    import rclpy
    from ament_index_python.packages import get_package_prefix
    from audio_common_msgs.msg import AudioDataStamped, AudioInfo
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from visualization_msgs.msg import MarkerArray

    from avs_ros.msg import SoundingObjectArray

    ns = f"/avs_bench_{uuid.uuid4().hex[:8]}"
    exe = Path(get_package_prefix("avs_ros")) / "lib" / "avs_ros" / "avs_node"
    # Raw 640x480 images exceed Fast DDS's default shared-memory segment (see the profile):
    # both processes get the package's large-data profile unless one is configured already.
    profile = Path(get_package_prefix("avs_ros")) / "share" / "avs_ros" / "config" \
        / "fastdds_large_data.xml"
    if "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ and profile.is_file():
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(_params(args, ns))
    node_proc = subprocess.Popen([sys.executable, str(exe), "--ros-args", "-r",
                                  f"__ns:={ns}", "--params-file", f.name],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rclpy.init()
    node = rclpy.create_node("avs_node_bench")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, f"{ns}/image", qos)
    audio_pub = node.create_publisher(AudioDataStamped, f"{ns}/audio", qos)
    audio_info_pub = node.create_publisher(AudioInfo, f"{ns}/audio_info", qos)
    masks: dict[int, float] = {}
    diagnostics: list[dict] = []
    node.create_subscription(Image, f"{ns}/avs_node/mask", lambda m: masks.setdefault(
        _stamp_ns(m.header), time.perf_counter()), qos)
    finished: set[int] = set()
    last_output, last_type = (("markers", MarkerArray) if args.no_overlay
                              else ("overlay", Image))
    node.create_subscription(last_type, f"{ns}/avs_node/{last_output}", lambda m: finished.add(
        _stamp_ns(m.markers[0].header if last_output == "markers" else m.header)), qos)
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: diagnostics.extend(
        {kv.key: kv.value for kv in s.values} for s in m.status
        if s.hardware_id == f"{ns}/avs_node"), qos)

    def spin_until(done, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if node_proc.poll() is not None:
                raise RuntimeError("avs_node exited")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            rclpy.spin_once(node, timeout_sec=0.001)

    rng = np.random.default_rng(0)
    if args.depth:
        frames, depths, camera = _synth_frames(args.height, args.width)
        info_pub = node.create_publisher(CameraInfo, f"{ns}/camera_info", qos)
        depth_pub = node.create_publisher(Image, f"{ns}/depth", qos)
        located: dict[int, tuple[int, int]] = {}
        node.create_subscription(SoundingObjectArray, f"{ns}/avs_node/objects", lambda m: (
            located.setdefault(_stamp_ns(m.header), (len(m.objects), sum(
                o.has_position for o in m.objects)))), qos)
    else:
        frames = [array.array("B", rng.integers(0, 256, args.width * args.height * 3,
                                                dtype=np.uint8).tobytes()) for _ in range(4)]
    audio_end = [time.time_ns() - 2 * NS]

    def send_audio(until_ns: int) -> None:
        n = (until_ns - audio_end[0]) * 16000 // NS
        if n <= 0:
            return
        msg = AudioDataStamped()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(audio_end[0], NS)
        pcm = (rng.standard_normal(n) * 3000).astype("<i2").tobytes()
        msg.audio.data = array.array("B", pcm)
        audio_pub.publish(msg)
        audio_end[0] += n * NS // 16000

    def one_frame(i: int, timeout: float) -> float | None:
        """Publish frame ``i`` with its audio; ms until its mask, None when it never came."""
        stamp = time.time_ns()
        send_audio(stamp + NS // 1000)   # 1 ms past the stamp: the window's last sample
        msg = Image(height=args.height, width=args.width, encoding="rgb8",
                    step=3 * args.width, data=frames[i % len(frames)])
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, NS)
        msg.header.frame_id = "camera"
        if args.depth:
            k = i % len(frames)
            depth = Image(header=msg.header, height=args.height, width=args.width,
                          encoding="16UC1", step=2 * args.width, data=depths[k])
            info = CameraInfo(header=msg.header, height=args.height, width=args.width,
                              distortion_model="plumb_bob", d=[0.0] * 5, k=camera.k,
                              p=camera.p, r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0])
            info_pub.publish(info)
            depth_pub.publish(depth)
        sent = time.perf_counter()
        image_pub.publish(msg)
        try:
            spin_until(lambda: stamp in masks, timeout, f"the mask of frame {i}")
            spin_until(lambda: stamp in finished, timeout, f"the {last_output} of frame {i}")
        except TimeoutError:
            return None
        return (masks[stamp] - sent) * 1e3

    e2e: list[float] = []
    lost = 0
    try:
        spin_until(lambda: all(p.get_subscription_count() for p in
                               (image_pub, audio_pub, audio_info_pub)), 180, "avs_node to start")
        audio_info_pub.publish(AudioInfo(channels=1, sample_rate=16000, sample_format="S16LE",
                                   bitrate=256000, coding_format="wave"))
        # Warm-up, also until both sides of DDS discovery are complete: the first messages
        # can be missed by a reader that has not matched the writer yet.
        warm, tries = 0, 0
        while warm < max(args.warmup, 1):
            tries += 1
            if tries > args.warmup + 30:
                raise RuntimeError("no mask came back during the warm-up")
            warm += one_frame(tries, 3.0) is not None
        cpu_before = _cpu_s(node_proc.pid)
        for i in range(args.frames):
            latency = one_frame(i, 10.0)
            if latency is None:
                lost += 1
            else:
                e2e.append(latency)
        cpu_ms = (_cpu_s(node_proc.pid) - cpu_before) * 1e3 / args.frames
        if not e2e:
            raise RuntimeError(f"all {lost} timed frames were lost")
        seen = len(diagnostics)
        spin_until(lambda: len(diagnostics) > seen, 10, "diagnostics")
    except (RuntimeError, TimeoutError) as exc:
        print(f"avs node-bench: {exc}", file=sys.stderr)
        return 1
    finally:
        node_proc.send_signal(signal.SIGINT)
        try:
            log = node_proc.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            node_proc.kill()
            log = node_proc.communicate()[1]
        if len(e2e) < args.frames:     # something went wrong: show the node's view
            print(f"avs_node's log:\n{log[:3000]}\n...\n{log[-3000:]}", file=sys.stderr)
        node.destroy_node()
        rclpy.try_shutdown()
        os.unlink(f.name)
    _report(args, np.asarray(e2e), lost, diagnostics[-1], cpu_ms,
            list(located.values()) if args.depth else None)
    return 0


def _cpu_s(pid: int) -> float:
    """CPU time in s (user + system, all threads) of process ``pid`` so far, from
    /proc/PID/stat; NaN where that cannot be read (not Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _synth_frames(height: int, width: int, count: int = 8):
    """SynthAVS stream frames (4 objects) as rgb8 bytes, their 16UC1 depth bytes and the
    camera (:class:`~avs_models.data.synth.depth.PinholeCamera`)."""
    from avs_models.data.synth.depth import DepthScene, PinholeCamera
    from avs_models.data.synth.stream import stream

    camera = PinholeCamera.with_fov((height, width))
    frames, depths, scene = [], [], None
    for f in stream(count / 5.0, fps=5.0, seed=3, size=(height, width), n_objects=4):
        scene = scene or DepthScene(camera, f.n_objects, seed=3)
        frames.append(array.array("B", f.image.tobytes()))
        depths.append(array.array("B", scene.sensor_depth(f.instances).astype("<u2").tobytes()))
    return frames, depths, camera


def _stamp_ns(header) -> int:
    return header.stamp.sec * NS + header.stamp.nanosec


def _report(args, e2e: np.ndarray, lost: int, diag: dict, cpu_ms: float,
            located: list[tuple[int, int]] | None = None) -> None:
    stage = {k: float(diag.get(f"{k}_p50_ms", "nan")) for k in
             ("handover", "preprocess", "logmel", "inference", "postprocess")}
    in_node = float(diag["node_latency_p50_ms"])
    figures = {
        "dds_profile": os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", "(Fast DDS default)"),
        "frames": int(e2e.size), "lost": lost, "image": f"{args.width}x{args.height} rgb8",
        "preset": args.preset, "backend": f"{args.backend}/{args.device}",
        "e2e_p50_ms": float(np.median(e2e)), "e2e_p95_ms": float(np.percentile(e2e, 95)),
        "inference_p50_ms": stage["inference"],
        "overhead_p50_ms": float(np.median(e2e)) - stage["inference"],
        "in_node_p50_ms": in_node, "transport_p50_ms": float(np.median(e2e)) - in_node,
        **{f"{k}_p50_ms": v for k, v in stage.items() if k != "inference"},
        # the node's p50s do not add up exactly (medians of different frames' figures)
        "rest_p50_ms": in_node - sum(v for v in stage.values() if v == v),
        "node_cpu_ms_per_frame": cpu_ms,
        **{f"node_{k}": int(diag[k]) for k in ("frames_received", "frames_processed",
                                               "dropped_frames", "dropped_no_audio",
                                               "dropped_audio_gone", "audio_gaps",
                                               "audio_overlaps", "audio_resets",
                                               "audio_messages")},
    }
    if located is not None:
        objects = sum(n for n, _ in located)
        figures.update(geometry_p50_ms=float(diag["geometry_p50_ms"]),
                       objects_per_frame=objects / max(1, len(located)),
                       located_fraction=sum(k for _, k in located) / max(1, objects),
                       geometry_incidents={k: int(diag[k]) for k in (
                           "bad_depth", "bad_camera_info", "depth_missing",
                           "camera_info_missing", "depth_invalid")})
    if args.json:
        print(json.dumps(figures))
        return
    print(f"avs node-bench: {figures['preset']} on {figures['backend']}, {figures['image']}, "
          f"{figures['frames']} frames (one in flight), {lost} lost; the node received "
          f"{figures['node_frames_received']}, processed {figures['node_frames_processed']}, "
          f"dropped {figures['node_dropped_frames']}")
    print(f"  DDS profile: {figures['dds_profile']}")
    for key, text in (("e2e_p50_ms", "end-to-end median (publish -> mask received)"),
                      ("e2e_p95_ms", "end-to-end p95"),
                      ("inference_p50_ms", "model inference median (node's Backend.infer)"),
                      ("overhead_p50_ms", "overhead = end-to-end - inference"),
                      ("transport_p50_ms", "  of which DDS both ways, decode, executor"),
                      ("handover_p50_ms", "  of which image callback -> inference thread"),
                      ("preprocess_p50_ms", "  of which resize + normalise"),
                      ("logmel_p50_ms", "  of which log-mel"),
                      ("postprocess_p50_ms", "  of which mask + objects"),
                      ("rest_p50_ms", "  of which the rest (mask message, publish)"),
                      ("node_cpu_ms_per_frame", "avs_node CPU time per frame (all threads)")):
        print(f"  {text:<48} {figures[key]:8.2f} ms")
    if located is not None:
        print(f"  {'3-D step median (bearings + positions)':<48} "
              f"{figures['geometry_p50_ms']:8.2f} ms  ({figures['objects_per_frame']:.1f} "
              f"objects per frame, {figures['located_fraction']:.0%} with a position; "
              f"incidents {figures['geometry_incidents']})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="avs node-bench")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
