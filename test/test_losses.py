"""Losses and per-model criteria on hand-computed cases."""
import math

import pytest
import torch

from avs_models.errors import AVSInputError, PresetError
from avs_models.losses import (
    AVESFormerLoss, AVSegFormerLoss, LightAVSegLoss, bce_loss, build_criterion, dice_loss,
    presence_loss, soft_iou_loss)

LN2 = math.log(2.0)
# Binary case: logits 0 -> p = 1/2 on a 2x2 map, target [[1, 0], [0, 0]].
#   Dice: Σpg = 0.5, Σp² = 1, Σg² = 1 -> 1 - 2·0.5 / (2 + 0.002) = 0.500500
#   soft IoU: inter 0.5, union 2 + 1 - 0.5 = 2.5 -> 1 - 0.5 / 2.5 = 0.8
#   BCE: -ln(1/2) per pixel = ln 2
ZERO = torch.zeros(1, 1, 2, 2)
MASK = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
DICE_HALF = 1 - 1 / 2.002
# Two classes: logits 0 -> p = 1/2 per class on a 1x2 map, class ids [[1, 0]] (one-hot
#   g0 = [0, 1], g1 = [1, 0]). Dice: Σpg = 1, Σp² = 1, Σg² = 2 -> 1 - 2 / 3.002 = 0.333777;
#   soft IoU: inter 1, union 2 + 2 - 1 = 3 -> 2/3; cross-entropy ln 2.
ZERO2 = torch.zeros(1, 2, 1, 2)
IDS = torch.tensor([[[1, 0]]])


def test_binary_hand_values():
    assert dice_loss(ZERO, MASK).item() == pytest.approx(DICE_HALF, abs=1e-6)
    assert soft_iou_loss(ZERO, MASK).item() == pytest.approx(0.8, abs=1e-6)
    assert bce_loss(ZERO, MASK).item() == pytest.approx(LN2, abs=1e-6)
    # [B, H, W] uint8 masks are accepted as well
    assert dice_loss(ZERO, MASK[:, 0].to(torch.uint8)).item() == pytest.approx(DICE_HALF, abs=1e-6)


def test_multiclass_hand_values():
    assert dice_loss(ZERO2, IDS).item() == pytest.approx(1 - 2 / 3.002, abs=1e-6)
    assert soft_iou_loss(ZERO2, IDS).item() == pytest.approx(2 / 3, abs=1e-6)
    assert bce_loss(ZERO2, IDS).item() == pytest.approx(LN2, abs=1e-6)


def test_perfect_prediction_is_near_zero():
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(2, 1, 16, 16, generator=g) > 0.5).float()
    logits = 20 * (2 * mask - 1)
    assert dice_loss(logits, mask).item() < 1e-4
    assert soft_iou_loss(logits, mask).item() < 1e-4
    ids = torch.randint(0, 5, (2, 16, 16), generator=g)
    logits5 = 20 * torch.nn.functional.one_hot(ids, 5).permute(0, 3, 1, 2).float()
    assert dice_loss(logits5, ids).item() < 1e-4
    assert soft_iou_loss(logits5, ids).item() < 1e-4
    # and a wrong prediction is far from zero
    assert dice_loss(-logits, mask).item() > 0.99


def test_avesformer_loss_hand_value_and_aux_resize():
    out = {"logits": ZERO, "aux_logits": [torch.zeros(1, 1, 1, 1)]}   # aux upsampled to 2x2
    terms = AVESFormerLoss(iou_term="soft_iou")(out, MASK)
    # 1.8·0.8 + 1.0·0.500500 + 0.1·0.500500 = 1.990550
    assert terms["iou"].item() == pytest.approx(0.8, abs=1e-6)
    assert terms["aux"].item() == pytest.approx(DICE_HALF, abs=1e-6)
    assert terms["loss"].item() == pytest.approx(1.8 * 0.8 + 1.1 * DICE_HALF, abs=1e-5)
    # two aux outputs are summed, each weighted 0.1
    two = AVESFormerLoss(iou_term="soft_iou")({"logits": ZERO, "aux_logits": [ZERO, ZERO]}, MASK)
    assert two["aux"].item() == pytest.approx(2 * DICE_HALF, abs=1e-6)
    # the cross-entropy reading of the "IoU loss" is the default
    bce = AVESFormerLoss()(out, MASK)
    assert bce["iou"].item() == pytest.approx(LN2, abs=1e-6)
    with pytest.raises(ValueError, match="iou_term"):
        AVESFormerLoss(iou_term="jaccard")


def test_lightavseg_loss_hand_value():
    perfect_align = 20 * (2 * MASK - 1)
    out = {"logits": ZERO, "align_logits": [torch.zeros(1, 1, 1, 1), perfect_align]}
    terms = LightAVSegLoss()(out, MASK)
    # msa = mean(ln 2 for a constant-0 align map, ~0 for the perfect one) = ln 2 / 2
    assert terms["msa"].item() == pytest.approx(LN2 / 2, abs=1e-6)
    assert terms["loss"].item() == pytest.approx(DICE_HALF + LN2 + 0.5 * LN2 / 2, abs=1e-5)
    # AVSS: the foreground mask is class id != 0; align [[+20, -20]] matches ids [[1, 0]]
    out2 = {"logits": ZERO2, "align_logits": [torch.tensor([[[[20.0, -20.0]]]])]}
    terms2 = LightAVSegLoss()(out2, IDS)
    assert terms2["msa"].item() < 1e-6
    assert terms2["bce"].item() == pytest.approx(LN2, abs=1e-6)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_presence_loss_hand_values_and_where_it_pushes():
    logits = torch.tensor([[[[3.0, -1.0], [-2.0, 0.0]]]], requires_grad=True)
    empty = torch.zeros(1, 1, 2, 2)
    # silent frame: the top 2 logits (3, 0) average 1.5 and should be negative
    loss = presence_loss(logits, empty, topk=2)
    assert loss.item() == pytest.approx(softplus(1.5), abs=1e-6)
    loss.backward()
    # only the two strongest pixels are pushed, both down; Dice gives an empty target nothing
    grad = logits.grad[0, 0]
    assert grad[0, 0] > 0 and grad[1, 1] > 0 and grad[0, 1] == 0 and grad[1, 0] == 0
    z = logits.detach().clone().requires_grad_(True)
    dice_loss(z, empty).backward()
    assert torch.count_nonzero(z.grad) == 0
    # sounding frame: the strongest pixel (3) should be positive; topk clips to H * W
    assert presence_loss(logits, MASK, topk=1).item() == pytest.approx(softplus(-3), abs=1e-6)
    assert presence_loss(logits, MASK, topk=99).item() == pytest.approx(softplus(0), abs=1e-6)
    # C > 1: foreground logit = logsumexp(classes 1..) - background = [2, -1]
    two = torch.tensor([[[[0.0, 0.0]], [[2.0, -1.0]]]])
    assert presence_loss(two, IDS, topk=1).item() == pytest.approx(softplus(-2), abs=1e-6)
    assert presence_loss(two, torch.zeros_like(IDS), topk=1).item() == pytest.approx(
        softplus(2), abs=1e-6)
    with pytest.raises(ValueError, match="topk"):
        presence_loss(logits, MASK, topk=0)


def test_lightavseg_presence_term_is_optional():
    out = {"logits": ZERO, "align_logits": [torch.zeros(1, 1, 1, 1)]}
    plain = LightAVSegLoss()(out, MASK)
    assert "presence" not in plain
    with_presence = LightAVSegLoss(lambda_presence=2.0, presence_topk=4)(out, MASK)
    assert with_presence["presence"].item() == pytest.approx(LN2, abs=1e-6)
    assert with_presence["loss"].item() == pytest.approx(plain["loss"].item() + 2 * LN2,
                                                         abs=1e-5)
    assert build_criterion("lightavseg_t", 1, lambda_presence=1.0).weights["presence"] == 1.0
    with pytest.raises(ValueError, match="lambda_presence"):
        LightAVSegLoss(lambda_presence=-1.0)


def test_avsegformer_loss_hand_value():
    out = {"logits": ZERO, "aux_logits": [torch.zeros(1, 1, 1, 1)]}
    terms = AVSegFormerLoss()(out, MASK)
    assert set(terms) == {"dice", "mix", "loss"}
    assert terms["loss"].item() == pytest.approx(1.1 * DICE_HALF, abs=1e-6)


@pytest.mark.parametrize("preset, extra", [
    ("avesformer_r18", "aux_logits"), ("lightavseg_t", "align_logits"),
    ("avsegformer_r50", "aux_logits")])
def test_gradients_flow_to_every_output(preset, extra):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 1, 8, 8, generator=g, requires_grad=True)
    side = torch.randn(2, 1, 4, 4, generator=g, requires_grad=True)
    mask = (torch.rand(2, 1, 8, 8, generator=g) > 0.5).float()
    terms = build_criterion(preset, 1)({"logits": logits, extra: [side]}, mask)
    terms["loss"].backward()
    for t in (logits, side):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_missing_or_bad_outputs_raise():
    with pytest.raises(AVSInputError, match="'aux_logits'.*missing"):
        AVESFormerLoss()({"logits": ZERO}, MASK)
    with pytest.raises(AVSInputError, match="'align_logits'.*missing"):
        LightAVSegLoss()({"logits": ZERO, "aux_logits": [ZERO]}, MASK)
    with pytest.raises(AVSInputError, match="'logits'.*missing"):
        AVSegFormerLoss()({"aux_logits": [ZERO]}, MASK)
    with pytest.raises(AVSInputError, match="non-empty list"):
        AVSegFormerLoss()({"logits": ZERO, "aux_logits": []}, MASK)
    with pytest.raises(AVSInputError, match="train-mode output dict"):
        AVSegFormerLoss()(ZERO, MASK)
    with pytest.raises(AVSInputError, match=r"\[B, 1, h, w\]"):
        LightAVSegLoss()({"logits": ZERO, "align_logits": [torch.zeros(1, 2, 1, 1)]}, MASK)


def test_target_errors():
    with pytest.raises(AVSInputError, match="class ids must lie in"):
        dice_loss(ZERO2, torch.tensor([[[1, 2]]]))
    with pytest.raises(AVSInputError, match="integer class ids"):
        dice_loss(ZERO2, IDS.float())
    with pytest.raises(AVSInputError, match="height/width"):
        dice_loss(ZERO, torch.zeros(1, 1, 3, 3))
    with pytest.raises(AVSInputError, match=r"mask \[B, 1, H, W\]"):
        dice_loss(ZERO, torch.zeros(1, 2, 2, 2))


def test_build_criterion():
    aves = build_criterion("avesformer_r50", 1)
    assert isinstance(aves, AVESFormerLoss) and aves.weights["iou"] == 1.8
    assert build_criterion("avesformer_r18", 71).weights["iou"] == 1.0      # AVSS
    assert build_criterion("avesformer_r18", 71, lambda_iou=2.0).weights["iou"] == 2.0
    assert build_criterion("lightavseg_l", 1).weights["msa"] == 0.5
    assert build_criterion("avsegformer_r50", 71, lambda_mix=0.2).weights["mix"] == 0.2
    with pytest.raises(PresetError, match="must start with"):
        build_criterion("unet_r18", 1)
    with pytest.raises(PresetError, match="lambda_msa"):
        build_criterion("avesformer_r18", 1, lambda_msa=0.5)
