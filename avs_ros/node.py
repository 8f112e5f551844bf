"""``avs_node``: audio-visual segmentation of a camera stream with its audio (lifecycle node).

Lifecycle: configure reads the parameters (see :mod:`avs_ros.core.node_config`), picks the
audio message flavour and the backend (exporting the ONNX file once where needed, see
:mod:`avs_ros.core.model_source`) and creates the publishers; activate loads the model and
subscribes;
deactivate unsubscribes and frees the model; cleanup removes the publishers. With
``autostart: true`` the node configures and activates itself. Parameter changes are checked
at once (a bad value is rejected with its reason) and take effect at the next configure.

Inputs: ``image_topic`` (sensor_msgs/Image) and/or ``compressed_image_topic``; ``audio_topic``
(audio_common_msgs AudioDataStamped + AudioInfo, or AudioStamped). Outputs, stamped with the
input image's header: ``~/mask`` (mono8 class ids), ``~/overlay`` (bgr8), ``~/objects``
(avs_ros/SoundingObjectArray), ``~/markers`` (MarkerArray), and ``/diagnostics``. With
``camera_info_topic`` (and ``depth_topic``: registered depth) the objects get bearings (and
3-D positions) in the image's optical frame (:mod:`avs_ros.core.geometry`), the markers are
drawn in 3-D and ``~/target`` (geometry_msgs/PointStamped) carries the strongest located one.

Threads: the executor runs the callbacks (decode, buffer, pair); one worker thread runs
inference on the newest ready frame (:class:`~avs_ros.core.pairing.FramePairer`), so audio
keeps flowing while the model runs and nothing queues up. Bad input is counted, logged
(throttled) and skipped: every per-message step (decode, audio, pairing, the pipeline's stages,
publishing) turns any exception into an incident of its kind and goes on.
"""
from __future__ import annotations

import gc
import importlib
import sys
import threading
import time

import cv2
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from avs_ros.msg import SoundingObjectArray

from . import ros_convert as conv
from .core import audio_msgs, node_config
from .core.audio_buffer import AudioBuffer
from .core.errors import StageError
from .core.health import FrameGapCounter, IncidentLog, build_report, describe, silence_warning
from .core.geometry import CameraModel, GeometryInputError, Localizer, decode_depth, strongest
from .core.image_codec import mask_to_mono8, rgb_to_bgr8
from .core.markers import object_markers
from .core.model_source import load_planned, plan_model
from .core.pairing import FramePairer
from .core.pipeline import STAGES, LatencyStats, Pipeline
from .core.postprocess import draw_overlay
from .core.shutdown import freeze_heap, ignore_interrupts

_TYPES = {"bool": ParameterType.PARAMETER_BOOL, "int": ParameterType.PARAMETER_INTEGER,
          "float": ParameterType.PARAMETER_DOUBLE, "str": ParameterType.PARAMETER_STRING,
          "int[]": ParameterType.PARAMETER_INTEGER_ARRAY,
          "str[]": ParameterType.PARAMETER_STRING_ARRAY}
_AUDIO_STATS = ("gaps", "overlaps", "resets", "rate_mismatches")
#: incident kinds counted on /diagnostics (a failing pipeline stage S counts as "S_error")
INCIDENTS = ("bad_image", "bad_audio", "bad_audio_info", "image_stamp_backwards",
             "preprocess_error", "logmel_error", "inference_error", "postprocess_error",
             "publish_error", "pairing_error")
#: geometry incidents (:meth:`Localizer.locate`, depth and camera_info decoding) counted
GEOMETRY_KINDS = ("bad_depth", "bad_camera_info", "depth_missing", "camera_info_missing",
                  "depth_invalid")
#: counters whose rise during a diagnostics period makes the status WARN
WATCHED = ("dropped_no_audio", "dropped_audio_gone", "audio_gaps", "audio_overlaps",
           "audio_resets", "audio_rate_mismatches", "image_gaps", *INCIDENTS,
           *GEOMETRY_KINDS[:-1])
OUT_QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)


class AvsNode(LifecycleNode):
    """The lifecycle node (see the module docstring).

    Raises:
        InvalidParameterValueException: a parameter override that fails its check.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("avs_node", **kwargs)
        self.add_on_set_parameters_callback(self._check_parameters)
        for p in node_config.PARAMETERS:
            self.declare_parameter(p.name, p.default, ParameterDescriptor(
                type=_TYPES[p.type], description=p.description))
        self._pubs: dict = {}
        self._subs: list = []
        self._timers: list = []
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pipeline: Pipeline | None = None
        self._info_format = None    # the last valid AudioInfo's format; survives reconfigure

    # ---- parameters --------------------------------------------------------------------
    def _check_parameters(self, params) -> SetParametersResult:
        for p in params:
            reason = node_config.check(p.name, p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _read_config(self) -> dict:
        cfg = {}
        for p in node_config.PARAMETERS:
            value = self.get_parameter(p.name).value
            cfg[p.name] = list(value) if p.type.endswith("[]") else value
        return cfg

    # ---- lifecycle ---------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        cfg = self._read_config()
        try:
            module = importlib.import_module("audio_common_msgs.msg")
        except ImportError:
            module = None
        try:
            self._flavour = audio_msgs.choose_flavour(module, cfg["audio_type"])
            if not (cfg["image_topic"] or cfg["compressed_image_topic"]):
                raise ValueError("set image_topic and/or compressed_image_topic")
            if cfg["depth_topic"] and not cfg["camera_info_topic"]:
                raise ValueError("depth_topic needs camera_info_topic (positions need the "
                                 "intrinsics)")
            if cfg["depth_min_m"] >= cfg["depth_max_m"]:
                raise ValueError(f"depth_min_m {cfg['depth_min_m']} must be below depth_max_m "
                                 f"{cfg['depth_max_m']}")
            fmt = self._info_format or audio_msgs.PcmFormat.from_parameters(
                cfg["audio_format"], cfg["audio_sample_rate"], cfg["audio_channels"])
            self._audio_reader = audio_msgs.AudioDataStampedReader(fmt)
            audio_msgs.preload(self._flavour)     # heavy imports here, not in a callback
            # the slow part (an ONNX export, once per checkpoint) happens here, not at activate
            self._plan = plan_model(cfg["preset"], cfg["checkpoint"], cfg["backend"],
                                    cfg["device"], tuple(cfg["image_size"])
                                    if any(cfg["image_size"]) else None)
        except Exception as exc:  # noqa: BLE001 - any failure fails the transition
            self.get_logger().error(f"configure failed: {type(exc).__name__}: {exc}")
            return TransitionCallbackReturn.FAILURE
        for note in self._plan.notes:
            self.get_logger().info(note)
        self._audio_cls = getattr(module, audio_msgs.FLAVOURS[self._flavour])
        self._info_cls = module.AudioInfo
        cfg["audio_topic"] = cfg["audio_topic"] or (
            "/audio/audio_stamped" if self._flavour == "audio_data_stamped" else "/audio")
        self._cfg = cfg
        self._pubs = {"mask": self.create_lifecycle_publisher(Image, "~/mask", OUT_QOS),
                      "objects": self.create_lifecycle_publisher(
                          SoundingObjectArray, "~/objects", OUT_QOS),
                      "markers": self.create_lifecycle_publisher(
                          MarkerArray, "~/markers", OUT_QOS),
                      "diagnostics": self.create_lifecycle_publisher(
                          DiagnosticArray, "/diagnostics", OUT_QOS)}
        if cfg["camera_info_topic"]:
            self._pubs["target"] = self.create_lifecycle_publisher(
                PointStamped, "~/target", OUT_QOS)
        if cfg["publish_overlay"]:
            self._pubs["overlay"] = self.create_lifecycle_publisher(Image, "~/overlay", OUT_QOS)
        self.get_logger().info(f"configured: audio {self._flavour} on {cfg['audio_topic']}, "
                               f"images on {cfg['image_topic'] or '-'} / "
                               f"{cfg['compressed_image_topic'] or '-'}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        cfg = self._cfg
        try:
            loaded = load_planned(self._plan, cfg["device"], cfg["threads"])
            names = cfg["class_names"] if any(cfg["class_names"]) else loaded.class_names
            # The overlay is drawn after the mask is out (see _process), not in the pipeline;
            # nothing the node publishes needs the frame-size probability map; objects are
            # found on the model's grid (a fifth of the frame-grid CPU time; as replay does).
            self._pipeline = Pipeline(loaded.backend, loaded.contract, names,
                                      cfg["score_threshold"], cfg["min_area_px"],
                                      overlay=False, probability=False, object_grid="model",
                                      temporal_smoothing=cfg["temporal_smoothing"])
        except Exception as exc:  # noqa: BLE001 - any loader failure fails the transition
            self.get_logger().error(f"activate failed, no model loaded: "
                                    f"{type(exc).__name__}: {exc}")
            self._pipeline = None
            return TransitionCallbackReturn.FAILURE
        if loaded.random_weights:
            self.get_logger().warning(
                f"RANDOM WEIGHTS: no checkpoint given and no shipped model for this preset; "
                f"{loaded.source} produces meaningless masks (set the checkpoint parameter)")
        else:
            self.get_logger().info(f"model loaded from {loaded.source}")
        self._window_ns = loaded.contract.window_samples * 10**9 // loaded.contract.sample_rate
        self._pairer = FramePairer(AudioBuffer(cfg["audio_buffer_s"]),
                                   loaded.contract.window_samples, cfg["max_skew_s"])
        self._incidents = IncidentLog(cfg["log_throttle_s"])
        self._frame_gaps = FrameGapCounter()
        self._latency = {k: LatencyStats() for k in ("age", "node", "handover", "geometry",
                                                      *STAGES)}
        self._localizer = Localizer(cfg["depth_tolerance_s"], cfg["min_valid_depth_fraction"],
                                    (cfg["depth_min_m"], cfg["depth_max_m"]))
        self._counts = {"frames_received": 0, "frames_processed": 0, "audio_messages": 0}
        self._previous: dict = {}
        self._heard = {"images": 0, "audio": 0}
        self._last_image_stamp = None
        ret = super().on_activate(state)
        self._subscribe(cfg)
        self._stop.clear()
        self._worker = threading.Thread(target=self._run_worker, name="avs_inference",
                                        daemon=True)
        self._worker.start()
        self._timers = [self.create_timer(cfg["diagnostics_period_s"], self._publish_diagnostics),
                        self.create_timer(cfg["no_input_warning_s"], self._warn_if_silent)]
        self.get_logger().info(f"active: {loaded.source} on {self._plan.backend}/"
                               f"{cfg['device']}, input {tuple(loaded.backend.image_size)}")
        return ret

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return self.on_cleanup(state)

    def _subscribe(self, cfg: dict) -> None:
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT
                         if cfg["input_reliability"] == "best_effort"
                         else ReliabilityPolicy.RELIABLE)
        audio_qos = QoSProfile(depth=100, reliability=qos.reliability)
        if cfg["image_topic"]:
            self._subs.append(self.create_subscription(Image, cfg["image_topic"],
                                                       self._on_image, qos))
        if cfg["compressed_image_topic"]:
            self._subs.append(self.create_subscription(
                CompressedImage, cfg["compressed_image_topic"], self._on_image, qos))
        self._subs.append(self.create_subscription(self._audio_cls, cfg["audio_topic"],
                                                   self._on_audio, audio_qos))
        if self._flavour == "audio_data_stamped":
            self._subs.append(self.create_subscription(
                self._info_cls, cfg["audio_info_topic"], self._on_audio_info, audio_qos))
        if cfg["camera_info_topic"]:
            self._subs.append(self.create_subscription(
                CameraInfo, cfg["camera_info_topic"], self._on_camera_info, qos))
        if cfg["depth_topic"]:
            self._subs.append(self.create_subscription(Image, cfg["depth_topic"],
                                                       self._on_depth, qos))

    def _release(self) -> None:
        """Stop the worker, unsubscribe, free the model (idempotent)."""
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        for sub in self._subs:
            self.destroy_subscription(sub)
        for timer in self._timers:
            self.destroy_timer(timer)
        self._subs, self._timers = [], []
        if self._pipeline is not None:
            device = self._pipeline.backend.device
            self._pipeline = None
            gc.collect()
            if device.startswith("cuda"):
                import torch

                torch.cuda.empty_cache()

    # ---- input callbacks ----------------------------------------------------------------
    def _incident(self, kind: str, text: str) -> None:
        suffix = self._incidents.record(kind, time.monotonic(), text)
        if suffix is not None:
            self.get_logger().warning(f"{kind}: {text}{suffix}")

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_image(self, msg) -> None:
        self._counts["frames_received"] += 1
        self._heard["images"] += 1
        stamp = audio_msgs.stamp_to_ns(msg.header.stamp)
        if self._last_image_stamp is not None and stamp < self._last_image_stamp:
            self._incident("image_stamp_backwards", f"image stamp {stamp} ns is "
                           f"{(self._last_image_stamp - stamp) / 1e6:.1f} ms before the previous")
        self._last_image_stamp = stamp
        self._frame_gaps.observe(stamp)
        try:
            rgb = conv.image_to_rgb(msg, tuple(self._cfg["max_image_size"]))
        except Exception as exc:  # noqa: BLE001 - any decoding failure is one bad image
            self._incident("bad_image", describe(exc))
            return
        try:
            self._pairer.add_frame(stamp, (msg.header, rgb, time.perf_counter()), self._now_ns())
        except Exception as exc:  # noqa: BLE001
            self._incident("pairing_error", describe(exc))
            return
        self._wake.set()

    def _on_audio(self, msg) -> None:
        self._counts["audio_messages"] += 1
        self._heard["audio"] += 1
        stats = self._pairer.buffer.stats
        before = [getattr(stats, k) for k in _AUDIO_STATS]
        stamp = None
        try:
            chunks = [audio_msgs.chunk_from_audio_stamped(msg)] \
                if self._flavour == "audio_stamped" else self._audio_reader.chunks(msg)
            for chunk in chunks:
                stamp = chunk.stamp_ns
                self._pairer.push_audio(chunk.stamp_ns, chunk.samples, chunk.sample_rate,
                                        chunk.channels, chunk.fmt)
        except Exception as exc:  # noqa: BLE001 - any failure is one bad audio message
            self._incident("bad_audio", describe(exc))
            return
        for key, old in zip(_AUDIO_STATS, before):
            if getattr(stats, key) > old:
                self._incident(f"audio_{key}", f"audio stream: {key.replace('_', ' ')} at "
                               f"stamp {stamp} ns (see the audio_* diagnostics)")
        self._wake.set()

    def _on_audio_info(self, msg) -> None:
        try:
            changed = self._audio_reader.set_info(msg)
        except Exception as exc:  # noqa: BLE001 - audio data is refused until a valid one
            self._info_format = None
            self._incident("bad_audio_info", describe(exc) + "; audio data is not decoded "
                           "until a valid AudioInfo arrives")
            return
        self._info_format = self._audio_reader.format
        if changed:
            self.get_logger().info(f"audio format from AudioInfo: {self._info_format}")

    def _on_camera_info(self, msg) -> None:
        try:
            self._localizer.set_camera(CameraModel.from_camera_info(msg))
        except GeometryInputError as exc:
            self._localizer.set_camera(None)
            self._incident(exc.kind, str(exc))
        except Exception as exc:  # noqa: BLE001 - anything else is one bad camera_info too
            self._localizer.set_camera(None)
            self._incident("bad_camera_info", describe(exc))

    def _on_depth(self, msg) -> None:
        try:
            self._localizer.depth.push(decode_depth(
                audio_msgs.stamp_to_ns(msg.header.stamp), msg.encoding, msg.height, msg.width,
                msg.step, msg.data, msg.is_bigendian))
        except GeometryInputError as exc:
            self._incident(exc.kind, str(exc))
        except Exception as exc:  # noqa: BLE001 - anything else is one bad depth image too
            self._incident("bad_depth", describe(exc))

    # ---- inference ----------------------------------------------------------------------
    def _run_worker(self) -> None:
        stats = self._pairer.stats
        while not self._stop.is_set():
            self._wake.wait(0.05)
            self._wake.clear()
            before = (stats.dropped_no_audio, stats.dropped_audio_gone)
            try:
                paired = self._pairer.take(self._now_ns())
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any frame
                self._incident("pairing_error", describe(exc))
                continue
            if stats.dropped_no_audio > before[0]:
                self._incident("dropped_no_audio", f"frame dropped: its audio had not arrived "
                               f"{self._cfg['max_skew_s']} s (max_skew_s) after it; audio ends "
                               f"at {self._pairer.buffer.end_ns} ns")
            if stats.dropped_audio_gone > before[1]:
                self._incident("dropped_audio_gone", "frame dropped: its audio window is "
                               "older than the audio buffer holds (or before a reset)")
            if paired is not None and not self._stop.is_set():
                try:
                    self._process(paired)
                except StageError as exc:
                    self._incident(f"{exc.stage}_error", str(exc))
                except Exception as exc:  # noqa: BLE001 - mask/objects/markers/overlay out
                    self._incident("publish_error", describe(exc))

    def _process(self, paired) -> None:
        header, rgb, arrival = paired.frame
        start = time.perf_counter()
        result = self._pipeline.process(rgb, paired.audio, paired.stamp_ns)
        self._pubs["mask"].publish(conv.fields_to_image(mask_to_mono8(result.mask), header))
        mask_ms = (time.perf_counter() - arrival) * 1e3
        geometry = self._locate(paired.stamp_ns, result)
        self._pubs["objects"].publish(conv.objects_to_msg(
            header, result.objects, paired.stamp_ns - self._window_ns, paired.stamp_ns,
            (time.perf_counter() - arrival) * 1e3, geometry))
        self._pubs["markers"].publish(conv.markers_to_msg(header, object_markers(
            result.objects, self._pipeline.palette, self._cfg["marker_m_per_px"],
            geometry=geometry, bearing_length_m=self._cfg["marker_bearing_length_m"])))
        target = strongest(result.objects, geometry) if geometry else None
        if target is not None:
            self._pubs["target"].publish(conv.target_to_msg(header, geometry[target]))
        if "overlay" in self._pubs:
            p = self._pipeline
            overlay = draw_overlay(rgb, result.mask, p.palette, p.overlay_alpha, p.outline_px)
            self._pubs["overlay"].publish(conv.fields_to_image(rgb_to_bgr8(overlay), header))
        done_s = time.monotonic()
        self._counts["frames_processed"] += 1
        self._latency["age"].add((self._now_ns() - paired.stamp_ns) / 1e6, done_s)
        self._latency["node"].add(mask_ms, done_s)
        self._latency["handover"].add((start - arrival) * 1e3, done_s)
        for stage in STAGES:
            self._latency[stage].add(result.timings_ms[stage], done_s)

    def _locate(self, stamp_ns: int, result) -> list | None:
        """3-D geometry of the frame's objects (None without camera_info_topic); incidents
        counted; its time goes to the ``geometry_p50_ms`` diagnostic."""
        if "target" not in self._pubs:
            return None
        t0 = time.perf_counter()
        geometry, incidents = self._localizer.locate(stamp_ns, result.mask, result.objects,
                                                     bool(self._cfg["depth_topic"]))
        self._latency["geometry"].add((time.perf_counter() - t0) * 1e3, time.monotonic())
        for kind, text in incidents:
            self._incident(kind, text)
        return geometry

    # ---- health -------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        pairing, audio = self._pairer.stats, self._pairer.buffer.stats
        lat = self._latency
        # node_latency: image callback -> mask published; handover: image callback ->
        # inference worker starts the frame
        figures = {"fps": lat["age"].fps, "latency_p50_ms": lat["age"].p50,
                   "latency_p95_ms": lat["age"].p95, "node_latency_p50_ms": lat["node"].p50,
                   "node_latency_p95_ms": lat["node"].p95, "handover_p50_ms": lat["handover"].p50}
        figures.update({f"{s}_p50_ms": lat[s].p50 for s in (*STAGES, "geometry")})
        counters = dict(self._counts)
        # every frame not processed; waiting_for_audio (before the audio stream started) is
        # listed apart from the audio losses below
        counters["dropped_frames"] = (pairing.waiting_for_audio + pairing.dropped_no_audio
                                      + pairing.dropped_audio_gone + pairing.dropped_superseded)
        counters.update(waiting_for_audio=pairing.waiting_for_audio,
                        dropped_no_audio=pairing.dropped_no_audio,
                        dropped_audio_gone=pairing.dropped_audio_gone,
                        dropped_superseded=pairing.dropped_superseded,
                        audio_gaps=audio.gaps, audio_gap_samples=audio.gap_samples,
                        audio_overlaps=audio.overlaps, audio_resets=audio.resets,
                        audio_rate_mismatches=audio.rate_mismatches,
                        image_gaps=self._frame_gaps.gaps,
                        image_frames_missing=self._frame_gaps.missing)
        for kind in (*INCIDENTS, *GEOMETRY_KINDS):
            counters[kind] = self._incidents.counts.get(kind, 0)
        report = build_report(counters, self._previous, figures, WATCHED)
        self._previous = counters
        header = Header(stamp=self.get_clock().now().to_msg())
        self._pubs["diagnostics"].publish(conv.report_to_msg(
            header, report, f"{self.get_name()}: pipeline", self.get_fully_qualified_name()))

    def _warn_if_silent(self) -> None:
        cfg = self._cfg
        inputs = {"images": [t for t in (cfg["image_topic"], cfg["compressed_image_topic"]) if t],
                  "audio": [cfg["audio_topic"]]}
        for kind, topics in inputs.items():
            if self._heard[kind] == 0:
                for topic in topics:
                    found = [str(info.qos_profile.reliability.name).lower()
                             for info in self.get_publishers_info_by_topic(topic)]
                    self.get_logger().warning(silence_warning(
                        topic, kind, cfg["no_input_warning_s"], cfg["input_reliability"], found))
            self._heard[kind] = 0


def main(args: list[str] | None = None) -> int:
    """Run the node until shut down (Ctrl-C); returns the exit code (2: bad parameters,
    1: autostart failed)."""
    rclpy.init(args=args)
    # Two Python threads (executor, inference) share the GIL: hand it over within 0.5 ms
    # instead of the default 5 ms, which otherwise adds up along the frame's path.
    sys.setswitchinterval(0.0005)
    # OpenCV's per-frame calls here take well under 1 ms each at 640x480; on busy cores its
    # worker threads only add waits for each other (post-processing 2-4x slower in wall time
    # on 2 loaded cores), and the cores are better left to inference.
    cv2.setNumThreads(1)
    node = None
    try:
        node = AvsNode()
        if node.get_parameter("autostart").value and (
                node.trigger_configure() != TransitionCallbackReturn.SUCCESS
                or node.trigger_activate() != TransitionCallbackReturn.SUCCESS):
            return 1
        rclpy.spin(node)
    except InvalidParameterValueException as exc:
        rclpy.logging.get_logger("avs_node").error(f"invalid parameter: {exc}")
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        ignore_interrupts()
    finally:
        ignore_interrupts()   # a second Ctrl-C must not break the cleanup below
        if node is not None:
            node._release()
            node.destroy_node()
        rclpy.try_shutdown()
        freeze_heap()
    return 0


if __name__ == "__main__":
    sys.exit(main())
