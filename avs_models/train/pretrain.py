"""SynthAVS encoder pretraining: our stand-in for the ImageNet and AudioSet weights that all
three papers start from, which cannot be downloaded here.

Every paper freezes an AudioSet-pretrained audio encoder and starts from an ImageNet-pretrained
visual backbone, so the audio-visual training only has to learn the *matching* of a sound to
pixels. Trained from random weights on binary masks alone, a model must also learn what the
objects look like and what they sound like from a 1-bit signal, which is slow (the first
SynthAVS model reached validation J 0.50 after 6.6 epochs on 2 CPU cores).

This module builds the two pretexts from SynthAVS clips composed afresh (MS3 mode, their own
seed), with labels that the AVSBench layouts do not store:

- visual: semantic segmentation of *every* object (sounding or not) into the 16 SynthAVS
  classes + background, with the LightAVSeg visual backbone (SeaFormer) and SeaFormer's light
  head, cross-entropy; the analogue of ImageNet classification + segmentation pretraining;
- audio: multi-label classification of the classes that sound in each 0.96 s log-mel example,
  with the PANNs-layout MobileNetV2 and a linear 1024 -> 16 layer, binary cross-entropy; the
  analogue of AudioSet tagging.

Outputs are written in the *public* file formats, so that ``model.backbone_weights`` and
``model.audio_weights`` of a training config load them exactly like the released files
(``SeaFormer_{T,S,B,L}.pth`` keys; PANNs MobileNetV2 keys with the classifier as
``fc_audioset``), and ``freeze_audio: auto`` then freezes the audio encoder as the papers do.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..audio.mobilenetv2 import MobileNetV2Audio
from ..backbones.seaformer import seaformer
from ..contract import InputContract
from ..data.synth.classes import CLASSES
from ..data.synth.generate import AVSBENCH_SIZE, worker_pool
from ..data.synth.mixing import mix_clip
from ..data.synth.scene import compose_clip
from ..data.synth.writers import frame_examples, to_pcm16
from ..layers.light_head import LightHead
from ..models.lightavseg import LIGHT_HEAD_EMBED_DIMS

log = logging.getLogger(__name__)

N_CLASSES = len(CLASSES)
#: rng stream of pretraining clips (distinct from ``generate``'s subset codes 3, 4 and 7)
_PRETRAIN_CODE = 11


@dataclass
class PretrainConfig:
    """Options of :func:`pretrain` (units: px, steps, clips).

    Attributes:
        backbone: SeaFormer size (``seaformer_t`` .. ``seaformer_l``).
        image_size: (H, W) of the visual input in px; frames are composed at 224 x 224 and
            resized (bilinear; class maps nearest) as the AVSBench loaders do.
        clips: clips composed (5 frames and 5 log-mel examples each); the last 10 % are held
            out for the reported metrics.
        seed: seed of the clips (use one that the AVS test split does not use).
        visual_steps, audio_steps: optimiser steps of each pretext (0 skips it).
        batch_size, audio_batch_size: samples per step.
        lr, weight_decay: AdamW, with cosine decay to 0 after 5 % linear warm-up.
        workers: processes composing clips.
        threads: torch intra-op threads (0 leaves torch's default).
    """

    backbone: str = "seaformer_t"
    image_size: tuple[int, int] = (128, 128)
    clips: int = 1500
    seed: int = 3
    visual_steps: int = 1500
    audio_steps: int = 1500
    batch_size: int = 32
    audio_batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    workers: int = 2
    threads: int = 0


def _compose(job: tuple[int, int, tuple[int, int]]) -> tuple[np.ndarray, ...]:
    """One clip -> (images uint8 [5, h, w, 3], class maps uint8 [5, h, w] (0 background,
    c + 1 for class c), log-mel float32 [5, 1, 96, 64], sounding classes uint8 [5, 16])."""
    seed, i, (h, w) = job
    rng = np.random.default_rng([seed, _PRETRAIN_CODE, i])
    clip = compose_clip(rng, 5, AVSBENCH_SIZE, "multi")
    audio, _ = mix_clip(rng, clip, 5.0)
    ex = frame_examples(to_pcm16(audio), 5).numpy()
    cls_of = np.array([0] + [CLASSES.index(o.cls) + 1 for o in clip.objects], np.uint8)
    images, maps, hot = [], [], np.zeros((5, N_CLASSES), np.uint8)
    for k in range(5):
        images.append(np.asarray(Image.fromarray(clip.frames[k]).resize((w, h),
                                                                        Image.BILINEAR)))
        sem = cls_of[clip.instances[k]]
        maps.append(np.asarray(Image.fromarray(sem).resize((w, h), Image.NEAREST)))
        for j in clip.sounding[k]:
            hot[k, CLASSES.index(clip.objects[j].cls)] = 1
    return np.stack(images), np.stack(maps), ex, hot


def compose_pretraining_set(clips: int, seed: int, image_size: tuple[int, int],
                            workers: int = 2) -> dict[str, torch.Tensor]:
    """Compose ``clips`` SynthAVS MS3-mode clips with pretext labels.

    Returns ``image`` uint8 [N, 3, H, W], ``classes`` int64 [N, H, W] (0 background, c + 1
    for SynthAVS class c, every object labelled), ``audio`` float32 [N, 1, 96, 64] (VGGish
    log-mel, example k for frame k) and ``sounding`` float32 [N, 16] (multi-hot), N = 5·clips.
    Deterministic for (clips, seed, image_size). Raises ValueError for clips or workers < 1.
    """
    if clips < 1 or workers < 1:
        raise ValueError(f"clips and workers must be >= 1, got {clips}, {workers}")
    jobs = [(int(seed), i, tuple(image_size)) for i in range(clips)]
    if workers == 1:
        parts = [_compose(j) for j in jobs]
    else:
        with worker_pool(workers) as pool:
            parts = pool.map(_compose, jobs, chunksize=8)
    images, maps, audio, hot = (np.concatenate(p) for p in zip(*parts))
    return {"image": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
            "classes": torch.from_numpy(maps).long(),
            "audio": torch.from_numpy(audio),
            "sounding": torch.from_numpy(hot).float()}


class VisualPretext(nn.Module):
    """SeaFormer + SeaFormer's light head -> class logits [B, 17, H, W] (input size)."""

    def __init__(self, backbone: str) -> None:
        super().__init__()
        self.backbone = seaformer(backbone)
        self.head = LightHead(list(self.backbone.out_channels), LIGHT_HEAD_EMBED_DIMS[backbone],
                              N_CLASSES + 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.backbone(image))
        return F.interpolate(logits, size=image.shape[-2:], mode="bilinear",
                             align_corners=False)


class AudioPretext(nn.Module):
    """PANNs-layout MobileNetV2 + ``fc_audioset`` 1024 -> 16: log-mel [B, 1, 96, 64] ->
    tag logits [B, 16]."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = MobileNetV2Audio()
        self.fc_audioset = nn.Linear(self.encoder.embedding_dim, N_CLASSES)

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        return self.fc_audioset(self.encoder(logmel))


def _lr_factor(step: int, total: int) -> float:
    warm = max(1, total // 20)
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def _fit(model: nn.Module, steps: int, batch: int, cfg: PretrainConfig, n_train: int,
         loss_of, name: str, progress: bool) -> list[float]:
    """AdamW + warm-up/cosine over ``steps`` random mini-batches of the first ``n_train``
    samples; ``loss_of(model, idx)`` gives the loss of the samples ``idx``. Returns the mean
    loss of every 50 steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, steps))
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    curve, acc = [], []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc=f"pretrain {name}", leave=False)
    for _ in range(steps):
        idx = torch.randint(0, n_train, (batch,), generator=gen)
        loss = loss_of(model, idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        acc.append(float(loss.detach()))
        if len(acc) == 50:
            curve.append(sum(acc) / len(acc))
            acc = []
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{acc[-1] if acc else curve[-1]:.3f}")
    if bar is not None:
        bar.close()
    if acc:
        curve.append(sum(acc) / len(acc))
    return curve


@torch.no_grad()
def _visual_miou(model: VisualPretext, images: torch.Tensor, classes: torch.Tensor) -> float:
    """Mean IoU over the classes present (background included) on held-out frames."""
    model.eval()
    inter = torch.zeros(N_CLASSES + 1)
    union = torch.zeros(N_CLASSES + 1)
    for s in range(0, len(images), 64):
        pred = model(images[s:s + 64]).argmax(1)
        gt = classes[s:s + 64]
        for c in range(N_CLASSES + 1):
            p, g = pred == c, gt == c
            inter[c] += (p & g).sum()
            union[c] += (p | g).sum()
    seen = union > 0
    return float((inter[seen] / union[seen]).mean())


@torch.no_grad()
def _audio_scores(model: AudioPretext, audio: torch.Tensor, hot: torch.Tensor
                  ) -> dict[str, float]:
    """Held-out tagging: micro-F1 at 0.5 and exact-set accuracy (all 16 decisions right)."""
    model.eval()
    pred = torch.cat([model(audio[s:s + 256]) for s in range(0, len(audio), 256)]) > 0
    gt = hot > 0.5
    tp = float((pred & gt).sum())
    f1 = 2 * tp / max(1.0, float(pred.sum() + gt.sum()))
    return {"micro_f1": round(f1, 4),
            "exact_set_accuracy": round(float((pred == gt).all(1).float().mean()), 4)}


def pretrain(cfg: PretrainConfig, out_dir: str | Path, progress: bool = True) -> dict:
    """Compose the clips, train both pretexts and write their weights in the public formats.

    Writes under ``out_dir``: ``{backbone}_synthavs.pth`` (the SeaFormer state dict with the
    public keys; the pretext head is not kept), ``mobilenetv2_synthavs.pth`` (PANNs keys,
    ``{"model": state_dict}`` with the tag layer as ``fc_audioset.*``) and ``pretrain.json``
    (config, held-out scores, loss per 50 steps, seconds); returns that summary.

    Raises ValueError for an unknown backbone or fewer than 2 clips.
    """
    if cfg.backbone not in LIGHT_HEAD_EMBED_DIMS:
        raise ValueError(f"unknown SeaFormer size {cfg.backbone!r}; choose one of "
                         f"{sorted(LIGHT_HEAD_EMBED_DIMS)}")
    if cfg.clips < 2:
        raise ValueError(f"need at least 2 clips (10 % are held out), got {cfg.clips}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    data = compose_pretraining_set(cfg.clips, cfg.seed, cfg.image_size, cfg.workers)
    n = data["image"].shape[0]
    n_train = n - 5 * max(1, cfg.clips // 10)
    contract = InputContract(image_size=tuple(cfg.image_size))
    mean = torch.tensor(contract.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(contract.image_std).view(1, 3, 1, 1)

    def norm(px: torch.Tensor) -> torch.Tensor:
        return (px.float() / 255.0 - mean) / std

    summary: dict = {"config": asdict(cfg), "frames": n, "train_frames": n_train,
                     "compose_seconds": round(time.perf_counter() - t0, 1)}
    log.info("pretraining set: %d frames (%d train) in %.1f s", n, n_train,
             summary["compose_seconds"])

    if cfg.visual_steps > 0:
        t1 = time.perf_counter()
        vis = VisualPretext(cfg.backbone)

        def visual_loss(model: VisualPretext, idx: torch.Tensor) -> torch.Tensor:
            image, target = norm(data["image"][idx]), data["classes"][idx]
            flip = torch.rand(len(idx)) < 0.5
            image[flip], target[flip] = image[flip].flip(-1), target[flip].flip(-1)
            return F.cross_entropy(model(image), target)

        curve = _fit(vis, cfg.visual_steps, cfg.batch_size, cfg, n_train, visual_loss,
                     "visual", progress)
        miou = _visual_miou(vis, norm(data["image"][n_train:]), data["classes"][n_train:])
        path = out / f"{cfg.backbone}_synthavs.pth"
        torch.save(vis.backbone.state_dict(), path)
        summary["visual"] = {"weights": str(path), "heldout_miou": round(miou, 4),
                             "loss_per_50_steps": [round(x, 4) for x in curve],
                             "seconds": round(time.perf_counter() - t1, 1)}
        log.info("visual pretext: held-out mIoU %.3f (%.0f s)", miou,
                 summary["visual"]["seconds"])

    if cfg.audio_steps > 0:
        t1 = time.perf_counter()
        aud = AudioPretext()

        def audio_loss(model: AudioPretext, idx: torch.Tensor) -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(model(data["audio"][idx]),
                                                      data["sounding"][idx])

        curve = _fit(aud, cfg.audio_steps, cfg.audio_batch_size, cfg, n_train, audio_loss,
                     "audio", progress)
        scores = _audio_scores(aud, data["audio"][n_train:], data["sounding"][n_train:])
        state = dict(aud.encoder.state_dict())
        state.update({f"fc_audioset.{k}": v for k, v in aud.fc_audioset.state_dict().items()})
        path = out / "mobilenetv2_synthavs.pth"
        torch.save({"model": state}, path)
        summary["audio"] = {"weights": str(path), "heldout": scores,
                            "loss_per_50_steps": [round(x, 4) for x in curve],
                            "seconds": round(time.perf_counter() - t1, 1)}
        log.info("audio pretext: held-out %s (%.0f s)", scores, summary["audio"]["seconds"])

    summary["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "pretrain.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``avs pretrain`` (defaults: :class:`PretrainConfig`)."""
    d = PretrainConfig()
    parser.add_argument("--out", required=True, help="folder for the weights and pretrain.json")
    parser.add_argument("--backbone", default=d.backbone, choices=sorted(LIGHT_HEAD_EMBED_DIMS))
    parser.add_argument("--image-size", type=int, nargs=2, default=list(d.image_size),
                        metavar=("H", "W"), help=f"visual input in px (default {d.image_size})")
    parser.add_argument("--clips", type=int, default=d.clips, help="clips composed")
    parser.add_argument("--seed", type=int, default=d.seed,
                        help="seed of the clips (keep it apart from the test split's)")
    parser.add_argument("--visual-steps", type=int, default=d.visual_steps)
    parser.add_argument("--audio-steps", type=int, default=d.audio_steps)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--audio-batch-size", type=int, default=d.audio_batch_size)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--threads", type=int, default=d.threads)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Pretrain; print the summary (held-out scores, weight paths) as JSON. Returns 0, or 2
    for invalid arguments."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = PretrainConfig(backbone=args.backbone, image_size=tuple(args.image_size),
                         clips=args.clips, seed=args.seed, visual_steps=args.visual_steps,
                         audio_steps=args.audio_steps, batch_size=args.batch_size,
                         audio_batch_size=args.audio_batch_size, lr=args.lr,
                         workers=args.workers, threads=args.threads)
    bad = (["clips"] if cfg.clips < 2 else []) \
        + [k for k in ("batch_size", "audio_batch_size", "workers") if getattr(cfg, k) < 1] \
        + [k for k in ("visual_steps", "audio_steps", "threads") if getattr(cfg, k) < 0]
    if bad or min(cfg.image_size) < 64 or any(s % 32 for s in cfg.image_size):
        print(f"avs pretrain: invalid {bad or 'image size'} (clips >= 2, other counts >= 1, "
              f"steps >= 0, image size a multiple of 32 and >= 64 px; got {asdict(cfg)})",
              file=sys.stderr)
        return 2
    summary = pretrain(cfg, args.out, progress=not args.no_progress)
    summary.pop("config")
    for part in ("visual", "audio"):
        if part in summary:
            summary[part].pop("loss_per_50_steps")
    print(json.dumps(summary, indent=1))
    return 0
