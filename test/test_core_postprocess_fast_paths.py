"""The fast post-processing paths (640x480 budget) against plain numpy references."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from avs_ros.core.postprocess import Postprocessor, draw_overlay, make_palette


def _reference_scores(mask: np.ndarray, prob: np.ndarray, connectivity: int) -> dict:
    """(x, y, w, h) -> mean probability over each component, brute force."""
    out = {}
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=connectivity)
    for k in range(1, n):
        out[tuple(int(v) for v in stats[k, :4])] = float(prob[labels == k].mean())
    return out


def _rings(size: int = 64) -> np.ndarray:
    """Nested square rings 1 px wide, 1 px apart (16 of them at 64 px): their boxes together
    cover almost 6 frames."""
    mask = np.zeros((size, size), np.uint8)
    for a in range(0, size // 2, 2):
        b = size - a
        mask[a:b, a:b] = 1
        mask[a + 1:b - 1, a + 1:b - 1] = 0
    return mask


@pytest.mark.parametrize("kind", ["blobs", "rings"])
def test_object_scores_equal_the_brute_force_mean(kind):
    rng = np.random.default_rng(3)
    if kind == "blobs":       # box path: boxes cover less than 4 frames
        noise = cv2.GaussianBlur(rng.standard_normal((64, 80)).astype(np.float32), (0, 0), 3)
        mask = (noise > 0).astype(np.uint8)
    else:                     # whole-frame bincount path
        mask = _rings()
    prob = rng.uniform(0.5, 1.0, mask.shape).astype(np.float32)
    pp = Postprocessor(1, min_area_px=1, connectivity=4)
    objects = pp.objects(mask, prob)
    reference = _reference_scores(mask, prob, 4)
    assert len(objects) == len(reference) > 1
    if kind == "rings":
        assert sum(o.width * o.height for o in objects) > 4 * mask.size
    for o in objects:
        assert o.score == pytest.approx(reference[(o.x, o.y, o.width, o.height)], abs=1e-6)


def test_multiclass_objects_keep_their_class():
    mask = np.zeros((20, 20), np.uint8)
    mask[1:5, 1:5], mask[10:15, 10:18], mask[16:19, 1:3] = 3, 7, 3
    prob = np.full(mask.shape, 0.9, np.float32)
    pp = Postprocessor(8, min_area_px=1)
    assert [(o.class_id, o.area) for o in pp.objects(mask, prob)] == [(3, 16), (3, 6), (7, 40)]


def test_overlay_matches_the_numpy_blend_and_outline():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    noise = cv2.GaussianBlur(rng.standard_normal((48, 64)).astype(np.float32), (0, 0), 2)
    mask = np.digitize(noise, [-0.3, 0.0, 0.3]).astype(np.uint8)    # ids 0..3
    palette = make_palette()
    out = draw_overlay(image, mask, palette, alpha=0.4, outline_px=1)
    fg = mask > 0
    kernel = np.ones((3, 3), np.uint8)
    edge = fg & ((cv2.dilate(mask, kernel) != mask) | (cv2.erode(mask, kernel) != mask))
    blend = 0.6 * image.astype(np.float64) + 0.4 * palette[mask]
    inner = fg & ~edge
    np.testing.assert_array_equal(out[~fg], image[~fg])
    np.testing.assert_array_equal(out[edge], palette[mask[edge]])
    assert np.abs(out[inner].astype(np.float64) - blend[inner]).max() <= 0.5 + 1e-9


def test_binary_mask_and_scores_from_logits_match_the_probability_route():
    """Thresholding logits at logit(t) and scoring with box-local sigmoids gives the mask and
    scores of the whole-frame probability map; without the map, nothing else changes."""
    rng = np.random.default_rng(7)
    logits = cv2.GaussianBlur(rng.standard_normal((32, 40)).astype(np.float32) * 8, (0, 0), 2)
    for t in (0.3, 0.5, 0.8):
        pp = Postprocessor(1, score_threshold=t)
        seg = pp(logits[None, None], (96, 120))
        prob = 1.0 / (1.0 + np.exp(-cv2.resize(logits, (120, 96)).astype(np.float64)))
        np.testing.assert_allclose(seg.probability, prob, atol=1e-6)
        near = np.abs(prob - t) < 1e-6            # rounding may differ only at the threshold
        assert np.array_equal(seg.mask.astype(bool)[~near], (prob > t)[~near])
        reference = _reference_scores(seg.mask, prob, 8)
        assert len(seg.objects) == len(reference) > 1
        for o in seg.objects:
            assert o.score == pytest.approx(reference[(o.x, o.y, o.width, o.height)], abs=1e-6)
        lean = pp(logits[None, None], (96, 120), probability=False)
        assert lean.probability is None
        assert np.array_equal(lean.mask, seg.mask) and lean.objects == seg.objects


# ---- objects found on the model's grid (object_grid="model") --------------------------------

def _model_grid_pair(**kwargs):
    return Postprocessor(1, **kwargs), Postprocessor(1, object_grid="model", **kwargs)


def _assert_same_objects(reference, fast, score_tol):
    """Same objects, boxes and areas exactly, centroids within 1e-6 px, scores within tol."""
    assert len(fast) == len(reference)
    for o, q in zip(reference, fast):
        assert (q.class_id, q.x, q.y, q.width, q.height, q.area) == \
            (o.class_id, o.x, o.y, o.width, o.height, o.area)
        assert (q.centroid_x, q.centroid_y) == pytest.approx((o.centroid_x, o.centroid_y),
                                                             abs=1e-6)
        assert q.score == pytest.approx(o.score, abs=score_tol)


def test_model_grid_objects_equal_the_frame_grid_on_the_shipped_models_masks():
    """The shipped model on generated SynthAVS frames, objects at 640x480 and 1280x720: the
    model-grid objects are the frame-grid ones (scores within 0.03: averaged over the model's
    cells instead of the upscaled frame pixels, whose edges are nearer the threshold)."""
    import torch

    from avs_models.checkpoints import load_model
    from avs_models.data.synth import stream
    from avs_models.weights import default_checkpoint
    from avs_ros.core.preprocess import Preprocessor

    torch.set_num_threads(1)         # a few small inferences: no thread pool to wait on
    model, _ = load_model(default_checkpoint())
    pre = Preprocessor(model.contract)
    reference, fast = _model_grid_pair()
    compared = 0
    for seed in (0, 3):
        frames = list(stream(2.5, 4.0, seed=seed, size=(120, 160), n_objects=4))
        audio = np.concatenate([f.audio for f in frames])
        for f in frames:
            end = int(round(f.stamp_s * 16000))
            if end < 15600:
                continue
            with torch.inference_mode():
                logits = model.predict(torch.from_numpy(pre.image(f.image)),
                                       torch.from_numpy(pre.audio(audio[end - 15600:end])))
            for size in ((480, 640), (720, 1280)):
                a = reference(logits.numpy(), size, probability=False)
                b = fast(logits.numpy(), size, probability=False)
                assert np.array_equal(a.mask, b.mask)
                _assert_same_objects(a.objects, b.objects, 0.03)
                compared += len(a.objects)
    assert compared >= 20


@pytest.mark.parametrize("seed", range(12))
def test_model_grid_objects_partition_the_mask(seed):
    """Low-contrast random logits (many thin links, the hard case): the mask is the reference
    mask and every mask pixel is in exactly one object (the model-grid components may split
    or join where the reference's do not, see the Postprocessor docstring)."""
    rng = np.random.default_rng(seed)
    h = w = (32, 64, 128)[seed % 3]
    noise = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 2 + seed % 4)
    logits = (noise / noise.std() * 3.0)[None, None].astype(np.float32)
    size = ((480, 640), (720, 1280), (h, w), (100, 333))[seed % 4]
    reference, fast = _model_grid_pair()
    a, b = reference(logits, size, False), fast(logits, size, False)
    assert np.array_equal(a.mask, b.mask)
    assert sum(o.area for o in b.objects) == int(b.mask.sum()) > 0
    covered = np.zeros_like(b.mask)
    for o in b.objects:
        box = b.mask[o.y:o.y + o.height, o.x:o.x + o.width]
        assert cv2.boundingRect(box) == (0, 0, o.width, o.height)   # tight box
        assert o.x <= o.centroid_x <= o.x + o.width - 1
        assert o.y <= o.centroid_y <= o.y + o.height - 1
        covered[o.y:o.y + o.height, o.x:o.x + o.width] = 1
    assert not np.any(b.mask & (covered == 0))


def test_model_grid_nested_components_and_min_area():
    """A ring around an island (their boxes overlap) and a small blob, 2 cells apart. Scores
    are exact at the model's size; upscaled, the ring's edges (a third of its pixels) lower the
    frame-grid mean."""
    logits = np.full((1, 1, 32, 32), -6.0, np.float32)
    logits[0, 0, 4:28, 4:28] = 6.0
    logits[0, 0, 6:26, 6:26] = -6.0          # ring 2 cells wide
    logits[0, 0, 12:18, 10:20] = 6.0         # island inside
    logits[0, 0, 29:31, 29:31] = 6.0         # small blob near the corner
    for size, min_area in (((32, 32), 1), ((480, 640), 1), ((97, 131), 1), ((480, 640), 2000)):
        reference, fast = _model_grid_pair(min_area_px=min_area)
        a, b = reference(logits, size, False), fast(logits, size, False)
        assert len(a.objects) == (3 if min_area == 1 else 2)
        _assert_same_objects(a.objects, b.objects, 1e-6 if size == (32, 32) else 0.1)


def test_model_grid_falls_back_to_the_frame_grid():
    """4-connectivity, a frame smaller than the model's grid, multi-class: the reference."""
    rng = np.random.default_rng(1)
    binary = cv2.GaussianBlur(rng.standard_normal((64, 64)).astype(np.float32), (0, 0), 2)
    binary = (binary * 20)[None, None]
    for kwargs, size in (({"connectivity": 4}, (480, 640)), ({}, (48, 80))):
        reference, fast = _model_grid_pair(**kwargs)
        assert fast(binary, size).objects == reference(binary, size).objects
    multi = rng.standard_normal((1, 4, 16, 16)).astype(np.float32) * 4
    assert Postprocessor(4, object_grid="model")(multi, (64, 64)).objects == \
        Postprocessor(4)(multi, (64, 64)).objects
    with pytest.raises(ValueError, match="object_grid"):
        Postprocessor(1, object_grid="pixels")
