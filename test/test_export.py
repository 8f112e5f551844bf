"""Every preset exports to ONNX (opset 17) and ONNX Runtime matches PyTorch within 1e-3."""
import json

import onnx
import pytest
import torch

from avs_models import build_model, list_presets
from avs_models.export import compare_onnx, export_onnx


@pytest.mark.parametrize("preset", list_presets())
def test_export_matches_onnxruntime(preset, tmp_path):
    torch.manual_seed(0)
    model = build_model(preset).eval()
    path = export_onnx(model, tmp_path / f"{preset}.onnx", opset=17, class_names=["sounding"])
    proto = onnx.load(str(path), load_external_data=False)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 17
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["preset"] == preset and json.loads(meta["image_size"]) == [224, 224]
    assert json.loads(meta["class_names"]) == ["sounding"]
    assert compare_onnx(path, model) <= 1e-3


def test_export_rejects_old_opset(tmp_path):
    with pytest.raises(ValueError, match="opset must be >= 17"):
        export_onnx(build_model("lightavseg_t"), tmp_path / "m.onnx", opset=16)
