"""AVSBench datasets (S4, MS3, AVSS) read from the official on-disk layouts, one annotated
frame per sample (the real-time setting, T = 1).

Layouts and split rules are those of /work/shared/notes/AVSBENCH.md (the benchmark's released
folders and its public loaders): S4 train annotates only frame 1 (semi-supervised), S4 val/test
and MS3 all 5 frames; AVSS v1s clips of the train split only frame 0, all other AVSS clips all
of their 5 (v1s, v1m) or 10 (v2) frames. Frames without a ground-truth mask are not samples.

Each sample is a dict:

- ``image``: float32 [3, H, W] RGB, ImageNet-normalised with the contract's mean/std
  (H, W = ``contract.image_size``, 224 x 224 by default);
- ``audio``: float32 [1, 96, 64] log-mel patch of the contract's front end
  (``contract.audio_front_end``, :mod:`avs_models.audio.front_ends`) of the frame's audio
  window. Alignment (AVSBench's preprocessing, ``preprocess_scripts/preprocess_s4.py`` and
  ``avss/torchvggish/vggish.py``: VGGish examples of the whole 16 kHz clip, example k for
  0-based frame k): frame k is trained with the 16 kHz samples [15360 k, 15360 k + 15600),
  the 0.975 s window that ends at :func:`frame_audio_end` (k) = 0.96 k + 0.975 s. VGGish
  reads it from the pre-computed ``.pkl`` ([5, 1, 96, 64], as the official S4/MS3 loaders do)
  or computes it from the ``.wav``; PANNs computes its 15200-sample window ending at the same
  sample from the ``.wav``. A clip whose audio gives fewer VGGish examples than frames
  repeats its last example in S4/MS3 (what the preprocessing wrote into the ``.pkl``) and
  gets an all-zero patch in AVSS (what the AVSS code feeds its model);
- ``mask``: S4 float32 [1, H, W] in {0, 1}: PIL ``convert("1")`` of the PNG (the official S4
  loader); MS3 float32 [1, H, W] = PIL ``convert("P")`` value / 255 (the official MS3 loader:
  torchvision ``ToTensor`` of the palette image; the release's 0/255 masks read as {0, 1});
  AVSS int64 [H, W] class ids (the colour of ``labels_rgb`` looked up in the palette, colours
  not in it read as 0, as the official ``color_mask_to_label``);
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
from math import gcd
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..audio.front_ends import get_front_end
from ..contract import InputContract
from .avss_palette import rgb_to_index

SPLITS = ("train", "val", "test")
AVSS_LABELS = {"v1s": 5, "v1m": 5, "v2": 10}   # label -> frames per clip
SAMPLE_RATE = 16000          # Hz of AVSBench's audio_wav files and of our audio path
#: 16 kHz samples between the starts of consecutive VGGish examples (96 hops of 160)
EXAMPLE_HOP = 15360
#: 16 kHz samples of one VGGish example (95 hops + one 400-sample frame)
EXAMPLE_SAMPLES = 15600


def frame_audio_end(k: int) -> int:
    """16 kHz sample (from the clip's start) at which the audio AVSBench trains 0-based frame
    ``k`` with ends: the end of VGGish example k, ``15360 k + 15600`` (0.96 k + 0.975 s)."""
    return EXAMPLE_HOP * int(k) + EXAMPLE_SAMPLES


def num_examples(samples: int) -> int:
    """VGGish examples in a clip of ``samples`` 16 kHz samples (``vggish_input``: 10 ms frames
    of 400 samples, non-overlapping 96-frame examples, incomplete tails dropped)."""
    return 0 if samples < 400 else (1 + (samples - 400) // 160) // 96


def read_wav_16k(path: str | Path) -> np.ndarray:
    """A WAV file -> float64 [N] mono 16 kHz samples in [-1, 1]: int16 PCM / 32768 (as
    ``vggish_input.wavfile_to_examples`` reads it), channels averaged, other rates resampled
    with ``scipy.signal.resample_poly`` (the official code uses resampy)."""
    import soundfile as sf

    wav, sr = sf.read(str(path), dtype="int16", always_2d=True)
    data = wav.astype(np.float64).mean(axis=1) / 32768.0
    if sr != SAMPLE_RATE:
        from scipy.signal import resample_poly

        g = gcd(int(sr), SAMPLE_RATE)
        data = resample_poly(data, SAMPLE_RATE // g, int(sr) // g)
    return data


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
    #: a frame past the clip's last VGGish example: "repeat" the last one or "zeros"
    short_audio: str = "repeat"

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
        self._front_end = get_front_end(self.contract.audio_front_end)
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
        where = f"(clip {clip.name!r}, {self.csv_path} line {clip.line})"
        if not path.is_file():
            raise FileNotFoundError(f"missing file {path} {where}")
        if path.suffix == ".pkl":
            with open(path, "rb") as f:
                data = pickle.load(f)
            ex = torch.as_tensor(data.detach() if isinstance(data, torch.Tensor) else data)
            if ex.dim() != 4 or tuple(ex.shape[1:]) != (1, 96, 64) or ex.shape[0] < 1:
                raise AVSBenchFormatError(f"{path}: expected log-mel examples [N >= 1, 1, 96, "
                                          f"64], got {tuple(ex.shape)} {where}")
            return ex[min(k, ex.shape[0] - 1)].to(torch.float32).clone()
        wav = read_wav_16k(path)
        count = num_examples(wav.size)
        if k >= count:
            if self.short_audio == "zeros":
                return torch.zeros(1, 96, 64)
            if count == 0:
                raise AVSBenchFormatError(f"{path}: {wav.size} samples at 16 kHz give no "
                                          f"0.96 s log-mel example {where}")
            k = count - 1
        end = frame_audio_end(k)
        window = wav[end - self._front_end.window_samples:end]
        return torch.from_numpy(self._front_end.patch(window)[0])

    def _geometry(self, img: Image.Image, is_mask: bool) -> Image.Image:
        h, w = self.contract.image_size
        if img.size != (w, h):
            img = img.resize((w, h), Image.NEAREST if is_mask else Image.BILINEAR)
        return img

    @abstractmethod
    def _mask(self, img: Image.Image) -> torch.Tensor:
        """The subset's official mask rule (see the module docstring)."""

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
        if audio == "pkl" and self._front_end.name != "vggish":
            raise ValueError(f"audio='pkl' reads AVSBench's pre-computed VGGish log-mel, but the "
                             f"contract's front end is {self._front_end.name!r}: use audio='wav'")

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

    def _mask(self, img):
        """float32 [1, H, W] in {0, 1}: ``img.convert("1")`` (PIL's 1-bit conversion, dithered
        from greys other than 0/255), read as the official loader's ``ToTensor`` does."""
        return torch.from_numpy(np.asarray(img.convert("1"), dtype=np.float32))[None]

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
    ``ms3_data/gt_masks/{split}/{name}/{name}_{k}.png`` (8-bit greys, 255 = sounding),
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

    def _mask(self, img):
        """float32 [1, H, W]: ``img.convert("P")`` values / 255 (the official loader's
        ``ToTensor`` of a palette image): the release's 0/255 greys read as {0, 1}."""
        return torch.from_numpy(np.asarray(img.convert("P"), dtype=np.float32) / 255.0)[None]

    def _paths(self, clip, k):
        d = self.root / "ms3_data"
        return (d / "visual_frames" / clip.name / f"{clip.name}.mp4_{k + 1}.png",
                d / "gt_masks" / clip.split / clip.name / f"{clip.name}_{k + 1}.png",
                self._audio_path(d, Path(clip.split), clip.name))


class AVSSDataset(_AVSBenchFrames):
    """AVSBench-semantic (AVSS), ``root`` = the folder holding ``metadata.csv``,
    ``label2idx.json`` and the ``v1s``, ``v1m``, ``v2`` clip folders.

    Per clip ``{label}/{uid}/frames/{i}.jpg``, ``labels_rgb/{i}.png`` (colour masks, mapped to
    class ids through the palette as the official loader does) and ``audio.wav`` (the
    contract's front end on frame i's window; an all-zero patch for a frame past the clip's
    last VGGish example, as the official code pads). Masks are int64 [H, W] class ids in
    [0, len(label2idx)). Arguments as :class:`S4Dataset` without ``audio``.
    """

    csv_name = "metadata.csv"
    short_audio = "zeros"

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
