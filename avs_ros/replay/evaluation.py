"""J and F of replayed frames against the bag's ground truth, with the AVSBench semantics of
:mod:`avs_models.metrics` (binary: per-frame J, F from the 255-threshold curves grouped by
clip; semantic: the AVSS per-class mIoU and F).

Matching: a ground-truth mask belongs to the frame with the same header stamp. Frames are
released in stamp order, each once its mask has arrived or once the bag clock is
``horizon_s`` past the frame's completion without one (then it is counted as unannotated);
masks whose frame was dropped are counted as ``gt_unmatched`` (a dropped frame gets no score,
as in the node's output; the report shows the count next to the drop counters).

Binary scores use the pipeline's probability map: logits are recovered as
``log(p) - log(1 - p)`` (clipped to +-100, where float32 sigmoid saturates), so J (sigmoid >
0.5) and F (thresholds on sigmoid) see the same values as the model's output at the frame's
size. J thresholds at 0.5, the benchmark's rule, whatever ``--score-threshold`` the
published masks use (they agree at the default 0.5). Grouping for F: one group per clip
when the bag names clips (``/avs/clip``, AVSBench bags), else the whole stream is one group.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from avs_models.metrics import (NUM_THRESHOLDS, SemanticAVSMetric, binary_f_curves, binary_iou,
                                semantic_frame_stats)

from ..bag.reader import GroundTruthEvent
from .engine import NS_PER_S, ProcessedFrame


class GroundTruthError(ValueError):
    """A ground-truth mask that cannot be compared with its frame (size mismatch)."""


@dataclass(frozen=True)
class FrameScore:
    """Per-frame scores: ``j`` (binary J, or the semantic frame's mean IoU over present
    classes), ``f`` (max over thresholds of the frame's F curve; None for an empty ground
    truth, which F skips); both None without ground truth."""

    j: float | None
    f: float | None


def probability_to_logits(prob: np.ndarray) -> torch.Tensor:
    """float32 [H, W] probabilities -> float32 logits [1, 1, H, W] (clipped to +-100)."""
    p = prob.astype(np.float64)
    with np.errstate(divide="ignore"):
        logits = np.log(p) - np.log1p(-p)
    return torch.from_numpy(np.clip(logits, -100.0, 100.0).astype(np.float32))[None, None]


class Evaluator:
    """Matches frames with ground truth and accumulates the scores.

    Args:
        num_classes: the model's C (1: binary metric; > 1: semantic metric).
        gt_topic: ground-truth topic (for messages), None when the bag has none.
        emit: callable(frame, gt mask or None, FrameScore) per released frame, in stamp order.
        horizon_s: how long a frame waits for its mask on the bag clock.
    """

    def __init__(self, num_classes: int, gt_topic: str | None,
                 emit: Callable[[ProcessedFrame, np.ndarray | None, FrameScore], None],
                 horizon_s: float = 2.0) -> None:
        self.num_classes = int(num_classes)
        self.gt_topic = gt_topic
        self.emit = emit
        self.horizon_ns = int(horizon_s * NS_PER_S)
        # binary, per clip: [sum of J, frames, sum of F curves float32 [255], non-empty frames]
        # (BinaryAVSMetric's accumulation with grouping "clip", kept here so that each frame's
        # J and F curve are computed once and also reported per frame)
        self.binary: dict[str, list] | None = {} if num_classes == 1 else None
        self.semantic = SemanticAVSMetric(num_classes) if num_classes > 1 else None
        self.frames_scored = 0
        self.frames_unannotated = 0
        self.gt_unmatched = 0
        self._frames: deque[ProcessedFrame] = deque()
        self._gt: dict[int, np.ndarray] = {}

    def frame(self, frame: ProcessedFrame) -> None:
        """A processed frame (stamp order)."""
        self._frames.append(frame)
        self._release(frame.done_ns)

    def ground_truth(self, event: GroundTruthEvent) -> None:
        """A ground-truth mask."""
        self._gt[event.stamp_ns] = event.mask

    def advance(self, now_ns: int) -> None:
        """Release what can be released at bag time ``now_ns``."""
        self._release(now_ns)

    def finish(self) -> None:
        """Release every held frame (end of the bag, or an error)."""
        self._release(None)
        self.gt_unmatched += len(self._gt)
        self._gt.clear()

    def _release(self, now_ns: int | None) -> None:
        while self._frames:
            head = self._frames[0]
            stamp = head.image.stamp_ns
            gt = self._gt.pop(stamp, None)
            if gt is None and self.gt_topic is not None and now_ns is not None \
                    and now_ns - head.done_ns < self.horizon_ns:
                break
            self._frames.popleft()
            for old in [s for s in self._gt if s < stamp]:   # masks of dropped frames
                del self._gt[old]
                self.gt_unmatched += 1
            score = self._score(head, gt)
            self.emit(head, gt, score)

    def _score(self, frame: ProcessedFrame, gt: np.ndarray | None) -> FrameScore:
        if gt is None:
            self.frames_unannotated += 1
            return FrameScore(None, None)
        mask = frame.result.mask
        if gt.shape != mask.shape:
            raise GroundTruthError(
                f"ground truth on {self.gt_topic} at stamp {frame.image.stamp_ns} ns is "
                f"{gt.shape[1]}x{gt.shape[0]} px but its image on the camera topic is "
                f"{mask.shape[1]}x{mask.shape[0]} px; expected masks of the image's size")
        self.frames_scored += 1
        if self.binary is not None:
            logits = probability_to_logits(frame.result.probability)
            target = torch.from_numpy(gt != 0)[None]
            j = float(binary_iou(logits, target)[0])
            curves, non_empty = binary_f_curves(logits, target)
            group = self.binary.setdefault(frame.clip, [0.0, 0, torch.zeros(NUM_THRESHOLDS), 0])
            group[0] += j
            group[1] += 1
            if bool(non_empty[0]):
                group[2] += curves[0]
                group[3] += 1
            return FrameScore(j, float(curves[0].max()) if bool(non_empty[0]) else None)
        pred = torch.from_numpy(mask.astype(np.int64))[None]
        target = torch.from_numpy(gt.astype(np.int64))[None]
        self.semantic.update(pred, target)
        iou, _, present = semantic_frame_stats(pred, target, self.num_classes)
        j = float(iou[0][present[0]].mean()) if bool(present[0].any()) else None
        return FrameScore(j, None)

    def summary(self) -> dict | None:
        """Overall scores (fractions), None when no frame was scored: binary ``{"J", "F",
        "J_group_mean", "groups", "grouping", "frames"}``; semantic ``{"mIoU", "F",
        "frames"}``."""
        if not self.frames_scored:
            return None
        if self.binary is not None:
            groups = list(self.binary.values())
            frames = sum(g[1] for g in groups)
            f = [float((g[2] / g[3]).max()) if g[3] else 0.0 for g in groups]
            return {"task": "binary", "J": sum(g[0] for g in groups) / frames,
                    "F": sum(f) / len(groups),
                    "J_group_mean": sum(g[0] / g[1] for g in groups) / len(groups),
                    "groups": len(groups), "grouping": "clip", "frames": frames}
        out = self.semantic.compute()
        return {"task": "semantic", "mIoU": out["mIoU"], "F": out["F"], "frames": out["frames"]}
