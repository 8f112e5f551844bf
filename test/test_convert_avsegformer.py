"""AVSegFormer public-checkpoint key map, on a synthetic state dict in the public naming."""
import pytest
import torch

import avs_models.convert.avsegformer as conv
from avs_models.convert.avsegformer import (
    UNUSED_PREFIXES, convert_avsegformer_state_dict, load_avsegformer_checkpoint)
from avs_models.errors import CheckpointError
from avs_models.models.avsegformer import AVSegFormer


def _model(num_classes=1):
    return AVSegFormer(num_classes=num_classes, backbone="resnet18", num_queries=4,
                       encoder_layers=2, decoder_layers=2, generator_layers=2, dim=64,
                       ffn_dim=32, mask_mlp_dim=16)


def _mha(prefix, shape_of, ours, bias):
    names = ["in_proj_weight", "out_proj.weight"] + (["in_proj_bias", "out_proj.bias"] if bias
                                                     else [])
    return {f"{prefix}.{n}": shape_of(f"{ours}.{n}") for n in names}


def _public_shapes(model):
    """Public key -> shape, written from the public module layout (AVSegHead, AttentionLayer,
    AVSTransformer*Layer, CrossModalMixer, B2_ResNet, VGG) for this small configuration."""
    sd = model.state_dict()
    shape_of = lambda k: sd[k].shape  # noqa: E731
    pub = {}
    for k in sd:
        if k.startswith("backbone."):
            pub["backbone." + k[9:].replace("layer3.", "layer3_1.", 1)
                .replace("layer4.", "layer4_1.", 1)] = sd[k].shape
            if k.startswith(("backbone.layer3.", "backbone.layer4.")):  # unused second branch
                pub["backbone." + k[9:15] + "_2" + k[15:]] = sd[k].shape
        elif k.startswith("audio_backbone."):
            pub["vggish." + k[15:]] = sd[k].shape
    pub["vggish.pproc.pca_means"] = (128, 1)
    pub.update({"audio_proj.weight": (64, 128), "audio_proj.bias": (64,),
                "head.level_embed": (3, 64), "head.learnable_query.weight": (4, 64),
                "head.query_generator.query.weight": (4, 64)})
    for i in range(4):
        for j in (0, 1):
            for p in ("weight", "bias"):
                pub[f"head.in_proj.{i}.{j}.{p}"] = shape_of(f"in_proj.{i}.{j}.{p}")
    for i in range(2):
        q, e, d = (f"head.query_generator.layers.{i}", f"head.transformer.encoder.layers.{i}",
                   f"head.transformer.decoder.layers.{i}")
        pub.update(_mha(f"{q}.self_attn", shape_of, f"query_generator.layers.{i}.self_attn.attn",
                        False))
        pub.update(_mha(f"{q}.cross_attn", shape_of,
                        f"query_generator.layers.{i}.cross_attn.attn", False))
        for p in ("weight", "bias"):
            pub.update({f"{q}.ffn.0.{p}": shape_of(f"query_generator.layers.{i}.ffn.linear1.{p}"),
                        f"{q}.ffn.2.{p}": shape_of(f"query_generator.layers.{i}.ffn.linear2.{p}"),
                        f"{q}.norm1.{p}": (64,), f"{q}.norm2.{p}": (64,), f"{q}.norm3.{p}": (64,)})
            for lin, out in (("sampling_offsets", 192), ("attention_weights", 96),
                             ("value_proj", 64), ("output_proj", 64)):
                pub[f"{e}.self_attn.{lin}.{p}"] = (out, 64) if p == "weight" else (out,)
            pub.update({f"{e}.norm1.{p}": (64,), f"{e}.norm2.{p}": (64,),
                        f"{e}.linear1.{p}": (32, 64) if p == "weight" else (32,),
                        f"{e}.linear2.{p}": (64, 32) if p == "weight" else (64,),
                        f"{d}.norm1.{p}": (64,), f"{d}.norm2.{p}": (64,), f"{d}.norm3.{p}": (64,),
                        f"{d}.linear1.{p}": (32, 64) if p == "weight" else (32,),
                        f"{d}.linear2.{p}": (64, 32) if p == "weight" else (64,)})
        pub.update(_mha(f"{d}.self_attn", shape_of, f"decoder.{i}.self_attn.attn", True))
        pub.update(_mha(f"{d}.cross_attn", shape_of, f"decoder.{i}.cross_attn.attn", True))
    for p in ("weight", "bias"):
        pub.update({f"head.lateral_conv.0.{p}": shape_of(f"mask_feature.lateral_conv.0.{p}"),
                    f"head.lateral_conv.1.{p}": (64,),
                    f"head.out_conv.0.{p}": shape_of(f"mask_feature.out_conv.0.{p}"),
                    f"head.out_conv.1.{p}": (64,),
                    f"head.fusion_block.proj.{p}": shape_of(f"mixer.proj.{p}"),
                    f"head.fpn.up1.1.{p}": (256, 256, 3, 3) if p == "weight" else (256,),
                    f"head.attn_fc.0.{p}": (128, 64, 3, 3) if p == "weight" else (128,)})
        for j, ours in ((0, 0), (1, 2), (2, 4)):
            pub[f"head.mlp.layers.{j}.{p}"] = shape_of(f"mask_predictor.mlp.{ours}.{p}")
        for j in (0, 2):
            pub[f"head.fc.{j}.{p}"] = shape_of(f"mask_predictor.fc.{j}.{p}")
    pub["head.fc.4.weight"] = shape_of("mask_predictor.fc.4.weight")
    pub["head.fusion_block.q_proj.weight"] = (64, 64)
    pub["head.fusion_block.kv_proj.weight"] = (128, 64)
    return pub


def _public_state(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.randn(s, generator=g) if "num_batches_tracked" not in k
                else torch.tensor(7)) for k, s in _public_shapes(model).items()}


@pytest.fixture(scope="module")
def model_and_public():
    torch.manual_seed(0)
    model = _model()
    return model, _public_state(model)


def _serve(monkeypatch, state):
    """Let load_avsegformer_checkpoint read ``state`` without writing 300 MB to disk."""
    monkeypatch.setattr(conv, "read_state_dict", lambda path: dict(state))


def test_synthetic_public_checkpoint_loads_strictly_and_lands_in_place(tmp_path,
                                                                      model_and_public):
    model, public = model_and_public
    path = tmp_path / "avsegformer_public.pth"
    torch.save(public, path)
    ignored = load_avsegformer_checkpoint(model, path)
    assert ignored and all(k.startswith(UNUSED_PREFIXES) for k in ignored)
    assert any(k.startswith("backbone.layer3_2.") for k in ignored)
    assert "vggish.pproc.pca_means" in ignored and "head.fpn.up1.1.weight" in ignored
    sd = model.state_dict()
    pairs = {
        "backbone.layer3_1.0.conv1.weight": "backbone.layer3.0.conv1.weight",
        "vggish.embeddings.4.weight": "audio_backbone.embeddings.4.weight",
        "head.learnable_query.weight": "learnable_query",
        "head.query_generator.layers.1.norm2.weight":
            "query_generator.layers.1.cross_attn.norm.weight",
        "head.query_generator.layers.0.ffn.2.bias": "query_generator.layers.0.ffn.linear2.bias",
        "head.transformer.encoder.layers.1.self_attn.sampling_offsets.bias":
            "encoder.1.self_attn.attn.sampling_offsets.bias",
        "head.transformer.encoder.layers.0.norm2.weight": "encoder.0.ffn.norm.weight",
        "head.transformer.decoder.layers.1.norm3.bias": "decoder.1.ffn.norm.bias",
        "head.transformer.decoder.layers.0.cross_attn.in_proj_weight":
            "decoder.0.cross_attn.attn.in_proj_weight",
        "head.mlp.layers.2.weight": "mask_predictor.mlp.4.weight",
        "head.fc.4.weight": "mask_predictor.fc.4.weight",
        "head.fusion_block.kv_proj.weight": "mixer.kv_proj.weight",
        "head.out_conv.1.bias": "mask_feature.out_conv.1.bias",
    }
    for pub_key, ours in pairs.items():
        assert torch.equal(sd[ours], public[pub_key]), (pub_key, ours)
    # the converted model runs
    out = model.eval()(torch.randn(1, 3, 64, 64), torch.randn(1, 1, 96, 64))
    assert out.shape == (1, 1, 64, 64)


def test_dataparallel_prefix_is_removed(model_and_public):
    public = {"module." + k: v for k, v in model_and_public[1].items()}
    converted, _ = convert_avsegformer_state_dict(public)
    assert "decoder.0.ffn.norm.weight" in converted


@pytest.mark.parametrize("extra", ["head.logits_predictor.0.weight",
                                   "head.transformer.decoder.layers.0.mystery.weight"])
def test_unknown_keys_raise_and_are_listed(extra, model_and_public):
    public = dict(model_and_public[1])
    public[extra] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=extra.replace(".", r"\.")):
        convert_avsegformer_state_dict(public)


def test_missing_key_leaves_model_unchanged(monkeypatch):
    model = _model()
    public = _public_state(model)
    del public["head.transformer.decoder.layers.1.norm3.bias"]
    _serve(monkeypatch, public)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match="decoder.1.ffn.norm.bias"):
        load_avsegformer_checkpoint(model, "public.pth")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_multiclass_keeps_own_aux_head(monkeypatch):
    model = _model(num_classes=3)
    public = _public_state(model)
    aux = model.aux_head.proj.weight.detach().clone()
    _serve(monkeypatch, public)
    load_avsegformer_checkpoint(model, "public.pth")
    assert torch.equal(model.aux_head.proj.weight, aux)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["r50_s4", "r50_avss", "pvt_s4"])
def test_every_recorded_public_key_maps_with_its_shape(name):
    """The key lists recorded from the public model (R50 S4/AVSS, PVTv2-B5 S4): recognised,
    every key mapped or known-unused, names and shapes equal to our build's."""
    import json
    from pathlib import Path

    from avs_models.checkpoints import check_state_dict
    from avs_models.convert.avsegformer import public_variant
    from avs_models.registry import build_model

    fixture = Path(__file__).parent / "fixtures" / "avsegformer_public_logits.json"
    case = json.loads(fixture.read_text())["cases"][name]
    state = {k: torch.empty(shape, device="meta") for k, shape, _ in case["keys"]}
    variant = public_variant(state)
    assert variant == {"preset": case["preset"], "num_classes": case["num_classes"],
                       "num_queries": 300}
    converted, ignored = convert_avsegformer_state_dict(state)
    assert len(ignored) == (185 if name.startswith("r50") else 11)
    with torch.device("meta"):
        model = build_model(variant["preset"], num_classes=variant["num_classes"])
    own = model.state_dict()
    missing = {k for k in own if k not in converted}
    assert missing == ({k for k in own if k.startswith("aux_head.")}
                       if case["num_classes"] > 1 else set())
    converted.update({k: v for k, v in own.items() if k.startswith("aux_head.")})
    check_state_dict(model, converted)
