"""The shared input checks: every bad batch gets an error naming what was expected."""
import pytest
import torch

from avs_models import AVSInputError, InputContract, check_inputs

C = InputContract()


def ok_image(b=1, h=64, w=96):
    return torch.zeros(b, 3, h, w)


def ok_audio(b=1):
    return torch.zeros(b, 1, 96, 64)


def test_valid_batch_passes():
    check_inputs(ok_image(2), ok_audio(2), C)


@pytest.mark.parametrize("image,audio,pattern", [
    (ok_image().numpy(), ok_audio(), "image must be a torch.Tensor"),
    (ok_image().to(torch.uint8), ok_audio(), "floating-point .* uint8"),
    (torch.zeros(3, 64, 64), ok_audio(), r"\[B, 3, H, W\].*\(3, 64, 64\)"),
    (torch.zeros(1, 4, 64, 64), ok_audio(), r"\[B, 3, H, W\]"),
    (ok_image(h=100), ok_audio(), "multiples of 32 px.*100x96.*224x224"),
    (ok_image(), torch.zeros(1, 1, 96, 63), r"\[B, 1, 96, 64\].*\(1, 1, 96, 63\)"),
    (ok_image(), torch.zeros(1, 96, 64), r"\[B, 1, 96, 64\]"),
    (ok_image(2), ok_audio(1), "batch sizes differ: 2 frames vs 1"),
])
def test_bad_batches_are_rejected_with_the_expectation(image, audio, pattern):
    with pytest.raises(AVSInputError, match=pattern):
        check_inputs(image, audio, C)


def test_non_finite_values_are_rejected():
    audio = ok_audio()
    audio[0, 0, 5, 5] = float("nan")
    with pytest.raises(AVSInputError, match="audio contains NaN or Inf"):
        check_inputs(ok_image(), audio, C)
    image = ok_image()
    image[0, 1, 0, 0] = float("inf")
    with pytest.raises(AVSInputError, match="image contains NaN or Inf"):
        check_inputs(image, ok_audio(), C)
    check_inputs(image, ok_audio(), C, check_finite=False)


def test_contract_round_trip_and_unknown_keys():
    assert InputContract.from_dict(C.to_dict()) == C
    assert C.window_samples == 15600  # 95 hops of 160 + one 400-sample window at 16 kHz
    with pytest.raises(ValueError, match="unknown input-contract keys \\['fps'\\]"):
        InputContract.from_dict({**C.to_dict(), "fps": 30})
