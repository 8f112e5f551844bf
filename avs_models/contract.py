"""Input contract of the real-time AVS models (T = 1): what one frame and its audio look like.

The contract travels with every preset and every checkpoint, so that the node, the replay tool,
the dataset loaders and the ONNX export all prepare inputs the same way.

Sources: VGGish front end (Hershey et al. 2017, as in MODELS.md) or PANNs' log-mel (Kong et al.
2020; :mod:`avs_models.audio.front_ends`), AVSBench 224x224 frames (Zhou et al. 2022), ImageNet
normalisation of the ResNet/SeaFormer backbones.

The audio front end is part of the contract (``audio_front_end``): a checkpoint written before
it existed has no such key and reads as ``"vggish"``, the front end it was trained with.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputContract:
    """What a model expects for one frame.

    Attributes:
        image_size: (H, W) in px of the network input; frames are resized to it.
        image_mean, image_std: per-channel RGB normalisation applied to [0, 1] pixel values.
        sample_rate: audio sample rate in Hz expected by the log-mel front end.
        window_s: nominal length in s of the log-mel example that ends at the frame's stamp
            (VGGish: 0.96 s = 96 hops of 10 ms).
        stft_window_s, stft_hop_s: STFT frame length and hop in s (VGGish: 25 ms, 10 ms).
        mel_frames, mel_bins: log-mel patch size, [1, mel_frames, mel_bins] per frame
            (96 frames x 64 mel bands for both front ends).
        audio_front_end: ``"vggish"`` (default; AVESFormer, AVSegFormer, the shipped model) or
            ``"panns"`` (LightAVSeg trained from PANNs' AudioSet MobileNetV2): which log-mel
            the model was trained on; training, ``avs eval``, replay and the node all compute
            it from this field (:func:`avs_models.audio.front_ends.get_front_end`).

    Raises:
        ValueError: an unknown ``audio_front_end``.
    """

    image_size: tuple[int, int] = (224, 224)
    image_mean: tuple[float, float, float] = IMAGENET_MEAN
    image_std: tuple[float, float, float] = IMAGENET_STD
    sample_rate: int = 16000
    window_s: float = 0.96
    stft_window_s: float = 0.025
    stft_hop_s: float = 0.010
    mel_frames: int = 96
    mel_bins: int = 64
    audio_front_end: str = "vggish"
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        from .audio.front_ends import get_front_end

        get_front_end(self.audio_front_end)

    @property
    def window_samples(self) -> int:
        """16 kHz audio samples of one log-mel patch, ending at the frame's stamp: VGGish 95
        hops + one STFT window = 95 * 160 + 400 = 15600 (0.975 s); PANNs 15200 (0.95 s, 30400
        samples at 32 kHz, 96 centred frames)."""
        if self.audio_front_end != "vggish":
            from .audio.front_ends import get_front_end

            return get_front_end(self.audio_front_end).window_samples
        hop = int(round(self.stft_hop_s * self.sample_rate))
        win = int(round(self.stft_window_s * self.sample_rate))
        return (self.mel_frames - 1) * hop + win

    def with_front_end(self, name: str) -> "InputContract":
        """This contract with ``audio_front_end = name`` and the STFT fields describing it
        (VGGish: 25 ms windows; PANNs: 1024 samples at 32 kHz = 32 ms; both 10 ms hops).

        Raises:
            ValueError: an unknown front end.
        """
        from .audio.front_ends import get_front_end

        front_end = get_front_end(name)
        return replace(self, audio_front_end=name, stft_window_s=front_end.stft_window_s,
                       stft_hop_s=0.010)

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
