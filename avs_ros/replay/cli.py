"""The ``avs replay`` command: a ROS 2 bag through the node's pipeline, offline.

``avs replay BAG --out DIR [--checkpoint FILE | --preset NAME] [--backend torch|onnxruntime]
[--device cpu] [--image-topic T --audio-topic T --audio-type auto|audio_data_stamped|
audio_stamped --gt-topic T] [--json]``

Prints J, F, frames processed and dropped, latency and FPS (or, with ``--json``, the
metrics.json summary on stdout), and writes into DIR what :mod:`.session` describes.
Exit status: 0 done, 1 the bag or model could not be used (message on stderr; partial results
in DIR when the run had started), 2 invalid arguments.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``avs replay``."""
    parser.add_argument("bag", help="rosbag2 folder (MCAP or sqlite3) or its .mcap/.db3 file")
    parser.add_argument("--out", required=True, help="output folder (created)")
    add_model_arguments(parser)
    g = parser.add_argument_group("topics (found by type when not given)")
    g.add_argument("--image-topic", help="sensor_msgs/Image or CompressedImage topic")
    g.add_argument("--audio-topic", help="audio_common_msgs stamped audio topic")
    g.add_argument("--audio-type", default="auto",
                   choices=("auto", "audio_data_stamped", "audio_stamped"),
                   help="audio flavour expected: ros-drivers AudioDataStamped or mgonzs13 "
                        "AudioStamped (default auto)")
    g.add_argument("--audio-info-topic", default="/audio/audio_info",
                   help="AudioInfo topic of AudioDataStamped audio (default /audio/audio_info)")
    g.add_argument("--gt-topic", default="/avs/gt_mask",
                   help="mono8 ground-truth topic, used when present (default /avs/gt_mask)")
    g.add_argument("--depth-topic", default="/camera/depth_registered/image_raw",
                   help="registered depth (16UC1/32FC1), used with the bag's CameraInfo topic "
                        "for 3-D positions when present (default "
                        "/camera/depth_registered/image_raw)")
    g = parser.add_argument_group("node parameters")
    g.add_argument("--max-skew-s", type=float, default=0.15,
                   help="longest wait for a frame's audio after it arrived, s (default 0.15)")
    g.add_argument("--audio-buffer-s", type=float, default=5.0, help="audio kept, s (default 5)")
    g.add_argument("--score-threshold", type=float, default=0.5,
                   help="probability a pixel must exceed (default 0.5)")
    g.add_argument("--min-area-px", type=int, default=16,
                   help="smallest region reported as an object, px (default 16)")
    g.add_argument("--temporal-smoothing", type=float, default=0.0,
                   help="weight of the previous frames in the logits' moving average, in "
                        "[0, 1) (default 0: off)")
    g = parser.add_argument_group("output")
    g.add_argument("--storage", choices=("mcap", "sqlite3"),
                   help="storage of the output bag (default: the input's)")
    g.add_argument("--no-video", action="store_true", help="skip overlay.mp4")
    g.add_argument("--json", action="store_true",
                   help="print the summary as JSON on stdout (no progress bar)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model options shared with ``avs demo``."""
    g = parser.add_argument_group("model")
    g.add_argument("--checkpoint", default=None,
                   help="avs_ros/1 .pt checkpoint or .onnx file (default: the shipped model; "
                        "without one, --preset with RANDOM weights, warned)")
    g.add_argument("--preset", default="lightavseg_t",
                   help="preset for random weights / an ONNX file's contract "
                        "(default lightavseg_t)")
    g.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch")
    g.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    g.add_argument("--threads", type=int, default=None,
                   help="intra-op CPU threads (default: torch's choice; 1 is much faster for "
                        "small models when other work keeps the cores busy)")
    g.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="network input size, multiples of 32 (default: the model's; torch only)")


def load_model(args: argparse.Namespace):
    """The model named by the model options, loaded as the node loads it
    (:func:`avs_ros.core.model_source.load_backend`: a checkpoint, the shipped default, or
    the preset with random weights from seed 0), with a loud warning for random weights.

    Raises:
        ValueError, PresetError, CheckpointError, BackendUnavailable, FileNotFoundError:
            from the loader.
    """
    from avs_ros.core.model_source import load_backend

    model = load_backend(args.preset, args.checkpoint or "", args.backend, args.device,
                         args.threads or 0, tuple(args.image_size) if args.image_size else None)
    if model.random_weights:
        logging.getLogger("avs").warning(
            "no checkpoint given and no shipped checkpoint for this preset: running %s; RANDOM "
            "weights segment nothing meaningful and J/F mean nothing (pass --checkpoint)",
            model.source)
    return model


def print_summary(data: dict, stream=sys.stdout) -> None:
    """The human-readable lines of a run's summary."""
    m, fr, lat = data.get("metrics") or {}, data["frames"], data["latency"]

    def num(v, fmt="{:.1f}"):
        return "n/a" if v is None else fmt.format(v)

    if m.get("task") == "binary":
        print(f"J {100 * m['J']:.1f}  F {100 * m['F']:.1f}  (AVSBench semantics, {m['frames']} "
              f"frames, {m['groups']} group(s))", file=stream)
    elif m.get("task") == "semantic":
        print(f"mIoU {100 * m['mIoU']:.1f}  F {100 * m['F']:.1f}  ({m['frames']} frames)",
              file=stream)
    else:
        print("no ground truth in the bag: no J/F", file=stream)
    if data.get("stream"):
        from .stream_metrics import format_summary

        for line in format_summary(data["stream"]):
            print(line, file=stream)
    print(f"frames: {fr['in_bag_read']} read, {fr['processed']} processed, "
          f"{fr['waiting_for_audio']} before the audio stream's first full window, dropped "
          f"{fr['dropped_no_audio']} (no audio within max skew) + {fr['dropped_audio_gone']} "
          f"(audio window evicted)", file=stream)
    rt = data.get("realtime_policy") or {}
    print(f"latency: processing p50 {num(lat['processing_p50_ms'])} ms, p95 "
          f"{num(lat['processing_p95_ms'])} ms; compute FPS {num(lat['compute_fps'])}; real-time "
          f"policy here: {rt.get('processed', 'n/a')} frames at {num(lat['realtime_fps'])} FPS, "
          f"{rt.get('dropped_superseded', 'n/a')} superseded, end-to-end p50 "
          f"{num(lat['realtime_p50_ms'])} ms", file=stream)
    if data.get("geometry"):
        from .geometry_eval import format_summary

        geo = data["geometry"]
        if geo["errors"]:
            print(format_summary(geo["errors"]), file=stream)
        print(f"3-D step p50 {num(geo['step_p50_ms'], '{:.2f}')} ms; incidents "
              f"{geo['incidents'] or 'none'}", file=stream)
    if data["bad_messages"]:
        print(f"bad messages: {data['bad_messages']} (e.g. {data['bad_message_examples'][0]})",
              file=stream)
    if data["random_weights"]:
        print("WARNING: random weights; the masks and scores mean nothing", file=stream)


def run(args: argparse.Namespace) -> int:
    """Replay; see the module docstring for output and exit status."""
    from avs_models.errors import AVSInputError, BackendUnavailable, CheckpointError, PresetError

    from ..bag.reader import BagError, BagReader
    from ..core.errors import StageError
    from .evaluation import GroundTruthError
    from .session import ReplayOptions, replay

    logging.basicConfig(level=logging.WARNING, format="avs replay: %(levelname)s: %(message)s")
    if args.max_skew_s < 0 or args.audio_buffer_s <= 1.0 or not 0 <= args.score_threshold < 1 \
            or not 0 <= args.temporal_smoothing < 1:
        print("avs replay: need --max-skew-s >= 0, --audio-buffer-s > 1, --score-threshold "
              "and --temporal-smoothing in [0, 1)", file=sys.stderr)
        return 2
    try:     # the bag's topics first: a bad bag fails before the model is loaded
        BagReader(args.bag, args.image_topic, args.audio_topic, args.audio_type,
                  args.audio_info_topic, args.gt_topic).close()
    except BagError as exc:
        print(f"avs replay: {exc}", file=sys.stderr)
        return 1
    try:
        model = load_model(args)
    except (ValueError, PresetError, CheckpointError, BackendUnavailable,
            FileNotFoundError) as exc:
        print(f"avs replay: cannot load the model: {exc}", file=sys.stderr)
        return 1
    opts = ReplayOptions(args.image_topic, args.audio_topic, args.audio_type,
                         args.audio_info_topic, args.gt_topic, max_skew_s=args.max_skew_s,
                         audio_buffer_s=args.audio_buffer_s,
                         score_threshold=args.score_threshold, min_area_px=args.min_area_px,
                         temporal_smoothing=args.temporal_smoothing,
                         video=not args.no_video, storage=args.storage,
                         depth_topic=args.depth_topic)
    try:
        data = replay(args.bag, args.out, model, opts,
                      progress=not (args.json or args.no_progress))
    except (BagError, GroundTruthError, AVSInputError, StageError) as exc:
        print(f"avs replay: {exc}", file=sys.stderr)
        if Path(args.out, "metrics.json").is_file():
            print(f"avs replay: partial results in {args.out}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print_summary(data)
        print(f"outputs in {args.out}: report.html, overlay.mp4, bag/, metrics.json, frames.csv")
    return 0
