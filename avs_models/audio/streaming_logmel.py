"""Frame-rate log-mel: reuse the STFT/mel frames that consecutive audio windows share.

Each camera frame needs the VGGish log-mel of the 0.975 s window (15600 samples, 96 frames of
400 samples every 160) ending at its stamp. Consecutive windows overlap by almost everything:
at 30 FPS the window moves by 533.3 samples, 3.3 hops. A log-mel frame depends only on its
400 samples, so a frame of the new window whose samples are bit-identical to a frame already
computed has the same value and need not be recomputed.

Alignment: a frame can be reused only when the shift between the two windows is a multiple of
the 160-sample hop; otherwise the new frames straddle the old ones and every frame is
recomputed (the result must equal :func:`~.logmel.log_mel_numpy`, which frames each window
from its own first sample). A 30 FPS camera shifts by 533/534 samples, never a multiple of 160,
but every third frame lands on the same phase (3 x 533.3 = 1600 = 10 hops). So the front end
keeps the last ``history`` windows, not just one, and reuses the one with the largest aligned
overlap: at 30 FPS that is the window three frames back, and 10 of 96 frames are computed.

Matching is by content, not by stamps: the new window is compared with each remembered one at
the hop-aligned shifts (a few probe samples first, then the whole overlap with
``np.array_equal``), so reuse happens only where the samples are identical and the result
is exact by construction, whatever the audio buffer did in between (gap filling, resets).
"""
from __future__ import annotations

from collections import deque

import numpy as np

from ..errors import AVSInputError
from .logmel import EXAMPLE_FRAMES, EXAMPLE_SAMPLES, HOP_SAMPLES, NUM_MEL_BINS, log_mel_numpy

#: sample offsets inside the first 400-sample frame compared before a full overlap check
_PROBES = np.array([0, 1, 57, 133, 211, 307, 398, 399])
#: hop-aligned shifts with at least one shared frame: 0, 160, ..., 95 * 160
_SHIFTS = np.arange(EXAMPLE_FRAMES) * HOP_SAMPLES
#: full overlap comparisons tried per remembered window (bounds the cost on silence)
_MAX_VERIFY = 4


def check_window(window: object) -> None:
    """Raise AVSInputError unless ``window`` is a float numpy array of EXAMPLE_SAMPLES (15600)
    16 kHz samples: the audio of one log-mel patch."""
    if not isinstance(window, np.ndarray) or window.shape != (EXAMPLE_SAMPLES,) \
            or not np.issubdtype(window.dtype, np.floating):
        got = f"{window.dtype} {window.shape}" if isinstance(window, np.ndarray) \
            else type(window).__name__
        raise AVSInputError(f"audio window must be float [{EXAMPLE_SAMPLES}] samples at "
                            f"16 kHz in [-1, 1], got {got}")


class StreamingLogMel:
    """Log-mel patches of successive windows, computing only frames not seen before.

    ``__call__(window float32 [15600] in [-1, 1])`` -> float32 [1, 1, 96, 64], equal to
    ``log_mel_numpy(window)`` (max abs difference <= 1e-5: reused frames are exactly those
    computed for an earlier window, new ones come from :func:`~.logmel.log_mel_numpy`; the
    torch ``LogMelFrontEnd`` rounds differently, see there).

    Args:
        history: windows remembered (>= 1). 3 covers 30 FPS (see the module docstring); the
            default 8 covers frame rates whose window shifts repeat within 8 frames.
    Attributes:
        frames_computed, frames_reused: counters over all calls (96 per call in total).
    Raises:
        ValueError: history < 1.
        AVSInputError (in ``__call__``): not a float32-convertible [15600] array, or NaN/Inf.
    """

    def __init__(self, history: int = 8) -> None:
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self._cache: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=history)
        self.frames_computed = 0
        self.frames_reused = 0

    def reset(self) -> None:
        """Forget the remembered windows (e.g. after an audio stream reset)."""
        self._cache.clear()

    def _best_match(self, window: np.ndarray) -> tuple[int, np.ndarray | None]:
        """(shift in samples, remembered log-mel) with the smallest aligned shift; (-1, None)."""
        best_shift, best_mel = -1, None
        probes = window[_PROBES]
        for old_wave, old_mel in reversed(self._cache):
            hits = np.flatnonzero((old_wave[_SHIFTS[:, None] + _PROBES] == probes).all(axis=1))
            for shift in _SHIFTS[hits[:_MAX_VERIFY]]:
                if best_shift >= 0 and shift >= best_shift:
                    break
                if np.array_equal(old_wave[shift:], window[:EXAMPLE_SAMPLES - shift]):
                    best_shift, best_mel = int(shift), old_mel
                    break
            if best_shift == 0:
                break
        return best_shift, best_mel

    def __call__(self, window: np.ndarray) -> np.ndarray:
        check_window(window)
        window = np.array(window, dtype=np.float32)      # a private copy: it is remembered
        if not np.isfinite(window).all():
            raise AVSInputError("waveform contains NaN or Inf samples")
        shift, old_mel = self._best_match(window)
        reused = EXAMPLE_FRAMES - shift // HOP_SAMPLES if old_mel is not None else 0
        mel = np.empty((EXAMPLE_FRAMES, NUM_MEL_BINS), np.float32)
        if reused:
            mel[:reused] = old_mel[EXAMPLE_FRAMES - reused:]
        if reused < EXAMPLE_FRAMES:
            # frames reused..95 cover samples [160 * reused, 15600)
            mel[reused:] = log_mel_numpy(window[reused * HOP_SAMPLES:])
        self.frames_reused += reused
        self.frames_computed += EXAMPLE_FRAMES - reused
        self._cache.append((window, mel))
        return mel[None, None].copy()

