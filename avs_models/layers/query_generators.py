"""Audio-conditioned query generators.

- :class:`AudioQueryGenerator` (QG, AVSegFormer; public code ``AttentionGenerator``):
  N learnable queries refined by layers of self-attention, cross-attention to the audio token
  and FFN. With one audio token (T = 1) its cross-attention dissipates (AVESFormer Sec. 3.2):
  every query receives the same projected audio vector.
- :class:`PromptQueryGenerator` (PQG, AVESFormer Sec. 4.1, Eq. 5): the audio token is put in
  front of N_q learnable queries as a prompt, the N_q + 1 tokens go through self-attention
  layers, and the prompt is dropped at the output, giving F_gen [B, N_q, D].

Input to both: the projected audio feature float [B, 1, D]. Output float [B, N, D].
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import FFN, AttentionBlock


class _QGLayer(nn.Module):
    """Self-attention, cross-attention to the audio token, FFN (post-LN, no dropout and no
    attention biases, as the public ``AttentionLayer``)."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.self_attn = AttentionBlock(dim, num_heads, bias=False)
        self.cross_attn = AttentionBlock(dim, num_heads, bias=False)
        self.ffn = FFN(dim, ffn_dim)

    def forward(self, query: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.cross_attn(self.self_attn(query, query), audio))


class AudioQueryGenerator(nn.Module):
    """AVSegFormer's query generator (public defaults: 300 queries, 6 layers, 8 heads, FFN 1024).

    Args:
        num_queries: N; num_layers; dim: D; num_heads; ffn_dim: FFN hidden width.
    Forward: audio float [B, K, D] (K = 1 for one frame) -> queries float [B, N, D].
    Raises: ValueError for non-positive sizes.
    """

    def __init__(self, num_queries: int = 300, num_layers: int = 6, dim: int = 256,
                 num_heads: int = 8, ffn_dim: int = 1024) -> None:
        super().__init__()
        if num_queries < 1 or num_layers < 1:
            raise ValueError(f"AudioQueryGenerator needs num_queries >= 1 and num_layers >= 1, "
                             f"got {num_queries} and {num_layers}")
        self.query = nn.Parameter(torch.empty(num_queries, dim))
        nn.init.xavier_uniform_(self.query)
        self.layers = nn.ModuleList(_QGLayer(dim, num_heads, ffn_dim) for _ in range(num_layers))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        query = self.query[None].expand(audio.shape[0], -1, -1)
        for layer in self.layers:
            query = layer(query, audio)
        return query


class _PQGLayer(nn.Module):
    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = AttentionBlock(dim, num_heads, dropout)
        self.ffn = FFN(dim, ffn_dim, dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.self_attn(tokens, tokens))


class PromptQueryGenerator(nn.Module):
    """AVESFormer's prompt query generator (Sec. 4.1, Fig. 6, Eq. 5; App. A.2.1: 16 queries,
    3 layers).

    Q† = [F_audio | Q_learn] in R^{(N_q + 1) x D} goes through ``num_layers`` self-attention
    layers; the first (audio) token is dropped at the output -> F_gen [B, N_q, D]. Every
    learnable query attends to N_q + 1 distinct keys, so its softmax is not degenerate and the
    generated queries differ from one another (no attention dissipation).

    The paper gives the layer count but not the layer internals: chosen post-LN self-attention
    + FFN (hidden 1024, as the QG it replaces), no dropout (as that QG).

    Args: num_queries: N_q; num_layers; dim: D; num_heads; ffn_dim; dropout.
    Forward: audio float [B, 1, D] -> F_gen float [B, N_q, D].
    Raises: ValueError for non-positive sizes.
    """

    def __init__(self, num_queries: int = 16, num_layers: int = 3, dim: int = 256,
                 num_heads: int = 8, ffn_dim: int = 1024, dropout: float = 0.0) -> None:
        super().__init__()
        if num_queries < 1 or num_layers < 1:
            raise ValueError(f"PromptQueryGenerator needs num_queries >= 1 and num_layers >= 1, "
                             f"got {num_queries} and {num_layers}")
        self.query = nn.Parameter(torch.empty(num_queries, dim))
        nn.init.xavier_uniform_(self.query)
        self.layers = nn.ModuleList(
            _PQGLayer(dim, num_heads, ffn_dim, dropout) for _ in range(num_layers))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        k = audio.shape[1]
        tokens = torch.cat([audio, self.query[None].expand(audio.shape[0], -1, -1)], dim=1)
        for layer in self.layers:
            tokens = layer(tokens)
        return tokens[:, k:]
