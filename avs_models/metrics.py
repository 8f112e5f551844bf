"""AVSBench evaluation metrics with the semantics of the official benchmark code.

Binary tasks (S4, MS3; Zhou et al. 2022, AVSBench ``utility.py``):

- **J** (mask IoU): sigmoid(logit) > 0.5 gives the prediction P; per frame
  J = |P ∩ G| / (|P ∪ G| + 1e-7). A frame whose ground truth G is empty scores
  TN / (H·W + 1e-7) instead (the fraction of pixels correctly left as background). The 1e-7
  is the official code's epsilon and is kept so that values match it to the last digit.
- **F** (F-measure, β² = 0.3): on sigmoid(logit), 255 thresholds
  ``torch.linspace(0, 1 - 1e-10, 255)`` in float32 (the last one is exactly 1.0); at each
  threshold t, positives are probabilities >= t, precision = TP / (positives + 1e-20),
  recall = TP / (|G| + 1e-20), F = 1.3·P·R / (0.3·P + R) with NaN -> 0. Frames with an empty
  G are skipped. The F curve is averaged over the (non-empty) frames of one group, then its
  maximum over thresholds is the group's F; a group whose frames are all empty scores 0 and
  still counts. The reported F is the mean over groups, so it depends on the grouping: the
  official test loop uses one clip per call (grouping ``"clip"`` here).

Semantic task (AVSS; Zhou et al. 2023, AVSBench-semantic ``utility.py``): per frame and class,
intersection, prediction area and label area by histogram over class ids; per class
IoU = inter / (union + 2.2e-16) and F (β² = 0.3) from precision inter/pred and recall
inter/label (NaN -> 0) are summed over frames, and a class's frame count grows by one where its
union is non-zero. mIoU and F are the means over all classes of sum / count (NaN -> 0, so a
class that never appears counts as 0).

All counting is done in float32 like the official code (exact for counts below 2^24).
"""
from __future__ import annotations

from typing import Hashable, Sequence

import torch

from .errors import AVSInputError

BETA2 = 0.3
NUM_THRESHOLDS = 255
IOU_EPS = 1e-7                    # official binary mask_iou epsilon
SEMANTIC_EPS = 2.220446049250313e-16  # official semantic IoU epsilon (float64 machine eps)
PR_EPS = 1e-20                    # official precision/recall epsilon
AVSS_NUM_CLASSES = 71


def f_thresholds(num: int = NUM_THRESHOLDS, device: torch.device | str | None = None
                 ) -> torch.Tensor:
    """Thresholds of the official F-measure: float32 [num], linspace(0, 1 - 1e-10) (the last
    value rounds to exactly 1.0 in float32)."""
    return torch.linspace(0.0, 1.0 - 1e-10, num, dtype=torch.float32, device=device)


def _binary_inputs(logits: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check and flatten binary inputs -> (probabilities float32 [N, H*W], gt bool [N, H*W])."""
    if not isinstance(logits, torch.Tensor) or not isinstance(gt, torch.Tensor):
        raise AVSInputError("logits and gt must be torch.Tensors, got "
                            f"{type(logits).__name__} and {type(gt).__name__}")
    if not logits.is_floating_point():
        raise AVSInputError(f"logits must be float [N, 1, H, W] or [N, H, W], got dtype "
                            f"{logits.dtype}")
    if gt.is_floating_point() or gt.is_complex():
        raise AVSInputError(f"gt must be a bool or uint8 mask (non-zero = foreground), got "
                            f"dtype {gt.dtype}")
    shapes = f"logits {tuple(logits.shape)}, gt {tuple(gt.shape)}"
    if logits.dim() == 4:
        if logits.shape[1] != 1:
            raise AVSInputError(f"binary logits must have one channel [N, 1, H, W]; got {shapes}"
                                "; use SemanticAVSMetric for multi-class outputs")
        logits = logits[:, 0]
    if gt.dim() == 4 and gt.shape[1] == 1:
        gt = gt[:, 0]
    if logits.dim() != 3 or gt.shape != logits.shape:
        raise AVSInputError(f"expected logits [N, 1, H, W] or [N, H, W] and gt of the same "
                            f"N, H, W; got {shapes}")
    prob = torch.sigmoid(logits.to(torch.float32)).flatten(1)
    return prob, (gt != 0).flatten(1).to(prob.device)


def binary_iou(logits: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-frame J of the official code.

    Args:
        logits: float [N, 1, H, W] or [N, H, W], one logit per pixel.
        gt: bool/uint8 [N, 1, H, W] or [N, H, W], non-zero = sounding object.

    Returns:
        float32 [N]: |P∩G| / (|P∪G| + 1e-7) with P = sigmoid(logits) > 0.5, or for an empty G
        the true-negative fraction TN / (H·W + 1e-7).

    Raises:
        AVSInputError: wrong types, dtypes or shapes.
    """
    prob, g = _binary_inputs(logits, gt)
    p = prob > 0.5
    inter = (p & g).sum(1).to(torch.float32)
    union = (p | g).sum(1).to(torch.float32)
    empty = ~g.any(1)
    tn = (~p & ~g).sum(1).to(torch.float32)
    inter = torch.where(empty, tn, inter)
    union = torch.where(empty, torch.full_like(union, float(g.shape[1])), union)
    return inter / (union + IOU_EPS)


def binary_f_curves(logits: torch.Tensor, gt: torch.Tensor,
                    num_thresholds: int = NUM_THRESHOLDS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame F-measure curves over the official thresholds.

    Args: as :func:`binary_iou`.

    Returns:
        (curves float32 [N, num_thresholds], non_empty bool [N]); curves of frames with an
        empty ground truth are all 0 and must be skipped (``non_empty`` False).
    """
    prob, g = _binary_inputs(logits, gt)
    th = f_thresholds(num_thresholds, prob.device)
    hw = prob.shape[1]
    # positives at threshold t = #(prob >= t) = hw - #(prob < t), by search in sorted values
    sorted_all = prob.sort(1).values
    pos = hw - torch.searchsorted(sorted_all, th.expand(prob.shape[0], -1).contiguous(),
                                  side="left")
    # true positives: the same count over the foreground pixels only (background pushed to -1)
    sorted_fg = torch.where(g, prob, torch.full_like(prob, -1.0)).sort(1).values
    tp = hw - torch.searchsorted(sorted_fg, th.expand(prob.shape[0], -1).contiguous(),
                                 side="left")
    tp, pos = tp.to(torch.float32), pos.to(torch.float32)
    n_gt = g.sum(1, keepdim=True).to(torch.float32)
    precision = tp / (pos + PR_EPS)
    recall = tp / (n_gt + PR_EPS)
    f = (1 + BETA2) * precision * recall / (BETA2 * precision + recall)
    f = torch.nan_to_num(f, nan=0.0)
    non_empty = n_gt[:, 0] > 0
    return torch.where(non_empty[:, None], f, torch.zeros_like(f)), non_empty


def binary_f_measure(logits: torch.Tensor, gt: torch.Tensor,
                     num_thresholds: int = NUM_THRESHOLDS) -> float:
    """F of one official call (``Eval_Fmeasure``): the F curves of the frames with a non-empty
    ground truth are averaged, then the maximum over thresholds is returned; 0.0 when every
    frame's ground truth is empty. Args as :func:`binary_iou`."""
    curves, non_empty = binary_f_curves(logits, gt, num_thresholds)
    count = int(non_empty.sum())
    if count == 0:
        return 0.0
    return float((curves.sum(0) / count).max())


class BinaryAVSMetric:
    """Accumulates J and F over a split for S4/MS3.

    Grouping (F depends on it, see the module docstring):
        ``"clip"`` (default): frames are grouped by the clip ids passed to :meth:`update`, also
            across calls; one group per clip, as the official test loop (one clip per batch).
        ``"call"``: each :meth:`update` call is one group, whatever it holds.

    :meth:`compute` returns ``{"J": mean per-frame J over all frames, "J_group_mean": mean over
    groups of the per-group mean J (what the official loop averages; equal to J when groups
    have equal frame counts), "F": mean over groups of the group F, "frames", "groups",
    "grouping"}``; values are fractions (the papers print percentages).

    Raises:
        AVSInputError: unknown grouping; clip ids missing (grouping "clip") or of the wrong
            length; bad logits/gt (see :func:`binary_iou`).
    """

    GROUPINGS = ("clip", "call")

    def __init__(self, grouping: str = "clip", num_thresholds: int = NUM_THRESHOLDS) -> None:
        if grouping not in self.GROUPINGS:
            raise AVSInputError(f"grouping must be one of {self.GROUPINGS}, got {grouping!r}")
        self.grouping = grouping
        self.num_thresholds = num_thresholds
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated."""
        # group key -> [sum of J, frames, sum of F curves (float32 [T]), non-empty frames]
        self._groups: dict[Hashable, list] = {}
        self._calls = 0

    def update(self, logits: torch.Tensor, gt: torch.Tensor,
               clip_ids: Sequence[Hashable] | None = None) -> None:
        """Add N frames: logits float [N, 1, H, W] / [N, H, W], gt bool/uint8 of the same N, H, W,
        clip_ids one hashable id per frame (required for grouping "clip")."""
        with torch.no_grad():
            iou = binary_iou(logits, gt).cpu()
            curves, non_empty = binary_f_curves(logits, gt, self.num_thresholds)
            curves, non_empty = curves.cpu(), non_empty.cpu()
        n = iou.shape[0]
        if self.grouping == "clip":
            if clip_ids is None or len(clip_ids) != n:
                got = "none" if clip_ids is None else f"{len(clip_ids)}"
                raise AVSInputError(f"grouping 'clip' needs one clip id per frame ({n}), got {got}")
            keys = list(clip_ids)
        else:
            keys = [("call", self._calls)] * n
        self._calls += 1
        for i, key in enumerate(keys):
            g = self._groups.get(key)
            if g is None:
                g = self._groups[key] = [0.0, 0, torch.zeros(self.num_thresholds), 0]
            g[0] += float(iou[i])
            g[1] += 1
            if non_empty[i]:
                g[2] += curves[i]
                g[3] += 1

    def compute(self) -> dict:
        """J, F (fractions in [0, 1]) and the grouping used; see the class docstring.
        Raises AVSInputError when nothing was accumulated."""
        groups = [g for g in self._groups.values() if g[1] > 0]
        if not groups:
            raise AVSInputError("no frames accumulated: call update() before compute()")
        frames = sum(g[1] for g in groups)
        f_values = [float((g[2] / g[3]).max()) if g[3] else 0.0 for g in groups]
        return {
            "J": sum(g[0] for g in groups) / frames,
            "J_group_mean": sum(g[0] / g[1] for g in groups) / len(groups),
            "F": sum(f_values) / len(groups),
            "frames": frames,
            "groups": len(groups),
            "grouping": self.grouping,
        }


def semantic_frame_stats(pred: torch.Tensor, gt: torch.Tensor,
                         num_classes: int = AVSS_NUM_CLASSES
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-frame, per-class IoU, F and presence of the official AVSS metric.

    Args:
        pred: float logits [N, C, H, W] (argmax over C; C must equal num_classes) or integer
            class ids [N, H, W].
        gt: integer class ids [N, H, W] (uint8/int64; 0 = background). Pixels whose label is
            outside [0, num_classes) (e.g. 255) are left out of the label area and intersection
            but still count in the prediction area, as in the official histogram code.
        num_classes: C (71 for AVSBench-semantic).

    Returns:
        (iou float32 [N, C], fscore float32 [N, C], present bool [N, C]): IoU = inter /
        (union + 2.2e-16); F with β² = 0.3, NaN -> 0; present = union > 0.

    Raises:
        AVSInputError: wrong dtypes, shapes, or class count.
    """
    if not isinstance(pred, torch.Tensor) or not isinstance(gt, torch.Tensor):
        raise AVSInputError("pred and gt must be torch.Tensors")
    if pred.is_floating_point():
        if pred.dim() != 4 or pred.shape[1] != num_classes:
            raise AVSInputError(f"semantic logits must be [N, {num_classes}, H, W], got "
                                f"{tuple(pred.shape)}")
        pred = pred.argmax(1)
    elif pred.dtype == torch.bool:
        raise AVSInputError("semantic pred must be float logits [N, C, H, W] or integer class "
                            "ids [N, H, W], got bool")
    if gt.is_floating_point() or gt.dtype == torch.bool:
        raise AVSInputError(f"semantic gt must be integer class ids [N, H, W], got {gt.dtype}")
    if gt.dim() == 4 and gt.shape[1] == 1:
        gt = gt[:, 0]
    if pred.dim() != 3 or gt.shape != pred.shape:
        raise AVSInputError(f"expected class-id maps [N, H, W] of equal shape, got pred "
                            f"{tuple(pred.shape)} and gt {tuple(gt.shape)}")
    n = pred.shape[0]
    pred = pred.flatten(1).long()
    gt = gt.flatten(1).to(pred.device).long()
    c = num_classes
    offsets = torch.arange(n, device=pred.device)[:, None] * c

    def hist(ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        flat = (ids + offsets)[keep]
        return torch.bincount(flat, minlength=n * c).reshape(n, c).to(torch.float32)

    valid_pred = (pred >= 0) & (pred < c)
    valid_gt = (gt >= 0) & (gt < c)
    area_pred = hist(pred.clamp(0, c - 1), valid_pred)
    area_lab = hist(gt.clamp(0, c - 1), valid_gt)
    area_inter = hist(gt.clamp(0, c - 1), valid_gt & (pred == gt))
    union = area_pred + area_lab - area_inter
    iou = area_inter / (union + SEMANTIC_EPS)
    precision = area_inter / area_pred
    recall = area_inter / area_lab
    fscore = torch.nan_to_num((1 + BETA2) * precision * recall / (BETA2 * precision + recall),
                              nan=0.0)
    return iou, fscore, union > 0


class SemanticAVSMetric:
    """Accumulates the AVSS mIoU and F over a split (official per-class accumulation).

    Args:
        num_classes: C (71).
        pad_to_frames: None (default) evaluates the frames given. An integer T reproduces a
            quirk of the official test loop, where 5-frame clips are padded to T = 10 frames
            and each padded frame counts as a perfect background frame (IoU 1 and F 1 for
            class 0, its count + 1); needs clip ids in :meth:`update`.

    :meth:`compute` returns ``{"mIoU", "F", "per_class_iou" float32 [C], "per_class_f" [C],
    "class_counts" [C], "frames", "padded_frames"}``; mIoU and F are fractions.

    Raises:
        AVSInputError: bad inputs (see :func:`semantic_frame_stats`), missing clip ids when
            padding, a clip with more frames than ``pad_to_frames``, or compute() before update().
    """

    def __init__(self, num_classes: int = AVSS_NUM_CLASSES, pad_to_frames: int | None = None
                 ) -> None:
        self.num_classes = num_classes
        self.pad_to_frames = pad_to_frames
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated."""
        self._iou = torch.zeros(self.num_classes)
        self._f = torch.zeros(self.num_classes)
        self._count = torch.zeros(self.num_classes)
        self._frames = 0
        self._clip_frames: dict[Hashable, int] = {}

    def update(self, pred: torch.Tensor, gt: torch.Tensor,
               clip_ids: Sequence[Hashable] | None = None) -> None:
        """Add N frames (see :func:`semantic_frame_stats` for pred/gt); clip_ids, one per
        frame, are needed only with ``pad_to_frames``."""
        with torch.no_grad():
            iou, f, present = semantic_frame_stats(pred, gt, self.num_classes)
        if self.pad_to_frames is not None:
            if clip_ids is None or len(clip_ids) != iou.shape[0]:
                raise AVSInputError("pad_to_frames needs one clip id per frame in update()")
            for cid in clip_ids:
                self._clip_frames[cid] = self._clip_frames.get(cid, 0) + 1
                if self._clip_frames[cid] > self.pad_to_frames:
                    raise AVSInputError(f"clip {cid!r} has more than pad_to_frames="
                                        f"{self.pad_to_frames} frames")
        self._iou += iou.sum(0).cpu()
        self._f += f.sum(0).cpu()
        self._count += present.sum(0).to(torch.float32).cpu()
        self._frames += iou.shape[0]

    def compute(self) -> dict:
        """mIoU and F over all classes; see the class docstring."""
        if self._frames == 0:
            raise AVSInputError("no frames accumulated: call update() before compute()")
        iou, f, count = self._iou.clone(), self._f.clone(), self._count.clone()
        padded = 0
        if self.pad_to_frames is not None:
            padded = sum(self.pad_to_frames - k for k in self._clip_frames.values())
            iou[0] += padded
            f[0] += padded
            count[0] += padded
        per_iou = torch.nan_to_num(iou / count, nan=0.0)
        per_f = torch.nan_to_num(f / count, nan=0.0)
        return {
            "mIoU": float(per_iou.mean()),
            "F": float(per_f.mean()),
            "per_class_iou": per_iou,
            "per_class_f": per_f,
            "class_counts": count,
            "frames": self._frames,
            "padded_frames": padded,
        }
