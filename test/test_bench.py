"""avs bench and the backend interface (behaviour only; no timing assertions)."""
import json

import numpy as np
import pytest
import torch

from avs_models import build_model
from avs_models.backends import OnnxRuntimeBackend, TorchBackend
from avs_models.errors import BackendUnavailable
from avs_models.export import export_onnx
from avs_ros.cli import main


def test_bench_prints_json_statistics(capsys):
    assert main(["bench", "--preset", "lightavseg_t", "--runs", "3", "--warmup", "1",
                 "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["preset"] == "lightavseg_t" and result["image_size"] == [224, 224]
    assert result["runs"] == 3
    assert 0 < result["min_ms"] <= result["median_ms"] <= result["p90_ms"]
    assert result["fps"] == pytest.approx(1000 / result["median_ms"])
    assert result["peak_rss_mb"] > 0


def test_torch_and_onnxruntime_backends_agree(tmp_path):
    torch.manual_seed(0)
    model = build_model("lightavseg_t").eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, 3, 224, 224), dtype=np.float32)
    audio = rng.standard_normal((1, 1, 96, 64), dtype=np.float32)
    ort_backend = OnnxRuntimeBackend(path, "cpu", threads=1)
    torch_backend = TorchBackend(model, "cpu")
    assert ort_backend.image_size == torch_backend.image_size == (224, 224)
    a, b = ort_backend.infer(image, audio), torch_backend.infer(image, audio)
    assert a.shape == b.shape == (1, 1, 224, 224)
    assert float(np.abs(a - b).max()) <= 1e-3
    assert ort_backend.last_latency_ms > 0 and torch_backend.last_latency_ms > 0


def test_unavailable_devices_fail_at_start_with_a_reason(tmp_path):
    model = build_model("lightavseg_t")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="no CUDA device"):
            TorchBackend(model, "cuda")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        OnnxRuntimeBackend(tmp_path / "missing.onnx")
