"""``avs bench``: model-only latency of one preset on one backend and device, or a matrix.

One cell: batch 1, the preset's input size (224x224), random inputs in the model contract.
After ``--warmup`` runs, ``--runs`` timed runs give the median and p90 latency in ms and the
FPS at the median. Peak RSS is the process's high-water mark (``ru_maxrss``); for onnxruntime
the ONNX file is exported in a separate process so that the PyTorch model does not count. On
CUDA with the torch backend, peak GPU memory (``torch.cuda.max_memory_allocated``) is added.
Pre/post-processing (resize, log-mel, thresholding) is not included.

``--matrix``: presets x backends x devices, each cell in its own process (``avs bench ...
--json``), so that peak RSS, thread pools and allocator state do not leak between cells.
avsegformer_r50 (the public baseline) is always part of the matrix, so that every speed-up
ratio (baseline median / cell median, same backend and device) comes from the same run. GFLOPs
come from ``avs summary`` (PyTorch's FLOP counter, 2 FLOPs per multiply-add) in one more
process; the CPU floor is GFLOPs / ``--peak-gflops`` (default 270 GFLOP/s: PERF.md's 2048^3
matmul with 2 PyTorch threads on this project's Xeon; scaled by threads / 2 for other thread
counts, an assumption: pass the figure measured on another machine). A cell that cannot run
(e.g. CUDA absent) is kept in the JSON with its error and the exit status is 1.
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

from .backends import BACKEND_NAMES, Backend, create_backend
from .errors import BackendUnavailable
from .registry import PRESETS

#: the public baseline every matrix includes
BASELINE = "avsegformer_r50"
#: presets of the issue's targets (the matrix default)
TARGET_PRESETS = ("lightavseg_t", "lightavseg_l", "avesformer_r18", "avesformer_r50")
#: fp32 GFLOP/s of 2 PyTorch threads on this project's CPU (PERF.md)
PEAK_GFLOPS_2_THREADS = 270.0


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
    """The backend named by ``--backend`` for ``--preset``/``--checkpoint``/``--onnx``, with
    the torch options (--dtype, --compile, --cuda-graphs) or the onnxruntime ones (--provider).

    Raises:
        BackendUnavailable: see :func:`~avs_models.backends.create_backend`.
    """
    model = onnx_path = None
    if args.backend in ("torch", "auto") and (args.preset or args.checkpoint):
        from .export import load_model_for

        model, _ = load_model_for(args.preset, args.checkpoint)
        if args.image_size:
            model.contract = type(model.contract)(**{**model.contract.to_dict(),
                                                     "image_size": tuple(args.image_size)})
    if args.backend in ("onnxruntime", "auto"):
        onnx_path = Path(args.onnx) if args.onnx else workdir / "model.onnx"
        if not args.onnx:
            _export_in_subprocess(args.preset, args.checkpoint, onnx_path, args.image_size)
    options = {}
    if args.backend == "torch":
        options = {"dtype": args.dtype, "compile": args.compile, "cuda_graphs": args.cuda_graphs}
    elif args.backend == "onnxruntime" and args.provider:
        options = {"provider": args.provider}
    return create_backend(args.backend, model=model, onnx=onnx_path, device=args.device,
                          threads=args.threads, **options)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=list(PRESETS))
    parser.add_argument("--checkpoint", help="avs_ros checkpoint instead of random weights")
    parser.add_argument("--onnx", help="existing .onnx file (onnxruntime backend)")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="torch")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (auto: also 'auto')")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32",
                        help="torch: autocast precision (fp16/bf16 on CUDA only)")
    parser.add_argument("--compile", action="store_true", help="torch: torch.compile")
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="torch on CUDA: replay one captured CUDA graph per frame")
    parser.add_argument("--provider", choices=("cpu", "cuda", "tensorrt"),
                        help="onnxruntime execution provider (default: the device's)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op CPU threads")
    parser.add_argument("--runs", type=int, default=100, help="timed runs")
    parser.add_argument("--warmup", type=int, default=10, help="untimed warm-up runs")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--matrix", action="store_true",
                        help=f"presets x backends x devices, one process per cell ({BASELINE} "
                             "always included)")
    parser.add_argument("--presets", nargs="+", choices=list(PRESETS),
                        help=f"--matrix presets (default: {' '.join(TARGET_PRESETS)})")
    parser.add_argument("--backends", nargs="+", choices=BACKEND_NAMES,
                        default=["torch", "onnxruntime"], help="--matrix backends")
    parser.add_argument("--devices", nargs="+", default=["cpu"], help="--matrix devices")
    parser.add_argument("--peak-gflops", type=float,
                        help="CPU peak GFLOP/s for the floor column (default 270 x threads/2)")
    parser.add_argument("--out", help="--matrix: write the results as JSON here")


def run(args: argparse.Namespace) -> int:
    if args.matrix:
        from .bench_matrix import run_matrix

        return run_matrix(args)
    if not (args.preset or args.checkpoint or args.onnx):
        print("avs bench: give --preset, --checkpoint or --onnx", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="avs-bench-") as tmp:
        try:
            backend = make_backend(args, Path(tmp))
        except BackendUnavailable as exc:
            print(f"avs bench: {exc}", file=sys.stderr)
            return 3
        stats = time_backend(backend, args.runs, args.warmup)
    result = {"preset": args.preset, "checkpoint": args.checkpoint, "backend": backend.name,
              "device": backend.device, "threads": args.threads,
              "options": _options(args, backend),
              "image_size": list(backend.image_size), **stats,
              "peak_rss_mb": peak_rss_mb(), "torch": torch.__version__,
              "machine": platform.processor() or platform.machine()}
    if backend.device.startswith("cuda") and backend.name == "torch":
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated(backend.device) / 2**20
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.preset or args.checkpoint or args.onnx} [{backend.name}/{backend.device}, "
              f"{args.threads} threads, {backend.image_size[0]}x{backend.image_size[1]}]: "
              f"median {stats['median_ms']:.1f} ms, p90 {stats['p90_ms']:.1f} ms, "
              f"{stats['fps']:.1f} FPS, peak RSS {result['peak_rss_mb']:.0f} MiB")
    return 0


def _options(args: argparse.Namespace, backend: Backend) -> dict:
    """The backend options that were in effect (for the JSON record)."""
    if backend.name == "torch":
        return {"dtype": args.dtype, "compile": args.compile, "cuda_graphs": args.cuda_graphs}
    return {"provider": getattr(backend, "provider", None)}
