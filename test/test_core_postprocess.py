"""Post-processing on hand-made logits: masks, thresholds, exact boxes/areas/centroids, overlay."""
import numpy as np
import pytest

from avs_models.errors import AVSInputError
from avs_ros.core.postprocess import Postprocessor, draw_overlay, make_palette


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _two_squares():
    """[1, 1, 8, 8]: square A rows/cols 1..3 at logit 2, block B rows 5..6 cols 4..7 at 4."""
    logits = np.full((1, 1, 8, 8), -4.0, np.float32)
    logits[0, 0, 1:4, 1:4] = 2.0
    logits[0, 0, 5:7, 4:8] = 4.0
    return logits


def test_binary_mask_and_objects_exact():
    seg = Postprocessor(1)(_two_squares(), (8, 8))
    expected = np.zeros((8, 8), np.uint8)
    expected[1:4, 1:4] = 1
    expected[5:7, 4:8] = 1
    np.testing.assert_array_equal(seg.mask, expected)
    a, b = seg.objects
    assert (a.class_id, a.class_name) == (1, "sounding")
    assert (a.x, a.y, a.width, a.height, a.area) == (1, 1, 3, 3, 9)
    assert (a.centroid_x, a.centroid_y) == pytest.approx((2.0, 2.0))
    assert a.score == pytest.approx(_sigmoid(2.0), rel=1e-6)
    assert (b.x, b.y, b.width, b.height, b.area) == (4, 5, 4, 2, 8)
    assert (b.centroid_x, b.centroid_y) == pytest.approx((5.5, 5.5))
    assert b.score == pytest.approx(_sigmoid(4.0), rel=1e-6)
    assert seg.probability[0, 0] == pytest.approx(_sigmoid(-4.0), rel=1e-6)


def test_score_threshold_and_min_area():
    strict = Postprocessor(1, score_threshold=0.9)(_two_squares(), (8, 8))   # sigmoid(2)=0.88
    assert strict.mask.sum() == 8 and [o.area for o in strict.objects] == [8]
    big = Postprocessor(1, min_area_px=9)(_two_squares(), (8, 8))
    assert big.mask.sum() == 17 and [o.area for o in big.objects] == [9]    # mask unfiltered


def test_binary_logits_are_resized_to_the_frame_size():
    logits = np.full((1, 1, 8, 8), -3.0, np.float32)
    logits[0, 0, :, :4] = 3.0                  # left half sounding
    seg = Postprocessor(1)(logits, (16, 20))
    assert seg.mask.shape == seg.probability.shape == (16, 20)
    # bilinear, half-pixel centres: the zero crossing lies exactly at the frame's middle
    expected = np.zeros((16, 20), np.uint8)
    expected[:, :10] = 1
    np.testing.assert_array_equal(seg.mask, expected)
    (obj,) = seg.objects
    assert (obj.x, obj.y, obj.width, obj.height, obj.area) == (0, 0, 10, 16, 160)
    assert (obj.centroid_x, obj.centroid_y) == pytest.approx((4.5, 7.5))


def test_multiclass_argmax_threshold_and_nearest_upscaling():
    logits = np.zeros((1, 3, 4, 6), np.float32)      # background: all equal -> p = 1/3
    logits[0, 1, 0:2, 0:2] = 5.0                      # class 1 top-left 2x2
    logits[0, 2, 2:4, 3:6] = 5.0                      # class 2 bottom-right 2x3
    logits[0, 2, 0, 5] = 0.5                          # weak class 2: p = 0.45 < 0.5
    post = Postprocessor(3, ["bg", "dog", "piano"], score_threshold=0.5)
    seg = post(logits, (4, 6))
    label = np.zeros((4, 6), np.uint8)
    label[0:2, 0:2] = 1
    label[2:4, 3:6] = 2
    np.testing.assert_array_equal(seg.mask, label)
    dog, piano = seg.objects
    p5 = np.exp(5.0) / (np.exp(5.0) + 2.0)
    assert (dog.class_name, dog.area, dog.score) == ("dog", 4, pytest.approx(p5, rel=1e-6))
    assert (piano.class_id, piano.x, piano.y, piano.width, piano.height) == (2, 3, 2, 3, 2)
    # pure argmax keeps the weak pixel
    assert Postprocessor(3, score_threshold=0.0)(logits, (4, 6)).mask[0, 5] == 2
    up = post(logits, (8, 12))
    np.testing.assert_array_equal(up.mask, np.kron(label, np.ones((2, 2), np.uint8)))
    assert [(o.x, o.y, o.width, o.height, o.area) for o in up.objects] == \
        [(0, 0, 4, 4, 16), (6, 4, 6, 4, 24)]


def test_connectivity_4_vs_8():
    logits = np.full((1, 1, 4, 4), -5.0, np.float32)
    logits[0, 0, 0, 0] = logits[0, 0, 1, 1] = 5.0     # diagonal neighbours
    assert len(Postprocessor(1, connectivity=8)(logits, (4, 4)).objects) == 1
    four = Postprocessor(1, connectivity=4)(logits, (4, 4)).objects
    assert [(o.x, o.y, o.area) for o in four] == [(0, 0, 1), (1, 1, 1)]


def test_bad_logits_and_settings_raise():
    post = Postprocessor(1)
    with pytest.raises(AVSInputError, match=r"\[1, 1, h, w\]"):
        post(np.zeros((1, 2, 4, 4), np.float32), (4, 4))
    with pytest.raises(AVSInputError, match=r"\[1, 1, h, w\]"):
        post(np.zeros((1, 4, 4), np.float32), (4, 4))
    with pytest.raises(AVSInputError, match="NaN"):
        post(np.full((1, 1, 4, 4), np.nan, np.float32), (4, 4))
    with pytest.raises(ValueError, match="3 entries"):
        Postprocessor(3, ["bg", "dog"])
    with pytest.raises(ValueError, match="score_threshold"):
        Postprocessor(1, score_threshold=1.0)
    with pytest.raises(ValueError, match="num_classes"):
        Postprocessor(256)


def test_overlay_blend_outline_and_channel_order():
    palette = make_palette()
    assert tuple(palette[0]) == (0, 0, 0) and tuple(palette[1]) == (255, 0, 0)
    assert len({tuple(c) for c in palette[1:]}) > 200        # distinct colours
    image = np.full((9, 9, 3), 100, np.uint8)
    mask = np.zeros((9, 9), np.uint8)
    mask[2:7, 2:7] = 1
    out = draw_overlay(image, mask, alpha=0.25, outline_px=1)
    assert tuple(out[0, 0]) == (100, 100, 100)                 # background untouched
    assert tuple(out[2, 2]) == (255, 0, 0)                     # outline: opaque colour
    assert tuple(out[4, 4]) == (139, 75, 75)                   # 0.75 * 100 + 0.25 * colour
    assert tuple(out[3, 3]) == (139, 75, 75)                   # 1 px outline only
    thick = draw_overlay(image, mask, alpha=0.25, outline_px=2)
    assert tuple(thick[3, 3]) == (255, 0, 0) and tuple(thick[4, 4]) == (139, 75, 75)
    bgr = draw_overlay(image, mask, alpha=0.25, outline_px=0, bgr=True)
    assert tuple(bgr[2, 2]) == (75, 75, 139)
    full = np.ones((9, 9), np.uint8)                           # the frame edge is no outline
    assert tuple(draw_overlay(image, full, alpha=0.25)[0, 0]) == (139, 75, 75)
    np.testing.assert_array_equal(image, 100)                  # input not modified
    with pytest.raises(ValueError, match="same size"):
        draw_overlay(image, mask[:8])
    with pytest.raises(ValueError, match="no colour"):
        draw_overlay(image, mask, palette=palette[:1])
