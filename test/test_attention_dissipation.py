"""Attention dissipation (AVESFormer Sec. 3.2, App. A.1, Eq. 1-4, 8-15) and how PQG avoids it.

With one audio key the softmax over keys is 1 for every query, so cross-attention returns the
projected audio value W_o W_v a at every position whatever the queries.
"""
import pytest
import torch
import torch.nn.functional as F

from avs_models.layers.blocks import AttentionBlock
from avs_models.layers.query_generators import AudioQueryGenerator, PromptQueryGenerator
from avs_models.models.avesformer import AVESFormer


def test_algorithm1_softmax_over_one_key_is_all_ones():
    # the paper's Algorithm 1, without projections: O = softmax(P F_a^T) F_a
    image = torch.randn(2, 8, 4, 5)            # [B, C, H, W]
    audio = torch.randn(2, 8)                  # [B, C]
    q, kv = image.flatten(2).transpose(1, 2), audio[:, None]
    attn = F.softmax(q @ kv.transpose(1, 2), dim=-1)
    torch.testing.assert_close(attn, torch.ones(2, 20, 1))                       # Eq. 14
    torch.testing.assert_close(attn @ kv, audio[:, None].expand(2, 20, 8))       # Eq. 15


def test_multihead_cross_attention_with_one_key_copies_projected_value():
    torch.manual_seed(0)
    block = AttentionBlock(dim=16, num_heads=4).eval()
    mha = block.attn
    audio = torch.randn(2, 1, 16)
    w_v = mha.in_proj_weight[32:]
    b_v = mha.in_proj_bias[32:]
    expected = F.linear(F.linear(audio, w_v, b_v), mha.out_proj.weight, mha.out_proj.bias)
    for queries in (torch.randn(2, 30, 16), 10 * torch.randn(2, 30, 16)):
        out = mha(queries, audio, audio, need_weights=False)[0]
        torch.testing.assert_close(out, expected.expand(2, 30, 16), rtol=1e-5, atol=1e-5)
        # the whole residual block therefore just adds one constant vector before the norm
        torch.testing.assert_close(block(queries, audio),
                                   block.norm(queries + expected), rtol=1e-5, atol=1e-5)
    _, weights = mha(torch.randn(2, 30, 16), audio, audio)
    torch.testing.assert_close(weights, torch.ones(2, 30, 1))


def test_avsegformer_query_generator_cross_attention_dissipates():
    # inside AVSegFormer's QG every learnable query receives the same audio update
    torch.manual_seed(0)
    qg = AudioQueryGenerator(num_queries=10, num_layers=1, dim=16, num_heads=4, ffn_dim=32)
    audio = torch.randn(1, 1, 16)
    cross = qg.layers[0].cross_attn.attn
    q = qg.layers[0].self_attn(qg.query[None], qg.query[None])
    update = cross(q, audio, audio, need_weights=False)[0][0]          # [10, 16]
    assert torch.allclose(update, update[:1].expand_as(update), atol=1e-6)


def test_pqg_generates_distinct_audio_dependent_queries():
    torch.manual_seed(0)
    pqg = PromptQueryGenerator(num_queries=16, num_layers=3, dim=32, num_heads=4).eval()
    audio = torch.randn(2, 1, 32)
    f_gen = pqg(audio)
    assert f_gen.shape == (2, 16, 32)                                  # prompt dropped
    dist = torch.cdist(f_gen[0], f_gen[0])
    off_diag = dist[~torch.eye(16, dtype=torch.bool)]
    assert off_diag.min() > 1e-2                                       # all queries differ
    assert (f_gen[0] - f_gen[1]).abs().max() > 1e-2                    # and depend on audio
    # cross-attention to F_gen no longer returns one vector for every visual position
    block = AttentionBlock(dim=32, num_heads=4).eval()
    out = block.attn(torch.randn(2, 30, 32), f_gen, f_gen, need_weights=False)[0]
    assert (out - out[:, :1]).abs().amax() > 1e-2


@pytest.fixture(scope="module")
def small_models():
    torch.manual_seed(0)
    kw = dict(backbone="resnet18", dim=32, ffn_dim=32, mask_mlp_dim=16, decoder_layers=1,
              layers_per_stage=1, generator_layers=1)
    return {q: AVESFormer(query_generator=q, **kw).eval() for q in ("none", "pqg")}


def test_avesformer_keys_none_is_one_token_pqg_is_nq(small_models):
    audio_token = torch.randn(2, 1, 32)
    keys, queries = small_models["none"].generate_queries(audio_token)
    assert keys.shape == (2, 1, 32) and torch.equal(keys, audio_token)
    assert queries.shape == (2, 16, 32)
    keys, queries = small_models["pqg"].generate_queries(audio_token)
    assert keys.shape == (2, 16, 32) and torch.equal(keys, queries)


def test_avesformer_elf_cross_attention_none_vs_pqg(small_models):
    visual = torch.randn(2, 21, 32)
    for kind, dissipates in (("none", True), ("pqg", False)):
        model = small_models[kind]
        keys, _ = model.generate_queries(torch.randn(2, 1, 32))
        layer = next(l for l in model.elf if hasattr(l, "cross_attn"))
        out = layer.cross_attn.attn(visual, keys, keys, need_weights=False)[0]
        spread = (out - out[:, :1]).abs().amax().item()
        assert (spread < 1e-5) if dissipates else (spread > 1e-3), (kind, spread)
