"""Mask feature and mask prediction of the AVSegFormer / AVESFormer heads (AVSegFormer
Sec. 3.3 and Eq. 3; layer sizes from the public code).

- :class:`MaskFeature`: 1/4-level lateral conv (1x1 + GroupNorm) + bilinearly upsampled 1/8
  transformer output -> 3x3 conv + GroupNorm + ReLU: F_mask float [B, D, H/4, W/4].
- :class:`MaskPredictor`: einsum(queries, F_mask) -> [B, N_q, H/4, W/4] -> 1x1-conv MLP
  (N_q -> 2048 -> 2048 -> D) -> + F_mask -> conv 3x3 D->128, x4 bilinear upsample,
  conv 3x3 128->32, ReLU, conv 1x1 32->C (no bias): logits float [B, C, H, W].
- :class:`FeatureMaskHead`: an auxiliary mask read straight off a mask feature (training only).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskFeature(nn.Module):
    """F_mask = out_conv(lateral_conv(P_4) + up2(E_8)).

    Forward: p4 float [B, D, H/4, W/4] (the projected 1/4 backbone level); e8 float
    [B, D, H/8, W/8] (the transformer output at 1/8). Returns float [B, D, H/4, W/4].
    """

    def __init__(self, dim: int = 256, groups: int = 32) -> None:
        super().__init__()
        self.lateral_conv = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.GroupNorm(groups, dim))
        self.out_conv = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1),
                                      nn.GroupNorm(groups, dim), nn.ReLU(inplace=True))

    def forward(self, p4: torch.Tensor, e8: torch.Tensor) -> torch.Tensor:
        lateral = self.lateral_conv(p4)
        up = F.interpolate(e8, size=lateral.shape[-2:], mode="bilinear", align_corners=False)
        return self.out_conv(lateral + up)


class MaskPredictor(nn.Module):
    """M = fc(F_mask + MLP(Q_out . F_mask)) (AVSegFormer Eq. 3).

    Args: num_queries: N_q (input channels of the MLP); dim: D; num_classes: C;
        mlp_dim: hidden width of the 3-layer 1x1-conv MLP (2048 in the public code).
    Forward: queries float [B, N_q, D]; mask_feature float [B, D, h, w].
        Returns logits float [B, C, 4h, 4w].
    """

    def __init__(self, num_queries: int, dim: int = 256, num_classes: int = 1,
                 mlp_dim: int = 2048) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv2d(num_queries, mlp_dim, 1), nn.ReLU(inplace=True),
            nn.Conv2d(mlp_dim, mlp_dim, 1), nn.ReLU(inplace=True),
            nn.Conv2d(mlp_dim, dim, 1))
        self.fc = nn.Sequential(
            nn.Conv2d(dim, 128, 3, padding=1),
            nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False),
            nn.Conv2d(128, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, num_classes, 1, bias=False))

    def forward(self, queries: torch.Tensor, mask_feature: torch.Tensor) -> torch.Tensor:
        per_query = torch.einsum("bqc,bchw->bqhw", queries, mask_feature)
        return self.fc(mask_feature + self.mlp(per_query))


class FeatureMaskHead(nn.Module):
    """Auxiliary mask logits read off a mask feature, upsampled to the input size.

    C = 1: the channel mean of the feature, no parameters — what the public AVSegFormer code
    supervises with its 0.1-weighted "mix" loss (mean over channels, bilinear resize to the
    mask). C > 1: the public code has no such head; chosen a 1x1 conv D -> C (the smallest
    head giving one map per class). Used in training only.

    Forward: feature float [B, D, h, w]; size (H, W) in px. Returns float [B, C, H, W].
    """

    def __init__(self, dim: int = 256, num_classes: int = 1) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim, num_classes, 1) if num_classes > 1 else None

    def forward(self, feature: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        m = feature.mean(1, keepdim=True) if self.proj is None else self.proj(feature)
        return F.interpolate(m, size=size, mode="bilinear", align_corners=False)
