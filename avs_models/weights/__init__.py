"""Checkpoints shipped inside the package (see README.md in this folder for their recipes and
measured numbers)."""
from __future__ import annotations

from pathlib import Path

#: the shipped checkpoint of each preset that has one (file names in this folder)
SHIPPED = {
    "lightavseg_t": "lightavseg_t_synth_ms3.pt",
    "avesformer_r18": "avesformer_r18_synth_ms3.pt",
}
#: the preset of the shipped default model (the demo's and the node's)
DEFAULT_PRESET = "lightavseg_t"
DEFAULT_CHECKPOINT = SHIPPED[DEFAULT_PRESET]


def shipped_checkpoint(preset: str) -> Path | None:
    """Path of the shipped checkpoint of ``preset`` (``avs_ros/1`` format, float16 weights;
    load it with :func:`avs_models.checkpoints.load_model`), or None where the preset has
    none or the file is not installed (a wheel built without the package data)."""
    if preset not in SHIPPED:
        return None
    path = Path(__file__).resolve().parent / SHIPPED[preset]
    return path if path.is_file() else None


def default_checkpoint() -> Path:
    """Path of the shipped default model: LightAVSeg with SeaFormer-T trained on SynthAVS
    MS3-style data and streams.

    Raises:
        FileNotFoundError: the file is not installed (a source tree without it, or a wheel
            built without the package data).
    """
    path = shipped_checkpoint(DEFAULT_PRESET)
    if path is None:
        raise FileNotFoundError(f"the default checkpoint {DEFAULT_CHECKPOINT} is not installed "
                                "in avs_models/weights; reinstall avs_ros with its package "
                                "data or pass --checkpoint")
    return path
