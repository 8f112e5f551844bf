"""Post-processing: model logits -> class-id mask at the frame's size, sounding objects, overlay.

Kept apart from the model and the pipeline (as Deformable-DETR keeps its PostProcess), so
that node, replay tool and evaluation read masks and objects the same way.

Coordinates: pixel (x, y) is column x, row y of the ORIGINAL frame, pixel centres at integer
coordinates (OpenCV's convention); a box is (x, y, width, height) with (x, y) its top-left
pixel, inclusive, so it spans columns x .. x + width - 1.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import cv2
import numpy as np

from avs_models.errors import AVSInputError


@dataclass(frozen=True)
class SoundingObject:
    """One connected region of one class in the mask.

    class_id / class_name: mask value and its name; score: mean probability of that class over
    the region's pixels, in [0, 1]; x, y, width, height: bounding box in px; centroid_x,
    centroid_y: mean pixel coordinate in px; area: pixel count.
    """

    class_id: int
    class_name: str
    score: float
    x: int
    y: int
    width: int
    height: int
    centroid_x: float
    centroid_y: float
    area: int


@dataclass(frozen=True)
class Segmentation:
    """``mask`` uint8 [H, W] class ids (0 = background/silent); ``probability`` float32 [H, W]
    in [0, 1]: the probability of the pixel's winning class (binary: of class 1, whatever the
    label), or None when it was not asked for; ``objects``: sorted by class id, then area
    descending, then (y, x)."""

    mask: np.ndarray
    probability: np.ndarray | None
    objects: list[SoundingObject]


def default_class_names(num_classes: int) -> tuple[str, ...]:
    """Names by mask id: binary models (C = 1) -> ("background", "sounding"); C > 1 ->
    ("background", "class_1", ...) (AVSS puts background at id 0)."""
    if num_classes == 1:
        return ("background", "sounding")
    return ("background",) + tuple(f"class_{i}" for i in range(1, num_classes))


class Postprocessor:
    """Logits of one frame -> :class:`Segmentation` at the frame's size.

    Binary (C = 1): the logit map is resized to the frame size (``cv2.resize``, INTER_LINEAR);
    a pixel is class 1 where its logit exceeds ``log(t / (1 - t))`` for ``t = score_threshold``,
    i.e. where its probability exceeds t (AVSBench S4/MS3 binarise at 0.5). Thresholding the
    logits spares a whole-frame sigmoid (~0.6 ms at 640x480 on this CPU); the probability map
    is computed only when asked for, and object scores take the sigmoid inside their boxes.

    Multi-class (C > 1): softmax over classes at the model resolution; a pixel's label is the
    argmax, set to 0 where the winning probability is not above ``score_threshold``. The label
    map is resized with INTER_NEAREST_EXACT (centre-aligned nearest) and the winning
    probability with INTER_LINEAR. Chosen over resizing all C logit maps (71 x H x W floats
    per frame at full HD is ~590 MB) at the cost of blockier class boundaries when upscaling.

    Objects: per class id > 0, connected components (8-connectivity by default) with at least
    ``min_area_px`` pixels; smaller ones stay in the mask but get no object.

    ``object_grid`` says where the components are found:

    - ``"frame"`` (reference): on the frame-size mask.
    - ``"model"`` (binary C = 1, 8-connectivity, frame at least the model's size; otherwise
      the reference is used): on the thresholded logits at the model's resolution (h x w),
      then each component is measured on the frame-size mask: its pixels are the mask's
      pixels whose bilinear support (the 2 x 2 model cells ``cv2.resize`` interpolates) holds
      the component. Box, area and centroid are therefore frame-size figures of those pixels;
      the score is the mean probability over the component's model cells. A frame pixel above
      the threshold always has a support cell above it (bilinear weights are convex) and all
      such cells of one pixel are 8-connected, so every mask pixel belongs to exactly one
      component. What can differ from the reference: where a 1-cell-wide diagonal link or
      gap of the model's mask is narrower or wider after upscaling, one component may be two
      frame-size components or the reverse (seen on low-contrast random logits, not on the
      shipped model's masks), and scores differ because the upscaled edges, nearer the
      threshold, are not averaged (test_core_postprocess_fast_paths: on the shipped model's
      masks at 640x480 and 1280x720 the same objects, boxes, areas and centroids, scores
      within 0.03). Post-processing CPU time for those masks at 640x480 on 2 loaded cores:
      1.5-2.2 ms against 8-10 ms (``cv2.connectedComponentsWithStats`` at 640x480 alone
      takes ~3 ms).

    Args:
        num_classes: C of the logits (1 to 255).
        class_names: names indexed by mask id, ``max(2, C)`` entries; None: default names.
        score_threshold: probability in [0, 1) a pixel must exceed to be labelled.
        min_area_px: smallest region reported as an object, px.
        connectivity: 4 or 8.
        object_grid: "frame" or "model" (see above).

    Raises:
        ValueError: bad class count, names, threshold, area, connectivity or object grid.
    """

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None,
                 score_threshold: float = 0.5, min_area_px: int = 1,
                 connectivity: int = 8, object_grid: str = "frame") -> None:
        if not 1 <= num_classes <= 255:
            raise ValueError(f"num_classes must be in [1, 255] (uint8 mask), got {num_classes}")
        ids = max(2, num_classes)
        names = tuple(class_names) if class_names is not None \
            else default_class_names(num_classes)
        if len(names) != ids:
            raise ValueError(f"class_names must have {ids} entries (mask ids 0..{ids - 1}, "
                             f"0 = background) for C = {num_classes}, got {len(names)}")
        if not 0.0 <= score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {score_threshold}")
        if min_area_px < 1:
            raise ValueError(f"min_area_px must be >= 1 px, got {min_area_px}")
        if connectivity not in (4, 8):
            raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
        if object_grid not in ("frame", "model"):
            raise ValueError(f"object_grid must be 'frame' or 'model', got {object_grid!r}")
        self.object_grid = object_grid
        self.num_classes = int(num_classes)
        self.class_names = names
        self.score_threshold = float(score_threshold)
        self.min_area_px = int(min_area_px)
        self.connectivity = int(connectivity)
        t = self.score_threshold
        # float32 logit of the threshold (-inf for 0: every pixel above it is labelled)
        self._logit_threshold = np.float32(np.log(t / (1.0 - t))) if t > 0 else -np.inf

    def __call__(self, logits: np.ndarray, out_size: tuple[int, int],
                 probability: bool = True) -> Segmentation:
        """``logits`` float32 [1, C, h, w]; ``out_size`` (H, W) of the original frame in px;
        ``probability``: also return the frame-size probability map (the mask and the objects
        do not depend on it).

        Raises:
            AVSInputError: logits not [1, C, h, w] with this C, or non-finite values.
        """
        self._check(logits)
        logits = logits[0].astype(np.float32, copy=False)
        if self.num_classes == 1:
            mask, logit = self._binary(logits[0], out_size)
            if self.object_grid == "model" and self.connectivity == 8 \
                    and mask.shape[0] >= logits.shape[1] and mask.shape[1] >= logits.shape[2]:
                objects = self._objects_on_model_grid(logits[0], mask)
            else:
                objects = self.objects(mask, logit, logits=True)
            return Segmentation(mask, _sigmoid(logit) if probability else None, objects)
        mask, prob = self.mask(logits, out_size)
        return Segmentation(mask, prob if probability else None, self.objects(mask, prob))

    def _check(self, logits) -> None:
        if not isinstance(logits, np.ndarray) or logits.ndim != 4 or logits.shape[0] != 1 \
                or logits.shape[1] != self.num_classes:
            got = logits.shape if isinstance(logits, np.ndarray) else type(logits).__name__
            raise AVSInputError(f"logits must be float [1, {self.num_classes}, h, w], got {got}")
        if not np.isfinite(logits).all():
            raise AVSInputError("logits contain NaN or Inf values")

    def mask(self, logits: np.ndarray, out_size: tuple[int, int]):
        """float32 [C, h, w] -> (mask uint8 [H, W], probability float32 [H, W])."""
        if self.num_classes == 1:
            mask, logit = self._binary(logits[0], out_size)
            return mask, _sigmoid(logit)
        h, w = (int(v) for v in out_size)
        shifted = np.exp(logits - logits.max(axis=0, keepdims=True))
        soft = shifted / shifted.sum(axis=0, keepdims=True)
        label = soft.argmax(axis=0).astype(np.uint8)
        best = soft.max(axis=0).astype(np.float32)
        label[best <= self.score_threshold] = 0
        return (_resize(label, (h, w), cv2.INTER_NEAREST_EXACT),
                np.clip(_resize(best, (h, w), cv2.INTER_LINEAR), 0.0, 1.0))

    def _binary(self, logit_map: np.ndarray, out_size: tuple[int, int]
                ) -> tuple[np.ndarray, np.ndarray]:
        """float32 [h, w] logits -> (mask uint8 [H, W], frame-size logits float32 [H, W])."""
        h, w = (int(v) for v in out_size)
        logit = _resize(logit_map, (h, w), cv2.INTER_LINEAR)
        return (logit > self._logit_threshold).view(np.uint8), logit

    def objects(self, mask: np.ndarray, prob: np.ndarray, logits: bool = False
                ) -> list[SoundingObject]:
        """Connected components per class id > 0 of ``mask`` uint8 [H, W]; scores from
        ``prob`` float32 [H, W] (with ``logits``: a logit map, whose sigmoid is the
        probability).

        A region's score is the mean probability over its pixels, taken inside its bounding
        box (``cv2.mean`` with the region as mask: work proportional to the boxes' area, a
        fifth of a whole-frame weighted ``bincount`` for typical masks); where the kept boxes
        together cover more than 4 frames, one whole-frame ``bincount`` is cheaper and used.
        """
        found = []
        if self.num_classes == 1:      # binary: the mask is 0/1, no histogram needed
            present = np.array([0, 1]) if cv2.countNonZero(mask) else np.array([0])
        else:
            present = np.flatnonzero(np.bincount(mask.reshape(-1), minlength=256))
        for cid in present:
            if cid == 0:
                continue
            binary = mask if len(present) <= 2 and present[-1] == 1 else (mask == cid).view(
                np.uint8)    # a binary mask is its own class-1 map
            n, labels, stats, centroids = cv2.connectedComponentsWithStats(
                binary, connectivity=self.connectivity, ltype=cv2.CV_32S)
            keep = [k for k in range(1, n) if stats[k, 4] >= self.min_area_px]
            box_area = sum(int(stats[k, 2]) * int(stats[k, 3]) for k in keep)
            if box_area > 4 * mask.size:
                weights = _sigmoid(prob) if logits else prob
                sums = np.bincount(labels.reshape(-1), weights=weights.reshape(-1), minlength=n)
                means = {k: sums[k] / stats[k, 4] for k in keep}
            else:
                means = {}
                for k in keep:
                    x, y, bw, bh = (int(v) for v in stats[k, :4])
                    region = (labels[y:y + bh, x:x + bw] == k).view(np.uint8)
                    crop = prob[y:y + bh, x:x + bw]
                    means[k] = cv2.mean(_sigmoid(crop) if logits else crop, mask=region)[0]
            for k in keep:
                x, y, bw, bh, area = (int(v) for v in stats[k])
                found.append(SoundingObject(
                    int(cid), self.class_names[cid], float(means[k]), x, y, bw, bh,
                    float(centroids[k, 0]), float(centroids[k, 1]), area))
        found.sort(key=lambda o: (o.class_id, -o.area, o.y, o.x))
        return found

    def _objects_on_model_grid(self, logit_map: np.ndarray, mask: np.ndarray
                               ) -> list[SoundingObject]:
        """Binary objects, ``object_grid="model"`` (see the class docstring): ``logit_map``
        float32 [h, w], ``mask`` uint8 [H, W] (its bilinear upscaling thresholded), H >= h,
        W >= w."""
        (h, w), (H, W) = logit_map.shape, mask.shape
        cells = (logit_map > self._logit_threshold).view(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(cells, connectivity=8,
                                                               ltype=cv2.CV_32S)
        if n == 1:
            return []
        rows, cols = _support_start(h, H), _support_start(w, W)
        scores = np.bincount(labels.reshape(-1), weights=_sigmoid(logit_map).reshape(-1),
                             minlength=n) / np.maximum(stats[:, 4], 1)
        spread = None     # label of the 2 x 2 support starting at each cell (where needed)
        found = []
        for k in range(1, n):
            x, y, bw, bh = (int(v) for v in stats[k, :4])
            # frame pixels whose support starts at cells x - 1 .. x + bw - 1 (rows alike)
            c0, c1 = np.searchsorted(cols, [x - 1, x + bw], side="left")
            r0, r1 = np.searchsorted(rows, [y - 1, y + bh], side="left")
            region = mask[r0:r1, c0:c1]
            near = labels[max(y - 1, 0):y + bh + 1, max(x - 1, 0):x + bw + 1]
            if np.any((near != 0) & (near != k)):     # another component shares the box
                if spread is None:
                    spread = cv2.dilate(labels.astype(np.float32), np.ones((2, 2), np.uint8),
                                        anchor=(0, 0))
                # this component's support cells, repeated to the frame pixels they start
                ys, xs = rows[r0:r1], cols[c0:c1]
                mine = (spread[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1] == k).view(np.uint8)
                mine = np.repeat(np.repeat(mine, np.bincount(ys - ys[0]), axis=0),
                                 np.bincount(xs - xs[0]), axis=1)
                region = cv2.bitwise_and(region, mine)
            area = cv2.countNonZero(region)
            if area < self.min_area_px:
                continue
            bx, by, bw, bh = cv2.boundingRect(region)
            per_col = cv2.reduce(region, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S)[0]
            per_row = cv2.reduce(region, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)[:, 0]
            found.append(SoundingObject(
                1, self.class_names[1], float(scores[k]), c0 + bx, r0 + by, bw, bh,
                c0 + float(per_col @ np.arange(per_col.size)) / area,
                r0 + float(per_row @ np.arange(per_row.size)) / area, area))
        found.sort(key=lambda o: (o.class_id, -o.area, o.y, o.x))
        return found


@lru_cache(maxsize=32)
def _support_start(cells: int, pixels: int) -> np.ndarray:
    """int64 [pixels]: first of the two source cells ``cv2.resize`` INTER_LINEAR interpolates
    for each output pixel when upscaling ``cells`` -> ``pixels`` (half-pixel centres:
    floor((i + 0.5) * cells / pixels - 0.5), clamped to [0, cells - 1]); non-decreasing."""
    start = np.floor((np.arange(pixels) + 0.5) * (cells / pixels) - 0.5).astype(np.int64)
    start = np.clip(start, 0, cells - 1)
    start.flags.writeable = False
    return start


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    """float32 sigmoid into a new array (in place after one copy: a full-HD frame is 2 M
    pixels per operation)."""
    prob = np.negative(logit, dtype=np.float32)
    np.exp(prob, out=prob)
    prob += 1.0
    return np.reciprocal(prob, out=prob)


def _resize(a: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    h, w = size
    if a.shape == (h, w):
        return a
    return cv2.resize(a, (w, h), interpolation=interpolation)


def make_palette(num_ids: int = 256) -> np.ndarray:
    """uint8 [num_ids, 3] RGB colours by mask id: id 0 black (never drawn); id k >= 1 a fully
    saturated colour with hue (k - 1) * 0.618 turns (golden-ratio steps keep neighbouring ids
    apart; id 1, the binary foreground, is pure red)."""
    colours = np.zeros((num_ids, 3), dtype=np.uint8)
    for k in range(1, num_ids):
        rgb = colorsys.hsv_to_rgb(((k - 1) * 0.6180339887) % 1.0, 1.0, 1.0)
        colours[k] = np.round(np.asarray(rgb) * 255)
    return colours


def draw_overlay(image: np.ndarray, mask: np.ndarray, palette: np.ndarray | None = None,
                 alpha: float = 0.5, outline_px: int = 2, bgr: bool = False) -> np.ndarray:
    """Blend class colours over a frame.

    Args:
        image: uint8 [H, W, 3] in RGB (or BGR when ``bgr``); not modified.
        mask: uint8 [H, W] class ids; 0 is left untouched.
        palette: uint8 [N, 3] RGB colours by id (N > max id); None: :func:`make_palette`.
        alpha: colour weight in [0, 1]: out = (1 - alpha) * image + alpha * colour.
        outline_px: thickness in px of an opaque outline drawn inside each region's boundary
            (pixels whose (2 t + 1)-square neighbourhood holds another id; the frame's edge is
            no boundary); 0 for none.
        bgr: image and result in BGR order.

    Returns:
        uint8 [H, W, 3] in the image's channel order.

    Raises:
        ValueError: shapes or dtypes that do not match, alpha outside [0, 1], negative
            outline, or a mask id beyond the palette.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 \
            or mask.shape != image.shape[:2] or mask.dtype != np.uint8:
        raise ValueError(f"need image uint8 [H, W, 3] and mask uint8 [H, W] of the same size, "
                         f"got image {image.dtype} {image.shape}, mask {mask.dtype} {mask.shape}")
    if not 0.0 <= alpha <= 1.0 or outline_px < 0:
        raise ValueError(f"alpha must be in [0, 1] and outline_px >= 0, got {alpha}, {outline_px}")
    palette = make_palette() if palette is None else np.asarray(palette, dtype=np.uint8)
    if int(mask.max(initial=0)) >= len(palette):
        raise ValueError(f"mask id {int(mask.max())} has no colour (palette of {len(palette)})")
    if bgr:
        palette = palette[:, ::-1]
    # Whole-frame OpenCV operations and masked copies instead of boolean indexing (the
    # latter gathers and scatters every foreground pixel through Python-level numpy calls,
    # ~30 ms at 640x480 with half the frame labelled).
    lut = np.zeros((256, 1, 3), np.uint8)
    lut[:min(len(palette), 256), 0] = palette[:256]
    colour = cv2.LUT(cv2.merge((mask, mask, mask)), lut)
    blend = cv2.addWeighted(image, 1.0 - alpha, colour, alpha, 0.0)
    fg = (mask > 0).view(np.uint8)
    out = cv2.copyTo(blend, fg, image.copy())
    if outline_px:
        kernel = np.ones((2 * outline_px + 1, 2 * outline_px + 1), np.uint8)
        edge = (cv2.dilate(mask, kernel) != mask) | (cv2.erode(mask, kernel) != mask)
        out = cv2.copyTo(colour, (edge & (mask > 0)).view(np.uint8), out)
    return out
