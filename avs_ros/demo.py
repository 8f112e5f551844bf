"""The ``avs demo`` command, README's first command: a SynthAVS stream (20 s at 15 FPS,
224 x 224, with its ground truth) written as a ROS 2 bag, replayed through the node's pipeline
with the shipped default model on CPU, and J, F and FPS printed.

Everything lands in one folder (default ``runs/demo``, git-ignored; replaced on a re-run):
``input_bag/`` (the generated bag), ``bag/`` (inputs + the node's output topics, for
``ros2 bag play`` and RViz), ``overlay.mp4``, ``report.html``, ``metrics.json``,
``frames.csv``.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``avs demo``."""
    from .replay.cli import add_model_arguments

    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--duration", type=float, default=20.0, help="stream length, s (20)")
    parser.add_argument("--fps", type=float, default=15.0, help="camera frame rate (15)")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (0)")
    add_model_arguments(parser)
    # One thread unless asked: on a machine whose cores are busy with other work, torch's
    # thread pool makes a small model several times slower (measured here: LightAVSeg-T at
    # 224 px, 2 threads 476 ms per frame vs 1 thread 53 ms, 2 cores under load ~5).
    parser.set_defaults(threads=1)


def run(args: argparse.Namespace) -> int:
    """Generate, replay, print. Returns 0, or 1 when a step failed (message on stderr)."""
    from .bag import sources
    from .bag.cli import DEFAULT_START_NS
    from .bag.writer import write_bag
    from .replay.cli import load_model, print_summary
    from .replay.session import replay

    logging.basicConfig(level=logging.WARNING, format="avs demo: %(levelname)s: %(message)s")
    t0 = time.perf_counter()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    frames = int(args.duration * args.fps + 1e-9)
    print(f"[1/3] writing a {args.duration:g} s SynthAVS stream ({frames} frames at "
          f"{args.fps:g} FPS) to {out / 'input_bag'}", flush=True)
    try:
        from tqdm import tqdm

        with tqdm(total=frames, unit="frame", leave=False) as bar:
            write_bag(sources.synth_stream(args.duration, args.fps, args.seed,
                                           start_ns=DEFAULT_START_NS),
                      out / "input_bag", seed=args.seed, overwrite=True,
                      progress=lambda n: bar.update(1))
        print("[2/3] loading the model", flush=True)
        model = load_model(args)
        print(f"      {model.source} on {args.backend}/{args.device}", flush=True)
        print("[3/3] replaying through the node's pipeline", flush=True)
        data = replay(out / "input_bag", out, model)
    except Exception as exc:     # one line for the user; the traceback helps nobody here
        print(f"avs demo: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print()
    print_summary(data)
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; results in {out}:")
    print("  report.html   summary, plots and example frames (open in a browser)")
    print("  overlay.mp4   predicted masks over the camera, ground truth outlined in white")
    print(f"  bag/          inputs + /avs_node/{{mask,overlay,objects,markers}}: "
          f"ros2 bag play {out / 'bag'}")
    return 0
