"""StreamingLogMel: exactly the from-scratch log-mel, with frames reused only where aligned.

From scratch is :func:`log_mel_numpy` (what the runtime computes for a whole window); the torch
front end is checked against both within 5e-5 (its float32 DFT matrix product is the less
exact one, see test_logmel), 1e-4 where the window is compared whole: the product's rounding
follows the BLAS thread split, and one element of a loaded run differed by 5.6e-5."""
import numpy as np
import pytest
import torch

from avs_models.audio.logmel import EXAMPLE_SAMPLES, LogMelFrontEnd, log_mel_numpy
from avs_models.audio.streaming_logmel import StreamingLogMel
from avs_models.errors import AVSInputError


def _reference(window: np.ndarray) -> np.ndarray:
    return log_mel_numpy(window.astype(np.float32))[None, None]


def _torch_front_end(window: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return LogMelFrontEnd()(torch.from_numpy(window.astype(np.float32))[None]).numpy()


def _stream(seed: int = 0, seconds: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 1.5 * t))
    return (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("shifts", [
    [160, 320, 0, 1600, 15200],          # hop multiples, a repeat, the largest shared shift
    [533, 534, 533, 533, 534, 533],      # 30 FPS: phase repeats every third frame
    [1, 7, 161, 400, 999],               # arbitrary, mostly unaligned
    [16000, 480],                        # a jump past the window, then aligned again
])
def test_equals_from_scratch_for_any_shift(shifts):
    audio = _stream()
    front = StreamingLogMel()
    start = 0
    for shift in [0, *shifts]:
        start += shift
        window = audio[start:start + EXAMPLE_SAMPLES]
        out = front(window)
        assert out.shape == (1, 1, 96, 64) and out.dtype == np.float32
        np.testing.assert_allclose(out, _reference(window), rtol=0, atol=1e-5)
        np.testing.assert_allclose(out, _torch_front_end(window), rtol=0, atol=1e-4)


def test_reuses_exactly_the_aligned_frames():
    audio = _stream()
    front = StreamingLogMel(history=4)
    front(audio[:EXAMPLE_SAMPLES])
    assert (front.frames_computed, front.frames_reused) == (96, 0)
    front(audio[320:320 + EXAMPLE_SAMPLES])                 # 2 hops: 2 new frames
    assert (front.frames_computed, front.frames_reused) == (98, 94)
    front(audio[320 + 533:320 + 533 + EXAMPLE_SAMPLES])     # unaligned: all recomputed
    assert (front.frames_computed, front.frames_reused) == (194, 94)
    # 1600 after the second window (two windows back): 10 new frames
    front(audio[1920:1920 + EXAMPLE_SAMPLES])
    assert (front.frames_computed, front.frames_reused) == (204, 180)


def test_changed_samples_in_the_overlap_are_recomputed():
    audio = _stream()
    front = StreamingLogMel()
    front(audio[:EXAMPLE_SAMPLES])
    edited = audio[160:160 + EXAMPLE_SAMPLES].copy()
    edited[5000:5100] = 0.0                  # e.g. a gap the buffer filled with zeros later
    out = front(edited)
    np.testing.assert_allclose(out, _reference(edited), rtol=0, atol=5e-5)
    assert front.frames_reused == 0


def test_history_one_forgets_older_phases_and_reset_forgets_all():
    audio = _stream()
    front = StreamingLogMel(history=1)
    for start in (0, 533, 1066, 1600):
        front(audio[start:start + EXAMPLE_SAMPLES])
    assert front.frames_reused == 0          # 1600 - 0 is aligned, but that window is gone
    front.reset()
    front(audio[1600:1600 + EXAMPLE_SAMPLES])
    assert front.frames_reused == 0


def test_silence_reuses_everything():
    front = StreamingLogMel()
    silence = np.zeros(EXAMPLE_SAMPLES, np.float32)
    front(silence)
    out = front(silence.copy())
    assert front.frames_reused == 96
    np.testing.assert_allclose(out, _reference(silence), rtol=0, atol=5e-5)


def test_bad_windows_are_rejected():
    front = StreamingLogMel()
    with pytest.raises(AVSInputError, match="15600"):
        front(np.zeros(100, np.float32))
    with pytest.raises(AVSInputError, match="float"):
        front(np.zeros(EXAMPLE_SAMPLES, np.int16))
    bad = np.zeros(EXAMPLE_SAMPLES, np.float32)
    bad[3] = np.nan
    with pytest.raises(AVSInputError, match="NaN"):
        front(bad)
    with pytest.raises(ValueError, match="history"):
        StreamingLogMel(history=0)


def test_preprocessor_option_gives_the_same_patches():
    from avs_models.contract import InputContract
    from avs_ros.core.preprocess import Preprocessor

    contract = InputContract()
    plain, streaming = Preprocessor(contract), Preprocessor(contract, streaming_logmel=True)
    audio = _stream()
    for start in (0, 533, 1066, 1600, 2133):
        window = audio[start:start + EXAMPLE_SAMPLES]
        np.testing.assert_allclose(streaming.audio(window), plain.audio(window), rtol=0,
                                   atol=5e-5)
    assert streaming._streaming.frames_reused == 86 * 2
