"""Training losses: Dice, soft IoU and (binary) cross-entropy, and one criterion per model.

A criterion takes the train-mode output dict of an :class:`~avs_models.base.AVSModel`
(``"logits"`` float [B, C, H, W]; ``"aux_logits"``: list of [B, C, h, w]; ``"align_logits"``:
list of [B, 1, h, w]) and the target, and returns a dict of named, unweighted loss terms plus
``"loss"``, their weighted sum (the tensor to back-propagate).

Targets:
    C = 1 (S4, MS3): a binary mask [B, 1, H, W] (or [B, H, W]); float in [0, 1], bool or uint8.
    C > 1 (AVSS): class ids [B, H, W] (or [B, 1, H, W]), integer in [0, C).

Probabilities are sigmoid(logits) for C = 1 and softmax over C for C > 1, compared with the
one-hot target; the binary cross-entropy becomes the multi-class cross-entropy for C > 1.
Auxiliary and alignment logits are resized bilinearly (align_corners=False) to the target size
before their loss; the main logits must already have the target size.

Choices where the papers are silent (each is documented where it is made):
- Dice follows the public AVSegFormer code (on which AVESFormer builds): per sample,
  1 - 2·Σ p·g / (Σ p² + Σ g² + 2e-3), averaged over the batch; for C > 1 the sums run over
  classes and pixels of the one-hot maps.
- soft IoU: per sample, 1 - Σ p·g / (Σ p + Σ g - Σ p·g + 1e-6), averaged over the batch.
- several auxiliary outputs are summed, each with the auxiliary weight (AVSegFormer Eq. 4 sums
  its intermediate mask losses over decoder layers).
"""
from __future__ import annotations

import inspect
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import AVSInputError, PresetError

DICE_EPS = 1e-3   # per sum in the denominator, as the public AVSegFormer code
IOU_EPS = 1e-6

Outputs = Mapping[str, "torch.Tensor | Sequence[torch.Tensor]"]


def _checked_target(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Check a logits/target pair; return the target as float [B, 1, H, W] (C = 1) or long
    class ids [B, H, W] (C > 1)."""
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or \
            logits.dim() != 4:
        raise AVSInputError(f"logits must be a float tensor [B, C, H, W], got "
                            f"{getattr(logits, 'shape', type(logits).__name__)}")
    target = _as_target(target, logits.shape[1])
    if target.shape[0] != logits.shape[0] or tuple(logits.shape[-2:]) != tuple(target.shape[-2:]):
        raise AVSInputError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} "
                            "differ in batch size or height/width")
    return target


def _probs_and_target(logits: torch.Tensor, target: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (probabilities [B, C*H*W], target [B, C*H*W]: the mask for C = 1, one-hot for
    C > 1), both in the logits' dtype."""
    t = _checked_target(logits, target)
    c = logits.shape[1]
    if c == 1:
        return torch.sigmoid(logits).flatten(1), t.to(logits.dtype).flatten(1)
    one_hot = F.one_hot(t, c).permute(0, 3, 1, 2).to(logits.dtype)
    return torch.softmax(logits, dim=1).flatten(1), one_hot.flatten(1)


def _as_target(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Binary mask -> float [B, 1, H, W]; class ids -> long [B, H, W] (checked in range)."""
    if not isinstance(target, torch.Tensor):
        raise AVSInputError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if num_classes == 1:
        if target.dim() == 3:
            target = target[:, None]
        if target.dim() != 4 or target.shape[1] != 1:
            raise AVSInputError(f"binary target must be a mask [B, 1, H, W], got "
                                f"{tuple(target.shape)}")
        return target.float() if not target.is_floating_point() else target
    if target.is_floating_point() or target.dtype == torch.bool:
        raise AVSInputError(f"target for {num_classes} classes must be integer class ids "
                            f"[B, H, W], got dtype {target.dtype}")
    if target.dim() == 4 and target.shape[1] == 1:
        target = target[:, 0]
    if target.dim() != 3:
        raise AVSInputError(f"target for {num_classes} classes must be class ids [B, H, W], "
                            f"got {tuple(target.shape)}")
    target = target.long()
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= num_classes):
        raise AVSInputError(f"class ids must lie in [0, {num_classes}), got "
                            f"[{int(target.min())}, {int(target.max())}]")
    return target


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice loss (Milletari et al. 2016, V-Net form, as AVSegFormer's public code).

    Args:
        logits: float [B, C, H, W].
        target: C = 1: mask [B, 1, H, W] in [0, 1]; C > 1: class ids [B, H, W].

    Returns:
        scalar: mean over the batch of 1 - 2·Σ p·g / (Σ p² + Σ g² + 2e-3), sums over all
        classes and pixels of one sample (p = sigmoid or softmax probabilities, g = mask or
        one-hot). 0 for a perfect prediction; 1 when the target is empty.

    Raises:
        AVSInputError: wrong shapes/dtypes or class ids out of range.
    """
    p, g = _probs_and_target(logits, target)
    inter = (p * g).sum(1)
    denom = (p * p).sum(1) + (g * g).sum(1) + 2 * DICE_EPS
    return (1 - 2 * inter / denom).mean()


def soft_iou_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft IoU (Jaccard) loss, Rahman & Wang 2016: per sample
    1 - Σ p·g / (Σ p + Σ g - Σ p·g + 1e-6), averaged over the batch. Args, probabilities and
    errors as :func:`dice_loss`."""
    p, g = _probs_and_target(logits, target)
    inter = (p * g).sum(1)
    union = p.sum(1) + g.sum(1) - inter
    return (1 - inter / (union + IOU_EPS)).mean()


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits (C = 1, mean over pixels and batch) or, for C > 1, the
    multi-class cross-entropy over softmax (mean over pixels and batch). Args and errors as
    :func:`dice_loss`."""
    t = _checked_target(logits, target)
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits, t.to(logits.dtype))
    return F.cross_entropy(logits, t)


def presence_loss(logits: torch.Tensor, target: torch.Tensor, topk: int = 16) -> torch.Tensor:
    """Frame-level "does anything in view sound" loss: binary cross-entropy between the mean
    foreground logit of the ``topk`` most confident pixels and whether the target has any
    foreground pixel (a multiple-instance reading of the mask; ours, not the papers').

    Dice gives an empty target no gradient at all (its numerator is 0 whatever the
    prediction) and the per-pixel BCE spreads a silent frame's push over every pixel, so a
    few confident pixels -- which is what an object detector downstream reports -- survive.
    This term acts on exactly those pixels: on a silent frame it pushes the strongest ``topk``
    below 0; on a sounding frame it asks the strongest ones to be foreground.

    Args:
        logits: float [B, C, H, W]. For C = 1 the foreground logit is the logit itself; for
            C > 1 it is logsumexp over classes 1..C-1 minus the background (class 0) logit.
        target: as :func:`dice_loss`.
        topk: pixels per frame whose logits are averaged (clipped to H * W), px.

    Returns:
        float scalar, mean over the batch.

    Raises:
        AVSInputError: bad shapes/dtypes (as :func:`dice_loss`); ValueError: ``topk`` < 1.
    """
    if topk < 1:
        raise ValueError(f"topk must be >= 1 px, got {topk}")
    fg = foreground_mask(_checked_target(logits, target), logits.shape[1])
    if logits.shape[1] == 1:
        fg_logit = logits[:, 0]
    else:
        fg_logit = torch.logsumexp(logits[:, 1:], dim=1) - logits[:, 0]
    flat = fg_logit.flatten(1)
    score = flat.topk(min(int(topk), flat.shape[1]), dim=1).values.mean(dim=1)
    present = (fg.flatten(1) > 0.5).any(dim=1).to(score.dtype)
    return F.binary_cross_entropy_with_logits(score, present)


def resize_to(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize (align_corners=False) of [B, C, h, w] logits to ``size`` (H, W);
    unchanged when already that size."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def foreground_mask(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """float [B, 1, H, W]: the binary mask itself (C = 1) or class id != 0 (C > 1, class 0 is
    background in AVSBench-semantic)."""
    t = _as_target(target, num_classes)
    if num_classes == 1:
        return t
    return (t != 0).float()[:, None]


def _require(outputs: Outputs, key: str, criterion: str) -> torch.Tensor | list[torch.Tensor]:
    if not isinstance(outputs, Mapping):
        raise AVSInputError(f"{criterion} expects the train-mode output dict of the model "
                            f"(model.train(); keys 'logits', ...), got {type(outputs).__name__}")
    if key not in outputs:
        raise AVSInputError(f"{criterion} needs output {key!r}, which is missing (got keys "
                            f"{sorted(outputs)}); run the model in train mode so that its "
                            "auxiliary heads produce it")
    value = outputs[key]
    if key != "logits":
        if isinstance(value, torch.Tensor) or not isinstance(value, Sequence) or not value:
            raise AVSInputError(f"{criterion}: output {key!r} must be a non-empty list of "
                                "[B, C, h, w] tensors")
    return value


class _Criterion(nn.Module):
    """Shared part: the weighted total of named terms."""

    weights: dict[str, float]

    def _total(self, terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        terms["loss"] = sum(self.weights[k] * v for k, v in terms.items())
        return terms

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.weights.items())


class AVESFormerLoss(_Criterion):
    """AVESFormer segmentation loss (AVESFormer App. A.2.1):
    λ_IoU·IoU(logits) + λ_Dice·Dice(logits) + λ_aux·Σ_aux Dice(aux).

    Args:
        lambda_iou: 1.8 for S4/MS3, 1.0 for AVSS (the paper's values).
        lambda_dice: 1.0.
        lambda_aux: 0.1, applied to each auxiliary output.
        iou_term: "bce" (default) or "soft_iou". The paper does not define its "IoU loss"; in
            the AVSBench/AVSegFormer code bases that AVESFormer builds on, the term named
            "iou_loss" is the binary cross-entropy (cross-entropy for AVSS), so that reading
            is the default; "soft_iou" selects a literal soft-Jaccard loss.

    forward(outputs {"logits": [B, C, H, W], "aux_logits": [[B, C, h, w], ...]}, target) ->
    {"iou", "dice", "aux", "loss"} (scalars; "aux" is the unweighted sum over aux outputs).

    Raises:
        AVSInputError: missing output key, bad shapes/dtypes.
        ValueError: unknown iou_term.
    """

    def __init__(self, lambda_iou: float = 1.8, lambda_dice: float = 1.0,
                 lambda_aux: float = 0.1, iou_term: str = "bce") -> None:
        super().__init__()
        if iou_term not in ("soft_iou", "bce"):
            raise ValueError(f"iou_term must be 'soft_iou' or 'bce', got {iou_term!r}")
        self.iou_term = iou_term
        self.weights = {"iou": lambda_iou, "dice": lambda_dice, "aux": lambda_aux}

    def forward(self, outputs: Outputs, target: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = _require(outputs, "logits", "AVESFormerLoss")
        aux = _require(outputs, "aux_logits", "AVESFormerLoss")
        iou = soft_iou_loss if self.iou_term == "soft_iou" else bce_loss
        size = logits.shape[-2:]
        return self._total({
            "iou": iou(logits, target),
            "dice": dice_loss(logits, target),
            "aux": sum(dice_loss(resize_to(a, size), target) for a in aux),
        })


class LightAVSegLoss(_Criterion):
    """LightAVSeg loss (LightAVSeg Sec. "Loss & Training"): Dice + BCE + λ_msa·L_msa with
    L_msa = mean over scales of BCE(sigmoid(align_i upsampled to the mask size), M), M the
    foreground mask (class != 0 for C > 1).

    The align logits are the per-pixel cosine similarities divided by τ (the model's job);
    they are upsampled as logits and fed to BCE-with-logits, which equals BCE on their
    sigmoid and is numerically stable. For C > 1 the segmentation part uses the softmax Dice
    and the cross-entropy.

    Args:
        lambda_msa: 0.5 (the paper's value).
        lambda_presence: weight of :func:`presence_loss` (ours; 0, the paper's loss, by
            default). Streams, where silent frames must give an empty mask, train with it.
        presence_topk: its ``topk``, px at the logits' resolution.

    forward(outputs {"logits", "align_logits": [[B, 1, h, w], ...]}, target) ->
    {"dice", "bce", "msa", "loss"}, plus "presence" when lambda_presence > 0.

    Raises:
        AVSInputError: missing output key, align maps with more than one channel, bad shapes.
        ValueError: lambda_presence < 0 or presence_topk < 1.
    """

    def __init__(self, lambda_msa: float = 0.5, lambda_presence: float = 0.0,
                 presence_topk: int = 16) -> None:
        super().__init__()
        if lambda_presence < 0 or presence_topk < 1:
            raise ValueError(f"lambda_presence must be >= 0 and presence_topk >= 1, got "
                             f"{lambda_presence} and {presence_topk}")
        self.weights = {"dice": 1.0, "bce": 1.0, "msa": lambda_msa}
        if lambda_presence > 0:
            self.weights["presence"] = float(lambda_presence)
        self.presence_topk = int(presence_topk)

    def forward(self, outputs: Outputs, target: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = _require(outputs, "logits", "LightAVSegLoss")
        align = _require(outputs, "align_logits", "LightAVSegLoss")
        size = logits.shape[-2:]
        fg = foreground_mask(target, logits.shape[1]).to(logits.dtype)
        msa = []
        for a in align:
            if not isinstance(a, torch.Tensor) or a.dim() != 4 or a.shape[1] != 1:
                raise AVSInputError("LightAVSegLoss: each align_logits entry must be "
                                    f"[B, 1, h, w], got {getattr(a, 'shape', type(a).__name__)}")
            msa.append(F.binary_cross_entropy_with_logits(resize_to(a, size), fg))
        terms = {"dice": dice_loss(logits, target), "bce": bce_loss(logits, target),
                 "msa": torch.stack(msa).mean()}
        if "presence" in self.weights:
            terms["presence"] = presence_loss(logits, target, self.presence_topk)
        return self._total(terms)


class AVSegFormerLoss(_Criterion):
    """AVSegFormer loss (AVSegFormer Sec. 3.6, Eq. 4): L_IoU + λ·Σ L_mix, where the paper's
    "IoU loss" is a Dice loss on the final mask and the mix/intermediate loss is a Dice loss on
    the mixer mask(s) in ``aux_logits`` (λ = 0.1, the mix-loss weight that MODELS.md reports
    for AVSegFormer's public code).

    forward(outputs {"logits", "aux_logits": [[B, C, h, w], ...]}, target) ->
    {"dice", "mix", "loss"}.

    Raises:
        AVSInputError: missing output key, bad shapes/dtypes.
    """

    def __init__(self, lambda_mix: float = 0.1) -> None:
        super().__init__()
        self.weights = {"dice": 1.0, "mix": lambda_mix}

    def forward(self, outputs: Outputs, target: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = _require(outputs, "logits", "AVSegFormerLoss")
        aux = _require(outputs, "aux_logits", "AVSegFormerLoss")
        size = logits.shape[-2:]
        return self._total({
            "dice": dice_loss(logits, target),
            "mix": sum(dice_loss(resize_to(a, size), target) for a in aux),
        })


_FAMILIES = {
    "avesformer_": AVESFormerLoss,
    "lightavseg_": LightAVSegLoss,
    "avsegformer_": AVSegFormerLoss,
}


def build_criterion(preset_name: str, num_classes: int, **overrides) -> _Criterion:
    """The criterion of a preset's model family (chosen by the name's prefix).

    Args:
        preset_name: e.g. "avesformer_r18", "lightavseg_l", "avsegformer_r50".
        num_classes: 1 (S4/MS3) or 71 (AVSS). AVESFormer's λ_IoU defaults to 1.8 for C = 1
            and 1.0 for C > 1 (App. A.2.1) unless overridden.
        **overrides: keyword arguments of the criterion (e.g. ``lambda_aux=0.2``).

    Raises:
        PresetError: unknown family prefix or an option the criterion does not take.
    """
    for prefix, cls in _FAMILIES.items():
        if preset_name.startswith(prefix):
            break
    else:
        raise PresetError(f"no criterion for preset {preset_name!r}: its name must start with "
                          f"one of {sorted(_FAMILIES)}")
    accepted = [p for p in inspect.signature(cls).parameters]
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise PresetError(f"{cls.__name__} does not take option(s) {unknown}; its options are "
                          f"{accepted}")
    kwargs = dict(overrides)
    if cls is AVESFormerLoss and num_classes > 1:
        kwargs.setdefault("lambda_iou", 1.0)
    return cls(**kwargs)
