"""The ONNX cache of the fast path: exported once per checkpoint and settings, reused, and
exported again when the cached file is damaged (LightAVSeg-T at 64x64, real export and ONNX
Runtime)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avs_models.checkpoints import save_checkpoint
from avs_models.onnx_cache import cache_key, cached_onnx, onnx_cache_dir
from avs_models.registry import build_model

pytest.importorskip("onnxruntime")
SIZE = (64, 64)


def _session_output(path):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, 3, *SIZE)).astype(np.float32)
    audio = rng.standard_normal((1, 1, 96, 64)).astype(np.float32)
    return sess.run(["logits"], {"image": image, "audio": audio})[0]


def test_second_use_reuses_the_export_and_a_corrupt_file_is_exported_again(tmp_path):
    torch.manual_seed(3)
    ckpt = save_checkpoint(build_model("lightavseg_t"), tmp_path / "m.pt", class_names=["bg", "x"])
    first = cached_onnx(ckpt, "lightavseg_t", SIZE, cache_dir=tmp_path / "cache")
    assert first.exported and first.path.is_file() and first.max_abs_diff <= 1e-3
    assert first.path.parent == tmp_path / "cache" and first.path.name.startswith("m-")
    record = json.loads(first.path.with_suffix(".json").read_text())
    assert record["key"] == cache_key(ckpt, "lightavseg_t", SIZE)
    mtime = first.path.stat().st_mtime_ns
    reference = _session_output(first.path)

    second = cached_onnx(ckpt, "lightavseg_t", SIZE, cache_dir=tmp_path / "cache")
    assert not second.exported and second.path == first.path
    assert second.path.stat().st_mtime_ns == mtime          # not written again

    # a damaged cache file (here: truncated) is detected by its sha256 and replaced
    first.path.write_bytes(first.path.read_bytes()[:1000])
    third = cached_onnx(ckpt, "lightavseg_t", SIZE, cache_dir=tmp_path / "cache")
    assert third.exported and third.path == first.path
    np.testing.assert_allclose(_session_output(third.path), reference, atol=1e-5)
    # a missing record also means "export again"
    first.path.with_suffix(".json").unlink()
    assert cached_onnx(ckpt, "lightavseg_t", SIZE, cache_dir=tmp_path / "cache").exported
    # no temporary files are left behind
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".json", ".onnx"]


def test_key_follows_the_checkpoint_bytes_and_the_settings(tmp_path):
    ckpt = save_checkpoint(build_model("lightavseg_t"), tmp_path / "m.pt")
    key = cache_key(ckpt, "lightavseg_t", SIZE)
    assert cache_key(ckpt, "lightavseg_t", (96, 96)) != key
    assert cache_key(ckpt, "lightavseg_t", SIZE, opset=18) != key
    assert cache_key(None, "lightavseg_t", SIZE) != key
    torch.manual_seed(5)
    save_checkpoint(build_model("lightavseg_t"), ckpt)        # other weights, same path
    assert cache_key(ckpt, "lightavseg_t", SIZE) != key


def test_cache_folder_follows_xdg_and_the_override(monkeypatch, tmp_path):
    monkeypatch.delenv("AVS_ONNX_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert onnx_cache_dir() == tmp_path / "xdg" / "avs_ros" / "onnx"
    monkeypatch.setenv("AVS_ONNX_CACHE", str(tmp_path / "mine"))
    assert onnx_cache_dir() == tmp_path / "mine"
