"""Transformer layers of the AVSegFormer / AVESFormer heads, composed from
:mod:`avs_models.layers.blocks`.

- :class:`DeformableEncoderLayer`: deformable self-attention + FFN over the visual tokens
  (AVSegFormer Sec. 3.3; public code: 8 heads, 4 points, 3 levels, FFN 2048, dropout 0.1).
- :class:`ELFAttentionLayer` / :class:`ELFConvLayer`: the two layer kinds of AVESFormer's ELF
  decoder (Sec. 4.2, Eq. 6-7); both take the same arguments so a stage pattern can mix them.
- :class:`QueryDecoderLayer`: self-attention among queries, dense cross-attention to the
  visual tokens, FFN (AVSegFormer Sec. 3.5; the public code attends to all tokens densely).

Token layout: float [B, S, D] over the flattened levels (see :mod:`.levels`).
"""
from __future__ import annotations

import torch
from torch import nn

from ..ops.ms_deform_attn import SpatialShapes
from .blocks import FFN, AttentionBlock, ConvBlock, DeformableAttentionBlock


class DeformableEncoderLayer(nn.Module):
    """Deformable self-attention block + FFN block (both post-LN).

    Forward: src [B, S, D]; pos [1 or B, S, D]; reference_points [1 or B, S, L, 2];
    spatial_shapes L pairs (H_l, W_l). Returns [B, S, D].
    """

    def __init__(self, dim: int = 256, ffn_dim: int = 2048, dropout: float = 0.1,
                 num_levels: int = 3, num_heads: int = 8, num_points: int = 4) -> None:
        super().__init__()
        self.self_attn = DeformableAttentionBlock(dim, num_levels, num_heads, num_points, dropout)
        self.ffn = FFN(dim, ffn_dim, dropout)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: SpatialShapes) -> torch.Tensor:
        return self.ffn(self.self_attn(src, pos, reference_points, spatial_shapes))


class ELFAttentionLayer(nn.Module):
    """ELF "T" layer: deformable self-attention, then the audio cross-attention of Eq. 7,
    ``P <- LN(P + CA(P + pos, F_gen, F_gen))``, then FFN (all post-LN).

    Visual tokens are the queries (with their positional embedding, as DETR adds positions to
    attention queries); the generated audio tokens F_gen are keys and values, without positions.

    Forward: src [B, S, D]; pos [1 or B, S, D]; reference_points [1 or B, S, L, 2];
    spatial_shapes; audio_tokens [B, K, D] (K = N_q for PQG, 1 for raw audio). Returns [B, S, D].
    """

    def __init__(self, dim: int = 256, ffn_dim: int = 2048, dropout: float = 0.1,
                 num_levels: int = 3, num_heads: int = 8, num_points: int = 4) -> None:
        super().__init__()
        self.self_attn = DeformableAttentionBlock(dim, num_levels, num_heads, num_points, dropout)
        self.cross_attn = AttentionBlock(dim, num_heads, dropout)
        self.ffn = FFN(dim, ffn_dim, dropout)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: SpatialShapes, audio_tokens: torch.Tensor) -> torch.Tensor:
        x = self.self_attn(src, pos, reference_points, spatial_shapes)
        x = self.cross_attn(x, audio_tokens, query_pos=pos)
        return self.ffn(x)


class ELFConvLayer(nn.Module):
    """ELF "C" layer: the attention of a layer replaced by convolution, ``F <- LN(F + Conv(F))``
    per level (Eq. 6), followed by the layer's FFN. The paper replaces the *attention* blocks
    ("the first two attention blocks are replaced by convolution", App. A.2.1) and cites
    MetaFormer, where only the token mixer is swapped; so the FFN is kept.

    Same forward signature as :class:`ELFAttentionLayer`; ``pos``, ``reference_points`` and
    ``audio_tokens`` are not used (a convolution stage sees neither positions nor audio).
    """

    def __init__(self, dim: int = 256, ffn_dim: int = 2048, dropout: float = 0.1) -> None:
        super().__init__()
        self.conv = ConvBlock(dim, dropout)
        self.ffn = FFN(dim, ffn_dim, dropout)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: SpatialShapes, audio_tokens: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.conv(src, spatial_shapes))


class QueryDecoderLayer(nn.Module):
    """Query self-attention, dense cross-attention to the visual tokens, FFN (post-LN, dropout
    0.1 inside attention too, as the public AVSegFormer decoder; no positional embeddings).

    Forward: query [B, Nq, D]; memory [B, S, D]. Returns [B, Nq, D].
    """

    def __init__(self, dim: int = 256, ffn_dim: int = 2048, dropout: float = 0.1,
                 num_heads: int = 8) -> None:
        super().__init__()
        self.self_attn = AttentionBlock(dim, num_heads, dropout)
        self.cross_attn = AttentionBlock(dim, num_heads, dropout)
        self.ffn = FFN(dim, ffn_dim, dropout)

    def forward(self, query: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        query = self.self_attn(query, query)
        query = self.cross_attn(query, memory)
        return self.ffn(query)
