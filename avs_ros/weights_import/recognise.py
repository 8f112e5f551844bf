"""What a downloaded weight file is, from its keys and shapes alone.

Accepted (as the public READMEs publish them):

- public AVSegFormer checkpoints (github.com/vvvb-github/AVSegFormer README, "AVSegFormer
  pretrained models": ResNet-50 and PVTv2-B5, S4/MS3/AVSS; ``model.module.state_dict()``
  files, also with a ``module.`` prefix or wrapped in ``{"model"|"state_dict": ...}``);
- encoder weights for training (:data:`ENCODERS`): torchvision ResNet-18/-50 ImageNet
  files (and ``resnet50-19c8e357.pth``, which AVSBench's and AVSegFormer's configs name),
  PVTv2-B5 ImageNet (``pvt_v2_b5.pth``), torchvggish ``vggish-10086976.pth``, PANNs
  ``MobileNetV2_mAP=0.383.pth`` (``checkpoint["model"]``), SeaFormer's ImageNet
  ``SeaFormer_{T,S,B,L}.pth``.

A file is matched to a kind when its keys and shapes equal those of our module exactly
(after removing the parts that kind is known to carry and we do not use: an ImageNet
classifier, VGGish's PCA, PANNs' waveform front end and AudioSet classifier, AVSegFormer's
unused branches); the module is then loaded with it, strictly. Anything else raises
:class:`ImportRefused`, whose message says what the file looks like and which file was
expected. Nothing is written here.
"""
from __future__ import annotations

import importlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from avs_models.checkpoints import (FORMAT, check_state_dict, extract_state_dict, missing_keys,
                                    read_checkpoint, strip_module_prefix)
from avs_models.errors import CheckpointError


class ImportRefused(Exception):
    """A file ``avs import`` does not accept; the message names what it looks like and which
    file was expected."""


@dataclass(frozen=True)
class EncoderKind:
    """One kind of encoder file and how our training configs use it.

    family: files of one family share the signature keys in :data:`FAMILIES`;
    builder / loader: ``"module:function"`` of our module and of the function that training
    uses to load the file (``backbone_weights`` / ``audio_weights``), ``args`` for the
    builder; extra: key prefixes of the public file that our module does not have (not
    needed, reported as ``extra_what``); config_key: the training-config key; presets: the
    presets whose configs take it.
    """

    name: str
    title: str
    family: str
    expected: str
    builder: str
    loader: str
    extra: tuple[str, ...]
    extra_what: str
    config_key: str
    presets: tuple[str, ...]
    args: tuple = ()

    def build(self) -> nn.Module:
        return _resolve(self.builder)(*self.args)

    def load(self, module: nn.Module, path: str | Path) -> None:
        _resolve(self.loader)(module, path)


def _resolve(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


_R = "avs_models.backbones.resnet:"
_SEA = "avs_models.backbones.seaformer:"
_CLS = "its ImageNet classifier"
_TV = ("torchvision's resnet{d}-*.pth ImageNet file (e.g. {f}){extra}")

#: every encoder file ``avs import`` accepts
ENCODERS: tuple[EncoderKind, ...] = (
    EncoderKind("resnet18", "torchvision ResNet-18 ImageNet weights", "resnet",
                _TV.format(d=18, f="resnet18-f37072fd.pth", extra=""),
                _R + "resnet18", _R + "load_torchvision_weights", ("fc.",),
                _CLS, "backbone_weights", ("avesformer_r18",)),
    EncoderKind("resnet50", "torchvision ResNet-50 ImageNet weights", "resnet",
                _TV.format(d=50, f="resnet50-0676ba61.pth",
                           extra=", or resnet50-19c8e357.pth as AVSBench/AVSegFormer use"),
                _R + "resnet50", _R + "load_torchvision_weights", ("fc.",),
                _CLS, "backbone_weights", ("avesformer_r50", "avsegformer_r50")),
    EncoderKind("pvt_v2_b5", "PVTv2-B5 ImageNet weights", "pvt_v2",
                "pvt_v2_b5.pth (whai362/PVT, the file AVSegFormer's PVT configs name)",
                "avs_models.backbones.pvt_v2:pvt_v2_b5",
                "avs_models.backbones.pvt_v2:load_pvt_v2_weights", ("head.",),
                _CLS, "backbone_weights", ("avsegformer_pvt",)),
    EncoderKind("vggish", "VGGish AudioSet weights (torchvggish port)", "vggish",
                "vggish-10086976.pth (harritaylor/torchvggish)",
                "avs_models.audio.vggish:VGGish", "avs_models.audio.vggish:load_vggish_weights",
                ("pproc.",), "its PCA post-processing (the models take the raw embedding)",
                "audio_weights",
                ("avesformer_r18", "avesformer_r50", "avsegformer_r50", "avsegformer_pvt")),
    EncoderKind("panns_mobilenetv2", "PANNs MobileNetV2 AudioSet weights", "panns",
                "MobileNetV2_mAP=0.383.pth (PANNs, qiuqiangkong/audioset_tagging_cnn)",
                "avs_models.audio.mobilenetv2:MobileNetV2Audio",
                "avs_models.audio.mobilenetv2:load_panns_mobilenetv2_weights",
                ("spectrogram_extractor.", "logmel_extractor.", "fc_audioset."),
                "its waveform front end and AudioSet classifier", "audio_weights",
                tuple(f"lightavseg_{s}" for s in "tsbl")),
    *(EncoderKind(f"seaformer_{s}", f"SeaFormer-{s.upper()} ImageNet weights", "seaformer",
                  f"SeaFormer_{s.upper()}.pth (fudan-zvg/SeaFormer, ImageNet-1K)",
                  _SEA + "seaformer", _SEA + "load_seaformer_imagenet_weights", ("linear.",),
                  _CLS, "backbone_weights", (f"lightavseg_{s}",), (f"seaformer_{s}",))
      for s in "tsbl"),
)

#: family -> (keys every file of the family has, what such a file is, the files accepted)
FAMILIES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "resnet": (("conv1.weight", "layer1.0.conv1.weight", "layer4.0.conv1.weight"),
               "a ResNet in torchvision's layout",
               "torchvision's resnet18-*.pth / resnet50-*.pth ImageNet files"),
    "pvt_v2": (("patch_embed1.proj.weight", "block1.0.attn.q.weight"),
               "a PVTv2 (whai362/PVT layout)", "pvt_v2_b5.pth"),
    "vggish": (("features.0.weight", "embeddings.0.weight"), "a VGGish network",
               "vggish-10086976.pth"),
    "panns": (("bn0.weight", "fc_audioset.weight"), "a PANNs AudioSet tagging network",
              "MobileNetV2_mAP=0.383.pth"),
    "seaformer": (("smb1.stem_block.0.c.weight",), "a SeaFormer backbone",
                  "SeaFormer_{T,S,B,L}.pth"),
}

#: J (mIoU) and F of the public checkpoints, AVSegFormer README table (30/60/30 epochs)
AVSEGFORMER_PUBLISHED: dict[tuple[str, str], tuple[float, float]] = {
    ("avsegformer_r50", "s4"): (76.38, 86.7), ("avsegformer_pvt", "s4"): (83.06, 90.5),
    ("avsegformer_r50", "ms3"): (53.81, 65.6), ("avsegformer_pvt", "ms3"): (61.33, 73.0),
    ("avsegformer_r50", "avss"): (26.58, 31.5), ("avsegformer_pvt", "avss"): (37.31, 42.8),
}
AVSEGFORMER_EXPECTED = ("a public AVSegFormer checkpoint (AVSegFormer README, 'AVSegFormer "
                        "pretrained models': R50 or PVTv2-B5, S4/MS3/AVSS)")


@dataclass
class Found:
    """A recognised file: ``kind`` ("avsegformer" or an :class:`EncoderKind` name), a one-line
    ``description``, the ``module`` loaded strictly with its weights, the number of public
    tensors, those ``unused`` (known not needed; count per key prefix), and for AVSegFormer
    its ``variant``
    (:func:`avs_models.convert.avsegformer.public_variant`)."""

    kind: str
    description: str
    module: nn.Module
    tensors: int
    unused: dict[str, int] = field(default_factory=dict)
    encoder: EncoderKind | None = None
    variant: dict | None = None


def check_name_hash(path: Path, sha256: str) -> None:
    """torch.hub's naming rule: ``name-<hex>.pth`` promises a SHA-256 starting with <hex>
    (torchvision and torchvggish name their files so). Raise ImportRefused when the file's
    hash disagrees: an incomplete or altered download."""
    m = re.search(r"-([0-9a-f]{8,})\.[^.]+$", path.name)
    if m and not sha256.startswith(m[1]):
        raise ImportRefused(
            f"{path.name}: its name promises a SHA-256 starting with {m[1]} (torch.hub's "
            f"naming), but the file's is {sha256[:16]}...: an incomplete or altered download. "
            "Download it again (or rename the file if it is meant to differ)")


def _expected_all() -> str:
    return "Expected " + AVSEGFORMER_EXPECTED + ", or one of the encoder files " \
        + ", ".join(f[2] for f in FAMILIES.values())


def _read(path: Path) -> Any:
    """torch.load the file safely; ImportRefused naming the cause for anything else."""
    if not path.is_file():
        raise ImportRefused(f"{path} does not exist")
    with open(path, "rb") as f:
        head = f.read(512).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise ImportRefused(
            f"{path.name} is an HTML page, not a weight file (Google Drive answers large "
            "downloads with a confirmation page); download the file itself. "
            + _expected_all())
    try:
        return read_checkpoint(path)
    except CheckpointError as exc:
        cause = exc.__cause__ or exc
        raise ImportRefused(
            f"{path.name} ({path.stat().st_size} bytes) is not a complete torch weight file "
            f"(a truncated download, or not a checkpoint at all): torch.load says "
            f"{type(cause).__name__}: {str(cause).splitlines()[0][:160]}. "
            + _expected_all()) from exc


def _prefix_summary(keys, limit: int = 8) -> str:
    """'conv1 (1), layer1 (30), ...': top-level key prefixes with tensor counts."""
    counts = Counter(k.split(".")[0] for k in keys)
    shown = [f"{p} ({n})" for p, n in list(counts.items())[:limit]]
    return ", ".join(shown) + (", ..." if len(counts) > limit else "")


def _family(state: Mapping[str, torch.Tensor]) -> str | None:
    for family, (signature, *_) in FAMILIES.items():
        if all(k in state for k in signature):
            return family
    return None


def _indices(state, pattern: str) -> list[int]:
    """Per stage, the number of blocks: pattern like r"layer(\\d)\\.(\\d+)\\." on the keys."""
    seen: dict[int, set[int]] = {}
    for k in state:
        m = re.match(pattern, k)
        if m:
            seen.setdefault(int(m[1]), set()).add(int(m[2]))
    return [len(seen[i]) for i in sorted(seen)]


_RESNET_DEPTHS = {((2, 2, 2, 2), False): 18, ((3, 4, 6, 3), False): 34,
                  ((3, 4, 6, 3), True): 50, ((3, 4, 23, 3), True): 101,
                  ((3, 8, 36, 3), True): 152}
_PVT_DEPTHS = {(2, 2, 2, 2): "B0 or B1", (3, 4, 6, 3): "B2", (3, 4, 18, 3): "B3",
               (3, 8, 27, 3): "B4", (3, 6, 40, 3): "B5"}


def _guess(family: str, state: Mapping[str, torch.Tensor]) -> str:
    """What variant of ``family`` the keys suggest (for refusal messages)."""
    if family == "resnet":
        blocks = tuple(_indices(state, r"layer(\d)\.(\d+)\."))
        depth = _RESNET_DEPTHS.get((blocks, "layer1.0.conv3.weight" in state))
        return f"ResNet-{depth}" if depth else f"a ResNet with {blocks} blocks"
    if family == "pvt_v2":
        depths = tuple(_indices(state, r"block(\d)\.(\d+)\."))
        return f"PVTv2-{_PVT_DEPTHS.get(depths, '?')} (depths {depths})"
    if family == "panns":
        if "conv_block1.conv1.weight" in state:
            return "a PANNs CNN (Cnn6/10/14: conv_block* keys), not MobileNetV2"
        return f"a PANNs network with {_prefix_summary(state)}"
    return FAMILIES[family][1]


def _group(keys, prefixes: tuple[str, ...]) -> dict[str, int]:
    """{prefix: number of ``keys`` under it} for the known-unused ``prefixes``."""
    return {p.rstrip("."): n for p in prefixes
            if (n := sum(k.startswith(p) for k in keys))}


def _differences(own: Mapping[str, torch.Tensor], theirs: Mapping[str, torch.Tensor]
                 ) -> tuple[int, str]:
    """(count, text) of missing / unexpected / mis-shaped keys of ``theirs`` vs ``own``."""
    missing = missing_keys(own, theirs)
    unexpected = sorted(set(theirs) - set(own))
    shapes = sorted(f"{k} {tuple(theirs[k].shape)} (expected {tuple(own[k].shape)})"
                    for k in set(own) & set(theirs) if own[k].shape != theirs[k].shape)
    parts = [f"{len(v)} {what}: {', '.join(v[:3])}{' ...' if len(v) > 3 else ''}"
             for what, v in (("missing", missing), ("unexpected", unexpected),
                             ("with other shapes", shapes)) if v]
    return len(missing) + len(unexpected) + len(shapes), "; ".join(parts)


def _encoder(name: str, family: str, state: dict[str, torch.Tensor]) -> Found:
    candidates = [e for e in ENCODERS if e.family == family]
    best: tuple[int, str, EncoderKind] | None = None
    for kind in candidates:
        module = kind.build()
        used = {k: v for k, v in state.items() if not k.startswith(kind.extra)}
        count, text = _differences(module.state_dict(), used)
        if count == 0:
            module.load_state_dict(used, strict=True)
            unused = _group([k for k in state if k.startswith(kind.extra)], kind.extra)
            return Found(kind.name, kind.title, module.eval(), len(state), unused, kind)
        if best is None or count < best[0]:
            best = (count, text, kind)
    count, text, kind = best
    titles = " / ".join(c.title for c in candidates)
    raise ImportRefused(
        f"{name} looks like {_guess(family, state)} ({FAMILIES[family][1]}), but matches none "
        f"of: {titles}. Closest, {kind.title}: {text}. Expected "
        + " or ".join(dict.fromkeys(c.expected for c in candidates)))


def _avsegformer(name: str, state: dict[str, torch.Tensor]) -> Found:
    from avs_models.convert.avsegformer import (UNUSED_PREFIXES, load_avsegformer_state_dict,
                                                public_variant)
    from avs_models.registry import build_model

    try:
        variant = public_variant(state)
        options = {} if variant["num_queries"] == 300 else {"num_queries": variant["num_queries"]}
        model = build_model(variant["preset"], num_classes=variant["num_classes"], **options)
        unused = load_avsegformer_state_dict(model, state, source=name)
        groups = UNUSED_PREFIXES
    except CheckpointError as exc:
        raise ImportRefused(
            f"{name} looks like an AVSegFormer checkpoint (head.*, vggish.* keys) but does not "
            f"match our AVSegFormer: {exc}. Expected {AVSEGFORMER_EXPECTED}, unmodified") from exc
    backbone = {"avsegformer_r50": "ResNet-50", "avsegformer_pvt": "PVTv2-B5"}[variant["preset"]]
    c = variant["num_classes"]
    subset = {1: "S4 or MS3 (binary)", 71: "AVSS (71 classes)"}.get(c, f"{c} classes")
    text = f"public AVSegFormer checkpoint, {backbone} backbone, {subset}, " \
           f"{variant['num_queries']} queries"
    return Found("avsegformer", text, model.eval(), len(state), _group(unused, groups),
                 variant=variant)


def recognise(path: str | Path) -> Found:
    """Read ``path`` and recognise it (module docstring).

    Returns:
        :class:`Found`, with its module loaded strictly.
    Raises:
        ImportRefused: not readable as a torch file (HTML page, truncated download, another
            format), our own checkpoint, VGGish's PCA file, another architecture or another
            variant; the message names what the file looks like and what was expected.
    """
    path = Path(path)
    obj = _read(path)
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        raise ImportRefused(f"{path.name} is already an {FORMAT} checkpoint (preset "
                            f"{obj.get('preset')!r}); use it as it is")
    if isinstance(obj, Mapping) and {"pca_eigen_vectors", "pca_means"} <= set(obj):
        raise ImportRefused(
            f"{path.name} holds VGGish's PCA post-processing parameters (torchvggish "
            "vggish_pca_params-*.pth); the AVS models use the raw 128-d embedding and need "
            "the network: expected vggish-10086976.pth (harritaylor/torchvggish)")
    try:
        state = dict(strip_module_prefix(extract_state_dict(obj, source=path.name)))
    except CheckpointError as exc:
        kind = (f"a dict with keys {', '.join(map(str, list(obj)[:8]))}"
                if isinstance(obj, Mapping) else type(obj).__name__)
        raise ImportRefused(f"{path.name} is a torch file but holds no state dict ({kind}). "
                            + _expected_all()) from exc
    if any(k.startswith("head.") for k in state) and any(k.startswith("vggish.") for k in state):
        return _avsegformer(path.name, state)
    family = _family(state)
    if family is None:
        raise ImportRefused(
            f"{path.name} is not a file avs import knows: {len(state)} tensors under "
            f"{_prefix_summary(state)}. " + _expected_all())
    return _encoder(path.name, family, state)


def check_loadable(found: Found, path: Path) -> None:
    """Load the written file ``path`` back the way our tools will: encoder files with the
    training loader into a fresh module, AVSegFormer checkpoints with
    :func:`avs_models.checkpoints.load_model`; then compare with ``found.module``.

    Raises CheckpointError when anything differs."""
    if found.encoder is not None:
        module = found.encoder.build()
        found.encoder.load(module, path)
    else:
        from avs_models.checkpoints import load_model

        module, _ = load_model(path)
    check_state_dict(module, found.module.state_dict(), source=str(path))
    for (key, a), b in zip(found.module.state_dict().items(), module.state_dict().values()):
        if not torch.equal(a, b):
            raise CheckpointError(f"{path}: {key} differs after reading the file back")
