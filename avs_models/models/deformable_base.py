"""What AVSegFormer and AVESFormer share before their transformers: ResNet or PVTv2 + VGGish
features, projections to D = 256, and the flattened 1/8-1/16-1/32 token sequence with
positions.

Sources: AVSegFormer Sec. 3.2 ("feature transformation" to D = 256) and its public code
(per-level 1x1 conv + GroupNorm(32); audio ``Linear(128, 256)``; sine positions + learned level
embedding; levels 1/8, 1/16, 1/32 enter the transformer, 1/4 only the mask feature).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..audio.vggish import VGGish, load_vggish_weights
from ..backbones.pvt_v2 import load_pvt_v2_weights, pvt_v2_b5
from ..backbones.resnet import load_torchvision_weights, resnet18, resnet50
from ..base import AVSModel
from ..layers.levels import flatten_levels, level_positions, reference_points
from ..ops.ms_deform_attn import MSDeformAttn, SpatialShapes

#: visual backbone name -> (builder, loader of its public ImageNet weight file)
BACKBONES = {"resnet18": (resnet18, load_torchvision_weights),
             "resnet50": (resnet50, load_torchvision_weights),
             "pvt_v2_b5": (pvt_v2_b5, load_pvt_v2_weights)}


def check_choice(name: str, value: object, allowed) -> None:
    """Raise ValueError naming the allowed values when ``value`` is not one of them."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")


def check_sizes(model: str, **sizes: object) -> None:
    """Raise ValueError naming every size that is not an integer >= 1."""
    bad = {k: v for k, v in sizes.items() if not isinstance(v, int) or v < 1}
    if bad:
        raise ValueError(f"{model} sizes must be integers >= 1, got {bad}")


@dataclass
class VisualTokens:
    """Encoder input for one batch.

    p4: float [B, D, H/4, W/4], projected 1/4 level (mask feature only);
    tokens: float [B, S, D], the 1/8, 1/16, 1/32 levels flattened;
    pos: float [1, S, D], sine position + level embedding;
    ref: float [1, S, L, 2], reference points; shapes: L pairs (H_l, W_l) in tokens.
    """

    p4: torch.Tensor
    tokens: torch.Tensor
    pos: torch.Tensor
    ref: torch.Tensor
    shapes: SpatialShapes


class DeformableAVSModel(AVSModel):
    """Base of the two deformable-transformer AVS models.

    Builds ``backbone`` (ResNet-18/50 or PVTv2-B5), ``audio_backbone`` (VGGish), ``audio_proj``
    (Linear 128 -> D), ``in_proj`` (per backbone level 1x1 conv + GroupNorm(32)) and
    ``level_embed`` [3, D].

    Args:
        num_classes: C; backbone: "resnet18", "resnet50" or "pvt_v2_b5"; dim: D.

    Raises: ValueError for an unknown backbone.
    """

    def __init__(self, num_classes: int, backbone: str = "resnet50", dim: int = 256) -> None:
        super().__init__(num_classes)
        check_choice("backbone", backbone, BACKBONES)
        self.dim = dim
        self.backbone_name = backbone
        self.backbone = BACKBONES[backbone][0]()
        self.audio_backbone = VGGish()
        self.audio_proj = nn.Linear(VGGish.embedding_dim, dim)
        self.in_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, dim, 1), nn.GroupNorm(32, dim))
            for c in self.backbone.out_channels)
        self.level_embed = nn.Parameter(torch.empty(3, dim))

    def init_head(self, backbone_weights: str | Path | None = None,
                  audio_weights: str | Path | None = None) -> None:
        """Initialise everything but the two backbones as the public AVSegFormer head does:
        Xavier-uniform for every weight with more than one dimension, then Deformable DETR's
        init for each MSDeformAttn, N(0, 1) level embedding; then load the pretrained
        ImageNet backbone file (torchvision ResNet or ``pvt_v2_b5.pth``) and the VGGish-port
        file if given (strictly; CheckpointError on mismatch). Subclasses call this at the end
        of ``__init__``."""
        for name, p in self.named_parameters():
            if p.dim() > 1 and not name.startswith(("backbone.", "audio_backbone.")):
                nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, MSDeformAttn):
                m.reset_parameters()
        nn.init.normal_(self.level_embed)
        if backbone_weights is not None:
            BACKBONES[self.backbone_name][1](self.backbone, backbone_weights)
        if audio_weights is not None:
            load_vggish_weights(self.audio_backbone, audio_weights)

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """log-mel float [B, 1, 96, 64] -> projected audio token float [B, 1, D]."""
        return self.audio_proj(self.audio_backbone(audio))[:, None]

    def encode_image(self, image: torch.Tensor) -> VisualTokens:
        """image float [B, 3, H, W] -> :class:`VisualTokens` (H, W multiples of 32)."""
        p4, *levels = [proj(f) for proj, f in zip(self.in_proj, self.backbone(image))]
        shapes = [(int(m.shape[2]), int(m.shape[3])) for m in levels]
        return VisualTokens(p4, flatten_levels(levels), level_positions(shapes, self.level_embed),
                            reference_points(shapes, device=image.device), shapes)
