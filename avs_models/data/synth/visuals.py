"""SynthAVS visual families: object sprites (shape x texture x colour) and backgrounds.

Sprites are drawn with OpenCV polygon filling on a hard mask, so the ground-truth mask of an
object is exactly its drawn pixels. Backgrounds are random crops of scikit-image's bundled
photographs (brick, grass, gravel, coffee, ... ; BSD-licensed sample images) when scikit-image
is installed, else procedural smooth noise; both are dimmed and desaturated a little so that
they look like surfaces rather than objects (ours).

Image convention: uint8 [H, W, 3] RGB; masks bool [H, W].
"""
from __future__ import annotations

import colorsys
from functools import lru_cache

import cv2
import numpy as np

from .classes import SynthClass

#: photographs used for backgrounds (scikit-image data names)
PHOTO_NAMES = ("brick", "grass", "gravel", "coffee", "rocket", "chelsea", "moon", "camera",
               "immunohistochemistry", "hubble_deep_field", "coins", "text", "page")


def _unit_polygon(shape: str, rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """Polygons in [-1, 1]^2 as (points float [K, 2], fill 1 or 0), drawn in order."""
    def circle(cx=0.0, cy=0.0, r=1.0, k=48):
        a = np.linspace(0, 2 * np.pi, k, endpoint=False)
        return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], 1)

    def regular(k, r=1.0, phase=-np.pi / 2):
        a = phase + np.linspace(0, 2 * np.pi, k, endpoint=False)
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)

    if shape == "circle":
        return [(circle(), 1)]
    if shape == "ellipse":
        return [(circle() * [1.0, rng.uniform(0.5, 0.7)], 1)]
    if shape == "triangle":
        return [(regular(3) * [1.0, 1.15] + [0, 0.15], 1)]
    if shape == "square":
        return [(np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.9, 1)]
    if shape == "pentagon":
        return [(regular(5), 1)]
    if shape == "hexagon":
        return [(regular(6, phase=0.0), 1)]
    if shape == "diamond":
        return [(np.array([[0, -1], [0.65, 0], [0, 1], [-0.65, 0]], float), 1)]
    if shape == "star":
        inner = rng.uniform(0.38, 0.5)
        a = -np.pi / 2 + np.linspace(0, 2 * np.pi, 10, endpoint=False)
        r = np.where(np.arange(10) % 2 == 0, 1.0, inner)
        return [(np.stack([r * np.cos(a), r * np.sin(a)], 1), 1)]
    if shape == "cross":
        w = rng.uniform(0.3, 0.42)
        return [(np.array([[-w, -1], [w, -1], [w, 1], [-w, 1]]), 1),
                (np.array([[-1, -w], [1, -w], [1, w], [-1, w]]), 1)]
    if shape == "ring":
        return [(circle(), 1), (circle(r=rng.uniform(0.45, 0.6)), 0)]
    if shape == "crescent":
        return [(circle(), 1), (circle(cx=rng.uniform(0.35, 0.55), cy=-0.15, r=0.85), 0)]
    if shape == "arrow":
        return [(np.array([[-1, -0.3], [0.2, -0.3], [0.2, -0.8], [1, 0], [0.2, 0.8],
                           [0.2, 0.3], [-1, 0.3]], float), 1)]
    if shape == "heart":
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return [(np.stack([x / 17.0, (y + 2.5) / 15.0], 1), 1)]
    if shape == "trapezoid":
        top = rng.uniform(0.35, 0.55)
        return [(np.array([[-top, -0.8], [top, -0.8], [1, 0.8], [-1, 0.8]], float), 1)]
    raise ValueError(f"unknown shape family {shape!r}; known: {SHAPES}")


SHAPES = ("circle", "ellipse", "triangle", "square", "pentagon", "hexagon", "diamond", "star",
          "cross", "ring", "crescent", "arrow", "heart", "trapezoid")
TEXTURES = ("solid", "stripes", "checker", "dots", "rings", "grid", "noise")


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth random field float32 [h, w] in [0, 1] (bicubic upsampling of a coarse grid)."""
    coarse = rng.random((cells + 1, cells + 1)).astype(np.float32)
    out = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


def _texture(texture: str, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Pattern float32 [h, w] in [0, 1] (1 = primary colour, 0 = secondary)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if texture == "solid":
        return np.ones((h, w), np.float32)
    if texture == "stripes":
        th = rng.uniform(-0.4, 0.4) + np.pi / 4
        period = rng.uniform(8, 14)
        wave = np.sin(2 * np.pi * (x * np.cos(th) + y * np.sin(th)) / period)
        return (wave > 0).astype(np.float32)
    if texture == "checker":
        c = rng.uniform(6, 11)
        return (((x // c) + (y // c)) % 2).astype(np.float32)
    if texture == "dots":
        d, r = rng.uniform(9, 14), rng.uniform(2.5, 3.5)
        dx, dy = (x % d) - d / 2, (y % d) - d / 2
        return (dx * dx + dy * dy > r * r).astype(np.float32)
    if texture == "rings":
        period = rng.uniform(8, 13)
        rr = np.hypot(x - w / 2, y - h / 2)
        return (np.sin(2 * np.pi * rr / period) > 0).astype(np.float32)
    if texture == "grid":
        d = rng.uniform(9, 14)
        return (((x % d) > 2) & ((y % d) > 2)).astype(np.float32)
    if texture == "noise":
        return (_smooth_noise(rng, h, w, int(rng.integers(4, 8))) > 0.5).astype(np.float32)
    raise ValueError(f"unknown texture family {texture!r}; known: {TEXTURES}")


def render_sprite(cls: SynthClass, rng: np.random.Generator,
                  size_px: float) -> tuple[np.ndarray, np.ndarray]:
    """One instance of ``cls`` about ``size_px`` pixels across.

    Returns (rgb uint8 [h, w, 3], mask bool [h, w]); the mask is tight around the drawn shape.
    Instance variation: aspect ratio 0.75-1.33, rotation +-25 deg, vertex jitter 1.5 %, hue
    +-10 deg, saturation 0.55-1.0, value 0.65-1.0, texture scale (see ``_texture``), and a
    linear shading gradient of up to +-20 %.
    """
    aspect = np.exp(rng.uniform(np.log(0.75), np.log(1.33)))
    sx, sy = size_px / 2 * np.sqrt(aspect), size_px / 2 / np.sqrt(aspect)
    ang = np.deg2rad(rng.uniform(-25, 25))
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    polys = []
    for pts, fill in _unit_polygon(cls.shape, rng):
        pts = pts + rng.normal(0, 0.015, pts.shape)
        polys.append(((pts * [sx, sy]) @ rot.T, fill))
    allpts = np.concatenate([p for p, _ in polys])
    lo = np.floor(allpts.min(0)) - 1
    hi = np.ceil(allpts.max(0)) + 1
    w, h = int(hi[0] - lo[0]), int(hi[1] - lo[1])
    canvas = np.zeros((h, w), np.uint8)
    for pts, fill in polys:
        cv2.fillPoly(canvas, [np.round((pts - lo) * 4).astype(np.int32)], int(fill), shift=2)
    mask = canvas.astype(bool)

    hue = ((cls.hue + rng.uniform(-10, 10)) % 360) / 360.0
    sat, val = rng.uniform(0.55, 1.0), rng.uniform(0.65, 1.0)
    primary = np.array(colorsys.hsv_to_rgb(hue, sat, val), np.float32)
    secondary = np.array(colorsys.hsv_to_rgb(hue, sat * 0.8, val * rng.uniform(0.3, 0.5)),
                         np.float32)
    pattern = _texture(cls.texture, rng, h, w)[..., None]
    img = secondary + (primary - secondary) * pattern
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = rng.uniform(-0.2, 0.2, 2)
    shade = 1.0 + g[0] * (gx / max(w - 1, 1) - 0.5) * 2 + g[1] * (gy / max(h - 1, 1) - 0.5) * 2
    img = np.clip(img * shade[..., None], 0, 1)
    return (img * 255 + 0.5).astype(np.uint8), mask


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    """scikit-image's bundled photographs as uint8 RGB, or () without scikit-image."""
    try:
        import skimage.data as data
    except ImportError:
        return ()
    out = []
    for name in PHOTO_NAMES:
        try:
            img = np.asarray(getattr(data, name)())
        except Exception:  # a data file missing from this install: skip that photograph
            continue
        if img.dtype != np.uint8:
            img = (img > 0).astype(np.uint8) * 255 if img.dtype == bool else img.astype(np.uint8)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        scale = 320.0 / min(img.shape[:2])  # keep crops cheap: short side 320 px at most
        if scale < 1.0:
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        out.append(np.ascontiguousarray(img[..., :3]))
    return tuple(out)


def background_source() -> str:
    """``"scikit-image photographs"`` or ``"procedural noise"``: what backgrounds use here."""
    return "scikit-image photographs" if _photos() else "procedural noise"


def render_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A background uint8 [h, w, 3] RGB: a photograph crop (random region 40-100 % of its
    short side, random flips, dimmed to 45-85 %, contrast 50-90 %, desaturated towards a random
    tint) or, without scikit-image, smooth two-colour noise."""
    photos = _photos()
    if photos:
        src = photos[int(rng.integers(len(photos)))]
        side = int(min(src.shape[:2]) * rng.uniform(0.4, 1.0))
        ch, cw = side, min(src.shape[1], int(side * w / h))
        y0 = int(rng.integers(src.shape[0] - ch + 1))
        x0 = int(rng.integers(src.shape[1] - cw + 1))
        img = cv2.resize(src[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            img = cv2.flip(img, 1)
        if rng.random() < 0.5:
            img = cv2.flip(img, 0)
    else:
        c1, c2 = rng.random(3).astype(np.float32), rng.random(3).astype(np.float32)
        t = _smooth_noise(rng, h, w, int(rng.integers(2, 6)))[..., None]
        fine = _smooth_noise(rng, h, w, 40)[..., None]
        img = (np.clip(c1 + (c2 - c1) * t + (fine - 0.5) * 0.2, 0, 1) * 255).astype(np.uint8)
    # one affine colour map: contrast c about the mean, half desaturated towards a tinted
    # grey, dimmed by s:  out = K (c x + (1 - c) mean),  K = s (I / 2 + tint 1^T / 6)
    c, dim = rng.uniform(0.5, 0.9), rng.uniform(0.45, 0.85)
    tint = rng.uniform(0.6, 1.0, 3)
    k = dim * (0.5 * np.eye(3) + np.outer(tint, np.ones(3)) / 6.0)
    mean = np.array(cv2.mean(img)[:3])
    affine = np.concatenate([c * k, ((1 - c) * k @ mean)[:, None]], axis=1)
    return cv2.transform(img, affine.astype(np.float32))
