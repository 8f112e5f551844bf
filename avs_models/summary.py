"""Parameters (ours vs the paper) and GFLOPs per preset; ``avs summary`` prints them
(:mod:`avs_ros.commands.summary`).

Parameters are counted in total and without the audio backbone (VGGish / MobileNetV2). The
paper's figure counts the audio backbone (AVESFormer Table 3, "*"). GFLOPs are counted with
PyTorch's own flop counter (``torch.utils.flop_counter.FlopCounterMode``), which counts a
multiply-add as 2 FLOPs for convolutions and matrix products (the convention of PERF.md, so
that GFLOPs / 270 GFLOP/s is this CPU's floor); elementwise ops and grid_sample are not counted.
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .registry import build_model, get_preset


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Parameters of an AVSModel: ``total`` and ``without_audio`` (audio backbone excluded)."""
    total = sum(p.numel() for p in model.parameters())
    audio = sum(p.numel() for p in model.audio_backbone_parameters())
    return {"total": total, "without_audio": total - audio}


def count_gflops(model: torch.nn.Module, image_size: tuple[int, int] = (224, 224)) -> float:
    """FLOPs (x1e9) of one eval-mode forward at batch 1 and ``image_size`` (H, W) px."""
    image = torch.randn(1, 3, *image_size)
    audio = torch.randn(1, 1, model.contract.mel_frames, model.contract.mel_bins)
    model.eval()
    # Not under no_grad: FlopCounterMode's module tracker fails on parameters used directly
    # (e.g. query tables) when autograd is off. Only the forward pass is counted.
    with FlopCounterMode(display=False) as counter:
        model(image, audio)
    return counter.get_total_flops() / 1e9


def summarise(preset: str, image_size: tuple[int, int] = (224, 224),
              flops: bool = True) -> dict:
    """One row of the summary table for ``preset`` (built with random weights)."""
    p = get_preset(preset)
    model = build_model(preset)
    params = count_parameters(model)
    paper = p.paper.params_m
    row = {
        "preset": preset,
        "params_m": params["total"] / 1e6,
        "params_without_audio_m": params["without_audio"] / 1e6,
        "paper_params_m": paper,
        "params_delta_pct": (params["total"] / 1e6 / paper - 1) * 100 if paper else None,
        "paper_source": p.paper.source,
        "image_size": list(image_size),
    }
    if flops:
        row["gflops"] = count_gflops(model, image_size)
    return row


def format_table(rows: list[dict]) -> str:
    """Plain-text table of :func:`summarise` rows."""
    head = (f"{'preset':<17} {'params (M)':>10} {'w/o audio':>10} {'paper (M)':>9} "
            f"{'delta':>7} {'GFLOPs':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        paper = f"{r['paper_params_m']:.1f}" if r["paper_params_m"] else "-"
        delta = f"{r['params_delta_pct']:+.1f}%" if r["params_delta_pct"] is not None else "-"
        gflops = f"{r['gflops']:.2f}" if "gflops" in r else "-"
        lines.append(f"{r['preset']:<17} {r['params_m']:>10.2f} {r['params_without_audio_m']:>10.2f} "
                     f"{paper:>9} {delta:>7} {gflops:>8}")
    h, w = rows[0]["image_size"] if rows else (224, 224)
    lines.append(f"params include the audio backbone (as the papers count); GFLOPs at {h}x{w}, "
                 "batch 1, 2 FLOPs per multiply-add")
    return "\n".join(lines)
