"""AVSegFormer baseline: outputs, batch 1, mixer (Eq. 2 and the fixed batch-1 path)."""
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


def test_mixer_is_eq2_and_batch_one_matches_batched():
    torch.manual_seed(0)
    mixer = ChannelAttentionMixer(dim=32, num_heads=4)
    feature, audio = torch.randn(3, 32, 5, 6), torch.randn(3, 1, 32)
    out = mixer(feature, audio)
    ratio = out / feature                       # = 1 + w with w = sigmoid(.) in (0, 1)
    assert ratio.min() > 1 and ratio.max() < 2
    # w is one weight per (sample, channel): constant over pixels
    torch.testing.assert_close(ratio.amax((2, 3)), ratio.amin((2, 3)), rtol=1e-4, atol=1e-4)
    for i in range(3):  # the public code's squeeze() broke exactly this batch-1 call
        torch.testing.assert_close(mixer(feature[i:i + 1], audio[i:i + 1]), out[i:i + 1])


def test_bad_backbone():
    with pytest.raises(ValueError, match="'resnet18', 'resnet50'"):
        build_avsegformer(backbone="vgg")
