"""One registry of model presets: name -> builder + small size dict + paper figures.

Builders are referenced as ``"module:function"`` strings and imported only when a preset is
built, so ``import avs_models`` stays light and no registration happens as an import side
effect (timm's create_model pattern, without the decorators).
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .base import AVSModel
from .contract import InputContract
from .errors import PresetError


@dataclass(frozen=True)
class PaperFigure:
    """What a paper reports for a preset, so that ``avs summary`` can print it beside ours.

    params_m: parameters in millions as the paper counts them (audio backbone included);
    latency_ms / latency_device: the paper's one-frame latency and where it was measured;
    source: paper, table.
    """

    params_m: float | None = None
    latency_ms: float | None = None
    latency_device: str = ""
    source: str = ""


@dataclass(frozen=True)
class Preset:
    """A named model variant: its builder, the keyword arguments that make it, its input
    contract and the paper's figures."""

    name: str
    builder: str  # "package.module:function"
    kwargs: Mapping[str, Any]
    description: str
    paper: PaperFigure = field(default_factory=PaperFigure)
    contract: InputContract = field(default_factory=InputContract)

    def resolve_builder(self) -> Callable[..., AVSModel]:
        module, _, func = self.builder.partition(":")
        return getattr(importlib.import_module(module), func)


_AVES = "avs_models.models.avesformer:build_avesformer"
_LIGHT = "avs_models.models.lightavseg:build_lightavseg"
_AVSEG = "avs_models.models.avsegformer:build_avsegformer"

PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("avesformer_r18", _AVES, {"backbone": "resnet18"},
           "AVESFormer, ResNet-18 + VGGish, PQG (16 queries) + ELF decoder C-T-T",
           PaperFigure(108.0, 8.8, "RTX 3090", "AVESFormer Table 3")),
    Preset("avesformer_r50", _AVES, {"backbone": "resnet50"},
           "AVESFormer, ResNet-50 + VGGish, PQG (16 queries) + ELF decoder C-T-T",
           PaperFigure(127.0, 12.0, "RTX 3090", "AVESFormer Table 3")),
    Preset("lightavseg_t", _LIGHT, {"backbone": "seaformer_t"},
           "LightAVSeg, SeaFormer-T + MobileNetV2 audio (the paper's fastest ablation)",
           PaperFigure(None, 22.1, "Snapdragon 8 Elite (TNN)", "LightAVSeg backbone ablation")),
    Preset("lightavseg_s", _LIGHT, {"backbone": "seaformer_s"},
           "LightAVSeg, SeaFormer-S + MobileNetV2 audio"),
    Preset("lightavseg_b", _LIGHT, {"backbone": "seaformer_b"},
           "LightAVSeg, SeaFormer-B + MobileNetV2 audio",
           PaperFigure(None, 80.2, "Snapdragon 8 Elite (TNN)", "LightAVSeg backbone ablation")),
    Preset("lightavseg_l", _LIGHT, {"backbone": "seaformer_l"},
           "LightAVSeg, SeaFormer-L + MobileNetV2 audio (the paper's model)",
           PaperFigure(20.5, 163.4, "Snapdragon 8 Elite (TNN)", "LightAVSeg main table")),
    Preset("avsegformer_r50", _AVSEG, {"backbone": "resnet50"},
           "AVSegFormer baseline, ResNet-50 + VGGish, 300-query generator + mixer",
           PaperFigure(151.0, 37.9, "RTX 3090", "AVESFormer Table 3 / AVSegFormer")),
    Preset("avsegformer_pvt", _AVSEG, {"backbone": "pvt_v2_b5"},
           "AVSegFormer, PVTv2-B5 + VGGish (its strongest public checkpoints)",
           PaperFigure(None, None, "", "AVSegFormer Table 1 (no size or latency given)")),
)}


def list_presets() -> list[str]:
    """Names of all registered presets, in registry order."""
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    """Look a preset up by name. Raises PresetError with close matches when unknown."""
    try:
        return PRESETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, PRESETS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PresetError(
            f"unknown preset {name!r}{hint} (known: {', '.join(PRESETS)})") from None


def build_model(preset: str, num_classes: int = 1, **overrides: Any) -> AVSModel:
    """Build a preset as an :class:`AVSModel` (randomly initialised unless the overrides name
    pretrained weight files, e.g. ``backbone_weights=``/``audio_weights=`` where supported).

    Args:
        preset: a name from :func:`list_presets`.
        num_classes: output channels C: 1 for S4/MS3 (binary), 71 for AVSS.
        **overrides: keyword arguments of the preset's builder (e.g. AVESFormer's
            ``query_generator``, ``stage_pattern``, ``num_queries``).

    Raises:
        PresetError: unknown preset or an option its builder does not take.
    """
    p = get_preset(preset)
    builder = p.resolve_builder()
    params = inspect.signature(builder).parameters
    if not any(v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values()):
        unknown = sorted(set(overrides) - set(params))
        if unknown:
            raise PresetError(
                f"preset {preset!r} does not take option(s) {unknown}; "
                f"its options are {sorted(k for k in params if k != 'num_classes')}")
    kwargs = {**p.kwargs, **overrides}
    model = builder(num_classes=num_classes, **kwargs)
    model.contract = p.contract
    model.preset = preset
    # Weight-file paths only initialise the network; a saved checkpoint holds the weights
    # themselves, so they are not part of what rebuilds the architecture.
    model.build_kwargs = {k: v for k, v in kwargs.items() if not k.endswith("_weights")}
    return model
