"""The ``avs synth`` command: write a SynthAVS dataset in an AVSBench layout, or a set of
training streams.

``avs synth --subset s4|ms3|avss --out DIR --clips N --seed S [--workers W]``
``avs synth --subset streams --out DIR --clips N --seed S [--duration 40] [--fps 5]``
"""
from __future__ import annotations

import argparse
import logging
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``avs synth``."""
    parser.add_argument("--subset", required=True, choices=("s4", "ms3", "avss", "streams"),
                        help="AVSBench layout to write, or 'streams': a set of training "
                        "streams (avs_models.data.synth.stream_set)")
    parser.add_argument("--out", required=True, help="output folder (the subset folder is "
                        "created in it: Single-source, Multi-sources, AVSBench-semantic or "
                        "Streams)")
    parser.add_argument("--clips", type=int, default=100,
                        help="number of clips, or of streams (default 100)")
    parser.add_argument("--duration", type=float, default=40.0,
                        help="streams only: length of each stream in s (default 40)")
    parser.add_argument("--fps", type=float, default=5.0,
                        help="streams only: annotated frames per second (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")


def run(args: argparse.Namespace) -> int:
    """Generate; print the output folder, the sound and background sources and the time.
    Returns 0, or 2 for invalid arguments."""
    from .generate import generate
    from .stream_set import generate_streams

    if args.clips < 1 or args.workers < 1:
        print(f"avs synth: --clips and --workers must be >= 1 (got {args.clips}, "
              f"{args.workers})", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.perf_counter()
    step = max(1, args.clips // 10)
    unit = "streams" if args.subset == "streams" else "clips"

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            print(f"  {done}/{total} {unit}", file=sys.stderr)

    if args.subset == "streams":
        if args.duration < 2 or args.fps <= 0:
            print(f"avs synth: --duration must be >= 2 and --fps > 0 (got {args.duration}, "
                  f"{args.fps})", file=sys.stderr)
            return 2
        root = generate_streams(args.out, args.clips, args.seed, args.duration, args.fps,
                                workers=args.workers, progress=progress)
    else:
        root = generate(args.subset, args.out, args.clips, args.seed, workers=args.workers,
                        progress=progress)
    what = unit if args.subset == "streams" else f"{args.subset} clips"
    print(f"wrote {args.clips} {what} to {root} in "
          f"{time.perf_counter() - t0:.1f} s (details: {root / 'synthavs.json'})")
    return 0
