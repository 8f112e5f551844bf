"""The ``avs bag`` command: write a ROS 2 bag from SynthAVS's stream mode or an AVSBench split.

``avs bag --source synth-stream --out BAG [--duration 20 --fps 15 --size 224 --depth ...]``
``avs bag --source avsbench --root DIR --task s4 --split test --out BAG [--clips N]``
"""
from __future__ import annotations

import argparse
import sys
import time

#: stamp of the first sample of written bags: 2023-11-14 22:13:20 UTC (fixed, so that equal
#: arguments give identical bags; any positive time works for ros2 bag play)
DEFAULT_START_NS = 1_700_000_000 * 1_000_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``avs bag``."""
    parser.add_argument("--source", required=True, choices=("synth-stream", "avsbench"),
                        help="SynthAVS stream mode, or an AVSBench split (S4/MS3/AVSS layout)")
    parser.add_argument("--out", required=True, help="bag folder to create")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap",
                        help="rosbag2 storage (default mcap)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--compressed", action="store_true",
                        help="JPEG sensor_msgs/CompressedImage instead of raw rgb8 Image")
    parser.add_argument("--audio-type", choices=("audio_data_stamped", "audio_stamped"),
                        default="audio_data_stamped",
                        help="audio_common_msgs flavour: ros-drivers AudioDataStamped + "
                             "AudioInfo (default) or mgonzs13 AudioStamped")
    parser.add_argument("--chunk-ms", type=float, nargs=2, default=(20.0, 100.0),
                        metavar=("MIN", "MAX"), help="audio message length range, ms "
                        "(drawn uniformly per message; default 20 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g = parser.add_argument_group("synth-stream")
    g.add_argument("--duration", type=float, default=20.0, help="seconds (default 20)")
    g.add_argument("--fps", type=float, default=15.0, help="frames per second (default 15)")
    g.add_argument("--size", type=int, nargs=2, default=(224, 224), metavar=("H", "W"),
                   help="frame size in px (default 224 224)")
    g.add_argument("--gt", choices=("binary", "semantic"), default="binary",
                   help="ground truth: 1 on sounding objects, or AVSS class ids")
    g.add_argument("--depth", action="store_true",
                   help="add registered depth (16UC1 mm, with a stereo sensor's noise and "
                        "holes), camera_info, and the geometry's ground truth (true depth, "
                        "instance ids) for avs replay's bearing and position errors")
    g.add_argument("--offscreen", type=int, default=0,
                   help="sound sources that are never in view (default 0): heard, never "
                        "segmented")
    g.add_argument("--exits", action="store_true",
                   help="objects may leave the view and come back")
    g = parser.add_argument_group("avsbench")
    g.add_argument("--root", help="task folder (Single-source, Multi-sources or AVSS root)")
    g.add_argument("--task", choices=("s4", "ms3", "avss"), default="s4")
    g.add_argument("--split", choices=("train", "val", "test"), default="test")
    g.add_argument("--clips", type=int, default=None, help="first N clips only (default all)")


def run(args: argparse.Namespace) -> int:
    """Write the bag; print what was written. Returns 0, 1 on a failure (message on
    stderr), 2 for invalid arguments."""
    from . import sources
    from .writer import write_bag

    if args.source == "avsbench":
        if not args.root:
            print("avs bag: --source avsbench needs --root (the task folder)", file=sys.stderr)
            return 2
        if args.depth:
            print("avs bag: --depth needs --source synth-stream (AVSBench has no depth)",
                  file=sys.stderr)
            return 2
        items = sources.avsbench(args.root, args.task, args.split, args.clips,
                                 start_ns=DEFAULT_START_NS)
        total = None
    else:
        items = sources.synth_stream(args.duration, args.fps, args.seed, tuple(args.size),
                                     args.gt, start_ns=DEFAULT_START_NS, depth=args.depth,
                                     offscreen=args.offscreen, exits=args.exits)
        total = int(args.duration * args.fps + 1e-9)
    from tqdm import tqdm

    t0 = time.perf_counter()
    bar = tqdm(total=total, unit="frame", desc="avs bag", file=sys.stderr, leave=False)
    try:
        summary = write_bag(items, args.out, args.storage, args.audio_type, args.compressed,
                            tuple(args.chunk_ms), args.seed, overwrite=args.overwrite,
                            progress=lambda n: bar.update(1))
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"avs bag: {exc}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    topics = ", ".join(f"{t} ({n})" for t, n in sorted(summary.counts.items()))
    print(f"wrote {summary.path} ({args.storage}): {summary.frames} frames, "
          f"{summary.audio_s:.1f} s of audio in {time.perf_counter() - t0:.1f} s; topics: {topics}")
    return 0
