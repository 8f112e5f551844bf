"""Datasets for training and evaluation: the AVSBench loader a config names, an in-memory
cache of a decoded split, and the audio-swapped view used by the shuffled-audio check.

Samples are the loaders' dicts (:mod:`avs_models.data.avsbench`): ``image`` float32
[3, H, W] (ImageNet-normalised), ``audio`` float32 [1, 96, 64], ``mask`` float32 [1, H, W]
(binary) or int64 [H, W] (AVSS), ``clip``, ``frame``.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from ..contract import InputContract
from ..data.avsbench import AVSSDataset, MS3Dataset, S4Dataset
from ..data.streams import StreamFrames
from .config import Config


def input_contract(cfg: Config) -> InputContract:
    """The preset's input contract at ``cfg.model.image_size`` with the audio front end of
    ``cfg.model.audio_front_end`` (null: the preset's). Raises PresetError for an unknown
    preset."""
    from ..registry import get_preset

    contract = get_preset(cfg.model.preset).contract
    if cfg.model.audio_front_end:
        contract = contract.with_front_end(cfg.model.audio_front_end)
    return replace(contract, image_size=tuple(cfg.model.image_size))


def build_dataset(cfg: Config, split: str, train: bool) -> Dataset:
    """The loader of ``cfg.data.subset`` on ``split`` with :func:`input_contract` (image size,
    audio front end); random flips only when ``train``; wrapped in :class:`CachedFrames` when
    ``cfg.data.cache``. With ``cfg.data.streams`` the same split of the stream set follows
    the clips' frames (a ``ConcatDataset``), labelled by ``data.stream_target`` when
    ``train`` and by the stamp rule otherwise (the truth the node is judged by). Raises
    FileNotFoundError / AVSBenchFormatError from the loaders, ValueError for ``data.audio:
    pkl`` with a front end other than VGGish."""
    d = cfg.data
    contract = input_contract(cfg)
    flip = train and d.hflip
    if d.subset == "avss":
        sources = [AVSSDataset(d.root, split, contract=contract)]
    else:
        cls = S4Dataset if d.subset == "s4" else MS3Dataset
        sources = [cls(d.root, split, audio=d.audio, contract=contract)]
    if d.streams:
        sources.append(StreamFrames(d.streams, split, contract=contract,
                                    target=d.stream_target if train else "stamp",
                                    ignore_s=d.stream_ignore_s))
    out = []
    for ds in sources:
        if d.cache:
            ds = CachedFrames(ds, hflip=flip, hflip_p=d.hflip_p)
        else:
            ds.hflip, ds.hflip_p = flip, d.hflip_p
        out.append(ds)
    return out[0] if len(out) == 1 else ConcatDataset(out)


class CachedFrames(Dataset):
    """A loader's split decoded once and kept in memory.

    Images are stored as uint8 [N, 3, H, W] (exact: the loaders' images are 8-bit pixels
    / 255, normalised, so rounding recovers them), masks as uint8 (binary masks x 255: MS3
    masks are grey / 255, exact too) or int64 (AVSS)
    and log-mel as float32 [N, 1, 96, 64]: about N·(4·H·W + 24.6 kB) bytes for binary tasks.
    ``__getitem__`` re-normalises and applies the random flip (``torch.rand``, so worker
    seeding applies). ``samples`` and ``class_names`` (AVSS) are the source's.
    """

    def __init__(self, source, hflip: bool = False, hflip_p: float = 0.5) -> None:
        was = getattr(source, "hflip", False)
        source.hflip = False
        mean = torch.tensor(source.contract.image_mean).view(3, 1, 1)
        std = torch.tensor(source.contract.image_std).view(3, 1, 1)
        images, masks, audios, self.meta = [], [], [], []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)   # per-sample ops are tiny: a thread pool only waits (3x slower)
        try:
            for i in range(len(source)):
                s = source[i]
                px = ((s["image"] * std + mean) * 255.0).round().clamp(0, 255).to(torch.uint8)
                images.append(px)
                m = s["mask"]
                masks.append((m * 255.0).round().to(torch.uint8) if m.is_floating_point()
                             else m)
                audios.append(s["audio"])
                self.meta.append({k: s[k] for k in ("clip", "frame", "category", "split")})
        finally:
            torch.set_num_threads(threads)
            source.hflip = was
        self.images = torch.stack(images)
        self.masks = torch.stack(masks)
        self.audio = torch.stack(audios)
        self.samples = list(source.samples)
        self.contract = source.contract
        self.class_names = getattr(source, "class_names", None)
        self.hflip, self.hflip_p = hflip, hflip_p
        self._mean, self._std = mean, std
        self._binary = self.masks.dtype == torch.uint8

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> dict:
        image = (self.images[i].float() / 255.0 - self._mean) / self._std
        mask = self.masks[i].float() / 255.0 if self._binary else self.masks[i]
        if self.hflip and float(torch.rand(())) < self.hflip_p:
            image, mask = image.flip(-1), mask.flip(-1)
        return {"image": image, "audio": self.audio[i], "mask": mask, **self.meta[i]}


def other_clip_index(samples: list[tuple[int, int]], seed: int = 0) -> list[int]:
    """For each sample (clip index, frame) the index of a sample of *another* clip: the
    clips are put in a seeded random cycle (a permutation without fixed points) and sample
    (c, k) takes frame k of the next clip in the cycle (its last frame if it has fewer).
    Needs samples from at least two clips; raises ValueError otherwise."""
    clips = sorted({c for c, _ in samples})
    if len(clips) < 2:
        raise ValueError("the shuffled-audio check needs samples from at least two clips, got "
                         f"{len(clips)}")
    order = np.random.default_rng(seed).permutation(len(clips))
    nxt = {clips[order[i]]: clips[order[(i + 1) % len(order)]] for i in range(len(order))}
    by_clip: dict[int, dict[int, int]] = {}
    for idx, (c, k) in enumerate(samples):
        by_clip.setdefault(c, {})[k] = idx
    out = []
    for c, k in samples:
        frames = by_clip[nxt[c]]
        out.append(frames.get(k, frames[max(frames)]))
    return out


class AudioSwapped(Dataset):
    """The same frames and masks with the audio of another clip (:func:`other_clip_index`):
    the shuffled-audio check. A model that listens loses J on it."""

    def __init__(self, source, seed: int = 0) -> None:
        self.source = source
        self.index = other_clip_index(list(source.samples), seed)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict:
        s = dict(self.source[i])
        s["audio"] = self.source[self.index[i]]["audio"]
        return s
