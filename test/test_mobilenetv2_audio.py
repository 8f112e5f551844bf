"""MobileNetV2 audio encoder (PANNs layout): shapes, PANNs parameter names and size, the
per-mel-bin bn0, pooling, and the PANNs weight loader."""
import pytest
import torch

from avs_models.audio.mobilenetv2 import MobileNetV2Audio, load_panns_mobilenetv2_weights
from avs_models.errors import CheckpointError


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MobileNetV2Audio().eval()


def test_output_is_global_non_negative_state(model):
    with torch.no_grad():
        out = model(torch.randn(2, 1, 96, 64))
    assert out.shape == (2, 1024) and out.dtype == torch.float32
    assert (out >= 0).all() and torch.isfinite(out).all()


def test_trunk_downsamples_vggish_patch_by_32(model):
    with torch.no_grad():
        feat = model.features(torch.randn(1, 1, 96, 64))
    assert feat.shape == (1, 1280, 3, 2)


def test_panns_names_and_size(model):
    state = model.state_dict()
    expected = {
        "bn0.weight": (64,),
        "features.0.0.weight": (32, 1, 3, 3),          # stem conv, then AvgPool, BN
        "features.0.2.weight": (32,),
        "features.1.conv.0.weight": (32, 1, 3, 3),     # t = 1: depthwise first
        "features.1.conv.4.weight": (16, 32, 1, 1),
        "features.2.conv.0.weight": (96, 16, 1, 1),    # t = 6: expansion first
        "features.2.conv.3.weight": (96, 1, 3, 3),
        "features.2.conv.8.weight": (24,),
        "features.17.conv.7.weight": (320, 960, 1, 1),
        "features.18.0.weight": (1280, 320, 1, 1),
        "fc1.weight": (1024, 1280),
    }
    assert {k: tuple(state[k].shape) for k in expected} == expected
    assert "features.19.0.weight" not in state
    n = sum(p.numel() for p in model.parameters())
    assert n == 3_535_168
    # PANNs reports 4.1 M for its MobileNetV2, which adds the 527-class AudioSet classifier
    assert round((n + 1024 * 527 + 527) / 1e6, 1) == 4.1


def test_downsampling_stages_follow_panns(model):
    """PANNs pools at the 24, 32, 64 and 96-channel stages (not at 160)."""
    pooled = [i for i, blk in enumerate(model.features[1:18], start=1)
              if any(isinstance(m, torch.nn.AvgPool2d) and m.kernel_size == 2
                     for m in blk.modules())]
    assert pooled == [2, 4, 7, 11]


def test_bn0_normalises_each_mel_bin():
    model = MobileNetV2Audio().eval()
    seen = []
    model.features.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    mean = torch.linspace(-5.0, 3.0, 64)
    with torch.no_grad():
        model.bn0.running_mean.copy_(mean)
        model.bn0.running_var.fill_(4.0)
        model(mean.view(1, 1, 1, 64).expand(1, 1, 96, 64) + 2.0)
        # the same offsets along time instead of frequency are not removed
        model(torch.linspace(-5.0, 3.0, 96).view(1, 1, 96, 1).expand(1, 1, 96, 64))
    assert torch.allclose(seen[0], torch.full((1, 1, 96, 64), 1.0), atol=1e-5)  # 2 / sqrt(4)
    assert seen[1].std(dim=2).max() > 0.1


def test_panns_checkpoint_loads_without_front_end_and_classifier(tmp_path):
    torch.manual_seed(1)
    src = MobileNetV2Audio()
    state = dict(src.state_dict())
    state["spectrogram_extractor.stft.conv_real.weight"] = torch.zeros(513, 1, 1024)
    state["logmel_extractor.melW"] = torch.zeros(513, 64)
    state["fc_audioset.weight"] = torch.zeros(527, 1024)
    state["fc_audioset.bias"] = torch.zeros(527)
    path = tmp_path / "MobileNetV2_mAP=0.383.pth"
    torch.save({"model": state}, path)
    dst = MobileNetV2Audio()
    load_panns_mobilenetv2_weights(dst, path)
    assert all(torch.equal(v, dst.state_dict()[k]) for k, v in src.state_dict().items())

    state["fc1.weight"] = torch.zeros(527, 1280)
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError, match="fc1.weight"):
        load_panns_mobilenetv2_weights(MobileNetV2Audio(), path)
