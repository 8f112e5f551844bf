"""Training samples from SynthAVS streams (:mod:`avs_models.data.synth.stream_set`): every
stored frame paired with the audio window that ends at its stamp, as the node pairs them.

A frame's window straddles onsets and offsets, so "which objects sound in this frame" needs a
rule. Three are offered (``target``), all using the stored sounding intervals:

- ``"stamp"``: an object sounds if it sounds at the frame's stamp (the ground truth of
  ``avs bag --source synth-stream`` and of ``avs replay``; what the node should report);
- ``"majority"``: an object sounds if it sounds for at least half of the window;
- ``"ignore"``: as ``"stamp"``, but a frame is left out when a visible object switched on or
  off within the last ``ignore_s`` s before its stamp (the window's end holds too little of
  the new state to hear it).

docs/TRAINING.md ("Streams") gives the measurement behind the default (``"stamp"``).

Each sample is the loaders' dict (:mod:`avs_models.data.avsbench`): ``image`` float32
[3, H, W] ImageNet-normalised (bilinear to the contract's size), ``audio`` float32 [1, 96, 64]
(the contract's front end on the window of ``window_samples`` 16 kHz samples ending at
``round(stamp * 16000)``), ``mask`` float32 [1, H, W] in {0, 1} (nearest neighbour),
``clip`` (stream name), ``frame`` (k), ``category`` (""), ``split``. Frames whose window
would start before the stream (stamp < window) are not samples, as the node waits for a full
window.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..audio.front_ends import get_front_end
from ..contract import InputContract
from .avsbench import SAMPLE_RATE, SPLITS, AVSBenchFormatError, read_wav_16k

TARGETS = ("stamp", "majority", "ignore")


def sounding_at(intervals, t: float) -> bool:
    """True if ``t`` (s) lies in one of the [start, end) ``intervals`` (s)."""
    return any(a <= t < b for a, b in intervals)


def sounding_fraction(intervals, t: float, window_s: float) -> float:
    """Fraction of the window (t - window_s, t] covered by the [start, end) ``intervals``."""
    lo = t - window_s
    return sum(max(0.0, min(b, t) - max(a, lo)) for a, b in intervals) / window_s


def last_change(intervals, t: float) -> float:
    """Seconds since the last on/off switch at or before ``t`` (inf when none: the state
    held since the stream began; a start at 0 is not a switch)."""
    edges = [e for a, b in intervals for e in (a, b) if 0.0 < e <= t]
    return t - max(edges) if edges else float("inf")


class StreamFrames(Dataset):
    """The frames of one split of a stream set, as training samples.

    Args:
        root: the set's ``Streams`` folder.
        split: ``"train"``, ``"val"`` or ``"test"``.
        contract: input contract (image size, front end); default 224 x 224, VGGish.
        target: ground-truth rule (module docstring).
        ignore_s: the ``"ignore"`` rule's band in s (> 0).
        hflip, hflip_p: random horizontal flip of image and mask.

    Raises:
        ValueError: bad split, target, band or flip probability.
        FileNotFoundError: missing ``streams.csv``, ``stream.json``, WAV or image (named).
        AVSBenchFormatError: a malformed ``streams.csv`` row or ``stream.json``.
    """

    def __init__(self, root: str | Path, split: str, *, contract: InputContract | None = None,
                 target: str = "stamp", ignore_s: float = 0.25, hflip: bool = False,
                 hflip_p: float = 0.5) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        if ignore_s <= 0 or not 0.0 <= hflip_p <= 1.0:
            raise ValueError(f"ignore_s must be > 0 and hflip_p in [0, 1], got {ignore_s}, "
                             f"{hflip_p}")
        self.root, self.split, self.target, self.ignore_s = Path(root), split, target, ignore_s
        self.hflip, self.hflip_p = hflip, float(hflip_p)
        self.contract = contract or InputContract()
        self._front_end = get_front_end(self.contract.audio_front_end)
        self.window_s = self._front_end.window_samples / SAMPLE_RATE
        csv_path = self.root / "streams.csv"
        if not csv_path.is_file():
            raise FileNotFoundError(f"stream set index not found: {csv_path} (written by "
                                    "`avs synth --subset streams`)")
        self.streams: list[dict] = []
        with open(csv_path, newline="") as f:
            for line, row in enumerate(csv.DictReader(f), start=2):
                try:
                    if row["split"] == split:
                        self.streams.append(self._read_stream(row["name"]))
                except (KeyError, TypeError, ValueError) as e:
                    raise AVSBenchFormatError(f"{csv_path} line {line}: {e}") from e
        #: (stream index, frame k) per sample; ``labels[i]`` the sounding object ids
        self.samples: list[tuple[int, int]] = []
        self.labels: list[tuple[int, ...]] = []
        for si, s in enumerate(self.streams):
            for k in range(s["frames"]):
                ids = self._sounding(s, k)
                if ids is not None:
                    self.samples.append((si, k))
                    self.labels.append(ids)
        self._wavs: dict[int, np.ndarray] = {}
        self._mean = torch.tensor(self.contract.image_mean).view(3, 1, 1)
        self._std = torch.tensor(self.contract.image_std).view(3, 1, 1)

    def _read_stream(self, name: str) -> dict:
        folder = self.root / self.split / name
        path = folder / "stream.json"
        if not path.is_file():
            raise FileNotFoundError(f"missing file {path} (stream {name!r} of {self.root})")
        rec = json.loads(path.read_text())
        frames, fps = int(rec["frames"]), float(rec["fps"])
        if len(rec["visible"]) != frames or fps <= 0:
            raise AVSBenchFormatError(f"{path}: {len(rec['visible'])} visibility rows for "
                                      f"{frames} frames at {fps} fps")
        return {"name": name, "folder": folder, "fps": fps, "frames": frames,
                "intervals": [[tuple(iv) for iv in o["intervals"]] for o in rec["objects"]],
                "visible": [set(v) for v in rec["visible"]]}

    def _sounding(self, s: dict, k: int) -> tuple[int, ...] | None:
        """Sounding object ids of frame k under the rule; None when it is not a sample."""
        t = (k + 1) / s["fps"]
        if t < self.window_s - 1e-9:
            return None
        ivs = s["intervals"]
        if self.target == "majority":
            return tuple(i for i, iv in enumerate(ivs)
                         if sounding_fraction(iv, t, self.window_s) >= 0.5)
        if self.target == "ignore" and any(last_change(ivs[i], t) < self.ignore_s
                                           for i in s["visible"][k]):
            return None
        return tuple(i for i, iv in enumerate(ivs) if sounding_at(iv, t))

    def __len__(self) -> int:
        return len(self.samples)

    def _wav(self, si: int) -> np.ndarray:
        if si not in self._wavs:
            path = self.streams[si]["folder"] / "audio.wav"
            if not path.is_file():
                raise FileNotFoundError(f"missing file {path}")
            self._wavs[si] = read_wav_16k(path).astype(np.float32)
        return self._wavs[si]

    def _image(self, path: Path, mask: bool) -> Image.Image:
        if not path.is_file():
            raise FileNotFoundError(f"missing file {path}")
        img = Image.open(path)
        h, w = self.contract.image_size
        if img.size != (w, h):
            img = img.resize((w, h), Image.NEAREST if mask else Image.BILINEAR)
        return img

    def __getitem__(self, index: int) -> dict:
        si, k = self.samples[index]
        s = self.streams[si]
        img = self._image(s["folder"] / "frames" / f"{k:05d}.jpg", False).convert("RGB")
        image = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        image = (image - self._mean) / self._std
        inst = np.asarray(self._image(s["folder"] / "instances" / f"{k:05d}.png", True))
        ids = np.asarray(self.labels[index], dtype=np.int64) + 1
        mask = torch.from_numpy(np.isin(inst, ids).astype(np.float32))[None]
        wav = self._wav(si)
        end = int(round((k + 1) / s["fps"] * SAMPLE_RATE))
        window = wav[max(0, end - self._front_end.window_samples):end]
        if window.size < self._front_end.window_samples:     # a track cut short: pad silence
            window = np.pad(window, (self._front_end.window_samples - window.size, 0))
        audio = torch.from_numpy(self._front_end.patch(window)[0])
        if self.hflip and float(torch.rand(())) < self.hflip_p:
            image, mask = image.flip(-1), mask.flip(-1)
        return {"image": image.contiguous(), "audio": audio, "mask": mask.contiguous(),
                "clip": s["name"], "frame": k, "category": "", "split": self.split}
