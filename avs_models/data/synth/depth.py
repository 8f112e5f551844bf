"""SynthAVS depth: a pinhole camera and a 3-D scene consistent with the rendered stream, and
a depth image with the errors of an active-stereo RGB-D sensor, registered to the colour
image.

Scene (ours): the camera looks at a background wall, a plane tilted by ``tilt_deg`` about the
camera's x axis whose depth on the optical axis is ``wall_m``; each object is a flat cut-out
facing the camera (fronto-parallel) at a fixed depth drawn uniformly in ``object_m``, so its
sprite keeps its size in px as it moves, as in the rendered stream. Objects drawn later in the
stream cover earlier ones, so their depths are sorted far to near in drawing order. With a
pinhole camera (``D`` all zero), pixel (u, v) of object i sees the point
``Z_i * ((u - cx) / fx, (v - cy) / fy, 1)`` (optical frame: x right, y down, z forward).

Sensor model (D435-like active stereo at 69 deg horizontal field of view, ours):

- per-pixel noise with RMS ``sigma(Z) = Z^2 * subpixel / (f_stereo * baseline)`` (the stereo
  depth-error formula, Intel's "Depth RMS error" white paper) with subpixel 0.08, f_stereo
  420 px and baseline 0.05 m: 3.8 mm at 1 m, 6 cm at 4 m; plus a smooth, spatially
  correlated component of 30 % of that RMS (calibration and matching bias the median
  cannot remove), quantised to millimetres (16UC1);
- holes (0 = no return): random dropouts (2 % of pixels), 0-3 blobs per frame, the invalid
  band at the left image border (4 % of the width) and the stereo occlusion shadow to the
  left of every object, ``f * baseline * (1/Z_obj - 1/Z_behind)`` px wide;
- flying pixels: a one-pixel ring around every object has depths mixed between object and
  background.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SUBPIXEL = 0.08
STEREO_F_PX = 420.0
BASELINE_M = 0.05


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics in px: ``fx``, ``fy``, principal point ``cx``, ``cy`` (pixel centres at
    integers), image ``width`` x ``height``; no distortion."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def with_fov(cls, size: tuple[int, int], hfov_deg: float = 69.0) -> "PinholeCamera":
        """Square pixels, centred principal point, horizontal field of view ``hfov_deg``
        (D435 colour: 69 deg) for ``size`` = (H, W)."""
        h, w = size
        f = (w / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(int(w), int(h), f, f, (w - 1) / 2.0, (h - 1) / 2.0)

    @property
    def k(self) -> list[float]:
        """Row-major 3x3 K (``sensor_msgs/CameraInfo.k``)."""
        return [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]

    @property
    def p(self) -> list[float]:
        """Row-major 3x4 P = [K | 0] (``CameraInfo.p`` of a monocular camera)."""
        return [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """float64 [H, W] maps of x/z and y/z per pixel centre."""
        v, u = np.mgrid[0:self.height, 0:self.width].astype(np.float64)
        return (u - self.cx) / self.fx, (v - self.cy) / self.fy


class DepthScene:
    """Depths of one stream's objects and its wall; renders true and sensor depth per frame.

    Args:
        camera: the colour camera (depth is registered to it).
        n_objects: objects of the stream (``StreamFrame.n_objects``).
        seed: the stream's seed (depths and sensor errors draw from their own generator, so
            the colour stream is unchanged).
        object_m: (near, far) range of object depths in m.
        wall_m: wall depth on the optical axis in m (> object_m[1]).
        tilt_deg: wall tilt about the camera's x axis.
    """

    def __init__(self, camera: PinholeCamera, n_objects: int, seed: int = 0,
                 object_m: tuple[float, float] = (1.0, 4.0), wall_m: float = 5.5,
                 tilt_deg: float = 15.0) -> None:
        if not 0 < object_m[0] < object_m[1] < wall_m:
            raise ValueError(f"need 0 < near < far < wall_m, got {object_m}, {wall_m}")
        self.camera = camera
        self.rng = np.random.default_rng([seed, 0xDE97])
        self.object_depths = np.sort(self.rng.uniform(*object_m, n_objects))[::-1].copy()
        _, y = camera.rays()
        t = math.radians(tilt_deg)
        # plane n . P = wall_m * cos(t) with n = (0, -sin t, cos t): depth wall_m on the axis,
        # receding towards the top of the image
        self.wall = (wall_m * math.cos(t) / (math.cos(t) - math.sin(t) * y)).astype(np.float32)

    def true_depth(self, instances: np.ndarray) -> np.ndarray:
        """float32 [H, W] exact depth in m of ``instances`` int16 [H, W] (0 wall, i + 1
        object i)."""
        lut = np.concatenate([[0.0], self.object_depths]).astype(np.float32)
        depth = lut[np.clip(instances, 0, len(lut) - 1)]
        return np.where(instances > 0, depth, self.wall)

    def sensor_depth(self, instances: np.ndarray) -> np.ndarray:
        """uint16 [H, W] measured depth in mm (0 = no return) with the sensor model's noise,
        holes and flying pixels (see the module docstring)."""
        rng, cam = self.rng, self.camera
        h, w = instances.shape
        truth = self.true_depth(instances)
        z = truth.astype(np.float64)
        sigma = z ** 2 * SUBPIXEL / (STEREO_F_PX * BASELINE_M)
        smooth = cv2.resize(rng.standard_normal((6, 8)), (w, h), interpolation=cv2.INTER_CUBIC)
        z = z + sigma * (rng.standard_normal((h, w)) + 0.3 * smooth)
        holes = rng.random((h, w)) < 0.02
        holes[:, :max(1, int(0.04 * w))] = True
        for _ in range(int(rng.integers(0, 4))):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = tuple(int(v) for v in rng.uniform(0.02, 0.08, 2) * min(h, w))
            blob = np.zeros((h, w), np.uint8)
            cv2.ellipse(blob, c, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            holes |= blob.view(bool)
        kernel = np.ones((3, 3), np.uint8)
        behind = float(np.median(self.wall))
        for i in np.unique(instances[instances > 0]):
            obj = (instances == i).astype(np.uint8)
            zi = float(self.object_depths[i - 1])
            ring = (cv2.dilate(obj, kernel) > 0) & ~obj.view(bool)
            mix = rng.random(int(ring.sum()))
            z[ring] = mix * zi + (1 - mix) * z[ring]
            # the right imager cannot see what lies just left of a nearer object
            shift = int(round(cam.fx * BASELINE_M * (1 / zi - 1 / behind)))
            if 0 < shift < w:
                shadow = np.zeros((h, w), bool)
                shadow[:, :w - shift] = obj[:, shift:].view(bool)
                holes |= shadow & (truth > zi + 0.05)
        z[holes] = 0.0
        return np.clip(np.round(z * 1000.0), 0, 65535).astype(np.uint16)
