"""Multi-level feature maps <-> one token sequence, and what a deformable transformer needs
alongside it (sine positional embedding, level embedding, reference points).

Layout (Deformable DETR): levels in order (1/8, 1/16, 1/32 here), each map flattened row-major,
concatenated along the sequence: tokens float [B, S, D] with S = sum_l H_l * W_l.
"""
from __future__ import annotations

import torch

from ..ops.ms_deform_attn import SpatialShapes


def flatten_levels(maps: list[torch.Tensor]) -> torch.Tensor:
    """maps: L tensors float [B, D, H_l, W_l] -> tokens float [B, S, D]."""
    return torch.cat([m.flatten(2).transpose(1, 2) for m in maps], dim=1)


def split_levels(tokens: torch.Tensor, spatial_shapes: SpatialShapes) -> list[torch.Tensor]:
    """tokens float [B, S, D] -> L maps float [B, D, H_l, W_l] (inverse of flatten_levels)."""
    b, _, d = tokens.shape
    sizes = [h * w for h, w in spatial_shapes]
    return [t.transpose(1, 2).reshape(b, d, h, w)
            for t, (h, w) in zip(tokens.split(sizes, dim=1), spatial_shapes)]


def sine_position_embedding(h: int, w: int, num_feats: int = 128, temperature: float = 10000.0,
                            device: torch.device | None = None) -> torch.Tensor:
    """DETR's 2-D sine/cosine positional embedding without normalisation (the setting of the
    public AVSegFormer configs: ``SinePositionalEncoding(num_feats=128)``, normalize=False).

    Positions are 1-based pixel indices y = 1..h, x = 1..w. Channel layout: the first
    ``num_feats`` channels encode y, the next ``num_feats`` encode x; within each, sin and cos
    interleave (sin at even, cos at odd channels) with frequency temperature^(2*floor(k/2)/F).

    Returns: float32 [1, 2 * num_feats, h, w].
    """
    y = torch.arange(1, h + 1, dtype=torch.float32, device=device)[:, None].expand(h, w)
    x = torch.arange(1, w + 1, dtype=torch.float32, device=device)[None, :].expand(h, w)
    k = torch.arange(num_feats, dtype=torch.float32, device=device)
    dim_t = temperature ** (2 * torch.div(k, 2, rounding_mode="floor") / num_feats)
    pos_x, pos_y = x[..., None] / dim_t, y[..., None] / dim_t               # [h, w, F]
    pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=3).flatten(2)
    pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=3).flatten(2)
    return torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1)[None]


def level_positions(spatial_shapes: SpatialShapes, level_embed: torch.Tensor) -> torch.Tensor:
    """Positional + level embedding of every token: float [1, S, D] (D = level_embed.shape[1]),
    level_embed float [L, D] added to all tokens of its level (Deformable DETR Sec. 4.1)."""
    d = level_embed.shape[1]
    parts = [sine_position_embedding(h, w, d // 2, device=level_embed.device)
             .flatten(2).transpose(1, 2) + level_embed[lvl].view(1, 1, -1)
             for lvl, (h, w) in enumerate(spatial_shapes)]
    return torch.cat(parts, dim=1)


def reference_points(spatial_shapes: SpatialShapes,
                     device: torch.device | None = None) -> torch.Tensor:
    """Normalised pixel centres of every token, repeated for every level (no padding, so
    Deformable DETR's valid ratios are all 1): float32 [1, S, L, 2], (x, y) in (0, 1)."""
    refs = []
    for h, w in spatial_shapes:
        ys, xs = torch.meshgrid(
            (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h,
            (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w, indexing="ij")
        refs.append(torch.stack((xs.flatten(), ys.flatten()), -1))
    ref = torch.cat(refs, 0)                                                # [S, 2]
    return ref[None, :, None, :].expand(1, -1, len(spatial_shapes), 2)
