"""PyTorch backend: eager fp32 on CPU or CUDA; on CUDA optionally fp16/bf16 autocast,
``torch.compile`` and CUDA graphs (batch 1, static input buffers)."""
from __future__ import annotations

import contextlib
import logging

import numpy as np
import torch

from ..base import AVSModel
from ..errors import AVSInputError, BackendUnavailable
from .base import Backend

log = logging.getLogger(__name__)

#: --dtype names -> autocast dtypes (None: plain fp32)
DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def cuda_missing_reason(device: str) -> str | None:
    """Why ``device`` ("cuda" / "cuda:N") is not usable with this torch, or None if it is."""
    if not torch.cuda.is_available():
        return (f"device {device!r} requested but torch {torch.__version__} sees no CUDA device; "
                "install a CUDA build of torch (pip install torch==2.13.0 on a CUDA machine) "
                "or use --device cpu")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        return (f"device {device!r} requested but only {torch.cuda.device_count()} CUDA "
                "device(s) are visible (check CUDA_VISIBLE_DEVICES)")
    return None


class TorchBackend(Backend):
    """Runs an :class:`AVSModel` in eval mode under ``torch.inference_mode``.

    Args:
        model: the network (moved to ``device``).
        device: "cpu" or "cuda" / "cuda:N".
        threads: intra-op CPU threads (``torch.set_num_threads``; process-wide), None = keep.
        dtype: "fp32" (default), or "fp16" / "bf16": ``torch.autocast`` on CUDA (weights stay
            fp32; matmuls and convolutions run in half precision; logits are returned as
            float32). CPU accepts only fp32: CPU autocast is not a speed-up for these models
            on x86 without AMX and it was not validated here, so it is refused, not guessed.
        compile: wrap the model in ``torch.compile`` (inductor; the first inference compiles,
            which takes minutes on a small CPU; needs a C++ compiler on CPU, Triton on CUDA).
        cuda_graphs: CUDA only: capture one inference at batch 1 into a CUDA graph with static
            input/output buffers and replay it (removes kernel-launch overhead; the input
            size is fixed to ``image_size``). Capture happens at construction, after three
            warm-up runs on a side stream (what ``torch.cuda.graphs`` requires). Together
            with ``compile`` the graphs are left to inductor (``mode="reduce-overhead"``,
            which captures CUDA graphs of the compiled code) instead of a manual capture.
    On CUDA, ``torch.backends.cudnn.benchmark`` is switched on (process-wide): the input size
    is fixed, so cuDNN's per-shape algorithm search pays off after the first call.
    Raises:
        BackendUnavailable: CUDA requested but not usable; fp16/bf16 or CUDA graphs on CPU.
        ValueError: an unknown dtype.
    """

    name = "torch"

    def __init__(self, model: AVSModel, device: str = "cpu", threads: int | None = None, *,
                 dtype: str = "fp32", compile: bool = False, cuda_graphs: bool = False) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}")
        on_cuda = device.startswith("cuda")
        if on_cuda:
            reason = cuda_missing_reason(device)
            if reason:
                raise BackendUnavailable(reason)
        elif device != "cpu":
            raise BackendUnavailable(f"torch backend: device must be cpu or cuda[:N], "
                                     f"got {device!r}")
        elif dtype != "fp32":
            raise BackendUnavailable(
                f"torch backend: dtype {dtype} runs only on CUDA (autocast); on CPU use fp32, "
                "or the onnxruntime backend with an INT8 model (avs export --int8)")
        elif cuda_graphs:
            raise BackendUnavailable("torch backend: cuda_graphs needs a CUDA device; "
                                     "drop the option on CPU")
        if threads:
            torch.set_num_threads(threads)
        self.device = device
        self.dtype = dtype
        self.model = model.to(device).eval()
        self.image_size = tuple(model.contract.image_size)
        self.num_classes = model.num_classes
        if on_cuda:
            torch.backends.cudnn.benchmark = True
        self._forward = self.model
        if compile:
            mode = "reduce-overhead" if cuda_graphs else None
            self._forward = torch.compile(self.model, mode=mode)
        self._graph: torch.cuda.CUDAGraph | None = None
        if cuda_graphs and not compile:
            self._capture()

    def _autocast(self):
        amp = DTYPES[self.dtype]
        if amp is None:
            return contextlib.nullcontext()
        # no weight-cast cache: each call enters a new autocast context, so the cache would not
        # outlive one forward anyway, and tensors it caches during a CUDA graph capture are
        # freed while the graph still uses them (PyTorch's CUDA-graph notes on autocast)
        return torch.autocast("cuda", dtype=amp, cache_enabled=False)

    def _run(self, image: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), self._autocast():
            return self._forward(image, audio)

    def _capture(self) -> None:
        h, w = self.image_size
        c = self.model.contract
        self._static_image = torch.zeros(1, 3, h, w, device=self.device)
        self._static_audio = torch.zeros(1, 1, c.mel_frames, c.mel_bins, device=self.device)
        stream = torch.cuda.Stream(device=self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(3):
                self._run(self._static_image, self._static_audio)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        self._graph = torch.cuda.CUDAGraph()
        # The model's NaN/Inf check reads a value back to the host, which a capture forbids;
        # replay checks the host arrays instead (see _infer).
        check_finite = self.model.check_finite
        self.model.check_finite = False
        try:
            with torch.cuda.graph(self._graph):
                self._static_out = self._run(self._static_image, self._static_audio)
        finally:
            self.model.check_finite = check_finite
        log.info("torch backend: captured a CUDA graph at 1x3x%dx%d (%s)", h, w, self.dtype)

    def _infer(self, image: np.ndarray, audio: np.ndarray) -> np.ndarray:
        if self._graph is not None:
            expected = (tuple(self._static_image.shape), tuple(self._static_audio.shape))
            if (image.shape, audio.shape) != expected:
                raise AVSInputError(f"CUDA graph captured for image/audio {expected}, got "
                                    f"{(image.shape, audio.shape)}")
            if self.model.check_finite and not (np.isfinite(image).all()
                                                and np.isfinite(audio).all()):
                raise AVSInputError("image or audio contains NaN or Inf values")
            self._static_image.copy_(torch.from_numpy(image), non_blocking=False)
            self._static_audio.copy_(torch.from_numpy(audio), non_blocking=False)
            self._graph.replay()
            return self._static_out.float().cpu().numpy()
        logits = self._run(torch.from_numpy(image).to(self.device),
                           torch.from_numpy(audio).to(self.device))
        return logits.float().cpu().numpy()
