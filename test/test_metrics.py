"""AVSBench metrics on hand-computed cases.

Binary frames are 2x2 with probabilities chosen away from the thresholds k/254
(0.1*254 = 25.4, 0.3*254 = 76.2, 0.6*254 = 152.4, 0.9*254 = 228.6), so each F curve is a step
function whose steps can be computed by hand. F(P, R) = 1.3 P R / (0.3 P + R).
"""
import pytest
import torch

from avs_models.errors import AVSInputError
from avs_models.metrics import (
    BinaryAVSMetric, SemanticAVSMetric, binary_f_curves, binary_f_measure, binary_iou,
    f_thresholds, semantic_frame_stats)

PROBS = [[0.9, 0.6], [0.3, 0.1]]


def logits(probs):
    p = torch.tensor(probs, dtype=torch.float64)
    return torch.log(p / (1 - p)).to(torch.float32)[None, None]   # [1, 1, 2, 2]


def mask(rows):
    return torch.tensor(rows, dtype=torch.uint8)[None, None]       # [1, 1, 2, 2]


# Frame A: probs PROBS, G = (0,0), (1,0).  P = prob > 0.5 = {0.9, 0.6}: inter 1, union 3, J = 1/3.
# F steps:  t <= 0.1: 4 positives, TP 2, P 1/2, R 1   -> 0.65 / 1.15 = 0.565217
#     0.1 < t <= 0.3: 3 positives, TP 2, P 2/3, R 1   -> 0.866667 / 1.2 = 0.722222
#     0.3 < t <= 0.6: 2 positives, TP 1, P 1/2, R 1/2 -> 0.325 / 0.65 = 0.5
#     0.6 < t <= 0.9: 1 positive, TP 1, P 1, R 1/2    -> 0.65 / 0.8 = 0.8125   (max)
#           t > 0.9:  0 -> P = 0, R = 0 -> NaN -> 0
A = (logits(PROBS), mask([[1, 0], [1, 0]]))
A_STEPS = [0.65 / 1.15, 1.3 * (2 / 3) / 1.2, 0.5, 0.8125, 0.0]
# Frame C: probs PROBS, G = (0,0), (0,1), (1,0).  P = {0.9, 0.6}: inter 2, union 3, J = 2/3.
#           t <= 0.1: P 3/4, R 1  -> 0.975 / 1.225 = 0.795918
#     0.1 < t <= 0.3: P 1, R 1    -> 1                      (max)
#     0.3 < t <= 0.6: P 1, R 2/3  -> 0.866667 / 0.966667 = 0.896552
#     0.6 < t <= 0.9: P 1, R 1/3  -> 0.433333 / 0.633333 = 0.684211
C = (logits(PROBS), mask([[1, 1], [1, 0]]))
C_STEPS = [0.975 / 1.225, 1.0, 1.3 * (2 / 3) / (0.3 + 2 / 3), 1.3 / 3 / (0.3 + 1 / 3), 0.0]
# Frame E: empty ground truth, probs [[0.9, 0.1], [0.1, 0.1]]: P = {(0,0)}, TN = 3 of 4 -> J = 3/4;
# skipped by F.
E = (logits([[0.9, 0.1], [0.1, 0.1]]), mask([[0, 0], [0, 0]]))


def steps_of(curve):
    """Curve values in the five threshold intervals of the module docstring."""
    th = f_thresholds()
    edges = [0.1, 0.3, 0.6, 0.9]
    idx = [int((th <= 0.1).nonzero().max())]
    idx += [int(((th > lo) & (th <= hi)).nonzero().min()) for lo, hi in zip(edges, edges[1:])]
    idx += [int((th > 0.9).nonzero().min())]
    return [float(curve[i]) for i in idx]


def cat(*frames):
    return torch.cat([f[0] for f in frames]), torch.cat([f[1] for f in frames])


def test_thresholds_match_official():
    th = f_thresholds()
    assert th.dtype == torch.float32 and th.shape == (255,)
    assert th[0].item() == 0.0 and th[-1].item() == 1.0
    torch.testing.assert_close(th[1], torch.tensor(1 / 254, dtype=torch.float32))


def test_binary_iou_hand_cases():
    lg, gt = cat(A, C, E)
    j = binary_iou(lg, gt)
    torch.testing.assert_close(j, torch.tensor([1 / 3, 2 / 3, 3 / 4]), atol=1e-6, rtol=0)
    # [N, H, W] inputs and bool masks give the same values
    torch.testing.assert_close(binary_iou(lg[:, 0], gt[:, 0].bool()), j)
    # an all-background prediction on an empty ground truth is perfect
    assert binary_iou(torch.full((1, 1, 2, 2), -3.0), mask([[0, 0], [0, 0]])).item() == \
        pytest.approx(1.0, abs=1e-6)


def test_binary_f_curves_hand_cases():
    lg, gt = cat(A, C, E)
    curves, non_empty = binary_f_curves(lg, gt)
    assert non_empty.tolist() == [True, True, False]
    assert steps_of(curves[0]) == pytest.approx(A_STEPS, abs=1e-6)
    assert steps_of(curves[1]) == pytest.approx(C_STEPS, abs=1e-6)
    assert float(curves[2].abs().max()) == 0.0
    # a probability of exactly 1.0 is a positive at the last threshold (1.0 >= 1.0)
    one = torch.ones(1, 1, 1, 1, dtype=torch.uint8)
    sure, _ = binary_f_curves(torch.full((1, 1, 1, 1), 30.0), one)
    assert sure[0, -1].item() == pytest.approx(1.0)


def test_f_measure_one_call_averages_curves_then_takes_max():
    # A and C together: step means [0.680568, 0.861111, 0.698276, 0.748355, 0] -> max 0.861111;
    # the empty frame E is skipped
    expected = max((a + c) / 2 for a, c in zip(A_STEPS, C_STEPS))
    assert expected == pytest.approx(0.861111, abs=1e-6)
    assert binary_f_measure(*cat(A, C, E)) == pytest.approx(expected, abs=1e-6)
    assert binary_f_measure(*A) == pytest.approx(0.8125, abs=1e-6)
    # a call whose frames are all empty returns 0
    assert binary_f_measure(*cat(E, E)) == 0.0


def test_f_measure_matches_naive_threshold_loop():
    # the definition, one threshold at a time, on random 8x8 frames (one with an empty GT)
    g = torch.Generator().manual_seed(0)
    lg = torch.randn(4, 1, 8, 8, generator=g) * 3
    gt = (torch.rand(4, 1, 8, 8, generator=g) > 0.6).to(torch.uint8)
    gt[2] = 0
    prob = torch.sigmoid(lg)
    total, frames = torch.zeros(255), 0
    for i in range(4):
        if gt[i].sum() == 0:
            continue
        curve = torch.zeros(255)
        for k, t in enumerate(f_thresholds()):
            pos = (prob[i] >= t).float()
            tp = (pos * gt[i]).sum()
            p, r = tp / (pos.sum() + 1e-20), tp / (gt[i].sum() + 1e-20)
            f = 1.3 * p * r / (0.3 * p + r)
            curve[k] = 0.0 if torch.isnan(f) else f
        total += curve
        frames += 1
    assert binary_f_measure(lg, gt) == pytest.approx(float((total / frames).max()), abs=1e-6)


def test_accumulator_grouping_changes_f():
    frames = cat(A, C)
    per_clip = BinaryAVSMetric("clip")
    per_clip.update(*frames, clip_ids=["a", "c"])
    one_call = BinaryAVSMetric("call")
    one_call.update(*frames)
    clip_result, call_result = per_clip.compute(), one_call.compute()
    # per clip: (0.8125 + 1) / 2 = 0.90625; one group: 0.861111 (see above)
    assert clip_result["F"] == pytest.approx(0.90625, abs=1e-6)
    assert call_result["F"] == pytest.approx(0.861111, abs=1e-6)
    assert clip_result["groups"] == 2 and call_result["groups"] == 1
    assert clip_result["grouping"] == "clip" and call_result["grouping"] == "call"
    # J is the per-frame mean either way: (1/3 + 2/3) / 2
    assert clip_result["J"] == pytest.approx(0.5, abs=1e-6)
    assert call_result["J"] == pytest.approx(0.5, abs=1e-6)


def test_accumulator_clip_ids_span_calls_and_empty_clip_counts():
    m = BinaryAVSMetric("clip")
    m.update(*A, clip_ids=["x"])
    m.update(*E, clip_ids=["empty"])
    m.update(*C, clip_ids=["x"])     # joins clip "x" from the first call
    r = m.compute()
    # clip x = {A, C} -> 0.861111; clip "empty" has only an empty frame -> F 0, still counted
    assert r["groups"] == 2 and r["frames"] == 3
    assert r["F"] == pytest.approx(0.861111 / 2, abs=1e-6)
    # J per frame: (1/3 + 3/4 + 2/3) / 3 = 7/12; per group: ((1/3 + 2/3)/2 + 3/4) / 2 = 5/8
    assert r["J"] == pytest.approx(7 / 12, abs=1e-6)
    assert r["J_group_mean"] == pytest.approx(5 / 8, abs=1e-6)
    m.reset()
    with pytest.raises(AVSInputError, match="no frames"):
        m.compute()


def test_binary_errors():
    with pytest.raises(AVSInputError, match="one clip id per frame"):
        BinaryAVSMetric("clip").update(*A)
    with pytest.raises(AVSInputError, match="grouping"):
        BinaryAVSMetric("video")
    with pytest.raises(AVSInputError, match="one channel"):
        binary_iou(torch.zeros(1, 2, 2, 2), mask([[0, 0], [0, 0]]))
    with pytest.raises(AVSInputError, match="bool or uint8"):
        binary_iou(A[0], A[1].float())
    with pytest.raises(AVSInputError, match="same"):
        binary_iou(A[0], torch.zeros(1, 1, 3, 3, dtype=torch.uint8))


# Semantic frames, 3 classes, 2x2.
# Frame 1: gt [[0,1],[1,2]], pred [[0,1],[2,2]]
#   class 0: pred 1, label 1, inter 1 -> IoU 1,   P 1,   R 1   -> F 1
#   class 1: pred 1, label 2, inter 1 -> IoU 1/2, P 1,   R 1/2 -> F 0.65 / 0.8  = 0.8125
#   class 2: pred 2, label 1, inter 1 -> IoU 1/2, P 1/2, R 1   -> F 0.65 / 1.15 = 0.565217
# Frame 2: gt all 0, pred [[0,0],[0,1]]
#   class 0: pred 3, label 4, inter 3 -> IoU 3/4, P 1, R 3/4   -> F 0.975 / 1.05 = 0.928571
#   class 1: pred 1, label 0, inter 0 -> IoU 0 (union 1, counted), F NaN -> 0
#   class 2: absent (union 0, not counted)
# Per class: IoU 1.75/2, 0.5/2, 0.5/1 = 0.875, 0.25, 0.5; F 1.928571/2, 0.8125/2, 0.565217
SEM_GT = torch.tensor([[[0, 1], [1, 2]], [[0, 0], [0, 0]]], dtype=torch.uint8)
SEM_PRED = torch.tensor([[[0, 1], [2, 2]], [[0, 0], [0, 1]]])
F0, F1, F2 = (1 + 0.975 / 1.05) / 2, 0.8125 / 2, 0.65 / 1.15


def test_semantic_frame_stats_hand_case():
    iou, f, present = semantic_frame_stats(SEM_PRED, SEM_GT, num_classes=3)
    torch.testing.assert_close(iou, torch.tensor([[1, 0.5, 0.5], [0.75, 0, 0]]))
    torch.testing.assert_close(f, torch.tensor([[1, 0.8125, 0.65 / 1.15], [0.975 / 1.05, 0, 0]]))
    assert present.tolist() == [[True, True, True], [True, True, False]]


def test_semantic_accumulator_hand_case():
    m = SemanticAVSMetric(num_classes=3)
    m.update(SEM_PRED[:1], SEM_GT[:1])
    m.update(SEM_PRED[1:], SEM_GT[1:])
    r = m.compute()
    assert r["mIoU"] == pytest.approx((0.875 + 0.25 + 0.5) / 3, abs=1e-6)
    assert r["F"] == pytest.approx((F0 + F1 + F2) / 3, abs=1e-6)
    assert r["class_counts"].tolist() == [2, 2, 1]
    # logits give the same result as class ids (argmax over C)
    one_hot = torch.nn.functional.one_hot(SEM_PRED, 3).permute(0, 3, 1, 2).float()
    m2 = SemanticAVSMetric(num_classes=3)
    m2.update(one_hot, SEM_GT)
    assert m2.compute()["mIoU"] == pytest.approx(r["mIoU"])
    # a class that never appears counts as 0 in the mean over all classes
    m4 = SemanticAVSMetric(num_classes=4)
    m4.update(SEM_PRED, SEM_GT)
    assert m4.compute()["mIoU"] == pytest.approx(1.625 / 4, abs=1e-6)


def test_semantic_padding_quirk_only_behind_flag():
    m = SemanticAVSMetric(num_classes=3, pad_to_frames=3)
    m.update(SEM_PRED, SEM_GT, clip_ids=["v", "v"])
    r = m.compute()
    # one padded frame of clip v adds a perfect background frame: class 0 IoU (1.75 + 1) / 3
    assert r["padded_frames"] == 1
    assert r["mIoU"] == pytest.approx((2.75 / 3 + 0.25 + 0.5) / 3, abs=1e-6)
    assert r["F"] == pytest.approx(((1 + 0.975 / 1.05 + 1) / 3 + F1 + F2) / 3, abs=1e-6)
    with pytest.raises(AVSInputError, match="clip id"):
        m.update(SEM_PRED, SEM_GT)
    with pytest.raises(AVSInputError, match="more than"):
        m.update(SEM_PRED, SEM_GT, clip_ids=["v", "v"])


def test_semantic_ignore_label_counts_only_in_prediction_area():
    # label 255 at (1,1): left out of label area, but the predicted class 0 there still counts
    gt = torch.tensor([[[0, 1], [1, 255]]], dtype=torch.uint8)
    pred = torch.tensor([[[0, 1], [1, 0]]])
    iou, _, _ = semantic_frame_stats(pred, gt, num_classes=3)
    # class 0: pred 2, label 1, inter 1 -> 1/2; class 1: 2/2 -> 1
    torch.testing.assert_close(iou[0, :2], torch.tensor([0.5, 1.0]))


def test_semantic_errors():
    with pytest.raises(AVSInputError, match=r"\[N, 3, H, W\]"):
        semantic_frame_stats(torch.zeros(1, 2, 2, 2), SEM_GT[:1], num_classes=3)
    with pytest.raises(AVSInputError, match="integer class ids"):
        semantic_frame_stats(SEM_PRED, SEM_GT.float(), num_classes=3)
    with pytest.raises(AVSInputError, match="equal shape"):
        semantic_frame_stats(SEM_PRED, SEM_GT[:1], num_classes=3)
    with pytest.raises(AVSInputError, match="no frames"):
        SemanticAVSMetric(3).compute()
