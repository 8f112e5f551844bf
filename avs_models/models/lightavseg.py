"""LightAVSeg (LightAVSeg: Lightweight Audio-Visual Segmentation, ICML 2026, arXiv 2605.08805):
SeaFormer visual pyramid + MobileNetV2 audio state, audio-visual interaction by global channel
modulation only ("audio is for what, vision is for where"), so its cost is O(H·W).

Forward (one frame, T = 1; notation of the paper's method section):

1. audio state ``A_0 = MobileNetV2(log-mel)`` [B, 1024, 1, 1] (PANNs layout; frozen once
   its AudioSet weights are loaded, as in the paper).
2. reciprocal audio-visual encoder, per pyramid level i = 1..N (finest first; the levels
   are SeaFormer's segmentation pyramid: strides 8, 32, 64 for T/S/B and 8, 16, 32, 64
   for L, see :mod:`avs_models.backbones.seaformer`)::

       V_i^1x1 = GlobalMaxPool(V_i)
       A_i     = Conv1x1(A_{i-1}) ⊙ h_sigmoid(Conv1x1(V_i^1x1))          [B, C_i, 1, 1]
       Ṽ_i     = V_i + Broadcast(A_i)                                      [B, C_i, h_i, w_i]

   Choice (the paper does not say whether Ṽ_i feeds the next backbone stage or only the
   decoder): Ṽ_i replaces V_i *inside* the backbone, so the next stack computes
   V_{i+1} from Ṽ_i. This is what makes the encoder reciprocal across stages: the visual
   descriptor that gates A_{i+1} already carries the audio selection of stage i, and
   audio-irrelevant sources are damped before the deeper stages ("suppressed early").
3. cross-modal fusion decoder with a recursive audio path, run while going up in
   resolution (coarsest level first, decoder step k = 1..N visits level i = N + 1 - k)::

       A*_k  = Conv1x1(ReLU([Â_{k-1}, A_i]))                                 [B, C_i, 1, 1]
       Â_k   = A*_k ⊙ h_sigmoid(Conv1x1(GlobalMaxPool(Ṽ_i)))
       Ṽ_i^dec = Ṽ_i + Broadcast(Conv1x1(Â_k))

   Choice: Â_0 = A_0 (the raw audio state), mirroring the encoder's start, so the first
   decoder step fuses the audio embedding with the final scene-specific state A_N instead
   of feeding A_N twice. The audio path's width at each level equals that level's visual
   channels C_i (the paper gives no widths; this is the narrowest choice that lets every
   state be added to its level without another projection).
4. visual decoding: the Ṽ_i^dec pyramid goes through SeaFormer's own light segmentation
   head (:mod:`avs_models.layers.light_head`, with SeaFormer's per-size widths: the paper
   builds on SeaFormer and names no other decoder), giving logits at stride 8, then
   bilinear upsampling to the input size.
5. training only (``aux=True``): multi-scale alignment logits, per level i,
   ``cos(Ṽ_i^dec, P_i(Â_k)) / τ`` over channels at every pixel, τ = 0.1, where P_i is the
   decoder's own injection Conv1x1 (so the alignment adds no parameters and compares each
   pixel with exactly the vector that was added to it). The loss applies sigmoid + BCE
   against the foreground mask and averages over levels (weight 0.5). Nothing of it runs
   in eval mode, so it is absent from exported graphs.

Sizes (parameters, audio encoder included / without its 3.54 M):
lightavseg_t 5.61 M / 2.07 M, lightavseg_s 8.09 M / 4.55 M, lightavseg_b 13.00 M / 9.46 M,
lightavseg_l 19.12 M / 15.58 M; the paper reports 20.5 M for its SeaFormer-L model (-6.7 %).
Of lightavseg_l's 15.58 M: SeaFormer-L 13.73 M, encoder audio path 0.51 M, decoder audio path
1.15 M, light head 0.20 M.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..audio.mobilenetv2 import MobileNetV2Audio, load_panns_mobilenetv2_weights
from ..backbones.seaformer import (SEAFORMER_CONFIGS, HSigmoid, SeaFormer,
                                   load_seaformer_imagenet_weights, seaformer)
from ..base import AVSModel, Outputs
from ..layers.light_head import LightHead

# SeaFormer's segmentation-head widths per size (public seaformer-seg configs: ``embed_dims``;
# the last entry is the classifier input width ``channels``).
LIGHT_HEAD_EMBED_DIMS: dict[str, tuple[int, ...]] = {
    "seaformer_t": (64, 96),
    "seaformer_s": (96, 128),
    "seaformer_b": (128, 160),
    "seaformer_l": (128, 160, 192),
}


def global_max_pool(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, 1, 1], the maximum over all positions."""
    return x.amax(dim=(2, 3), keepdim=True)


class ReciprocalStage(nn.Module):
    """One level of the reciprocal audio-visual encoder (LightAVSeg method, "Reciprocal
    Audio-Visual Encoder").

    forward(v [B, C, h, w], a_prev [B, C_prev, 1, 1]) -> (Ṽ [B, C, h, w], A [B, C, 1, 1])
    with A = audio_proj(a_prev) ⊙ h_sigmoid(visual_gate(GlobalMaxPool(v))) and Ṽ = v + A.
    Both convs are 1x1 with bias and no normalisation (they act on one vector per sample,
    where BatchNorm would need batches > 1).
    """

    def __init__(self, audio_ch: int, visual_ch: int) -> None:
        super().__init__()
        self.audio_proj = nn.Conv2d(audio_ch, visual_ch, 1)
        self.visual_gate = nn.Conv2d(visual_ch, visual_ch, 1)
        self.gate_act = HSigmoid()

    def forward(self, v: torch.Tensor, a_prev: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.audio_proj(a_prev) * self.gate_act(self.visual_gate(global_max_pool(v)))
        return v + a, a


class DecoderAudioStage(nn.Module):
    """One step of the decoder's recursive audio path (LightAVSeg method, "Cross-Modal Fusion
    Decoder").

    forward(v [B, C, h, w] = Ṽ_i, a_enc [B, C, 1, 1] = A_i, a_prev [B, C_prev, 1, 1] = Â_{k-1})
    -> (Ṽ_i^dec [B, C, h, w], Â_k [B, C, 1, 1], bias [B, C, 1, 1]) where
    A* = fuse(ReLU([a_prev, a_enc])), Â_k = A* ⊙ h_sigmoid(visual_gate(GlobalMaxPool(v))),
    bias = inject(Â_k) and Ṽ_i^dec = v + bias.
    """

    def __init__(self, prev_ch: int, channels: int) -> None:
        super().__init__()
        self.fuse = nn.Conv2d(prev_ch + channels, channels, 1)
        self.visual_gate = nn.Conv2d(channels, channels, 1)
        self.gate_act = HSigmoid()
        self.inject = nn.Conv2d(channels, channels, 1)

    def forward(self, v: torch.Tensor, a_enc: torch.Tensor, a_prev: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a_star = self.fuse(F.relu(torch.cat([a_prev, a_enc], dim=1)))
        a_hat = a_star * self.gate_act(self.visual_gate(global_max_pool(v)))
        bias = self.inject(a_hat)
        return v + bias, a_hat, bias


class AudioVisualAlignment(nn.Module):
    """Similarity logits of the multi-scale alignment loss (LightAVSeg method, L_msa):
    v [B, C, h, w], a [B, C, 1, 1] -> [B, 1, h, w] = <v/|v|, a/|a|>_C / tau (channel L2
    norms with eps 1e-6), i.e. cosine similarity in [-1/tau, 1/tau]. Parameter-free; the
    loss applies the sigmoid. Used in training only."""

    def __init__(self, tau: float = 0.1) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"alignment temperature tau must be > 0, got {tau}")
        self.tau = float(tau)

    def forward(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        v = F.normalize(v, dim=1, eps=1e-6)
        a = F.normalize(a, dim=1, eps=1e-6)
        return (v * a).sum(dim=1, keepdim=True) / self.tau


class LightAVSeg(AVSModel):
    """LightAVSeg network (see the module docstring for the maths and the choices).

    Inputs/outputs follow :class:`avs_models.base.AVSModel`: image [B, 3, H, W] (H, W
    multiples of 32), audio [B, 1, 96, 64] -> eval logits [B, num_classes, H, W]; train dict
    ``{"logits", "align_logits"}`` where ``align_logits[i]`` is [B, 1, H/s_i, W/s_i]
    (rounded up) for ``s_i = backbone.strides[i]``, finest level first.
    """

    def __init__(self, backbone: SeaFormer, audio_backbone: MobileNetV2Audio,
                 head_embed_dims: tuple[int, ...], num_classes: int = 1, tau: float = 0.1
                 ) -> None:
        super().__init__(num_classes)
        self.backbone = backbone
        self.audio_backbone = audio_backbone
        chans = list(backbone.out_channels)
        c_a = audio_backbone.embedding_dim
        self.encoder = nn.ModuleList(
            ReciprocalStage(a_ch, v_ch) for a_ch, v_ch in zip([c_a] + chans[:-1], chans))
        coarse_first = chans[::-1]
        self.decoder = nn.ModuleList(
            DecoderAudioStage(p_ch, ch) for p_ch, ch in zip([c_a] + coarse_first[:-1],
                                                            coarse_first))
        self.decode_head = LightHead(chans, head_embed_dims, num_classes)
        self.align = AudioVisualAlignment(tau)

    def forward_outputs(self, image: torch.Tensor, audio: torch.Tensor, aux: bool) -> Outputs:
        a0 = self.audio_backbone(audio)[:, :, None, None]          # A_0 [B, 1024, 1, 1]
        states: list[torch.Tensor] = []

        def modulate(level: int, v: torch.Tensor) -> torch.Tensor:
            v_tilde, a = self.encoder[level](v, states[-1] if states else a0)
            states.append(a)
            return v_tilde

        feats = self.backbone(image, modulate)                      # Ṽ_i, finest first
        n = len(feats)
        dec: list[torch.Tensor] = list(feats)
        align: list[torch.Tensor | None] = [None] * n
        a_hat = a0
        for k, stage in enumerate(self.decoder):                    # coarsest level first
            i = n - 1 - k
            dec[i], a_hat, bias = stage(feats[i], states[i], a_hat)
            if aux:
                align[i] = self.align(dec[i], bias)
        logits = self.decode_head(dec)
        logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear",
                               align_corners=False)
        out: Outputs = {"logits": logits}
        if aux:
            out["align_logits"] = align
        return out


def build_lightavseg(num_classes: int = 1, backbone: str = "seaformer_l",
                     backbone_weights: str | Path | None = None,
                     audio_weights: str | Path | None = None,
                     freeze_audio: bool | None = None, tau: float = 0.1) -> LightAVSeg:
    """Build LightAVSeg.

    Args:
        num_classes: output channels (1 for S4/MS3, 71 for AVSS).
        backbone: ``seaformer_t``, ``seaformer_s``, ``seaformer_b`` or ``seaformer_l`` (the
            paper's model).
        backbone_weights: optional public SeaFormer ImageNet file for the visual backbone.
        audio_weights: optional PANNs AudioSet MobileNetV2 checkpoint for the audio encoder.
        freeze_audio: freeze the audio encoder (no grads, BN in eval), as the paper does
            with its AudioSet weights. ``None`` (default) freezes it exactly when
            ``audio_weights`` is given: a frozen randomly initialised encoder, whose BatchNorm
            statistics never adapt, would feed (nearly) the same A_0 for every input.
        tau: alignment temperature τ (0.1 in the paper).
    Raises:
        ValueError: unknown backbone (the message lists the choices) or tau <= 0.
        CheckpointError: a weights file is unreadable or does not match (nothing loaded).
    """
    if backbone not in LIGHT_HEAD_EMBED_DIMS:
        raise ValueError(f"unknown LightAVSeg backbone {backbone!r}; choose one of "
                         f"{sorted(SEAFORMER_CONFIGS)}")
    visual = seaformer(backbone)
    if backbone_weights is not None:
        load_seaformer_imagenet_weights(visual, backbone_weights)
    audio = MobileNetV2Audio()
    if audio_weights is not None:
        load_panns_mobilenetv2_weights(audio, audio_weights)
    model = LightAVSeg(visual, audio, LIGHT_HEAD_EMBED_DIMS[backbone], num_classes, tau)
    if freeze_audio or (freeze_audio is None and audio_weights is not None):
        model.freeze_audio_backbone()
    return model
