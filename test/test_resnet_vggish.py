"""ResNet/VGGish: torchvision/port parameter names, stage shapes, strict weight loading."""
import pytest
import torch

from avs_models.audio.vggish import VGGish, load_vggish_weights
from avs_models.backbones.resnet import ResNet, load_torchvision_weights, resnet18, resnet50
from avs_models.errors import CheckpointError


@pytest.mark.parametrize("depth,channels,params", [
    (18, [64, 128, 256, 512], 11_176_512),
    (50, [256, 512, 1024, 2048], 23_508_032),
])
def test_resnet_stages_and_parameter_count(depth, channels, params):
    # Parameter counts of torchvision's resnet18/50 minus fc (512*1000+1000, 2048*1000+1000).
    model = ResNet(depth)
    assert sum(p.numel() for p in model.parameters()) == params
    feats = model(torch.randn(1, 3, 64, 96))
    assert [f.shape[1] for f in feats] == channels == model.out_channels
    assert [tuple(f.shape[-2:]) for f in feats] == [(16, 24), (8, 12), (4, 6), (2, 3)]


def test_resnet_uses_torchvision_names():
    keys = set(resnet50().state_dict())
    for key in ("conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight",
                "layer1.0.downsample.1.weight", "layer4.2.conv3.weight", "layer4.2.bn3.bias"):
        assert key in keys
    assert "layer1.0.conv3.weight" not in set(resnet18().state_dict())


def test_resnet_loads_torchvision_style_file_without_fc(tmp_path):
    src = resnet18()
    state = dict(src.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(state, tmp_path / "resnet18.pth")
    dst = resnet18()
    load_torchvision_weights(dst, tmp_path / "resnet18.pth")
    assert torch.equal(dst.layer3[1].conv2.weight, src.layer3[1].conv2.weight)


def test_resnet_rejects_wrong_depth_file_and_keeps_weights(tmp_path):
    torch.save(resnet50().state_dict(), tmp_path / "r50.pth")
    dst = resnet18()
    before = dst.conv1.weight.clone()
    with pytest.raises(CheckpointError, match="missing|unexpected|shape"):
        load_torchvision_weights(dst, tmp_path / "r50.pth")
    assert torch.equal(dst.conv1.weight, before)


def test_vggish_shape_names_and_parameter_count():
    model = VGGish()
    assert sum(p.numel() for p in model.parameters()) == 72_141_184  # MODELS.md
    names = {k.rsplit(".", 1)[0] for k in model.state_dict()}
    assert names == {f"features.{i}" for i in (0, 3, 6, 8, 11, 13)} | \
        {f"embeddings.{i}" for i in (0, 2, 4)}
    out = model(torch.randn(2, 1, 96, 64))
    assert out.shape == (2, 128) and bool((out >= 0).all())


def test_vggish_loads_port_file_ignoring_pca(tmp_path):
    src = VGGish()
    state = dict(src.state_dict())
    state["pproc._pca_matrix"] = torch.zeros(128, 128)
    torch.save(state, tmp_path / "vggish.pth")
    dst = VGGish()
    load_vggish_weights(dst, tmp_path / "vggish.pth")
    x = torch.randn(1, 1, 96, 64)
    assert torch.equal(dst(x), src(x))
