"""AVSBench datasets (S4, MS3, AVSS) read from the official on-disk layouts, one annotated
frame per sample (the real-time setting, T = 1).

Layouts and split rules are those of /work/shared/notes/AVSBENCH.md (the benchmark's released
folders and its public loaders): S4 train annotates only frame 1 (semi-supervised), S4 val/test
and MS3 all 5 frames; AVSS v1s clips of the train split only frame 0, all other AVSS clips all
of their 5 (v1s, v1m) or 10 (v2) frames. Frames without a ground-truth mask are not samples.

Each sample is a dict:

- ``image``: float32 [3, H, W] RGB, ImageNet-normalised with the contract's mean/std
  (H, W = ``contract.image_size``, 224 x 224 by default);
- ``audio``: float32 [1, 96, 64] VGGish log-mel example of the frame's second: example k - 1
  for (1-based) frame k, from the pre-computed ``.pkl`` ([5, 1, 96, 64], as the official
  loaders read it) or computed from the ``.wav`` by :func:`avs_models.audio.logmel.
  waveform_to_examples`; a clip with fewer examples than frames repeats its last example, as
  the benchmark's preprocessing does;
- ``mask``: float32 [1, H, W] in {0, 1} (S4, MS3) or int64 [H, W] AVSS class ids (AVSS);
- ``clip`` (name / uid), ``frame`` (0-based index), ``category`` (S4 category, ``""`` for MS3,
  the AVSS ``label`` v1s/v1m/v2), ``split``.

Geometry: S4/MS3 frames are stored at 224 x 224; other sizes are resized (bilinear for
images, nearest for masks). AVSS (as its official loader): train resizes the short side to
224 and centre-crops, val/test resize to 224 x 224; nearest for masks. With ``hflip`` the image
and its mask are flipped together with probability ``hflip_p`` (AVESFormer trains with
horizontal flip; the draw uses ``torch.rand`` so DataLoader worker seeding applies).

Errors: a malformed CSV row raises :class:`AVSBenchFormatError` naming the CSV file, its
line number and the problem; a missing file raises ``FileNotFoundError`` naming the path and
the CSV line of the clip that needs it. The pickles are read with ``pickle.load`` as the
official code does: only load datasets you trust.
"""
from __future__ import annotations

import csv
import json
import pickle
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..contract import InputContract
from .avss_palette import rgb_to_index

SPLITS = ("train", "val", "test")
AVSS_LABELS = {"v1s": 5, "v1m": 5, "v2": 10}   # label -> frames per clip


class AVSBenchFormatError(ValueError):
    """A metadata CSV (or another dataset file) does not have the expected content."""


@dataclass(frozen=True)
class _Clip:
    name: str
    category: str
    split: str
    line: int          # 1-based line of the clip's row in the CSV (header = line 1)
    label: str = ""    # AVSS label (v1s / v1m / v2)


def _read_csv(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise FileNotFoundError(f"AVSBench metadata CSV not found: {path}")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise AVSBenchFormatError(f"{path}: empty file, expected a header row") from None
        missing = [c for c in required if c not in header]
        if missing:
            raise AVSBenchFormatError(f"{path} line 1: header {header} lacks columns {missing}")
        rows = []
        for values in reader:
            line = reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise AVSBenchFormatError(
                    f"{path} line {line}: {len(values)} fields, header has {len(header)} "
                    f"({values!r})")
            rows.append((line, dict(zip(header, (v.strip() for v in values)))))
    return rows


def _check(cond: bool, path: Path, line: int, msg: str) -> None:
    if not cond:
        raise AVSBenchFormatError(f"{path} line {line}: {msg}")


def _open(path: Path, clip: _Clip, csv_path: Path) -> Image.Image:
    if not path.is_file():
        raise FileNotFoundError(
            f"missing file {path} (clip {clip.name!r}, {csv_path} line {clip.line})")
    img = Image.open(path)
    img.load()
    return img


class _AVSBenchFrames(Dataset, ABC):
    """Shared machinery: one sample per annotated frame of the selected split."""

    csv_name: str

    def __init__(self, root: str | Path, split: str, *, hflip: bool = False,
                 hflip_p: float = 0.5, contract: InputContract | None = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not 0.0 <= hflip_p <= 1.0:
            raise ValueError(f"hflip_p must lie in [0, 1], got {hflip_p}")
        self.root = Path(root)
        self.split = split
        self.hflip = hflip
        self.hflip_p = float(hflip_p)
        self.contract = contract or InputContract()
        self.csv_path = self.root / self.csv_name
        self.clips = [c for c in self._parse(self.csv_path) if c.split == split]
        self.samples = [(ci, k) for ci, c in enumerate(self.clips) for k in self._frames(c)]
        mean = torch.tensor(self.contract.image_mean, dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(self.contract.image_std, dtype=torch.float32).view(3, 1, 1)
        self._mean, self._std = mean, std

    # --- per-layout parts --------------------------------------------------------------
    @abstractmethod
    def _parse(self, path: Path) -> list[_Clip]:
        """All clips of the CSV at ``path`` (every split), rows checked."""

    @abstractmethod
    def _frames(self, clip: _Clip) -> list[int]:
        """0-based indices of the clip's annotated frames."""

    @abstractmethod
    def _paths(self, clip: _Clip, k: int) -> tuple[Path, Path, Path]:
        """(frame, mask, audio) paths of 0-based frame k; audio is a .pkl or .wav."""

    # --- shared -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.samples)

    def _audio(self, path: Path, clip: _Clip, k: int) -> torch.Tensor:
        if not path.is_file():
            raise FileNotFoundError(
                f"missing file {path} (clip {clip.name!r}, {self.csv_path} line {clip.line})")
        if path.suffix == ".pkl":
            with open(path, "rb") as f:
                data = pickle.load(f)
            ex = torch.as_tensor(data.detach() if isinstance(data, torch.Tensor) else data)
        else:
            import soundfile as sf

            from ..audio.logmel import waveform_to_examples

            wav, sr = sf.read(str(path), dtype="int16", always_2d=True)
            ex = waveform_to_examples(np.ascontiguousarray(wav.T), int(sr))
        if ex.dim() != 4 or tuple(ex.shape[1:]) != (1, 96, 64) or ex.shape[0] < 1:
            raise AVSBenchFormatError(
                f"{path}: expected log-mel examples [N >= 1, 1, 96, 64], got "
                f"{tuple(ex.shape)} (clip {clip.name!r}, {self.csv_path} line {clip.line})")
        return ex[min(k, ex.shape[0] - 1)].to(torch.float32).clone()

    def _geometry(self, img: Image.Image, is_mask: bool) -> Image.Image:
        h, w = self.contract.image_size
        if img.size != (w, h):
            img = img.resize((w, h), Image.NEAREST if is_mask else Image.BILINEAR)
        return img

    def _mask(self, img: Image.Image) -> torch.Tensor:
        """Binary mask float32 [1, H, W]: palette images non-zero index, others (L, 1, RGB)
        grey >= 128."""
        if img.mode == "P":
            m = np.asarray(img) != 0
        elif img.mode == "1":
            m = np.asarray(img).astype(bool)
        else:
            m = np.asarray(img.convert("L")) >= 128
        return torch.from_numpy(m.astype(np.float32))[None]

    def __getitem__(self, index: int) -> dict:
        ci, k = self.samples[index]
        clip = self.clips[ci]
        frame_path, mask_path, audio_path = self._paths(clip, k)
        img = self._geometry(_open(frame_path, clip, self.csv_path).convert("RGB"), False)
        image = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        image = (image - self._mean) / self._std
        mask = self._mask(self._geometry(_open(mask_path, clip, self.csv_path), True))
        audio = self._audio(audio_path, clip, k)
        if self.hflip and float(torch.rand(())) < self.hflip_p:
            image, mask = image.flip(-1), mask.flip(-1)
        return {"image": image.contiguous(), "audio": audio, "mask": mask.contiguous(),
                "clip": clip.name, "frame": k, "category": clip.category or clip.label,
                "split": clip.split}


class _ObjectFrames(_AVSBenchFrames):
    """AVSBench-object layouts (S4, MS3): audio from the official log-mel pickle or the WAV."""

    def __init__(self, root, split, *, audio: str = "pkl", **kw) -> None:
        if audio not in ("pkl", "wav"):
            raise ValueError(f"audio must be 'pkl' or 'wav', got {audio!r}")
        self.audio_source = audio
        super().__init__(root, split, **kw)

    def _audio_path(self, data_dir: Path, rel: Path, name: str) -> Path:
        """``{data_dir}/audio_log_mel/{rel}/{name}.pkl`` or ``.../audio_wav/{rel}/{name}.wav``."""
        folder = "audio_log_mel" if self.audio_source == "pkl" else "audio_wav"
        return data_dir / folder / rel / f"{name}.{self.audio_source}"


class S4Dataset(_ObjectFrames):
    """AVSBench-object single-source (S4), ``root`` = the ``Single-source`` folder.

    Reads ``s4_meta_data.csv`` (columns ``name`` - or the first column -, ``category``,
    ``split``) and ``s4_data/{visual_frames,gt_masks}/{split}/{category}/{name}/{name}_{k}.png``,
    ``s4_data/audio_log_mel/...{name}.pkl`` or ``s4_data/audio_wav/...{name}.wav``.
    Train: frame 1 only (the only annotated one); val/test: frames 1..5.

    Args:
        root: dataset folder; split: train / val / test; audio: ``"pkl"`` (default, the
        official pre-computed log-mel) or ``"wav"`` (our front end on the WAV); hflip, hflip_p:
        random horizontal flip; contract: image size and normalisation (default InputContract()).
    """

    csv_name = "s4_meta_data.csv"

    def _parse(self, path):
        clips = []
        for line, row in _read_csv(path, ("category", "split")):
            name = row.get("name", next(iter(row.values())))
            _check(bool(name), path, line, "empty clip name")
            _check(bool(row["category"]), path, line, "empty category")
            _check(row["split"] in SPLITS, path, line,
                   f"split {row['split']!r} is not one of {SPLITS}")
            clips.append(_Clip(name, row["category"], row["split"], line))
        return clips

    def _frames(self, clip):
        return [0] if clip.split == "train" else list(range(5))

    def _paths(self, clip, k):
        d = self.root / "s4_data"
        rel = Path(clip.split) / clip.category
        name = f"{clip.name}_{k + 1}.png"
        return (d / "visual_frames" / rel / clip.name / name,
                d / "gt_masks" / rel / clip.name / name,
                self._audio_path(d, rel, clip.name))


class MS3Dataset(_ObjectFrames):
    """AVSBench-object multi-source (MS3), ``root`` = the ``Multi-sources`` folder.

    Reads ``ms3_meta_data.csv`` (clip name in the first column - ``video_id`` in the release -,
    ``split``), ``ms3_data/visual_frames/{name}/{name}.mp4_{k}.png`` (no split level),
    ``ms3_data/gt_masks/{split}/{name}/{name}_{k}.png`` (palette PNGs, non-zero = sounding),
    ``ms3_data/audio_log_mel/{split}/{name}.pkl`` or ``audio_wav/{split}/{name}.wav``.
    All 5 frames are samples in every split. Arguments as :class:`S4Dataset`.
    """

    csv_name = "ms3_meta_data.csv"

    def _parse(self, path):
        clips = []
        for line, row in _read_csv(path, ("split",)):
            name = next(iter(row.values()))
            _check(bool(name), path, line, "empty clip name")
            _check(row["split"] in SPLITS, path, line,
                   f"split {row['split']!r} is not one of {SPLITS}")
            clips.append(_Clip(name, "", row["split"], line))
        return clips

    def _frames(self, clip):
        return list(range(5))

    def _paths(self, clip, k):
        d = self.root / "ms3_data"
        return (d / "visual_frames" / clip.name / f"{clip.name}.mp4_{k + 1}.png",
                d / "gt_masks" / clip.split / clip.name / f"{clip.name}_{k + 1}.png",
                self._audio_path(d, Path(clip.split), clip.name))


class AVSSDataset(_AVSBenchFrames):
    """AVSBench-semantic (AVSS), ``root`` = the folder holding ``metadata.csv``,
    ``label2idx.json`` and the ``v1s``, ``v1m``, ``v2`` clip folders.

    Per clip ``{label}/{uid}/frames/{i}.jpg``, ``labels_rgb/{i}.png`` (colour masks, mapped to
    class ids through the palette as the official loader does) and ``audio.wav`` (log-mel by
    our front end, example i for frame i). Masks are int64 [H, W] class ids in
    [0, len(label2idx)). Arguments as :class:`S4Dataset` without ``audio``.
    """

    csv_name = "metadata.csv"

    def __init__(self, root, split, **kw) -> None:
        label_path = Path(root) / "label2idx.json"
        if not label_path.is_file():
            raise FileNotFoundError(f"AVSS class table not found: {label_path}")
        with open(label_path) as f:
            self.class_names = list(json.load(f))
        super().__init__(root, split, **kw)

    @property
    def num_classes(self) -> int:
        """Classes including the background (71 for AVSBench-semantic)."""
        return len(self.class_names)

    def _parse(self, path):
        clips = []
        for line, row in _read_csv(path, ("uid", "split", "label")):
            _check(bool(row["uid"]), path, line, "empty uid")
            _check(row["split"] in SPLITS, path, line,
                   f"split {row['split']!r} is not one of {SPLITS}")
            _check(row["label"] in AVSS_LABELS, path, line,
                   f"label {row['label']!r} is not one of {tuple(AVSS_LABELS)}")
            clips.append(_Clip(row["uid"], "", row["split"], line, row["label"]))
        return clips

    def _frames(self, clip):
        if clip.label == "v1s" and clip.split == "train":
            return [0]
        return list(range(AVSS_LABELS[clip.label]))

    def _paths(self, clip, k):
        d = self.root / clip.label / clip.name
        return d / "frames" / f"{k}.jpg", d / "labels_rgb" / f"{k}.png", d / "audio.wav"

    def _geometry(self, img, is_mask):
        h, w = self.contract.image_size
        resample = Image.NEAREST if is_mask else Image.BILINEAR
        if self.split != "train":
            return img.resize((w, h), resample) if img.size != (w, h) else img
        iw, ih = img.size   # short side to the target (truncating, as official), centre crop
        if iw * h >= ih * w:
            oh, ow = h, int(1.0 * iw * h / ih)
        else:
            ow, oh = w, int(1.0 * ih * w / iw)
        if (ow, oh) != (iw, ih):
            img = img.resize((ow, oh), resample)
        x1, y1 = int(round((ow - w) / 2.0)), int(round((oh - h) / 2.0))
        return img.crop((x1, y1, x1 + w, y1 + h))

    def _mask(self, img):
        """Class ids int64 [H, W] from the colour mask (palette lookup, unknown colours 0)."""
        return torch.from_numpy(rgb_to_index(np.asarray(img.convert("RGB")), self.num_classes))
