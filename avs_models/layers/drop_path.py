"""Stochastic depth, shared by the SeaFormer and PVTv2 backbones."""
from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): in training, zero a residual branch for a whole
    sample with probability ``p`` and scale survivors by 1 / (1 - p); identity in eval.

    Shapes: float [B, ...] -> [B, ...]."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype,
                          device=x.device) < keep
        return x * mask.to(x.dtype) / keep
