"""Small constant tensors made once per device and reused, so that an inference pass makes no
host-to-device copy.

A tensor built from Python numbers on a CUDA device (``torch.tensor(..., device="cuda")``) is a
copy from pageable host memory: it synchronises the host with the stream, and CUDA graph
capture refuses it ("Cannot copy between CPU and CUDA tensors during CUDA graph capture",
seen on the H200 run of 2026-11-30). Built once outside the capture (the warm-up runs do that)
and looked up afterwards, the same values cost nothing. While tracing, exporting or compiling
they are built in the graph as before (they become graph constants there).
"""
from __future__ import annotations

from typing import Sequence

import torch

_CACHE: dict[tuple, torch.Tensor] = {}


def building_graph() -> bool:
    """True while tracing (TorchScript / ONNX export) or compiling (dynamo)."""
    return (torch.jit.is_tracing() or torch.jit.is_scripting()
            or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling())


def constant(values: Sequence, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``torch.tensor(values, dtype, device)``, made once per (values, device, dtype) outside
    graph building. ``values``: nested tuples/lists of Python numbers. Do not modify the
    result in place (it is shared)."""
    if building_graph():
        return torch.tensor(values, dtype=dtype, device=device)
    key = (repr(values), str(device), dtype)
    t = _CACHE.get(key)
    if t is None:
        with torch.inference_mode(False), torch.no_grad():
            t = _CACHE[key] = torch.tensor(values, dtype=dtype, device=device)
    return t
