"""ONNX export of a preset or checkpoint, checked against PyTorch in ONNX Runtime (the
library behind ``avs export``, :mod:`avs_ros.commands.export`).

The exported graph is the eval-mode network only (no auxiliary heads): inputs ``image``
float32 [1, 3, H, W] (ImageNet-normalised RGB) and ``audio`` float32 [1, 1, 96, 64] (VGGish
log-mel), output ``logits`` float32 [1, C, H, W]. The file carries its metadata (preset,
num_classes, class names, input contract as JSON) in ``metadata_props``, so a runtime can
prepare inputs without the checkpoint (ultralytics' habit).

An INT8 copy for the CPU goes beside the file, at :func:`int8_path` (see
:mod:`avs_models.quantize`).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

import torch

from .base import AVSModel
from .registry import build_model

# "torchscript" first: torch 2.13's dynamo exporter cannot lower some ops (e.g. mean) to
# opset 17 and silently writes opset 18 instead.
EXPORTERS = ("torchscript", "dynamo")


def load_model_for(preset: str | None, checkpoint: str | None,
                   num_classes: int = 1) -> tuple[AVSModel, list[str] | None]:
    """Model from a checkpoint (its preset and classes) or a randomly initialised preset.

    Raises:
        ValueError: neither given, or the checkpoint's preset differs from ``preset``.
        CheckpointError: the checkpoint is unreadable or does not match.
    """
    from .checkpoints import load_model

    if checkpoint:
        model, meta = load_model(checkpoint)
        if preset and meta.get("preset") != preset:
            raise ValueError(f"checkpoint {checkpoint} holds preset {meta.get('preset')!r}, "
                             f"not {preset!r}; drop --preset or pick the matching one")
        return model, meta.get("class_names")
    if not preset:
        raise ValueError("give --preset or --checkpoint")
    torch.manual_seed(0)
    return build_model(preset, num_classes=num_classes).eval(), None


def example_inputs(model: AVSModel, image_size: tuple[int, int] | None = None,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (image [1,3,H,W], audio [1,1,96,64]) float32 in the model's contract."""
    g = torch.Generator().manual_seed(seed)
    h, w = image_size or model.contract.image_size
    image = torch.randn(1, 3, h, w, generator=g)
    c = model.contract
    audio = torch.randn(1, 1, c.mel_frames, c.mel_bins, generator=g) * 2.0 - 2.0
    return image, audio


def export_onnx(model: AVSModel, path: str | Path, *, image_size: tuple[int, int] | None = None,
                opset: int = 17, exporter: str = "torchscript",
                class_names: list[str] | None = None) -> Path:
    """Export the eval-mode ``model`` to a single ONNX file at ``path``.

    Args:
        image_size: (H, W) px of the exported (static) input; default the model's contract.
        opset: ONNX opset, >= 17.
        exporter: "torchscript" (the tracing exporter; keeps the requested opset) or "dynamo"
            (torch.export based; may raise the opset where an op needs it).
    Raises:
        ValueError: opset < 17 or an unknown exporter.
    """
    import onnx

    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    args = example_inputs(model, image_size)
    kwargs = dict(input_names=["image", "audio"], output_names=["logits"], opset_version=opset)
    # The exporters narrate every pass on stdout/warnings; keep that and show it only on failure.
    log = io.StringIO()
    # nn.MultiheadAttention's inference fast path (_native_multi_head_attention) has no ONNX
    # lowering; the regular path computes the same attention.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(log), \
                _quiet_loggers("torch.onnx", "torch.export", "onnxscript"):
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                torch.onnx.export(model, args, str(path), dynamo=True, external_data=False,
                                  verbose=False, **kwargs)
            else:
                torch.onnx.export(model, args, str(path), dynamo=False, **kwargs)
    except Exception:
        print(log.getvalue())
        raise
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    proto = onnx.load(str(path))
    meta = {
        "preset": str(getattr(model, "preset", "")),
        "num_classes": str(model.num_classes),
        "class_names": json.dumps(class_names),
        "input_contract": json.dumps(model.contract.to_dict()),
        "image_size": json.dumps(list(args[0].shape[-2:])),
        "producer": "avs_ros",
    }
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))
    return path


@contextlib.contextmanager
def _quiet_loggers(*names: str):
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def compare_onnx(path: str | Path, model: AVSModel, image_size: tuple[int, int] | None = None,
                 seed: int = 1) -> float:
    """Max abs difference between ONNX Runtime (CPU) and eager PyTorch logits on random
    inputs (a different seed from the export's example)."""
    import onnxruntime as ort

    image, audio = example_inputs(model, image_size, seed=seed)
    with torch.no_grad():
        ref = model.eval()(image, audio).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(["logits"], {"image": image.numpy(), "audio": audio.numpy()})[0]
    if out.shape != ref.shape:
        raise RuntimeError(f"ONNX output shape {out.shape} differs from PyTorch {ref.shape}")
    return float(abs(out - ref).max())


def int8_path(path: str | Path) -> Path:
    """Where ``avs export --int8`` writes the INT8 copy of ``path``: ``<stem>.int8.onnx``."""
    path = Path(path)
    return path.with_name(path.stem + ".int8.onnx")
