"""``avs summary``: the table of :func:`avs_models.summary.summarise` for the presets, or JSON."""
from __future__ import annotations

import argparse
import json
import sys

import torch

from avs_models.registry import PRESETS
from avs_models.summary import format_table, summarise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", action="append", choices=list(PRESETS),
                        help="preset(s) to summarise (repeatable; default: all)")
    parser.add_argument("--image-size", type=int, nargs=2, default=(224, 224),
                        metavar=("H", "W"), help="input size in px for the FLOP count")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count (faster)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(0)
    rows = [summarise(name, tuple(args.image_size), flops=not args.no_flops)
            for name in (args.preset or list(PRESETS))]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        print(format_table(rows))
    return 0
