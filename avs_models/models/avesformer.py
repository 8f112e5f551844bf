"""AVESFormer (real-time audio-visual segmentation transformer), single frame (T = 1).

No code is public; this follows the paper (Sec. 4, App. A.2.1) on top of the AVSegFormer
pipeline it modifies (Fig. 5, Table 6 "AVSegFormer w/ PQG"):

    ResNet-18/50 levels -> 1x1 conv + GroupNorm(32) to D = 256; VGGish -> Linear(128, 256)
    PQG (Sec. 4.1, Eq. 5): [audio | 16 learnable queries] -> 3 self-attention layers -> F_gen
    ELF decoder (Sec. 4.2): the 6 layers of the multi-scale deformable transformer over the
        1/8, 1/16, 1/32 tokens, grouped into 3 stages of 2 layers;
        "C" stage layer: F <- LN(F + Conv(F)) per level (Eq. 6) + FFN;
        "T" stage layer: deformable self-attention, P <- LN(P + CA(P, F_gen, F_gen)) (Eq. 7)
        + FFN. Default C-T-T (Table 7).
    mask feature: 1/4 lateral conv + upsampled 1/8 ELF output -> 3x3 conv. No channel-attention
        mixer: the ELF cross-attention is the audio-visual fusion (Table 5, "w/ cross attn").
    query decoder + mask head kept from AVSegFormer: 6 layers (self-attn, dense cross-attn to
        the ELF output, FFN 2048) on the N_q generated queries; einsum with the mask feature ->
        1x1-conv MLP N_q -> 2048 -> 2048 -> 256 -> + mask feature -> conv head -> C logits.

Why the query decoder and mask head are kept: the parameter counts. With VGGish (72.1 M) and
ResNet-50 (23.5 M) the paper's 127 M leaves ~31 M for the head. The ELF stack (9.4 M) plus PQG
(2.4 M) and the projections, mask feature and conv head (2.0 M) come to ~14 M; the AVSegFormer
query decoder (9.5 M) and mask MLP (4.8 M at N_q = 16) bring the head to ~28 M. "AVESFormer w/ QG" is 4 M larger in Table 6, which matches swapping PQG (2.4 M) for
the 300-query QG (6.4 M) plus the MLP's wider input (+0.6 M). This model: ~110.6 M (R18) and
~123.6 M (R50) against the paper's 108 M / 127 M; 65.2 / 70.3 GFLOPs per 224x224 frame
(2 FLOPs per multiply-add, VGGish included), half of it in the kept mask predictor.

Auxiliary output (lambda_aux = 0.1, App. A.2.1; the paper does not say what it supervises):
chosen a mask read off the fused mask feature, i.e. after the ELF cross-attention has mixed
the audio in — the same place AVSegFormer's 0.1-weighted mix loss supervises (channel mean
for C = 1, see :class:`~avs_models.layers.mask_head.FeatureMaskHead`), resized to H x W.

Ablation options (Tables 4, 7, 8):
    query_generator: "pqg" (default), "qg" (AVSegFormer's 300-query generator + learnable
        table, Table 6 "AVESFormer w/ QG"), "none" (w/o QG: the raw audio token is the only
        key of the ELF cross-attention, which then dissipates; the decoder queries are the
        audio token repeated N_q times + a learnable table, AVSegFormer's "audio queries").
    stage_pattern: "CTT" (default), "TTT", "TCT", "TTC"; layers_per_stage: 2.
    num_queries: 16 for "pqg"/"none", 300 for "qg" when not given.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..base import Outputs
from ..layers.mask_head import FeatureMaskHead, MaskFeature, MaskPredictor
from ..layers.query_generators import AudioQueryGenerator, PromptQueryGenerator
from ..layers.transformer import ELFAttentionLayer, ELFConvLayer, QueryDecoderLayer
from .deformable_base import DeformableAVSModel, check_choice, check_sizes

QUERY_GENERATORS = ("pqg", "qg", "none")
STAGE_PATTERNS = ("CTT", "TTT", "TCT", "TTC")


class AVESFormer(DeformableAVSModel):
    """AVESFormer (module docstring). Build with :func:`build_avesformer`.

    Args:
        num_classes: C; backbone: "resnet18" | "resnet50";
        query_generator: one of QUERY_GENERATORS; stage_pattern: one of STAGE_PATTERNS;
        num_queries: N_q (None: 16, or 300 for "qg"); layers_per_stage: layers per ELF stage;
        generator_layers: PQG layers (3) — QG keeps AVSegFormer's 6;
        decoder_layers: query decoder layers (6); dim: D (256; a multiple of 32);
        ffn_dim: FFN width of ELF and decoder (2048); mask_mlp_dim: mask MLP width (2048);
        dropout: 0.1; backbone_weights / audio_weights: optional weight files.

    Raises:
        ValueError: an option outside its allowed values (the message lists them) or a
            non-positive size.
    """

    def __init__(self, num_classes: int = 1, backbone: str = "resnet18",
                 query_generator: str = "pqg", stage_pattern: str = "CTT",
                 num_queries: int | None = None, layers_per_stage: int = 2,
                 generator_layers: int = 3, decoder_layers: int = 6, dim: int = 256,
                 ffn_dim: int = 2048, mask_mlp_dim: int = 2048, dropout: float = 0.1,
                 backbone_weights: str | Path | None = None,
                 audio_weights: str | Path | None = None) -> None:
        check_choice("query_generator", query_generator, QUERY_GENERATORS)
        check_choice("stage_pattern", stage_pattern, STAGE_PATTERNS)
        if num_queries is None:
            num_queries = 300 if query_generator == "qg" else 16
        check_sizes("AVESFormer", num_queries=num_queries, layers_per_stage=layers_per_stage,
                    generator_layers=generator_layers, decoder_layers=decoder_layers)
        super().__init__(num_classes, backbone, dim)
        self.query_generator_kind = query_generator
        self.stage_pattern = stage_pattern
        self.num_queries = num_queries
        if query_generator == "pqg":
            self.query_generator = PromptQueryGenerator(num_queries, generator_layers, dim)
        elif query_generator == "qg":
            self.query_generator = AudioQueryGenerator(num_queries, 6, dim)
        if query_generator != "pqg":
            self.learnable_query = nn.Parameter(torch.empty(num_queries, dim))
        self.elf = nn.ModuleList(
            ELFConvLayer(dim, ffn_dim, dropout) if kind == "C"
            else ELFAttentionLayer(dim, ffn_dim, dropout)
            for kind in stage_pattern for _ in range(layers_per_stage))
        self.decoder = nn.ModuleList(
            QueryDecoderLayer(dim, ffn_dim, dropout) for _ in range(decoder_layers))
        self.mask_feature = MaskFeature(dim)
        self.mask_predictor = MaskPredictor(num_queries, dim, num_classes, mask_mlp_dim)
        self.aux_head = FeatureMaskHead(dim, num_classes)
        self.init_head(backbone_weights, audio_weights)

    def generate_queries(self, audio_token: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio token float [B, 1, D] -> (keys [B, K, D] for the ELF cross-attention,
        decoder queries [B, N_q, D]). "pqg": both F_gen (K = N_q); "qg": both QG output +
        learnable table (K = N_q); "none": keys = the audio token itself (K = 1), queries =
        the audio token repeated N_q times + learnable table."""
        if self.query_generator_kind == "pqg":
            f_gen = self.query_generator(audio_token)
            return f_gen, f_gen
        if self.query_generator_kind == "qg":
            f_gen = self.query_generator(audio_token) + self.learnable_query[None]
            return f_gen, f_gen
        return audio_token, audio_token + self.learnable_query[None]

    def forward_outputs(self, image: torch.Tensor, audio: torch.Tensor, aux: bool) -> Outputs:
        """image float [B, 3, H, W]; audio float [B, 1, 96, 64] -> {"logits": [B, C, H, W]}
        plus, if ``aux``, {"aux_logits": [fused-feature mask [B, C, H, W]]}."""
        keys, query = self.generate_queries(self.encode_audio(audio))
        vis = self.encode_image(image)
        memory = vis.tokens
        for layer in self.elf:
            memory = layer(memory, vis.pos, vis.ref, vis.shapes, keys)
        for layer in self.decoder:
            query = layer(query, memory)
        h8, w8 = vis.shapes[0]
        e8 = memory[:, :h8 * w8].transpose(1, 2).reshape(memory.shape[0], -1, h8, w8)
        feature = self.mask_feature(vis.p4, e8)
        out: Outputs = {"logits": self.mask_predictor(query, feature)}
        if aux:
            out["aux_logits"] = [self.aux_head(feature, tuple(image.shape[-2:]))]
        return out


def build_avesformer(num_classes: int = 1, backbone: str = "resnet18",
                     query_generator: str = "pqg", stage_pattern: str = "CTT",
                     num_queries: int | None = None, layers_per_stage: int = 2,
                     ffn_dim: int = 2048, mask_mlp_dim: int = 2048,
                     backbone_weights: str | Path | None = None,
                     audio_weights: str | Path | None = None) -> AVESFormer:
    """Build AVESFormer (registry presets ``avesformer_r18`` / ``avesformer_r50``).

    Args: num_classes: C (1 for S4/MS3, 71 for AVSS); backbone: "resnet18" | "resnet50";
        query_generator: "pqg" | "qg" | "none" (Table 4); stage_pattern: "CTT" | "TTT" |
        "TCT" | "TTC" (Table 7); num_queries: N_q (Table 8; default 16, 300 for "qg");
        layers_per_stage: 2; ffn_dim: FFN width of the ELF and query-decoder layers (2048);
        mask_mlp_dim: hidden width of the mask MLP (2048, AVSegFormer's; it runs at 1/4
        resolution and is ~30 of the 65 GFLOPs of avesformer_r18 at 224x224, so it is the
        first knob for speed); backbone_weights / audio_weights: optional torchvision ResNet /
        VGGish-port weight files.
    Raises: ValueError naming the allowed values; CheckpointError for a bad weight file.
    """
    return AVESFormer(num_classes, backbone, query_generator, stage_pattern, num_queries,
                      layers_per_stage, ffn_dim=ffn_dim, mask_mlp_dim=mask_mlp_dim,
                      backbone_weights=backbone_weights,
                      audio_weights=audio_weights)
