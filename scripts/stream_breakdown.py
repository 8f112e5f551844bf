#!/usr/bin/env python3
"""Where stream J is lost: J of the sounding frames of ``scripts/eval_streams.sh``'s plain
bags by time since the last on/off switch of any object and by how many objects sound.

    scripts/stream_breakdown.py OUT_DIR [OUT_DIR ...]

OUT_DIR is an ``eval_streams.sh`` output (``plain_<seed>/frames.csv``). The bags hold masks,
not the objects' sounding intervals, so each stream is drawn again from its seed
(:func:`avs_models.data.synth.stream.stream`, deterministic) and joined on the frame stamp.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from avs_models.data.synth.stream import stream
from avs_ros.bag.cli import DEFAULT_START_NS

SEEDS = (101, 102, 103, 104)                 # eval_streams.sh: plain, 40 s at 15 fps
BINS_S = ((0.0, 0.25), (0.25, 0.5), (0.5, 1.0), (1.0, np.inf))


def sounding_frames(out_dir: Path) -> np.ndarray:
    """[n, 3] float64: J, s since the last switch at or before the stamp, sounding objects."""
    rows = []
    for seed in SEEDS:
        with open(out_dir / f"plain_{seed}" / "frames.csv") as f:
            scored = {int(r["stamp_ns"]): float(r["J"]) for r in csv.DictReader(f)}
        for frame in stream(40, fps=15, seed=seed, size=(224, 224)):
            j = scored.get(DEFAULT_START_NS + int(round(frame.stamp_s * 1e9)))
            if j is None or not frame.mask.any():       # dropped in replay, or silent
                continue
            switches = [t for spans in frame.intervals for a, b in spans for t in (a, b)
                        if t <= frame.stamp_s]
            since = frame.stamp_s - max(switches) if switches else np.inf
            rows.append((j, since, len(frame.sounding_ids)))
    return np.asarray(rows, dtype=np.float64)


def main(argv: list[str]) -> int:
    """Print one table per OUT_DIR; 2 (with the usage) without one."""
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for out_dir in map(Path, argv):
        a = sounding_frames(out_dir)
        print(f"{out_dir}: {len(a)} sounding frames, J {a[:, 0].mean():.3f}")
        print(f"  {'since switch':<14}" + "".join(f"{f'{k} sounding':>20}" for k in (1, 2, 3)))
        for lo, hi in BINS_S:
            cells = []
            for k in (1, 2, 3):
                sel = a[(a[:, 1] >= lo) & (a[:, 1] < hi) & (a[:, 2] == k)]
                cells.append(f"{len(sel):5d} J {sel[:, 0].mean():.3f}" if len(sel) else "-")
            print(f"  {f'[{lo:g}, {hi:g}) s':<14}" + "".join(f"{c:>20}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
