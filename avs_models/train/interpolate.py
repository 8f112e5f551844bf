"""``avs interpolate``: the WiSE-FT weight-space ensemble of a checkpoint and its fine-tuned
version (:func:`avs_models.checkpoints.interpolate_checkpoints`).

``avs interpolate START TUNED --alpha A --out OUT.pt [--half]``

A fine-tune that gains something new (e.g. empty masks on silent stream frames) often loses a
little of what the start could do (clip J); a point between the two sets of weights can keep
most of both. Evaluate the result with ``avs eval`` / ``scripts/eval_streams.sh`` as any checkpoint.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("start", help="avs_ros/1 checkpoint the fine-tune started from")
    parser.add_argument("tuned", help="avs_ros/1 checkpoint fine-tuned from START")
    parser.add_argument("--alpha", type=float, required=True,
                        help="weight of TUNED in [0, 1]: (1 - alpha) * START + alpha * TUNED")
    parser.add_argument("--out", required=True, help="checkpoint written (avs_ros/1)")
    parser.add_argument("--half", action="store_true",
                        help="store float16 weights, as the shipped release")


def run(args: argparse.Namespace) -> int:
    """Write the interpolated checkpoint. Returns 0, or 2 for a bad file or alpha."""
    from ..checkpoints import interpolate_checkpoints, write_checkpoint
    from ..errors import CheckpointError

    try:
        payload = interpolate_checkpoints(args.start, args.tuned, args.alpha, half=args.half)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"avs interpolate: {exc}", file=sys.stderr)
        return 2
    write_checkpoint(payload, args.out)
    print(f"{args.out}: {1 - args.alpha:g} x {args.start} + {args.alpha:g} x {args.tuned}")
    return 0
