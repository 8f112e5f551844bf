"""PVTv2-B5 backbone: the public parameter names and shapes (recorded from the public
AVSegFormer model), pyramid shapes, parameter count, and strict ImageNet-file loading."""
import json
from pathlib import Path

import pytest
import torch

from avs_models.backbones.pvt_v2 import load_pvt_v2_weights, pvt_v2_b5
from avs_models.errors import CheckpointError

FIXTURE = Path(__file__).parent / "fixtures" / "avsegformer_public_logits.json"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return pvt_v2_b5().eval()


def test_names_and_shapes_equal_the_public_pvt(model):
    keys = json.loads(FIXTURE.read_text())["cases"]["pvt_s4"]["keys"]
    public = {k[len("backbone."):]: tuple(s) for k, s, _ in keys if k.startswith("backbone.")}
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == public
    assert sum(p.numel() for p in model.parameters()) == 81_443_008


def test_pyramid_shapes_and_stochastic_depth(model):
    with torch.no_grad():
        feats = model(torch.randn(1, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(1, 64, 16, 24), (1, 128, 8, 12),
                                               (1, 320, 4, 6), (1, 512, 2, 3)]
    assert model.out_channels == [64, 128, 320, 512] and model.strides == [4, 8, 16, 32]
    assert model.block1[0].drop_path.p == 0.0 and model.block4[2].drop_path.p == pytest.approx(0.1)


def test_imagenet_file_loads_strictly_without_its_classifier(tmp_path, model):
    state = {k: torch.randn_like(v) if v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    path = tmp_path / "pvt_v2_b5.pth"
    torch.save({**state, "head.weight": torch.zeros(1000, 512), "head.bias": torch.zeros(1000)},
               path)
    fresh = pvt_v2_b5()
    load_pvt_v2_weights(fresh, path)
    assert torch.equal(fresh.block3[39].mlp.dwconv.dwconv.weight,
                       state["block3.39.mlp.dwconv.dwconv.weight"])
    del state["norm4.bias"]
    torch.save(state, path)
    before = fresh.norm4.bias.detach().clone()
    with pytest.raises(CheckpointError, match="norm4.bias"):
        load_pvt_v2_weights(fresh, path)
    assert torch.equal(fresh.norm4.bias, before)
