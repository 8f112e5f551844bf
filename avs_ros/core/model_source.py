"""Which model the runtime loads, and the backend that runs it (shared by node and tools).

Resolution of ``checkpoint``:

- a ``.onnx`` file: backend must be ``onnxruntime``; the file's metadata gives image size and
  classes, the preset gives the input contract (mean/std, audio window);
- a ``.pt``/``.pth`` file in the ``avs_ros/1`` format: the network it describes (its own
  preset, classes and contract), backend ``torch``;
- empty: the shipped default checkpoint (:data:`SHIPPED_CHECKPOINT`) when it is installed and
  ``preset`` is its preset (lightavseg_t), else the preset with random weights (seed 0). The result says so (``random_weights``) so
  that the caller warns: such a model segments nothing meaningful.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

import avs_models.weights as shipped
from avs_models.backends import Backend, OnnxRuntimeBackend, TorchBackend
from avs_models.contract import InputContract
from avs_models.registry import build_model, get_preset

#: the model shipped with the package (installed with avs_models; see avs_models/weights)
SHIPPED_CHECKPOINT = Path(shipped.__file__).resolve().parent / shipped.DEFAULT_CHECKPOINT


@dataclass
class LoadedModel:
    """A loaded backend with what the pipeline needs: ``contract``, ``class_names`` (None:
    defaults), ``source`` (file path, or "preset <name> (random weights)") and
    ``random_weights``."""

    backend: Backend
    contract: InputContract
    class_names: list[str] | None
    source: str
    random_weights: bool


def load_backend(preset: str, checkpoint: str = "", backend: str = "torch",
                 device: str = "cpu", threads: int = 0,
                 image_size: tuple[int, int] | None = None) -> LoadedModel:
    """Load the model named by ``checkpoint``/``preset`` on ``backend`` and ``device``.

    Args:
        preset: registry name (used for random weights, and for the contract of an ONNX file
            that stores none).
        checkpoint: see the module docstring.
        backend: "torch" or "onnxruntime".
        device: "cpu", "cuda" or "cuda:N".
        threads: intra-op CPU threads, 0 = library default.
        image_size: (h, w) network input in px overriding the model's (torch only; an ONNX
            file has a fixed size), None keeps it.

    Raises:
        ValueError: a backend/checkpoint combination that cannot work (onnxruntime without an
            .onnx file, torch with one, an image size for ONNX).
        PresetError, CheckpointError, BackendUnavailable, FileNotFoundError: from the loaders.
    """
    path = Path(checkpoint) if checkpoint else None
    if path is None and preset == shipped.DEFAULT_PRESET and SHIPPED_CHECKPOINT.is_file():
        path = SHIPPED_CHECKPOINT
    is_onnx = path is not None and path.suffix.lower() == ".onnx"
    if backend == "onnxruntime":
        if not is_onnx:
            raise ValueError("backend 'onnxruntime' needs checkpoint set to an .onnx file "
                             "(write one with: avs export --preset NAME --out model.onnx)")
        if image_size:
            raise ValueError("image_size cannot be changed for an ONNX file (its input size is "
                             "fixed at export); export it again with --image-size")
        # Between frames the intra-op threads sleep instead of spin-waiting: spinning keeps
        # the cores busy after each run, time taken from the frame's pre/post-processing and
        # the ROS executor (avs node-bench, 2 cores: end-to-end 31.6 -> 22.1 ms).
        runner = OnnxRuntimeBackend(path, device, threads or None, spin_wait=False)
        # the file's own contract (its audio front end) where ``avs export`` stored one
        contract = InputContract.from_dict(runner.input_contract) if runner.input_contract \
            else get_preset(preset).contract
        return LoadedModel(runner, replace(contract, image_size=tuple(runner.image_size)),
                           None, str(path), False)
    if backend != "torch":
        raise ValueError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}")
    if is_onnx:
        raise ValueError(f"checkpoint {path} is an ONNX file: use backend 'onnxruntime'")
    if path is not None:
        from avs_models.checkpoints import load_model

        model, meta = load_model(path)
        names, source, random = meta.get("class_names"), str(path), False
    else:
        torch.manual_seed(0)
        model = build_model(preset).eval()
        names, source, random = None, f"preset {preset} (random weights)", True
    if image_size:
        model.contract = replace(model.contract, image_size=tuple(int(v) for v in image_size))
    return LoadedModel(TorchBackend(model, device, threads or None), model.contract, names,
                       source, random)
