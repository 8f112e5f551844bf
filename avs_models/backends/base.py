"""The small interface every inference backend implements (load, warm up, infer one frame,
report latency). The node, the replay tool and ``avs bench`` use only this."""
from __future__ import annotations

import abc
import time

import numpy as np


class Backend(abc.ABC):
    """One loaded model on one device.

    ``infer`` takes float32 numpy arrays ``image`` [1, 3, H, W] (ImageNet-normalised RGB at
    :attr:`image_size`) and ``audio`` [1, 1, 96, 64] (VGGish log-mel) and returns logits
    float32 [1, C, H, W] as numpy. ``last_latency_ms`` is the wall time of the last call,
    host-to-host (copies included).
    """

    name: str = ""
    device: str = "cpu"
    image_size: tuple[int, int] = (224, 224)
    num_classes: int = 1
    last_latency_ms: float = float("nan")

    @abc.abstractmethod
    def _infer(self, image: np.ndarray, audio: np.ndarray) -> np.ndarray:
        """Backend-specific forward pass (inputs already validated)."""

    def infer(self, image: np.ndarray, audio: np.ndarray) -> np.ndarray:
        """Logits [1, C, H, W] float32 for one frame; see the class docstring."""
        start = time.perf_counter()
        out = self._infer(np.ascontiguousarray(image, dtype=np.float32),
                          np.ascontiguousarray(audio, dtype=np.float32))
        self.last_latency_ms = (time.perf_counter() - start) * 1e3
        return out

    def warmup(self, runs: int = 5, seed: int = 0) -> None:
        """Run ``runs`` inferences on random inputs (allocator, kernel selection, caches)."""
        rng = np.random.default_rng(seed)
        h, w = self.image_size
        for _ in range(runs):
            self.infer(rng.standard_normal((1, 3, h, w), dtype=np.float32),
                       rng.standard_normal((1, 1, 96, 64), dtype=np.float32))
