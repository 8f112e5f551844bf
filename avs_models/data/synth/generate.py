"""``generate``: write a SynthAVS dataset in one AVSBench layout, clips in parallel.

Determinism: clip ``i`` draws everything from ``numpy.random.default_rng([seed, subset_code,
i])``, so the output depends only on (subset, clips, seed) and on the sound/background sources
present (see ``sounds.sound_source`` and ``visuals.background_source``), not on the number of
workers or their scheduling.

Splits (ours, after the benchmark's proportions): the first 70 % of clip indices are train,
the next 15 % val, the rest test, with at least one val and one test clip from 3 clips on.
AVSS clips are v1s (single source, 5 s, 5 frames) with p 0.4, v1m (5 s, 5 frames) with p 0.15
and v2 (10 s, 10 frames) otherwise; AVSS frames are 320x240 so that the loaders' resize and
crop are exercised; S4 and MS3 frames are 224x224.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from .mixing import mix_clip
from .scene import compose_clip
from .sounds import sound_source
from .visuals import background_source
from .writers import SUBSET_ROOTS, write_avss_clip, write_csv, write_ms3_clip, write_s4_clip

SUBSETS = ("s4", "ms3", "avss")
_SUBSET_CODE = {"s4": 4, "ms3": 3, "avss": 7}
AVSS_SIZE = (240, 320)   # (H, W)
AVSBENCH_SIZE = (224, 224)

log = logging.getLogger(__name__)


def split_of(i: int, n: int) -> str:
    """Split of clip ``i`` of ``n``: train for the first ~70 %, then val ~15 %, then test."""
    if n < 3:
        return "train"
    n_eval = max(1, int(round(0.15 * n)))
    n_train = n - 2 * n_eval
    return "train" if i < n_train else "val" if i < n_train + n_eval else "test"


def clip_name(seed: int, i: int) -> str:
    """Clip name (S4 name, MS3 video_id, AVSS vid): ``syn{seed}_{i:06d}``."""
    return f"syn{seed}_{i:06d}"


def _make_clip(job: tuple[str, str, int, int, int]) -> dict:
    subset, out, seed, i, n = job
    rng = np.random.default_rng([seed, _SUBSET_CODE[subset], i])
    root = Path(out) / SUBSET_ROOTS[subset]
    name, split = clip_name(seed, i), split_of(i, n)
    if subset == "avss":
        u = rng.random()
        label = "v1s" if u < 0.4 else "v1m" if u < 0.55 else "v2"
        n_frames = 10 if label == "v2" else 5
        clip = compose_clip(rng, n_frames, AVSS_SIZE, "single" if label == "v1s" else "multi")
        audio, _ = mix_clip(rng, clip, float(n_frames))
        heard = sorted({clip.objects[j].cls.name for s in clip.sounding for j in s})
        sem = [clip.semantic_mask(k) for k in range(n_frames)]
        return write_avss_clip(root, name, f"{name}_0", split, label, clip.frames, sem, audio,
                               heard)
    clip = compose_clip(rng, 5, AVSBENCH_SIZE, "single" if subset == "s4" else "multi")
    audio, _ = mix_clip(rng, clip, 5.0)
    masks = [clip.binary_mask(k) for k in range(5)]
    if subset == "s4":
        category = clip.objects[clip.sounding[0][0]].cls.name
        return write_s4_clip(root, name, split, category, clip.frames, masks, audio)
    return write_ms3_clip(root, name, split, clip.frames, masks, audio)


def _init_worker() -> None:
    """Pool initializer: one torch thread per worker process (forked workers that inherit a
    parent's started OpenMP pool can hang in their first parallel torch op)."""
    import torch

    torch.set_num_threads(1)


def worker_pool(workers: int):
    """A process pool of ``workers`` for composing clips (fork where available; one torch
    thread per worker)."""
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    return ctx.Pool(workers, initializer=_init_worker)


def run_jobs(fn, jobs: list, workers: int, progress=None, chunksize: int = 1) -> list:
    """``[fn(job) for job in jobs]`` in order, in this process (``workers`` 1) or in a
    :func:`worker_pool`; ``progress(done, total)`` after each result."""
    rows: list = []
    if workers == 1:
        results = map(fn, jobs)
        pool = None
    else:
        pool = worker_pool(workers)
        results = pool.imap(fn, jobs, chunksize=chunksize)
    try:
        for row in results:
            rows.append(row)
            if progress:
                progress(len(rows), len(jobs))
    finally:
        if pool is not None:
            pool.terminate()
    return rows


def generate(subset: str, out_dir: str | Path, clips: int, seed: int, workers: int = 2,
             progress=None) -> Path:
    """Write ``clips`` SynthAVS clips of ``subset`` under ``out_dir`` in the AVSBench layout.

    Args:
        subset: ``"s4"``, ``"ms3"`` or ``"avss"``.
        out_dir: parent folder; the subset folder (``Single-source``, ``Multi-sources`` or
            ``AVSBench-semantic``) is created in it. Existing files are overwritten.
        clips: number of clips (>= 1).
        seed: integer seed; equal seeds give identical datasets.
        workers: processes (1 = in this process).
        progress: optional callable(done, total) called as clips finish.

    Returns the subset folder. Also writes ``synthavs.json`` there (seed, clip count, sound
    and background sources, elapsed seconds).

    Raises ValueError for an unknown subset, clips < 1 or workers < 1.
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
    if clips < 1 or workers < 1:
        raise ValueError(f"clips and workers must be >= 1, got clips={clips}, workers={workers}")
    t0 = time.perf_counter()
    root = Path(out_dir) / SUBSET_ROOTS[subset]
    root.mkdir(parents=True, exist_ok=True)
    sounds, backgrounds = sound_source(), background_source()
    log.info("SynthAVS %s: %d clips, seed %d, sounds: %s, backgrounds: %s",
             subset, clips, seed, sounds, backgrounds)
    jobs = [(subset, str(out_dir), int(seed), i, clips) for i in range(clips)]
    rows = run_jobs(_make_clip, jobs, workers, progress, chunksize=4)
    write_csv(root, subset, rows)
    info = {"generator": "SynthAVS", "subset": subset, "clips": clips, "seed": seed,
            "sounds": sounds, "backgrounds": backgrounds,
            "seconds": round(time.perf_counter() - t0, 2)}
    (root / "synthavs.json").write_text(json.dumps(info, indent=1) + "\n")
    return root
