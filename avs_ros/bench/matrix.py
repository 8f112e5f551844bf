"""``avs bench --matrix``: presets x backends x devices (x torch modes), JSON + table.

See :mod:`avs_ros.bench.cli` for what a cell measures and for the floor and speed-up columns.
Each cell runs in its own process, except on CUDA with ``--modes``: the torch modes of one
preset share a process (one model build and CUDA context instead of one per mode; each mode
gets its own backend, an emptied cache and a reset peak-memory counter), because on a GPU the
process start-up, not the timed runs, is most of a cell's time.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from .cli import BASELINE, PEAK_GFLOPS_2_THREADS, TARGET_PRESETS


#: the issue's CPU targets (model only, batch 1, 224x224): minimum FPS per preset
TARGET_FPS = {"lightavseg_t": 60.0, "lightavseg_l": 20.0, "avesformer_r18": 8.0}
#: avesformer_r50 must be at least this many times faster than the baseline
TARGET_SPEEDUP = {"avesformer_r50": 5.0}
#: PERF.md's anchor for the baseline (torch, CPU, 2 threads, 224x224): 600-650 ms, +-30 %
BASELINE_ANCHOR_MS = (600.0 * 0.7, 650.0 * 1.3)
#: the GPU issue's targets (model only, batch 1, 224x224, best torch mode): max median ms
TARGET_GPU_MS = {"avesformer_r18": 2.5, "avesformer_r50": 4.0, "lightavseg_t": 1.5,
                 "lightavseg_l": 1.5}
#: baseline median / avesformer_r50 median on the GPU (best mode of each), at least
TARGET_GPU_SPEEDUP = {"avesformer_r50": 3.0}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "avs_ros.cli", *args]


def cell_command(args: argparse.Namespace, preset: str, backend: str, device: str,
                 modes: list[str] | None = None) -> list[str]:
    """The ``avs bench ... --json`` command line of one cell (options that apply to the
    backend are passed on: ``modes`` or --dtype/--compile/--cuda-graphs for torch, --provider
    for onnxruntime)."""
    cmd = _cli("bench", "--preset", preset, "--backend", backend, "--device", device,
               "--threads", str(args.threads), "--runs", str(args.runs),
               "--warmup", str(args.warmup), "--json")
    if args.image_size:
        cmd += ["--image-size", *map(str, args.image_size)]
    if backend == "torch" and modes:
        cmd += ["--modes", *modes]
    elif backend == "torch":
        cmd += ["--dtype", args.dtype] + (["--compile"] if args.compile else []) \
            + (["--cuda-graphs"] if args.cuda_graphs else [])
    elif backend == "onnxruntime" and args.provider:
        cmd += ["--provider", args.provider]
    return cmd


def _json_lines(text: str | bytes | None) -> list[dict]:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    out = []
    for line in (text or "").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def run_cell(cmd: list[str], timeout_s: float | None = None) -> list[dict]:
    """Run one cell's process: its JSON results (one per mode), and ``{"error": last stderr
    line}`` (or a time-out) when it failed before printing any."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        return _json_lines(exc.stdout) + [{"error": f"timed out after {timeout_s:.0f} s",
                                           "returncode": None}]
    results = _json_lines(proc.stdout)
    if results:
        return results
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()] or ["no output"]
    return [{"error": lines[-1], "returncode": proc.returncode}]


def _cell_groups(args: argparse.Namespace, preset: str, backend: str, device: str):
    """The mode lists to run in one process each (None: the single --dtype/... cell)."""
    modes = getattr(args, "modes", None)
    if backend != "torch" or not modes:
        return [None]
    return [list(modes)] if device.startswith("cuda") else [[m] for m in modes]


def preset_gflops(presets: list[str], image_size: list[int] | None) -> dict[str, float]:
    """GFLOPs per preset at ``image_size`` (default 224x224), counted by ``avs summary`` in a
    separate process."""
    cmd = _cli("summary", "--json", "--image-size", *map(str, image_size or (224, 224)))
    for p in presets:
        cmd += ["--preset", p]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {row["preset"]: row["gflops"] for row in json.loads(out)}


def add_derived(cells: list[dict], gflops: dict[str, float], peak_gflops: float) -> None:
    """Add gflops, floor_ms (CPU cells only: GFLOPs / peak) and speedup_vs_baseline (baseline
    median / cell median on the same backend, device and torch mode) to each cell in
    place."""
    base = {(c["backend"], c["device"], c.get("mode")): c["median_ms"] for c in cells
            if c["preset"] == BASELINE and "median_ms" in c}
    for c in cells:
        c["gflops"] = gflops.get(c["preset"])
        c["floor_ms"] = c["gflops"] / peak_gflops * 1e3 \
            if c["gflops"] is not None and c["device"] == "cpu" else None
        ref = base.get((c["backend"], c["device"], c.get("mode")))
        c["speedup_vs_baseline"] = ref / c["median_ms"] if ref and "median_ms" in c else None


def check_targets(cells: list[dict]) -> list[dict]:
    """The issue's CPU targets against the best CPU cell of each preset (highest FPS), and the
    baseline's torch/CPU time against PERF.md's anchor. Each entry: what, value, target, met.
    Only meaningful at 224x224 with 2 threads; the caller decides whether that holds."""
    best: dict[str, dict] = {}
    for c in cells:
        if c["device"] == "cpu" and "fps" in c and c["fps"] > best.get(c["preset"], {}).get(
                "fps", 0.0):
            best[c["preset"]] = c
    out = []
    for preset, fps in TARGET_FPS.items():
        if preset in best:
            c = best[preset]
            out.append({"what": f"{preset} FPS ({c['backend']}/cpu)", "value": c["fps"],
                        "target": f">= {fps:g}", "met": c["fps"] >= fps})
    for preset, ratio in TARGET_SPEEDUP.items():
        c = best.get(preset)
        if c and c.get("speedup_vs_baseline"):
            out.append({"what": f"{preset} speed-up vs {BASELINE} ({c['backend']}/cpu)",
                        "value": c["speedup_vs_baseline"], "target": f">= {ratio:g}",
                        "met": c["speedup_vs_baseline"] >= ratio})
    base = [c for c in cells if c["preset"] == BASELINE and c["backend"] == "torch"
            and c["device"] == "cpu" and "median_ms" in c]
    if base:
        lo, hi = BASELINE_ANCHOR_MS
        out.append({"what": f"{BASELINE} torch/cpu ms (PERF.md 600-650 +-30 %)",
                    "value": base[0]["median_ms"], "target": f"{lo:.0f}-{hi:.0f}",
                    "met": lo <= base[0]["median_ms"] <= hi})
    return out


def best_cells(cells: list[dict], device_kind: str = "cuda") -> dict[str, dict]:
    """The fastest timed cell (lowest median) of each preset on ``device_kind``."""
    best: dict[str, dict] = {}
    for c in cells:
        if c["device"].split(":")[0] == device_kind and "median_ms" in c \
                and c["median_ms"] < best.get(c["preset"], {}).get("median_ms", float("inf")):
            best[c["preset"]] = c
    return best


def check_gpu_targets(cells: list[dict]) -> list[dict]:
    """The GPU issue's targets against the best CUDA cell of each preset (lowest median, any
    torch mode): max median ms per preset, and the baseline / avesformer_r50 ratio (best mode
    of each, same run). Each entry: what, preset, mode, value, target, met. Only meaningful at
    224x224; the caller decides whether that holds."""
    best = best_cells(cells)
    out = []
    for preset, ms in TARGET_GPU_MS.items():
        if preset in best:
            c = best[preset]
            out.append({"what": f"{preset} median ms ({c.get('mode', c['backend'])}/cuda)",
                        "preset": preset, "mode": c.get("mode"), "value": c["median_ms"],
                        "target": f"<= {ms:g}", "met": c["median_ms"] <= ms})
    for preset, ratio in TARGET_GPU_SPEEDUP.items():
        if preset in best and BASELINE in best:
            value = best[BASELINE]["median_ms"] / best[preset]["median_ms"]
            out.append({"what": f"{BASELINE} / {preset} (best mode each, cuda)",
                        "preset": preset, "mode": best[preset].get("mode"), "value": value,
                        "target": f">= {ratio:g}", "met": value >= ratio})
    return out


def format_gpu_table(cells: list[dict], modes: list[str], device_kind: str = "cuda") -> str:
    """Markdown table of the torch cells on ``device_kind``: one row per preset, median (p90)
    ms per mode, the best mode, its peak GPU memory, compile time (first call of the +compile
    modes), GFLOPs and the baseline / best ratio (best mode of each)."""
    cuda = [c for c in cells if c["device"].split(":")[0] == device_kind
            and c["backend"] == "torch"]
    presets = list(dict.fromkeys(c["preset"] for c in cuda))
    best = best_cells(cuda, device_kind)
    head = (["preset"] + [f"{m} ms" for m in modes]
            + ["best", "peak GPU MiB", "compile s", "GFLOPs", f"{BASELINE} / best"])
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for preset in presets:
        row = [f"`{preset}`"]
        compile_s = []
        for m in modes:
            c = next((c for c in cuda if c["preset"] == preset and c.get("mode") == m), None)
            if c is None or c.get("skipped"):
                row.append("skipped" if c else "–")
            elif "median_ms" not in c:
                row.append("error")
            else:
                row.append(f"{c['median_ms']:.2f} ({c['p90_ms']:.2f})")
                if "compile" in m and c.get("first_call_ms") is not None:
                    compile_s.append(c["first_call_ms"] / 1e3)
        b = best.get(preset)
        ratio = (best[BASELINE]["median_ms"] / b["median_ms"]
                 if b and BASELINE in best else None)
        row += [b.get("mode", "-") if b else "–",
                f"{b['peak_gpu_mb']:.0f}" if b and "peak_gpu_mb" in b else "–",
                ", ".join(f"{x:.0f}" for x in compile_s) or "–",
                f"{b['gflops']:.2f}" if b and b.get("gflops") is not None else "–",
                f"{ratio:.2f}" if ratio else "–"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def format_table(cells: list[dict], peak_gflops: float) -> str:
    """Plain-text table of matrix cells (see :func:`add_derived`)."""
    head = (f"{'preset':<16} {'backend':<12} {'mode':<20} {'device':<7} {'median':>8} "
            f"{'p90':>8} {'FPS':>7} {'RSS MiB':>8} {'GPU MiB':>8} {'GFLOPs':>7} {'floor':>7} "
            f"{'x' + BASELINE:>18}")
    lines = [head, "-" * len(head)]

    def num(v, fmt):
        return format(v, fmt) if v is not None else "-"

    for c in cells:
        lead = f"{c['preset']:<16} {c['backend']:<12} {c.get('mode') or '-':<20} {c['device']:<7}"
        if "median_ms" not in c:
            what = f"skipped: {c['skipped']}" if c.get("skipped") else \
                f"error: {c.get('error', '?')[:80]}"
            lines.append(f"{lead} {what}")
            continue
        fmt = ".2f" if c["median_ms"] < 10 else ".1f"
        lines.append(
            f"{lead} {c['median_ms']:>8{fmt}} {c['p90_ms']:>8{fmt}} {c['fps']:>7.1f} "
            f"{c['peak_rss_mb']:>8.0f} {num(c.get('peak_gpu_mb'), '.0f'):>8} "
            f"{num(c['gflops'], '.2f'):>7} {num(c['floor_ms'], '.1f'):>7} "
            f"{num(c['speedup_vs_baseline'], '.2f'):>18}")
    lines.append(f"ms per frame, batch 1, model only; floor = GFLOPs / {peak_gflops:.0f} GFLOP/s "
                 "(CPU cells); speed-up = baseline median / median, same backend, device and mode")
    return "\n".join(lines)


def run_matrix(args: argparse.Namespace) -> int:
    """``avs bench --matrix``; returns 0 when every cell ran, 1 otherwise."""
    presets = list(dict.fromkeys([*(args.presets or TARGET_PRESETS), BASELINE]))
    peak = args.peak_gflops or PEAK_GFLOPS_2_THREADS * args.threads / 2
    cells = []
    timeout = getattr(args, "cell_timeout_s", None)
    for device in args.devices:
        for backend in args.backends:
            for preset in presets:
                for modes in _cell_groups(args, preset, backend, device):
                    results = run_cell(cell_command(args, preset, backend, device, modes),
                                       timeout)
                    if modes:     # a mode the process never reached gets its failure
                        failure = next((r for r in results if "mode" not in r),
                                       {"error": "no result"})
                        got = [r for r in results if "mode" in r]
                        results = got + [{**failure, "mode": m} for m in modes
                                         if m not in {r["mode"] for r in got}]
                    for result in results:
                        cell = {"preset": preset, "backend": backend, "device": device,
                                **result}
                        # a cell's own record names what ran (auto resolves the backend)
                        cell["requested_backend"] = backend
                        cells.append(cell)
                        print(f"  {preset} {backend}/{device} {cell.get('mode') or ''}: "
                              + (f"{cell['median_ms']:.2f} ms" if "median_ms" in cell
                                 else f"error: {cell['error']}"), file=sys.stderr, flush=True)
    add_derived(cells, preset_gflops(presets, args.image_size), peak)
    targets = check_targets(cells) + check_gpu_targets(cells)
    report = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": platform.processor() or platform.machine(), "python": sys.version,
              "torch": torch.__version__, "threads": args.threads, "runs": args.runs,
              "warmup": args.warmup, "image_size": args.image_size or [224, 224],
              "peak_gflops": peak, "baseline": BASELINE,
              "modes": getattr(args, "modes", None), "cells": cells, "targets": targets}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(format_table(cells, peak))
    if any(c["device"].startswith("cuda") and "median_ms" in c for c in cells):
        print(format_gpu_table(cells, list(getattr(args, "modes", None) or [args.dtype])))
    for t in targets:
        print(f"{'met ' if t['met'] else 'MISS'} {t['what']}: {t['value']:.2f} (target "
              f"{t['target']})")
    return 0 if all("median_ms" in c for c in cells) else 1
