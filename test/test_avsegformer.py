"""AVSegFormer baseline: outputs, batch 1, mixer (the public F * w, the paper's residual
option, the fixed batch-1 path)."""
import pytest
import torch

from avs_models.models.avsegformer import AVSegFormer, ChannelAttentionMixer, build_avsegformer


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _inputs(b=2, h=64, w=64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, 3, h, w, generator=g), torch.randn(b, 1, 96, 64, generator=g)


def test_default_build_batch_one_train_and_eval():
    torch.manual_seed(0)
    model = build_avsegformer()
    assert model.learnable_query.shape == (300, 256)
    assert len(model.encoder) == 6 and len(model.decoder) == 6
    assert len(model.query_generator.layers) == 6
    assert model.mask_predictor.mlp[0].in_channels == 300
    image, audio = _inputs(b=1)
    out = model.train()(image, audio)
    assert out["logits"].shape == (1, 1, 64, 64)
    assert [a.shape for a in out["aux_logits"]] == [(1, 1, 64, 64)]
    logits = model.predict(image, audio)
    assert logits.shape == (1, 1, 64, 64) and torch.isfinite(logits).all()


def test_small_variant_batch_two_grads_and_multiclass():
    torch.manual_seed(0)
    model = AVSegFormer(num_classes=3, backbone="resnet18", num_queries=7, encoder_layers=1,
                        decoder_layers=1, generator_layers=1, dim=64, ffn_dim=64,
                        mask_mlp_dim=32)
    model.freeze_audio_backbone()
    image, audio = _inputs(b=2, h=96, w=64)
    out = model.train()(image, audio)
    assert out["logits"].shape == (2, 3, 96, 64)
    assert out["aux_logits"][0].shape == (2, 3, 96, 64)
    (out["logits"].mean() + out["aux_logits"][0].mean()).backward()
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), n
    assert model.mixer.q_proj.weight.grad.abs().sum() > 0


def test_aux_logits_are_channel_mean_of_mixed_feature_for_one_class():
    model = AVSegFormer(backbone="resnet18", num_queries=4, encoder_layers=1, decoder_layers=1,
                        generator_layers=1, dim=64, ffn_dim=64, mask_mlp_dim=32)
    assert model.aux_head.proj is None          # parameter-free, as the public mix loss
    feature = torch.randn(1, 64, 4, 4)
    aux = model.aux_head(feature, (4, 4))
    torch.testing.assert_close(aux, feature.mean(1, keepdim=True))


def _public_mixer_reference(mixer, feature, audio):
    """The public CrossModalMixer's arithmetic (model/utils/fusion_block.py), written out:
    audio query, pixel keys/values, softmax over pixels, sigmoid channel weights w, F * w."""
    b, c, h, w_ = feature.shape
    m = mixer.num_heads
    pixels = feature.flatten(2).transpose(1, 2)
    q = (audio @ mixer.q_proj.weight.T).reshape(b, 1, m, c // m).permute(0, 2, 1, 3)
    kv = (pixels @ mixer.kv_proj.weight.T).reshape(b, h * w_, 2, m, c // m).permute(2, 0, 3, 1, 4)
    attn = (q @ kv[0].transpose(-2, -1) * (c // m) ** -0.5).softmax(-1)
    x = mixer.proj((attn @ kv[1]).transpose(1, 2).reshape(b, 1, c)).sigmoid()
    return torch.einsum("bchw,bc->bchw", feature, x[:, 0])


def test_mixer_is_the_public_f_times_w_and_batch_one_matches_batched():
    torch.manual_seed(0)
    mixer = ChannelAttentionMixer(dim=32, num_heads=4)
    assert mixer.residual is False
    feature, audio = torch.randn(3, 32, 5, 6), torch.randn(3, 1, 32)
    out = mixer(feature, audio)
    torch.testing.assert_close(out, _public_mixer_reference(mixer, feature, audio))
    ratio = out / feature                       # = w = sigmoid(.) in (0, 1)
    assert ratio.min() > 0 and ratio.max() < 1
    # w is one weight per (sample, channel): constant over pixels
    torch.testing.assert_close(ratio.amax((2, 3)), ratio.amin((2, 3)), rtol=1e-4, atol=1e-4)
    for i in range(3):  # the public code's squeeze() broke exactly this batch-1 call
        torch.testing.assert_close(mixer(feature[i:i + 1], audio[i:i + 1]), out[i:i + 1])


def test_residual_mixer_option_is_eq2_and_travels_with_the_checkpoint(tmp_path):
    from avs_models.checkpoints import load_model, save_checkpoint
    from avs_models.registry import build_model

    torch.manual_seed(0)
    plain = ChannelAttentionMixer(dim=32, num_heads=4)
    residual = ChannelAttentionMixer(dim=32, num_heads=4, residual=True)
    residual.load_state_dict(plain.state_dict())
    feature, audio = torch.randn(2, 32, 4, 4), torch.randn(2, 1, 32)
    torch.testing.assert_close(residual(feature, audio), feature + plain(feature, audio))
    assert build_avsegformer().mixer.residual is False            # as published
    model = build_model("avsegformer_r50", mixer_residual=True)
    assert model.mixer.residual and model.build_kwargs["mixer_residual"] is True
    again, _ = load_model(save_checkpoint(model, tmp_path / "m.pt"))
    assert again.mixer.residual is True


def test_bad_backbone():
    with pytest.raises(ValueError, match="'resnet18', 'resnet50'"):
        build_avsegformer(backbone="vgg")
