"""Which network replay runs: a checkpoint, the shipped default, or a preset with random
weights (for plumbing tests only, warned loudly).

Random weights are drawn after ``torch.manual_seed(0)``, as the node does for an empty
checkpoint, so that node and replay run the same network in the equivalence test.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from avs_models.backends import Backend, OnnxRuntimeBackend, TorchBackend
from avs_models.contract import InputContract
from avs_models.registry import build_model, get_preset

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """``backend`` ready to run; its ``contract``; ``class_names`` (None: defaults);
    ``source`` (a path, or "preset NAME (random weights)"); ``random_weights``."""

    backend: Backend
    contract: InputContract
    class_names: list[str] | None
    source: str
    random_weights: bool


def shipped_checkpoint() -> Path | None:
    """The default checkpoint installed with ``avs_models.weights`` (None when absent)."""
    try:
        from avs_models.weights import default_checkpoint
    except ImportError:
        return None
    try:
        path = default_checkpoint()
    except (FileNotFoundError, RuntimeError):
        return None
    return Path(path) if path and Path(path).is_file() else None


def load(checkpoint: str | None, preset: str = "lightavseg_t", backend: str = "torch",
         device: str = "cpu", threads: int | None = None,
         image_size: tuple[int, int] | None = None) -> LoadedModel:
    """Load the model for replay.

    Args:
        checkpoint: an ``avs_ros/1`` ``.pt`` file (torch) or an ``.onnx`` file (onnxruntime);
            None: the shipped default when installed, else ``preset`` with random weights.
        preset: the preset of random weights, and the input contract of an ONNX file.
        backend: ``"torch"`` or ``"onnxruntime"``.
        device: ``"cpu"`` or ``"cuda[:N]"``.
        threads: intra-op CPU threads (None: library default).
        image_size: (h, w) network input in px, multiples of 32, overriding the model's
            (torch only, as the node's ``image_size`` parameter); None keeps it.

    Raises:
        ValueError: a backend that does not fit the checkpoint's kind.
        PresetError, CheckpointError, BackendUnavailable, FileNotFoundError: from the loaders.
    """
    path = Path(checkpoint) if checkpoint else shipped_checkpoint()
    onnx = path is not None and path.suffix.lower() == ".onnx"
    if image_size is not None and (len(image_size) != 2 or any(
            int(v) <= 0 or int(v) % 32 for v in image_size)):
        raise ValueError(f"image size must be two positive multiples of 32 px, got {image_size}")
    if backend == "onnxruntime" or onnx:
        if image_size is not None:
            raise ValueError("an ONNX file's input size is fixed at export; drop --image-size "
                             "or export again at that size")
        if not onnx or backend != "onnxruntime":
            raise ValueError("an .onnx checkpoint runs on --backend onnxruntime and that backend "
                             f"needs an .onnx file; got backend {backend!r} and checkpoint "
                             f"{path} (write one with: avs export --preset NAME --out m.onnx)")
        runner = OnnxRuntimeBackend(path, device, threads)
        contract = replace(get_preset(preset).contract, image_size=tuple(runner.image_size))
        return LoadedModel(runner, contract, None, str(path), False)
    if backend != "torch":
        raise ValueError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}")
    if path is not None:
        from avs_models.checkpoints import load_model

        model, meta = load_model(path)
        _resize(model, image_size)
        return LoadedModel(TorchBackend(model, device, threads), model.contract,
                           meta.get("class_names"), str(path), False)
    log.warning("no checkpoint given and no shipped default installed: running preset %s with "
                "RANDOM weights; masks and J/F mean nothing (pass --checkpoint)", preset)
    torch.manual_seed(0)
    model = build_model(preset).eval()
    _resize(model, image_size)
    return LoadedModel(TorchBackend(model, device, threads), model.contract, None,
                       f"preset {preset} (random weights)", True)


def _resize(model, image_size: tuple[int, int] | None) -> None:
    if image_size is not None:
        model.contract = replace(model.contract, image_size=tuple(int(v) for v in image_size))
