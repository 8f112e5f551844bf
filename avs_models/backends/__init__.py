"""Inference backends behind one small interface (:class:`Backend`), chosen by name with
:func:`create_backend` ("torch", "onnxruntime" or "auto")."""
from .base import Backend
from .factory import AUTO_ORDER, BACKEND_NAMES, REGISTRY, create_backend
from .onnxruntime_backend import OnnxRuntimeBackend
from .torch_backend import TorchBackend

BACKENDS = tuple(REGISTRY)

__all__ = ["AUTO_ORDER", "BACKENDS", "BACKEND_NAMES", "Backend", "OnnxRuntimeBackend",
           "REGISTRY", "TorchBackend", "create_backend"]
