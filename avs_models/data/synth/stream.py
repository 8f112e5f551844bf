"""SynthAVS stream mode: a continuous scene for replay and rosbag writing.

A fixed set of 2-4 objects (distinct classes, as in the clips) drifts over a slowly panning
background, bouncing off the borders. Each object switches its sound on and off: it starts
silent or sounding with equal probability and stays in each state for 0.5-3 s (uniform), so
sounds start and stop independently of where the objects are or what they look like. Audio is
16 kHz mono float32 in [-1, 1], the sounding objects' class sounds (fresh events every second
for struck classes, one tone per interval for sustained ones) over a noise bed at a random SNR
in ``snr_db``.

Two options make the scene harder, as a robot's view is (both off by default, so a seed
gives the same stream as before they existed):

- ``offscreen``: sound sources that are never drawn (classes distinct from the drawn ones),
  with their own on/off intervals: heard, never segmented;
- ``exits``: objects bounce off a box one sprite larger than the frame on every side, so they
  leave the view and come back (partly visible on the way).

Frame k (k = 0, 1, ...) has stamp (k + 1) / fps seconds and carries the audio samples of
(stamp_{k-1}, stamp_k], so concatenating the chunks gives the whole track. Ground truth:
the visible pixels of the objects sounding at the frame's stamp (ours: the state at the stamp,
which the last 0.96 s of audio ends with; :mod:`avs_models.data.streams` derives the other
training rules from ``intervals``).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .classes import CLASSES
from .mixing import level_mix
from .scene import SceneObject
from .sounds import SAMPLE_RATE, class_sound, noise_bed
from .visuals import render_background, render_sprite


@dataclass(frozen=True)
class StreamFrame:
    """One frame of a SynthAVS stream.

    Attributes:
        stamp_s: time stamp in s from the stream start.
        image: uint8 [H, W, 3] RGB.
        mask: bool [H, W], True on visible pixels of objects sounding at ``stamp_s``.
        semantic: uint8 [H, W] AVSS class ids of those pixels, 0 elsewhere.
        audio: float32 [n] 16 kHz samples in (previous stamp, stamp_s].
        sounding: names of the classes sounding at ``stamp_s`` (sorted).
        instances: int16 [H, W]: 0 background, i + 1 on the visible pixels of object i
            (objects drawn in index order, later ones on top).
        sounding_ids: indices i of the objects sounding at ``stamp_s`` (sorted).
        n_objects: drawn objects in the stream.
        intervals: per drawn object i, its sounding intervals [start, end) in s (the same
            tuple for every frame of a stream).
        classes: per drawn object i, its class name.
        offscreen: per off-screen source, (class name, its sounding intervals in s).
    """

    stamp_s: float
    image: np.ndarray
    mask: np.ndarray
    semantic: np.ndarray
    audio: np.ndarray
    sounding: tuple[str, ...]
    instances: np.ndarray | None = None
    sounding_ids: tuple[int, ...] = ()
    n_objects: int = 0
    intervals: tuple[tuple[tuple[float, float], ...], ...] = ()
    classes: tuple[str, ...] = ()
    offscreen: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = ()


def _intervals(rng: np.random.Generator, duration_s: float) -> list[tuple[float, float]]:
    """Sounding intervals [start, end) in s: alternating states lasting 0.5-3 s each."""
    out, t, on = [], 0.0, bool(rng.random() < 0.5)
    while t < duration_s:
        d = rng.uniform(0.5, 3.0)
        if on:
            out.append((t, min(t + d, duration_s)))
        t, on = t + d, not on
    return out


def stream(duration_s: float, fps: float = 30.0, seed: int = 0,
           size: tuple[int, int] = (224, 224), snr_db: tuple[float, float] = (0.0, 20.0),
           n_objects: int | None = None, offscreen: int = 0,
           exits: bool = False) -> Iterator[StreamFrame]:
    """Yield the frames of a ``duration_s`` long SynthAVS scene at ``fps``.

    Args:
        duration_s: length in s (> 0); floor(duration_s * fps) frames are yielded.
        fps: frames per second (> 0).
        seed: random seed; equal arguments give identical streams.
        size: (H, W) of the images in px (>= 64 each).
        snr_db: range of the signal-to-noise ratio in dB (one draw per stream).
        n_objects: drawn objects in the scene (2-4 at random when None).
        offscreen: sound sources that are never drawn (0 = none).
        exits: objects may leave the view and come back.

    Raises ValueError for a non-positive duration or fps, a size below 64 px, n_objects
    outside 1..len(CLASSES) or more sources in all than classes.
    """
    if duration_s <= 0 or fps <= 0:
        raise ValueError(f"duration_s and fps must be > 0, got {duration_s}, {fps}")
    h, w = size
    if min(h, w) < 64:
        raise ValueError(f"frames must be at least 64x64 px, got {h}x{w}")
    rng = np.random.default_rng([seed, 0x57])
    n_obj = int(rng.integers(2, 5)) if n_objects is None else int(n_objects)
    if not 1 <= n_obj <= len(CLASSES):
        raise ValueError(f"n_objects must lie in 1..{len(CLASSES)}, got {n_objects}")
    if offscreen < 0 or n_obj + offscreen > len(CLASSES):
        raise ValueError(f"{n_obj} drawn objects and {offscreen} off-screen sources need "
                         f"distinct classes; there are {len(CLASSES)}")
    cls_ids = rng.choice(len(CLASSES), size=n_obj, replace=False)
    objs, pos, vel, on = [], [], [], []
    for c in cls_ids:
        rgb, mask = render_sprite(CLASSES[int(c)], rng, rng.uniform(0.22, 0.38) * min(h, w))
        objs.append(SceneObject(CLASSES[int(c)], rgb, mask,
                                pitch=float(2 ** (rng.uniform(-3, 3) / 12)),
                                gain_db=float(rng.uniform(-4, 4))))
        pos.append(rng.uniform([0, 0], [max(1, w - mask.shape[1]), max(1, h - mask.shape[0])]))
        vel.append(rng.normal(0, 30, 2))          # px / s
        on.append(_intervals(rng, duration_s))
    hidden = []                                  # off-screen sources: (object, intervals)
    if offscreen:
        rest = [c for c in range(len(CLASSES)) if c not in set(cls_ids.tolist())]
        for c in rng.choice(rest, size=offscreen, replace=False):
            hidden.append((SceneObject(CLASSES[int(c)], np.zeros((1, 1, 3), np.uint8),
                                       np.zeros((1, 1), bool),
                                       pitch=float(2 ** (rng.uniform(-3, 3) / 12)),
                                       gain_db=float(rng.uniform(-4, 4))),
                           _intervals(rng, duration_s)))

    n = int(round(duration_s * SAMPLE_RATE))
    signal = np.zeros(n, np.float32)
    active = np.zeros(n, bool)
    for o, ivals in list(zip(objs, on)) + hidden:
        for a_s, b_s in ivals:
            a, b = int(round(a_s * SAMPLE_RATE)), int(round(b_s * SAMPLE_RATE))
            step = SAMPLE_RATE if o.cls.pattern == "hits" else b - a
            for s in range(a, b, max(1, step)):
                e = min(b, s + step)
                signal[s:e] += class_sound(o.cls, rng, e - s, o.pitch) * 10 ** (o.gain_db / 20)
            active[a:b] = True
    sig_rms = float(np.sqrt(np.mean(signal[active] ** 2))) if active.any() else 0.1
    snr = rng.uniform(*snr_db)
    mix = signal + noise_bed(rng, n) * np.float32(sig_rms / 10 ** (snr / 20))
    mix = level_mix(mix)

    pad = 32
    bg = render_background(rng, h + 2 * pad, w + 2 * pad)
    pan = rng.normal(0, 4, 2)                      # px / s
    prev = 0
    intervals = tuple(tuple(iv) for iv in on)
    classes = tuple(o.cls.name for o in objs)
    hidden_rec = tuple((o.cls.name, tuple(iv)) for o, iv in hidden)
    for k in range(int(np.floor(duration_s * fps + 1e-9))):
        t = (k + 1) / fps
        ox = int(np.clip(pad + pan[0] * t, 0, 2 * pad))
        oy = int(np.clip(pad + pan[1] * t, 0, 2 * pad))
        img = bg[oy:oy + h, ox:ox + w].copy()
        inst = np.zeros((h, w), np.int16)
        for i, o in enumerate(objs):
            sh, sw = o.mask.shape
            p = pos[i] + vel[i] / fps
            for d, lo, hi in ((0, -sw if exits else 0, w if exits else w - sw),
                              (1, -sh if exits else 0, h if exits else h - sh)):
                if not lo <= p[d] <= max(lo, hi):
                    vel[i][d] = -vel[i][d]
                    p[d] = float(np.clip(p[d], lo, max(lo, hi)))
            pos[i] = p
            x, y = int(round(p[0])), int(round(p[1]))
            # the part of the sprite inside the frame (all of it unless ``exits``)
            x0, y0 = max(0, -x), max(0, -y)
            view = img[max(0, y):max(0, y + sh), max(0, x):max(0, x + sw)]
            iview = inst[max(0, y):max(0, y + sh), max(0, x):max(0, x + sw)]
            m = o.mask[y0:y0 + view.shape[0], x0:x0 + view.shape[1]]
            view[m] = o.rgb[y0:y0 + view.shape[0], x0:x0 + view.shape[1]][m]
            iview[m] = i + 1
        sounding = [i for i in range(n_obj) if any(a <= t < b for a, b in on[i])]
        semantic = np.zeros((h, w), np.uint8)
        for i in sounding:
            semantic[inst == i + 1] = objs[i].cls.avss_index
        end = min(n, int(round(t * SAMPLE_RATE)))
        chunk, prev = mix[prev:end].copy(), end
        yield StreamFrame(t, img, np.isin(inst, np.asarray(sounding, np.int16) + 1), semantic,
                          chunk, tuple(sorted(objs[i].cls.name for i in sounding)), inst,
                          tuple(sounding), n_obj, intervals, classes, hidden_rec)
