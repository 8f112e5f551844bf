"""What bounds a cell: a ``torch.profiler`` summary of a few inferences of one backend.

On CUDA it counts the device kernels per frame and their summed device time (with CUDA graphs
or inductor's ``reduce-overhead`` this sum is about the frame's floor: launch gaps are gone,
only kernel time is left), and lists the ops with the most self device time; on CPU it lists
the ops with the most self CPU time. Read with :func:`format_profile`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from avs_models.backends import Backend

#: how many ops the summary keeps
TOP_OPS = 10


def _device_us(event) -> float:
    """Self device time of a key-averages row in µs (``self_device_time_total``; older
    releases call it ``self_cuda_time_total``)."""
    return float(getattr(event, "self_device_time_total",
                         getattr(event, "self_cuda_time_total", 0.0)) or 0.0)


def profile_backend(backend: Backend, frames: int = 20, seed: int = 0) -> dict:
    """Profile ``frames`` inferences of ``backend`` (already warmed up) on random inputs.

    Returns ``{"frames", "device", "wall_ms_per_frame", "kernels_per_frame" (CUDA, else None),
    "kernel_ms_per_frame" (CUDA: summed duration of the device kernels / frames, else None),
    "top_ops": [{"name", "ms_per_frame", "calls_per_frame"}]}``: the host ops (aten::...) with
    the most self device time on CUDA (the kernels they launched), self CPU time on CPU. Under
    a CUDA graph the kernels are counted but not attributed to ops: profile an eager mode for
    the op list. Raises ValueError when ``frames`` < 1.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    rng = np.random.default_rng(seed)
    h, w = backend.image_size
    image = rng.standard_normal((1, 3, h, w), dtype=np.float32)
    audio = rng.standard_normal((1, 1, 96, 64), dtype=np.float32)
    on_cuda = backend.device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    walls = []
    with profile(activities=activities) as prof:
        for _ in range(frames):
            backend.infer(image, audio)
            walls.append(backend.last_latency_ms)
    cpu_type = torch.autograd.DeviceType.CPU
    rows = [r for r in prof.key_averages() if getattr(r, "device_type", cpu_type) == cpu_type]
    if on_cuda:
        kernels = [e for e in prof.events() if getattr(e, "device_type", cpu_type) != cpu_type]
        kernel_count = len(kernels) / frames
        kernel_ms = sum(e.time_range.elapsed_us() for e in kernels) / 1e3 / frames
        key = _device_us
    else:
        kernel_count = kernel_ms = None
        key = lambda r: float(r.self_cpu_time_total)   # noqa: E731
    top = sorted(rows, key=key, reverse=True)[:TOP_OPS]
    return {"frames": frames, "device": backend.device,
            "wall_ms_per_frame": float(np.median(walls)),
            "kernels_per_frame": kernel_count, "kernel_ms_per_frame": kernel_ms,
            "top_ops": [{"name": r.key, "ms_per_frame": key(r) / 1e3 / frames,
                         "calls_per_frame": r.count / frames} for r in top if key(r) > 0]}


def format_profile(p: dict) -> str:
    """A few lines: wall vs kernel time per frame, kernel count, the top ops."""
    if p["kernels_per_frame"] is not None:
        head = (f"profile ({p['frames']} frames, {p['device']}): wall {p['wall_ms_per_frame']:.2f} "
                f"ms/frame, {p['kernels_per_frame']:.0f} kernels/frame, kernel time "
                f"{p['kernel_ms_per_frame']:.2f} ms/frame")
    else:
        head = (f"profile ({p['frames']} frames, {p['device']}): wall "
                f"{p['wall_ms_per_frame']:.2f} ms/frame")
    lines = [head]
    for op in p["top_ops"]:
        lines.append(f"  {op['ms_per_frame']:8.3f} ms  x{op['calls_per_frame']:<5.0f} "
                     f"{op['name'][:90]}")
    return "\n".join(lines)
