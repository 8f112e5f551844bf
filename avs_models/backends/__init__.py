"""Inference backends behind one small interface (:class:`Backend`)."""
from .base import Backend
from .onnxruntime_backend import OnnxRuntimeBackend
from .torch_backend import TorchBackend

BACKENDS = ("torch", "onnxruntime")

__all__ = ["BACKENDS", "Backend", "OnnxRuntimeBackend", "TorchBackend"]
