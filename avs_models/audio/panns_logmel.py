"""PANNs log-mel front end (the input the AudioSet MobileNetV2 of LightAVSeg was trained on).

The maths of PANNs' waveform front end (Kong et al., "PANNs", TASLP 2020; public
qiuqiangkong/audioset_tagging_cnn, ``pytorch/models.py``: ``Spectrogram`` +
``LogmelFilterBank`` of torchlibrosa with the AudioSet settings):

- 32 kHz mono audio;
- centred STFT: the signal is reflect-padded by 512 samples on each side, frames of 1024
  samples every 320 samples (10 ms), periodic Hann window, FFT length 1024 -> 513 bins,
  power spectrum (|X|^2);
- 64 mel bands on the Slaney scale (librosa's default: linear below 1 kHz, logarithmic above),
  50 to 14000 Hz, Slaney area normalisation (``librosa.filters.mel(sr=32000, n_fft=1024,
  n_mels=64, fmin=50, fmax=14000)``);
- power to dB as torchlibrosa's ``LogmelFilterBank(ref=1.0, amin=1e-10, top_db=None)``:
  10 log10(max(mel, 1e-10)) - 10 log10(max(1e-10, 1.0)).

The real-time window (:data:`WINDOW_SAMPLES_16K`): our audio path (the node's buffer, AVSBench's
WAV files) runs at 16 kHz, so a frame's 16 kHz window is upsampled x2 to 32 kHz
(``scipy.signal.resample_poly``) before the log-mel. 15200 samples at 16 kHz (0.95 s) become
30400 at 32 kHz, whose centred STFT has exactly 96 frames of 10 ms: a [1, 96, 64] patch, the
shape of the VGGish patch, covering the same 0.96 s of frame hops and ending at the frame's
stamp. Bands above 8 kHz carry only what the 16 kHz source had (nothing), in training and at
run time alike.

Precision: computed in float64 (``torch.fft.rfft``, then the mel product and the log), returned
as float32. A float32 STFT (torchlibrosa's Conv1d DFT as PANNs runs it) is off by ~1e-3 dB in
bands 55 dB below the loudest and by ~0.07 dB near the -100 dB floor; in float64 the front end
equals torchlibrosa run in float64 to ~1e-9 dB. The cost is small (96 FFTs of 1024 points).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ..errors import AVSInputError

SAMPLE_RATE = 32000        # Hz, PANNs' AudioSet rate
WINDOW_SAMPLES = 1024      # 32 ms at 32 kHz (= FFT length)
HOP_SAMPLES = 320          # 10 ms at 32 kHz
NUM_FFT_BINS = WINDOW_SAMPLES // 2 + 1   # 513
NUM_MEL_BINS = 64
MEL_MIN_HZ = 50.0
MEL_MAX_HZ = 14000.0
AMIN = 1e-10
REF = 1.0
PATCH_FRAMES = 96
#: 16 kHz samples of one patch: 0.95 s -> 30400 samples at 32 kHz -> 96 centred frames
WINDOW_SAMPLES_16K = (PATCH_FRAMES - 1) * HOP_SAMPLES // 2
#: frames at each end of a patch whose samples reach past the window (reflect padding, and the
#: upsampling filter's zero padding within 20 samples of each end): 320 j - 512 >= 20 and
#: 320 j + 512 <= 30400 - 20 hold for j in [2, 93]
EDGE_FRAMES = 2


def _hz_to_mel(freq: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale (librosa ``hz_to_mel(htk=False)``): f / (200/3) below 1 kHz,
    15 + 27 ln(f / 1000) / ln(6.4) above."""
    f = np.asarray(freq, dtype=np.float64)
    mel = f / (200.0 / 3.0)
    logstep = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-300) / 1000.0) / logstep, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel`."""
    m = np.asarray(mel, dtype=np.float64)
    logstep = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), m * (200.0 / 3.0))


@lru_cache(maxsize=None)
def mel_matrix() -> np.ndarray:
    """Slaney mel filter bank float64 [513, 64]: column j is the triangle over the band edges
    j, j+1, j+2 of 66 points evenly spaced in Slaney mel between 50 and 14000 Hz, linear in
    Hz between them, scaled by 2 / (upper - lower edge in Hz) (librosa ``filters.mel`` with
    ``norm="slaney"``, transposed as torchlibrosa's ``melW``)."""
    fft_hz = np.linspace(0.0, SAMPLE_RATE / 2, NUM_FFT_BINS)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(MEL_MIN_HZ), _hz_to_mel(MEL_MAX_HZ),
                                   NUM_MEL_BINS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    out = np.ascontiguousarray(weights.T)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=None)
def hann_window() -> np.ndarray:
    """Periodic Hann window float64 [1024] (``scipy.signal.get_window("hann", 1024)``)."""
    n = np.arange(WINDOW_SAMPLES)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / WINDOW_SAMPLES)
    w.flags.writeable = False
    return w


def _constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor(hann_window(), dtype=torch.float64, device=device),
            torch.tensor(mel_matrix(), dtype=torch.float64, device=device))


def _log_mel_frames(padded: torch.Tensor, window: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
    """Reflect-padded float64 [..., N] -> dB log-mel float32 [..., 1 + (N - 1024) // 320, 64]."""
    frames = padded.unfold(-1, WINDOW_SAMPLES, HOP_SAMPLES) * window      # [..., F, 1024]
    spec = torch.fft.rfft(frames, n=WINDOW_SAMPLES)                         # [..., F, 513]
    power = spec.real * spec.real + spec.imag * spec.imag
    db = 10.0 * torch.log10(torch.clamp(power @ mel, min=AMIN))
    return (db - 10.0 * float(np.log10(max(AMIN, REF)))).to(torch.float32)


def reflect_pad(waveform: torch.Tensor) -> torch.Tensor:
    """Centre padding of the STFT: float32 [..., N] (N > 512) -> [..., N + 1024], reflected
    (``torch.nn.functional.pad(mode="reflect")``, as torchlibrosa's ``STFT(center=True)``)."""
    shape = waveform.shape
    flat = waveform.reshape(-1, 1, shape[-1])
    pad = WINDOW_SAMPLES // 2
    return torch.nn.functional.pad(flat, (pad, pad), mode="reflect").reshape(
        *shape[:-1], shape[-1] + 2 * pad)


def panns_log_mel(waveform: torch.Tensor) -> torch.Tensor:
    """PANNs log-mel of 32 kHz audio (torchlibrosa ``Spectrogram`` + ``LogmelFilterBank`` with
    PANNs' AudioSet settings; see the module docstring).

    Args:
        waveform: float tensor [..., N] of 32 kHz samples in [-1, 1], N > 512 (the reflect
            padding needs it); computed in float64 on the input's device.

    Returns:
        float32 [..., 1 + N // 320, 64] in dB (10 log10 of the mel power, floor -100 dB).

    Raises:
        AVSInputError: not a floating-point tensor, or fewer than 513 samples.
    """
    if not isinstance(waveform, torch.Tensor) or not waveform.is_floating_point():
        got = waveform.dtype if isinstance(waveform, torch.Tensor) else type(waveform).__name__
        raise AVSInputError(f"waveform must be a floating-point torch.Tensor [..., N] of "
                            f"32 kHz samples in [-1, 1], got {got}")
    if waveform.dim() == 0 or waveform.shape[-1] <= WINDOW_SAMPLES // 2:
        raise AVSInputError(f"waveform must have more than {WINDOW_SAMPLES // 2} samples on "
                            f"its last axis (reflect padding), got shape {tuple(waveform.shape)}")
    waveform = waveform.to(torch.float64)
    return _log_mel_frames(reflect_pad(waveform), *_constants(waveform.device))


def upsample_16k(window: np.ndarray) -> np.ndarray:
    """16 kHz samples float [N] -> 32 kHz float64 [2 N] with ``scipy.signal.resample_poly(x,
    2, 1)`` (Kaiser-windowed FIR, 41 taps at 32 kHz; each output sample depends only on the
    input within 10 samples, zeros beyond the ends)."""
    from scipy.signal import resample_poly

    return resample_poly(np.asarray(window, dtype=np.float64), 2, 1)


class PannsWindowLogMel:
    """One 16 kHz frame window -> PANNs log-mel rows; used by the front-end registry
    (:mod:`.front_ends`), the datasets and the streaming cache.

    ``rows(window float32 [15200], start, stop)`` -> float32 [stop - start, 64], rows
    ``start..stop-1`` of the patch of :func:`panns_log_mel` over ``upsample_16k(window)``
    (30400 samples -> 96 frames). Computing a subset of rows gives the same values as the
    full patch (each row is one frame's FFT), so a streaming cache may reuse rows.
    """

    def __init__(self) -> None:
        self._window, self._mel = _constants(torch.device("cpu"))

    def rows(self, window: np.ndarray, start: int = 0, stop: int = PATCH_FRAMES) -> np.ndarray:
        wave = torch.from_numpy(upsample_16k(window))
        padded = reflect_pad(wave)
        lo, hi = start * HOP_SAMPLES, (stop - 1) * HOP_SAMPLES + WINDOW_SAMPLES
        with torch.inference_mode():
            return _log_mel_frames(padded[lo:hi], self._window, self._mel).numpy()
