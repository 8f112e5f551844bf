"""avs_models: trainable PyTorch models for real-time audio-visual segmentation (T = 1).

Presets: AVESFormer (ResNet-18/50 + VGGish), LightAVSeg (SeaFormer + MobileNetV2) and the
AVSegFormer baseline. ``build_model(preset, num_classes)`` returns an :class:`AVSModel` whose
forward takes ``image`` float32 [B, 3, H, W] and ``audio`` log-mel float32 [B, 1, 96, 64] and
returns logits [B, C, H, W].
"""
from .base import AVSModel, check_inputs
from .contract import InputContract
from .errors import AVSInputError, CheckpointError, PresetError
from .registry import PRESETS, Preset, build_model, get_preset, list_presets

__all__ = [
    "AVSModel", "AVSInputError", "CheckpointError", "InputContract", "PRESETS", "Preset",
    "PresetError", "build_model", "check_inputs", "get_preset", "list_presets",
]
