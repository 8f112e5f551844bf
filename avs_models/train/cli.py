"""``avs train``: train a preset from a YAML config.

``avs train --config configs/<preset>_<task>.yaml [--out DIR] [--resume] [--data-root DIR]``

Several processes (GPUs, or CPU processes with gloo) through PyTorch's own launcher::

    torchrun --nproc_per_node=4 -m avs_ros.cli train --config configs/avesformer_r18_s4.yaml

``train.batch_size`` is per process; rank 0 validates and writes the checkpoints.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``avs train``."""
    parser.add_argument("--config", required=True, help="training config YAML (see configs/)")
    parser.add_argument("--out", help="run folder (default runs/<config name>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last.pt and trainer_state.pt")
    parser.add_argument("--data-root", help="override data.root of the config")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Train; print the best validation metrics as JSON. Returns 0, or 2 for a bad config,
    a missing dataset or a resume without a previous run."""
    from ..errors import PresetError
    from .config import ConfigError, load_config
    from .trainer import train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        cfg = load_config(args.config, {"data": {"root": args.data_root}}
                          if args.data_root else None)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"avs train: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    try:
        res = train(cfg, out, resume=args.resume, progress=not args.no_progress)
    except (ConfigError, PresetError, FileNotFoundError) as exc:
        print(f"avs train: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"out": str(out), "best": res.get("best"), "last": res.get("last"),
                          "epochs": res.get("epochs"), "steps": res.get("steps"),
                          "seconds": res.get("seconds"), "images_per_s": res.get("images_per_s"),
                          "peak_gpu_mb": res.get("peak_gpu_mb")}, indent=1))
    return 0
