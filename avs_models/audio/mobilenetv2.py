"""MobileNetV2 audio encoder of LightAVSeg: VGGish log-mel patch -> global audio state A0.

LightAVSeg (method, "audio stream") encodes the log-mel spectrogram with an AudioSet-pretrained,
frozen MobileNetV2 and cites PANNs (Kong et al., "PANNs: Large-scale pretrained audio neural
networks for audio pattern recognition", TASLP 2020) for it. This module is the PANNs
MobileNetV2 (public qiuqiangkong/audioset_tagging_cnn, ``pytorch/models.py``) from ``bn0``
to the ``fc1`` embedding:

- ``bn0``: BatchNorm over the 64 mel bins (the patch is transposed so bins are channels);
- ``features.0``: 3x3 conv 1->32 (stride 1) + AvgPool 2 + BN + ReLU6;
- ``features.1..17``: inverted residuals (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2)
  (6,64,4,2) (6,96,3,2) (6,160,3,1) (6,320,1,1) — note PANNs downsamples at the 96-channel
  stage, not at 160 as the ImageNet MobileNetV2 does — where downsampling is a 2x2 average
  pool after the stride-1 depthwise conv, not a strided conv;
- ``features.18``: 1x1 conv 320->1280 + BN + ReLU6;
- mean over frequency, then max + mean over time, ``fc1`` 1280->1024 + ReLU, dropout 0.5
  (training only) -> A0 [B, 1024].

Parameter names are PANNs' (``bn0.*``, ``features.N.conv.M.*``, ``fc1.*``), so the released
``MobileNetV2_mAP=0.383.pth`` loads strictly with :func:`load_panns_mobilenetv2_weights`
once its waveform front end (``spectrogram_extractor.*``, ``logmel_extractor.*``) and AudioSet
classifier (``fc_audioset.*``) are dropped. 3,535,168 parameters (PANNs reports 4.1 M with
the 527-class classifier).

Input: a [B, 1, 96, 64] log-mel patch of the model's input-contract front end
(:mod:`.front_ends`). With ``audio_front_end: panns`` it is PANNs' own spectrum (32 kHz,
1024-sample windows every 320 samples, centred, 64 Slaney mel bands 50-14000 Hz of the power
spectrum in dB), what the released weights were trained on; the LightAVSeg configs that load
them use it. With the VGGish patch (the default, and what the shipped SynthAVS-pretrained
model was trained with) the frame rate (10 ms) and the number of bins (64) agree, so the
weights load and run, but ``bn0``'s per-bin statistics belong to another spectrum (band edges
and scale differ). SpecAugment and mixup of PANNs' training are not part of the encoder.
With 96 frames x 64 bins the trunk downsamples by 32 to 3 x 2 before the global pooling.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# (expansion t, out channels c, repeats n, first stride s), PANNs' MobileNetV2 setting
_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 2),
            (6, 160, 3, 1), (6, 320, 1, 1))


class PoolInvertedResidual(nn.Module):
    """PANNs' inverted residual: [1x1 expand + BN + ReLU6] -> depthwise 3x3 (stride 1) ->
    AvgPool(stride) -> BN -> ReLU6 -> 1x1 linear + BN; residual when stride 1 and the widths
    match. ``conv`` children are indexed as in PANNs (the pool is child 1 or 4)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(in_ch * expand_ratio)
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(in_ch, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=False),
                   nn.AvgPool2d(stride), nn.BatchNorm2d(hidden), nn.ReLU6(),
                   nn.Conv2d(hidden, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch)]
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2Audio(nn.Module):
    """log-mel patch float32 [B, 1, T, 64] (T = 96 for the VGGish patch; any T >= 32) ->
    audio state A0 float32 [B, 1024], non-negative (ReLU output).

    Raises:
        ValueError: at construction if ``mel_bins`` < 1.
    """

    embedding_dim = 1024

    def __init__(self, mel_bins: int = 64) -> None:
        super().__init__()
        if mel_bins < 1:
            raise ValueError(f"mel_bins must be >= 1, got {mel_bins}")
        self.bn0 = nn.BatchNorm2d(mel_bins)
        layers: list[nn.Module] = [nn.Sequential(
            nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.AvgPool2d(2), nn.BatchNorm2d(32),
            nn.ReLU6())]
        in_ch = 32
        for t, c, n, s in _SETTING:
            for i in range(n):
                layers.append(PoolInvertedResidual(in_ch, c, s if i == 0 else 1, t))
                in_ch = c
        layers.append(nn.Sequential(nn.Conv2d(in_ch, 1280, 1, bias=False),
                                    nn.BatchNorm2d(1280), nn.ReLU6()))
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(1280, self.embedding_dim)
        self.dropout = nn.Dropout(0.5)
        self._init_weights()

    def _init_weights(self) -> None:
        """PANNs' init: Xavier-uniform convs/linears with zero bias, BN weight 1 bias 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)   # normalise each mel bin
        x = self.features(x)                                # [B, 1280, T/32, bins/32]
        x = x.mean(dim=3)                                   # over frequency
        x = x.amax(dim=2) + x.mean(dim=2)                   # over time
        return self.dropout(torch.relu(self.fc1(x)))


_PANNS_DROPPED = ("spectrogram_extractor.", "logmel_extractor.", "fc_audioset.")


def load_panns_mobilenetv2_weights(model: MobileNetV2Audio, path: str | Path) -> None:
    """Load PANNs' AudioSet MobileNetV2 checkpoint (``{"model": state_dict, ...}`` or a plain
    state dict) strictly, dropping only the waveform front end and the AudioSet classifier
    (``spectrogram_extractor.*``, ``logmel_extractor.*``, ``fc_audioset.*``).

    Raises:
        CheckpointError: unreadable file or any other missing/unexpected/mis-shaped key
            (nothing is loaded then).
    """
    from ..checkpoints import load_state_dict_strict, read_state_dict

    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith(_PANNS_DROPPED)}
    load_state_dict_strict(model, state, source=str(path))
