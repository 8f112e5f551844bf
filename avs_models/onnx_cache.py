"""ONNX files exported once from a checkpoint (or a preset's random weights) and kept on disk.

The runtime's fast path is ONNX Runtime, which needs an ``.onnx`` file; users give a ``.pt``
checkpoint (or nothing: the shipped one). :func:`cached_onnx` exports it with
:func:`avs_models.export.export_onnx`, checks it against PyTorch
(:func:`avs_models.export.compare_onnx`, max abs logit difference <= :data:`MAX_ABS_DIFF`, the
same rule as ``avs export``) and keeps it, so that the next start loads it directly.

Cache folder: ``$AVS_ONNX_CACHE``, else ``$XDG_CACHE_HOME/avs_ros/onnx``, else
``~/.cache/avs_ros/onnx`` (the XDG base-directory rule). One file per key,
``<preset>-<key>.onnx``, with a ``.json`` sidecar. The key is the sha256 of the checkpoint file
(or, for random weights, of the preset name, seed and torch version) and of the export
settings (image size, opset, exporter, :data:`EXPORT_VERSION`): another checkpoint or other
settings give another file, a changed checkpoint at the same path too. The sidecar records the
ONNX file's own sha256; a cached file that does not match it (truncated, overwritten, a crash
mid-write of an older version) or has no sidecar is exported again. Files are written under a
temporary name and renamed, so a concurrent start never reads half a file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .checkpoints import file_sha256

log = logging.getLogger("avs_models.onnx_cache")

#: bumped when the export itself changes in a way that old cached files must not be reused
EXPORT_VERSION = 1
#: largest max abs logit difference ONNX Runtime vs PyTorch accepted for a cached export
MAX_ABS_DIFF = 1e-3


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/avs_ros``, else ``~/.cache/avs_ros`` (all avs_ros caches live here)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "avs_ros"


def onnx_cache_dir() -> Path:
    """Folder of the cached ONNX exports: ``$AVS_ONNX_CACHE`` or ``cache_root()/onnx``."""
    return Path(os.environ.get("AVS_ONNX_CACHE") or cache_root() / "onnx")


@dataclass(frozen=True)
class CachedOnnx:
    """``path`` of the ONNX file; ``exported``: written by this call (False: reused from the
    cache); ``max_abs_diff``: its check against PyTorch at export time (from the sidecar when
    reused)."""

    path: Path
    exported: bool
    max_abs_diff: float


def cache_key(checkpoint: str | Path | None, preset: str,
              image_size: tuple[int, int] | None, opset: int = 17,
              exporter: str = "torchscript") -> str:
    """The cache key (hex sha256) of exporting ``checkpoint`` (None: ``preset`` with random
    weights from seed 0) with these settings."""
    import torch

    source = {"checkpoint_sha256": file_sha256(checkpoint)} if checkpoint else \
        {"random_preset": preset, "seed": 0, "torch": torch.__version__}
    settings = {"image_size": list(image_size) if image_size else None, "opset": opset,
                "exporter": exporter, "export_version": EXPORT_VERSION}
    return hashlib.sha256(json.dumps({**source, **settings}, sort_keys=True).encode())\
        .hexdigest()


def cached_onnx(checkpoint: str | Path | None, preset: str,
                image_size: tuple[int, int] | None = None, *, opset: int = 17,
                exporter: str = "torchscript", cache_dir: str | Path | None = None) -> CachedOnnx:
    """The ONNX file of ``checkpoint`` with these export settings, exported on first use.

    Args:
        checkpoint: an ``avs_ros/1`` ``.pt`` checkpoint (its own preset and classes are used),
            or None for ``preset`` with random weights (seed 0).
        preset: the preset of random weights; with a checkpoint only used in the file name.
        image_size: (H, W) px of the exported static input; None: the model's own.
        opset, exporter: passed to :func:`avs_models.export.export_onnx`.
        cache_dir: default :func:`onnx_cache_dir`.
    Returns:
        the cached file (see :class:`CachedOnnx`).
    Raises:
        CheckpointError, ValueError: from loading the checkpoint or exporting.
        ImportError: onnx (the exporter's dependency) or onnxruntime (the check) missing.
        RuntimeError: ONNX Runtime's logits differ from PyTorch's by more than
            :data:`MAX_ABS_DIFF` (nothing is cached then).
        OSError: the cache folder cannot be written.
    """
    folder = Path(cache_dir) if cache_dir else onnx_cache_dir()
    key = cache_key(checkpoint, preset, image_size, opset, exporter)
    stem = Path(checkpoint).stem if checkpoint else preset
    path = folder / f"{stem}-{key[:16]}.onnx"
    sidecar = path.with_suffix(".json")
    record = _read_record(sidecar)
    if path.is_file() and record.get("key") == key and record.get("onnx_sha256") and \
            file_sha256(path) == record["onnx_sha256"]:
        log.info("ONNX cache: reusing %s", path)
        return CachedOnnx(path, False, float(record.get("max_abs_diff", "nan")))
    if path.exists():
        log.warning("ONNX cache: %s does not match its record %s (corrupt or incomplete); "
                    "exporting it again", path, sidecar)
    from .export import compare_onnx, export_onnx, load_model_for

    model, class_names = load_model_for(None if checkpoint else preset,
                                        str(checkpoint) if checkpoint else None)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp.onnx", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        export_onnx(model, tmp, image_size=image_size, opset=opset, exporter=exporter,
                    class_names=class_names)
        diff = compare_onnx(tmp, model, image_size)
        if not diff <= MAX_ABS_DIFF:
            raise RuntimeError(f"ONNX export of {checkpoint or preset} differs from PyTorch by "
                               f"{diff:.2e} (max abs logit) > {MAX_ABS_DIFF:g}; not cached")
        record = {"key": key, "onnx_sha256": file_sha256(tmp), "max_abs_diff": diff,
                  "checkpoint": str(checkpoint) if checkpoint else None, "preset": preset,
                  "image_size": list(image_size) if image_size else None, "opset": opset,
                  "exporter": exporter}
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _write_atomic(sidecar, json.dumps(record, indent=1))
    log.info("ONNX cache: exported %s to %s (max abs diff vs torch %.1e)",
             checkpoint or f"preset {preset} (random weights)", path, diff)
    return CachedOnnx(path, True, diff)


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
