"""Base class of every AVS model: the shared forward contract and its input checks.

Contract (real-time AVS, T = 1; AVESFormer Sec. 3.1):
    image: float32 [B, 3, H, W], ImageNet-normalised RGB; H and W multiples of 32 (px).
    audio: float32 [B, 1, 96, 64], VGGish log-mel patches (natural log of mel + 0.01).
    eval mode  -> logits float32 [B, C, H, W] at the input resolution (C = num_classes).
    train mode -> dict with at least ``"logits"`` plus the auxiliary outputs the model's loss
                  needs (see :mod:`avs_models.losses`):
        ``"aux_logits"``:   list of [B, C, h, w] intermediate mask logits (AVESFormer aux head,
                            AVSegFormer mixer mask);
        ``"align_logits"``: list of [B, 1, h, w] audio-visual similarity logits / tau
                            (LightAVSeg multi-scale alignment loss).
Auxiliary heads run only when ``aux=True``, so they are absent from the inference/ONNX graph.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from .contract import InputContract
from .errors import AVSInputError
from .ops.device_constants import building_graph

Outputs = dict[str, "torch.Tensor | list[torch.Tensor]"]


def _skip_checks() -> bool:
    """Input checks are Python control flow: skip them while tracing, exporting or compiling."""
    return building_graph()


def check_inputs(image: torch.Tensor, audio: torch.Tensor, contract: InputContract,
                 *, check_finite: bool = True) -> None:
    """Validate one batch against the model contract.

    Args:
        image: expected float [B, 3, H, W] with H, W multiples of 32 px.
        audio: expected float [B, 1, mel_frames, mel_bins] (VGGish: [B, 1, 96, 64]).
        contract: the model's :class:`InputContract`.
        check_finite: also reject NaN/Inf values (one reduction per tensor).

    Raises:
        AVSInputError: wrong type, rank, shape, dtype, batch mismatch or non-finite values;
            the message names what was expected.
    """
    for name, t in (("image", image), ("audio", audio)):
        if not isinstance(t, torch.Tensor):
            raise AVSInputError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise AVSInputError(
                f"{name} must be a floating-point tensor (float32), got dtype {t.dtype}; "
                "normalise uint8 images with the preset's mean/std first")
    if image.dim() != 4 or image.shape[1] != 3:
        raise AVSInputError(
            f"image must be [B, 3, H, W] (ImageNet-normalised RGB), got shape {tuple(image.shape)}")
    h, w = image.shape[-2:]
    if h % 32 or w % 32 or h < 64 or w < 64:
        raise AVSInputError(
            f"image height and width must be multiples of 32 px and at least 64 px, got {h}x{w}; "
            f"resize to the preset's input size {contract.image_size[0]}x{contract.image_size[1]}")
    mel = (contract.mel_frames, contract.mel_bins)
    if audio.dim() != 4 or audio.shape[1] != 1 or tuple(audio.shape[-2:]) != mel:
        raise AVSInputError(
            f"audio must be a log-mel patch [B, 1, {mel[0]}, {mel[1]}] "
            f"({contract.window_s} s at {contract.sample_rate} Hz), got shape {tuple(audio.shape)}")
    if audio.shape[0] != image.shape[0]:
        raise AVSInputError(
            f"image and audio batch sizes differ: {image.shape[0]} frames vs {audio.shape[0]} "
            "audio patches (one patch per frame is expected)")
    if check_finite:
        for name, t in (("image", image), ("audio", audio)):
            if not bool(torch.isfinite(t).all()):
                raise AVSInputError(f"{name} contains NaN or Inf values")


class AVSModel(nn.Module):
    """Base of AVESFormer, LightAVSeg and AVSegFormer (tensor in, tensor out).

    Subclasses set ``self.backbone`` (visual), ``self.audio_backbone`` and implement
    :meth:`forward_outputs`. The base class owns the input checks, the train/eval output
    switch, :meth:`predict` and audio-backbone freezing (all papers freeze it).
    """

    num_classes: int
    contract: InputContract
    audio_backbone: nn.Module

    def __init__(self, num_classes: int, contract: InputContract | None = None) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.contract = contract or InputContract()
        self.check_finite = True

    def forward_outputs(self, image: torch.Tensor, audio: torch.Tensor, aux: bool) -> Outputs:
        """Run the network. Returns a dict with ``"logits"`` [B, C, H, W] and, if ``aux``, the
        auxiliary outputs listed in the module docstring."""
        raise NotImplementedError

    def forward(self, image: torch.Tensor, audio: torch.Tensor):
        """See the module docstring for shapes. Raises AVSInputError on a bad batch."""
        if not _skip_checks():
            check_inputs(image, audio, self.contract, check_finite=self.check_finite)
        out = self.forward_outputs(image, audio, aux=self.training)
        return out if self.training else out["logits"]

    @torch.inference_mode()
    def predict(self, image: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Eval-mode logits [B, C, H, W] without autograd; restores the previous mode."""
        was_training = self.training
        self.eval()
        try:
            return self(image, audio)
        finally:
            self.train(was_training)

    def audio_backbone_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the pretrained audio encoder (VGGish or MobileNetV2)."""
        return self.audio_backbone.parameters()

    def freeze_audio_backbone(self) -> None:
        """Freeze the audio encoder as all three papers do (no grads, BatchNorm in eval)."""
        for p in self.audio_backbone.parameters():
            p.requires_grad_(False)
        self.audio_backbone.eval()
        self._audio_frozen = True

    def train(self, mode: bool = True):  # keep a frozen audio encoder in eval mode
        super().train(mode)
        if getattr(self, "_audio_frozen", False):
            self.audio_backbone.eval()
        return self
