"""Training configuration as typed data: one dataclass per section, every key with its type,
unit and meaning; YAML in, checked dataclasses out, the resolved config saved beside each run.

A config file has the sections ``model``, ``data``, ``optim``, ``loss``, ``train`` (all
optional except ``model.preset`` and ``data.root``). Unknown keys and wrongly typed values
raise :class:`ConfigError` naming the key path, the expected type and, for a misspelt key,
the closest known key.

The papers' schedules live in the files under ``configs/`` (see docs/TRAINING.md).
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A training config has an unknown key, a value of the wrong type or an invalid value;
    the message names the key path (e.g. ``optim.lr``)."""


@dataclass
class ModelConfig:
    """``model`` section.

    preset: registry preset name (e.g. ``lightavseg_t``, ``avesformer_r18``).
    num_classes: output channels: 1 for S4/MS3, 71 for AVSS.
    image_size: network input [H, W] in px (multiples of 32); stored in the checkpoint's
        input contract, so the node and replay resize frames to it.
    options: extra keyword arguments of the preset's builder (e.g. ``{ffn_dim: 1024}``).
    backbone_weights: optional path of pretrained visual-backbone weights (ImageNet ResNet,
        PVTv2-B5 or SeaFormer file, as published or as ``avs import`` writes it), loaded
        strictly before training.
    audio_weights: optional path of pretrained audio-encoder weights (VGGish port or PANNs
        MobileNetV2, as published or as ``avs import`` writes it), loaded strictly before
        training.
    freeze_audio: ``auto`` freezes the audio encoder exactly when ``audio_weights`` is given
        (all three papers freeze their AudioSet-pretrained encoder); with random init it must
        train, or the model cannot tell sounds apart. ``true``/``false`` force it.
    init_checkpoint: optional ``avs_ros/1`` checkpoint of the same preset, classes and options
        whose weights the model starts from (fine-tuning, e.g. the shipped model on new
        data); loaded strictly after ``backbone_weights`` / ``audio_weights``.
    audio_front_end: the log-mel the audio encoder listens through, recorded in the
        checkpoint's input contract: ``vggish`` (VGGish patch) or ``panns`` (PANNs' 32 kHz
        log-mel, what the AudioSet MobileNetV2 of ``audio_weights`` was trained on; needs
        ``data.audio: wav``); null takes the preset's (VGGish for every preset).
    """

    preset: str = ""
    num_classes: int = 1
    image_size: list[int] = field(default_factory=lambda: [224, 224])
    options: dict[str, Any] = field(default_factory=dict)
    backbone_weights: str | None = None
    audio_weights: str | None = None
    freeze_audio: Literal["auto", "true", "false"] = "auto"
    audio_front_end: Literal["vggish", "panns"] | None = None
    init_checkpoint: str | None = None


@dataclass
class DataConfig:
    """``data`` section.

    root: dataset folder (``Single-source``, ``Multi-sources`` or the AVSS root; SynthAVS
        writes the same layouts).
    subset: ``s4``, ``ms3`` or ``avss`` (selects the loader).
    audio: ``pkl`` (pre-computed log-mel, the official files) or ``wav`` (our front end);
        AVSS always reads WAV.
    train_split / val_split: split names used for training and for best-by-validation-J.
    hflip: random horizontal flip of image and mask (AVESFormer trains with it).
    hflip_p: flip probability.
    cache: decode the whole split once into memory as uint8 images at ``image_size``
        (bytes: frames x H x W x 3) and float32 log-mel; removes PNG decoding from every epoch.
    workers: DataLoader worker processes (0 = in the main process).
    streams: optional SynthAVS stream set (the ``Streams`` folder of ``avs synth --subset
        streams``) whose frames are added to the training and validation splits
        (:class:`avs_models.data.streams.StreamFrames`, binary tasks only).
    stream_target: the streams' ground-truth rule for windows that straddle an on/off
        switch: ``stamp``, ``majority`` or ``ignore`` (docs/TRAINING.md, "Streams").
    stream_ignore_s: the ``ignore`` rule's band in s.
    """

    root: str = ""
    subset: Literal["s4", "ms3", "avss"] = "ms3"
    audio: Literal["pkl", "wav"] = "pkl"
    train_split: Literal["train", "val", "test"] = "train"
    val_split: Literal["train", "val", "test"] = "val"
    hflip: bool = True
    hflip_p: float = 0.5
    cache: bool = False
    workers: int = 2
    streams: str | None = None
    stream_target: Literal["stamp", "majority", "ignore"] = "stamp"
    stream_ignore_s: float = 0.25


@dataclass
class OptimConfig:
    """``optim`` section.

    name: ``adamw`` (all three papers).
    lr: peak learning rate (AVESFormer 5e-4 S4/MS3, 1e-4 AVSS; LightAVSeg 1e-4;
        AVSegFormer 2e-5).
    weight_decay: AdamW decoupled weight decay.
    betas: AdamW (beta1, beta2).
    scheduler: ``poly`` (lr · (1 - it/total)^power per iteration, AVESFormer), ``cosine``
        or ``constant``.
    poly_power: exponent of the poly schedule (0.9).
    warmup_iters: linear warm-up iterations from lr · warmup_ratio (0 = none).
    warmup_ratio: starting fraction of lr during warm-up.
    grad_clip: max global gradient L2 norm (0 = no clipping).
    lr_mult: learning-rate multipliers by parameter-name prefix, like mmcv's
        ``paramwise_cfg.custom_keys`` but matched on whole leading module names, not on any
        substring: ``{query_generator: 0.1}`` trains every parameter
        whose name is ``query_generator`` or starts with ``query_generator.`` at 0.1 · lr,
        warm-up and schedule included; a parameter takes its longest matching prefix, the
        rest train at 1 · lr. A prefix that matches no trainable parameter is an error.
    """

    name: Literal["adamw"] = "adamw"
    lr: float = 1e-4
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    scheduler: Literal["poly", "cosine", "constant"] = "poly"
    poly_power: float = 0.9
    warmup_iters: int = 0
    warmup_ratio: float = 0.1
    grad_clip: float = 0.0
    lr_mult: dict[str, float] = field(default_factory=dict)


@dataclass
class LossConfig:
    """``loss`` section: keyword arguments of the preset family's criterion
    (:func:`avs_models.losses.build_criterion`), e.g. ``lambda_iou``, ``lambda_dice``,
    ``lambda_aux`` (AVESFormer), ``lambda_msa`` (LightAVSeg), ``lambda_mix`` (AVSegFormer)."""

    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """``train`` section.

    epochs: passes over the training split.
    batch_size: samples per step per process (DDP: per GPU/rank).
    seed: seed of torch, numpy and Python ``random`` (and of each DataLoader worker).
    amp: mixed precision on CUDA (bfloat16 autocast when supported, else float16 with a
        gradient scaler); ignored on CPU.
    num_threads: torch intra-op threads on CPU (0 = torch's default).
    val_every: validate every this many epochs (the last epoch always validates).
    val_batch_size: batch size of validation.
    max_steps: stop after this many optimiser steps in total (0 = no limit; for smoke runs).
    log_every: steps between CSV/TensorBoard loss rows.
    tensorboard: also write TensorBoard events when the ``tensorboard`` package is installed.
    save_half: store best.pt/last.pt weights as float16 (halves the file).
    """

    epochs: int = 30
    batch_size: int = 16
    seed: int = 0
    amp: bool = True
    num_threads: int = 0
    val_every: int = 1
    val_batch_size: int = 16
    max_steps: int = 0
    log_every: int = 10
    tensorboard: bool = True
    save_half: bool = False


@dataclass
class Config:
    """A whole training config (see the section classes for each key)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        """Plain dict (YAML/JSON-friendly) of every key, defaults included."""
        return dataclasses.asdict(self)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted for floats and
    strings like "1e-4" for floats (YAML 1.1 reads them as strings)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{path}: expected null, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if isinstance(value, bool) and "true" in choices:
            value = "true" if value else "false"
        if value not in choices:
            raise ConfigError(f"{path}: expected one of {list(choices)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        (arg,) = typing.get_args(tp)
        return [_coerce(v, arg, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        _, arg = typing.get_args(tp)
        return {k: _coerce(v, arg, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported config type {tp!r}")  # a defect of this module


def _build(cls: type, data: Any, path: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown config key {where!r}{hint} (known in "
                              f"{path or 'the top level'}: {', '.join(known)})")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, where)
        else:
            kwargs[key] = _coerce(value, tp, where)
    return cls(**kwargs)


def _validate(cfg: Config) -> None:
    m, d, o, t = cfg.model, cfg.data, cfg.optim, cfg.train
    if not m.preset:
        raise ConfigError("model.preset is required (a registry preset, e.g. lightavseg_t)")
    if not d.root:
        raise ConfigError("data.root is required (the dataset folder)")
    if len(m.image_size) != 2 or any(s < 64 or s % 32 for s in m.image_size):
        raise ConfigError(f"model.image_size: expected [H, W], multiples of 32 and >= 64 px, "
                          f"got {m.image_size}")
    if m.num_classes < 1:
        raise ConfigError(f"model.num_classes must be >= 1, got {m.num_classes}")
    if d.subset == "avss" and m.num_classes == 1:
        raise ConfigError("data.subset avss needs model.num_classes 71 (class ids), got 1")
    if d.subset != "avss" and m.num_classes != 1:
        raise ConfigError(f"data.subset {d.subset} is binary: model.num_classes must be 1")
    if d.streams and m.num_classes != 1:
        raise ConfigError("data.streams are binary (sounding objects): model.num_classes must "
                          "be 1")
    if d.stream_ignore_s <= 0:
        raise ConfigError(f"data.stream_ignore_s must be > 0 s, got {d.stream_ignore_s}")
    if not 0.0 <= d.hflip_p <= 1.0:
        raise ConfigError(f"data.hflip_p must lie in [0, 1], got {d.hflip_p}")
    if d.workers < 0:
        raise ConfigError(f"data.workers must be >= 0, got {d.workers}")
    if o.lr <= 0 or o.weight_decay < 0 or o.grad_clip < 0:
        raise ConfigError("optim.lr must be > 0, optim.weight_decay and optim.grad_clip >= 0")
    if len(o.betas) != 2:
        raise ConfigError(f"optim.betas: expected [beta1, beta2], got {o.betas}")
    for prefix, mult in o.lr_mult.items():
        if mult <= 0:
            raise ConfigError(f"optim.lr_mult.{prefix} must be > 0, got {mult}")
    for key in ("epochs", "batch_size", "val_every", "val_batch_size", "log_every"):
        if getattr(t, key) < 1:
            raise ConfigError(f"train.{key} must be >= 1, got {getattr(t, key)}")
    if t.max_steps < 0 or t.num_threads < 0 or o.warmup_iters < 0:
        raise ConfigError("train.max_steps, train.num_threads and optim.warmup_iters must be "
                          ">= 0")


def config_from_dict(data: dict) -> Config:
    """Build and check a :class:`Config` from a nested dict (a parsed YAML file).

    Raises:
        ConfigError: unknown key (with the closest known key), wrong type, missing
            ``model.preset``/``data.root`` or an invalid value.
    """
    cfg = _build(Config, data, "")
    _validate(cfg)
    return cfg


def load_config(path: str | Path, overrides: dict | None = None) -> Config:
    """Read a YAML config file; ``overrides`` (nested dict) are merged over it first.
    Relative ``data.root`` and weight paths are kept as written (relative to the working
    directory). Raises FileNotFoundError or :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config {path} does not exist")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with sections model, data, optim, loss, "
                          f"train; got {type(data).__name__}")
    for section, values in (overrides or {}).items():
        data.setdefault(section, {})
        if isinstance(data[section], dict) and isinstance(values, dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write the resolved config (every key, defaults included) as YAML."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return path
