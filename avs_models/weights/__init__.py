"""Checkpoints shipped inside the package (see README.md in this folder for their recipes and
measured numbers)."""
from __future__ import annotations

from pathlib import Path

DEFAULT_CHECKPOINT = "lightavseg_t_synth_ms3.pt"
#: the preset of the shipped default model
DEFAULT_PRESET = "lightavseg_t"


def default_checkpoint() -> Path:
    """Path of the shipped default model: LightAVSeg with SeaFormer-T trained on SynthAVS
    MS3-style data (``avs_ros/1`` format, float16 weights; load it with
    :func:`avs_models.checkpoints.load_model`).

    Raises:
        FileNotFoundError: the file is not installed (a source tree without it, or a wheel
            built without the package data).
    """
    path = Path(__file__).resolve().parent / DEFAULT_CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"the default checkpoint {path} is not installed; reinstall "
                                "avs_ros with its package data or pass --checkpoint")
    return path
