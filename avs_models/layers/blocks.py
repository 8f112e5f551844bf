"""Post-norm residual sub-blocks that the AVS transformers are assembled from.

Each block maps tokens float [B, S, D] to tokens [B, S, D] as ``LN(x + Dropout(f(x)))``
(post-LayerNorm, as in the public AVSegFormer code and Deformable DETR's encoder):

- :class:`FFN`: f = Linear(D, H) -> GELU -> Dropout -> Linear(H, D) (GELU as in AVSegFormer).
- :class:`AttentionBlock`: f = multi-head attention of x over a key/value sequence (self- or
  cross-attention; Vaswani et al. 2017).
- :class:`DeformableAttentionBlock`: f = multi-scale deformable self-attention over the
  flattened feature levels (Zhu et al. 2020).
- :class:`ConvBlock`: f = 3x3 convolution of each level's map (AVESFormer Eq. 6, the ELF
  decoder's convolution stage).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ops.ms_deform_attn import MSDeformAttn, SpatialShapes
from .levels import split_levels, flatten_levels


class FFN(nn.Module):
    """Position-wise feed-forward block, ``LN(x + Dropout(W2 Dropout(GELU(W1 x))))``.

    Args:
        dim: token width D; hidden_dim: H; dropout: probability for both dropouts.
    Shapes: float [B, S, D] -> [B, S, D].
    """

    def __init__(self, dim: int = 256, hidden_dim: int = 2048, dropout: float = 0.0) -> None:
        super().__init__()
        self.linear1 = nn.Linear(dim, hidden_dim)
        self.linear2 = nn.Linear(hidden_dim, dim)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear2(self.dropout1(F.gelu(self.linear1(x))))
        return self.norm(x + self.dropout2(y))


class AttentionBlock(nn.Module):
    """Residual multi-head attention, ``LN(q + Dropout(MHA(q + q_pos, k + k_pos, v)))``.

    Args:
        dim: width D; num_heads: heads (D divisible by it); dropout: on the attention
            probabilities and on the residual branch; bias: projection biases (the public
            AVSegFormer query generator uses none).
    Forward:
        query float [B, Lq, D]; key float [B, Lk, D]; value [B, Lk, D] (defaults to ``key``);
        query_pos / key_pos: optional positional embeddings broadcastable to query / key.
        Returns float [B, Lq, D].

    With a single key (Lk = 1) the softmax is 1 for every query and the block returns
    ``LN(q + W_o W_v v)``: the value is copied to every position whatever the queries
    ("attention dissipation", AVESFormer Sec. 3.2, Eq. 3-4).
    """

    def __init__(self, dim: int = 256, num_heads: int = 8, dropout: float = 0.0,
                 bias: bool = True) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, bias=bias,
                                          batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor | None = None,
                query_pos: torch.Tensor | None = None,
                key_pos: torch.Tensor | None = None) -> torch.Tensor:
        q = query if query_pos is None else query + query_pos
        k = key if key_pos is None else key + key_pos
        out = self.attn(q, k, key if value is None else value, need_weights=False)[0]
        return self.norm(query + self.dropout(out))


class DeformableAttentionBlock(nn.Module):
    """Residual multi-scale deformable self-attention over the flattened levels,
    ``LN(x + Dropout(MSDeformAttn(x + pos, ref, x)))`` (Deformable DETR encoder layer, first half).

    Forward: src float [B, S, D]; pos float [1 or B, S, D]; reference_points float
    [1 or B, S, L, 2] in [0, 1]; spatial_shapes L pairs (H_l, W_l). Returns [B, S, D].
    """

    def __init__(self, dim: int = 256, num_levels: int = 3, num_heads: int = 8,
                 num_points: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.attn = MSDeformAttn(dim, num_levels, num_heads, num_points)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: SpatialShapes) -> torch.Tensor:
        out = self.attn(src + pos, reference_points, src, spatial_shapes)
        return self.norm(src + self.dropout(out))


class ConvBlock(nn.Module):
    """ELF convolution block, ``F <- LN(F + Conv(F))`` on every level (AVESFormer Eq. 6).

    The paper names neither kernel nor sharing. Chosen: one dense 3x3 convolution (D -> D, the
    smallest kernel with spatial context; the ELF stages are meant to capture local patterns),
    its weights shared by all levels just as a deformable layer shares its weights across
    levels; LayerNorm over channels, dropout on the residual branch as in the attention blocks.

    Forward: src float [B, S, D] (levels flattened row-major and concatenated);
    spatial_shapes L pairs (H_l, W_l). Returns [B, S, D].
    """

    def __init__(self, dim: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, src: torch.Tensor, spatial_shapes: SpatialShapes) -> torch.Tensor:
        maps = [self.conv(m) for m in split_levels(src, spatial_shapes)]
        return self.norm(src + self.dropout(flatten_levels(maps)))
