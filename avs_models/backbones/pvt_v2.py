"""PVTv2-B5 visual backbone (Wang et al., "PVT v2: Improved baselines with Pyramid Vision
Transformer", CVMJ 2022), the backbone of AVSegFormer's strongest published models.

Layout (paper Sec. 3, Table 1, B5 row; exact modules from the public code, whai362/PVT
``classification/pvt_v2.py`` as copied into vvvb-github/AVSegFormer ``model/backbone/pvt.py``):
four stages, each an overlapping patch embedding (conv 7x7 stride 4 for stage 1, 3x3 stride 2
after, + LayerNorm), ``depth`` transformer blocks and a LayerNorm:

=====  ======  =====  =====  ========  ==========
stage  stride  width  heads  depth     SR ratio
=====  ======  =====  =====  ========  ==========
1      4       64     1      3         8
2      8       128    2      6         4
3      16      320    5      40        2
4      32      512    8      3         1
=====  ======  =====  =====  ========  ==========

Block: x + DropPath(SRA(LN(x))), then x + DropPath(MLP(LN(x))). Spatial-reduction attention
(SRA): queries from every token; keys and values from the map reduced by a conv with kernel =
stride = SR ratio + LayerNorm (none at ratio 1); q/kv with biases. MLP: Linear(C, 4C) ->
3x3 depthwise conv on the token map -> GELU -> Linear(4C, C). Block and stage LayerNorms use
eps 1e-6; the patch-embedding and SRA LayerNorms PyTorch's default 1e-5 (as the public code).
Stochastic depth rises linearly from 0 to 0.1 over the 52 blocks (training only).

Parameter names equal the public ones (``patch_embed1.proj.weight``, ``block3.39.attn.kv.
weight``, ``block1.0.attn.sr.weight``, ``block2.5.mlp.dwconv.dwconv.weight``, ``norm4.bias``
...), so the released ImageNet file ``pvt_v2_b5.pth`` loads strictly once its classifier
``head.*`` is dropped (:func:`load_pvt_v2_weights`), and AVSegFormer's ``backbone.*`` keys map
one to one. 81.4 M parameters without the classifier.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ..layers.drop_path import DropPath

#: PVTv2-B5 (paper Table 1 / public ``pvt_v2_b5``): per stage width, heads, depth, SR ratio
B5 = {"widths": (64, 128, 320, 512), "heads": (1, 2, 5, 8), "depths": (3, 6, 40, 3),
      "sr_ratios": (8, 4, 2, 1), "mlp_ratio": 4, "drop_path": 0.1}


class OverlapPatchEmbed(nn.Module):
    """Conv (kernel ``patch``, stride ``stride``, padding patch // 2) + LayerNorm.

    float [B, C_in, H, W] -> (tokens float [B, H' * W', C], H', W')."""

    def __init__(self, in_ch: int, dim: int, patch: int, stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_ch, dim, patch, stride, patch // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        h, w = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), h, w


class SpatialReductionAttention(nn.Module):
    """PVT's attention: keys/values from the token map reduced ``sr_ratio`` times per side.

    tokens float [B, N, C] with N = h * w -> float [B, N, C]."""

    def __init__(self, dim: int, heads: int, sr_ratio: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, sr_ratio)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        m = self.heads
        q = self.q(x).reshape(b, n, m, c // m).transpose(1, 2)               # [B, M, N, d]
        kv_in = x
        if self.sr_ratio > 1:
            reduced = self.sr(x.transpose(1, 2).reshape(b, c, h, w))
            kv_in = self.norm(reduced.flatten(2).transpose(1, 2))
        k, v = self.kv(kv_in).reshape(b, -1, 2, m, c // m).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class DWConv(nn.Module):
    """3x3 depthwise conv (with bias) applied to tokens [B, h * w, C] as a map."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        return self.dwconv(x.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    """Linear(C, H) -> DWConv -> GELU -> Linear(H, C); tokens [B, N, C] -> [B, N, C]."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return self.fc2(self.act(self.dwconv(self.fc1(x), h, w)))


class Block(nn.Module):
    """x + DropPath(SRA(LN(x))), then x + DropPath(MLP(LN(x))); LayerNorm eps 1e-6."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, sr_ratio: int,
                 drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SpatialReductionAttention(dim, heads, sr_ratio)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), h, w))
        return x + self.drop_path(self.mlp(self.norm2(x), h, w))


class PVTv2(nn.Module):
    """PVTv2 trunk returning the four stage outputs.

    Input: float32 [B, 3, H, W] (ImageNet-normalised RGB, H and W multiples of 32). Output:
    list of 4 float32 maps at strides 4, 8, 16, 32 px with ``out_channels`` channels
    (B5: 64/128/320/512).

    Args: widths, heads, depths, sr_ratios: per stage; mlp_ratio: MLP width / C;
        drop_path: stochastic depth of the last block (0 for the first, linear between).
    """

    def __init__(self, widths=B5["widths"], heads=B5["heads"], depths=B5["depths"],
                 sr_ratios=B5["sr_ratios"], mlp_ratio: int = B5["mlp_ratio"],
                 drop_path: float = B5["drop_path"]) -> None:
        super().__init__()
        n = sum(depths)
        rates = [drop_path * i / max(n - 1, 1) for i in range(n)]
        in_ch = 3
        for i, (dim, m, depth, sr) in enumerate(zip(widths, heads, depths, sr_ratios), 1):
            first = sum(depths[:i - 1])
            setattr(self, f"patch_embed{i}",
                    OverlapPatchEmbed(in_ch, dim, 7 if i == 1 else 3, 4 if i == 1 else 2))
            setattr(self, f"block{i}", nn.ModuleList(
                Block(dim, m, mlp_ratio, sr, rates[first + j]) for j in range(depth)))
            setattr(self, f"norm{i}", nn.LayerNorm(dim, eps=1e-6))
            in_ch = dim
        self.num_stages = len(widths)
        self.out_channels = list(widths)
        self.strides = [4, 8, 16, 32]
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        """The public init: truncated N(0, 0.02) linears, unit LayerNorms, He-normal convs
        (fan-out / groups), zero biases."""
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i in range(1, self.num_stages + 1):
            tokens, h, w = getattr(self, f"patch_embed{i}")(x)
            for block in getattr(self, f"block{i}"):
                tokens = block(tokens, h, w)
            tokens = getattr(self, f"norm{i}")(tokens)
            x = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, h, w)
            outs.append(x)
        return outs


def pvt_v2_b5() -> PVTv2:
    """PVTv2-B5 trunk (81.4 M parameters without the ImageNet classifier)."""
    return PVTv2()


def load_pvt_v2_weights(model: PVTv2, path: str | Path) -> None:
    """Load the public ImageNet file (``pvt_v2_b5.pth``: a plain state dict, or one under
    ``model``/``state_dict``) strictly, ignoring only the classifier ``head.*``.

    Raises CheckpointError on any other mismatch (nothing is loaded then)."""
    from ..checkpoints import load_state_dict_strict, read_state_dict

    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("head.")}
    load_state_dict_strict(model, state, source=str(path))
