"""``avs export``: ONNX export of a preset or checkpoint (:mod:`avs_models.export`), checked
against PyTorch in ONNX Runtime.

With ``--int8`` an INT8 copy for the CPU is written beside it (``<out>.int8.onnx``, see
:mod:`avs_models.quantize`); with ``--eval-data`` both are evaluated on that dataset's test
split and the INT8 file is deleted (exit status 1) if J drops by more than 1 point.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from avs_models.export import EXPORTERS, compare_onnx, export_onnx, int8_path, load_model_for
from avs_models.registry import PRESETS


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


def _int8(args: argparse.Namespace, path: Path, size: tuple[int, int]) -> int:
    from avs_models.quantize import calibration_frames, max_abs_diff, quantize_onnx

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
    from avs_models import quantize

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
