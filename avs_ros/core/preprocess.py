"""Model inputs from one frame and its audio window (numpy in, numpy out).

What it adds to the model's tensor contract (:mod:`avs_models.base`): resizing to the input
size, [0, 255] -> [0, 1] scaling and per-channel normalisation with the preset's
:class:`~avs_models.contract.InputContract`, and the log-mel patch of the audio window by the
front end the contract names (``audio_front_end``: VGGish or PANNs,
:mod:`avs_models.audio.front_ends`, run on CPU), computed from scratch or by
:class:`~avs_models.audio.streaming_logmel.StreamingLogMel`, which reuses the frames that
consecutive windows share and gives the same patch).
"""
from __future__ import annotations

import numpy as np

from avs_models.audio.front_ends import MEL_BINS, PATCH_FRAMES, get_front_end
from avs_models.audio.streaming_logmel import StreamingLogMel
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
        ValueError: an unknown front end, or a contract whose audio window or mel size is not
            its front end's (15600 / 15200 samples at 16 kHz -> 96 x 64).
    """

    def __init__(self, contract: InputContract, image_size: tuple[int, int] | None = None,
                 streaming_logmel: bool = False):
        front_end = get_front_end(contract.audio_front_end)
        if (contract.window_samples, contract.sample_rate, contract.mel_frames,
                contract.mel_bins) != (front_end.window_samples, 16000, PATCH_FRAMES, MEL_BINS):
            raise ValueError(
                f"the {front_end.name} front end needs {front_end.window_samples} samples at "
                f"16000 Hz -> {PATCH_FRAMES} x {MEL_BINS} mel; the contract asks for "
                f"{contract.window_samples} samples at {contract.sample_rate} Hz -> "
                f"{contract.mel_frames} x {contract.mel_bins}")
        self.contract = contract
        self.image_size = tuple(int(v) for v in (image_size or contract.image_size))
        self._mean = np.asarray(contract.image_mean, np.float32) * 255.0
        self._inv_std = 1.0 / (np.asarray(contract.image_std, np.float32) * 255.0)
        self.front_end = front_end
        self._streaming = StreamingLogMel(front_end=front_end) if streaming_logmel else None

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
        """16 kHz window float32 [W] in [-1, 1] (ending at the frame stamp; W =
        ``contract.window_samples``) -> log-mel float32 [1, 1, 96, 64] of the contract's front
        end (VGGish: natural log of mel magnitude + 0.01; PANNs: dB of mel power).

        Raises:
            AVSInputError: not a float array of W samples, or NaN/Inf samples.
        """
        if self._streaming is not None:
            return self._streaming(window)
        return self.front_end.patch(window)
