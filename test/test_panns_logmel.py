"""PANNs log-mel front end against the real torchlibrosa (what PANNs' models.py runs), its
streaming form against the from-scratch patch, and the front end as part of the contract."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from avs_models.audio.front_ends import get_front_end
from avs_models.audio.panns_logmel import mel_matrix, panns_log_mel, upsample_16k
from avs_models.audio.streaming_logmel import StreamingLogMel
from avs_models.contract import InputContract
from avs_models.errors import AVSInputError

torchlibrosa = pytest.importorskip("torchlibrosa")


def _realish(rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """A voiced, vibrato harmonic source through two formant-like resonances, a chirped
    whistle, bursts of noise and a -50 dBFS noise floor (as a recording has), in [-1, 1]."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    f0 = 140 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(h * phase) / h for h in range(1, 40))
    for fc, bw in ((700, 120), (1800, 200)):
        r = np.exp(-np.pi * bw / rate)
        voice = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * fc / rate), r * r], voice)
    voice *= 0.5 * (1 + np.sin(2 * np.pi * 1.3 * t)) / np.abs(voice).max()
    whistle = 0.1 * np.sin(2 * np.pi * (2500 * t + 400 * t * t))
    bursts = 0.2 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 2 * t) > 0.9)
    x = voice + whistle + bursts + 3e-3 * rng.standard_normal(t.size)
    return (0.9 * x / np.abs(x).max()).astype(np.float32)


def _torchlibrosa(x: torch.Tensor) -> torch.Tensor:
    """PANNs' front end (audioset_tagging_cnn pytorch/models.py, MobileNetV2 at 32 kHz)."""
    from torchlibrosa.stft import LogmelFilterBank, Spectrogram

    spec = Spectrogram(n_fft=1024, hop_length=320, win_length=1024, window="hann", center=True,
                       pad_mode="reflect", freeze_parameters=True).to(x.dtype)
    logmel = LogmelFilterBank(sr=32000, n_fft=1024, n_mels=64, fmin=50, fmax=14000, ref=1.0,
                              amin=1e-10, top_db=None, freeze_parameters=True).to(x.dtype)
    with torch.no_grad():
        return logmel(spec(x[:, None] if x.dim() == 1 else x))[:, 0]


def test_mel_matrix_is_librosas():
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=32000, n_fft=1024, n_mels=64, fmin=50, fmax=14000).T
    np.testing.assert_allclose(mel_matrix(), ref, rtol=1e-6, atol=1e-9)


def test_matches_torchlibrosa_on_realish_audio():
    x = torch.from_numpy(_realish(32000, 3.0))[None]
    ours = panns_log_mel(x)
    assert ours.shape == (1, 301, 64) and ours.dtype == torch.float32
    # torchlibrosa's own arithmetic in float64 (its DFT and mel weights are float32 numbers)
    ref64 = _torchlibrosa(x.double())
    assert (ours.double() - ref64).abs().max().item() <= 1e-4
    # as PANNs runs it, in float32 (its Conv1d DFT rounds by ~1e-3 dB in bands 55 dB below
    # the peak of noiseless synthetic audio; this audio has a -50 dBFS noise floor)
    ref32 = _torchlibrosa(x)
    assert (ours - ref32).abs().max().item() <= 1e-4


def test_window_patch_is_the_centred_log_mel_of_the_upsampled_window():
    fe = get_front_end("panns")
    window = _realish(16000, 1.0, seed=1)[:fe.window_samples]
    patch = fe.patch(window)
    assert patch.shape == (1, 1, 96, 64) and patch.dtype == np.float32
    wave32 = torch.from_numpy(upsample_16k(window))[None]
    np.testing.assert_array_equal(patch[0], panns_log_mel(wave32).numpy())
    ref = _torchlibrosa(wave32).numpy()
    assert ref.shape == (1, 96, 64)
    # above 8 kHz the upsampled window holds only the resampler's stopband (< -100 dB re peak),
    # where float32 torchlibrosa is rounding noise; below, the two agree
    heard = ref > ref.max(axis=-1, keepdims=True) - 40.0
    assert heard.mean() > 0.5 and np.abs(patch[0] - ref)[heard].max() <= 1e-4


def _shifts_stream(front: StreamingLogMel, audio: np.ndarray, shifts: list[int]):
    fe, start = front.front_end, 0
    for shift in [0, *shifts]:
        start += shift
        window = audio[start:start + fe.window_samples]
        yield front(window), fe.patch(window)


@pytest.mark.parametrize("shifts", [
    [160, 320, 0, 1600, 14720],          # hop multiples, a repeat, the largest shared shift
    [533, 534, 533, 533, 534, 533],      # 30 FPS: phase repeats every third frame
    [1, 7, 161, 400, 999],               # unaligned
    [16000, 480],                        # a jump past the window, then aligned again
])
def test_streaming_equals_from_scratch(shifts):
    audio = _realish(16000, 3.0, seed=2)
    for out, ref in _shifts_stream(StreamingLogMel(front_end="panns"), audio, shifts):
        assert out.shape == (1, 1, 96, 64) and out.dtype == np.float32
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5)


def test_streaming_reuses_only_rows_away_from_the_window_ends():
    audio = _realish(16000, 3.0, seed=3)
    front = StreamingLogMel(front_end="panns")
    n = front.front_end.window_samples
    front(audio[:n])
    assert (front.frames_computed, front.frames_reused) == (96, 0)
    front(audio[320:320 + n])       # 2 hops: rows 2..91 reused, 0-1 and 92-95 computed
    assert (front.frames_computed, front.frames_reused) == (96 + 6, 90)
    front(audio[320 + 533:320 + 533 + n])
    assert front.frames_reused == 90


def test_contract_records_the_front_end():
    old = InputContract().to_dict()
    del old["audio_front_end"]               # a checkpoint written before the field existed
    assert InputContract.from_dict(old).audio_front_end == "vggish"
    panns = InputContract().with_front_end("panns")
    assert panns.window_samples == 15200 and InputContract().window_samples == 15600
    assert InputContract.from_dict(panns.to_dict()) == panns
    with pytest.raises(ValueError, match="unknown audio front end 'mfcc'"):
        InputContract(audio_front_end="mfcc")
    with pytest.raises(AVSInputError, match=r"float \[15200\] samples .*panns"):
        get_front_end("panns").patch(np.zeros(15600, np.float32))


def test_lightavseg_configs_with_panns_weights_use_panns():
    from pathlib import Path

    from avs_models.train.config import load_config

    configs = Path(__file__).resolve().parents[1] / "configs"
    for path in sorted(configs.rglob("*.yaml")):
        cfg = load_config(path)
        panns_weights = "panns" in str(cfg.model.audio_weights or "")
        assert (cfg.model.audio_front_end == "panns") == panns_weights, path
        if panns_weights:
            assert cfg.data.audio == "wav", path


def test_training_checkpoint_and_node_share_the_front_end(tmp_path):
    from avs_models.checkpoints import load_model, save_checkpoint
    from avs_models.data.avsbench import frame_audio_end, read_wav_16k
    from avs_models.data.synth.writers import write_csv, write_ms3_clip
    from avs_models.train.config import config_from_dict
    from avs_models.train.data import build_dataset
    from avs_models.train.trainer import build_training_model
    from avs_ros.core.preprocess import Preprocessor

    root = tmp_path / "Multi-sources"
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(5)]
    masks = [np.eye(224, dtype=bool)] * 5
    write_csv(root, "ms3", [write_ms3_clip(root, "c", "train", frames, masks,
                                           _realish(16000, 5.0, seed=4))])
    data = {"model": {"preset": "lightavseg_t", "image_size": [64, 64],
                      "audio_front_end": "panns"},
            "data": {"root": str(root), "subset": "ms3", "audio": "wav"}}
    cfg = config_from_dict(data)
    sample = build_dataset(cfg, "train", train=False)[3]
    wav = read_wav_16k(root / "ms3_data/audio_wav/train/c.wav")
    end = frame_audio_end(3)
    expected = get_front_end("panns").patch(wav[end - 15200:end])[0]
    np.testing.assert_array_equal(sample["audio"].numpy(), expected)
    model = build_training_model(cfg)
    assert model.contract.audio_front_end == "panns" and model.contract.image_size == (64, 64)
    loaded, _ = load_model(save_checkpoint(model, tmp_path / "m.pt"))
    assert loaded.contract == model.contract
    pre = Preprocessor(loaded.contract)
    np.testing.assert_array_equal(pre.audio(wav[end - 15200:end].astype(np.float32))[0],
                                  expected)
    with pytest.raises(ValueError, match="audio='wav'"):
        build_dataset(config_from_dict({**data, "data": {**data["data"], "audio": "pkl"}}),
                      "train", train=False)


def test_onnx_file_keeps_its_front_end(tmp_path):
    pytest.importorskip("onnxruntime")
    from avs_models import build_model
    from avs_models.export import export_onnx
    from avs_ros.core.model_source import load_backend

    model = build_model("lightavseg_t").eval()
    model.contract = model.contract.with_front_end("panns")
    path = export_onnx(model, tmp_path / "m.onnx", image_size=(64, 64))
    loaded = load_backend("lightavseg_t", str(path), backend="onnxruntime")
    assert loaded.contract.audio_front_end == "panns"
    assert loaded.contract.window_samples == 15200 and loaded.contract.image_size == (64, 64)
