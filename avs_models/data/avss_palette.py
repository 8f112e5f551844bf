"""AVSBench-semantic (AVSS) class list and colour palette, shared by the loaders and SynthAVS.

The 71 classes (background first) and their order are those of the benchmark's
``label2idx.json``; the colour of class index ``i`` is the PASCAL-VOC style bit-spread palette
of the official AVSS code (index 0 black, 1 (128, 0, 0), 2 (0, 128, 0), ...). Source:
AVSBench-semantic (Zhou et al. 2023) and its public data loader, as summarised in
/work/shared/notes/AVSBENCH.md.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

#: AVSS class names in label2idx.json order; index 0 is the background.
AVSS_CLASSES: tuple[str, ...] = (
    "background", "accordion", "airplane", "axe", "baby", "bassoon", "bell", "bird", "boat",
    "boy", "bus", "car", "cat", "cello", "clarinet", "clipper", "clock", "dog", "donkey",
    "drum", "duck", "elephant", "emergency-car", "erhu", "flute", "frying-food", "girl",
    "goose", "guitar", "gun", "guzheng", "hair-dryer", "handpan", "harmonica", "harp",
    "helicopter", "hen", "horse", "keyboard", "leopard", "lion", "man", "marimba",
    "missile-rocket", "motorcycle", "mower", "parrot", "piano", "pig", "pipa", "saw",
    "saxophone", "sheep", "sitar", "sorna", "squirrel", "tabla", "tank", "tiger", "tractor",
    "train", "trombone", "truck", "trumpet", "tuba", "ukulele", "utv", "vacuum-cleaner",
    "violin", "wolf", "woman",
)
NUM_AVSS_CLASSES = len(AVSS_CLASSES)  # 71


@lru_cache(maxsize=4)
def avss_palette(num_classes: int = NUM_AVSS_CLASSES) -> np.ndarray:
    """Colour of each class index: uint8 [num_classes, 3] RGB (cached, read-only).

    Bit-spread palette: bit ``3j + c`` of the index sets bit ``7 - j`` of channel ``c``
    (c = 0 red, 1 green, 2 blue), so index 1 -> (128, 0, 0), 2 -> (0, 128, 0), 3 -> (128, 128, 0).
    """
    pal = np.zeros((num_classes, 3), dtype=np.uint8)
    for idx in range(num_classes):
        lab, bit = idx, 0
        while lab > 0:
            for c in range(3):
                pal[idx, c] |= ((lab >> c) & 1) << (7 - bit)
            bit += 1
            lab >>= 3
    pal.flags.writeable = False
    return pal


def rgb_to_index(rgb: np.ndarray, num_classes: int = NUM_AVSS_CLASSES) -> np.ndarray:
    """Colour mask uint8 [H, W, 3] RGB -> class ids int64 [H, W].

    A colour that is not in the palette maps to 0 (background), as the official loader's
    argmax over all-false comparisons does.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"colour mask must be [H, W, 3] RGB, got shape {tuple(rgb.shape)}")
    pal = avss_palette(num_classes).astype(np.int64)
    keys = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
    lut = dict(zip(keys.tolist(), range(num_classes)))
    rgb = rgb.astype(np.int64)
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    uniq, inverse = np.unique(codes, return_inverse=True)
    ids = np.array([lut.get(int(u), 0) for u in uniq], dtype=np.int64)
    return ids[inverse].reshape(codes.shape)


def index_to_rgb(ids: np.ndarray, num_classes: int = NUM_AVSS_CLASSES) -> np.ndarray:
    """Class ids int [H, W] in [0, num_classes) -> colour mask uint8 [H, W, 3] RGB.

    Raises ValueError for an id outside the palette."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        raise ValueError(f"class ids must lie in [0, {num_classes}), got range "
                         f"[{ids.min()}, {ids.max()}]")
    return avss_palette(num_classes)[ids]
