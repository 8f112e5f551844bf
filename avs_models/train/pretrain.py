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
  classes + background, cross-entropy; the analogue of ImageNet classification +
  segmentation pretraining. Backbones: SeaFormer (LightAVSeg) with SeaFormer's light head, or
  ResNet-18 (AVESFormer-R18) with :class:`ResNetSumHead`;
- audio: multi-label classification of the classes that sound in each 0.96 s log-mel example,
  binary cross-entropy; the analogue of AudioSet tagging. Encoders: the PANNs-layout
  MobileNetV2 (LightAVSeg) + a linear 1024 -> 16 layer, or VGGish (AVESFormer, AVSegFormer:
  its conv stack and fc layers up to the ReLU'd 128-d embedding) + a linear 128 -> 16 layer.

Outputs are written in the *public* file formats, so that ``model.backbone_weights`` and
``model.audio_weights`` of a training config load them exactly like the released files
(``SeaFormer_{T,S,B,L}.pth`` keys; torchvision ``resnet18-*.pth`` keys; PANNs MobileNetV2 keys
with the classifier as ``fc_audioset``; torchvggish ``vggish-10086976.pth`` keys), and
``freeze_audio: auto`` then freezes the audio encoder as the papers do.
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
from ..audio.vggish import VGGish
from ..backbones.resnet import resnet18
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
#: visual backbones of the visual pretext: the SeaFormer sizes (LightAVSeg) and ResNet-18
VISUAL_BACKBONES: tuple[str, ...] = (*sorted(LIGHT_HEAD_EMBED_DIMS), "resnet18")
#: audio encoders of the audio pretext -> the file it is written to (public key names)
AUDIO_ENCODERS: dict[str, str] = {"mobilenetv2": "mobilenetv2_synthavs.pth",
                                  "vggish": "vggish_synthavs.pth"}
#: channels of :class:`ResNetSumHead`
RESNET_HEAD_DIM = 128
#: default peak lr of the VGGish pretext: VGGish's own training lr (Adam 1e-4,
#: ``vggish_params.py`` of tensorflow/models research/audioset/vggish). VGGish has no
#: BatchNorm; in a probe (80 steps x 16), 1e-3 left 99 of its 128 ReLU embedding units dead
#: and the tags at the prior; 1e-4 with the prior-initialised tag bias kept 67 alive and its
#: loss fell below the prior's (docs/TRAINING.md, "Pretraining on SynthAVS").
VGGISH_LR = 1e-4


@dataclass
class PretrainConfig:
    """Options of :func:`pretrain` (units: px, steps, clips).

    Attributes:
        backbone: visual backbone, a SeaFormer size (``seaformer_t`` .. ``seaformer_l``) or
            ``resnet18`` (:data:`VISUAL_BACKBONES`).
        audio_encoder: ``mobilenetv2`` (PANNs layout) or ``vggish`` (:data:`AUDIO_ENCODERS`).
        image_size: (H, W) of the visual input in px; frames are composed at 224 x 224 and
            resized (bilinear; class maps nearest) as the AVSBench loaders do.
        clips: clips composed (5 frames and 5 log-mel examples each); the last 10 % are held
            out for the reported metrics.
        seed: seed of the clips (use one that the AVS test split does not use).
        visual_steps, audio_steps: optimiser steps of each pretext (0 skips it).
        batch_size, audio_batch_size: samples per step.
        lr, weight_decay: AdamW, with cosine decay to 0 after 5 % linear warm-up.
        audio_lr: peak lr of the audio pretext; 0 takes the encoder's default:
            ``lr`` for MobileNetV2, :data:`VGGISH_LR` for VGGish.
        workers: processes composing clips.
        threads: torch intra-op threads (0 leaves torch's default).
    """

    backbone: str = "seaformer_t"
    audio_encoder: str = "mobilenetv2"
    image_size: tuple[int, int] = (128, 128)
    clips: int = 1500
    seed: int = 3
    visual_steps: int = 1500
    audio_steps: int = 1500
    batch_size: int = 32
    audio_batch_size: int = 64
    lr: float = 1e-3
    audio_lr: float = 0.0
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


class ResNetSumHead(nn.Module):
    """Light segmentation head of the ResNet-18 visual pretext (ours; the all-MLP decoder of
    SegFormer, Xie et al. 2021, with a sum in place of its concatenation + fusion layer).

    Each of the four ResNet stages [B, C_i, H/s_i, W/s_i] (s_i = 4, 8, 16, 32 px) goes
    through a 1x1 conv (bias-free) + BatchNorm + ReLU to ``dim`` channels, is resized
    bilinearly to the stride-4 grid and summed; Dropout2d(0.1) and a 1x1 conv then give
    class logits float32 [B, num_classes, H/4, W/4]. Every stage, layer1 included (which
    AVESFormer's mask head uses at 1/4), gets a gradient. 126,097 parameters (R18, dim
    128, 17 classes).
    """

    def __init__(self, in_channels: list[int], dim: int, num_classes: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, dim, 1, bias=False), nn.BatchNorm2d(dim),
                          nn.ReLU(inplace=True)) for c in in_channels)
        self.dropout = nn.Dropout2d(0.1)
        self.classifier = nn.Conv2d(dim, num_classes, 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[-2:]
        out = self.lateral[0](feats[0])
        for lateral, f in zip(self.lateral[1:], feats[1:]):
            out = out + F.interpolate(lateral(f), size=size, mode="bilinear",
                                      align_corners=False)
        return self.classifier(self.dropout(out))


class VisualPretext(nn.Module):
    """Visual backbone + segmentation head: image float32 [B, 3, H, W] (ImageNet-normalised)
    -> class logits float32 [B, 17, H, W] (bilinear to the input size).

    ``backbone``: a SeaFormer size (with SeaFormer's light head, :class:`LightHead`) or
    ``resnet18`` (with :class:`ResNetSumHead`). Raises ValueError for any other name.
    """

    def __init__(self, backbone: str) -> None:
        super().__init__()
        if backbone == "resnet18":
            self.backbone = resnet18()
            self.head = ResNetSumHead(list(self.backbone.out_channels), RESNET_HEAD_DIM,
                                      N_CLASSES + 1)
        elif backbone in LIGHT_HEAD_EMBED_DIMS:
            self.backbone = seaformer(backbone)
            self.head = LightHead(list(self.backbone.out_channels),
                                  LIGHT_HEAD_EMBED_DIMS[backbone], N_CLASSES + 1)
        else:
            raise ValueError(f"unknown visual backbone {backbone!r}; choose one of "
                             f"{list(VISUAL_BACKBONES)}")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.backbone(image))
        return F.interpolate(logits, size=image.shape[-2:], mode="bilinear",
                             align_corners=False)


def _init_vgg(module: nn.Module) -> None:
    """torchvision VGG's initialisation (``torchvision/models/vgg.py``,
    ``_initialize_weights``): convs Kaiming-normal (fan_out, ReLU), linears N(0, 0.01), biases
    0. PyTorch's default (Kaiming-uniform, a = sqrt(5)) shrinks the signal through VGGish's
    nine ReLU layers without BatchNorm."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


class AudioPretext(nn.Module):
    """Audio encoder + linear tag layer: VGGish log-mel float32 [B, 1, 96, 64] -> tag logits
    float32 [B, 16].

    ``encoder``: ``mobilenetv2`` (PANNs-layout MobileNetV2 embedding 1024 -> 16, the layer
    written as PANNs' ``fc_audioset``) or ``vggish`` (VGGish's ReLU'd 128-d embedding
    -> 16; initialised as torchvision's VGG, :func:`_init_vgg`). Raises ValueError for any
    other name.
    """

    def __init__(self, encoder: str = "mobilenetv2") -> None:
        super().__init__()
        if encoder == "mobilenetv2":
            self.encoder = MobileNetV2Audio()
        elif encoder == "vggish":
            self.encoder = VGGish()
        else:
            raise ValueError(f"unknown audio encoder {encoder!r}; choose one of "
                             f"{list(AUDIO_ENCODERS)}")
        self.tag = nn.Linear(self.encoder.embedding_dim, N_CLASSES)
        if encoder == "vggish":
            _init_vgg(self)

    @torch.no_grad()
    def set_tag_prior(self, hot: torch.Tensor) -> None:
        """Set the tag layer's bias to the log prior odds of each class in ``hot`` (float
        [N, 16] multi-hot, the training targets), rates clamped to [1e-3, 1 - 1e-3], so that
        training starts at the prior (Lin et al. 2017, "Focal loss", prior initialisation)
        rather than pushing every logit down first, which kills VGGish's ReLU embedding
        units."""
        p = hot.float().mean(0).clamp(1e-3, 1 - 1e-3)
        self.tag.bias.copy_(torch.log(p / (1 - p)))

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        return self.tag(self.encoder(logmel))


def _lr_factor(step: int, total: int) -> float:
    warm = max(1, total // 20)
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def _fit(model: nn.Module, steps: int, batch: int, cfg: PretrainConfig, n_train: int,
         loss_of, name: str, progress: bool, lr: float, fused: bool = False
         ) -> tuple[list[float], float]:
    """AdamW (peak ``lr``) + warm-up/cosine over ``steps`` random mini-batches of the first
    ``n_train`` samples; ``loss_of(model, idx)`` gives the loss of the samples ``idx``.
    ``fused``: PyTorch's fused AdamW kernel (same update, other rounding; on CPU about 10x
    faster a step than the default for VGGish's 72 M parameters). Returns the mean loss of
    every 50 steps and the seconds of the optimiser steps (wall clock)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay,
                            **({"fused": True} if fused else {}))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, steps))
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    curve, acc = [], []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc=f"pretrain {name}", leave=False)
    t0 = time.perf_counter()
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
    seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    if acc:
        curve.append(sum(acc) / len(acc))
    return curve, seconds


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

    Writes under ``out_dir`` (a pretext with 0 steps is skipped and writes nothing):

    - ``{backbone}_synthavs.pth``: the visual backbone's state dict, public keys, plain
      ``{key: tensor}`` as the released files: ``SeaFormer_*.pth`` keys, or for ``resnet18``
      torchvision's ``resnet18-f37072fd.pth`` keys (``conv1.weight``, ``bn1.*``,
      ``layer1.0.conv1.weight`` ...). The pretext head is not kept; the ResNet file has no
      ``fc.*`` (the pretext trains no ImageNet classifier, and
      :func:`~avs_models.backbones.resnet.load_torchvision_weights` drops ``fc.*`` from the
      public file, so both load alike);
    - ``mobilenetv2_synthavs.pth`` (PANNs keys, ``{"model": state_dict}`` with the tag layer as
      ``fc_audioset.*``, 16 classes instead of 527) or ``vggish_synthavs.pth`` (torchvggish's
      ``vggish-10086976.pth`` keys ``features.*``, ``embeddings.*``, plain state dict; the tag
      layer is not kept, as that file has no classifier);
    - ``pretrain.json``: config, held-out scores, loss per 50 steps, seconds per pretext and
      per step; returns that summary.

    Raises ValueError for an unknown backbone or audio encoder, or fewer than 2 clips.
    """
    if cfg.backbone not in VISUAL_BACKBONES:
        raise ValueError(f"unknown visual backbone {cfg.backbone!r}; choose one of "
                         f"{list(VISUAL_BACKBONES)}")
    if cfg.audio_encoder not in AUDIO_ENCODERS:
        raise ValueError(f"unknown audio encoder {cfg.audio_encoder!r}; choose one of "
                         f"{list(AUDIO_ENCODERS)}")
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

        # the SeaFormer pretext keeps the default AdamW: same weights for a seed as before
        curve, fit_s = _fit(vis, cfg.visual_steps, cfg.batch_size, cfg, n_train, visual_loss,
                            "visual", progress, cfg.lr, fused=cfg.backbone == "resnet18")
        miou = _visual_miou(vis, norm(data["image"][n_train:]), data["classes"][n_train:])
        path = out / f"{cfg.backbone}_synthavs.pth"
        torch.save(vis.backbone.state_dict(), path)
        seconds = time.perf_counter() - t1
        summary["visual"] = {"weights": str(path), "heldout_miou": round(miou, 4),
                             "loss_per_50_steps": [round(x, 4) for x in curve],
                             "seconds": round(seconds, 1),
                             "seconds_per_step": round(fit_s / cfg.visual_steps, 3)}
        log.info("visual pretext: held-out mIoU %.3f (%.0f s)", miou,
                 summary["visual"]["seconds"])

    if cfg.audio_steps > 0:
        t1 = time.perf_counter()
        aud = AudioPretext(cfg.audio_encoder)
        audio_lr = cfg.audio_lr or (VGGISH_LR if cfg.audio_encoder == "vggish" else cfg.lr)
        if cfg.audio_encoder == "vggish":          # MobileNetV2: unchanged (zero bias)
            aud.set_tag_prior(data["sounding"][:n_train])

        def audio_loss(model: AudioPretext, idx: torch.Tensor) -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(model(data["audio"][idx]),
                                                      data["sounding"][idx])

        # the MobileNetV2 pretext keeps the default AdamW: same weights for a seed as before
        curve, fit_s = _fit(aud, cfg.audio_steps, cfg.audio_batch_size, cfg, n_train,
                            audio_loss, "audio", progress, audio_lr,
                            fused=cfg.audio_encoder == "vggish")
        scores = _audio_scores(aud, data["audio"][n_train:], data["sounding"][n_train:])
        path = out / AUDIO_ENCODERS[cfg.audio_encoder]
        if cfg.audio_encoder == "mobilenetv2":
            state = dict(aud.encoder.state_dict())
            state.update({f"fc_audioset.{k}": v for k, v in aud.tag.state_dict().items()})
            torch.save({"model": state}, path)
        else:
            torch.save(aud.encoder.state_dict(), path)
        seconds = time.perf_counter() - t1
        summary["audio"] = {"weights": str(path), "heldout": scores, "lr": audio_lr,
                            "loss_per_50_steps": [round(x, 4) for x in curve],
                            "seconds": round(seconds, 1),
                            "seconds_per_step": round(fit_s / cfg.audio_steps, 3)}
        log.info("audio pretext: held-out %s (%.0f s)", scores, summary["audio"]["seconds"])

    summary["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "pretrain.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``avs pretrain`` (defaults: :class:`PretrainConfig`)."""
    d = PretrainConfig()
    parser.add_argument("--out", required=True, help="folder for the weights and pretrain.json")
    parser.add_argument("--backbone", default=d.backbone, choices=VISUAL_BACKBONES,
                        help="visual backbone: a SeaFormer size (LightAVSeg) or resnet18 "
                        f"(AVESFormer-R18) (default {d.backbone})")
    parser.add_argument("--audio-encoder", default=d.audio_encoder, choices=list(AUDIO_ENCODERS),
                        help="audio encoder: mobilenetv2 (LightAVSeg) or vggish (AVESFormer, "
                        f"AVSegFormer) (default {d.audio_encoder})")
    parser.add_argument("--image-size", type=int, nargs=2, default=list(d.image_size),
                        metavar=("H", "W"), help=f"visual input in px (default {d.image_size})")
    parser.add_argument("--clips", type=int, default=d.clips, help="clips composed")
    parser.add_argument("--seed", type=int, default=d.seed,
                        help="seed of the clips (keep it apart from the test split's)")
    parser.add_argument("--visual-steps", type=int, default=d.visual_steps)
    parser.add_argument("--audio-steps", type=int, default=d.audio_steps)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--audio-batch-size", type=int, default=d.audio_batch_size)
    parser.add_argument("--lr", type=float, default=d.lr, help=f"peak AdamW lr (default {d.lr})")
    parser.add_argument("--audio-lr", type=float, default=d.audio_lr,
                        help="peak lr of the audio pretext (default: --lr for mobilenetv2, "
                        f"{VGGISH_LR} for vggish)")
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--threads", type=int, default=d.threads)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Pretrain; print the summary (held-out scores, weight paths) as JSON. Returns 0, or 2
    for invalid arguments."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = PretrainConfig(backbone=args.backbone, audio_encoder=args.audio_encoder,
                         image_size=tuple(args.image_size),
                         clips=args.clips, seed=args.seed, visual_steps=args.visual_steps,
                         audio_steps=args.audio_steps, batch_size=args.batch_size,
                         audio_batch_size=args.audio_batch_size, lr=args.lr,
                         audio_lr=args.audio_lr,
                         workers=args.workers, threads=args.threads)
    bad = (["clips"] if cfg.clips < 2 else []) \
        + [k for k in ("batch_size", "audio_batch_size", "workers") if getattr(cfg, k) < 1] \
        + [k for k in ("visual_steps", "audio_steps", "threads", "audio_lr")
           if getattr(cfg, k) < 0]
    if bad or min(cfg.image_size) < 64 or any(s % 32 for s in cfg.image_size):
        print(f"avs pretrain: invalid {bad or 'image size'} (clips >= 2, other counts >= 1, "
              f"steps and audio lr >= 0, image size a multiple of 32 and >= 64 px; got "
              f"{asdict(cfg)})",
              file=sys.stderr)
        return 2
    summary = pretrain(cfg, args.out, progress=not args.no_progress)
    summary.pop("config")
    for part in ("visual", "audio"):
        if part in summary:
            summary[part].pop("loss_per_50_steps")
    print(json.dumps(summary, indent=1))
    return 0
