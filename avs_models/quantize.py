"""INT8 ONNX models for the CPU (ONNX Runtime quantisation) and the J check that decides
whether one is kept.

Two methods (``onnxruntime.quantization``):

- ``static`` (default): QDQ format, weights int8 per output channel, activations uint8 with
  ranges calibrated (MinMax) on real inputs: frames of a dataset in the AVSBench layout, e.g.
  a SynthAVS split written by ``avs synth``. Convolutions, the bulk of LightAVSeg, run as
  integer kernels.
- ``dynamic``: weights int8, activation ranges computed per call; only MatMul/Gemm are
  quantised (ONNX Runtime's dynamic ConvInteger is slower than its fp32 convolutions on CPU),
  so it needs no data but gains less.

Both start from ONNX Runtime's quantisation pre-processing (shape inference and graph
optimisation, which also folds weights computed by constant subgraphs into initializers,
as the quantiser needs).

Weights use ``reduce_range`` (7-bit) because this project's CPUs have AVX2 without VNNI,
where ONNX Runtime's u8 x s8 products can saturate with full 8-bit weights (its own advice).

Acceptance (the issue's rule): an INT8 model is kept only if its J on the SynthAVS test split
is at most 1 point (0.01) below the fp32 model's; :func:`j_drop` measures both with the same
frames and metric (:class:`~avs_models.metrics.BinaryAVSMetric`, grouped by clip).
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np

#: ``--int8`` choices
METHODS = ("static", "dynamic")
#: largest J drop (fraction, 1 point) for which an INT8 model is kept
MAX_J_DROP = 0.01


def dataset_inputs(root: str | Path, split: str, image_size: tuple[int, int],
                   subset: str = "s4", limit: int | None = None) -> Iterator[dict]:
    """Model inputs and labels of an AVSBench-layout split (S4 or MS3; SynthAVS writes these).

    Yields dicts with ``image`` float32 [1, 3, H, W] (ImageNet-normalised, resized to
    ``image_size``), ``audio`` float32 [1, 1, 96, 64] (our log-mel of the WAV), ``mask``
    float32 [1, 1, H, W] and ``clip`` (str); at most ``limit`` frames (None: all).

    Raises:
        ValueError: subset other than s4/ms3, or what the dataset classes raise for a bad root.
    """
    from .contract import InputContract
    from .data.avsbench import MS3Dataset, S4Dataset

    datasets = {"s4": S4Dataset, "ms3": MS3Dataset}
    if subset not in datasets:
        raise ValueError(f"subset must be one of {tuple(datasets)}, got {subset!r}")
    contract = InputContract(image_size=tuple(image_size))
    ds = datasets[subset](root, split, audio="wav", contract=contract)
    for i in range(len(ds) if limit is None else min(limit, len(ds))):
        item = ds[i]
        yield {"image": item["image"][None].numpy(), "audio": item["audio"][None].numpy(),
               "mask": item["mask"][None].numpy(), "clip": item["clip"]}


class _Reader:
    """``CalibrationDataReader`` protocol over :func:`dataset_inputs`."""

    def __init__(self, samples: Iterator[dict]) -> None:
        self._samples = samples

    def get_next(self) -> dict | None:
        item = next(self._samples, None)
        return None if item is None else {"image": item["image"], "audio": item["audio"]}


def quantize_onnx(src: str | Path, dst: str | Path, method: str = "static",
                  calibration: Iterator[dict] | None = None) -> Path:
    """Write an INT8 version of the fp32 ONNX file ``src`` to ``dst``.

    Args:
        method: "static" (needs ``calibration``) or "dynamic"; see the module docstring.
        calibration: dicts with ``image`` [1, 3, H, W] and ``audio`` [1, 1, 96, 64] float32
            (e.g. :func:`dataset_inputs` of a SynthAVS train split; 32-128 frames suffice).
    Returns:
        ``dst``, carrying ``src``'s metadata (preset, classes, input contract) plus
        ``quantization`` = the method.
    Raises:
        ValueError: unknown method, or static without calibration data.
    """
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "static" and calibration is None:
        raise ValueError("static INT8 needs calibration frames (e.g. a SynthAVS split: "
                         "--calib-data); use --int8 dynamic to quantise without data")
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="avs-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        _quantize(prepared, dst, method, calibration)
    meta = {p.key: p.value for p in onnx.load(str(src), load_external_data=False).metadata_props}
    meta["quantization"] = f"int8-{method}"
    proto = onnx.load(str(dst))
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(dst))
    return dst


def _quantize(src: Path, dst: Path, method: str, calibration) -> None:
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)

    if method == "static":
        quantize_static(str(src), str(dst), _Reader(iter(calibration)),
                        quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    else:
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul", "Gemm"],
                         per_channel=True, reduce_range=True, weight_type=QuantType.QInt8)


def evaluate_j(onnx_path: str | Path, samples: Iterator[dict], threads: int | None = None
               ) -> dict:
    """J and F (fractions) of an ONNX model over ``samples`` (see :func:`dataset_inputs`) on
    the onnxruntime CPU backend, frames grouped by clip (the official S4/MS3 loop)."""
    import torch

    from .backends import OnnxRuntimeBackend
    from .metrics import BinaryAVSMetric

    backend = OnnxRuntimeBackend(onnx_path, "cpu", threads)
    metric = BinaryAVSMetric("clip")
    for item in samples:
        logits = backend.infer(item["image"], item["audio"])
        metric.update(torch.from_numpy(logits), torch.from_numpy(item["mask"][:, 0] > 0.5),
                      [item["clip"]])
    return metric.compute()


def j_drop(fp32_path: str | Path, int8_path: str | Path, root: str | Path,
           split: str = "test", subset: str = "s4", limit: int | None = None,
           threads: int | None = None) -> dict:
    """Evaluate both models on the same frames: ``{"fp32": {...}, "int8": {...}, "j_drop",
    "kept"}``, ``j_drop`` = J(fp32) - J(int8) (fraction), ``kept`` = j_drop <= MAX_J_DROP."""
    from .backends import OnnxRuntimeBackend

    size = OnnxRuntimeBackend(fp32_path, "cpu", 1).image_size
    fp32 = evaluate_j(fp32_path, dataset_inputs(root, split, size, subset, limit), threads)
    int8 = evaluate_j(int8_path, dataset_inputs(root, split, size, subset, limit), threads)
    drop = fp32["J"] - int8["J"]
    return {"fp32": fp32, "int8": int8, "j_drop": drop, "kept": drop <= MAX_J_DROP}


def calibration_frames(root: str | Path, image_size: tuple[int, int], count: int = 64,
                       subset: str = "s4") -> list[dict]:
    """``count`` calibration frames from the train split of ``root`` (loaded eagerly so the
    calibrator can run over them once)."""
    return list(islice(dataset_inputs(root, "train", image_size, subset), count))


def max_abs_diff(a_path: str | Path, b_path: str | Path, samples: list[dict]) -> float:
    """Largest |logit difference| between two ONNX models over ``samples`` (CPU)."""
    from .backends import OnnxRuntimeBackend

    a, b = OnnxRuntimeBackend(a_path, "cpu", 1), OnnxRuntimeBackend(b_path, "cpu", 1)
    return max(float(np.abs(a.infer(s["image"], s["audio"]) - b.infer(s["image"], s["audio"]))
                     .max()) for s in samples)
