"""``avs bench --matrix``: presets x backends x devices, one process per cell, JSON + table.

See :mod:`avs_models.bench` for what a cell measures and for the floor and speed-up columns.
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

from .bench import BASELINE, PEAK_GFLOPS_2_THREADS, TARGET_PRESETS


#: the issue's CPU targets (model only, batch 1, 224x224): minimum FPS per preset
TARGET_FPS = {"lightavseg_t": 60.0, "lightavseg_l": 20.0, "avesformer_r18": 8.0}
#: avesformer_r50 must be at least this many times faster than the baseline
TARGET_SPEEDUP = {"avesformer_r50": 5.0}
#: PERF.md's anchor for the baseline (torch, CPU, 2 threads, 224x224): 600-650 ms, +-30 %
BASELINE_ANCHOR_MS = (600.0 * 0.7, 650.0 * 1.3)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "avs_ros.cli", *args]


def cell_command(args: argparse.Namespace, preset: str, backend: str, device: str) -> list[str]:
    """The ``avs bench ... --json`` command line of one cell (options that apply to the
    backend are passed on: --dtype/--compile/--cuda-graphs for torch, --provider for
    onnxruntime)."""
    cmd = _cli("bench", "--preset", preset, "--backend", backend, "--device", device,
               "--threads", str(args.threads), "--runs", str(args.runs),
               "--warmup", str(args.warmup), "--json")
    if args.image_size:
        cmd += ["--image-size", *map(str, args.image_size)]
    if backend == "torch":
        cmd += ["--dtype", args.dtype] + (["--compile"] if args.compile else []) \
            + (["--cuda-graphs"] if args.cuda_graphs else [])
    elif backend == "onnxruntime" and args.provider:
        cmd += ["--provider", args.provider]
    return cmd


def run_cell(cmd: list[str]) -> dict:
    """Run one cell's process: its JSON result, or ``{"error": last stderr line}``."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode == 0:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()] or ["no output"]
    return {"error": lines[-1], "returncode": proc.returncode}


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
    median / cell median on the same backend and device) to each cell in place."""
    base = {(c["backend"], c["device"]): c["median_ms"] for c in cells
            if c["preset"] == BASELINE and "median_ms" in c}
    for c in cells:
        c["gflops"] = gflops.get(c["preset"])
        c["floor_ms"] = c["gflops"] / peak_gflops * 1e3 \
            if c["gflops"] is not None and c["device"] == "cpu" else None
        ref = base.get((c["backend"], c["device"]))
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


def format_table(cells: list[dict], peak_gflops: float) -> str:
    """Plain-text table of matrix cells (see :func:`add_derived`)."""
    head = (f"{'preset':<16} {'backend':<12} {'device':<7} {'median':>8} {'p90':>8} {'FPS':>7} "
            f"{'RSS MiB':>8} {'GFLOPs':>7} {'floor':>7} {'x' + BASELINE:>18}")
    lines = [head, "-" * len(head)]

    def num(v, fmt):
        return format(v, fmt) if v is not None else "-"

    for c in cells:
        if "error" in c:
            lines.append(f"{c['preset']:<16} {c['backend']:<12} {c['device']:<7} "
                         f"error: {c['error'][:80]}")
            continue
        lines.append(
            f"{c['preset']:<16} {c['backend']:<12} {c['device']:<7} {c['median_ms']:>8.1f} "
            f"{c['p90_ms']:>8.1f} {c['fps']:>7.1f} {c['peak_rss_mb']:>8.0f} "
            f"{num(c['gflops'], '.2f'):>7} {num(c['floor_ms'], '.1f'):>7} "
            f"{num(c['speedup_vs_baseline'], '.2f'):>18}")
    lines.append(f"ms per frame, batch 1, model only; floor = GFLOPs / {peak_gflops:.0f} GFLOP/s "
                 "(CPU cells); speed-up = baseline median / median, same backend and device")
    return "\n".join(lines)


def run_matrix(args: argparse.Namespace) -> int:
    """``avs bench --matrix``; returns 0 when every cell ran, 1 otherwise."""
    presets = list(dict.fromkeys([*(args.presets or TARGET_PRESETS), BASELINE]))
    peak = args.peak_gflops or PEAK_GFLOPS_2_THREADS * args.threads / 2
    cells = []
    for device in args.devices:
        for backend in args.backends:
            for preset in presets:
                cell = {"preset": preset, "backend": backend, "device": device,
                        **run_cell(cell_command(args, preset, backend, device))}
                # a cell's own record names what actually ran (auto resolves the backend)
                cell["requested_backend"] = backend
                cells.append(cell)
                print(f"  {preset} {backend}/{device}: "
                      + (f"{cell['median_ms']:.1f} ms" if "median_ms" in cell
                         else f"error: {cell['error']}"), file=sys.stderr, flush=True)
    add_derived(cells, preset_gflops(presets, args.image_size), peak)
    targets = check_targets(cells)
    report = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": platform.processor() or platform.machine(), "python": sys.version,
              "torch": torch.__version__, "threads": args.threads, "runs": args.runs,
              "warmup": args.warmup, "image_size": args.image_size or [224, 224],
              "peak_gflops": peak, "baseline": BASELINE, "cells": cells, "targets": targets}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(format_table(cells, peak))
    for t in targets:
        print(f"{'met ' if t['met'] else 'MISS'} {t['what']}: {t['value']:.2f} (target "
              f"{t['target']})")
    return 0 if all("error" not in c for c in cells) else 1
