"""Input contract of the real-time AVS models (T = 1): what one frame and its audio look like.

The contract travels with every preset and every checkpoint, so that the node, the replay tool,
the dataset loaders and the ONNX export all prepare inputs the same way.

Sources: VGGish front end (Hershey et al. 2017, as in MODELS.md), AVSBench 224x224 frames
(Zhou et al. 2022), ImageNet normalisation of the ResNet/SeaFormer backbones.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputContract:
    """What a model expects for one frame.

    Attributes:
        image_size: (H, W) in px of the network input; frames are resized to it.
        image_mean, image_std: per-channel RGB normalisation applied to [0, 1] pixel values.
        sample_rate: audio sample rate in Hz expected by the log-mel front end.
        window_s: length in s of the audio window that ends at the frame's stamp.
        mel_frames, mel_bins: log-mel patch size, [1, mel_frames, mel_bins] per frame
            (VGGish: 96 frames of 10 ms x 64 mel bands).
    """

    image_size: tuple[int, int] = (224, 224)
    image_mean: tuple[float, float, float] = IMAGENET_MEAN
    image_std: tuple[float, float, float] = IMAGENET_STD
    sample_rate: int = 16000
    window_s: float = 0.96
    mel_frames: int = 96
    mel_bins: int = 64
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def window_samples(self) -> int:
        """Samples in one audio window (15360 at 16 kHz, 0.96 s)."""
        return int(round(self.window_s * self.sample_rate))

    def to_dict(self) -> dict:
        """JSON-friendly form (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "InputContract":
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError naming them."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown input-contract keys {unknown}; known: {sorted(known)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)
