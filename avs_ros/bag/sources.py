"""Timed camera frames and audio from SynthAVS's stream mode or an AVSBench split.

A source yields :class:`Frame` and :class:`Audio` items in stamp order (an audio piece before
the frame whose stamp it ends at). Audio pieces are contiguous 16 kHz mono float32 runs of any
length; the bag writer cuts them into messages. Stamps are integer ns from ``start_ns``.

AVSBench timing: clip ``c`` of ``n`` frames (n s) starts at ``start_ns + offset_c`` (clips back
to back) with its 16 kHz WAV (read as the loaders read it, zero-padded or cut to exactly n s).
Its 0-based frame ``k`` is stamped at the end of the audio AVSBench trains it with:
``clip start + (15360 k + 15600) / 16000`` s = 0.96 k + 0.975 s
(:func:`avs_models.data.avsbench.frame_audio_end`: VGGish example k of the clip, samples
[15360 k, 15360 k + 15600)). The node pairs a frame with the window ending at its stamp, so it
hears exactly the training window (VGGish: the same 15600 samples; PANNs: the last 15200 of
them). The frames themselves were extracted at about k + 15/16 s (``preprocess_s4.py``: the
16th of 16 samples per second), so the stamp is up to 122 ms away from the frame's own time
(+37.5 ms at k = 0, -122.5 ms at k = 4): that is how AVSBench pairs them, and what a model
trained on it expects. (Stamping frame k at ``clip start + k + 1`` s, as before, made the node
hear 0.025 + 0.04 k s later audio than training: 25 ms at k = 0 to 185 ms at k = 4, 385 ms at
k = 9 of a 10 s AVSS clip.)
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SAMPLE_RATE = 16000
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Frame:
    """A camera frame: ``image`` uint8 [H, W, 3] RGB; ``gt`` uint8 [H, W] class ids (binary
    tasks: 1 = sounding) or None; ``clip`` the name of the clip it belongs to; with depth
    (SynthAVS ``depth=True``): ``depth`` the sensor's uint16 [H, W] mm registered to the
    image, ``true_depth`` float32 [H, W] m without sensor errors, ``instances`` uint8 [H, W]
    (0 background, i + 1 object i) and ``camera`` the
    :class:`~avs_models.data.synth.depth.PinholeCamera`."""

    stamp_ns: int
    image: np.ndarray
    gt: np.ndarray | None
    clip: str
    depth: np.ndarray | None = None
    true_depth: np.ndarray | None = None
    instances: np.ndarray | None = None
    camera: object | None = None


@dataclass(frozen=True)
class Audio:
    """A contiguous run of 16 kHz mono float32 samples in [-1, 1] starting at ``stamp_ns``."""

    stamp_ns: int
    samples: np.ndarray


def _sample_ns(start_ns: int, index: int) -> int:
    return start_ns + (index * NS_PER_S + SAMPLE_RATE // 2) // SAMPLE_RATE


def synth_stream(duration_s: float, fps: float, seed: int = 0, size: tuple[int, int] = (224, 224),
                 gt: str = "binary", start_ns: int = 0, depth: bool = False,
                 offscreen: int = 0, exits: bool = False) -> Iterator[Frame | Audio]:
    """SynthAVS stream mode (:func:`avs_models.data.synth.stream.stream`) as timed items.

    Frame k has stamp ``start_ns + (k + 1) / fps`` s and follows the audio of
    (previous stamp, its stamp]; the audio track starts at ``start_ns``. ``gt``: ``"binary"``
    (1 on sounding objects) or ``"semantic"`` (AVSS class ids). ``depth``: add the scene's
    depth (:mod:`avs_models.data.synth.depth`: sensor and true depth, instances, camera).
    ``offscreen``, ``exits``: the stream mode's off-screen sources and exits.

    Raises:
        ValueError: see :func:`~avs_models.data.synth.stream.stream`; unknown ``gt``.
    """
    from avs_models.data.synth.depth import DepthScene, PinholeCamera
    from avs_models.data.synth.stream import stream

    if gt not in ("binary", "semantic"):
        raise ValueError(f"gt must be 'binary' or 'semantic', got {gt!r}")
    done = 0
    name = f"synth_stream_seed{seed}"
    camera, scene = PinholeCamera.with_fov(size), None
    for frame in stream(duration_s, fps=fps, seed=seed, size=size, offscreen=offscreen,
                        exits=exits):
        if frame.audio.size:
            yield Audio(_sample_ns(start_ns, done), frame.audio.astype(np.float32, copy=False))
            done += frame.audio.size
        mask = frame.mask.astype(np.uint8) if gt == "binary" else frame.semantic
        stamp = start_ns + int(round(frame.stamp_s * NS_PER_S))
        if not depth:
            yield Frame(stamp, frame.image, mask, name)
            continue
        scene = scene or DepthScene(camera, frame.n_objects, seed)
        yield Frame(stamp, frame.image, mask, name, scene.sensor_depth(frame.instances),
                    scene.true_depth(frame.instances), frame.instances.astype(np.uint8), camera)


def _wav_16k(path: Path, seconds: int) -> np.ndarray:
    from avs_models.data.avsbench import read_wav_16k

    mono = read_wav_16k(path)
    n = seconds * SAMPLE_RATE
    return np.pad(mono[:n], (0, max(0, n - mono.size))).astype(np.float32)


def avsbench(root: str | Path, task: str, split: str = "test", max_clips: int | None = None,
             start_ns: int = 0) -> Iterator[Frame | Audio]:
    """An AVSBench split (real or SynthAVS in the same layout) as timed items.

    Args:
        root: the task's folder (``Single-source``, ``Multi-sources`` or the AVSS folder).
        task: ``"s4"``, ``"ms3"`` or ``"avss"``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        max_clips: first clips of the split only (None: all).
        start_ns: stamp of the first clip's start.

    Every frame of a clip is written (5 per clip; AVSS v2: 10); ``gt`` is the annotated mask
    (binary for S4/MS3, AVSS class ids from the colour masks), None where the split has no
    annotation for that frame. Masks of another size than their frame are resized to it
    (nearest neighbour), as the benchmark resizes both to 224 x 224.

    Raises:
        ValueError: unknown task or split, an empty split.
        FileNotFoundError, AVSBenchFormatError: from the dataset readers (naming the file).
    """
    from PIL import Image

    from avs_models.data.avsbench import (AVSS_LABELS, AVSSDataset, MS3Dataset, S4Dataset,
                                          frame_audio_end)

    readers = {"s4": lambda: S4Dataset(root, split, audio="wav"),
               "ms3": lambda: MS3Dataset(root, split, audio="wav"),
               "avss": lambda: AVSSDataset(root, split)}
    if task not in readers:
        raise ValueError(f"task must be one of {sorted(readers)}, got {task!r}")
    ds = readers[task]()
    clips = ds.clips[:max_clips] if max_clips else ds.clips
    if not clips:
        raise ValueError(f"{ds.csv_path} lists no clips of split {split!r}")
    clip_start = start_ns
    for clip in clips:
        n = AVSS_LABELS[clip.label] if task == "avss" else 5
        annotated = set(ds._frames(clip))
        wav = ds._paths(clip, 0)[2]
        if not wav.is_file():
            raise FileNotFoundError(f"missing file {wav} (clip {clip.name!r}, {ds.csv_path} "
                                    f"line {clip.line})")
        yield Audio(clip_start, _wav_16k(wav, n))
        for k in range(n):
            frame_path, mask_path, _ = ds._paths(clip, k)
            with Image.open(frame_path) as img:
                rgb = np.asarray(img.convert("RGB"))
            gt = None
            if k in annotated:
                with Image.open(mask_path) as img:
                    img.load()
                    ids = ds._mask(img).numpy()
                gt = (ids[0] if ids.ndim == 3 else ids).astype(np.uint8)
                if gt.shape != rgb.shape[:2]:
                    gt = cv2.resize(gt, rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST)
            yield Frame(clip_start + _sample_ns(0, frame_audio_end(k)), rgb, gt, clip.name)
        clip_start += n * NS_PER_S
