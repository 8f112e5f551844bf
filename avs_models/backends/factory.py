"""Backends by name: a small registry and ``create_backend``, including the ``auto`` choice.

``auto`` rule (documented, static, no timing at start-up): the first usable entry of
:data:`AUTO_ORDER`

1. onnxruntime + TensorRT (CUDA)  -- fused, tuned engines; cached on disk after the first build;
2. onnxruntime + CUDA             -- whole graph on the GPU with I/O binding;
3. torch + CUDA                   -- eager kernels, launch overhead per op;
4. onnxruntime + CPU              -- constant folding and conv/bn/activation fusion at load;
5. torch + CPU                    -- eager, the reference.

The order follows the usual ranking of these runtimes for small-batch convolutional models;
on this project's 2-core CPU a ResNet-18 trunk ran in 28-53 ms with onnxruntime and ~38 ms in
eager PyTorch (PERF.md), so rows 4/5 are close: ``avs bench --matrix`` measures both. An
onnxruntime entry needs an ONNX file (``onnx=``), a torch entry a model (``model=``); entries
whose input was not given are skipped. The choice and the reason every earlier entry was
skipped are logged at INFO on ``avs_models.backends``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailable
from .base import Backend
from .onnxruntime_backend import PROVIDERS, OnnxRuntimeBackend, available_providers
from .torch_backend import TorchBackend, cuda_missing_reason

log = logging.getLogger("avs_models.backends")

#: name -> backend class; each class takes (source, device, threads, **options)
REGISTRY: dict[str, type[Backend]] = {"torch": TorchBackend, "onnxruntime": OnnxRuntimeBackend}
BACKEND_NAMES = (*REGISTRY, "auto")

#: (backend, device, options) tried in order by ``auto``
AUTO_ORDER: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("onnxruntime", "cuda", {"provider": "tensorrt"}),
    ("onnxruntime", "cuda", {"provider": "cuda"}),
    ("torch", "cuda", {}),
    ("onnxruntime", "cpu", {}),
    ("torch", "cpu", {}),
)


def _why_not(name: str, device: str, options: dict, model, onnx) -> str | None:
    """Cheap reason why an auto candidate cannot run here (None: try to build it)."""
    if name == "torch":
        if model is None:
            return "no model given"
        return cuda_missing_reason(device) if device.startswith("cuda") else None
    if onnx is None:
        return "no ONNX file given"
    provider = PROVIDERS[options.get("provider", device.split(":")[0])]
    if provider not in available_providers():
        return f"onnxruntime has no {provider}"
    return None


def create_backend(name: str, *, model=None, onnx: str | Path | None = None,
                   device: str = "cpu", threads: int | None = None, **options) -> Backend:
    """Build the backend ``name`` ("torch", "onnxruntime" or "auto").

    Args:
        model: an :class:`~avs_models.base.AVSModel` (torch backend).
        onnx: an ONNX file from ``avs export`` (onnxruntime backend).
        device: "cpu", "cuda" / "cuda:N"; with ``auto`` also "auto" (any device), otherwise
            ``auto`` keeps to the given device kind.
        threads: intra-op CPU threads (None: the runtime's default).
        options: backend options (torch: dtype, compile, cuda_graphs; onnxruntime: provider,
            trt_cache, trt_fp16). Not accepted with ``auto``, which uses defaults.
    Returns:
        a loaded backend; an explicit name never falls back to another backend or device.
    Raises:
        BackendUnavailable: the backend/device is not usable here (the message says what is
            missing and how to install it), or ``auto`` found nothing usable.
        ValueError: unknown name, missing model/onnx for the named backend, options with auto.
    """
    if name == "auto":
        if options:
            raise ValueError(f"backend 'auto' takes no backend options, got {sorted(options)}; "
                             "name the backend to pass options")
        return _auto(model, onnx, device, threads)
    if name not in REGISTRY:
        raise ValueError(f"backend must be one of {BACKEND_NAMES}, got {name!r}")
    source = model if name == "torch" else onnx
    if source is None:
        what = "model=" if name == "torch" else "onnx= (an .onnx file from avs export)"
        raise ValueError(f"backend {name!r} needs {what}")
    return REGISTRY[name](source, device, threads, **options)


def _auto(model, onnx, device: str, threads: int | None) -> Backend:
    kind = device.split(":")[0]
    skipped = []
    for name, cand_device, options in AUTO_ORDER:
        if kind != "auto":
            if cand_device != kind:
                continue
            cand_device = device
        label = f"{name}/{options.get('provider', cand_device)}"
        reason = _why_not(name, cand_device, options, model, onnx)
        if reason is None:
            try:
                backend = create_backend(name, model=model, onnx=onnx, device=cand_device,
                                         threads=threads, **options)
            except BackendUnavailable as exc:
                reason = str(exc)
            else:
                log.info("backend auto: chose %s on %s (rule: first usable of TensorRT > "
                         "onnxruntime-CUDA > torch-CUDA > onnxruntime-CPU > torch-CPU)%s",
                         label, cand_device,
                         "; skipped " + "; ".join(skipped) if skipped else "")
                return backend
        skipped.append(f"{label}: {reason}")
    raise BackendUnavailable("backend auto: nothing usable for device "
                             f"{device!r}: " + "; ".join(skipped))
