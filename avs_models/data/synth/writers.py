"""Writers of the three AVSBench on-disk layouts (S4, MS3, AVSS), one clip at a time.

The layouts are those of /work/shared/notes/AVSBENCH.md (the benchmark's released folders and
its public loaders), so the loaders in :mod:`avs_models.data.avsbench` read SynthAVS output
and the real data alike:

- S4, ``Single-source/``: ``s4_meta_data.csv`` (name, start, category, split) and
  ``s4_data/{visual_frames,gt_masks}/{split}/{category}/{name}/{name}_{k}.png`` (k = 1..5;
  train has only mask k = 1), ``s4_data/audio_wav/{split}/{category}/{name}.wav``,
  ``s4_data/audio_log_mel/{split}/{category}/{name}.pkl``. Masks are 8-bit 0/255 PNGs.
- MS3, ``Multi-sources/``: ``ms3_meta_data.csv`` (video_id, split),
  ``ms3_data/visual_frames/{name}/{name}.mp4_{k}.png`` (no split level),
  ``ms3_data/gt_masks/{split}/{name}/{name}_{k}.png`` (8-bit 0/255 PNGs, as S4: the official
  MS3 loader reads ``convert("P")`` / 255, which turns a palette index 1 into 1/255),
  ``ms3_data/audio_wav/{split}/{name}.wav``, ``ms3_data/audio_log_mel/{split}/{name}.pkl``.
- AVSS, ``AVSBench-semantic/``: ``metadata.csv`` (vid, uid, s_min, s_sec, a_obj, split,
  label), ``label2idx.json`` and per clip ``{label}/{uid}/frames/{i}.jpg`` (i from 0),
  ``labels_rgb/{i}.png`` (palette colours), ``labels_semantic/{i}.png`` (8-bit class ids),
  ``audio.wav``; a v1s clip of the train split has only mask 0, as in the benchmark.

Pickles hold a torch float32 tensor [5, 1, 96, 64] written with ``pickle.dump`` (what the
official loaders ``pickle.load`` and ``.detach()``), computed from the written 16-bit WAV by
our VGGish front end; a clip with fewer examples is padded by repeating its last one, as the
official preprocessing does. The CSV column ``start`` of S4 and the AVSS columns other than
uid/split/label are written for completeness; loaders do not use them.
"""
from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
import torch

from ..avss_palette import AVSS_CLASSES, index_to_rgb
from .sounds import SAMPLE_RATE

SUBSET_ROOTS = {"s4": "Single-source", "ms3": "Multi-sources", "avss": "AVSBench-semantic"}
CSV_NAMES = {"s4": "s4_meta_data.csv", "ms3": "ms3_meta_data.csv", "avss": "metadata.csv"}
CSV_HEADERS = {
    "s4": ("name", "start", "category", "split"),
    "ms3": ("video_id", "split"),
    "avss": ("vid", "uid", "s_min", "s_sec", "a_obj", "split", "label"),
}
_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
        cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]  # fast, ~70 KB per 224x224 frame


def _png_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), _PNG):
        raise OSError(f"could not write {path}")


def _png_gray(path: Path, gray: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), gray, _PNG):
        raise OSError(f"could not write {path}")


def _jpg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise OSError(f"could not write {path}")


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16 PCM samples (x 32768, rounded, clipped to the range)."""
    return np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def _wav(path: Path, audio: np.ndarray) -> np.ndarray:
    """Write float audio in [-1, 1] as 16-bit PCM; return the int16 samples written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = to_pcm16(audio)
    sf.write(str(path), pcm, SAMPLE_RATE, subtype="PCM_16")
    return pcm


def frame_examples(pcm: np.ndarray, n_examples: int) -> torch.Tensor:
    """int16 16 kHz PCM of a clip -> float32 [n_examples, 1, 96, 64]: VGGish example k for
    frame k, the last example repeated when the clip yields fewer (as the pre-computed
    AVSBench ``.pkl`` files hold one example per annotated frame)."""
    from ...audio.logmel import waveform_to_examples

    ex = waveform_to_examples(pcm, SAMPLE_RATE)
    if ex.shape[0] < n_examples:
        ex = torch.cat([ex, ex[-1:].expand(n_examples - ex.shape[0], -1, -1, -1)])
    return ex[:n_examples].contiguous().clone()


def _pkl(path: Path, pcm: np.ndarray, n_examples: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(frame_examples(pcm, n_examples), f)


def write_s4_clip(root: Path, name: str, split: str, category: str, frames, masks,
                  audio: np.ndarray) -> dict:
    """Write one S4 clip under ``root`` (the ``Single-source`` folder); returns its CSV row.

    ``frames``: 5 uint8 [224, 224, 3] RGB; ``masks``: 5 bool [224, 224] (only the first is
    written for the train split); ``audio``: float32 [80000] in [-1, 1].
    """
    d = root / "s4_data"
    for k, img in enumerate(frames, start=1):
        _png_rgb(d / "visual_frames" / split / category / name / f"{name}_{k}.png", img)
    for k, m in enumerate(masks[:1] if split == "train" else masks, start=1):
        _png_gray(d / "gt_masks" / split / category / name / f"{name}_{k}.png",
                  m.astype(np.uint8) * 255)
    pcm = _wav(d / "audio_wav" / split / category / f"{name}.wav", audio)
    _pkl(d / "audio_log_mel" / split / category / f"{name}.pkl", pcm, len(frames))
    return {"name": name, "start": 0, "category": category, "split": split}


def write_ms3_clip(root: Path, name: str, split: str, frames, masks, audio: np.ndarray) -> dict:
    """Write one MS3 clip under ``root`` (the ``Multi-sources`` folder); returns its CSV row.

    ``frames``: 5 uint8 [224, 224, 3] RGB; ``masks``: 5 bool [224, 224]; ``audio``: float32
    [80000] in [-1, 1]. Masks are 8-bit grey PNGs, 255 on sounding pixels.
    """
    d = root / "ms3_data"
    for k, img in enumerate(frames, start=1):
        _png_rgb(d / "visual_frames" / name / f"{name}.mp4_{k}.png", img)
    for k, m in enumerate(masks, start=1):
        _png_gray(d / "gt_masks" / split / name / f"{name}_{k}.png", m.astype(np.uint8) * 255)
    pcm = _wav(d / "audio_wav" / split / f"{name}.wav", audio)
    _pkl(d / "audio_log_mel" / split / f"{name}.pkl", pcm, len(frames))
    return {"video_id": name, "split": split}


def write_avss_clip(root: Path, vid: str, uid: str, split: str, label: str, frames,
                    semantic, audio: np.ndarray, a_obj: list[str]) -> dict:
    """Write one AVSS clip under ``root`` (the ``AVSBench-semantic`` folder); returns its row.

    ``frames``: 5 (v1s, v1m) or 10 (v2) uint8 [H, W, 3] RGB; ``semantic``: as many uint8
    [H, W] AVSS class-id maps (a v1s clip of the train split writes only the first);
    ``audio``: float32 in [-1, 1]; ``a_obj``: names of the classes heard in the clip.
    """
    d = root / label / uid
    for i, img in enumerate(frames):
        _jpg(d / "frames" / f"{i}.jpg", img)
    keep = semantic[:1] if (label == "v1s" and split == "train") else semantic
    for i, sem in enumerate(keep):
        _png_rgb(d / "labels_rgb" / f"{i}.png", index_to_rgb(sem))
        _png_gray(d / "labels_semantic" / f"{i}.png", sem.astype(np.uint8))
    _wav(d / "audio.wav", audio)
    return {"vid": vid, "uid": uid, "s_min": 0, "s_sec": 0, "a_obj": ",".join(a_obj),
            "split": split, "label": label}


def write_csv(root: Path, subset: str, rows: list[dict]) -> Path:
    """Write the subset's metadata CSV (and, for AVSS, ``label2idx.json``); returns the CSV."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / CSV_NAMES[subset]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_HEADERS[subset])
        w.writeheader()
        w.writerows(rows)
    if subset == "avss":
        with open(root / "label2idx.json", "w") as f:
            json.dump({name: i for i, name in enumerate(AVSS_CLASSES)}, f, indent=1)
    return path
