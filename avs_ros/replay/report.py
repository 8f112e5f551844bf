"""Replay results as files: ``metrics.json`` (the summary, machine-readable), ``frames.csv``
(one row per processed frame) and ``report.html`` (summary table, plots and example frames as
embedded PNGs, also saved beside it as ``plot_*.png``; matplotlib with the Agg backend).

The summary is built by :func:`summary` from the engine's and evaluator's counters, so that
the JSON, the HTML and the command's printout show the same numbers.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path

import numpy as np

FRAME_FIELDS = ("stamp_ns", "clip", "ready_delay_ms", "processing_ms", "objects",
                "sounding_px", "J", "F")


def _pct(values, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def latency_summary(processing_ms: list[float], stats,
                    stage_ms: dict[str, list[float]] | None = None) -> dict:
    """Latency figures: processing (wall ms per frame on this machine: p50, p95, mean and
    the compute FPS 1000 / mean), per pipeline stage (``stages``: preprocess, logmel,
    inference, postprocess -> p50/p95 ms, from ``stage_ms``) and the real-time simulation
    (end-to-end ms from image stamp to completion on the bag clock, p50/p95, and its output
    rate in frames per bag second)."""
    rt = stats.realtime_done_s
    rt_fps = (len(rt) - 1) / (rt[-1] - rt[0]) if len(rt) > 1 and rt[-1] > rt[0] else None
    mean = float(np.mean(processing_ms)) if processing_ms else None
    return {
        "processing_p50_ms": _pct(processing_ms, 50),
        "processing_p95_ms": _pct(processing_ms, 95),
        "processing_mean_ms": mean,
        "compute_fps": 1000.0 / mean if mean else None,
        "realtime_p50_ms": _pct(stats.realtime_latency_ms, 50),
        "realtime_p95_ms": _pct(stats.realtime_latency_ms, 95),
        "realtime_fps": rt_fps,
        "stages": {name: {"p50_ms": _pct(ms, 50), "p95_ms": _pct(ms, 95)}
                   for name, ms in (stage_ms or {}).items()},
    }


def summary(bag: str, layout, model_source: str, random_weights: bool, stats, evaluator,
            processing_ms: list[float], outputs: dict, wall_s: float,
            error: str | None = None, stage_ms: dict[str, list[float]] | None = None) -> dict:
    """The run's summary dict (written as metrics.json); ``error`` None for a complete run."""
    return {
        "status": "error" if error else "ok",
        "error": error,
        "bag": str(bag),
        "topics": {"image": layout.image_topic, "audio": layout.audio_topic,
                   "audio_type": layout.audio_type, "audio_info": layout.audio_info_topic,
                   "ground_truth": layout.gt_topic, "clip": layout.clip_topic},
        "model": model_source,
        "random_weights": random_weights,
        "metrics": evaluator.summary(),
        "frames": {"in_bag_read": stats.frames, "processed": stats.processed,
                   "waiting_for_audio": stats.waiting_for_audio,
                   "dropped_no_audio": stats.dropped_no_audio,
                   "dropped_audio_gone": stats.dropped_audio_gone,
                   "pending_at_end": stats.pending_at_end,
                   "scored": evaluator.frames_scored,
                   "unannotated": evaluator.frames_unannotated,
                   "gt_unmatched": evaluator.gt_unmatched},
        "bad_messages": stats.bad_messages,
        "bad_message_examples": stats.bad_examples,
        "latency": latency_summary(processing_ms, stats, stage_ms),
        "realtime_policy": stats.realtime,
        "wall_s": wall_s,
        "outputs": outputs,
    }


class FrameTable:
    """``frames.csv`` written row by row (flushed, so it is valid after a failure), with the
    rows kept for the plots."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = open(self.path, "w", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow(FRAME_FIELDS)
        self.rows: list[dict] = []

    def add(self, frame, score) -> None:
        """One processed frame and its :class:`~.evaluation.FrameScore`."""
        row = {"stamp_ns": frame.image.stamp_ns, "clip": frame.clip,
               "ready_delay_ms": (frame.ready_ns - frame.image.log_ns) / 1e6,
               "processing_ms": frame.result.timings_ms["total"],
               "objects": len(frame.result.objects),
               "sounding_px": int((frame.result.mask != 0).sum()), "J": score.j, "F": score.f}
        self.rows.append(row)
        self._csv.writerow(["" if row[k] is None else row[k] for k in FRAME_FIELDS])
        self._file.flush()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._file.closed:
            self._file.close()


def write_json(path: str | Path, data: dict) -> None:
    """Write ``data`` as JSON (NaN written as null), replacing the file atomically."""
    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(clean(data), indent=1) + "\n")
    tmp.replace(path)


def summary_from_file(path: str | Path) -> dict:
    """metrics.json read back (what :func:`write_json` wrote)."""
    return json.loads(Path(path).read_text())


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def _plots(rows: list[dict], t0_ns: int) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([(r["stamp_ns"] - t0_ns) / 1e9 for r in rows])
    out = {}
    fig, ax = plt.subplots(figsize=(8, 2.6))
    j = np.array([np.nan if r["J"] is None else r["J"] for r in rows], float)
    f = np.array([np.nan if r["F"] is None else r["F"] for r in rows], float)
    if np.isfinite(j).any():
        ax.plot(t, j, ".-", ms=3, lw=0.8, label="J (IoU)")
        ax.plot(t, f, ".", ms=3, label="F (frame's best threshold)")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="lower right", fontsize=8)
    ax2 = ax.twinx()
    ax2.fill_between(t, [r["sounding_px"] for r in rows], step="mid", alpha=0.15, color="red")
    ax2.set_ylabel("predicted sounding px", fontsize=8)
    ax.set_xlabel("time in the bag (s)")
    ax.set_title("per-frame scores")
    out["scores"] = _png(fig)
    plt.close(fig)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 2.6))
    ms = [r["processing_ms"] for r in rows]
    a1.plot(t, ms, ".", ms=3)
    a1.set_xlabel("time in the bag (s)")
    a1.set_ylabel("processing (ms)")
    a2.hist(ms, bins=30)
    a2.set_xlabel("processing (ms)")
    a2.set_ylabel("frames")
    fig.suptitle("processing time per frame (this machine)")
    out["latency"] = _png(fig)
    plt.close(fig)
    return out


def _fmt(v, pct: bool = False) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{100 * v:.1f} %" if pct else f"{v:.1f}"
    return str(v)


def write_html(out_dir: str | Path, data: dict, rows: list[dict],
               examples: list[tuple[str, np.ndarray]]) -> Path:
    """Write ``report.html`` (and the plot PNGs) into ``out_dir``; ``examples`` are
    (caption, RGB uint8 image) pairs shown at the end. Returns the HTML path."""
    import cv2

    out_dir = Path(out_dir)
    images = _plots(rows, rows[0]["stamp_ns"]) if rows else {}
    for name, png in images.items():
        (out_dir / f"plot_{name}.png").write_bytes(png)
    m, fr, lat = data["metrics"] or {}, data["frames"], data["latency"]
    table = [("status", data["status"] + (f": {data['error']}" if data["error"] else "")),
             ("bag", data["bag"]), ("model", data["model"] + (
                 "  (RANDOM weights: scores are meaningless)" if data["random_weights"] else ""))]
    if m.get("task") == "binary":
        table += [("J (mean IoU)", _fmt(m["J"], True)),
                  ("F (β² = 0.3, grouped by clip)", _fmt(m["F"], True)),
                  ("frames scored / groups", f"{m['frames']} / {m['groups']}")]
    elif m.get("task") == "semantic":
        table += [("mIoU", _fmt(m["mIoU"], True)), ("F", _fmt(m["F"], True))]
    else:
        table += [("J / F", "no ground truth in the bag")]
    if data.get("stream"):
        from .stream_metrics import format_summary

        table += [(line.split(":")[0], line.split(":", 1)[1].strip())
                  for line in format_summary(data["stream"])]
    table += [("frames read / processed / before the audio",
               f"{fr['in_bag_read']} / {fr['processed']} / {fr['waiting_for_audio']}"),
              ("dropped: no audio in time / audio evicted",
               f"{fr['dropped_no_audio']} / {fr['dropped_audio_gone']}"),
              ("processing p50 / p95 (ms)",
               f"{_fmt(lat['processing_p50_ms'])} / {_fmt(lat['processing_p95_ms'])}"),
              ("compute FPS", _fmt(lat["compute_fps"])),
              ("real-time policy: processed / superseded",
               f"{data['realtime_policy'].get('processed', '–')} / "
               f"{data['realtime_policy'].get('dropped_superseded', '–')}"),
              ("real-time end-to-end p50 / p95 (ms), output FPS",
               f"{_fmt(lat['realtime_p50_ms'])} / {_fmt(lat['realtime_p95_ms'])}, "
               f"{_fmt(lat['realtime_fps'])}"),
              ("bad messages", str(data["bad_messages"]))]
    geo = data.get("geometry") or {}
    if geo.get("errors"):
        from .geometry_eval import format_summary

        table.append(("3-D (bearing, position)", format_summary(geo["errors"])))
    if geo:
        step = geo["step_p50_ms"]
        table.append(("3-D step p50 (ms) / incidents",
                      f"{'–' if step is None else f'{step:.2f}'} / {geo['incidents'] or 'none'}"))
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>avs replay report</title>",
             "<style>body{font-family:sans-serif;max-width:900px;margin:auto}"
             "td{padding:2px 10px}figure{display:inline-block;margin:4px}"
             "figcaption{font-size:12px}</style></head><body><h1>avs replay</h1><table>"]
    parts += [f"<tr><th align=left>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
              for k, v in table]
    parts.append("</table>")
    for name, png in images.items():
        parts.append(f"<p><img alt='{name}' src='data:image/png;base64,"
                     f"{base64.b64encode(png).decode()}'></p>")
    if examples:
        parts.append("<h2>Example frames</h2><p>Overlay of the predicted mask (colour) and the "
                     "ground truth's outline (white).</p>")
    for caption, rgb in examples:
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
        if ok:
            parts.append(f"<figure><img src='data:image/png;base64,"
                         f"{base64.b64encode(buf.tobytes()).decode()}'><figcaption>"
                         f"{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    path = out_dir / "report.html"
    path.write_text("\n".join(parts))
    return path
