"""How a model behaves over a stream, beyond per-frame J and F: silence, stability, lag.

Fed with every scored frame in stamp order (the published mask, the number of published
objects, the ground truth and the frame's J), per clip (a stream is one clip):

- **silent frames**: frames whose ground truth is empty (nothing in view sounds); the share
  of them on which the node published no sounding object (``silent_no_object``); the same
  for the silent frames whose whole audio window is silent too (``silent_window_frames``,
  ``silent_window_no_object``: no sounding ground truth in the ``window_s`` before the stamp,
  nor earlier in the stream; off-screen sources are not in the ground truth, so their sound
  may still be in such a window). The other silent frames follow a sound that stopped less than
  one window ago: the window still holds it, and only its last part tells that it stopped;
- **J on sounding frames**: mean J over frames whose ground truth is not empty;
- **flicker**: mean fraction of pixels whose published label changes between consecutive
  frames, over the pairs in which no sound starts or stops (no onset or offset event below;
  the objects still move), next to the same figure for the ground truth on those pairs
  (``flicker_gt``: what motion alone changes), and the share of those pairs on which "some
  object is published" flips (``presence_flips``);
- **onset lag**: a sound starts when a region of the ground truth appears (a connected
  component of at least ``min_event_px`` px, less than 10 % of it within 2 px of the
  previous frame's ground truth); the region is followed frame by frame (the ground truth
  within 3 px of where it was) and its lag is the time from its first frame until the
  published mask covers half of it. An event whose region shrinks below 30 % of its first
  area before that (the sound stopped, the object left) is ``censored``; one not covered
  within ``max_lag_s`` is ``missed``;
- **offset lag**: a sound stops when a component of the previous frame's ground truth
  vanishes (less than 10 % of it within 2 px of the new ground truth); its lag is the time
  until the published mask covers less than half of that region's area within the region
  grown by ``drift_px`` (the object keeps moving after it falls silent). Censored when the
  region sounds again first, missed past ``max_lag_s``.

Lags are in ms between frame stamps (0 = already right in the frame where the change shows)
and in frames. Masks are compared as "sounding" (label != 0), so semantic masks work too.
"""
from __future__ import annotations

import cv2
import numpy as np


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def _components(mask: np.ndarray, min_px: int) -> list[np.ndarray]:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    return [labels == i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_px]


class _Event:
    __slots__ = ("region", "area0", "stamp_ns", "frame")

    def __init__(self, region: np.ndarray, stamp_ns: int, frame: int,
                 area0: int | None = None) -> None:
        self.region = region
        self.area0 = int(region.sum()) if area0 is None else area0
        self.stamp_ns, self.frame = stamp_ns, frame


class StreamMetrics:
    """Accumulates the figures of the module docstring.

    Args:
        min_event_px: smallest ground-truth region, px, that makes an onset or offset event.
        max_lag_s: an event not resolved within this many s is missed.
        drift_px: how far the object of an offset may have moved, px.
        window_s: length of the audio window that ends at each stamp, s (the model's
            contract: 15600 samples at 16 kHz = 0.975 s).

    Raises:
        ValueError: negative or zero thresholds.
    """

    def __init__(self, min_event_px: int = 100, max_lag_s: float = 3.0,
                 drift_px: int = 6, window_s: float = 0.975) -> None:
        if min_event_px < 1 or max_lag_s <= 0 or drift_px < 0 or window_s <= 0:
            raise ValueError("min_event_px must be >= 1, max_lag_s > 0, drift_px >= 0, "
                             "window_s > 0")
        self.min_event_px = int(min_event_px)
        self.max_lag_ns, self.drift_px = int(max_lag_s * 1e9), int(drift_px)
        self.window_ns = int(round(window_s * 1e9))
        self.silent_frames = self.silent_with_object = 0
        self.silent_window_frames = self.silent_window_with_object = 0
        self._last_sounding_ns: int | None = None
        self.sounding_j: list[float] = []
        self.flicker: list[float] = []
        self.flicker_gt: list[float] = []
        self.presence_flips = 0
        self.lags: dict[str, dict] = {k: {"ms": [], "frames": [], "missed": 0, "censored": 0}
                                      for k in ("onset", "offset")}
        self._prev: tuple | None = None      # (clip, pred, gt, has objects)
        self._onsets: list[_Event] = []
        self._offsets: list[_Event] = []
        self._frame = 0

    def update(self, clip: str, stamp_ns: int, pred: np.ndarray, objects: int,
               gt: np.ndarray, j: float | None) -> None:
        """One scored frame (stamp order): ``pred`` / ``gt`` [H, W] label masks (0 = silent),
        ``objects`` the number of published sounding objects, ``j`` its J."""
        pred, gt = pred != 0, gt != 0
        if self._prev is not None and self._prev[0] != clip:
            self._close_open()
            self._prev = None
            self._last_sounding_ns = None
        if not gt.any():
            self.silent_frames += 1
            self.silent_with_object += objects > 0
            if self._last_sounding_ns is None or \
                    stamp_ns - self._last_sounding_ns >= self.window_ns:
                self.silent_window_frames += 1
                self.silent_window_with_object += objects > 0
        else:
            self._last_sounding_ns = stamp_ns
            if j is not None:
                self.sounding_j.append(float(j))
        if self._prev is not None:
            _, ppred, pgt, pobj = self._prev
            if not self._detect(pgt, gt, stamp_ns):
                self.flicker.append(float(np.mean(pred != ppred)))
                self.flicker_gt.append(float(np.mean(gt != pgt)))
                self.presence_flips += (objects > 0) != pobj
        self._resolve(pred, gt, stamp_ns)
        self._prev = (clip, pred, gt, objects > 0)
        self._frame += 1

    def _detect(self, pgt: np.ndarray, gt: np.ndarray, stamp_ns: int) -> int:
        """Open the onset and offset events between two frames; returns how many."""
        before = len(self._onsets) + len(self._offsets)
        near_prev, near_now = _grow(pgt, 2), _grow(gt, 2)
        for c in _components(gt, self.min_event_px):
            if (c & near_prev).sum() < 0.1 * c.sum():
                self._onsets.append(_Event(c, stamp_ns, self._frame))
        for c in _components(pgt, self.min_event_px):
            if (c & near_now).sum() < 0.1 * c.sum():
                self._offsets.append(_Event(_grow(c, self.drift_px), stamp_ns, self._frame,
                                            area0=int(c.sum())))
        return len(self._onsets) + len(self._offsets) - before

    def _done(self, kind: str, ev: _Event, stamp_ns: int) -> None:
        self.lags[kind]["ms"].append((stamp_ns - ev.stamp_ns) / 1e6)
        self.lags[kind]["frames"].append(self._frame - ev.frame)

    def _resolve(self, pred: np.ndarray, gt: np.ndarray, stamp_ns: int) -> None:
        keep = []
        for ev in self._onsets:
            if ev.frame != self._frame:
                ev.region = gt & _grow(ev.region, 3)
            area = int(ev.region.sum())
            if area < 0.3 * ev.area0:
                self.lags["onset"]["censored"] += 1
            elif (pred & ev.region).sum() >= 0.5 * area:
                self._done("onset", ev, stamp_ns)
            elif stamp_ns - ev.stamp_ns > self.max_lag_ns:
                self.lags["onset"]["missed"] += 1
            else:
                keep.append(ev)
        self._onsets = keep
        keep = []
        for ev in self._offsets:
            if (gt & ev.region).sum() >= 0.5 * ev.area0:
                self.lags["offset"]["censored"] += 1
            elif (pred & ev.region).sum() < 0.5 * ev.area0:
                self._done("offset", ev, stamp_ns)
            elif stamp_ns - ev.stamp_ns > self.max_lag_ns:
                self.lags["offset"]["missed"] += 1
            else:
                keep.append(ev)
        self._offsets = keep

    def _close_open(self) -> None:
        """Events still open when their clip ends: censored."""
        self.lags["onset"]["censored"] += len(self._onsets)
        self.lags["offset"]["censored"] += len(self._offsets)
        self._onsets, self._offsets = [], []

    def summary(self) -> dict:
        """The figures (fractions in [0, 1], lags in ms and frames; None where no frame or
        event counts): ``silent_frames``, ``silent_with_object``, ``silent_no_object``,
        ``silent_window_frames``, ``silent_window_no_object``, ``J_sounding``,
        ``sounding_frames``, ``flicker``, ``flicker_gt``, ``presence_flips``, ``stable_pairs``
        and per ``onset`` / ``offset``: ``events``, ``median_ms``,
        ``mean_ms``, ``p90_ms``, ``median_frames``, ``missed``, ``censored``."""
        self._close_open()
        out = {"silent_frames": self.silent_frames,
               "silent_with_object": self.silent_with_object,
               "silent_no_object": (1 - self.silent_with_object / self.silent_frames
                                    if self.silent_frames else None),
               "silent_window_frames": self.silent_window_frames,
               "silent_window_no_object": (
                   1 - self.silent_window_with_object / self.silent_window_frames
                   if self.silent_window_frames else None),
               "J_sounding": float(np.mean(self.sounding_j)) if self.sounding_j else None,
               "sounding_frames": len(self.sounding_j),
               "flicker": float(np.mean(self.flicker)) if self.flicker else None,
               "flicker_gt": float(np.mean(self.flicker_gt)) if self.flicker_gt else None,
               "presence_flips": (self.presence_flips / len(self.flicker)
                                  if self.flicker else None),
               "stable_pairs": len(self.flicker)}
        for kind, d in self.lags.items():
            ms = np.asarray(d["ms"], float)
            out[kind] = {"events": int(ms.size), "missed": d["missed"],
                         "censored": d["censored"],
                         "median_ms": float(np.median(ms)) if ms.size else None,
                         "mean_ms": float(ms.mean()) if ms.size else None,
                         "p90_ms": float(np.percentile(ms, 90)) if ms.size else None,
                         "median_frames": float(np.median(d["frames"])) if ms.size else None}
        return out


def format_summary(s: dict) -> list[str]:
    """Human-readable lines of a :meth:`StreamMetrics.summary` (the replay printout, the
    demo and report.html)."""
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f} %"

    def lag(d):
        if not d["events"]:
            return f"no resolved event ({d['missed']} missed, {d['censored']} censored)"
        return (f"median {d['median_ms']:.0f} ms ({d['median_frames']:.0f} frames), p90 "
                f"{d['p90_ms']:.0f} ms over {d['events']} events, {d['missed']} missed, "
                f"{d['censored']} censored")

    return [f"silent frames: {s['silent_frames']}, no object published on "
            f"{pct(s['silent_no_object'])} (whole window silent: {s['silent_window_frames']}, "
            f"{pct(s['silent_window_no_object'])}); J on sounding frames "
            f"{pct(s['J_sounding'])}",
            f"flicker: {pct(s['flicker'])} of pixels per frame (ground truth "
            f"{pct(s['flicker_gt'])}), presence flips on {pct(s['presence_flips'])} of "
            f"{s['stable_pairs']} pairs without onset/offset",
            f"onset lag: {lag(s['onset'])}", f"offset lag: {lag(s['offset'])}"]
