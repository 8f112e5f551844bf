"""``avs bench``: model-only latency of one preset on one backend and device.

Batch 1, the preset's input size (224x224), random inputs in the model contract. After
``--warmup`` runs, ``--runs`` timed runs give the median and p90 latency in ms and the FPS at
the median. Peak RSS is the process's high-water mark (``ru_maxrss``); for onnxruntime the
ONNX file is exported in a separate process so that the PyTorch model does not count.
Pre/post-processing (resize, log-mel, thresholding) is not included.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from .backends import BACKENDS, Backend, OnnxRuntimeBackend, TorchBackend
from .registry import PRESETS


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_backend(backend: Backend, runs: int = 100, warmup: int = 10,
                 seed: int = 0) -> dict:
    """Latency statistics of ``backend.infer`` at batch 1 on fixed random inputs.

    Returns a dict with median_ms, p90_ms, mean_ms, min_ms, fps (1000 / median), runs.
    Raises ValueError when runs < 1.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    backend.warmup(warmup, seed=seed)
    rng = np.random.default_rng(seed + 1)
    h, w = backend.image_size
    image = rng.standard_normal((1, 3, h, w), dtype=np.float32)
    audio = rng.standard_normal((1, 1, 96, 64), dtype=np.float32)
    times = []
    for _ in range(runs):
        backend.infer(image, audio)
        times.append(backend.last_latency_ms)
    t = np.asarray(times)
    median = float(np.median(t))
    return {"median_ms": median, "p90_ms": float(np.percentile(t, 90)),
            "mean_ms": float(t.mean()), "min_ms": float(t.min()),
            "fps": 1000.0 / median, "runs": runs}


def _export_in_subprocess(preset: str | None, checkpoint: str | None, out: Path,
                          image_size: list[int] | None) -> None:
    cmd = [sys.executable, "-m", "avs_ros.cli", "export", "--out", str(out), "--no-check"]
    cmd += ["--preset", preset] if preset else []
    cmd += ["--checkpoint", checkpoint] if checkpoint else []
    cmd += ["--image-size", *map(str, image_size)] if image_size else []
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def make_backend(args: argparse.Namespace, workdir: Path) -> Backend:
    """The backend named by ``--backend`` for ``--preset``/``--checkpoint``/``--onnx``."""
    if args.backend == "torch":
        from .export import load_model_for

        model, _ = load_model_for(args.preset, args.checkpoint)
        if args.image_size:
            model.contract = type(model.contract)(**{**model.contract.to_dict(),
                                                     "image_size": tuple(args.image_size)})
        return TorchBackend(model, args.device, args.threads)
    onnx_path = Path(args.onnx) if args.onnx else workdir / "model.onnx"
    if not args.onnx:
        _export_in_subprocess(args.preset, args.checkpoint, onnx_path, args.image_size)
    return OnnxRuntimeBackend(onnx_path, args.device, args.threads)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=list(PRESETS))
    parser.add_argument("--checkpoint", help="avs_ros checkpoint instead of random weights")
    parser.add_argument("--onnx", help="existing .onnx file (onnxruntime backend)")
    parser.add_argument("--backend", choices=BACKENDS, default="torch")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="intra-op CPU threads")
    parser.add_argument("--runs", type=int, default=100, help="timed runs")
    parser.add_argument("--warmup", type=int, default=10, help="untimed warm-up runs")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    if not (args.preset or args.checkpoint or args.onnx):
        print("avs bench: give --preset, --checkpoint or --onnx", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="avs-bench-") as tmp:
        backend = make_backend(args, Path(tmp))
        stats = time_backend(backend, args.runs, args.warmup)
    result = {"preset": args.preset, "checkpoint": args.checkpoint, "backend": args.backend,
              "device": args.device, "threads": args.threads,
              "image_size": list(backend.image_size), **stats,
              "peak_rss_mb": peak_rss_mb(), "torch": torch.__version__,
              "machine": platform.processor() or platform.machine()}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.preset or args.checkpoint or args.onnx} [{args.backend}/{args.device}, "
              f"{args.threads} threads, {backend.image_size[0]}x{backend.image_size[1]}]: "
              f"median {stats['median_ms']:.1f} ms, p90 {stats['p90_ms']:.1f} ms, "
              f"{stats['fps']:.1f} FPS, peak RSS {result['peak_rss_mb']:.0f} MiB")
    return 0
