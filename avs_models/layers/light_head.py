"""SeaFormer's light segmentation head (Wan et al., ICLR 2023, its segmentation head),
used as LightAVSeg's visual decoder.

The finest pyramid level is the detail (local) branch; every coarser level is a context
(global) branch that gates it. One fusion step (``FusionBlock``)::

    out = BN(Conv1x1(local)) * Up(h_sigmoid(BN(Conv1x1(global))))   # at the local size

is applied once per coarser level, finest to coarsest, each step giving the detail branch
``embed_dims[i]`` channels. Then a depthwise 1x1 conv + BN + ReLU (``linear_fuse``),
Dropout2d(0.1) and a 1x1 classifier (``conv_seg``) give logits at the finest level's stride.

Parameter names follow the public mmseg ``LightHead`` (``fuse1.local_embedding.conv.weight``,
``fuse1.global_act.bn.weight``, ``linear_fuse.conv.weight``, ``conv_seg.weight``, ...).
Upsampling is bilinear to the exact size of the local branch, so pyramids of any input size
(e.g. 224 px, where the 1/64 level is 4x4 and the 1/8 level 28x28) fuse without rounding
problems.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones.seaformer import HSigmoid


class ConvBN(nn.Module):
    """Bias-free conv (``conv``) + BatchNorm (``bn``) + optional ReLU, mmcv ConvModule's
    names. [B, in_ch, H, W] -> [B, out_ch, H, W]."""

    def __init__(self, in_ch: int, out_ch: int, groups: int = 1, relu: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x


class FusionBlock(nn.Module):
    """SeaFormer fusion: local [B, C_l, H, W], global [B, C_g, h, w] -> [B, embed_dim, H, W],
    the embedded local features times the hard-sigmoid of the embedded global features
    bilinearly resized to H x W."""

    def __init__(self, local_ch: int, global_ch: int, embed_dim: int) -> None:
        super().__init__()
        self.local_embedding = ConvBN(local_ch, embed_dim)
        self.global_act = ConvBN(global_ch, embed_dim)
        self.act = HSigmoid()

    def forward(self, x_local: torch.Tensor, x_global: torch.Tensor) -> torch.Tensor:
        gate = F.interpolate(self.act(self.global_act(x_global)), size=x_local.shape[-2:],
                             mode="bilinear", align_corners=False)
        return self.local_embedding(x_local) * gate


class LightHead(nn.Module):
    """Pyramid (finest first) -> logits [B, num_classes, H_0, W_0] at the finest level.

    Args:
        in_channels: channels of the pyramid levels, finest first (len = L >= 2).
        embed_dims: detail-branch width after each of the L - 1 fusions; the last one is the
            classifier input width (SeaFormer's ``channels``).
        num_classes: output channels.
        dropout: Dropout2d before the classifier (0.1 in SeaFormer).
    Raises:
        ValueError: if ``len(embed_dims) != len(in_channels) - 1``.
    """

    def __init__(self, in_channels: Sequence[int], embed_dims: Sequence[int],
                 num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        if len(in_channels) < 2 or len(embed_dims) != len(in_channels) - 1:
            raise ValueError(f"LightHead needs >= 2 levels and one embed dim per coarser level; "
                             f"got in_channels={list(in_channels)}, embed_dims={list(embed_dims)}")
        self.num_fusions = len(embed_dims)
        local = in_channels[0]
        for i, dim in enumerate(embed_dims):
            self.add_module(f"fuse{i + 1}", FusionBlock(local, in_channels[i + 1], dim))
            local = dim
        self.linear_fuse = ConvBN(local, local, groups=local, relu=True)
        self.dropout = nn.Dropout2d(dropout)
        self.conv_seg = nn.Conv2d(local, num_classes, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        x = feats[0]
        for i in range(self.num_fusions):
            x = getattr(self, f"fuse{i + 1}")(x, feats[i + 1])
        return self.conv_seg(self.dropout(self.linear_fuse(x)))
