"""VGGish log-mel front end and network against the torchvggish 0.2 reference code.

The reference files (``mel_features.py``, ``vggish_params.py``, ``torchvggish.py``) are loaded
by path: the package's ``__init__`` imports resampy, which is not installed.
"""
import importlib.util
from math import log
from pathlib import Path

import numpy as np
import pytest
import torch

from avs_models.audio.logmel import (
    EXAMPLE_SAMPLES, LogMelFrontEnd, hertz_to_mel, log_mel_numpy, log_mel_spectrogram,
    mel_matrix, waveform_to_examples, windowed_dft_basis)
from avs_models.audio.vggish import VGGish
from avs_models.contract import InputContract
from avs_models.errors import AVSInputError


def _load_reference(name: str):
    spec = importlib.util.find_spec("torchvggish")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torchvggish==0.2 is not installed (pip install --no-deps torchvggish==0.2)")
    path = Path(list(spec.submodule_search_locations)[0]) / f"{name}.py"
    mod_spec = importlib.util.spec_from_file_location(f"_ref_{name}", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ref():
    return _load_reference("mel_features"), _load_reference("vggish_params")


def _ref_examples(ref, data: np.ndarray) -> np.ndarray:
    """vggish_input.waveform_to_examples' maths for 16 kHz mono float data -> [n, 96, 64]."""
    mf, p = ref
    log_mel = mf.log_mel_spectrogram(
        data, audio_sample_rate=p.SAMPLE_RATE, log_offset=p.LOG_OFFSET,
        window_length_secs=p.STFT_WINDOW_LENGTH_SECONDS,
        hop_length_secs=p.STFT_HOP_LENGTH_SECONDS, num_mel_bins=p.NUM_MEL_BINS,
        lower_edge_hertz=p.MEL_MIN_HZ, upper_edge_hertz=p.MEL_MAX_HZ)
    rate = 1.0 / p.STFT_HOP_LENGTH_SECONDS
    win = int(round(p.EXAMPLE_WINDOW_SECONDS * rate))
    hop = int(round(p.EXAMPLE_HOP_SECONDS * rate))
    return mf.frame(log_mel, window_length=win, hop_length=hop)


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(40000) / 16000.0
    return {
        "noise": rng.uniform(-1, 1, 40000),
        "quiet_noise": 1e-3 * rng.standard_normal(40000),
        "tone_440": 0.5 * np.sin(2 * np.pi * 440 * t),
        "chirp": 0.8 * np.sin(2 * np.pi * (200 * t + 1500 * t * t)),
    }


@pytest.mark.parametrize("name", list(_signals()))
def test_examples_match_reference(ref, name):
    data = _signals()[name]
    expected = _ref_examples(ref, data)                   # [2, 96, 64] (40000 samples)
    ours = waveform_to_examples(data, 16000)
    assert ours.dtype == torch.float32
    assert tuple(ours.shape) == (expected.shape[0], 1, 96, 64) == (2, 1, 96, 64)
    assert np.abs(ours[:, 0].numpy() - expected).max() <= 1e-3


def test_log_mel_spectrogram_matches_reference_and_is_batched(ref):
    mf, p = ref
    sig = _signals()
    batch = torch.tensor(np.stack([sig["noise"], sig["chirp"]]), dtype=torch.float32)
    ours = log_mel_spectrogram(batch)                      # [2, F, 64]
    assert tuple(ours.shape) == (2, 1 + (40000 - 400) // 160, 64)
    for i, name in enumerate(("noise", "chirp")):
        expected = mf.log_mel_spectrogram(
            sig[name], audio_sample_rate=16000, log_offset=0.01, window_length_secs=0.025,
            hop_length_secs=0.010, num_mel_bins=64, lower_edge_hertz=125,
            upper_edge_hertz=7500)
        assert np.abs(ours[i].numpy() - expected).max() <= 1e-3
    # a leading batch of batches gives the same rows
    stacked = log_mel_spectrogram(batch.reshape(1, 2, -1))
    torch.testing.assert_close(stacked[0], ours)


def test_mel_matrix_matches_reference(ref):
    from avs_models.audio.logmel import mel_matrix
    mf, _ = ref
    expected = mf.spectrogram_to_mel_matrix(64, 257, 16000, 125, 7500)
    np.testing.assert_allclose(mel_matrix(), expected, atol=1e-12)


def test_int16_stereo_and_resampling():
    rng = np.random.default_rng(1)
    mono = rng.uniform(-0.5, 0.5, 32000)
    as_int16 = np.round(mono * 32768).astype(np.int16)
    stereo = np.stack([as_int16, as_int16])               # channels-first [2, N]
    a = waveform_to_examples(as_int16, 16000)
    b = waveform_to_examples(stereo, 16000)
    c = waveform_to_examples(as_int16.astype(np.float64) / 32768.0, 16000)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    # averaging: a channel pair (x, -x) is silence
    silent = waveform_to_examples(np.stack([mono, -mono]), 16000)
    torch.testing.assert_close(silent, torch.full_like(silent, log(0.01)))
    # 48 kHz tone resampled to 16 kHz gives the same examples as the 16 kHz tone (up to the
    # resampling filter): compare the band energy profile of the middle frames
    t48 = np.arange(3 * 32000) / 48000.0
    t16 = np.arange(32000) / 16000.0
    r48 = waveform_to_examples(0.5 * np.sin(2 * np.pi * 1000 * t48), 48000)
    r16 = waveform_to_examples(0.5 * np.sin(2 * np.pi * 1000 * t16), 16000)
    assert r48.shape == r16.shape == (2, 1, 96, 64)
    assert (r48[:, :, 10:-10] - r16[:, :, 10:-10]).abs().max() < 0.05


def test_one_khz_tone_peaks_in_its_mel_band():
    t = np.arange(16000) / 16000.0
    ex = waveform_to_examples(0.5 * np.sin(2 * np.pi * 1000 * t), 16000)
    # band j is centred on edges[j + 1] of 66 mel edges evenly spaced from mel(125) to
    # mel(7500): mel(125) = 1127 ln(1.17857) = 185.17, mel(7500) = 1127 ln(11.7143) = 2773.3,
    # step = 2588.1 / 65 = 39.817; mel(1000) = 1127 ln(2.42857) = 1000.0 sits at edge
    # (1000 - 185.17) / 39.817 = 20.46 -> nearest centre is edge 20 = band 19
    edges = np.linspace(hertz_to_mel(125.0), hertz_to_mel(7500.0), 66)
    expected_band = int(np.argmin(np.abs(edges[1:-1] - hertz_to_mel(1000.0))))
    assert expected_band == 19
    assert int(ex[0, 0].mean(0).argmax()) == expected_band


@pytest.mark.parametrize("name", list(_signals()))
def test_numpy_log_mel_matches_reference_and_torch(ref, name):
    mf, p = ref
    data = _signals()[name]
    ours = log_mel_numpy(data.astype(np.float32))
    expected = mf.log_mel_spectrogram(
        data, audio_sample_rate=16000, log_offset=0.01, window_length_secs=0.025,
        hop_length_secs=0.010, num_mel_bins=64, lower_edge_hertz=125, upper_edge_hertz=7500)
    assert ours.dtype == np.float32 and ours.shape == expected.shape == (1 + 39600 // 160, 64)
    # float64 DFT of the same frames (no library): the FFT is the more exact of the two
    # float32 routes
    frames = np.lib.stride_tricks.sliding_window_view(data.astype(np.float32).astype(np.float64),
                                                      400)[::160]
    spec = frames @ windowed_dft_basis()
    exact = np.log(np.hypot(spec[:, :257], spec[:, 257:]) @ mel_matrix() + 0.01)
    matmul = log_mel_spectrogram(torch.from_numpy(data.astype(np.float32))).numpy()
    assert np.abs(ours - exact).max() <= min(1e-4, np.abs(matmul - exact).max() + 1e-6)
    assert np.abs(ours - expected).max() <= 1e-3
    assert np.abs(ours - matmul).max() <= 5e-4


def test_silence_and_lengths():
    assert torch.equal(waveform_to_examples(np.zeros(15600), 16000),
                       torch.full((1, 1, 96, 64), log(0.01)))
    # 15599 samples -> 95 frames -> no complete example
    assert waveform_to_examples(np.zeros(15599), 16000).shape == (0, 1, 96, 64)
    assert log_mel_spectrogram(torch.zeros(399)).shape == (0, 64)
    assert log_mel_spectrogram(torch.zeros(560)).shape == (2, 64)   # 1 + 160 // 160


def test_front_end_equals_first_example():
    assert EXAMPLE_SAMPLES == InputContract().window_samples == 15600
    rng = np.random.default_rng(2)
    data = rng.uniform(-1, 1, (2, 15600)).astype(np.float32)
    out = LogMelFrontEnd()(torch.from_numpy(data))
    assert out.shape == (2, 1, 96, 64) and out.dtype == torch.float32
    for i in range(2):
        torch.testing.assert_close(out[i:i + 1], waveform_to_examples(data[i], 16000))
    assert not list(LogMelFrontEnd().state_dict())      # constants are not checkpointed


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(15600), "rank 1"),
    (torch.zeros(1, 15599), "15599 samples"),
    (torch.zeros(1, 15600, dtype=torch.float64), "dtype torch.float64"),
    (torch.zeros(1, 15600, dtype=torch.int16), "divide int16"),
    (torch.full((1, 15600), float("nan")), "NaN"),
    (np.zeros((1, 15600), np.float32), "torch.Tensor"),
])
def test_front_end_errors(bad, match):
    with pytest.raises(AVSInputError, match=match):
        LogMelFrontEnd()(bad)


def test_waveform_to_examples_errors():
    with pytest.raises(AVSInputError, match="int16 or floating"):
        waveform_to_examples(np.zeros(16000, np.int32), 16000)
    with pytest.raises(AVSInputError, match=r"\[C, N\]"):
        waveform_to_examples(np.zeros((1, 2, 16000)), 16000)
    with pytest.raises(AVSInputError, match="sample_rate"):
        waveform_to_examples(np.zeros(16000), 0)
    with pytest.raises(AVSInputError, match="NaN"):
        waveform_to_examples(np.full(16000, np.inf), 16000)
    with pytest.raises(AVSInputError, match="floating point"):
        log_mel_spectrogram(torch.zeros(16000, dtype=torch.int16))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    data = torch.rand(3, 15600) * 2 - 1
    cpu = LogMelFrontEnd()(data)
    gpu = LogMelFrontEnd()(data.cuda())               # module on CPU, input on CUDA
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)
    ex = waveform_to_examples(data[0].cuda(), 16000)
    assert ex.device.type == "cuda"
    torch.testing.assert_close(ex.cpu(), cpu[:1], atol=1e-4, rtol=1e-4)


def test_vggish_matches_torchvggish_vgg():
    tv = _load_reference("torchvggish")
    torch.manual_seed(0)
    ours = VGGish().eval()
    theirs = tv.VGG(tv.make_layers(), postprocess=False).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    assert sum(p.numel() for p in ours.parameters()) == 72_141_184
    x = torch.randn(2, 1, 96, 64)
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert a.shape == (2, 128)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
