"""SeaFormer T/S/B/L visual backbones (Wan et al., "SeaFormer: Squeeze-enhanced Axial
Transformer for Mobile Semantic Segmentation", ICLR 2023), LightAVSeg's visual stream.

Layout (paper, method section; exact configs from the public fudan-zvg/SeaFormer code):
five stacks of MobileNetV2 inverted residuals ``smb1``..``smb5`` (``smb1`` starts with a
stride-2 3x3 conv stem, so the stacks end at strides 4, 8, 16, 32, 64), followed on the
last stacks by squeeze-enhanced axial transformer stages ``trans1``..: two stages (after
``smb4`` and ``smb5``) for T/S/B, three (after ``smb3``, ``smb4``, ``smb5``) for L.

The pyramid returned is the one SeaFormer's segmentation model feeds its light head:
the 1/8 output of ``smb2`` followed by the output of every transformer stage, i.e.

=====  ==================  =====================
size   strides (px)        channels
=====  ==================  =====================
T      8, 32, 64           32, 128, 160
S      8, 32, 64           48, 160, 192
B      8, 32, 64           64, 192, 256
L      8, 16, 32, 64       128, 192, 256, 320
=====  ==================  =====================

Details that follow the public code rather than the paper's prose: the inverted residuals
use ReLU (ReLU6 is used only inside the transformer blocks); the hidden width of an
inverted residual is ``round(in_channels * t)``; q/k/v and all projections are 1x1 conv +
BatchNorm (``Conv2d_BN`` with children ``c`` and ``bn``); the BatchNorm weights of the
attention output projections start at zero; stochastic depth rises linearly from 0 to 0.1
inside each transformer stage.

Parameter names equal the public classification model's (``smb1.stem_block.0.c.weight``,
``smb2.layer1.conv.0.bn.weight``, ``trans1.transformer_blocks.0.attn.to_q.c.weight``,
``...attn.pos_emb_rowq.pos_embed``, ``...mlp.fc1.c.weight``, ...) minus its ImageNet
classifier ``linear.*``, so its released ImageNet weights (``SeaFormer_{T,S,B,L}.pth``) load
strictly with :func:`load_seaformer_imagenet_weights`.

Size robustness: stride-2 convs round up (224 px gives 112, 56, 28, 14, 7, 4), the axial
attention squeezes whatever height and width it gets, and its length-16 positional
embeddings are resampled linearly to that length (half-pixel centres; 224 px gives rows of
14, 7 and 4), so any input that is a multiple of 32 px works, including sizes that are not
multiples of 64. The graph exports to ONNX opset 17 with the TorchScript exporter
(``torch.onnx.export(..., dynamo=False)``; torch 2.13's dynamo exporter emits opset 18 for
any graph with a mean, as it cannot down-convert ReduceMean).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.drop_path import DropPath
from ..ops.device_constants import building_graph


@dataclass(frozen=True)
class SeaFormerConfig:
    """One SeaFormer size.

    Attributes:
        cfgs: per stack ``smb1..smb5``, rows ``(kernel, expand_ratio, out_channels, stride)``
            of its inverted residuals.
        channels: input channels of ``smb1..smb5`` and the output channels of ``smb5``
            (``channels[0]`` is the stem width).
        emb_dims, key_dims, depths, mlp_ratios: per transformer stage; the stages sit on the
            last ``len(depths)`` stacks.
        num_heads: attention heads in every stage; attn_ratio: value width / key width.
        drop_path_rate: stochastic depth at the last block of each stage.
    """

    cfgs: tuple[tuple[tuple[int, int, int, int], ...], ...]
    channels: tuple[int, ...]
    emb_dims: tuple[int, ...]
    key_dims: tuple[int, ...]
    depths: tuple[int, ...]
    mlp_ratios: tuple[float, ...]
    num_heads: int
    attn_ratio: float = 2.0
    drop_path_rate: float = 0.1


# fudan-zvg/SeaFormer seaformer-cls/seaformer.py (SeaFormer_T/S/B/L) and the seg configs.
SEAFORMER_CONFIGS: dict[str, SeaFormerConfig] = {
    "seaformer_t": SeaFormerConfig(
        cfgs=(((3, 1, 16, 1), (3, 4, 16, 2), (3, 3, 16, 1)),
              ((5, 3, 32, 2), (5, 3, 32, 1)),
              ((3, 3, 64, 2), (3, 3, 64, 1)),
              ((5, 3, 128, 2),),
              ((3, 6, 160, 2),)),
        channels=(16, 16, 32, 64, 128, 160), emb_dims=(128, 160), key_dims=(16, 24),
        depths=(2, 2), mlp_ratios=(2, 4), num_heads=4),
    "seaformer_s": SeaFormerConfig(
        cfgs=(((3, 1, 16, 1), (3, 4, 24, 2), (3, 3, 24, 1)),
              ((5, 3, 48, 2), (5, 3, 48, 1)),
              ((3, 3, 96, 2), (3, 3, 96, 1)),
              ((5, 4, 160, 2),),
              ((3, 6, 192, 2),)),
        channels=(16, 24, 48, 96, 160, 192), emb_dims=(160, 192), key_dims=(16, 24),
        depths=(3, 3), mlp_ratios=(2, 4), num_heads=6),
    "seaformer_b": SeaFormerConfig(
        cfgs=(((3, 1, 16, 1), (3, 4, 32, 2), (3, 3, 32, 1)),
              ((5, 3, 64, 2), (5, 3, 64, 1)),
              ((3, 3, 128, 2), (3, 3, 128, 1)),
              ((5, 4, 192, 2),),
              ((3, 6, 256, 2),)),
        channels=(16, 32, 64, 128, 192, 256), emb_dims=(192, 256), key_dims=(16, 24),
        depths=(4, 4), mlp_ratios=(2, 4), num_heads=8),
    "seaformer_l": SeaFormerConfig(
        cfgs=(((3, 3, 32, 1), (3, 4, 64, 2), (3, 4, 64, 1)),
              ((5, 4, 128, 2), (5, 4, 128, 1)),
              ((3, 4, 192, 2), (3, 4, 192, 1)),
              ((5, 4, 256, 2),),
              ((3, 6, 320, 2),)),
        channels=(32, 64, 128, 192, 256, 320), emb_dims=(192, 256, 320),
        key_dims=(16, 20, 24), depths=(3, 3, 3), mlp_ratios=(2, 4, 6), num_heads=8),
}


class Conv2d_BN(nn.Sequential):  # noqa: N801 - the public name keeps the ``c``/``bn`` keys
    """Bias-free conv (child ``c``) + BatchNorm (child ``bn``) whose weight starts at
    ``bn_weight_init``. [B, in_ch, H, W] -> [B, out_ch, H', W']."""

    def __init__(self, in_ch: int, out_ch: int, ks: int = 1, stride: int = 1, pad: int = 0,
                 groups: int = 1, bn_weight_init: float = 1.0) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(in_ch, out_ch, ks, stride, pad, groups=groups,
                                       bias=False))
        bn = nn.BatchNorm2d(out_ch)
        nn.init.constant_(bn.weight, bn_weight_init)
        nn.init.zeros_(bn.bias)
        self.add_module("bn", bn)


class HSigmoid(nn.Module):
    """Hard sigmoid ReLU6(x + 3) / 6 (Howard et al. 2019, MobileNetV3), values in [0, 1]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


class InvertedResidual(nn.Module):
    """MobileNetV2 block (Sandler et al. 2018): [1x1 expand + ReLU] -> kxk depthwise (stride)
    + ReLU -> 1x1 linear projection, residual when stride 1 and widths match. The children
    of ``conv`` are indexed like the public code (the expansion is absent when t = 1)."""

    def __init__(self, in_ch: int, out_ch: int, ks: int, stride: int, expand_ratio: float
                 ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"inverted residual stride must be 1 or 2, got {stride}")
        hidden = int(round(in_ch * expand_ratio))
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [Conv2d_BN(in_ch, hidden), nn.ReLU()]
        layers += [Conv2d_BN(hidden, hidden, ks, stride, ks // 2, groups=hidden), nn.ReLU(),
                   Conv2d_BN(hidden, out_ch)]
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class StackedMV2Block(nn.Module):
    """One stack ``smbN``: optional stem (3x3 stride-2 Conv2d_BN + ReLU, child
    ``stem_block``) then inverted residuals ``layer1``, ``layer2``, ..."""

    def __init__(self, cfgs, in_ch: int, stem: bool) -> None:
        super().__init__()
        self.stem_block = (nn.Sequential(Conv2d_BN(3, in_ch, 3, 2, 1), nn.ReLU())
                           if stem else None)
        self.num_layers = len(cfgs)
        for i, (k, t, c, s) in enumerate(cfgs):
            self.add_module(f"layer{i + 1}", InvertedResidual(in_ch, c, k, s, t))
            in_ch = c
        self.out_channels = in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stem_block is not None:
            x = self.stem_block(x)
        for i in range(self.num_layers):
            x = getattr(self, f"layer{i + 1}")(x)
        return x


class SqueezeAxialPositionalEmbedding(nn.Module):
    """Learned 1-D positional embedding ``pos_embed`` [1, dim, 16] resampled linearly to the
    squeezed axis length and added: [B, dim, N] -> [B, dim, N] (SeaFormer, Sea attention)."""

    def __init__(self, dim: int, length: int = 16) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.randn(1, dim, length))
        self._resampled: tuple[tuple, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled() or building_graph():
            return x + F.interpolate(self.pos_embed, size=x.shape[-1], mode="linear",
                                     align_corners=False)
        # Inference: the resampled embedding is a constant of the weights and the length;
        # resample once (CUDA's upsample_linear1d took 58 us per call on an H200, 2.1 of the
        # 4.4 ms of lightavseg_l's fp32 kernel time, 2026-11-30). The key sees new weights:
        # load_state_dict bumps the version, .to()/.half() change pointer or dtype.
        p = self.pos_embed
        key = (x.shape[-1], p.data_ptr(), p._version, p.dtype, p.device)
        if self._resampled is None or self._resampled[0] != key:
            self._resampled = (key, F.interpolate(p, size=x.shape[-1], mode="linear",
                                                  align_corners=False))
        return x + self._resampled[1]


class SeaAttention(nn.Module):
    """Squeeze-enhanced axial attention (SeaFormer, method section), [B, dim, H, W] ->
    [B, dim, H, W].

    q, k [nh·kd ch] and v [nh·d ch, d = attn_ratio·kd] by 1x1 Conv2d_BN. Detail branch:
    concat(q, k, v) -> depthwise 3x3 Conv2d_BN -> ReLU6 -> 1x1 Conv2d_BN to ``dim``.
    Squeeze axial branch: q, k, v averaged over the width (rows) and over the height
    (columns); q and k get their positional embedding; per head softmax(q kᵀ / sqrt(kd)) v
    along each axis; each result passes ReLU6 -> 1x1 Conv2d_BN; the row [H x 1] and column
    [1 x W] results are broadcast-added to v; then ReLU6 -> 1x1 Conv2d_BN to ``dim``
    (``proj``), hard-sigmoid, and it gates the detail branch.
    """

    def __init__(self, dim: int, key_dim: int, num_heads: int, attn_ratio: float = 2.0
                 ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.scale = key_dim ** -0.5
        self.nh_kd = nh_kd = key_dim * num_heads
        self.d = int(attn_ratio * key_dim)
        self.dh = dh = self.d * num_heads
        self.to_q = Conv2d_BN(dim, nh_kd)
        self.to_k = Conv2d_BN(dim, nh_kd)
        self.to_v = Conv2d_BN(dim, dh)
        self.proj = nn.Sequential(nn.ReLU6(), Conv2d_BN(dh, dim, bn_weight_init=0.0))
        self.proj_encode_row = nn.Sequential(nn.ReLU6(), Conv2d_BN(dh, dh, bn_weight_init=0.0))
        self.pos_emb_rowq = SqueezeAxialPositionalEmbedding(nh_kd)
        self.pos_emb_rowk = SqueezeAxialPositionalEmbedding(nh_kd)
        self.proj_encode_column = nn.Sequential(nn.ReLU6(),
                                                Conv2d_BN(dh, dh, bn_weight_init=0.0))
        self.pos_emb_columnq = SqueezeAxialPositionalEmbedding(nh_kd)
        self.pos_emb_columnk = SqueezeAxialPositionalEmbedding(nh_kd)
        qkv = 2 * nh_kd + dh
        self.dwconv = Conv2d_BN(qkv, qkv, 3, 1, 1, groups=qkv)
        self.act = nn.ReLU6()
        self.pwconv = Conv2d_BN(qkv, dim)
        self.sigmoid = HSigmoid()

    def _axial(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Softmax attention along one squeezed axis: q, k [B, nh·kd, N], v [B, nh·d, N] ->
        [B, nh·d, N]."""
        b, n = q.shape[0], q.shape[-1]
        q = q.reshape(b, self.num_heads, self.key_dim, n).transpose(2, 3)   # [B, nh, N, kd]
        k = k.reshape(b, self.num_heads, self.key_dim, n)                   # [B, nh, kd, N]
        v = v.reshape(b, self.num_heads, self.d, n).transpose(2, 3)         # [B, nh, N, d]
        attn = (torch.matmul(q, k) * self.scale).softmax(dim=-1)            # [B, nh, N, N]
        return torch.matmul(attn, v).transpose(2, 3).reshape(b, self.dh, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        detail = self.pwconv(self.act(self.dwconv(torch.cat([q, k, v], dim=1))))

        row = self._axial(self.pos_emb_rowq(q.mean(-1)), self.pos_emb_rowk(k.mean(-1)),
                          v.mean(-1))                                       # [B, dh, H]
        row = self.proj_encode_row(row.reshape(b, self.dh, h, 1))
        col = self._axial(self.pos_emb_columnq(q.mean(-2)), self.pos_emb_columnk(k.mean(-2)),
                          v.mean(-2))                                       # [B, dh, W]
        col = self.proj_encode_column(col.reshape(b, self.dh, 1, w))
        out = self.proj(v + row + col)
        return self.sigmoid(out) * detail


class Mlp(nn.Module):
    """Conv MLP of a SeaFormer block: 1x1 Conv2d_BN -> depthwise 3x3 conv (with bias) ->
    ReLU6 -> 1x1 Conv2d_BN, [B, dim, H, W] -> [B, dim, H, W]."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = Conv2d_BN(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=True)
        self.act = nn.ReLU6()
        self.fc2 = Conv2d_BN(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.dwconv(self.fc1(x))))


class Block(nn.Module):
    """x + DropPath(SeaAttention(x)), then x + DropPath(Mlp(x))."""

    def __init__(self, dim: int, key_dim: int, num_heads: int, mlp_ratio: float,
                 attn_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.attn = SeaAttention(dim, key_dim, num_heads, attn_ratio)
        self.drop_path = DropPath(drop_path)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))


class BasicLayer(nn.Module):
    """One transformer stage ``transN``: ``transformer_blocks.0..depth-1``."""

    def __init__(self, depth: int, dim: int, key_dim: int, num_heads: int, mlp_ratio: float,
                 attn_ratio: float, drop_path_rate: float) -> None:
        super().__init__()
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.transformer_blocks = nn.ModuleList(
            Block(dim, key_dim, num_heads, mlp_ratio, attn_ratio, r) for r in rates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.transformer_blocks:
            x = blk(x)
        return x


class SeaFormer(nn.Module):
    """SeaFormer trunk returning the segmentation pyramid (see the module docstring).

    Input: image float32 [B, 3, H, W], ImageNet-normalised, H and W multiples of 32 px.
    Output: list of tensors, one per entry of ``strides`` (px, finest first), with
    ``out_channels`` channels and spatial size ceil(H / stride) x ceil(W / stride).

    ``forward(x, modulate)`` lets a caller change each pyramid level before it continues
    into the next stack: ``modulate(level_index, feature) -> feature`` (LightAVSeg's
    reciprocal audio-visual encoder uses it); the returned pyramid holds the changed levels.
    """

    def __init__(self, config: SeaFormerConfig) -> None:
        super().__init__()
        n_smb, n_trans = len(config.cfgs), len(config.depths)
        if len(config.channels) != n_smb + 1:
            raise ValueError(f"channels needs {n_smb + 1} entries, got {len(config.channels)}")
        for i, cfg in enumerate(config.cfgs):
            self.add_module(f"smb{i + 1}",
                            StackedMV2Block(cfg, config.channels[i], stem=i == 0))
        for i in range(n_trans):
            self.add_module(f"trans{i + 1}", BasicLayer(
                config.depths[i], config.emb_dims[i], config.key_dims[i], config.num_heads,
                config.mlp_ratios[i], config.attn_ratio, config.drop_path_rate))
        self.num_smb = n_smb
        # stack index (1-based) -> transformer stage name that follows it
        self._trans_after = {n_smb - n_trans + j + 1: f"trans{j + 1}" for j in range(n_trans)}
        self._outputs = sorted({2, *self._trans_after})
        stride, strides = 1, {}
        for i, cfg in enumerate(config.cfgs):
            stride *= 2 if i == 0 else 1  # the stem
            for row in cfg:
                stride *= row[3]
            strides[i + 1] = stride
        self.strides = [strides[i] for i in self._outputs]
        self.out_channels = [config.channels[i] for i in self._outputs]
        self.config = config
        self._init_weights()

    def _init_weights(self) -> None:
        """He-normal convs (fan-out / groups), as the public code's init_weights; the BN
        weights keep Conv2d_BN's ``bn_weight_init``."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, modulate=None) -> list[torch.Tensor]:
        feats: list[torch.Tensor] = []
        for i in range(1, self.num_smb + 1):
            x = getattr(self, f"smb{i}")(x)
            if i in self._trans_after:
                x = getattr(self, self._trans_after[i])(x)
            if i in self._outputs:
                if modulate is not None:
                    x = modulate(len(feats), x)
                feats.append(x)
        return feats


def seaformer(name: str) -> SeaFormer:
    """Build ``seaformer_t|s|b|l`` (randomly initialised).

    Raises ValueError naming the known sizes for any other name."""
    if name not in SEAFORMER_CONFIGS:
        raise ValueError(f"unknown SeaFormer size {name!r}; choose one of "
                         f"{sorted(SEAFORMER_CONFIGS)}")
    return SeaFormer(SEAFORMER_CONFIGS[name])


def load_seaformer_imagenet_weights(model: SeaFormer, path: str | Path) -> None:
    """Load a public SeaFormer ImageNet file (``SeaFormer_{T,S,B,L}.pth``, a plain state dict
    or one under ``model``/``state_dict``) strictly, ignoring only the classifier
    ``linear.*``. Raises CheckpointError on any other mismatch (nothing is loaded then)."""
    from ..checkpoints import load_state_dict_strict, read_state_dict

    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("linear.")}
    load_state_dict_strict(model, state, source=str(path))
