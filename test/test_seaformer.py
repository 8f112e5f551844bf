"""SeaFormer backbones: pyramid shapes, public parameter names and sizes, axial attention,
stochastic depth, the modulation hook and the ImageNet weight loader."""
import math

import pytest
import torch
import torch.nn.functional as F

from avs_models.backbones.seaformer import (
    SEAFORMER_CONFIGS, DropPath, SeaAttention, SqueezeAxialPositionalEmbedding,
    load_seaformer_imagenet_weights, seaformer)
from avs_models.errors import CheckpointError
from avs_models.layers.light_head import LightHead
from avs_models.models.lightavseg import LIGHT_HEAD_EMBED_DIMS

PYRAMIDS = {  # strides (px), channels: SeaFormer seg configs (LightHead in_channels)
    "seaformer_t": ([8, 32, 64], [32, 128, 160]),
    "seaformer_s": ([8, 32, 64], [48, 160, 192]),
    "seaformer_b": ([8, 32, 64], [64, 192, 256]),
    "seaformer_l": ([8, 16, 32, 64], [128, 192, 256, 320]),
}
# SeaFormer paper, ADE20K table: backbone + light head (150 classes), millions
SEG_PARAMS_M = {"seaformer_t": 1.7, "seaformer_s": 4.0, "seaformer_b": 8.6, "seaformer_l": 14.0}


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", sorted(PYRAMIDS))
@pytest.mark.parametrize("size", [(96, 96), (64, 160)])
def test_pyramid_shapes(name, size):
    """Sizes that are multiples of 32 but not of 64 round up at every stride-2 step."""
    torch.manual_seed(0)
    model = seaformer(name).eval()
    strides, channels = PYRAMIDS[name]
    assert model.strides == strides and model.out_channels == channels
    with torch.no_grad():
        feats = model(torch.randn(1, 3, *size))
    assert [tuple(f.shape) for f in feats] == [
        (1, c, math.ceil(size[0] / s), math.ceil(size[1] / s)) for s, c in zip(strides, channels)]
    assert all(torch.isfinite(f).all() for f in feats)


@pytest.mark.parametrize("name", sorted(SEG_PARAMS_M))
def test_backbone_plus_light_head_matches_paper_size(name):
    model = seaformer(name)
    head = LightHead(model.out_channels, LIGHT_HEAD_EMBED_DIMS[name], num_classes=150)
    assert round((n_params(model) + n_params(head)) / 1e6, 1) == SEG_PARAMS_M[name]


def test_public_parameter_names_and_shapes():
    cfg = SEAFORMER_CONFIGS["seaformer_l"]
    state = seaformer("seaformer_l").state_dict()
    nh_kd = cfg.key_dims[0] * cfg.num_heads
    assert state["smb1.stem_block.0.c.weight"].shape == (32, 3, 3, 3)
    assert state["smb2.layer1.conv.0.c.weight"].shape == (256, 64, 1, 1)   # 64 * t=4
    assert state["smb5.layer1.conv.2.c.weight"].shape == (1536, 1, 3, 3)   # 256 * t=6, dw
    blk = "trans1.transformer_blocks.2."
    assert state[blk + "attn.pos_emb_rowq.pos_embed"].shape == (1, nh_kd, 16)
    assert state[blk + "attn.dwconv.c.weight"].shape == (4 * nh_kd, 1, 3, 3)
    assert state[blk + "mlp.fc1.c.weight"].shape == (2 * 192, 192, 1, 1)
    assert state["trans3.transformer_blocks.0.mlp.fc1.c.weight"].shape == (6 * 320, 320, 1, 1)
    assert "trans4.transformer_blocks.0.attn.to_q.c.weight" not in state
    assert not any(k.startswith("linear.") for k in state)
    # attention output projections start with zero BN weight, as in the public code
    assert torch.count_nonzero(state[blk + "attn.proj.1.bn.weight"]) == 0


def test_attention_stages_sit_on_the_last_stacks():
    t = seaformer("seaformer_t")
    assert {n for n, _ in t.named_children() if n.startswith("trans")} == {"trans1", "trans2"}
    assert t.trans1.transformer_blocks[0].attn.to_q.c.in_channels == 128   # after smb4
    large = seaformer("seaformer_l")
    assert large.trans1.transformer_blocks[0].attn.to_q.c.in_channels == 192  # after smb3


def test_positional_embedding_is_resampled_to_the_axis_length():
    emb = SqueezeAxialPositionalEmbedding(4)
    x = torch.zeros(2, 4, 16)
    assert torch.equal(emb(x), emb.pos_embed.expand(2, -1, -1))
    y = emb(torch.zeros(1, 4, 7))
    ref = F.interpolate(emb.pos_embed, size=7, mode="linear", align_corners=False)
    assert y.shape == (1, 4, 7) and torch.allclose(y, ref)


def test_sea_attention_matches_a_direct_computation():
    """Row attention of one head written out with explicit loops over rows."""
    torch.manual_seed(0)
    attn = SeaAttention(dim=8, key_dim=2, num_heads=1, attn_ratio=2).eval()
    for m in attn.modules():  # make the zero-initialised projections non-trivial
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
    x = torch.randn(1, 8, 3, 5)
    with torch.no_grad():
        q, k, v = attn.to_q(x), attn.to_k(x), attn.to_v(x)
        qr = attn.pos_emb_rowq(q.mean(-1))[0]            # [kd, H]
        kr = attn.pos_emb_rowk(k.mean(-1))[0]
        vr = v.mean(-1)[0]                                 # [d, H]
        rows = torch.stack([
            sum(torch.softmax(torch.stack([qr[:, i] @ kr[:, j] for j in range(3)]) / 2 ** 0.5,
                              0)[j] * vr[:, j] for j in range(3))
            for i in range(3)], dim=1)                     # [d, H]
        qc = attn.pos_emb_columnq(q.mean(-2))[0]
        kc = attn.pos_emb_columnk(k.mean(-2))[0]
        vc = v.mean(-2)[0]
        cols = (torch.softmax(qc.T @ kc / 2 ** 0.5, dim=-1) @ vc.T).T   # [d, W]
        row_term = attn.proj_encode_row(rows[None, :, :, None])
        col_term = attn.proj_encode_column(cols[None, :, None, :])
        detail = attn.pwconv(attn.act(attn.dwconv(torch.cat([q, k, v], 1))))
        expected = F.relu6(attn.proj(v + row_term + col_term) + 3) / 6 * detail
        assert torch.allclose(attn(x), expected, atol=1e-5)


def test_drop_path_drops_whole_samples_in_training_only():
    dp = DropPath(0.5)
    x = torch.ones(64, 3, 2, 2)
    torch.manual_seed(0)
    y = dp.train()(x)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()
    assert torch.equal(dp.eval()(x), x)


def test_modulate_hook_changes_levels_and_later_stages():
    torch.manual_seed(0)
    model = seaformer("seaformer_t").eval()
    x = torch.randn(1, 3, 64, 64)
    calls = []

    def shift(level, feat):
        calls.append((level, feat.shape[1]))
        return feat + 1.0 if level == 0 else feat

    with torch.no_grad():
        plain = model(x)
        shifted = model(x, shift)
    assert calls == [(0, 32), (1, 128), (2, 160)]
    assert torch.allclose(shifted[0], plain[0] + 1.0)
    assert not torch.allclose(shifted[1], plain[1])


def test_unknown_size_names_the_choices():
    with pytest.raises(ValueError, match="seaformer_t"):
        seaformer("seaformer_xl")


def test_imagenet_weights_load_strictly(tmp_path):
    src = seaformer("seaformer_t")
    state = dict(src.state_dict())
    state["linear.weight"] = torch.zeros(1000, 160)
    state["linear.bias"] = torch.zeros(1000)
    path = tmp_path / "SeaFormer_T.pth"
    torch.save({"state_dict": state}, path)
    dst = seaformer("seaformer_t")
    load_seaformer_imagenet_weights(dst, path)
    assert all(torch.equal(v, dst.state_dict()[k]) for k, v in src.state_dict().items())

    del state["smb1.stem_block.0.c.weight"]
    torch.save(state, path)
    fresh = seaformer("seaformer_t")
    before = fresh.smb2.layer1.conv[0].c.weight.clone()
    with pytest.raises(CheckpointError, match="smb1.stem_block.0.c.weight"):
        load_seaformer_imagenet_weights(fresh, path)
    assert torch.equal(fresh.smb2.layer1.conv[0].c.weight, before)
