"""Which model the runtime loads, and the backend that runs it (shared by node and tools).

Two steps, so that the slow one happens once, at configure: :func:`plan_model` decides what to
load (and exports an ONNX file when one is needed), :func:`load_planned` loads it (at
activate); :func:`load_backend` does both.

Resolution of ``checkpoint``:

- a ``.onnx`` file: run by onnxruntime (``auto`` or ``onnxruntime``; ``torch`` refuses it);
  its metadata gives image size, classes and input contract (else the preset's contract);
- a ``.pt``/``.pth`` file in the ``avs_ros/1`` format: the network it describes (its own
  preset, classes and contract);
- empty: the preset's shipped checkpoint (:func:`avs_models.weights.shipped_checkpoint`:
  :data:`avs_models.weights.SHIPPED` lists them) when it is installed, else the preset with random
  weights (seed 0). The result says so (``random_weights``) so that the caller warns: such a
  model segments nothing meaningful.

Backends: ``torch`` runs the network eagerly; ``onnxruntime`` runs an ONNX file, exported from
a ``.pt`` (or random weights) once and cached (:func:`avs_models.onnx_cache.cached_onnx`);
``auto`` (the default) is ``onnxruntime`` when onnxruntime is installed with the execution
provider of ``device`` and the export succeeds, else ``torch``, and says why in
:attr:`ModelPlan.notes`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

import avs_models.weights as shipped
from avs_models.backends import Backend, OnnxRuntimeBackend, TorchBackend
from avs_models.backends.onnxruntime_backend import PROVIDERS, available_providers
from avs_models.contract import InputContract
from avs_models.registry import build_model, get_preset

#: accepted values of ``backend``
BACKEND_CHOICES = ("auto", "torch", "onnxruntime")


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


@dataclass(frozen=True)
class ModelPlan:
    """What :func:`load_planned` loads, decided by :func:`plan_model`.

    ``backend``: "torch" or "onnxruntime"; ``path``: the file that backend loads (a ``.pt``
    for torch, None for random weights; an ``.onnx`` for onnxruntime); ``source``: the model
    the user asked for (checkpoint path, or "preset <name> (random weights)"); ``image_size``:
    (h, w) override of the torch network's input (None: the model's); ``notes``: lines for the
    log (the auto choice and its reason, the ONNX cache file used or written).
    """

    preset: str
    backend: str
    path: Path | None
    source: str
    random_weights: bool
    image_size: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)


def plan_model(preset: str, checkpoint: str = "", backend: str = "auto", device: str = "cpu",
               image_size: tuple[int, int] | None = None) -> ModelPlan:
    """Decide what to load; export (once, cached) the ONNX file onnxruntime needs.

    Args:
        preset: registry name (used for random weights, and for the contract of an ONNX file
            that stores none).
        checkpoint: see the module docstring.
        backend: "auto", "torch" or "onnxruntime".
        device: "cpu", "cuda" or "cuda:N" (auto picks onnxruntime only where it has this
            device's execution provider).
        image_size: (h, w) network input in px overriding the model's, None keeps it (a given
            ONNX file's size is fixed; a cached export is made at this size).

    Raises:
        ValueError: a backend/checkpoint combination that cannot work (torch with an .onnx
            file, an image size for a given ONNX file, an unknown backend).
        CheckpointError, FileNotFoundError, ImportError, RuntimeError: exporting for
            ``onnxruntime`` failed (``auto`` falls back to torch instead and says why).
    """
    if backend not in BACKEND_CHOICES:
        raise ValueError(f"backend must be one of {list(BACKEND_CHOICES)}, got {backend!r}")
    path = Path(checkpoint) if checkpoint else None
    if path is None:
        path = shipped.shipped_checkpoint(preset)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (give an avs_ros/1 .pt, an "
                                ".onnx file, or leave it empty for the shipped model)")
    random = path is None
    source = f"preset {preset} (random weights)" if random else str(path)
    size = tuple(int(v) for v in image_size) if image_size else None
    plan = ModelPlan(preset, "torch", path, source, random, size)
    if path is not None and path.suffix.lower() == ".onnx":
        if backend == "torch":
            raise ValueError(f"checkpoint {path} is an ONNX file: use backend 'onnxruntime' "
                             "(or 'auto')")
        if size:
            raise ValueError("image_size cannot be changed for an ONNX file (its input size is "
                             "fixed at export); export it again with --image-size, or give "
                             "the .pt checkpoint")
        return replace(plan, backend="onnxruntime")
    if backend == "torch":
        return plan
    if backend == "auto":
        provider = PROVIDERS.get(device.split(":")[0], "?")
        if provider not in available_providers():
            why = "onnxruntime is not installed (pip install 'avs_ros[onnx]')" \
                if not available_providers() else f"onnxruntime has no {provider}"
            return replace(plan, notes=[f"backend auto: torch ({why})"])
    from avs_models.onnx_cache import cached_onnx

    try:
        cached = cached_onnx(path, preset, size)
    except Exception as exc:  # noqa: BLE001 - auto falls back to torch on any export failure
        if backend == "onnxruntime":
            raise
        return replace(plan, notes=[f"backend auto: torch (the ONNX export for onnxruntime "
                                    f"failed: {type(exc).__name__}: {exc})"])
    notes = [f"backend {backend}: onnxruntime"] if backend == "auto" else []
    action = "exported to" if cached.exported else "reusing the cached"
    notes.append(f"ONNX of {source}: {action} {cached.path} (max abs logit diff vs torch "
                 f"{cached.max_abs_diff:.1e})")
    return replace(plan, backend="onnxruntime", path=cached.path, notes=notes)


def load_planned(plan: ModelPlan, device: str = "cpu", threads: int = 0) -> LoadedModel:
    """Load what ``plan`` names on ``device`` with ``threads`` intra-op CPU threads (0: the
    library's default).

    Raises:
        PresetError, CheckpointError, BackendUnavailable, FileNotFoundError: from the loaders.
    """
    if plan.backend == "onnxruntime":
        # Between frames the intra-op threads sleep instead of spin-waiting: spinning keeps
        # the cores busy after each run, time taken from the frame's pre/post-processing and
        # the ROS executor (avs node-bench, 2 cores: end-to-end 31.6 -> 22.1 ms).
        runner = OnnxRuntimeBackend(plan.path, device, threads or None, spin_wait=False)
        # the file's own contract (its audio front end) where ``avs export`` stored one
        contract = InputContract.from_dict(runner.input_contract) if runner.input_contract \
            else get_preset(plan.preset).contract
        return LoadedModel(runner, replace(contract, image_size=tuple(runner.image_size)),
                           runner.class_names, plan.source, plan.random_weights)
    if plan.path is not None:
        from avs_models.checkpoints import load_model

        model, meta = load_model(plan.path)
        names = meta.get("class_names")
    else:
        torch.manual_seed(0)
        model = build_model(plan.preset).eval()
        names = None
    if plan.image_size:
        model.contract = replace(model.contract, image_size=plan.image_size)
    return LoadedModel(TorchBackend(model, device, threads or None), model.contract, names,
                       plan.source, plan.random_weights)


def load_backend(preset: str, checkpoint: str = "", backend: str = "torch",
                 device: str = "cpu", threads: int = 0,
                 image_size: tuple[int, int] | None = None) -> LoadedModel:
    """:func:`plan_model` then :func:`load_planned` (for tools that load in one step).

    Raises:
        everything those two raise.
    """
    return load_planned(plan_model(preset, checkpoint, backend, device, image_size),
                        device, threads)
