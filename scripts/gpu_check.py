#!/usr/bin/env python3
"""Every CUDA path measured once, in one command and one time budget: ``scripts/gpu_check.sh``.

Steps (each a CLI verb or pytest in its own process; a step that fails is recorded and the
next one runs):

0. the machine: GPU, driver, CUDA, cuDNN, Python, torch, Triton, onnxruntime versions;
1. the CUDA-marked tests that can run without onnxruntime-gpu (``pytest -m cuda`` on the
   backend, log-mel and deformable-attention tests), summary and per-test outcome kept;
2. ``avs bench --matrix`` on CUDA: 7 presets x torch modes (fp32, fp16/bf16 autocast, CUDA
   graph replay), batch 1, 224x224; then, after steps 3-4, ``torch.compile``
   (``reduce-overhead``) per preset, in target order, while the budget lasts (compile time
   reported apart; a preset that does not fit is recorded as skipped); and, for each GPU
   target missed, a ``torch.profiler`` summary of its best eager and best graph mode;
3. ``avs replay --device cuda`` on a SynthAVS bag written here: per-frame pre-processing,
   log-mel, model and post-processing p50/p95 (shipped LightAVSeg-T; AVESFormer-R18 with
   random weights at 224x224 when time allows);
4. ``avs train`` for 50 AMP steps of avesformer_r18 and lightavseg_l at 224x224 on SynthAVS MS3
   written here: training images/s and peak GPU memory;
5. one JSON (``--out``/gpu-<UTC date>.json) and the README table on stdout.

``--dry-run`` runs the same steps on the CPU with tiny run counts, 64x64 inputs, fp32 only
(fp16/bf16 autocast and CUDA graphs are CUDA-only; compile is recorded as skipped: it takes
minutes on a CPU) and one preset per model family, so CI keeps the script working without a
GPU. ``--steps``, ``--presets``, ``--modes``, ``--compile-presets``, ``--train-presets`` and
``--tests-k`` rerun a part (after a fix, in the device time left) and ``--merge`` folds it into
the earlier JSON (:func:`merge`).

On the GPU machine (no network) the package runs from the checkout; what its Python lacks
comes as wheels in ``.whl/`` (``scripts/gpu_check.sh`` installs them into a temporary folder).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from avs_ros.bench.matrix import (BASELINE, TARGET_GPU_MS, add_derived,  # noqa: E402
                                  best_cells, check_gpu_targets, format_gpu_table)

PRESETS = ("lightavseg_t", "lightavseg_s", "lightavseg_b", "lightavseg_l", "avesformer_r18",
           "avesformer_r50", "avsegformer_r50")
#: eager / graph modes of the matrix on CUDA (one process per preset)
CUDA_MODES = ("fp32", "fp16", "bf16", "fp16+graphs", "bf16+graphs")
#: the compile mode: inductor with its own CUDA graphs (torch.compile mode="reduce-overhead")
COMPILE_MODE = "fp16+graphs+compile"
#: compile order: the targets' presets first, the baseline, then the rest
COMPILE_ORDER = ("avesformer_r18", "lightavseg_t", "lightavseg_l", "avesformer_r50",
                 "avsegformer_r50", "lightavseg_s", "lightavseg_b")
TEST_FILES = ("test/test_backends.py", "test/test_logmel.py", "test/test_ms_deform_attn.py")
STEPS = ("tests", "bench", "profiles", "replay", "train", "compile")
TRAIN_CONFIGS = {"avesformer_r18": "configs/avesformer_r18_ms3.yaml",
                 "lightavseg_l": "configs/lightavseg_l_ms3.yaml"}


class Budget:
    """Seconds left of the run's budget."""

    def __init__(self, seconds: float) -> None:
        self.total, self.start = seconds, time.monotonic()

    def used(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.total - self.used()


def sh(cmd: list[str], timeout: float | None, log: Path | None = None,
       env: dict | None = None) -> dict:
    """Run ``cmd``; ``{"cmd", "returncode" (None: timed out), "seconds", "stdout", "stderr"}``,
    the output also written to ``log``."""
    print(f"$ {shlex.join(cmd)}", flush=True)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(timeout or 1, 1)
                              if timeout is not None else None, cwd=ROOT,
                              env={**os.environ, **(env or {})})
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc = None
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) \
            else exc.stdout or ""
        err = (exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes)
               else exc.stderr or "") + f"\ntimed out after {timeout:.0f} s"
    seconds = time.monotonic() - t0
    if log is not None:
        log.write_text(f"$ {shlex.join(cmd)}\n--- stdout\n{out}\n--- stderr\n{err}\n"
                       f"--- rc {rc}, {seconds:.1f} s\n")
    if rc != 0:
        tail = "\n".join((err or out).strip().splitlines()[-5:])
        print(f"  -> rc {rc} after {seconds:.0f} s:\n{tail}", flush=True)
    return {"cmd": shlex.join(cmd), "returncode": rc, "seconds": round(seconds, 1),
            "stdout": out, "stderr": err}


def _last_line(r: dict) -> str:
    """The last line of a failed command's stderr (or stdout)."""
    lines = [ln for ln in (r["stderr"] or r["stdout"]).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else f"rc {r['returncode']}"


def avs(*args: str) -> list[str]:
    return [sys.executable, "-m", "avs_ros.cli", *args]


def last_json(text: str):
    """The last JSON value printed (a line, or a trailing indented object)."""
    text = text.strip()
    for start in [i for i, ch in enumerate(text) if ch in "{[" and (i == 0 or
                                                                     text[i - 1] == "\n")][::-1]:
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            continue
    return None


# --- step 0 -------------------------------------------------------------------------------

def machine() -> dict:
    """GPU, driver and versions (what is not there is None)."""
    import numpy
    import torch

    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_cuda": torch.version.cuda, "numpy": numpy.__version__,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available()
            else None}
    from importlib.metadata import PackageNotFoundError, version

    for name in ("triton", "onnxruntime", "onnx", "opencv-python-headless", "scipy", "rosbags",
                 "pytest"):
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = None
    try:
        import onnxruntime

        info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except Exception:                           # noqa: BLE001
        info["onnxruntime_providers"] = None
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update({"gpu": p.name, "gpu_memory_gib": round(p.total_memory / 2**30, 1),
                     "compute_capability": f"{p.major}.{p.minor}",
                     "multiprocessors": p.multi_processor_count})
    else:
        info["gpu"] = None
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,"
                            "clocks.max.sm,power.limit", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=30)
        info["nvidia_smi"] = q.stdout.strip() or q.stderr.strip()
        info["driver"] = q.stdout.split(",")[1].strip() if q.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, IndexError):
        info["nvidia_smi"] = info["driver"] = None
    return info


# --- step 1 -------------------------------------------------------------------------------

def run_tests(out: Path, cfg: argparse.Namespace, budget: Budget) -> dict:
    xml = out / "pytest.xml"
    r = sh([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-rA", "-p",
            "no:cacheprovider", f"--junitxml={xml}", *TEST_FILES]
           + (["-k", cfg.tests_k] if cfg.tests_k else []),
           timeout=min(200, budget.left()), log=out / "pytest.log")
    tests = []
    if xml.exists():
        for case in ET.parse(xml).getroot().iter("testcase"):
            outcome = "passed"
            for tag in ("failure", "error", "skipped"):
                el = case.find(tag)
                if el is not None:
                    outcome = {"failure": "failed"}.get(tag, tag)
                    message = (el.get("message") or "")[:300]
                    break
            else:
                message = ""
            tests.append({"test": f"{case.get('classname')}::{case.get('name')}",
                          "outcome": outcome, "message": message,
                          "seconds": float(case.get("time") or 0)})
    summary = (r["stdout"].strip().splitlines() or [""])[-1]
    print(f"  pytest: {summary}", flush=True)
    return {"returncode": r["returncode"], "seconds": r["seconds"], "summary": summary,
            "command": r["cmd"], "tests": tests}


# --- step 2 -------------------------------------------------------------------------------

def run_matrix(out: Path, cfg: argparse.Namespace, budget: Budget) -> dict:
    path = out / "bench_matrix.json"
    cmd = avs("bench", "--matrix", "--backends", "torch", "--devices", cfg.device,
              "--presets", *cfg.presets, "--modes", *cfg.modes, "--runs", str(cfg.runs),
              "--warmup", str(cfg.warmup), "--threads", str(cfg.threads), "--cell-timeout-s",
              str(cfg.cell_timeout), "--out", str(path))
    if cfg.image_size:
        cmd += ["--image-size", *map(str, cfg.image_size)]
    r = sh(cmd, timeout=max(budget.left() - cfg.reserve, 30), log=out / "bench_matrix.log")
    print(r["stdout"], flush=True)
    report = json.loads(path.read_text()) if path.exists() else {"cells": [], "error":
                                                                 r["stderr"][-500:]}
    report["returncode"], report["seconds"] = r["returncode"], r["seconds"]
    return report


def bench_cell(preset: str, modes: list[str], cfg: argparse.Namespace, timeout: float,
               log: Path, profile: int = 0) -> list[dict]:
    cmd = avs("bench", "--preset", preset, "--device", cfg.device, "--modes", *modes,
              "--runs", str(cfg.runs if not profile else max(cfg.runs // 10, 2)),
              "--warmup", str(cfg.warmup), "--threads", str(cfg.threads), "--json")
    if profile:
        cmd += ["--profile", str(profile)]
    if cfg.image_size:
        cmd += ["--image-size", *map(str, cfg.image_size)]
    r = sh(cmd, timeout=timeout, log=log)
    cells = [json.loads(ln) for ln in r["stdout"].splitlines() if ln.startswith("{")]
    got = {c.get("mode") for c in cells}
    why = _last_line(r)
    cells += [{"mode": m, "error": why} for m in modes if m not in got]
    for c in cells:
        c.setdefault("preset", preset)
        c.setdefault("backend", "torch")
        c.setdefault("device", cfg.device)
        c["seconds_process"] = r["seconds"]
    return cells


def run_compile(out: Path, cfg: argparse.Namespace, budget: Budget) -> list[dict]:
    """Compile cells, target presets first, while the budget lasts."""
    cells = []
    for preset in cfg.compile_presets:
        left = budget.left() - cfg.reserve
        if cfg.dry_run or left < cfg.min_compile_s:
            why = ("dry run: torch.compile takes minutes on a CPU" if cfg.dry_run else
                   f"time budget: {max(left, 0):.0f} s left, a compile needs about "
                   f"{cfg.min_compile_s:.0f} s or more")
            cells.append({"preset": preset, "backend": "torch", "device": cfg.device,
                          "mode": COMPILE_MODE, "skipped": why})
            print(f"  compile {preset}: skipped ({why})", flush=True)
            continue
        cells += bench_cell(preset, [COMPILE_MODE], cfg, min(left, cfg.compile_timeout),
                            out / f"compile_{preset}.log")
        c = cells[-1]
        print(f"  compile {preset}: " + (f"{c['median_ms']:.2f} ms, compiled in "
                                         f"{c['first_call_ms'] / 1e3:.0f} s"
                                         if "median_ms" in c else f"error: {c['error']}"),
              flush=True)
    return cells


def run_profiles(cells: list[dict], out: Path, cfg: argparse.Namespace,
                 budget: Budget) -> list[dict]:
    """For each missed GPU target (dry run: the first preset), profile the best eager mode
    (op attribution) and the best mode overall (kernel count and time under graphs)."""
    targets = check_gpu_targets(cells)
    missed = sorted({t["preset"] for t in targets if not t["met"]}
                    | ({BASELINE} if any(BASELINE in t["what"] and not t["met"]
                                         for t in targets) else set()))
    if cfg.dry_run:
        missed = [cfg.presets[0]]
    profiles = []
    for preset in missed:
        if budget.left() - cfg.reserve < 20:
            profiles.append({"preset": preset, "skipped": "time budget"})
            continue
        mine = [c for c in cells if c["preset"] == preset and "median_ms" in c]
        eager = [c for c in mine if "+" not in c.get("mode", "+")]
        modes = []
        for group in (eager, mine):
            if group:
                best = min(group, key=lambda c: c["median_ms"])["mode"]
                if best not in modes:
                    modes.append(best)
        modes = modes or ["fp32"]
        for c in bench_cell(preset, modes, cfg, min(90, budget.left() - cfg.reserve),
                            out / f"profile_{preset}.log", profile=cfg.profile_frames):
            profiles.append({"preset": preset, "mode": c.get("mode"),
                             "median_ms": c.get("median_ms"),
                             **({"profile": c["profile"]} if "profile" in c else
                                {"error": c.get("profile_error") or c.get("error")})})
    return profiles


# --- step 3 -------------------------------------------------------------------------------

def make_bag(out: Path, cfg: argparse.Namespace) -> subprocess.Popen:
    """SynthAVS stream bag, written in the background (CPU only)."""
    cmd = avs("bag", "--source", "synth-stream", "--duration", str(cfg.bag_s), "--fps", "15",
              "--out", str(out / "bag"), "--overwrite", "--seed", "1")
    print(f"$ {shlex.join(cmd)} (background)", flush=True)
    return subprocess.Popen(cmd, cwd=ROOT, stdout=open(out / "bag.log", "w"),
                            stderr=subprocess.STDOUT)


def run_replay(out: Path, cfg: argparse.Namespace, budget: Budget) -> list[dict]:
    runs = []
    size = cfg.image_size or (224, 224)
    for name, extra in (("shipped lightavseg_t (128x128)", []),
                        (f"avesformer_r18 random weights ({size[0]}x{size[1]})",
                         ["--preset", "avesformer_r18", "--image-size", *map(str, size)])):
        if budget.left() - cfg.reserve < 30:
            runs.append({"model": name, "skipped": "time budget"})
            continue
        tag = name.split()[0]
        r = sh(avs("replay", str(out / "bag"), "--out", str(out / f"replay_{tag}"),
                   "--device", cfg.device, "--threads", str(cfg.threads), "--no-video",
                   "--no-progress", "--json", *extra),
               timeout=min(cfg.step_timeout, budget.left() - cfg.reserve),
               log=out / f"replay_{tag}.log")
        data = last_json(r["stdout"]) or {}
        lat = data.get("latency") or {}
        runs.append({"model": name, "returncode": r["returncode"], "seconds": r["seconds"],
                     "frames": data.get("frames"), "metrics": data.get("metrics"),
                     "processing_p50_ms": lat.get("processing_p50_ms"),
                     "processing_p95_ms": lat.get("processing_p95_ms"),
                     "stages": lat.get("stages"),
                     "error": None if r["returncode"] == 0 else _last_line(r)})
        print(f"  replay {tag}: p50 {lat.get('processing_p50_ms')} ms, stages "
              f"{lat.get('stages')}", flush=True)
    return runs


# --- step 4 -------------------------------------------------------------------------------

def make_synth(out: Path, cfg: argparse.Namespace) -> subprocess.Popen:
    cmd = avs("synth", "--subset", "ms3", "--clips", str(cfg.synth_clips), "--seed", "1",
              "--workers", str(cfg.synth_workers), "--out", str(out / "synth"))
    print(f"$ {shlex.join(cmd)} (background)", flush=True)
    return subprocess.Popen(cmd, cwd=ROOT, stdout=open(out / "synth.log", "w"),
                            stderr=subprocess.STDOUT)


def run_train(out: Path, cfg: argparse.Namespace, budget: Budget) -> list[dict]:
    import yaml

    runs = []
    for preset, config in TRAIN_CONFIGS.items():
        if preset not in cfg.train_presets:
            continue
        if budget.left() - cfg.reserve < 40:
            runs.append({"preset": preset, "skipped": "time budget"})
            continue
        data = yaml.safe_load((ROOT / config).read_text())
        data["model"]["image_size"] = list(cfg.image_size or (224, 224))
        # throughput only: random initialisation instead of the `avs import`ed encoder files
        for key in ("backbone_weights", "audio_weights"):
            data["model"].pop(key, None)
        data["data"].update({"root": str(out / "synth" / "Multi-sources"),
                             "workers": cfg.workers})
        data["train"].update({"max_steps": cfg.train_steps, "epochs": 1000,
                              "val_every": 1000, "val_batch_size": 32, "amp": True,
                              "save_half": True, "log_every": 10,
                              "num_threads": cfg.threads})
        if cfg.dry_run:
            data["train"]["batch_size"] = 2
        path = out / f"train_{preset}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        r = sh(avs("train", "--config", str(path), "--out", str(out / f"train_{preset}"),
                   "--no-progress"),
               timeout=min(cfg.step_timeout + 60, budget.left() - cfg.reserve),
               log=out / f"train_{preset}.log")
        res = last_json(r["stdout"]) or {}
        runs.append({"preset": preset, "config": config, "overrides": {
            "image_size": data["model"]["image_size"], "batch_size": data["train"]["batch_size"],
            "max_steps": cfg.train_steps, "amp": True, "workers": cfg.workers},
            "returncode": r["returncode"], "seconds": r["seconds"], "steps": res.get("steps"),
            "images_per_s": res.get("images_per_s"), "peak_gpu_mb": res.get("peak_gpu_mb"),
            "val": res.get("last"),
            "error": None if r["returncode"] == 0 else _last_line(r)})
        print(f"  train {preset}: {res.get('images_per_s')} images/s, peak "
              f"{res.get('peak_gpu_mb')} MiB", flush=True)
    return runs


# --- step 5 -------------------------------------------------------------------------------

def merge(previous: dict, report: dict) -> dict:
    """``report`` (a partial rerun, ``--steps``) merged into ``previous``: a bench cell,
    profile, replay or train entry of the rerun replaces the previous one of the same preset
    and mode (model for replay), skipped entries of the rerun do not; the tests are the
    rerun's when it ran them. Each cell keeps the run it came from (``run``: 1-based index
    into ``runs``)."""
    runs = previous.get("runs") or [{k: previous.get(k) for k in ("created", "seconds",
                                                                   "settings", "machine")}]
    runs.append({k: report.get(k) for k in ("created", "seconds", "settings", "machine")})
    n = len(runs)

    def keyed(old: list, new: list, key) -> list:
        fresh = [dict(e, run=n) for e in new if not e.get("skipped")]
        done = {key(e) for e in fresh}
        return [e for e in old if key(e) not in done] + fresh

    out = dict(previous)
    out["runs"] = runs
    for k in ("created", "machine", "seconds"):
        out[k] = report.get(k)
    if "tests" in report["settings"]["steps"]:
        pt, nt = previous.get("tests", {}), report["tests"]
        out["tests"] = {**nt, "summary": f"run {n}: {nt.get('summary')}; earlier: "
                                         f"{pt.get('summary')}",
                        "tests": keyed(pt.get("tests", []), nt.get("tests", []),
                                       lambda t: t.get("test"))}
    pb, nb = previous.get("bench", {}), report.get("bench", {})
    cell_key = lambda c: (c.get("preset"), c.get("mode"))      # noqa: E731
    old_cells = [dict(c, run=c.get("run", 1)) for c in pb.get("cells", [])]
    out["bench"] = {**pb, "cells": keyed(old_cells, nb.get("cells", []), cell_key),
                    "profiles": keyed(pb.get("profiles", []), nb.get("profiles", []),
                                      cell_key)}
    out["replay"] = keyed(previous.get("replay", []), report.get("replay", []),
                          lambda r: r.get("model"))
    out["train"] = keyed(previous.get("train", []), report.get("train", []),
                         lambda r: r.get("preset"))
    cells = out["bench"]["cells"]
    gflops = {c["preset"]: c["gflops"] for c in cells if c.get("gflops") is not None}
    add_derived(cells, gflops, pb.get("peak_gflops") or 270.0)
    out["bench"]["targets"] = check_gpu_targets(cells)
    out["bench"]["best"] = {p: {"mode": c.get("mode"), "median_ms": c["median_ms"],
                                "run": c.get("run")}
                            for p, c in best_cells(cells, report["device"]).items()}
    return out


def readme_tables(report: dict) -> str:
    bench = report["bench"]
    dev = report["device"]
    lines = [format_gpu_table(bench["cells"], [*bench.get("modes", []), COMPILE_MODE], dev), ""]
    for t in bench["targets"]:
        lines.append(f"- {'met' if t['met'] else 'MISSED'}: {t['what']} = {t['value']:.2f} "
                     f"(target {t['target']})")
    for p in bench.get("profiles", []):
        if "profile" in p:
            pr = p["profile"]
            ops = ", ".join(f"{o['name']} {o['ms_per_frame']:.3f}" for o in pr["top_ops"][:4])
            kern = (f"{pr['kernels_per_frame']:.0f} kernels, {pr['kernel_ms_per_frame']:.2f} ms "
                    "of kernel time per frame; " if pr["kernels_per_frame"] is not None else "")
            lines.append(f"- profile {p['preset']} {p['mode']}: wall "
                         f"{pr['wall_ms_per_frame']:.2f} ms; {kern}top ops (ms): {ops}")
    lines += ["", f"| replay (`avs replay --device {dev}`) | frames | p50 / p95 ms | "
                  "preprocess | log-mel | inference | postprocess (p50 / p95 ms) |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in report["replay"]:
        if r.get("skipped") or not r.get("stages"):
            lines.append(f"| {r['model']} | {r.get('skipped') or r.get('error', '')[:60]} "
                         "| | | | | |")
            continue
        st = r["stages"]
        cells = [f"{st[k]['p50_ms']:.2f} / {st[k]['p95_ms']:.2f}" if k in st else "–"
                 for k in ("preprocess", "logmel", "inference", "postprocess")]
        lines.append(f"| {r['model']} | {(r.get('frames') or {}).get('processed')} | "
                     f"{r['processing_p50_ms']:.2f} / {r['processing_p95_ms']:.2f} | "
                     + " | ".join(cells) + " |")
    size = "x".join(map(str, report["settings"]["image_size"] or (224, 224)))
    lines += ["", f"| `avs train` (AMP, {size}) | batch | steps | images/s | peak GPU MiB |",
              "|---|---:|---:|---:|---:|"]
    for r in report["train"]:
        if r.get("skipped") or r.get("images_per_s") is None:
            lines.append(f"| `{r['preset']}` | | | {r.get('skipped') or 'error'} | |")
            continue
        peak = f"{r['peak_gpu_mb']:.0f}" if r.get("peak_gpu_mb") is not None else "–"
        lines.append(f"| `{r['preset']}` | {r['overrides']['batch_size']} | {r['steps']} | "
                     f"{r['images_per_s']:.1f} | {peak} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny counts (CI)")
    ap.add_argument("--out", default="runs/gpu_check", help="output folder")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="time budget (default 470 s; dry run 1500 s: a slow CI machine must "
                         "still run every step)")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per cell (default 200)")
    g = ap.add_argument_group("a partial rerun (e.g. after a fix), merged into an earlier JSON")
    g.add_argument("--steps", default=",".join(STEPS),
                   help=f"comma-separated subset of {','.join(STEPS)}")
    g.add_argument("--presets", nargs="+", choices=PRESETS, help="bench presets")
    g.add_argument("--modes", nargs="+", help="bench torch modes (default: all CUDA modes)")
    g.add_argument("--compile-presets", nargs="+", choices=PRESETS,
                   help="presets to compile, in this order (default: targets first, all)")
    g.add_argument("--train-presets", nargs="+", choices=list(TRAIN_CONFIGS))
    g.add_argument("--tests-k", help="pytest -k expression for the CUDA tests")
    g.add_argument("--merge", help="earlier gpu-*.json: replace its entries with this run's")
    args = ap.parse_args(argv)
    steps = args.steps.split(",")
    if set(steps) - set(STEPS):
        ap.error(f"--steps: unknown {sorted(set(steps) - set(STEPS))}; known {STEPS}")
    dry = args.dry_run
    cfg = argparse.Namespace(
        # dry run: one preset of each model family (+ the baseline): the same code paths,
        # a CI-sized run on 2 cores
        dry_run=dry, device="cpu" if dry else "cuda",
        presets=["lightavseg_t", "avesformer_r18", BASELINE] if dry else list(PRESETS),
        modes=["fp32"] if dry else list(CUDA_MODES),
        runs=args.runs or (2 if dry else 200), warmup=1 if dry else 20,
        image_size=[64, 64] if dry else None, cell_timeout=300 if dry else 75,
        reserve=5 if dry else 15, min_compile_s=45, compile_timeout=150,
        profile_frames=2 if dry else 10, bag_s=2 if dry else 20,
        synth_clips=10 if dry else 120, train_steps=7 if dry else 50,
        workers=0 if dry else 8, synth_workers=2 if dry else 12,
        # 1 thread in the dry run: two spinning threads crawl on a busy 2-core machine
        threads=1 if dry else 2, step_timeout=300 if dry else 120, steps=steps,
        tests_k=args.tests_k, train_presets=args.train_presets or list(TRAIN_CONFIGS))
    if args.presets:
        cfg.presets = list(args.presets)
    if args.modes:
        cfg.modes = list(args.modes)
    cfg.compile_presets = args.compile_presets or [p for p in COMPILE_ORDER
                                                   if p in cfg.presets]
    budget = Budget(args.budget_s or (1500 if dry else 470))
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    date = time.strftime("%Y-%m-%d", time.gmtime())
    report: dict = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "dry_run": dry, "device": cfg.device, "budget_s": budget.total,
                    "settings": {k: v for k, v in vars(cfg).items()}}

    print("== 0. machine", flush=True)
    report["machine"] = machine()
    for k, v in report["machine"].items():
        print(f"  {k}: {v}")
    if not dry and not report["machine"].get("gpu"):
        print("gpu_check: torch sees no CUDA device; use --dry-run on a CPU", file=sys.stderr)
        return 2
    # CPU-only data preparation overlaps the tests (not the timed steps)
    bag_proc = make_bag(out, cfg) if "replay" in steps else None
    synth_proc = make_synth(out, cfg) if "train" in steps else None

    name = f"gpu-{date}{'-dry-run' if dry else ''}.json"

    def save() -> None:        # after every step: a run stopped from outside keeps its part
        report["seconds"] = round(budget.used(), 1)
        (out / name).write_text(json.dumps(report, indent=1, default=str))

    def step(key: str, fn, fallback):
        """Run one step; an exception is recorded (with its traceback) and the next step
        runs."""
        try:
            report[key] = fn()
        except Exception:                          # noqa: BLE001 - keep the other steps
            import traceback

            tb = traceback.format_exc()
            print(tb, file=sys.stderr, flush=True)
            report[key] = fallback(tb.strip().splitlines()[-1])
        save()
        return report[key]

    if "tests" in steps:
        print("== 1. CUDA-marked tests", flush=True)
        step("tests", lambda: run_tests(out, cfg, budget),
             lambda e: {"returncode": -1, "summary": e, "tests": []})

    def wait(proc: subprocess.Popen | None, what: str) -> int | None:
        if proc is None:
            return None
        try:
            return proc.wait(timeout=max(budget.left() - cfg.reserve, 1))
        except subprocess.TimeoutExpired:
            proc.kill()
            print(f"  {what}: timed out", flush=True)
            return None

    bag_rc, synth_rc = wait(bag_proc, "bag"), wait(synth_proc, "synth")
    report["data"] = {"bag_returncode": bag_rc, "synth_returncode": synth_rc,
                      "ready_after_s": round(budget.used(), 1)}

    matrix: dict = {"cells": []}
    if "bench" in steps:
        print("== 2. avs bench --matrix", flush=True)
        matrix = step("bench", lambda: run_matrix(out, cfg, budget),
                      lambda e: {"cells": [], "error": e})
    cells = list(matrix.get("cells", []))
    matrix["modes"] = cfg.modes
    report["profiles"] = []
    if "profiles" in steps:
        step("profiles", lambda: run_profiles(cells, out, cfg, budget),
             lambda e: [{"error": e}])

    report["replay"] = []
    if "replay" in steps:
        print("== 3. avs replay --device " + cfg.device, flush=True)
        step("replay", lambda: run_replay(out, cfg, budget) if bag_rc == 0 else
             [{"model": "-", "skipped": f"bag not written (rc {bag_rc}), see bag.log"}],
             lambda e: [{"model": "-", "error": e}])

    report["train"] = []
    if "train" in steps:
        print("== 4. avs train (AMP)", flush=True)
        step("train", lambda: run_train(out, cfg, budget) if synth_rc == 0 else
             [{"preset": p, "skipped": f"SynthAVS not written (rc {synth_rc}), see synth.log"}
              for p in cfg.train_presets], lambda e: [{"preset": "-", "error": e}])

    report["compile"] = []
    if "compile" in steps:
        print("== 2b. torch.compile cells (what the budget leaves)", flush=True)
        step("compile", lambda: run_compile(out, cfg, budget), lambda e: [])
    compiled = report["compile"]
    gflops = {c["preset"]: c.get("gflops") for c in cells if c.get("gflops") is not None}
    cells += compiled
    add_derived(cells, gflops, matrix.get("peak_gflops") or 270.0)
    bench = {k: matrix[k] for k in ("runs", "warmup", "image_size", "modes", "returncode",
                                    "seconds", "error") if k in matrix}
    bench.update({"compile_mode": COMPILE_MODE, "cells": cells,
                  "targets": check_gpu_targets(cells) if not dry else [],
                  "best": {p: {"mode": c.get("mode"), "median_ms": c["median_ms"]}
                           for p, c in best_cells(cells, cfg.device).items()},
                  "profiles": report.pop("profiles")})
    report.pop("compile")
    report["bench"] = bench
    report["target_presets"] = sorted(TARGET_GPU_MS)
    report["baseline"] = BASELINE
    if args.merge:
        report = merge(json.loads(Path(args.merge).read_text()), report)
    save()
    print(f"== 5. {out / name} ({report['seconds']:.0f} s of {budget.total:.0f})", flush=True)
    print(readme_tables(report))
    failed = [s for s, ok in (("tests", report.get("tests", {}).get("returncode") == 0
                               or "tests" not in steps),
                              ("bench", all("median_ms" in c or c.get("skipped")
                                            for c in cells)),
                              ("replay", all(r.get("returncode") == 0 or r.get("skipped")
                                             for r in report["replay"])),
                              ("train", all(r.get("returncode") == 0 or r.get("skipped")
                                            for r in report["train"]))) if not ok]
    if failed:
        print(f"gpu_check: failed steps: {', '.join(failed)} (details in {out})",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
