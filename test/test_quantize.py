"""INT8 export: runs on CPU, keeps metadata, stays near fp32, and the J rule keeps/removes it."""
import onnx
import pytest

from avs_models import quantize
from avs_models.backends import OnnxRuntimeBackend
from avs_models.data.synth import generate
from avs_models.export import int8_path
from avs_ros.cli import main
from avs_ros.commands.export import keep_int8_if_j_holds

SIZE = ["64", "64"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate("s4", tmp_path_factory.mktemp("data"), 3, seed=5, workers=1)


@pytest.fixture(scope="module")
def exported(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "m.onnx"
    assert main(["export", "--preset", "lightavseg_t", "--image-size", *SIZE, "--out", str(out),
                 "--no-check", "--int8", "static", "--calib-data", str(synth),
                 "--calib-frames", "4"]) == 0
    return out


def test_static_int8_runs_and_stays_close_to_fp32(exported, synth):
    q = int8_path(exported)
    assert q.name == "m.int8.onnx" and q.is_file()
    meta = {p.key: p.value for p in onnx.load(str(q)).metadata_props}
    assert meta["quantization"] == "int8-static" and meta["preset"] == "lightavseg_t"
    ops = {n.op_type for n in onnx.load(str(q)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    backend = OnnxRuntimeBackend(q, "cpu", 1)
    assert backend.image_size == (64, 64)
    frames = quantize.calibration_frames(synth, (64, 64), 2)
    diff = quantize.max_abs_diff(exported, q, frames)
    # random weights: logits are O(1-10); int8 must not be garbage
    scale = max(float(abs(OnnxRuntimeBackend(exported, "cpu", 1)
                          .infer(f["image"], f["audio"])).max()) for f in frames)
    assert 0 < diff < 0.5 * scale


def test_static_without_data_is_refused(tmp_path, capsys):
    assert main(["export", "--preset", "lightavseg_t", "--image-size", *SIZE,
                 "--out", str(tmp_path / "s.onnx"), "--no-check", "--int8", "static"]) == 2
    assert "--calib-data" in capsys.readouterr().out
    with pytest.raises(ValueError, match="calibration"):
        quantize.quantize_onnx(tmp_path / "s.onnx", tmp_path / "q.onnx", "static")
    with pytest.raises(ValueError, match="method must be one of"):
        quantize.quantize_onnx(tmp_path / "s.onnx", tmp_path / "q.onnx", "int4")


def test_dynamic_int8_and_the_j_rule(exported, synth, monkeypatch, tmp_path):
    dyn = quantize.quantize_onnx(exported, tmp_path / "d.onnx", "dynamic")
    ops = {n.op_type for n in onnx.load(str(dyn)).graph.node}
    assert "DynamicQuantizeLinear" in ops and "ConvInteger" not in ops
    result = quantize.j_drop(exported, dyn, synth, "test", limit=3)
    assert result["fp32"]["frames"] == result["int8"]["frames"] == 3
    assert result["j_drop"] == pytest.approx(result["fp32"]["J"] - result["int8"]["J"])
    assert result["kept"] == (result["j_drop"] <= 0.01)
    monkeypatch.setattr(quantize, "MAX_J_DROP", -2.0)      # nothing can pass: removed
    assert not keep_int8_if_j_holds(exported, dyn, synth, limit=2) and not dyn.exists()
    dyn = quantize.quantize_onnx(exported, tmp_path / "d.onnx", "dynamic")
    monkeypatch.setattr(quantize, "MAX_J_DROP", 2.0)       # anything passes: kept
    assert keep_int8_if_j_holds(exported, dyn, synth, limit=2) and dyn.is_file()
