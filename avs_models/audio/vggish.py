"""VGGish audio network (Hershey et al. 2017, "CNN architectures for large-scale audio
classification"), AudioSet-pretrained and frozen in all three papers.

Layout as MODELS.md gives it: 3x3 convs 64-pool-128-pool-256-256-pool-512-512-pool, then fully
connected 12288 -> 4096 -> 4096 -> 128 with ReLU after every layer including the last; the
conv output is flattened in NHWC order before the first FC (the TensorFlow original's order).
Parameter names ``features.{0,3,6,8,11,13}.*`` and ``embeddings.{0,2,4}.*`` match the widely
used PyTorch port's weights file (``vggish-10086976.pth``), which loads unchanged.
72,141,184 parameters.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class VGGish(nn.Module):
    """log-mel patch float32 [B, 1, 96, 64] -> embedding float32 [B, 128] (non-negative)."""

    embedding_dim = 128

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 1
        for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=True)]
                in_ch = v
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 128), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)                    # [B, 512, 6, 4]
        x = x.permute(0, 2, 3, 1).flatten(1)    # NHWC flatten, as the TF original
        return self.embeddings(x)


def load_vggish_weights(model: VGGish, path: str | Path) -> None:
    """Load the PyTorch VGGish port's weights file strictly (CheckpointError on mismatch).
    The port's separate PCA post-processing parameters (``pproc.*``) are not part of the model
    and are ignored if present."""
    from ..checkpoints import load_state_dict_strict, read_state_dict

    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith("pproc.")}
    load_state_dict_strict(model, state, source=str(path))
