"""One frame through the model: preprocess -> log-mel -> inference -> postprocess, each timed.

This is what the ROS node and the replay tool both call, so a bag replayed offline gives the
node's masks and objects. The stages (ultralytics' predictor habit):

- preprocess: RGB frame -> normalised float32 [1, 3, h, w] (:mod:`.preprocess`);
- logmel: the contract's audio window (VGGish 15600, PANNs 15200 samples) -> float32
  [1, 1, 96, 64] by its front end;
- inference: :meth:`Backend.infer` -> logits float32 [1, C, h, w]; with temporal smoothing
  (off by default) the logits become an exponential moving average over the frames
  (``s_k = (1 - a) z_k + a s_{k-1}`` at the model's resolution; one frame of state, no
  added latency), restarted when a frame comes more than ``smoothing_max_gap_s`` after the
  previous one, earlier than it, or without a stamp;
- postprocess: mask and objects at the frame's size (:mod:`.postprocess`), plus the overlay
  when one is asked for.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from avs_models.backends.base import Backend
from avs_models.contract import InputContract

from .errors import StageError
from .postprocess import Postprocessor, SoundingObject, draw_overlay, make_palette
from .preprocess import Preprocessor

STAGES = ("preprocess", "logmel", "inference", "postprocess")


@dataclass(frozen=True)
class Result:
    """One frame's output: ``mask`` uint8 [H, W] class ids at the frame's size, ``probability``
    float32 [H, W] (None when the pipeline was built without it), ``objects``, ``overlay`` uint8
    [H, W, 3] RGB (None unless asked for) and ``timings_ms``: wall ms per stage in
    :data:`STAGES` order, plus ``"total"``."""

    mask: np.ndarray
    probability: np.ndarray | None
    objects: list[SoundingObject]
    overlay: np.ndarray | None
    timings_ms: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """Runs one frame and its audio window through a backend.

    Args:
        backend: a loaded :class:`~avs_models.backends.base.Backend`; its ``image_size`` and
            ``num_classes`` decide the input size and the logits expected.
        contract: the model's input contract (mean/std, audio window).
        class_names: names by mask id (see :class:`.postprocess.Postprocessor`); None: defaults.
        score_threshold, min_area_px: see :class:`.postprocess.Postprocessor`.
        overlay: draw the overlay in :meth:`process` (counted in the postprocess stage).
        overlay_alpha, outline_px: see :func:`.postprocess.draw_overlay`.
        streaming_logmel: reuse log-mel frames shared by consecutive windows (see
            :class:`.preprocess.Preprocessor`).
        probability: return the frame-size probability map in :attr:`Result.probability`
            (replay scores J/F with it); False leaves it None and saves a whole-frame sigmoid.
        object_grid: where objects are found, "frame" or "model" (see
            :class:`.postprocess.Postprocessor`; the node and replay use "model").
        temporal_smoothing: weight a in [0, 1) of the previous frames in the logits' moving
            average (0 = off: every frame on its own).
        smoothing_max_gap_s: a frame more than this many s after the previous one (by the
            ``stamp_ns`` given to :meth:`process`) restarts the average.

    Raises:
        ValueError: see :class:`.preprocess.Preprocessor` and :class:`.postprocess.Postprocessor`;
            ``temporal_smoothing`` outside [0, 1), a gap <= 0.
    """

    def __init__(self, backend: Backend, contract: InputContract,
                 class_names: Sequence[str] | None = None, score_threshold: float = 0.5,
                 min_area_px: int = 1, overlay: bool = True, overlay_alpha: float = 0.5,
                 outline_px: int = 2, streaming_logmel: bool = False,
                 probability: bool = True, object_grid: str = "frame",
                 temporal_smoothing: float = 0.0, smoothing_max_gap_s: float = 0.5) -> None:
        if not 0.0 <= temporal_smoothing < 1.0 or smoothing_max_gap_s <= 0:
            raise ValueError(f"temporal_smoothing must lie in [0, 1) and smoothing_max_gap_s be "
                             f"> 0, got {temporal_smoothing}, {smoothing_max_gap_s}")
        self.temporal_smoothing = float(temporal_smoothing)
        self._max_gap_ns = int(smoothing_max_gap_s * 1e9)
        self._state: tuple[int, np.ndarray] | None = None   # (stamp_ns, smoothed logits)
        self.backend = backend
        self.probability = bool(probability)
        self.preprocessor = Preprocessor(contract, tuple(backend.image_size), streaming_logmel)
        self.postprocessor = Postprocessor(backend.num_classes, class_names, score_threshold,
                                           min_area_px, object_grid=object_grid)
        self.overlay = bool(overlay)
        self.overlay_alpha = float(overlay_alpha)
        self.outline_px = int(outline_px)
        self.palette = make_palette()

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names by mask id."""
        return self.postprocessor.class_names

    def _smooth(self, logits, stamp_ns: int | None):
        prev = self._state
        if stamp_ns is None:
            self._state = None
            return logits
        z = np.array(logits, dtype=np.float32)      # a copy: backends may reuse their output
        if prev is not None and prev[1].shape == z.shape \
                and 0 <= stamp_ns - prev[0] <= self._max_gap_ns:
            a = self.temporal_smoothing
            z = (1.0 - a) * z + a * prev[1]
        self._state = (stamp_ns, z)
        return z

    def process(self, image_rgb: np.ndarray, audio_window: np.ndarray,
                stamp_ns: int | None = None) -> Result:
        """``image_rgb`` uint8 [H, W, 3] RGB; ``audio_window`` float32 [W] 16 kHz samples
        ending at the frame's stamp (W = ``contract.window_samples``); ``stamp_ns`` the
        frame's stamp (used by temporal smoothing only). Returns a :class:`Result` at H x W.

        Raises:
            StageError: any failure, with the stage it happened in (``stage``) and the cause
                chained, e.g. AVSInputError for a frame, window or logits that do not match
                the contract.
        """
        timings: dict[str, float] = {}
        clock = time.perf_counter
        stage = STAGES[0]
        try:
            t0 = clock()
            image = self.preprocessor.image(image_rgb)
            t1, stage = clock(), STAGES[1]
            audio = self.preprocessor.audio(audio_window)
            t2, stage = clock(), STAGES[2]
            logits = self.backend.infer(image, audio)
            if self.temporal_smoothing:
                logits = self._smooth(logits, stamp_ns)
            t3, stage = clock(), STAGES[3]
            seg = self.postprocessor(logits, image_rgb.shape[:2], self.probability)
            overlay = draw_overlay(image_rgb, seg.mask, self.palette, self.overlay_alpha,
                                   self.outline_px) if self.overlay else None
            t4 = clock()
        except Exception as exc:    # noqa: BLE001 - any failure is one frame's, named by stage
            raise StageError(stage, exc) from exc
        for name, (a, b) in zip(STAGES, ((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
            timings[name] = (b - a) * 1e3
        timings["total"] = (t4 - t0) * 1e3
        return Result(seg.mask, seg.probability, seg.objects, overlay, timings)


class LatencyStats:
    """Rolling latency percentiles and output rate over the last ``window`` frames.

    ``add(latency_ms, done_s)`` records one frame: its latency (e.g. now - image stamp, or a
    stage's time) and the time it was completed, in s of any clock (explicit, so that
    replay statistics are deterministic).

    Raises:
        ValueError: ``window < 2``.
    """

    def __init__(self, window: int = 100) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2 frames, got {window}")
        self._latency: deque[float] = deque(maxlen=window)
        self._done: deque[float] = deque(maxlen=window)
        self.count = 0

    def add(self, latency_ms: float, done_s: float) -> None:
        """Record one frame (``latency_ms`` in ms, ``done_s`` completion time in s)."""
        self._latency.append(float(latency_ms))
        self._done.append(float(done_s))
        self.count += 1

    def percentile(self, q: float) -> float:
        """q-th percentile (0..100, linear interpolation) of the window's latencies in ms;
        NaN when empty."""
        return float(np.percentile(self._latency, q)) if self._latency else float("nan")

    @property
    def p50(self) -> float:
        """Median latency in ms."""
        return self.percentile(50)

    @property
    def p95(self) -> float:
        """95th-percentile latency in ms."""
        return self.percentile(95)

    @property
    def fps(self) -> float:
        """Frames completed per second over the window: (n - 1) / (last - first completion);
        NaN with fewer than two frames or no elapsed time."""
        if len(self._done) < 2 or self._done[-1] <= self._done[0]:
            return float("nan")
        return (len(self._done) - 1) / (self._done[-1] - self._done[0])

    def summary(self) -> dict[str, float]:
        """{"count", "p50_ms", "p95_ms", "fps"} for logging."""
        return {"count": self.count, "p50_ms": self.p50, "p95_ms": self.p95, "fps": self.fps}
