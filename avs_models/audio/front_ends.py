"""The audio front ends a model can be trained with, by the name its input contract records.

A front end turns the 16 kHz audio window that ends at a frame's stamp into the model's
[1, 96, 64] log-mel patch (96 frames of 10 ms):

- ``vggish`` (:mod:`.logmel`): VGGish's patch of 15600 samples (0.975 s): AVESFormer,
  AVSegFormer, and every checkpoint that does not name its front end;
- ``panns`` (:mod:`.panns_logmel`): PANNs' 32 kHz log-mel of 15200 samples (0.95 s) upsampled
  x2, for LightAVSeg trained from PANNs' AudioSet MobileNetV2.

Both are computed row by row from the window (:meth:`FrontEnd.rows`): row j of a patch
depends only on the samples around ``160 j`` of its window, except the ``edge_frames`` rows
at each end of a PANNs patch (reflect padding and the upsampling filter reach the window's
ends), which is what :class:`~.streaming_logmel.StreamingLogMel` needs to reuse rows exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from ..errors import AVSInputError
from .panns_logmel import EDGE_FRAMES, WINDOW_SAMPLES_16K, PannsWindowLogMel

PATCH_FRAMES = 96
MEL_BINS = 64


@dataclass(frozen=True)
class FrontEnd:
    """A log-mel front end (see the module docstring).

    Attributes:
        name: the contract's ``audio_front_end`` value.
        window_samples: 16 kHz samples of one window (ending at the frame's stamp).
        edge_frames: rows at each end of the patch that depend on where the window ends.
        stft_window_s: STFT frame length in s (the contract's ``stft_window_s``).
        rows: ``(window float32 [window_samples], start, stop) -> float32 [stop - start, 64]``.
        source: what it reproduces.
    """

    name: str
    window_samples: int
    edge_frames: int
    stft_window_s: float
    rows: Callable[[np.ndarray, int, int], np.ndarray]
    source: str

    def check(self, window: object) -> None:
        """Raise AVSInputError unless ``window`` is a float numpy array of
        ``window_samples`` 16 kHz samples."""
        if not isinstance(window, np.ndarray) or window.shape != (self.window_samples,) \
                or not np.issubdtype(window.dtype, np.floating):
            got = f"{window.dtype} {window.shape}" if isinstance(window, np.ndarray) \
                else type(window).__name__
            raise AVSInputError(f"audio window must be float [{self.window_samples}] samples "
                                f"at 16 kHz in [-1, 1] ({self.name} front end), got {got}")

    def patch(self, window: np.ndarray) -> np.ndarray:
        """One window -> float32 [1, 1, 96, 64].

        Raises:
            AVSInputError: see :meth:`check`; NaN/Inf samples.
        """
        self.check(window)
        window = np.ascontiguousarray(window, dtype=np.float32)
        if not np.isfinite(window).all():
            raise AVSInputError("waveform contains NaN or Inf samples")
        return self.rows(window, 0, PATCH_FRAMES)[None, None]


def _vggish_rows(window: np.ndarray, start: int, stop: int) -> np.ndarray:
    # NumPy on one thread (log_mel_numpy): the runtime's route, no thread-pool waits
    from .logmel import HOP_SAMPLES, WINDOW_SAMPLES, log_mel_numpy

    lo, hi = start * HOP_SAMPLES, (stop - 1) * HOP_SAMPLES + WINDOW_SAMPLES
    return log_mel_numpy(window[lo:hi])


@lru_cache(maxsize=None)
def _panns() -> PannsWindowLogMel:
    return PannsWindowLogMel()


def _panns_rows(window: np.ndarray, start: int, stop: int) -> np.ndarray:
    return _panns().rows(window, start, stop)


FRONT_ENDS: dict[str, FrontEnd] = {f.name: f for f in (
    FrontEnd("vggish", 15600, 0, 0.025, _vggish_rows,     # logmel.EXAMPLE_SAMPLES
             "VGGish (Hershey et al. 2017), AVSBench's pre-computed .pkl log-mel"),
    FrontEnd("panns", WINDOW_SAMPLES_16K, EDGE_FRAMES, 0.032, _panns_rows,
             "PANNs (Kong et al. 2020) log-mel, torchlibrosa Spectrogram + LogmelFilterBank"),
)}


def get_front_end(name: str) -> FrontEnd:
    """The front end called ``name``. Raises ValueError naming the known ones."""
    try:
        return FRONT_ENDS[name]
    except KeyError:
        raise ValueError(f"unknown audio front end {name!r}; known: {sorted(FRONT_ENDS)}") \
            from None
