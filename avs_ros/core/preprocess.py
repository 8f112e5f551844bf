"""Model inputs from one frame and its audio window (numpy in, numpy out).

What it adds to the model's tensor contract (:mod:`avs_models.base`): resizing to the input
size, [0, 255] -> [0, 1] scaling and per-channel normalisation with the preset's
:class:`~avs_models.contract.InputContract`, and the VGGish log-mel patch of the audio window
(:func:`~avs_models.audio.logmel.log_mel_numpy`, the maths of
:class:`~avs_models.audio.logmel.LogMelFrontEnd` in NumPy on one thread, or
:class:`~avs_models.audio.streaming_logmel.StreamingLogMel`, which reuses the frames that
consecutive windows share and gives the same patch).
"""
from __future__ import annotations

import numpy as np

from avs_models.audio.logmel import EXAMPLE_SAMPLES, NUM_MEL_BINS, log_mel_numpy
from avs_models.audio.streaming_logmel import StreamingLogMel, check_window
from avs_models.contract import InputContract
from avs_models.errors import AVSInputError


class Preprocessor:
    """Builds ``image`` float32 [1, 3, h, w] and ``audio`` float32 [1, 1, 96, 64].

    Args:
        contract: the model's input contract (image size, mean/std, audio window).
        image_size: (h, w) in px overriding ``contract.image_size`` (e.g. an ONNX file's fixed
            size); None keeps the contract's.
        streaming_logmel: compute the log-mel with :class:`StreamingLogMel` (frames shared
            with recent windows are reused; equal to the from-scratch patch within 1e-5).

    Raises:
        ValueError: a contract whose audio window or mel size is not VGGish's (15600 samples
            at 16 kHz -> 96 x 64), the only front end here.
    """

    def __init__(self, contract: InputContract, image_size: tuple[int, int] | None = None,
                 streaming_logmel: bool = False):
        if (contract.window_samples, contract.sample_rate, contract.mel_frames,
                contract.mel_bins) != (EXAMPLE_SAMPLES, 16000, 96, NUM_MEL_BINS):
            raise ValueError(
                f"the log-mel front end needs {EXAMPLE_SAMPLES} samples at 16000 Hz -> 96 x "
                f"{NUM_MEL_BINS} mel; the contract asks for {contract.window_samples} samples at "
                f"{contract.sample_rate} Hz -> {contract.mel_frames} x {contract.mel_bins}")
        self.contract = contract
        self.image_size = tuple(int(v) for v in (image_size or contract.image_size))
        self._mean = np.asarray(contract.image_mean, np.float32) * 255.0
        self._inv_std = 1.0 / (np.asarray(contract.image_std, np.float32) * 255.0)
        self._streaming = StreamingLogMel() if streaming_logmel else None

    def image(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 [H, W, 3] in [0, 255] -> float32 [1, 3, h, w], ``(x / 255 - mean) / std``
        after ``cv2.resize`` with INTER_LINEAR to (h, w) = ``image_size`` (skipped when the
        frame already has that size; the aspect ratio is not kept, as in AVSBench training).

        Raises:
            AVSInputError: not a uint8 [H, W, 3] array.
        """
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 \
                or rgb.dtype != np.uint8:
            got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
            raise AVSInputError(f"frame must be RGB uint8 [H, W, 3], got {got}")
        h, w = self.image_size
        if rgb.shape[:2] != (h, w):
            import cv2

            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
        x = (rgb.astype(np.float32) - self._mean) * self._inv_std
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def audio(self, window: np.ndarray) -> np.ndarray:
        """16 kHz window float32 [15600] in [-1, 1] (ending at the frame stamp) -> log-mel
        float32 [1, 1, 96, 64] (natural log of mel magnitude + 0.01), computed without a
        thread pool (:func:`~avs_models.audio.logmel.log_mel_numpy`; ``LogMelFrontEnd``'s
        float32 rounding differs by up to 3e-4).

        Raises:
            AVSInputError: not a float array of 15600 samples, or NaN/Inf samples.
        """
        check_window(window)
        if self._streaming is not None:
            return self._streaming(window)
        window = np.asarray(window, np.float32)
        if not np.isfinite(window).all():
            raise AVSInputError("waveform contains NaN or Inf samples")
        return log_mel_numpy(window)[None, None]
