"""VGGish log-mel front end in PyTorch (batched; CPU or CUDA, the device follows the input).

The maths of the VGGish input pipeline (Hershey et al. 2017; the released ``mel_features.py``
/ ``vggish_input.py``), as MODELS.md lists it:

- 16 kHz mono audio; int16 samples are divided by 32768, several channels are averaged;
- frames of 400 samples (25 ms) every 160 samples (10 ms), no centering or padding, an
  incomplete last frame dropped;
- periodic Hann window, FFT length 512 -> 257 bins, magnitude (not power) spectrum;
- 64 mel bands on the HTK scale, mel(f) = 1127 ln(1 + f / 700), band edges evenly spaced in
  mel from 125 to 7500 Hz, triangles linear in mel, the DC bin weighted 0;
- natural log of (mel + 0.01);
- non-overlapping examples of 96 frames (0.96 s), an incomplete tail dropped.

Implementation choice: the windowed DFT is a float32 matrix product (frames [.., F, 400] x
basis [400, 2 * 257]) instead of ``torch.fft``, so that the same code runs on CPU and CUDA and
exports to ONNX as plain MatMul; matrix products keep full float32 precision on CUDA (TF32 is
off for matmul by default, unlike cuDNN convolutions). The DFT basis and the mel matrix are
computed once in float64 and cast to float32.
"""
from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np
import torch
from torch import nn

from ..base import _skip_checks
from ..errors import AVSInputError

SAMPLE_RATE = 16000        # Hz
WINDOW_SAMPLES = 400       # 25 ms at 16 kHz
HOP_SAMPLES = 160          # 10 ms at 16 kHz
FFT_LENGTH = 512           # next power of two above the window
NUM_FFT_BINS = FFT_LENGTH // 2 + 1   # 257
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96        # 0.96 s per example, examples do not overlap
#: samples for one example: 95 hops + one window = 15600 (InputContract.window_samples)
EXAMPLE_SAMPLES = (EXAMPLE_FRAMES - 1) * HOP_SAMPLES + WINDOW_SAMPLES


def hertz_to_mel(freq_hz: np.ndarray | float) -> np.ndarray | float:
    """HTK mel scale: 1127 * ln(1 + f / 700), f in Hz."""
    return 1127.0 * np.log(1.0 + np.asarray(freq_hz, dtype=np.float64) / 700.0)


@lru_cache(maxsize=None)
def mel_matrix() -> np.ndarray:
    """Mel filter bank float64 [257, 64]: column j weights FFT bin k (frequency k * 8000 / 256 Hz)
    by a triangle over mel edges j, j+1, j+2 of 66 points evenly spaced in mel between
    125 and 7500 Hz; weights are linear in mel; bin 0 (DC) is weighted 0."""
    bins_mel = hertz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, NUM_FFT_BINS))
    edges = np.linspace(hertz_to_mel(MEL_MIN_HZ), hertz_to_mel(MEL_MAX_HZ), NUM_MEL_BINS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    weights.flags.writeable = False
    return weights


@lru_cache(maxsize=None)
def windowed_dft_basis() -> np.ndarray:
    """float64 [400, 514]: periodic Hann window times the real (first 257 columns) and
    imaginary (last 257) parts of the 512-point DFT, for a 400-sample frame (zero-padded to
    512, so only the first 400 rows of the full basis are needed)."""
    n = np.arange(WINDOW_SAMPLES)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / WINDOW_SAMPLES)   # periodic Hann
    k = np.arange(NUM_FFT_BINS)
    angle = 2.0 * np.pi * np.outer(n, k) / FFT_LENGTH
    basis = np.concatenate([np.cos(angle), -np.sin(angle)], axis=1) * window[:, None]
    basis.flags.writeable = False
    return basis


def _constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor(windowed_dft_basis(), dtype=torch.float32, device=device),
            torch.tensor(mel_matrix(), dtype=torch.float32, device=device))


def _log_mel(waveform: torch.Tensor, basis: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
    """float32 [..., N] (N >= 400) -> float32 [..., frames, 64]."""
    frames = waveform.unfold(-1, WINDOW_SAMPLES, HOP_SAMPLES)         # [..., F, 400]
    spec = frames @ basis                                               # [..., F, 514]
    re, im = spec[..., :NUM_FFT_BINS], spec[..., NUM_FFT_BINS:]
    magnitude = torch.sqrt(re * re + im * im)                           # [..., F, 257]
    return torch.log(magnitude @ mel + LOG_OFFSET)                      # [..., F, 64]


@lru_cache(maxsize=None)
def _numpy_constants():
    """(periodic Hann window float32 [400], mel filter bank as a scipy CSR float32 [64, 257])."""
    from scipy.sparse import csr_matrix

    n = np.arange(WINDOW_SAMPLES)
    hann = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / WINDOW_SAMPLES)).astype(np.float32)
    return hann, csr_matrix(mel_matrix().T.astype(np.float32))


def log_mel_numpy(waveform: np.ndarray) -> np.ndarray:
    """The maths of :func:`log_mel_spectrogram` for one float32 [N] signal, in NumPy on one
    thread: ``np.fft.rfft`` (pocketfft; float32 in, complex64 out) of each Hann-windowed
    400-sample frame zero-padded to 512, magnitude, then the mel filter bank as a sparse
    matrix (461 non-zero weights of 257 x 64).

    Why not the float32 matrix products of :func:`log_mel_spectrogram`: on CPU those run on
    the BLAS / PyTorch thread pool, whose threads spin and wait for each other when the cores
    are busy (one 96-frame patch on 2 loaded cores: 25-75 ms wall against 1.4 ms here, which
    uses no thread pool). Float32 rounding differs: against a float64 computation this is off by
    at most 3e-6 on noise and 6e-5 on pure tones, the matrix product by 2e-5 and 3e-4.

    Args:
        waveform: float32 [N] 16 kHz samples (N >= 400; not checked: callers validate).

    Returns:
        float32 [1 + (N - 400) // 160, 64]: natural log of (mel magnitude + 0.01) per frame.
    """
    hann, mel = _numpy_constants()
    frames = np.lib.stride_tricks.sliding_window_view(
        np.asarray(waveform, np.float32), WINDOW_SAMPLES)[::HOP_SAMPLES] * hann
    magnitude = np.abs(np.fft.rfft(frames, FFT_LENGTH, axis=-1))        # [F, 257] float32
    out = np.ascontiguousarray((mel @ magnitude.T).T, np.float32)      # [F, 64]
    out += np.float32(LOG_OFFSET)
    return np.log(out, out=out)


def log_mel_spectrogram(waveform: torch.Tensor) -> torch.Tensor:
    """VGGish log-mel spectrogram of 16 kHz audio.

    Args:
        waveform: float tensor [..., N] of 16 kHz samples, nominally in [-1, 1] (the range is
            not enforced, as in the reference); computed in float32 on the input's device.

    Returns:
        float32 [..., frames, 64] with frames = 1 + (N - 400) // 160 (0 when N < 400):
        natural log of (mel magnitude + 0.01) per 10 ms frame.

    Raises:
        AVSInputError: not a tensor, not floating point, or rank 0.
    """
    if not isinstance(waveform, torch.Tensor):
        raise AVSInputError(f"waveform must be a torch.Tensor, got {type(waveform).__name__}")
    if not waveform.is_floating_point():
        raise AVSInputError(
            f"waveform must be floating point in [-1, 1], got dtype {waveform.dtype}; "
            "divide int16 samples by 32768 (or use waveform_to_examples)")
    if waveform.dim() == 0:
        raise AVSInputError("waveform must be [..., N] samples, got a scalar")
    waveform = waveform.to(torch.float32)
    n = waveform.shape[-1]
    if n < WINDOW_SAMPLES:
        return waveform.new_zeros((*waveform.shape[:-1], 0, NUM_MEL_BINS))
    return _log_mel(waveform, *_constants(waveform.device))


def waveform_to_examples(waveform: np.ndarray | torch.Tensor, sample_rate: int) -> torch.Tensor:
    """One clip's audio -> VGGish examples (the maths of ``vggish_input.waveform_to_examples``).

    Args:
        waveform: int16 samples (divided by 32768) or float samples in [-1, 1]; mono [N] or
            channels-first [C, N] (channels are averaged). numpy array or tensor; a tensor's
            device is kept for the log-mel computation.
        sample_rate: Hz of ``waveform``; other rates than 16000 are resampled with
            ``scipy.signal.resample_poly`` (a polyphase Kaiser-window FIR; the reference uses
            resampy, so resampled results differ from it slightly).

    Returns:
        float32 [num_examples, 1, 96, 64], num_examples = frames // 96 (an incomplete tail is
        dropped; 0 examples for clips shorter than 15600 samples at 16 kHz).

    Raises:
        AVSInputError: wrong type, rank, dtype (integer types other than int16) or
            sample rate, or non-finite samples.
    """
    device = waveform.device if isinstance(waveform, torch.Tensor) else torch.device("cpu")
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().cpu().numpy()
    if not isinstance(waveform, np.ndarray):
        raise AVSInputError(
            f"waveform must be a numpy array or torch.Tensor, got {type(waveform).__name__}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AVSInputError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    if waveform.ndim not in (1, 2):
        raise AVSInputError(
            f"waveform must be mono [N] or channels-first [C, N], got shape {waveform.shape}")
    if waveform.dtype == np.int16:
        data = waveform.astype(np.float64) / 32768.0
    elif np.issubdtype(waveform.dtype, np.floating):
        data = waveform.astype(np.float64)
    else:
        raise AVSInputError(
            f"waveform must be int16 or floating point in [-1, 1], got dtype {waveform.dtype}")
    if not np.isfinite(data).all():
        raise AVSInputError("waveform contains NaN or Inf samples")
    if data.ndim == 2:
        data = data.mean(axis=0)
    if sample_rate != SAMPLE_RATE:
        from scipy.signal import resample_poly

        g = gcd(int(sample_rate), SAMPLE_RATE)
        data = resample_poly(data, SAMPLE_RATE // g, int(sample_rate) // g)
    log_mel = log_mel_spectrogram(torch.as_tensor(data, dtype=torch.float32, device=device))
    count = log_mel.shape[0] // EXAMPLE_FRAMES
    return log_mel[:count * EXAMPLE_FRAMES].reshape(count, 1, EXAMPLE_FRAMES, NUM_MEL_BINS)


class LogMelFrontEnd(nn.Module):
    """Run-time front end: one 0.975 s window of 16 kHz audio per frame -> one log-mel patch.

    forward(waveform float32 [B, 15600] in [-1, 1]) -> float32 [B, 1, 96, 64].
    15600 samples = 95 hops of 160 + one 400-sample window (InputContract.window_samples), so
    the patch covers exactly 96 frames; its last frame ends at the newest sample.

    The DFT basis and mel matrix are non-persistent buffers (not in the state_dict); they are
    moved to the input's device when it differs from the module's.

    Raises (in forward; checks are skipped while tracing, exporting or compiling):
        AVSInputError: not a tensor, rank other than 2, length other than 15600, dtype other
            than float32, or NaN/Inf samples; the message names what was expected.
    """

    def __init__(self) -> None:
        super().__init__()
        basis, mel = _constants(torch.device("cpu"))
        self.register_buffer("dft_basis", basis, persistent=False)
        self.register_buffer("mel_matrix", mel, persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if not _skip_checks():
            self._check(waveform)
        basis = self.dft_basis.to(waveform.device)
        mel = self.mel_matrix.to(waveform.device)
        return _log_mel(waveform, basis, mel).unsqueeze(1)

    @staticmethod
    def _check(waveform: torch.Tensor) -> None:
        expected = (f"float32 [B, {EXAMPLE_SAMPLES}] 16 kHz samples in [-1, 1] "
                    f"({EXAMPLE_FRAMES - 1} hops of {HOP_SAMPLES} + one {WINDOW_SAMPLES}-sample "
                    "window)")
        if not isinstance(waveform, torch.Tensor):
            raise AVSInputError(f"waveform must be a torch.Tensor {expected}, "
                                f"got {type(waveform).__name__}")
        if waveform.dim() != 2:
            raise AVSInputError(f"waveform must be {expected}, got rank {waveform.dim()} "
                                f"shape {tuple(waveform.shape)}")
        if waveform.shape[1] != EXAMPLE_SAMPLES:
            raise AVSInputError(f"waveform must be {expected}, got {waveform.shape[1]} samples "
                                f"per row (shape {tuple(waveform.shape)})")
        if waveform.dtype != torch.float32:
            hint = "; divide int16 samples by 32768" if not waveform.is_floating_point() else ""
            raise AVSInputError(f"waveform must be {expected}, got dtype {waveform.dtype}{hint}")
        if not bool(torch.isfinite(waveform).all()):
            raise AVSInputError("waveform contains NaN or Inf samples")
