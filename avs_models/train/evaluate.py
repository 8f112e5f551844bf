"""``avs eval``: J and F of a checkpoint on an AVSBench-layout split, with true and with
shuffled audio.

``avs eval --config CFG --checkpoint CKPT [--split test] [--shuffle-audio] [--json]``

Metrics are those of :mod:`avs_models.metrics` (official AVSBench semantics): for S4/MS3 the
per-frame J and the per-clip F (grouping ``"clip"``, the official one-clip-per-call loop); for
AVSS mIoU (reported as J), F and the per-class IoU/F. The evaluation runs at the checkpoint's
input size (its contract): frames are resized bilinearly and masks with nearest neighbour to
it, so the numbers are those of that resolution.

The audio check (``--shuffle-audio``) evaluates the same frames a second time with the audio
of another clip (:class:`avs_models.train.data.AudioSwapped`); the drop in J is the evidence
that the model listens rather than segmenting whatever looks like a sounding object.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..metrics import BinaryAVSMetric, SemanticAVSMetric


def _collate(batch: list[dict]) -> dict:
    out = {k: torch.stack([b[k] for b in batch]) for k in ("image", "audio", "mask")}
    out["clip"] = [b["clip"] for b in batch]
    return out


@torch.no_grad()
def evaluate(model, dataset, *, batch_size: int = 16, device: str | torch.device = "cpu",
             num_classes: int = 1, progress: bool = False, amp: bool = False) -> dict:
    """J/F of ``model`` over ``dataset`` (a loader dataset or one of its wrappers).

    Args:
        model: an :class:`~avs_models.base.AVSModel` (switched to eval mode for the run and
            restored afterwards).
        dataset: samples with ``image`` [3, H, W], ``audio`` [1, 96, 64], ``mask`` and ``clip``.
        num_classes: 1 -> :class:`BinaryAVSMetric` (keys J, F, J_group_mean, frames, groups);
            > 1 -> :class:`SemanticAVSMetric` (keys J = mIoU, mIoU, F, per_class_iou,
            per_class_f as lists, frames).
        amp: autocast on CUDA (metrics are computed in float32).

    Returns a dict of floats/ints/lists (JSON-serialisable).
    """
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    metric = BinaryAVSMetric("clip") if num_classes == 1 else SemanticAVSMetric(num_classes)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0,
                        collate_fn=_collate)
    device = torch.device(device)
    try:
        for batch in tqdm(loader, desc="eval", disable=not progress, leave=False):
            image = batch["image"].to(device)
            audio = batch["audio"].to(device)
            with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
                logits = model(image, audio)
            logits = logits.float().cpu()
            if num_classes == 1:
                metric.update(logits, batch["mask"].to(torch.uint8), batch["clip"])
            else:
                metric.update(logits, batch["mask"])
    finally:
        model.train(was_training)
    res = metric.compute()
    if num_classes == 1:
        return {k: res[k] for k in ("J", "F", "J_group_mean", "frames", "groups")}
    return {"J": res["mIoU"], "mIoU": res["mIoU"], "F": res["F"], "frames": res["frames"],
            "per_class_iou": [float(v) for v in res["per_class_iou"]],
            "per_class_f": [float(v) for v in res["per_class_f"]]}


def evaluate_with_shuffle(model, dataset, *, shuffle_audio: bool, seed: int = 0,
                          **kwargs) -> dict:
    """:func:`evaluate` with true audio, and with ``shuffle_audio`` also on the audio-swapped
    view: returns ``{"true_audio": {...}, "shuffled_audio": {...}, "J_drop": J_true -
    J_shuffled}`` (the last two only with ``shuffle_audio``). kwargs as :func:`evaluate`."""
    from .data import AudioSwapped

    out = {"true_audio": evaluate(model, dataset, **kwargs)}
    if shuffle_audio:
        out["shuffled_audio"] = evaluate(model, AudioSwapped(dataset, seed), **kwargs)
        out["J_drop"] = out["true_audio"]["J"] - out["shuffled_audio"]["J"]
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``avs eval``."""
    parser.add_argument("--config", required=True, help="training config YAML (data section "
                        "names the dataset; the model comes from the checkpoint)")
    parser.add_argument("--checkpoint", required=True, help="avs_ros/1 checkpoint (best.pt)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"),
                        help="split to evaluate (default test)")
    parser.add_argument("--data-root", help="override data.root of the config")
    parser.add_argument("--shuffle-audio", action="store_true",
                        help="also evaluate with each clip's audio taken from another clip")
    parser.add_argument("--seed", type=int, default=0, help="seed of the audio shuffle")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--record", metavar="OUT.pt",
                        help="write a float16 copy of the checkpoint with this evaluation "
                        "added to its metrics under the split's name (the copy's fp16 "
                        "weights are the ones evaluated)")


def run(args: argparse.Namespace) -> int:
    """Evaluate; print a table (or JSON). Returns 0, or 2 for a bad config/checkpoint/data."""
    from ..checkpoints import load_model
    from ..errors import CheckpointError
    from .config import ConfigError, load_config
    from .data import build_dataset

    try:
        cfg = load_config(args.config, {"data": {"root": args.data_root}}
                          if args.data_root else None)
        model, meta = load_model(args.checkpoint, map_location=args.device)
        size = list(model.contract.image_size)
        cfg = replace(cfg, model=replace(
            cfg.model, preset=model.preset, image_size=size, num_classes=model.num_classes,
            audio_front_end=model.contract.audio_front_end),   # the checkpoint's front end
            data=replace(cfg.data, streams=None))   # the clip layout; streams: avs replay
        dataset = build_dataset(cfg, args.split, train=False)
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"avs eval: {exc}", file=sys.stderr)
        return 2
    if args.record:   # evaluate exactly the weights that the float16 copy will hold
        model = model.half().float()
    res = evaluate_with_shuffle(model, dataset, shuffle_audio=args.shuffle_audio,
                                seed=args.seed, batch_size=args.batch_size, device=args.device,
                                num_classes=model.num_classes, progress=not args.json)
    res.update({"checkpoint": str(args.checkpoint), "preset": meta.get("preset"),
                "split": args.split, "data_root": cfg.data.root, "image_size": size,
                "grouping": "clip" if model.num_classes == 1 else None})
    names = getattr(dataset, "class_names", None)
    if model.num_classes > 1 and names:
        res["class_names"] = list(names)
    if args.record:
        _record(model, meta, res, args)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"{meta.get('preset')} on {cfg.data.root} [{args.split}] at "
          f"{size[0]}x{size[1]}, {res['true_audio']['frames']} frames")
    for name in ("true_audio", "shuffled_audio"):
        if name in res:
            r = res[name]
            print(f"  {name:<15} J {r['J']:.4f}  F {r['F']:.4f}")
    if "J_drop" in res:
        print(f"  J drop with shuffled audio: {res['J_drop']:.4f}")
    if model.num_classes > 1:
        t = res["true_audio"]
        names = res.get("class_names") or [str(c) for c in range(model.num_classes)]
        print("  per class (true audio): class  IoU  F")
        for name, iou, f in zip(names, t["per_class_iou"], t["per_class_f"]):
            print(f"    {name:<16} {iou:.4f}  {f:.4f}")
    return 0


def _dataset_info(root: str | None) -> dict | None:
    """The generator record (``synthavs.json``: seed, clips, sources) of a SynthAVS root,
    None for other datasets."""
    path = Path(root or "") / "synthavs.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _record(model, meta: dict, res: dict, args: argparse.Namespace) -> None:
    """Write ``args.record``: the model in float16 with ``res`` (plus the evaluated and the
    training dataset's generator records) under ``metrics[split]``."""
    from ..checkpoints import save_checkpoint

    metrics = dict(meta.get("metrics") or {})
    entry = dict(res)
    entry.pop("checkpoint", None)
    entry["dataset"] = _dataset_info(res["data_root"])
    metrics[args.split] = entry
    train_data = (meta.get("config") or {}).get("data") or {}
    metrics["train_dataset"] = _dataset_info(train_data.get("root"))
    if train_data.get("streams"):
        metrics["train_streams"] = _dataset_info(train_data["streams"])
    save_checkpoint(model, args.record, class_names=meta.get("class_names"),
                    config=meta.get("config"), metrics=metrics, half=True,
                    source=meta.get("source"))
