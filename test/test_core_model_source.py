"""Which model the runtime loads (no ROS needed; small LightAVSeg-T at 64x64)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import avs_models.weights as shipped
from avs_models.checkpoints import save_checkpoint
from avs_models.registry import build_model
from avs_ros.core import model_source
from avs_ros.core.model_source import load_backend


def _ship(monkeypatch, folder, files):
    """Make ``folder`` the shipped-weights folder holding ``files`` ({preset: file name})."""
    monkeypatch.setattr(shipped, "SHIPPED", files)
    monkeypatch.setattr(shipped, "__file__", str(folder / "__init__.py"))


def test_every_shipped_checkpoint_is_installed():
    for preset, name in shipped.SHIPPED.items():
        assert shipped.shipped_checkpoint(preset).name == name
    assert shipped.shipped_checkpoint("lightavseg_s") is None
    assert shipped.default_checkpoint() == shipped.shipped_checkpoint(shipped.DEFAULT_PRESET)


def test_empty_checkpoint_without_shipped_model_is_random_and_flagged(monkeypatch, tmp_path):
    _ship(monkeypatch, tmp_path, {"lightavseg_t": "missing.pt"})
    loaded = load_backend("lightavseg_t", image_size=(64, 96))
    assert loaded.random_weights and "random weights" in loaded.source
    assert loaded.backend.image_size == (64, 96) == loaded.contract.image_size
    assert loaded.class_names is None and loaded.backend.name == "torch"


def test_checkpoint_and_shipped_default_are_loaded(monkeypatch, tmp_path):
    torch.manual_seed(1)
    model = build_model("lightavseg_t")
    path = save_checkpoint(model, tmp_path / "default.pt", class_names=["bg", "noisy"])
    _ship(monkeypatch, tmp_path, {"lightavseg_t": "default.pt"})
    # shipped default (for its own preset), then named explicitly (the file's preset wins)
    for preset, checkpoint in (("lightavseg_t", ""), ("avesformer_r18", str(path))):
        loaded = load_backend(preset, checkpoint)
        assert not loaded.random_weights and loaded.source == str(path)
        assert loaded.class_names == ["bg", "noisy"]
        state = loaded.backend.model.state_dict()
        assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_a_preset_loads_its_own_shipped_checkpoint(monkeypatch, tmp_path):
    path = save_checkpoint(build_model("lightavseg_s"), tmp_path / "s.pt")
    _ship(monkeypatch, tmp_path, {"lightavseg_t": "missing.pt", "lightavseg_s": "s.pt"})
    loaded = load_backend("lightavseg_s", "")
    assert not loaded.random_weights and loaded.source == str(path)
    assert load_backend("lightavseg_t", "").random_weights


def test_shipped_default_is_not_used_for_another_preset(monkeypatch, tmp_path):
    path = save_checkpoint(build_model("lightavseg_t"), tmp_path / "default.pt")
    _ship(monkeypatch, tmp_path, {"lightavseg_t": path.name})
    loaded = load_backend("lightavseg_s", "")
    assert loaded.random_weights and loaded.source == "preset lightavseg_s (random weights)"


def test_backend_and_checkpoint_must_fit(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_backend("lightavseg_t", str(tmp_path / "missing.pt"), backend="onnxruntime")
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    with pytest.raises(ValueError, match="use backend 'onnxruntime'"):
        load_backend("lightavseg_t", str(onnx), backend="torch")
    with pytest.raises(ValueError, match="image_size cannot be changed"):
        load_backend("lightavseg_t", str(onnx), backend="onnxruntime", image_size=(64, 64))
    with pytest.raises(ValueError, match="backend must be"):
        load_backend("lightavseg_t", backend="tensorrt")


def test_onnxruntime_and_auto_export_a_pt_once_and_match_torch(monkeypatch, tmp_path):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("AVS_ONNX_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(2)
    path = save_checkpoint(build_model("lightavseg_t"), tmp_path / "m.pt", class_names=["bg", "x"])
    plan = model_source.plan_model("lightavseg_t", str(path), "onnxruntime",
                                   image_size=(64, 64))
    assert plan.backend == "onnxruntime" and plan.path.parent == tmp_path / "cache"
    assert plan.source == str(path) and any("exported to" in n and str(plan.path) in n
                                            for n in plan.notes)
    again = model_source.plan_model("lightavseg_t", str(path), "auto", image_size=(64, 64))
    assert again.backend == "onnxruntime" and again.path == plan.path
    assert again.notes[0] == "backend auto: onnxruntime" and "reusing the cached" in again.notes[1]
    ort_model = model_source.load_planned(again, threads=1)
    ref = load_backend("lightavseg_t", str(path), "torch", threads=1, image_size=(64, 64))
    assert ort_model.backend.name == "onnxruntime" and ort_model.class_names == ["bg", "x"]
    assert ort_model.contract == ref.contract and ort_model.source == str(path)
    image = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    audio = np.random.default_rng(1).standard_normal((1, 1, 96, 64)).astype(np.float32)
    np.testing.assert_allclose(ort_model.backend.infer(image, audio),
                               ref.backend.infer(image, audio), atol=1e-3)


def test_auto_without_onnxruntime_runs_torch_and_says_why(monkeypatch, tmp_path):
    # as if onnxruntime were not installed (available_providers() is [] then)
    monkeypatch.setattr(model_source, "available_providers", lambda: [])
    plan = model_source.plan_model("lightavseg_t", "", "auto")
    assert plan.backend == "torch" and "onnxruntime is not installed" in plan.notes[0]
    monkeypatch.setattr(model_source, "available_providers", lambda: ["CPUExecutionProvider"])
    plan = model_source.plan_model("lightavseg_t", "", "auto", device="cuda")
    assert plan.backend == "torch" and "no CUDAExecutionProvider" in plan.notes[0]
