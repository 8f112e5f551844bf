"""``avs export``: ONNX export of a preset or checkpoint, checked against PyTorch.

The exported graph is the eval-mode network only (no auxiliary heads): inputs ``image``
float32 [1, 3, H, W] (ImageNet-normalised RGB) and ``audio`` float32 [1, 1, 96, 64] (VGGish
log-mel), output ``logits`` float32 [1, C, H, W]. The file carries its metadata (preset,
num_classes, class names, input contract as JSON) in ``metadata_props``, so a runtime can
prepare inputs without the checkpoint (ultralytics' habit).

With ``--int8`` an INT8 copy for the CPU is written beside it (``<out>.int8.onnx``, see
:mod:`avs_models.quantize`); with ``--eval-data`` both are evaluated on that dataset's test
split and the INT8 file is deleted (exit status 1) if J drops by more than 1 point.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

import torch

from .base import AVSModel
from .registry import PRESETS, build_model

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=list(PRESETS), help="preset to export")
    parser.add_argument("--checkpoint", help="avs_ros checkpoint (.pt); its preset is used")
    parser.add_argument("--out", required=True, help="output .onnx path")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"),
                        help="input size in px (default: the preset's, 224x224)")
    parser.add_argument("--num-classes", type=int, default=1,
                        help="output classes for a preset without checkpoint (1, or 71 for AVSS)")
    parser.add_argument("--exporter", choices=EXPORTERS, default="torchscript")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the ONNX Runtime vs PyTorch comparison")
    parser.add_argument("--int8", choices=("static", "dynamic"),
                        help="also write an INT8 copy (<out>.int8.onnx) for the CPU")
    parser.add_argument("--calib-data", metavar="ROOT",
                        help="AVSBench-layout folder (e.g. a SynthAVS Single-source or "
                             "Multi-sources folder) whose train frames calibrate --int8 static")
    parser.add_argument("--calib-frames", type=int, default=64, help="calibration frames")
    parser.add_argument("--eval-data", metavar="ROOT",
                        help="keep the INT8 copy only if J on ROOT's test split drops <= 1 point")
    parser.add_argument("--subset", choices=("s4", "ms3"), default="s4",
                        help="layout of --calib-data / --eval-data")


def run(args: argparse.Namespace) -> int:
    if args.int8 == "static" and not args.calib_data:
        print("avs export: --int8 static needs --calib-data (a SynthAVS/AVSBench folder); "
              "or use --int8 dynamic")
        return 2
    model, class_names = load_model_for(args.preset, args.checkpoint, args.num_classes)
    size = tuple(args.image_size) if args.image_size else None
    path = export_onnx(model, args.out, image_size=size, opset=args.opset,
                       exporter=args.exporter, class_names=class_names)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, opset {args.opset})")
    if not args.no_check:
        diff = compare_onnx(path, model, size)
        print(f"onnxruntime vs torch: max abs diff {diff:.2e}")
        if diff > 1e-3:
            print("error: difference above 1e-3", flush=True)
            return 1
    return _int8(args, path, size or tuple(model.contract.image_size)) if args.int8 else 0


def int8_path(path: str | Path) -> Path:
    """Where ``avs export --int8`` writes the INT8 copy of ``path``: ``<stem>.int8.onnx``."""
    path = Path(path)
    return path.with_name(path.stem + ".int8.onnx")


def _int8(args: argparse.Namespace, path: Path, size: tuple[int, int]) -> int:
    from .quantize import calibration_frames, max_abs_diff, quantize_onnx

    frames = calibration_frames(args.calib_data, size, args.calib_frames, args.subset) \
        if args.calib_data else None
    out = quantize_onnx(path, int8_path(path), args.int8, frames)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, int8 {args.int8})")
    if frames:
        print(f"int8 vs fp32 on {len(frames)} calibration frames: max abs logit diff "
              f"{max_abs_diff(path, out, frames):.3f}")
    if not args.eval_data:
        return 0
    return 0 if keep_int8_if_j_holds(path, out, args.eval_data, args.subset) else 1


def keep_int8_if_j_holds(fp32: str | Path, int8: str | Path, root: str | Path,
                         subset: str = "s4", limit: int | None = None) -> bool:
    """The issue's acceptance rule: evaluate both files on ``root``'s test split (at most
    ``limit`` frames), print J, and delete ``int8`` unless J drops by <= 1 point. Returns
    whether it was kept."""
    from . import quantize

    result = quantize.j_drop(fp32, int8, root, "test", subset, limit)
    print(f"J fp32 {result['fp32']['J'] * 100:.2f}, int8 {result['int8']['J'] * 100:.2f} "
          f"({result['fp32']['frames']} test frames): drop {result['j_drop'] * 100:.2f} points")
    if not result["kept"]:
        Path(int8).unlink()
        print(f"INT8 rejected: J drops by more than {quantize.MAX_J_DROP * 100:.0f} point; "
              f"{int8} removed")
        return False
    print(f"INT8 kept (J drop <= {quantize.MAX_J_DROP * 100:.0f} point)")
    return True
