"""AVESFormer: outputs per ablation option, gradients, option errors, layer layout."""
import pytest
import torch

from avs_models import build_model
from avs_models.layers.transformer import ELFAttentionLayer, ELFConvLayer
from avs_models.models.avesformer import (
    QUERY_GENERATORS, STAGE_PATTERNS, AVESFormer, build_avesformer)


def _small(**kw):
    """Narrow head (D = 64, thin FFN/MLP, 1 layer per stage, 1 decoder layer) on ResNet-18."""
    args = dict(num_classes=1, backbone="resnet18", dim=64, ffn_dim=64, mask_mlp_dim=32,
                decoder_layers=1, layers_per_stage=1, generator_layers=1)
    args.update(kw)
    return AVESFormer(**args)


def _inputs(b=2, h=64, w=64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, 3, h, w, generator=g), torch.randn(b, 1, 96, 64, generator=g)


def test_default_build_train_and_eval_outputs():
    torch.manual_seed(0)
    model = build_avesformer()
    assert model.query_generator_kind == "pqg" and model.stage_pattern == "CTT"
    assert model.num_queries == 16 and len(model.elf) == 6 and len(model.decoder) == 6
    image, audio = _inputs(b=1)
    model.train()
    out = model(image, audio)
    assert set(out) == {"logits", "aux_logits"}
    assert out["logits"].shape == (1, 1, 64, 64)
    assert len(out["aux_logits"]) == 1 and out["aux_logits"][0].shape == (1, 1, 64, 64)
    logits = model.predict(image, audio)
    assert isinstance(logits, torch.Tensor) and logits.shape == (1, 1, 64, 64)
    assert torch.isfinite(logits).all()


# every option of each ablation axis once (query generator with C-T-T, patterns with PQG)
ABLATIONS = ([(q, "CTT") for q in QUERY_GENERATORS]
             + [("pqg", p) for p in STAGE_PATTERNS if p != "CTT"])


@pytest.mark.parametrize("query_generator, stage_pattern", ABLATIONS)
def test_ablations_train_eval_and_grads(query_generator, stage_pattern):
    torch.manual_seed(0)
    model = _small(query_generator=query_generator, stage_pattern=stage_pattern,
                   num_queries=5 if query_generator == "qg" else None)
    model.freeze_audio_backbone()
    image, audio = _inputs(h=64, w=96)
    model.train()
    out = model(image, audio)
    assert out["logits"].shape == (2, 1, 64, 96)
    assert out["aux_logits"][0].shape == (2, 1, 64, 96)
    loss = out["logits"].sigmoid().mean() + 0.1 * out["aux_logits"][0].sigmoid().mean()
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), \
        [n for n, g in grads.items() if g is None]
    # audio reaches the output: the query generator / learnable queries get gradient
    qg_grad = sum(g.abs().sum() for n, g in grads.items()
                  if n.startswith(("query_generator.", "learnable_query")))
    assert qg_grad > 0
    assert all(p.grad is None for p in model.audio_backbone.parameters())
    model.eval()
    logits = model(image, audio)
    assert logits.shape == (2, 1, 64, 96) and torch.isfinite(logits).all()


def test_stage_pattern_and_query_defaults_shape_the_network():
    m = _small(stage_pattern="TCT", layers_per_stage=2, num_queries=8)
    kinds = ["C" if isinstance(l, ELFConvLayer) else "T" for l in m.elf]
    assert kinds == list("TTCCTT")
    assert all(isinstance(l, (ELFConvLayer, ELFAttentionLayer)) for l in m.elf)
    assert m.mask_predictor.mlp[0].in_channels == 8
    assert m.query_generator.query.shape == (8, 64)
    assert not hasattr(m, "learnable_query")          # PQG holds its own query table
    qg = _small(query_generator="qg")
    assert qg.num_queries == 300 and len(qg.query_generator.layers) == 6
    none = _small(query_generator="none")
    assert none.num_queries == 16 and none.learnable_query.shape == (16, 64)
    assert not hasattr(none, "query_generator")


def test_multiclass_outputs():
    model = _small(num_classes=3).train()
    out = model(*_inputs(b=1))
    assert out["logits"].shape == (1, 3, 64, 64)
    assert out["aux_logits"][0].shape == (1, 3, 64, 64)


@pytest.mark.parametrize("kw, allowed", [
    (dict(query_generator="bqg"), "'none', 'pqg', 'qg'"),
    (dict(stage_pattern="CCT"), "'CTT', 'TCT', 'TTC', 'TTT'"),
    (dict(backbone="resnet34"), "'resnet18', 'resnet50'"),
])
def test_bad_options_name_the_allowed_values(kw, allowed):
    with pytest.raises(ValueError, match=allowed):
        build_avesformer(**kw)


@pytest.mark.parametrize("kw", [dict(num_queries=0), dict(layers_per_stage=0)])
def test_bad_sizes(kw):
    with pytest.raises(ValueError, match="must be integers >= 1"):
        build_avesformer(**kw)


def test_registry_passes_ablation_options():
    with pytest.raises(ValueError, match="stage_pattern"):
        build_model("avesformer_r18", stage_pattern="T")


def test_backbone_weights_file_is_loaded(tmp_path):
    from avs_models.backbones.resnet import resnet18
    from avs_models.errors import CheckpointError

    torch.manual_seed(1)
    trunk = resnet18()
    state = {**trunk.state_dict(), "fc.weight": torch.zeros(1000, 512),
             "fc.bias": torch.zeros(1000)}
    torch.save(state, tmp_path / "resnet18.pth")
    model = _small(backbone_weights=tmp_path / "resnet18.pth")
    for k, v in trunk.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k
    del state["layer4.1.bn2.bias"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match="layer4.1.bn2.bias"):
        _small(backbone_weights=tmp_path / "broken.pth")
