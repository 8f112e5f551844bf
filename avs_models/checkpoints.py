"""Reading, checking and writing checkpoints without ever leaving a model half-loaded.

Our own checkpoint format (``format: "avs_ros/1"``) is a dict::

    {"format": "avs_ros/1", "preset": str, "num_classes": int, "build_kwargs": dict,
     "class_names": list[str] | None, "contract": dict, "model": state_dict,
     "config": dict | None, "metrics": dict | None[, "source": dict]}

so that :func:`load_model` can rebuild the exact network from the file alone. Plain state
dicts (and ``{"state_dict": ...}`` / ``{"model": ...}`` containers) are read too.
"""
from __future__ import annotations

import hashlib

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from .errors import CheckpointError

FORMAT = "avs_ros/1"
_CONTAINER_KEYS = ("model", "state_dict", "model_state_dict")


def _numpy_globals() -> list:
    """The numpy constructors that a pickled ndarray / numpy scalar needs (array, scalar and
    dtype reconstruction only: no callables that run code), under the module names that
    numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) pickles use."""
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    dtypes = {type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDGUS"}
    names = [(multiarray._reconstruct, f"numpy.{m}.multiarray._reconstruct")
             for m in ("core", "_core")]
    names += [(multiarray.scalar, f"numpy.{m}.multiarray.scalar") for m in ("core", "_core")]
    return [np.dtype, np.ndarray, *(t for t in dtypes if t.__module__ == "numpy.dtypes"),
            *names]


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Read a checkpoint file with ``torch.load(weights_only=True)`` (no code execution).

    Files that also pickle numpy arrays or scalars next to their tensors (e.g. PANNs'
    released checkpoints store their data sampler's state) are read with numpy's array,
    scalar and dtype constructors allowed, and nothing else.

    Raises:
        CheckpointError: the file is missing, empty, truncated/corrupt or not a torch file;
            the message names the path and the cause.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (expected a .pt/.pth file)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
    # bytes that are not a torch file make the unpickler fail in any way (KeyError on a
    # missing memo entry, IndexError, UnicodeDecodeError, ...): all mean "not readable"
    errors = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError,
              io.UnsupportedOperation, OSError, KeyError, IndexError, TypeError,
              AttributeError, UnicodeDecodeError)
    try:
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            if "numpy" not in str(exc):
                raise
            with torch.serialization.safe_globals(_numpy_globals()):
                return torch.load(path, map_location=map_location, weights_only=True)
    except errors as exc:
        raise CheckpointError(
            f"checkpoint {path} could not be read ({type(exc).__name__}: {exc}); expected a "
            "file written by torch.save — it may be truncated or corrupt") from exc


def extract_state_dict(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Return the tensor state dict inside ``obj`` (a state dict, or a dict holding one under
    ``model``/``state_dict``/``model_state_dict``). Raises CheckpointError otherwise."""
    if isinstance(obj, Mapping):
        for key in _CONTAINER_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
        if obj and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
            return dict(obj)
    raise CheckpointError(
        f"{source} holds no state dict: expected a mapping of parameter names to tensors "
        f"(or a dict with one of {list(_CONTAINER_KEYS)}), got {type(obj).__name__}")


def strip_module_prefix(state: Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    """Drop the ``module.`` that ``DataParallel`` puts before every key (if all keys have it)."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """:func:`read_checkpoint` + :func:`extract_state_dict`."""
    return extract_state_dict(read_checkpoint(path), source=f"checkpoint {path}")


def _summarise(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def missing_keys(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
                 ) -> list[str]:
    """Keys of ``own`` that ``state`` lacks, sorted, except BatchNorm ``num_batches_tracked``
    counters: files saved before PyTorch 0.4.1 (e.g. torchvision's first ResNet releases)
    have none, and BatchNorm's own loader fills them in (``_NormBase._load_from_state_dict``),
    strict mode included."""
    return sorted(k for k in set(own) - set(state) if not k.endswith(".num_batches_tracked"))


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor],
                     source: str = "checkpoint") -> None:
    """Compare names and shapes of ``state`` with ``model.state_dict()`` (see
    :func:`missing_keys` for the one kind of key that may be absent).

    Raises:
        CheckpointError: listing missing keys, unexpected keys and shape mismatches.
    """
    own = model.state_dict()
    missing = missing_keys(own, state)
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_summarise(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_summarise(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es): {_summarise(mismatched, 4)}")
    if problems:
        raise CheckpointError(
            f"{source} does not match {type(model).__name__}: " + "; ".join(problems)
            + ". Nothing was loaded.")


def load_state_dict_strict(model: nn.Module, state: Mapping[str, torch.Tensor],
                           source: str = "checkpoint") -> None:
    """Check everything first (:func:`check_state_dict`), then load. The model is unchanged
    if any check fails."""
    check_state_dict(model, state, source)
    model.load_state_dict(state, strict=True)


def save_checkpoint(model: nn.Module, path: str | Path, *, class_names: list[str] | None = None,
                    config: dict | None = None, metrics: dict | None = None,
                    half: bool = False, source: dict | None = None) -> Path:
    """Write ``model`` (built by :func:`avs_models.build_model`) in the ``avs_ros/1`` format.

    Args:
        half: store floating-point tensors as float16 (halves the file; loaded back as float32).
        source: where the weights came from when they were not trained here (``avs import``:
            file name, sha256, what the file was recognised as).
    """
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu()
             for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "preset": getattr(model, "preset", None),
        "num_classes": getattr(model, "num_classes", None),
        "build_kwargs": getattr(model, "build_kwargs", {}),
        "class_names": class_names,
        "contract": model.contract.to_dict() if hasattr(model, "contract") else None,
        "model": state,
        "config": config,
        "metrics": metrics,
    }
    if source is not None:
        payload["source"] = source
    return write_checkpoint(payload, path)


def write_checkpoint(payload: dict, path: str | Path) -> Path:
    """``torch.save`` to a temporary file, then rename: a crash never leaves a truncated
    checkpoint behind. Creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def _read_ours(path: str | Path) -> Mapping:
    """An ``avs_ros/1`` checkpoint dict, read on the CPU; CheckpointError for anything else."""
    obj = read_checkpoint(path, map_location="cpu")
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint {path} is not an {FORMAT!r} checkpoint (no preset metadata); build the "
            "model with build_model(preset) and load plain state dicts with load_state_dict_strict")
    return obj


def load_model(path: str | Path, map_location: str | torch.device = "cpu"):
    """Rebuild the network described by an ``avs_ros/1`` checkpoint and load its weights.

    Returns:
        (model, meta): the :class:`AVSModel` in eval mode, float32, on ``map_location``; and the
        checkpoint dict without its state dict (preset, class_names, config, metrics, ...).
    Raises:
        CheckpointError: unreadable file, not our format, or weights not matching the preset.
    """
    from .contract import InputContract
    from .registry import build_model

    obj = _read_ours(path)
    model = build_model(obj["preset"], num_classes=obj["num_classes"], **obj["build_kwargs"])
    if obj.get("contract"):
        model.contract = InputContract.from_dict(obj["contract"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in obj["model"].items()}
    load_state_dict_strict(model, state, source=f"checkpoint {path}")
    meta = {k: v for k, v in obj.items() if k != "model"}
    return model.to(map_location).eval(), meta


def interpolate_checkpoints(start: str | Path, tuned: str | Path, alpha: float, *,
                            half: bool = False) -> dict:
    """WiSE-FT weight-space ensemble of a model and its fine-tuned version: every float tensor
    of the state dict becomes ``(1 - alpha) * start + alpha * tuned`` (Wortsman et al., "Robust
    fine-tuning of zero-shot models", CVPR 2022, Eq. 1), BatchNorm running statistics
    included; integer tensors (``num_batches_tracked``) are the tuned model's.

    Args:
        start, tuned: ``avs_ros/1`` checkpoints of the same preset, classes, build options and
            input contract (``tuned`` fine-tuned from ``start``, e.g. by
            ``model.init_checkpoint``).
        alpha: weight of ``tuned`` in [0, 1] (0 gives ``start``, 1 gives ``tuned``).
        half: store float tensors as float16 (as the shipped release), else float32.

    Returns:
        an ``avs_ros/1`` checkpoint dict: ``tuned``'s metadata, ``metrics`` cleared (they were
        measured on other weights) and ``source`` naming both files (sha256) and ``alpha``.

    Raises:
        ValueError: ``alpha`` outside [0, 1].
        CheckpointError: unreadable files, not our format, or the two differ in preset,
            classes, build options, contract, keys or tensor shapes.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    a, b = _read_ours(start), _read_ours(tuned)
    for key in ("preset", "num_classes", "build_kwargs", "contract"):
        if a.get(key) != b.get(key):
            raise CheckpointError(f"{start} and {tuned} differ in {key}: {a.get(key)!r} vs "
                                  f"{b.get(key)!r}; only a model and its fine-tuned version "
                                  "can be interpolated")
    sa, sb = a["model"], b["model"]
    if set(sa) != set(sb):
        raise CheckpointError(f"{start} and {tuned} have different state-dict keys: "
                              f"{_summarise(sorted(set(sa) ^ set(sb)))}")
    state = {}
    for k, vb in sb.items():
        va = sa[k]
        if va.shape != vb.shape:
            raise CheckpointError(f"{k}: shape {tuple(va.shape)} in {start} but "
                                  f"{tuple(vb.shape)} in {tuned}")
        if vb.is_floating_point():
            v = torch.lerp(va.float(), vb.float(), float(alpha))
            state[k] = v.half() if half else v
        else:
            state[k] = vb
    out = {k: v for k, v in b.items() if k != "model"}
    out.update(model=state, metrics=None, source={
        "kind": "wise-ft", "alpha": float(alpha),
        "start": {"file": Path(start).name, "sha256": file_sha256(start)},
        "tuned": {"file": Path(tuned).name, "sha256": file_sha256(tuned)}})
    return out


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
