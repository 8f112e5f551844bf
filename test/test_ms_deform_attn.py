"""Multi-scale deformable attention: fast core vs explicit reference, init, ONNX export."""
import math

import numpy as np
import pytest
import torch

from avs_models.ops.ms_deform_attn import (
    MSDeformAttn, ms_deform_attn_core, ms_deform_attn_core_reference)


SHAPES = [(6, 5), (3, 3), (2, 1)]


def _random_inputs(n=2, lq=7, m=2, d=3, p=3, spread=0.3):
    g = torch.Generator().manual_seed(0)
    s = sum(h * w for h, w in SHAPES)
    value = torch.randn(n, s, m, d, generator=g, dtype=torch.float64)
    # locations partly outside [0, 1] to exercise the zero padding
    loc = torch.rand(n, lq, m, len(SHAPES), p, 2, generator=g, dtype=torch.float64)
    loc = loc * (1 + 2 * spread) - spread
    w = torch.rand(n, lq, m, len(SHAPES) * p, generator=g, dtype=torch.float64).softmax(-1)
    return value, loc, w.view(n, lq, m, len(SHAPES), p)


def test_core_matches_reference():
    value, loc, w = _random_inputs()
    fast = ms_deform_attn_core(value, SHAPES, loc, w)
    ref = ms_deform_attn_core_reference(value, SHAPES, loc, w)
    assert fast.shape == (2, 7, 2 * 3)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)


def test_core_hand_computed_pixel_centres_and_outside():
    # one level 2x2, one head, one point, weight 1: a pixel centre reads that pixel exactly,
    # the midpoint of all four reads their mean, a location beyond the edge reads zeros only.
    value = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1, 1)
    locs = torch.tensor([[0.75, 0.25], [0.5, 0.5], [1.5, 0.5], [1.0, 0.25]]).view(1, 4, 1, 1, 1, 2)
    w = torch.ones(1, 4, 1, 1, 1)
    out = ms_deform_attn_core(value, [(2, 2)], locs, w).flatten()
    # (1.0, 0.25): x on the right edge -> half of pixel (0,1) (value 2), half of zero padding
    torch.testing.assert_close(out, torch.tensor([2.0, 2.5, 0.0, 1.0]))
    ref = ms_deform_attn_core_reference(value, [(2, 2)], locs, w).flatten()
    torch.testing.assert_close(ref, out)


def test_module_init_follows_deformable_detr():
    attn = MSDeformAttn(dim=16, n_levels=2, n_heads=4, n_points=3)
    assert torch.count_nonzero(attn.sampling_offsets.weight) == 0
    assert torch.count_nonzero(attn.attention_weights.weight) == 0
    bias = attn.sampling_offsets.bias.detach().view(4, 2, 3, 2)
    # head 1 points along +y (angle pi/2), k-th point at distance k
    torch.testing.assert_close(bias[1, 0, :, 1], torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(bias[1, 0, :, 0], torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(bias[0, 1, 2], torch.tensor([3.0, 0.0]))
    # head 2 points along -x: normalised so the larger coordinate is 1
    assert math.isclose(bias[2, 0, 0, 0].item(), -1.0, abs_tol=1e-6)


def test_module_zero_offsets_read_reference_point():
    # with zero offsets and a single point, output = output_proj(value_proj(value at ref point))
    attn = MSDeformAttn(dim=8, n_levels=1, n_heads=2, n_points=1)
    torch.nn.init.zeros_(attn.sampling_offsets.bias)
    shapes = [(3, 4)]
    value = torch.randn(1, 12, 8)
    ys, xs = torch.meshgrid(torch.arange(3), torch.arange(4), indexing="ij")
    ref = torch.stack([(xs.flatten() + 0.5) / 4, (ys.flatten() + 0.5) / 3], -1)[None, :, None]
    out = attn(torch.randn(1, 12, 8), ref, value, shapes)
    expected = attn.output_proj(attn.value_proj(value))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_module_shapes_and_grad():
    attn = MSDeformAttn(dim=16, n_levels=3, n_heads=4, n_points=2)
    with torch.no_grad():  # the init zeroes these; gradients to the query flow through them
        attn.sampling_offsets.weight.normal_(0, 0.5)
        attn.attention_weights.weight.normal_(0, 0.5)
    s = sum(h * w for h, w in SHAPES)
    q = torch.randn(2, 5, 16, requires_grad=True)
    out = attn(q, torch.rand(2, 5, 3, 2), torch.randn(2, s, 16), SHAPES)
    assert out.shape == (2, 5, 16)
    out.square().sum().backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0


@pytest.mark.parametrize("kw", [dict(dim=10, n_heads=4), dict(n_points=0)])
def test_module_rejects_bad_sizes(kw):
    with pytest.raises(ValueError, match="MSDeformAttn"):
        MSDeformAttn(**kw)


class _Wrapper(torch.nn.Module):
    """Deformable self-attention over three levels, as an encoder layer uses it."""

    def __init__(self):
        super().__init__()
        self.attn = MSDeformAttn(dim=16, n_levels=3, n_heads=4, n_points=2)
        with torch.no_grad():  # non-trivial offsets and weights
            self.attn.sampling_offsets.weight.normal_(0, 0.5)
            self.attn.attention_weights.weight.normal_(0, 0.5)

    def forward(self, src, ref):
        return self.attn(src, ref, src, SHAPES)


@pytest.mark.parametrize("dynamo", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["torchscript", "dynamo"])
def test_onnx_export_matches_onnxruntime(tmp_path, dynamo):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = _Wrapper().eval()
    s = sum(h * w for h, w in SHAPES)
    src, ref = torch.randn(1, s, 16), torch.rand(1, s, 3, 2)
    path = tmp_path / "msda.onnx"
    torch.onnx.export(model, (src, ref), str(path), opset_version=17,
                      input_names=["src", "ref"], output_names=["out"], dynamo=dynamo)
    import onnx
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "GridSample" in ops
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"src": src.numpy(), "ref": ref.numpy()})[0]
    want = model(src, ref).detach().numpy()
    assert np.abs(got - want).max() <= 1e-4


@pytest.mark.cuda
def test_cuda_core_matches_cpu_reference():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    value, loc, w = (t.float() for t in _random_inputs())
    ref = ms_deform_attn_core_reference(value, SHAPES, loc, w)
    fast = ms_deform_attn_core(value.cuda(), SHAPES, loc.cuda(), w.cuda()).cpu()
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-4)
