"""Key map from the public AVSegFormer checkpoints (github.com/vvvb-github/AVSegFormer, plain
``state_dict`` files of its ResNet-50 and PVTv2-B5 S4/MS3/AVSS models, written by its train
scripts as ``model.module.state_dict()``) to :class:`AVSegFormer`.

Public layout (model/AVSegFormer.py, model/head/AVSegHead.py, model/utils/*.py):
    backbone.*                 B2_ResNet: conv1, bn1, layer1, layer2, layer3_1, layer4_1 (used),
                               layer3_2, layer4_2 (a second branch the forward never calls);
                               or pvt_v2_b5: patch_embedN, blockN.M, normN (same names here)
    vggish.features/embeddings VGGish (vggish.pproc.* PCA parameters if present: unused)
    audio_proj                 Linear(128, 256)
    head.in_proj.N.{0,1}       1x1 conv + GroupNorm per level
    head.level_embed, head.learnable_query.weight
    head.query_generator.query.weight, .layers.N.{self_attn,cross_attn,ffn.0,ffn.2,norm1-3}
    head.transformer.encoder.layers.N.{self_attn.*, norm1, linear1, linear2, norm2}
    head.transformer.decoder.layers.N.{self_attn, norm1, cross_attn, norm2, linear1, linear2,
                                       norm3}
    head.lateral_conv, head.out_conv, head.fusion_block.{q_proj,kv_proj,proj},
    head.mlp.layers.{0,1,2}, head.fc.{0,2,4}
    head.fpn.*, head.attn_fc.* (intermediate-mask heads the published forward never calls)

Every key is either mapped or, if it belongs to one of the known unused parts above, returned
as ignored; anything else raises CheckpointError. Nothing is dropped silently.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Mapping

import torch

from ..checkpoints import load_state_dict_strict, read_state_dict, strip_module_prefix
from ..errors import CheckpointError

#: prefixes of public parameters that the published forward pass never uses
UNUSED_PREFIXES = ("backbone.layer3_2.", "backbone.layer4_2.", "vggish.pproc.",
                   "head.fpn.", "head.attn_fc.")

_QG_SUB = {"ffn.0.": "ffn.linear1.", "ffn.2.": "ffn.linear2.", "norm1.": "self_attn.norm.",
           "norm2.": "cross_attn.norm.", "norm3.": "ffn.norm.",
           "self_attn.": "self_attn.attn.", "cross_attn.": "cross_attn.attn."}
_ENC_SUB = {"self_attn.": "self_attn.attn.", "norm1.": "self_attn.norm.",
            "linear1.": "ffn.linear1.", "linear2.": "ffn.linear2.", "norm2.": "ffn.norm."}
_DEC_SUB = {"self_attn.": "self_attn.attn.", "norm1.": "self_attn.norm.",
            "cross_attn.": "cross_attn.attn.", "norm2.": "cross_attn.norm.",
            "linear1.": "ffn.linear1.", "linear2.": "ffn.linear2.", "norm3.": "ffn.norm."}


def _sub(table: Mapping[str, str]) -> Callable[[str], str | None]:
    def apply(rest: str) -> str | None:
        for old, new in table.items():
            if rest.startswith(old):
                return new + rest[len(old):]
        return None
    return apply


# (regex on the public key, function of the match -> our key or None if unmapped)
_RULES: list[tuple[re.Pattern, Callable[[re.Match], str | None]]] = [
    (re.compile(r"backbone\.(conv1|bn1|layer1|layer2)\.(.+)"),
     lambda m: f"backbone.{m[1]}.{m[2]}"),
    (re.compile(r"backbone\.layer([34])_1\.(.+)"), lambda m: f"backbone.layer{m[1]}.{m[2]}"),
    (re.compile(r"backbone\.((?:patch_embed|block|norm)[1-4]\..+)"),
     lambda m: f"backbone.{m[1]}"),
    (re.compile(r"vggish\.((?:features|embeddings)\..+)"), lambda m: f"audio_backbone.{m[1]}"),
    (re.compile(r"audio_proj\.(weight|bias)"), lambda m: f"audio_proj.{m[1]}"),
    (re.compile(r"head\.level_embed"), lambda m: "level_embed"),
    (re.compile(r"head\.learnable_query\.weight"), lambda m: "learnable_query"),
    (re.compile(r"head\.in_proj\.(\d+)\.([01]\.(?:weight|bias))"),
     lambda m: f"in_proj.{m[1]}.{m[2]}"),
    (re.compile(r"head\.query_generator\.query\.weight"), lambda m: "query_generator.query"),
    (re.compile(r"head\.query_generator\.layers\.(\d+)\.(.+)"),
     lambda m: (lambda r: r and f"query_generator.layers.{m[1]}.{r}")(_sub(_QG_SUB)(m[2]))),
    (re.compile(r"head\.transformer\.encoder\.layers\.(\d+)\.(.+)"),
     lambda m: (lambda r: r and f"encoder.{m[1]}.{r}")(_sub(_ENC_SUB)(m[2]))),
    (re.compile(r"head\.transformer\.decoder\.layers\.(\d+)\.(.+)"),
     lambda m: (lambda r: r and f"decoder.{m[1]}.{r}")(_sub(_DEC_SUB)(m[2]))),
    (re.compile(r"head\.(lateral_conv|out_conv)\.(.+)"),
     lambda m: f"mask_feature.{m[1]}.{m[2]}"),
    (re.compile(r"head\.fusion_block\.((?:q_proj|kv_proj|proj)\..+)"),
     lambda m: f"mixer.{m[1]}"),
    (re.compile(r"head\.mlp\.layers\.([012])\.(.+)"),
     lambda m: f"mask_predictor.mlp.{2 * int(m[1])}.{m[2]}"),
    (re.compile(r"head\.fc\.([024])\.(.+)"), lambda m: f"mask_predictor.fc.{m[1]}.{m[2]}"),
]


def map_key(key: str) -> str | None:
    """Our parameter name for one public key, or None when no rule maps it."""
    for pattern, target in _RULES:
        m = pattern.fullmatch(key)
        if m:
            return target(m)
    return None


def convert_avsegformer_state_dict(
        state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a public AVSegFormer state dict to :class:`~avs_models.models.avsegformer.
    AVSegFormer` names.

    A leading ``module.`` on every key (a ``DataParallel`` wrapper) is removed first.

    Returns:
        (converted state dict, sorted list of the ignored public keys — only those under
        :data:`UNUSED_PREFIXES`).
    Raises:
        CheckpointError: a key that is neither mapped nor known-unused (all such keys are
            listed), or two public keys mapping to one name.
    """
    state = strip_module_prefix(state)
    out: dict[str, torch.Tensor] = {}
    ignored, unknown = [], []
    for key, value in state.items():
        if key.startswith(UNUSED_PREFIXES):
            ignored.append(key)
            continue
        new = map_key(key)
        if new is None:
            unknown.append(key)
        elif new in out:
            raise CheckpointError(f"public keys map twice to {new!r} (second: {key!r})")
        else:
            out[new] = value
    if unknown:
        raise CheckpointError(
            f"{len(unknown)} key(s) of the AVSegFormer checkpoint are neither mapped nor known "
            f"to be unused: {', '.join(sorted(unknown)[:10])}"
            + (" ..." if len(unknown) > 10 else "")
            + f"; known-unused prefixes are {list(UNUSED_PREFIXES)}")
    return out, sorted(ignored)


def public_variant(state: Mapping[str, torch.Tensor]) -> dict:
    """What a public AVSegFormer state dict is, from its keys and shapes alone.

    Returns ``{"preset": "avsegformer_r50" | "avsegformer_pvt", "num_classes": C,
    "num_queries": Q}`` (C from the last conv of ``head.fc``, Q from
    ``head.learnable_query``). A leading ``module.`` is accepted.

    Raises:
        CheckpointError: the state dict is not a public AVSegFormer one (no ``head.fc.4``,
            ``head.learnable_query`` or ``vggish.*`` keys) or its backbone is neither the
            two-branch ResNet-50 nor PVTv2-B5 (the message names what was found).
    """
    state = strip_module_prefix(state)
    need = ("head.fc.4.weight", "head.learnable_query.weight", "vggish.features.0.weight")
    missing = [k for k in need if k not in state]
    if missing:
        raise CheckpointError(f"not a public AVSegFormer state dict: no {', '.join(missing)}")
    if "backbone.layer3_1.0.conv1.weight" in state:
        preset = "avsegformer_r50"
    elif "backbone.block3.39.attn.q.weight" in state and "backbone.block3.40.norm1.weight" \
            not in state:
        preset = "avsegformer_pvt"
    else:
        found = sorted({".".join(k.split(".")[:2]) for k in state if k.startswith("backbone.")})
        raise CheckpointError(
            "an AVSegFormer state dict with an unknown backbone (backbone keys start with "
            f"{', '.join(found[:6]) or 'nothing'}); expected the public ResNet-50 "
            "(backbone.layer3_1.*) or PVTv2-B5 (backbone.block1..4.*, 40 blocks in stage 3)")
    return {"preset": preset, "num_classes": int(state["head.fc.4.weight"].shape[0]),
            "num_queries": int(state["head.learnable_query.weight"].shape[0])}


def load_avsegformer_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor],
                                source: str = "AVSegFormer checkpoint") -> list[str]:
    """Convert a public AVSegFormer state dict and load it strictly into ``model`` (an
    AVSegFormer built with the same backbone, query count and class count).

    The public code has no auxiliary head for C > 1, so ``aux_head.*`` (training-only, see
    :class:`~avs_models.layers.mask_head.FeatureMaskHead`) keeps the model's own values when
    the state dict lacks it; every other parameter must come from it.

    Returns the ignored public keys. Raises CheckpointError (unknown keys, missing keys or
    shape mismatches); the model is left unchanged on error.
    """
    converted, ignored = convert_avsegformer_state_dict(state)
    for key, value in model.state_dict().items():
        if key.startswith("aux_head.") and key not in converted:
            converted[key] = value
    load_state_dict_strict(model, converted, source=source)
    return ignored


def load_avsegformer_checkpoint(model: torch.nn.Module, path: str | Path) -> list[str]:
    """Read a public AVSegFormer ``.pth`` file and load it with
    :func:`load_avsegformer_state_dict`. Returns the ignored public keys; raises
    CheckpointError (also for an unreadable file); the model is unchanged on error."""
    return load_avsegformer_state_dict(model, read_state_dict(path),
                                       source=f"AVSegFormer checkpoint {path}")
