"""``avs bench``: model-only latency of one preset on one backend and device, or a matrix.

One cell: batch 1, the preset's input size (224x224), random inputs in the model contract.
After ``--warmup`` runs, ``--runs`` timed runs give the median and p90 latency in ms and the
FPS at the median. Peak RSS is the process's high-water mark (``ru_maxrss``); for onnxruntime
the ONNX file is exported in a separate process so that the PyTorch model does not count. On
CUDA with the torch backend, peak GPU memory (``torch.cuda.max_memory_allocated``, weights
included) of the timed runs is added, and apart the warm-up's (``peak_gpu_mb_warmup``: with
``cudnn.benchmark`` the algorithm search may try workspaces as large as the free memory; 133
GiB on an H200 for fp32 AVESFormer). Latency is host to host (the input copy to the device
and the logits' copy back included), as the node sees it. Pre/post-processing (resize,
log-mel, thresholding) is not included. The first warm-up call is timed apart (``first_call_ms``): for ``compile`` modes
it is the compile time.

Torch modes (``--modes``, several in one process, each with its own backend and peak-memory
reset): ``DTYPE[+graphs][+compile]`` with DTYPE fp32, fp16 or bf16 (autocast); ``+graphs``
replays one captured CUDA graph; ``+compile`` is ``torch.compile`` (inductor), with ``+graphs``
its ``reduce-overhead`` mode (inductor's own CUDA graphs). ``--profile N`` adds a
``torch.profiler`` summary of N more inferences per mode (:mod:`.profile`).

``--matrix``: presets x backends x devices (x torch modes), each cell in its own process
(``avs bench ... --json``), so that peak RSS, thread pools and allocator state do not leak
between cells; on CUDA the torch modes of one preset share a process (see :mod:`.matrix`).
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
import logging
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from avs_models.backends import BACKEND_NAMES, Backend, create_backend
from avs_models.errors import BackendUnavailable
from avs_models.registry import PRESETS

log = logging.getLogger("avs.bench")

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
                 seed: int = 0, after_warmup=None) -> dict:
    """Latency statistics of ``backend.infer`` at batch 1 on fixed random inputs.

    Returns a dict with median_ms, p90_ms, mean_ms, min_ms, fps (1000 / median), runs, and
    first_call_ms (the first warm-up call: compilation, cuDNN algorithm search, CUDA graph
    trees; None when ``warmup`` is 0). ``after_warmup``: called between warm-up and timing.
    Raises ValueError when runs < 1.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    first_call_ms = None
    if warmup > 0:
        backend.warmup(1, seed=seed)
        first_call_ms = backend.last_latency_ms
        backend.warmup(warmup - 1, seed=seed + 2)
    if after_warmup is not None:
        after_warmup()
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
            "fps": 1000.0 / median, "runs": runs, "first_call_ms": first_call_ms}


def _export_in_subprocess(preset: str | None, checkpoint: str | None, out: Path,
                          image_size: list[int] | None) -> None:
    cmd = [sys.executable, "-m", "avs_ros.cli", "export", "--out", str(out), "--no-check"]
    cmd += ["--preset", preset] if preset else []
    cmd += ["--checkpoint", checkpoint] if checkpoint else []
    cmd += ["--image-size", *map(str, image_size)] if image_size else []
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


#: the torch modes of ``--modes``: DTYPE[+graphs][+compile]
DTYPE_NAMES = ("fp32", "fp16", "bf16")


def parse_mode(mode: str) -> dict:
    """``"fp16+graphs"`` -> ``{"dtype": "fp16", "cuda_graphs": True, "compile": False}``.

    Raises:
        ValueError: an unknown dtype or flag (the message lists the grammar).
    """
    dtype, *flags = mode.split("+")
    if dtype not in DTYPE_NAMES or set(flags) - {"graphs", "compile"} \
            or len(flags) != len(set(flags)):
        raise ValueError(f"torch mode must be DTYPE[+graphs][+compile] with DTYPE one of "
                         f"{DTYPE_NAMES}, got {mode!r}")
    return {"dtype": dtype, "cuda_graphs": "graphs" in flags, "compile": "compile" in flags}


def mode_name(options: dict) -> str:
    """Inverse of :func:`parse_mode`."""
    return options["dtype"] + ("+graphs" if options["cuda_graphs"] else "") \
        + ("+compile" if options["compile"] else "")


def _load_model(args: argparse.Namespace):
    from avs_models.export import load_model_for

    model, _ = load_model_for(args.preset, args.checkpoint)
    if args.image_size:
        model.contract = type(model.contract)(**{**model.contract.to_dict(),
                                                 "image_size": tuple(args.image_size)})
    return model


def make_backend(args: argparse.Namespace, workdir: Path, model=None,
                 torch_options: dict | None = None) -> Backend:
    """The backend named by ``--backend`` for ``--preset``/``--checkpoint``/``--onnx``, with
    the torch options (``torch_options``, else --dtype, --compile, --cuda-graphs) or the
    onnxruntime ones (--provider). ``model``: an already loaded model to reuse (torch).

    Raises:
        BackendUnavailable: see :func:`~avs_models.backends.create_backend`.
    """
    onnx_path = None
    if model is None and args.backend in ("torch", "auto") and (args.preset or args.checkpoint):
        model = _load_model(args)
    if args.backend in ("onnxruntime", "auto"):
        onnx_path = Path(args.onnx) if args.onnx else workdir / "model.onnx"
        if not args.onnx and not onnx_path.exists():
            _export_in_subprocess(args.preset, args.checkpoint, onnx_path, args.image_size)
    options = {}
    if args.backend == "torch":
        options = torch_options or {"dtype": args.dtype, "compile": args.compile,
                                    "cuda_graphs": args.cuda_graphs}
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
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="fp32",
                        help="torch: autocast precision (fp16/bf16 on CUDA only)")
    parser.add_argument("--compile", action="store_true", help="torch: torch.compile")
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="torch on CUDA: replay one captured CUDA graph per frame")
    parser.add_argument("--modes", nargs="+", metavar="MODE",
                        help="torch: several modes DTYPE[+graphs][+compile] (e.g. fp32 fp16 "
                             "bf16+graphs fp16+graphs+compile) instead of --dtype/--compile/"
                             "--cuda-graphs; one result per mode (with --matrix: per cell)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="torch: add a torch.profiler summary of N more inferences "
                             "(kernels per frame, device time, top ops)")
    parser.add_argument("--provider", choices=("cpu", "cuda", "tensorrt"),
                        help="onnxruntime execution provider (default: the device's)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op CPU threads")
    parser.add_argument("--runs", type=int, default=100, help="timed runs")
    parser.add_argument("--warmup", type=int, default=10, help="untimed warm-up runs")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"))
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (one line per mode with --modes)")
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
    parser.add_argument("--cell-timeout-s", type=float,
                        help="--matrix: stop a cell's process after this many seconds (kept "
                             "as an error)")
    parser.add_argument("--out", help="--matrix: write the results as JSON here")


def run(args: argparse.Namespace) -> int:
    if args.matrix:
        from .matrix import run_matrix

        return run_matrix(args)
    if not (args.preset or args.checkpoint or args.onnx):
        print("avs bench: give --preset, --checkpoint or --onnx", file=sys.stderr)
        return 2
    try:
        modes = [parse_mode(m) for m in args.modes] if args.modes else [None]
    except ValueError as exc:
        print(f"avs bench: {exc}", file=sys.stderr)
        return 2
    if args.modes and args.backend != "torch":
        print("avs bench: --modes needs --backend torch", file=sys.stderr)
        return 2
    model = _load_model(args) if args.backend == "torch" and args.modes else None
    code = 0
    with tempfile.TemporaryDirectory(prefix="avs-bench-") as tmp:
        for options in modes:
            try:
                result = _bench_one(args, Path(tmp), model, options)
            except BackendUnavailable as exc:
                print(f"avs bench: {exc}", file=sys.stderr)
                if not args.modes:
                    return 3
                result, code = {"mode": mode_name(options), "error": str(exc)}, 3
            except Exception as exc:          # one mode failing must not lose the others
                if not args.modes:
                    raise
                log.exception("avs bench: mode %s failed", mode_name(options))
                result, code = {"mode": mode_name(options),
                                "error": f"{type(exc).__name__}: {exc}"[:500]}, 1
            _print_result(args, result)
    return code


def _bench_one(args: argparse.Namespace, workdir: Path, model, options: dict | None) -> dict:
    """One backend built, timed (and profiled), freed; its JSON record."""
    import gc

    on_cuda = args.device.startswith("cuda")
    if on_cuda and torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(args.device)
    backend = make_backend(args, workdir, model, options)
    gpu = backend.device.startswith("cuda") and backend.name == "torch"
    peak_warm = {}

    def steady_state() -> None:        # cuDNN's algorithm search can take any free memory
        if gpu:
            peak_warm["mb"] = torch.cuda.max_memory_allocated(backend.device) / 2**20
            torch.cuda.reset_peak_memory_stats(backend.device)

    stats = time_backend(backend, args.runs, args.warmup, after_warmup=steady_state)
    result = {"preset": args.preset, "checkpoint": args.checkpoint, "backend": backend.name,
              "device": backend.device, "threads": args.threads,
              "options": _options(args, backend, options),
              "image_size": list(backend.image_size), **stats,
              "peak_rss_mb": peak_rss_mb(), "torch": torch.__version__,
              "machine": platform.processor() or platform.machine()}
    if backend.name == "torch":
        result["mode"] = mode_name(result["options"])
    if gpu:
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated(backend.device) / 2**20
        result["peak_gpu_mb_warmup"] = peak_warm.get("mb")
    if args.profile and backend.name == "torch":
        from .profile import profile_backend

        try:
            result["profile"] = profile_backend(backend, args.profile)
        except Exception as exc:      # a profiler failure must not lose the timed cell
            result["profile_error"] = f"{type(exc).__name__}: {exc}"
    del backend
    gc.collect()
    if options and options["compile"]:
        torch._dynamo.reset()           # the next mode compiles afresh
    return result


def _print_result(args: argparse.Namespace, result: dict) -> None:
    if args.json:
        print(json.dumps(result), flush=True)
        return
    if "error" in result:
        print(f"{args.preset} [{result['mode']}]: error: {result['error']}")
        return
    mode = f", {result['mode']}" if "mode" in result else ""
    print(f"{args.preset or args.checkpoint or args.onnx} [{result['backend']}/"
          f"{result['device']}{mode}, {args.threads} threads, {result['image_size'][0]}x"
          f"{result['image_size'][1]}]: median {result['median_ms']:.2f} ms, p90 "
          f"{result['p90_ms']:.2f} ms, {result['fps']:.1f} FPS, peak RSS "
          f"{result['peak_rss_mb']:.0f} MiB"
          + (f", peak GPU {result['peak_gpu_mb']:.0f} MiB" if "peak_gpu_mb" in result else ""))
    if "profile" in result:
        from .profile import format_profile

        print(format_profile(result["profile"]))


def _options(args: argparse.Namespace, backend: Backend, options: dict | None) -> dict:
    """The backend options that were in effect (for the JSON record)."""
    if backend.name == "torch":
        return dict(options) if options else {"dtype": args.dtype, "compile": args.compile,
                                              "cuda_graphs": args.cuda_graphs}
    return {"provider": getattr(backend, "provider", None)}
