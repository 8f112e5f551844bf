"""SynthAVS clip composition: objects, their motion, which of them sound, frames and masks.

A clip is ``n_frames`` annotated frames (one per second, as AVSBench samples its videos) of
2-4 objects of distinct classes moving a little over a slowly panning background. Per frame
the sounding set is drawn so that it carries no visual cue (ours, to make audio necessary):

- every object present is equally likely to sound, whatever its class, size or place;
- ``single`` (S4, AVSS v1s): exactly one object sounds per frame; the first frame's sounding
  class is the clip's category; afterwards the sounding object switches with probability 0.35;
- ``multi`` (MS3, AVSS v1m/v2): per frame 0 objects sound with p 0.05, all with p 0.07,
  otherwise m = 1 .. n-1 of them with P(m) proportional to 2^-m; the set is kept from the
  previous frame with p 0.5;
- in both modes the sounding set changes at least once per clip, and at least one object is
  a silent distractor in most frames.

Occlusion: objects are drawn in order; every object keeps >= 55 % of its area visible in every
frame (best of 40 placements otherwise), and the instance map records the visible pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .classes import CLASSES, SynthClass
from .visuals import render_background, render_sprite

MIN_VISIBLE = 0.55


@dataclass
class SceneObject:
    """One object of a clip: class, sprite (uint8 [h, w, 3] RGB + bool [h, w] mask), top-left
    positions (x, y) in px per frame, and the sound instance parameters (pitch factor, gain)."""

    cls: SynthClass
    rgb: np.ndarray
    mask: np.ndarray
    positions: list[tuple[int, int]] = field(default_factory=list)
    pitch: float = 1.0
    gain_db: float = 0.0


@dataclass
class Clip:
    """A composed clip.

    Attributes:
        frames: per frame uint8 [H, W, 3] RGB.
        instances: per frame int16 [H, W]; 0 background, i + 1 the visible pixels of object i.
        objects: the clip's objects (index i as in ``instances``).
        sounding: per frame the sorted tuple of sounding object indices.
    """

    frames: list[np.ndarray]
    instances: list[np.ndarray]
    objects: list[SceneObject]
    sounding: list[tuple[int, ...]]

    def binary_mask(self, k: int) -> np.ndarray:
        """Ground truth of frame k: bool [H, W], True on visible pixels of sounding objects."""
        ids = np.asarray(self.sounding[k], dtype=np.int16) + 1
        return np.isin(self.instances[k], ids)

    def semantic_mask(self, k: int) -> np.ndarray:
        """AVSS ground truth of frame k: uint8 [H, W] AVSS class ids, 0 where nothing sounds."""
        out = np.zeros(self.instances[k].shape, np.uint8)
        for i in self.sounding[k]:
            out[self.instances[k] == i + 1] = self.objects[i].cls.avss_index
        return out


def _instance_map(objs: list[SceneObject], k: int, h: int, w: int) -> np.ndarray:
    inst = np.zeros((h, w), np.int16)
    for i, o in enumerate(objs):
        x, y = o.positions[k]
        sh, sw = o.mask.shape
        view = inst[y:y + sh, x:x + sw]
        view[o.mask[:view.shape[0], :view.shape[1]]] = i + 1
    return inst


def _min_visible(objs: list[SceneObject], n_frames: int, h: int, w: int) -> float:
    worst = 1.0
    for k in range(n_frames):
        inst = _instance_map(objs, k, h, w)
        counts = np.bincount(inst.ravel(), minlength=len(objs) + 1)
        for i, o in enumerate(objs):
            worst = min(worst, counts[i + 1] / max(1, int(o.mask.sum())))
    return worst


def _trajectory(rng: np.random.Generator, obj: SceneObject, n_frames: int, h: int,
                w: int) -> list[tuple[int, int]]:
    """Start anywhere inside the frame, move 0-12 px per frame, bounce off the borders."""
    sh, sw = obj.mask.shape
    xmax, ymax = max(0, w - sw), max(0, h - sh)
    x, y = rng.uniform(0, xmax), rng.uniform(0, ymax)
    vx, vy = rng.normal(0, 6, 2)
    out = []
    for _ in range(n_frames):
        out.append((int(round(x)), int(round(y))))
        x, y = x + vx, y + vy
        if not 0 <= x <= xmax:
            vx, x = -vx, float(np.clip(x, 0, xmax))
        if not 0 <= y <= ymax:
            vy, y = -vy, float(np.clip(y, 0, ymax))
    return out


def _sounding_schedule(rng: np.random.Generator, n_obj: int, n_frames: int,
                       mode: str) -> list[tuple[int, ...]]:
    sets: list[tuple[int, ...]] = []
    for k in range(n_frames):
        if mode == "single":
            if k == 0 or rng.random() < 0.35:
                cur = (int(rng.integers(n_obj)),)
            else:
                cur = sets[-1]
        else:
            if k > 0 and rng.random() < 0.5:
                cur = sets[-1]
            else:
                u = rng.random()
                if u < 0.05:
                    m = 0
                elif u < 0.12:
                    m = n_obj
                else:   # 1 .. n-1 sounding, P(m) proportional to 2^-m
                    w = 0.5 ** np.arange(1, n_obj)
                    m = 1 + int(rng.choice(n_obj - 1, p=w / w.sum()))
                cur = tuple(sorted(rng.choice(n_obj, size=m, replace=False).tolist()))
        sets.append(cur)
    if n_frames > 1 and len(set(sets)) == 1:  # force one change, in a random later frame
        k = int(rng.integers(1, n_frames))
        old = sets[k]
        if mode == "single":
            new = ((old[0] + int(rng.integers(1, n_obj))) % n_obj,)
        else:
            flip = int(rng.integers(n_obj))
            new = tuple(sorted(set(old) ^ {flip}))
        sets[k] = new
    return sets


def compose_clip(rng: np.random.Generator, n_frames: int, size: tuple[int, int], mode: str,
                 n_objects: tuple[int, ...] = (2, 3, 4),
                 p_objects: tuple[float, ...] = (0.3, 0.4, 0.3)) -> Clip:
    """Compose one clip (frames, instance maps, sounding sets; no audio).

    Args:
        rng: the clip's random generator (the only source of randomness).
        n_frames: annotated frames (5 for S4/MS3/AVSS v1, 10 for AVSS v2).
        size: (H, W) of the frames in px.
        mode: ``"single"`` (one sounding object per frame) or ``"multi"``.
        n_objects, p_objects: how many objects a clip has, and with which probabilities.

    Raises ValueError for an unknown mode or a size below 64 px.
    """
    if mode not in ("single", "multi"):
        raise ValueError(f"mode must be 'single' or 'multi', got {mode!r}")
    h, w = size
    if min(h, w) < 64:
        raise ValueError(f"frames must be at least 64x64 px, got {h}x{w}")
    n_obj = int(rng.choice(n_objects, p=p_objects))
    cls_ids = rng.choice(len(CLASSES), size=n_obj, replace=False)
    side = min(h, w)
    objs = []
    for c in cls_ids:
        rgb, mask = render_sprite(CLASSES[int(c)], rng, rng.uniform(0.27, 0.45) * side)
        objs.append(SceneObject(CLASSES[int(c)], rgb, mask,
                                pitch=float(2 ** (rng.uniform(-3, 3) / 12)),
                                gain_db=float(rng.uniform(-4, 4))))
    best, best_score = None, -1.0
    for _ in range(40):
        for o in objs:
            o.positions = _trajectory(rng, o, n_frames, h, w)
        score = _min_visible(objs, n_frames, h, w)
        if score > best_score:
            best, best_score = [list(o.positions) for o in objs], score
        if score >= MIN_VISIBLE:
            break
    for o, pos in zip(objs, best):
        o.positions = pos

    pad = 24
    bg = render_background(rng, h + 2 * pad, w + 2 * pad)
    pan = rng.normal(0, 3, 2)
    frames, instances = [], []
    for k in range(n_frames):
        ox = int(np.clip(pad + pan[0] * k, 0, 2 * pad))
        oy = int(np.clip(pad + pan[1] * k, 0, 2 * pad))
        img = bg[oy:oy + h, ox:ox + w].copy()
        for o in objs:
            x, y = o.positions[k]
            sh, sw = o.mask.shape
            view = img[y:y + sh, x:x + sw]
            vh, vw = view.shape[:2]
            np.copyto(view, o.rgb[:vh, :vw], where=o.mask[:vh, :vw, None])
        gain = rng.uniform(0.93, 1.07)  # exposure flicker
        frames.append(cv2.convertScaleAbs(img, alpha=gain))
        instances.append(_instance_map(objs, k, h, w))
    return Clip(frames, instances, objs, _sounding_schedule(rng, n_obj, n_frames, mode))
