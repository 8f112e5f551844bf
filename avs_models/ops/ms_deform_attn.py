"""Multi-scale deformable attention (Zhu et al. 2020, "Deformable DETR", Sec. 4.1, Eq. 3),
in pure PyTorch.

Each query attends to ``n_points`` sampled locations per head and per feature level around its
reference point; the sampled values (bilinear interpolation) are summed with softmax weights
predicted from the query. The fast core uses ``F.grid_sample`` (exportable to ONNX ``GridSample``,
opset >= 16); :func:`ms_deform_attn_core_reference` computes the same thing with explicit
bilinear gathers and exists only to check the fast core.

Coordinate convention (Deformable-DETR's): sampling locations are normalised to [0, 1] per level,
(x, y) order, with 0 and 1 on the outer *edges* of the border pixels, so the centre of pixel
(i, j) of an H x W map is ((j + 0.5) / W, (i + 0.5) / H). Locations outside the map read zeros.
This equals ``grid_sample(..., align_corners=False, padding_mode="zeros")`` on grid = 2 * loc - 1.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .device_constants import constant

SpatialShapes = Sequence[tuple[int, int]]


def _split_levels(value: torch.Tensor, spatial_shapes: SpatialShapes) -> list[torch.Tensor]:
    """value [N, S, M, D] -> per level [N*M, D, H_l, W_l]."""
    n, _, m, d = value.shape
    sizes = [h * w for h, w in spatial_shapes]
    out = []
    for (h, w), v in zip(spatial_shapes, value.split(sizes, dim=1)):
        out.append(v.flatten(2).transpose(1, 2).reshape(n * m, d, h, w))
    return out


def ms_deform_attn_core(value: torch.Tensor, spatial_shapes: SpatialShapes,
                        sampling_locations: torch.Tensor,
                        attention_weights: torch.Tensor) -> torch.Tensor:
    """Deformable attention core with ``F.grid_sample`` (Deformable DETR Eq. 3, without the
    value/output projections).

    Args:
        value: float [N, S, M, D]; S = sum_l H_l * W_l tokens, levels concatenated in order,
            each level flattened row-major; M heads of D channels.
        spatial_shapes: L pairs (H_l, W_l) of Python ints.
        sampling_locations: float [N, Lq, M, L, P, 2], (x, y) in [0, 1] (module docstring).
        attention_weights: float [N, Lq, M, L, P], softmax-normalised over (L, P).

    Returns:
        float [N, Lq, M * D].
    """
    n, _, m, d = value.shape
    _, lq, _, n_levels, n_points, _ = sampling_locations.shape
    grids = 2.0 * sampling_locations - 1.0
    sampled = []
    for lvl, value_l in enumerate(_split_levels(value, spatial_shapes)):
        grid_l = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)       # [N*M, Lq, P, 2]
        sampled.append(F.grid_sample(value_l, grid_l, mode="bilinear",
                                     padding_mode="zeros", align_corners=False))  # [N*M, D, Lq, P]
    stacked = torch.stack(sampled, dim=-2).flatten(-2)                  # [N*M, D, Lq, L*P]
    weights = attention_weights.transpose(1, 2).reshape(n * m, 1, lq, n_levels * n_points)
    out = (stacked * weights).sum(-1)                                   # [N*M, D, Lq]
    return out.view(n, m * d, lq).transpose(1, 2).contiguous()


def _bilinear_gather(value_l: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
    """Explicit bilinear sampling with zero padding.

    value_l [B, D, H, W]; loc [B, Q, 2] in [0, 1] (x, y), edge-aligned -> [B, D, Q].
    """
    b, d, h, w = value_l.shape
    x = loc[..., 0] * w - 0.5                # pixel-centre coordinates
    y = loc[..., 1] * h - 0.5
    x0, y0 = torch.floor(x), torch.floor(y)
    flat = value_l.flatten(2)                # [B, D, H*W]
    out = torch.zeros(b, d, loc.shape[1], dtype=value_l.dtype, device=value_l.device)
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - (x - xi).abs()) * (1 - (y - yi).abs())            # [B, Q]
            inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            idx = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long()    # [B, Q]
            vals = flat.gather(2, idx[:, None, :].expand(b, d, -1))      # [B, D, Q]
            out = out + vals * (wgt * inside)[:, None, :]
    return out


def ms_deform_attn_core_reference(value: torch.Tensor, spatial_shapes: SpatialShapes,
                                  sampling_locations: torch.Tensor,
                                  attention_weights: torch.Tensor) -> torch.Tensor:
    """Slow reference of :func:`ms_deform_attn_core` (same arguments and result) that samples
    with explicit four-neighbour bilinear weights instead of ``grid_sample``. For tests only."""
    n, _, m, d = value.shape
    _, lq, _, n_levels, n_points, _ = sampling_locations.shape
    out = torch.zeros(n * m, d, lq, dtype=value.dtype, device=value.device)
    locs = sampling_locations.transpose(1, 2).flatten(0, 1)              # [N*M, Lq, L, P, 2]
    weights = attention_weights.transpose(1, 2).flatten(0, 1)           # [N*M, Lq, L, P]
    for lvl, value_l in enumerate(_split_levels(value, spatial_shapes)):
        for p in range(n_points):
            sampled = _bilinear_gather(value_l, locs[:, :, lvl, p])      # [N*M, D, Lq]
            out = out + sampled * weights[:, None, :, lvl, p]
    return out.view(n, m * d, lq).transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention module (Deformable DETR Sec. 4.1 and App. A.2).

    Parameter names (``sampling_offsets``, ``attention_weights``, ``value_proj``,
    ``output_proj``) and initialisation follow Deformable DETR: zero offset weights with a bias
    that places head h's k-th point at k times the unit vector of angle 2*pi*h/M (scaled so the
    larger coordinate is k), zero attention-weight projection (uniform weights), Xavier-uniform
    value/output projections with zero bias.

    Args:
        dim: model width C (must be divisible by ``n_heads``).
        n_levels: L feature levels; n_heads: M heads; n_points: P points per head and level.

    Raises:
        ValueError: ``dim`` not divisible by ``n_heads`` or a non-positive size.

    Padding masks are not supported: the models here feed whole, unpadded maps (the public
    AVSegFormer code passes an all-False mask, which is a no-op).
    """

    def __init__(self, dim: int = 256, n_levels: int = 3, n_heads: int = 8,
                 n_points: int = 4) -> None:
        super().__init__()
        if min(dim, n_levels, n_heads, n_points) < 1 or dim % n_heads:
            raise ValueError(
                f"MSDeformAttn needs positive sizes and dim divisible by n_heads, got dim={dim}, "
                f"n_levels={n_levels}, n_heads={n_heads}, n_points={n_points}")
        self.dim, self.n_levels, self.n_heads, self.n_points = dim, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(dim, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(dim, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR initialisation (see class docstring)."""
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1)
        grid = grid * torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, query: torch.Tensor, reference_points: torch.Tensor,
                value: torch.Tensor, spatial_shapes: SpatialShapes) -> torch.Tensor:
        """
        Args:
            query: float [N, Lq, C] (with positional embedding added by the caller).
            reference_points: float [N or 1, Lq, L, 2], (x, y) in [0, 1] per level.
            value: float [N, S, C], the L levels flattened and concatenated.
            spatial_shapes: L pairs (H_l, W_l) of ints with sum H_l * W_l = S.

        Returns:
            float [N, Lq, C].
        """
        n, lq, _ = query.shape
        m, lv, p = self.n_heads, self.n_levels, self.n_points
        v = self.value_proj(value).view(n, value.shape[1], m, self.dim // m)
        offsets = self.sampling_offsets(query).view(n, lq, m, lv, p, 2)
        weights = self.attention_weights(query).view(n, lq, m, lv * p).softmax(-1)
        weights = weights.view(n, lq, m, lv, p)
        normaliser = constant([[w, h] for h, w in spatial_shapes],   # [L, 2] (x, y); no
                              query.device, query.dtype)                 # copy per forward
        locations = (reference_points[:, :, None, :, None, :]
                     + offsets / normaliser[None, None, None, :, None, :])
        out = ms_deform_attn_core(v, spatial_shapes, locations, weights)
        return self.output_proj(out)
