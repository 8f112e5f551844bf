"""AVSegFormer baseline (Gao et al., AAAI 2024), single frame (T = 1).

Pipeline (paper Sec. 3; sizes from the public code's S4/MS3/AVSS configs):
    ResNet-50 or PVTv2-B5 levels -> 1x1 conv + GroupNorm(32) to D = 256;
             VGGish -> Linear(128, 256)
    encoder: 6 deformable layers over 1/8, 1/16, 1/32 (8 heads, 4 points, 3 levels,
             FFN 2048 GELU, post-LN, dropout 0.1), sine positions + level embedding
    queries: query generator (300 learnable queries, 6 layers of self-attn + cross-attn to
             the audio token + FFN 1024) + a second learnable 300 x 256 table
    decoder: 6 layers of self-attn + dense cross-attn to all encoder tokens + FFN 2048
    mask feature: 1/4 lateral conv + upsampled 1/8 encoder output -> 3x3 conv
    mixer (Sec. 3.4): channel attention with the audio token as the only query,
             w = sigmoid(proj(attention output)) [B, D], F^ = F * w as the public code
             (``CrossModalMixer`` in model/utils/fusion_block.py) and its checkpoints;
             the residual form F^ = F + F * w of the paper's Eq. 2 is ``mixer_residual=True``
    mask (Eq. 3): einsum(decoder output, F^) -> MLP 300->2048->2048->256 -> + F^ -> conv head.

Differences from the public code, on purpose:
- the public ResNet wrapper holds a second, unused copy of layer3/layer4 (about 22.1 M
  parameters the forward pass never touches); it is left out. The public model counts
  150.9 M parameters, ~128.8 M of them live; this one has ~126.7 M (R50 + VGGish) because the
  unused ``fpn``/``attn_fc`` heads of the public code (2.1 M, never called) are left out too.
- the public mixer's ``einsum('bchw,bc->bchw', F, w.squeeze())`` breaks at batch 1 (squeeze
  removes the batch axis); here w keeps its [B, D] shape (same values otherwise).
- no padding masks (single unpadded frames), no T-frame batching.
Compute: 80.7 GFLOPs per 224x224 frame (R50, VGGish included; 2 FLOPs per multiply-add, torch
FlopCounterMode, which does not count grid_sample), in line with the ~82 GFLOPs of the public
code; 39.5 of them in the mask predictor (the MLP at 1/4 resolution and the convs after the x4
upsample).

Train-mode outputs: ``logits`` [B, C, H, W] and ``aux_logits`` = [the mixer's mask], the
channel mean of F^ resized to H x W (the public code's 0.1-weighted "mix" Dice loss; see
:class:`~avs_models.layers.mask_head.FeatureMaskHead` for C > 1).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..base import Outputs
from ..layers.mask_head import FeatureMaskHead, MaskFeature, MaskPredictor
from ..layers.query_generators import AudioQueryGenerator
from ..layers.transformer import DeformableEncoderLayer, QueryDecoderLayer
from .deformable_base import DeformableAVSModel, check_sizes


class ChannelAttentionMixer(nn.Module):
    """Audio-visual channel-attention mixer (AVSegFormer Sec. 3.4, Fig. 4b; public
    ``CrossModalMixer``, model/utils/fusion_block.py).

    The audio token is the single query of a multi-head attention over the pixels of F_mask
    (keys and values from F_mask, no biases in q/kv as the public code); the attended vector is
    projected and squashed to channel weights w = sigmoid(proj(.)) in (0, 1), float [B, D].
    Output F^ = F * w (the public code, which every public checkpoint was trained with), or
    F + F * w with ``residual=True`` (the paper's Eq. 2).

    Forward: feature float [B, D, h, w]; audio float [B, 1, D]. Returns float [B, D, h, w].
    """

    def __init__(self, dim: int = 256, num_heads: int = 8, residual: bool = False) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.residual = residual
        self.scale = (dim // num_heads) ** -0.5
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.kv_proj = nn.Linear(dim, 2 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, feature: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        b, c = feature.shape[:2]
        m = self.num_heads
        pixels = feature.flatten(2).transpose(1, 2)                         # [B, N, D]
        q = self.q_proj(audio).view(b, 1, m, c // m).transpose(1, 2)        # [B, M, 1, d]
        k, v = self.kv_proj(pixels).view(b, -1, 2, m, c // m).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(-1)         # [B, M, 1, N]
        w = self.proj((attn @ v).transpose(1, 2).reshape(b, c)).sigmoid()   # [B, D]
        mixed = feature * w[:, :, None, None]
        return feature + mixed if self.residual else mixed


class AVSegFormer(DeformableAVSModel):
    """AVSegFormer (module docstring). Build with :func:`build_avsegformer`.

    Args:
        num_classes: C; backbone: "resnet18" | "resnet50" | "pvt_v2_b5"; num_queries: 300;
        encoder_layers, decoder_layers, generator_layers: 6 each; dim: 256 (a multiple of 32);
        ffn_dim: 2048; mask_mlp_dim: mask MLP width (2048); dropout: 0.1;
        mixer_residual: False = the public mixer F * w, True = the paper's F + F * w;
        backbone_weights / audio_weights: optional weight files.
    Raises: ValueError for an unknown backbone or non-positive sizes.
    """

    def __init__(self, num_classes: int = 1, backbone: str = "resnet50", num_queries: int = 300,
                 encoder_layers: int = 6, decoder_layers: int = 6, generator_layers: int = 6,
                 dim: int = 256, ffn_dim: int = 2048, mask_mlp_dim: int = 2048,
                 dropout: float = 0.1, mixer_residual: bool = False,
                 backbone_weights: str | Path | None = None,
                 audio_weights: str | Path | None = None) -> None:
        check_sizes("AVSegFormer", num_queries=num_queries, encoder_layers=encoder_layers,
                    decoder_layers=decoder_layers, generator_layers=generator_layers)
        super().__init__(num_classes, backbone, dim)
        self.query_generator = AudioQueryGenerator(num_queries, generator_layers, dim)
        self.learnable_query = nn.Parameter(torch.empty(num_queries, dim))
        self.encoder = nn.ModuleList(
            DeformableEncoderLayer(dim, ffn_dim, dropout) for _ in range(encoder_layers))
        self.decoder = nn.ModuleList(
            QueryDecoderLayer(dim, ffn_dim, dropout) for _ in range(decoder_layers))
        self.mask_feature = MaskFeature(dim)
        self.mixer = ChannelAttentionMixer(dim, residual=mixer_residual)
        self.mask_predictor = MaskPredictor(num_queries, dim, num_classes, mask_mlp_dim)
        self.aux_head = FeatureMaskHead(dim, num_classes)
        self.init_head(backbone_weights, audio_weights)

    def forward_outputs(self, image: torch.Tensor, audio: torch.Tensor, aux: bool) -> Outputs:
        """image float [B, 3, H, W]; audio float [B, 1, 96, 64] -> {"logits": [B, C, H, W]}
        plus, if ``aux``, {"aux_logits": [mixer mask [B, C, H, W]]}."""
        a = self.encode_audio(audio)                                        # [B, 1, D]
        vis = self.encode_image(image)
        memory = vis.tokens
        for layer in self.encoder:
            memory = layer(memory, vis.pos, vis.ref, vis.shapes)
        query = self.query_generator(a) + self.learnable_query[None]
        for layer in self.decoder:
            query = layer(query, memory)
        h8, w8 = vis.shapes[0]
        e8 = memory[:, :h8 * w8].transpose(1, 2).reshape(memory.shape[0], -1, h8, w8)
        feature = self.mixer(self.mask_feature(vis.p4, e8), a)
        out: Outputs = {"logits": self.mask_predictor(query, feature)}
        if aux:
            out["aux_logits"] = [self.aux_head(feature, tuple(image.shape[-2:]))]
        return out


def build_avsegformer(num_classes: int = 1, backbone: str = "resnet50",
                      num_queries: int = 300, mixer_residual: bool = False,
                      backbone_weights: str | Path | None = None,
                      audio_weights: str | Path | None = None) -> AVSegFormer:
    """Build the AVSegFormer baseline (registry presets ``avsegformer_r50``,
    ``avsegformer_pvt``).

    Args: num_classes: C (1 for S4/MS3, 71 for AVSS); backbone: "resnet18" | "resnet50" |
        "pvt_v2_b5"; num_queries: 300 (paper Table 2a); mixer_residual: False (the public
        code's F * w, default) or True (the paper's Eq. 2, F + F * w); backbone_weights /
        audio_weights: optional ImageNet backbone (torchvision ResNet, ``pvt_v2_b5.pth``) /
        VGGish-port weight files.
    Raises: ValueError for an unknown backbone; CheckpointError for a bad weight file.
    """
    return AVSegFormer(num_classes, backbone, num_queries, mixer_residual=mixer_residual,
                       backbone_weights=backbone_weights, audio_weights=audio_weights)
