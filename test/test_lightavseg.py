"""LightAVSeg: output contract in eval/train, alignment logits only in training, gradients,
audio conditioning, the reciprocal encoder / decoder audio maths, sizes, weights, ONNX."""
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avs_models import build_model
from avs_models.audio.mobilenetv2 import MobileNetV2Audio
from avs_models.backbones.seaformer import seaformer
from avs_models.models.lightavseg import (
    AudioVisualAlignment, DecoderAudioStage, LightAVSeg, ReciprocalStage, build_lightavseg)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_lightavseg(backbone="seaformer_t").eval()


def inputs(batch=1, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 3, size, size, generator=g),
            torch.randn(batch, 1, 96, 64, generator=g))


def test_eval_returns_logits_at_input_resolution(tiny):
    image, audio = inputs(batch=2)
    with torch.no_grad():
        out = tiny(image, audio)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1, 64, 64)
    assert torch.isfinite(out).all()


def test_eval_at_224_and_many_classes():
    torch.manual_seed(0)
    model = build_lightavseg(num_classes=71, backbone="seaformer_t").eval()
    image, audio = inputs(size=224)
    with torch.no_grad():
        assert model(image, audio).shape == (1, 71, 224, 224)


def test_train_outputs_alignment_logits_per_level():
    torch.manual_seed(0)
    model = build_lightavseg(backbone="seaformer_t").train()
    image, audio = inputs(batch=2, size=96)
    out = model(image, audio)
    assert set(out) == {"logits", "align_logits"}
    assert out["logits"].shape == (2, 1, 96, 96)
    shapes = [tuple(a.shape) for a in out["align_logits"]]
    assert shapes == [(2, 1, math.ceil(96 / s), math.ceil(96 / s))
                      for s in model.backbone.strides]
    for a in out["align_logits"]:  # cosine / tau lies in [-10, 10]
        assert a.abs().max() <= 10.0 + 1e-4


def test_alignment_runs_in_training_only(tiny):
    calls = []
    handle = tiny.align.register_forward_hook(lambda *_: calls.append(1))
    try:
        image, audio = inputs(batch=2)
        with torch.no_grad():
            tiny.eval()(image, audio)
            assert calls == []
            tiny.train()(image, audio)
            assert len(calls) == len(tiny.backbone.strides)
    finally:
        handle.remove()
        tiny.eval()
    assert sum(p.numel() for p in tiny.align.parameters()) == 0


def test_gradients_are_finite_and_frozen_audio_gets_none():
    torch.manual_seed(0)
    model = build_lightavseg(backbone="seaformer_t", freeze_audio=True).train()
    assert not model.audio_backbone.training
    image, audio = inputs(batch=2)
    out = model(image, audio)
    loss = out["logits"].mean() + sum(a.sigmoid().mean() for a in out["align_logits"])
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert any(g.abs().sum() > 0 for n, g in grads.items() if n.startswith("encoder."))
    assert all(p.grad is None for p in model.audio_backbone.parameters())


def test_audio_encoder_frozen_by_default_only_with_weights(tmp_path):
    assert all(p.requires_grad for p in build_lightavseg(backbone="seaformer_t")
               .audio_backbone.parameters())
    torch.save(MobileNetV2Audio().state_dict(), tmp_path / "panns.pth")
    model = build_lightavseg(backbone="seaformer_t", audio_weights=tmp_path / "panns.pth")
    assert not any(p.requires_grad for p in model.audio_backbone.parameters())


def test_audio_changes_the_prediction():
    torch.manual_seed(0)
    model = build_lightavseg(backbone="seaformer_t")
    # give every BatchNorm the statistics of one batch, as after training; with the initial
    # running statistics the untrained audio trunk's output is ~1e-11 for any input
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        model.train()(*inputs(batch=4, seed=2))
    model.eval()
    image, audio = inputs()
    _, other = inputs(seed=1)
    with torch.no_grad():
        a = model(image, audio)
        b = model(image, other)
        again = model(image, audio)
    assert torch.equal(a, again)
    assert (a - b).abs().max() > 1e-3


def test_reciprocal_stage_hand_computed():
    stage = ReciprocalStage(audio_ch=2, visual_ch=2)
    with torch.no_grad():
        stage.audio_proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]).view(2, 2, 1, 1))
        stage.audio_proj.bias.zero_()
        stage.visual_gate.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        stage.visual_gate.bias.zero_()
    v = torch.tensor([[[[0.0, 3.0]], [[-6.0, -3.0]]]])          # [1, 2, 1, 2]
    a_prev = torch.tensor([1.0, 1.0]).view(1, 2, 1, 1)
    v_tilde, a = stage(v, a_prev)
    # max pools: 3 and -3 -> h_sigmoid: 1 and 0 -> A = [1, 2] * [1, 0]
    assert torch.allclose(a.flatten(), torch.tensor([1.0, 0.0]))
    assert torch.allclose(v_tilde, v + torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))


def test_decoder_audio_stage_matches_the_formula():
    torch.manual_seed(0)
    stage = DecoderAudioStage(prev_ch=3, channels=2)
    v, a_enc, a_prev = torch.randn(1, 2, 4, 5), torch.randn(1, 2, 1, 1), torch.randn(1, 3, 1, 1)

    def conv(layer, x):
        return layer.weight[:, :, 0, 0] @ x + layer.bias

    a_star = conv(stage.fuse, torch.cat([a_prev, a_enc], 1).flatten().relu())
    gate = F.relu6(conv(stage.visual_gate, v.amax(dim=(2, 3)).flatten()) + 3) / 6
    a_hat = a_star * gate
    bias = conv(stage.inject, a_hat)
    v_dec, got_hat, got_bias = stage(v, a_enc, a_prev)
    assert torch.allclose(got_hat.flatten(), a_hat, atol=1e-6)
    assert torch.allclose(got_bias.flatten(), bias, atol=1e-6)
    assert torch.allclose(v_dec, v + bias.view(1, 2, 1, 1), atol=1e-6)


def test_alignment_is_cosine_over_temperature():
    align = AudioVisualAlignment(tau=0.1)
    v = torch.tensor([[1.0, 0.0, -2.0], [0.0, 3.0, 0.0]]).view(1, 2, 1, 3)
    a = torch.tensor([5.0, 0.0]).view(1, 2, 1, 1)
    assert torch.allclose(align(v, a).flatten(), torch.tensor([10.0, 0.0, -10.0]))
    with pytest.raises(ValueError, match="tau"):
        AudioVisualAlignment(tau=0.0)


def test_bad_backbone_names_the_choices():
    with pytest.raises(ValueError, match="seaformer_t.*seaformer_l|seaformer_b"):
        build_lightavseg(backbone="resnet50")


def test_registry_presets_build():
    model = build_model("lightavseg_t", num_classes=1)
    assert isinstance(model, LightAVSeg)
    assert model.backbone.strides == [8, 32, 64]


def test_lightavseg_l_size_matches_paper():
    model = build_lightavseg(backbone="seaformer_l")
    total = sum(p.numel() for p in model.parameters())
    audio = sum(p.numel() for p in model.audio_backbone.parameters())
    assert audio == 3_535_168
    assert abs(total / 20.5e6 - 1) < 0.10
    assert model.backbone.strides == [8, 16, 32, 64]


def test_weight_files_load_into_the_right_parts(tmp_path):
    torch.manual_seed(3)
    vis, aud = seaformer("seaformer_t"), MobileNetV2Audio()
    torch.save(vis.state_dict(), tmp_path / "sea.pth")
    torch.save({"model": aud.state_dict()}, tmp_path / "panns.pth")
    model = build_lightavseg(backbone="seaformer_t", backbone_weights=tmp_path / "sea.pth",
                             audio_weights=tmp_path / "panns.pth")
    assert torch.equal(model.backbone.smb1.stem_block[0].c.weight,
                       vis.smb1.stem_block[0].c.weight)
    assert torch.equal(model.audio_backbone.fc1.weight, aud.fc1.weight)


def test_onnx_export_matches_torch(tiny, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    image, audio = inputs()
    path = tmp_path / "lightavseg_t.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tiny.eval(), (image, audio), str(path), opset_version=17,
                          dynamo=False, input_names=["image", "audio"],
                          output_names=["logits"])
    import onnx
    graph = onnx.load(str(path))
    assert graph.opset_import[0].version == 17
    assert [o.name for o in graph.graph.output] == ["logits"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": image.numpy(), "audio": audio.numpy()})[0]
    with torch.no_grad():
        ref = tiny(image, audio).numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-3, rtol=0)
