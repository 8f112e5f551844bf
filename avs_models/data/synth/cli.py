"""The ``avs synth`` command: write a SynthAVS dataset in an AVSBench layout.

``avs synth --subset s4|ms3|avss --out DIR --clips N --seed S [--workers W]``
"""
from __future__ import annotations

import argparse
import logging
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``avs synth``."""
    parser.add_argument("--subset", required=True, choices=("s4", "ms3", "avss"),
                        help="AVSBench layout to write")
    parser.add_argument("--out", required=True, help="output folder (the subset folder is "
                        "created in it: Single-source, Multi-sources or AVSBench-semantic)")
    parser.add_argument("--clips", type=int, default=100, help="number of clips (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")


def run(args: argparse.Namespace) -> int:
    """Generate; print the output folder, the sound and background sources and the time.
    Returns 0, or 2 for invalid arguments."""
    from .generate import generate

    if args.clips < 1 or args.workers < 1:
        print(f"avs synth: --clips and --workers must be >= 1 (got {args.clips}, "
              f"{args.workers})", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.perf_counter()
    step = max(1, args.clips // 10)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            print(f"  {done}/{total} clips", file=sys.stderr)

    root = generate(args.subset, args.out, args.clips, args.seed, workers=args.workers,
                    progress=progress)
    print(f"wrote {args.clips} {args.subset} clips to {root} in "
          f"{time.perf_counter() - t0:.1f} s (details: {root / 'synthavs.json'})")
    return 0
