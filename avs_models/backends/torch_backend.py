"""PyTorch eager backend (CPU or CUDA, fp32)."""
from __future__ import annotations

import numpy as np
import torch

from ..base import AVSModel
from ..errors import BackendUnavailable
from .base import Backend


class TorchBackend(Backend):
    """Runs an :class:`AVSModel` in eval mode under ``torch.inference_mode``.

    Args:
        model: the network (moved to ``device``).
        device: "cpu" or "cuda" / "cuda:N".
        threads: intra-op CPU threads (``torch.set_num_threads``; process-wide), None = keep.
    Raises:
        BackendUnavailable: CUDA requested but this torch has no usable CUDA device.
    """

    name = "torch"

    def __init__(self, model: AVSModel, device: str = "cpu", threads: int | None = None) -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable(
                f"device {device!r} requested but torch {torch.__version__} sees no CUDA device; "
                "install a CUDA build of torch (pip install torch==2.13.0 on a CUDA machine) "
                "or use --device cpu")
        if threads:
            torch.set_num_threads(threads)
        self.device = device
        self.model = model.to(device).eval()
        self.image_size = tuple(model.contract.image_size)
        self.num_classes = model.num_classes

    def _infer(self, image: np.ndarray, audio: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(image).to(self.device),
                                torch.from_numpy(audio).to(self.device))
        return logits.float().cpu().numpy()
