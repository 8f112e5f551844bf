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
