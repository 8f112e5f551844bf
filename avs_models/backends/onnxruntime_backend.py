"""ONNX Runtime backend (CPU execution provider; CUDA provider when onnxruntime-gpu is present)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailable
from .base import Backend

_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class OnnxRuntimeBackend(Backend):
    """Runs an ONNX file written by :func:`avs_models.export.export_onnx`.

    Args:
        path: the .onnx file (its metadata gives image size and classes).
        device: "cpu" or "cuda".
        threads: intra-op threads of the session (inter-op is 1: one frame at a time).
    Raises:
        BackendUnavailable: onnxruntime missing, or the device's execution provider absent.
        FileNotFoundError: ``path`` does not exist.
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailable(
                "backend 'onnxruntime' needs the onnxruntime package: pip install 'avs_ros[onnx]'"
            ) from exc
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model {path} does not exist (export it with avs export)")
        kind = device.split(":")[0]
        provider = _PROVIDERS.get(kind)
        if provider is None:
            raise BackendUnavailable(f"device must be cpu or cuda, got {device!r}")
        if provider not in ort.get_available_providers():
            raise BackendUnavailable(
                f"onnxruntime {ort.__version__} has no {provider} (available: "
                f"{ort.get_available_providers()}); for CUDA install onnxruntime-gpu")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=[provider])
        self.device = device
        meta = self.session.get_modelmeta().custom_metadata_map
        shape = self.session.get_inputs()[0].shape
        self.image_size = tuple(json.loads(meta["image_size"])) if "image_size" in meta \
            else (int(shape[2]), int(shape[3]))
        self.num_classes = int(meta.get("num_classes", 1))

    def _infer(self, image: np.ndarray, audio: np.ndarray) -> np.ndarray:
        return self.session.run(["logits"], {"image": image, "audio": audio})[0]
