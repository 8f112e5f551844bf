"""Where a sounding object is in 3-D: bearing from the camera intrinsics, position from
registered depth (ROS-free; the node and ``avs replay`` share it).

Frames and conventions (REP 103 / REP 105 camera optical frame, the ``frame_id`` of the
image's header): x to the right, y down, z forward out of the lens, metres. A pixel (u, v) is
column u, row v with pixel centres at integer coordinates (OpenCV, ``sensor_msgs/CameraInfo``).

- **Bearing**: unit vector (x, y, z) in the optical frame towards the object: the mean of the
  undistorted normalised coordinates (x/z, y/z) over the object's mask pixels, with z = 1,
  normalised. Undistortion is OpenCV's (``cv2.undistortPoints`` for ``plumb_bob`` and
  ``rational_polynomial``, ``cv2.fisheye.undistortPoints`` for ``equidistant``), i.e. the
  inverse of ``cv2.projectPoints`` with the CameraInfo's K and D.
- **Azimuth / elevation** (degrees) of that bearing, as a robot body frame (REP 103: x forward,
  y left, z up) sees it: azimuth = atan2(-x, z), positive to the LEFT (a counter-clockwise
  yaw); elevation = atan2(-y, hypot(x, z)), positive UP. 0/0 is the optical axis.
- **Position** (m, optical frame): the (lower) median of the mask's valid depths Z (robust to
  holes, flying pixels at the borders and a mask that spills onto the background) along the
  bearing ray: Z * (x̄, ȳ, 1). Valid depth: finite, > 0 (0 is "no return" in 16UC1 and
  32FC1 alike) and inside ``depth_range_m``. Fewer valid pixels than ``min_valid_fraction``
  of the mask: no position.
- **Extent** (m): x and y: Z times the span in normalised coordinates of the mask's box
  (outer pixel edges, through the centroid): its silhouette at the median depth; z: the
  10th-90th percentile spread of the valid depths.

Depth is registered to the colour image (same size, same optical frame: RealSense
``aligned_depth_to_color``, ``depth_image_proc/register``); ``16UC1`` is millimetres
(REP 118), ``32FC1`` metres. Depth and frame are paired by header stamp: the nearest depth
image within ``tolerance_s``.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:      # only its fields are read: no torch import through avs_models here
    from .postprocess import SoundingObject

#: distortion models of sensor_msgs/distortion_models.hpp that OpenCV undistorts
PINHOLE_MODELS = {"plumb_bob": (5,), "rational_polynomial": (8,)}
FISHEYE_MODELS = {"equidistant": (4,)}
DEPTH_ENCODINGS = {"16UC1": (np.uint16, 0.001), "mono16": (np.uint16, 0.001),
                   "32FC1": (np.float32, 1.0)}
#: most depth samples per object: larger masks are read on a strided grid (every s-th row and
#: column) for the median, which moves by a fraction of the noise (the mean ray uses every
#: pixel)
MAX_SAMPLES = 2048
_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-10)


class GeometryInputError(ValueError):
    """A camera_info or depth image that cannot be used; the message says what was wrong and
    what was expected. ``kind`` is the diagnostics counter it belongs to."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(text)
        self.kind = kind


class CameraModel:
    """Intrinsics and distortion of one camera (the fields of ``sensor_msgs/CameraInfo``).

    Args:
        width, height: image size in px the calibration is for (> 0).
        k: the 9 row-major entries of the 3x3 intrinsic matrix K (fx, 0, cx, 0, fy, cy, 0, 0, 1).
        d: distortion coefficients (``plumb_bob``: k1 k2 p1 p2 k3; ``rational_polynomial``:
            k1 k2 p1 p2 k3 k4 k5 k6; ``equidistant``: k1 k2 k3 k4).
        distortion_model: one of the names above; any name with all-zero (or no) ``d`` is a
            pinhole camera.

    Raises:
        GeometryInputError (kind ``bad_camera_info``): zero or non-finite focal length, a size
        of 0, a K whose last row is not (0, 0, 1), an unknown model with non-zero
        coefficients, or a coefficient count the model does not have.
    """

    def __init__(self, width: int, height: int, k: Sequence[float], d: Sequence[float],
                 distortion_model: str = "plumb_bob") -> None:
        def bad(text):
            return GeometryInputError("bad_camera_info", f"camera_info: {text}")

        k = np.asarray(k, np.float64).reshape(-1)
        d = np.asarray(d, np.float64).reshape(-1)
        if int(width) <= 0 or int(height) <= 0:
            raise bad(f"width and height must be > 0 px, got {width}x{height} (uncalibrated "
                      "camera?)")
        if k.size != 9 or not np.isfinite(k).all():
            raise bad(f"K must be 9 finite numbers, got {k.tolist()}")
        fx, fy = k[0], k[4]
        if fx <= 0 or fy <= 0:
            raise bad(f"focal lengths K[0], K[4] must be > 0 px, got fx={fx}, fy={fy} "
                      "(an uncalibrated camera publishes zeros)")
        if not np.allclose(k[6:], (0.0, 0.0, 1.0)):
            raise bad(f"K's last row must be (0, 0, 1), got {k[6:].tolist()}")
        if not np.isfinite(d).all():
            raise bad(f"D must be finite, got {d.tolist()}")
        zero = not d.size or not d.any()
        if zero:
            model = "none"
        elif distortion_model in PINHOLE_MODELS or distortion_model in FISHEYE_MODELS:
            sizes = (PINHOLE_MODELS | FISHEYE_MODELS)[distortion_model]
            if d.size not in sizes and not (distortion_model in PINHOLE_MODELS
                                            and d.size in (4, 5, 8, 12, 14)):
                raise bad(f"{distortion_model} takes {sizes[0]} coefficients, got {d.size}")
            model = distortion_model
        else:
            raise bad(f"unsupported distortion_model {distortion_model!r} with non-zero D; "
                      f"expected one of {sorted(PINHOLE_MODELS | FISHEYE_MODELS)} (or D = 0)")
        self.width, self.height = int(width), int(height)
        self.K = k.reshape(3, 3)
        self._k_inv = np.linalg.inv(self.K)
        self.D = d
        self.model = model
        self._rays: tuple[np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_camera_info(cls, msg) -> "CameraModel":
        """From a ``sensor_msgs/CameraInfo`` (any object with ``width``, ``height``, ``k``,
        ``d``, ``distortion_model``; ROS 2 lower-case field names)."""
        return cls(msg.width, msg.height, list(msg.k), list(msg.d), msg.distortion_model)

    def same_as(self, other: "CameraModel | None") -> bool:
        """Equal calibration (so that a re-published camera_info keeps the cached rays)."""
        return other is not None and (self.width, self.height, self.model) == (
            other.width, other.height, other.model) and np.array_equal(self.K, other.K) \
            and np.array_equal(self.D, other.D)

    def normalized(self, uv: np.ndarray) -> np.ndarray:
        """Pixel coordinates float [N, 2] (u, v) -> undistorted normalised coordinates float64
        [N, 2] (x/z, y/z) in the optical frame (the inverse of ``cv2.projectPoints``)."""
        pts = np.ascontiguousarray(uv, np.float64).reshape(-1, 1, 2)
        if self.model == "none":        # K^-1 (u, v, 1), skew included
            flat = pts.reshape(-1, 2)
            out = flat @ self._k_inv[:2, :2].T + self._k_inv[:2, 2]
        elif self.model in FISHEYE_MODELS:
            out = cv2.fisheye.undistortPoints(pts, self.K, self.D, criteria=_CRITERIA)
        else:
            out = cv2.undistortPoints(pts, self.K, self.D, criteria=_CRITERIA)
        return out.reshape(-1, 2)

    def ray_map(self) -> tuple[np.ndarray, np.ndarray]:
        """(x/z, y/z): two float32 [H, W] maps of the undistorted normalised coordinates of
        every pixel centre, computed once (undistorting 640x480 pixels takes tens of ms; every
        later frame reads the maps)."""
        with self._lock:
            if self._rays is None:
                v, u = np.mgrid[0:self.height, 0:self.width]
                xy = self.normalized(np.stack([u.ravel(), v.ravel()], axis=1))
                self._rays = tuple(np.ascontiguousarray(
                    xy[:, i].astype(np.float32).reshape(self.height, self.width))
                    for i in range(2))
            return self._rays


def bearing_angles(bearing: Sequence[float]) -> tuple[float, float]:
    """Unit vector (x, y, z) in the optical frame -> (azimuth, elevation) in degrees:
    azimuth = atan2(-x, z) (positive to the left), elevation = atan2(-y, hypot(x, z))
    (positive up); see the module docstring."""
    x, y, z = (float(c) for c in bearing)
    return math.degrees(math.atan2(-x, z)), math.degrees(math.atan2(-y, math.hypot(x, z)))


def angle_deg(a: Sequence[float], b: Sequence[float]) -> float:
    """Angle between two direction vectors in degrees (atan2 of |a x b| and a . b: exact
    for small angles, unlike acos)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return math.degrees(math.atan2(float(np.linalg.norm(np.cross(a, b))), float(a @ b)))


@dataclass(frozen=True)
class DepthImage:
    """A registered depth image as received: ``data`` uint16 (``scale`` 0.001 m per unit) or
    float32 (``scale`` 1.0) [H, W], 0 / NaN / Inf = no measurement; ``stamp_ns`` of its
    header."""

    stamp_ns: int
    data: np.ndarray
    scale: float


def decode_depth(stamp_ns: int, encoding: str, height: int, width: int, step: int, data,
                 is_bigendian: int = 0) -> DepthImage:
    """``sensor_msgs/Image`` fields of a depth image -> :class:`DepthImage` (no copy of
    little-endian data; rows padded to ``step`` are cut).

    Raises:
        GeometryInputError (kind ``bad_depth``): an encoding other than 16UC1 (mm), mono16
        (mm) or 32FC1 (m), or a buffer shorter than ``height * step``.
    """
    if encoding not in DEPTH_ENCODINGS:
        raise GeometryInputError("bad_depth", f"depth image encoding {encoding!r} is not "
                                 f"supported; expected 16UC1 (mm) or 32FC1 (m)")
    dtype, scale = DEPTH_ENCODINGS[encoding]
    item = np.dtype(dtype).itemsize
    buf = np.frombuffer(memoryview(data).cast("B"), np.uint8)
    if height <= 0 or width <= 0 or step < width * item or buf.size < height * step:
        raise GeometryInputError("bad_depth", f"depth image {width}x{height} {encoding} with "
                                 f"step {step} needs {height * step} bytes (step >= "
                                 f"{width * item}), got {buf.size}")
    rows = buf[:height * step].reshape(height, step)[:, :width * item]
    arr = rows.view(np.dtype(dtype).newbyteorder(">" if is_bigendian else "<"))
    if is_bigendian:
        arr = arr.astype(dtype)
    return DepthImage(int(stamp_ns), arr, scale)


class DepthBuffer:
    """The last ``capacity`` depth images; :meth:`nearest` pairs a frame stamp with the
    closest one within ``tolerance_s`` (thread-safe: the executor pushes, the inference
    thread reads).

    Raises:
        ValueError: ``capacity < 1`` or a negative tolerance.
    """

    def __init__(self, tolerance_s: float = 0.02, capacity: int = 30) -> None:
        if capacity < 1 or tolerance_s < 0:
            raise ValueError(f"capacity must be >= 1 and tolerance_s >= 0, got {capacity}, "
                             f"{tolerance_s}")
        self.tolerance_ns = int(round(tolerance_s * 1e9))
        self._items: deque[DepthImage] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def push(self, depth: DepthImage) -> None:
        """Add a depth image (any stamp order)."""
        with self._lock:
            self._items.append(depth)

    def nearest(self, stamp_ns: int) -> DepthImage | None:
        """The depth image nearest to ``stamp_ns`` if within the tolerance, else None."""
        with self._lock:
            items = list(self._items)
        best = min(items, key=lambda d: abs(d.stamp_ns - stamp_ns), default=None)
        if best is None or abs(best.stamp_ns - stamp_ns) > self.tolerance_ns:
            return None
        return best


@dataclass(frozen=True)
class ObjectGeometry:
    """3-D estimate of one sounding object (optical frame, see the module docstring).

    ``bearing`` unit (x, y, z) or None (no usable camera_info); ``azimuth_deg``,
    ``elevation_deg`` (NaN without bearing); ``position`` (x, y, z) m or None; ``extent``
    (x, y, z) m (zeros without position); ``valid_fraction`` of the mask's pixels with valid
    depth (0 without depth); ``status``: "ok", "no_camera_info", "no_depth" or
    "too_few_valid_depth"."""

    bearing: tuple[float, float, float] | None
    azimuth_deg: float
    elevation_deg: float
    position: tuple[float, float, float] | None
    extent: tuple[float, float, float]
    valid_fraction: float
    status: str


NO_GEOMETRY = ObjectGeometry(None, math.nan, math.nan, None, (0.0, 0.0, 0.0), 0.0,
                             "no_camera_info")


def object_region(mask: np.ndarray, obj: SoundingObject,
                  objects: Sequence[SoundingObject]) -> np.ndarray:
    """The object's own pixels inside its box: bool [h, w] (True = the object) for the crop
    ``mask[y:y + h, x:x + w]``. Another region of the same class inside the box is cut away
    (connected components of the crop, 8-connectivity as the post-processor's) only when one
    exists, so the common case costs one comparison."""
    crop = mask[obj.y:obj.y + obj.height, obj.x:obj.x + obj.width]
    shared = any(o is not obj and o.class_id == obj.class_id and o.x < obj.x + obj.width
                 and obj.x < o.x + o.width and o.y < obj.y + obj.height
                 and obj.y < o.y + o.height for o in objects)
    if not shared:
        return crop == obj.class_id
    n, labels, stats, _ = cv2.connectedComponentsWithStats(
        (crop == obj.class_id).view(np.uint8), connectivity=8)
    own = [k for k in range(1, n) if stats[k, 4] == obj.area] or \
        [1 + int(np.argmax(stats[1:, 4]))]
    return labels == own[0]


class Localizer:
    """Bearings and positions of sounding objects from the latest camera_info and the depth
    image nearest to the frame's stamp.

    Args:
        depth_tolerance_s: largest |depth stamp - frame stamp| that pairs, s.
        min_valid_fraction: share of the mask's pixels that must have valid depth, (0, 1].
        depth_range_m: (near, far) valid depths in m.

    Bad input never raises out of :meth:`locate`: it is returned as incidents (kind, text)
    for the caller to count, and the objects go without bearing or position.

    Raises:
        ValueError: a fraction outside (0, 1], a range with near >= far or near < 0.
    """

    def __init__(self, depth_tolerance_s: float = 0.02, min_valid_fraction: float = 0.1,
                 depth_range_m: tuple[float, float] = (0.1, 20.0)) -> None:
        if not 0 < min_valid_fraction <= 1:
            raise ValueError(f"min_valid_fraction must be in (0, 1], got {min_valid_fraction}")
        near, far = depth_range_m
        if not 0 <= near < far:
            raise ValueError(f"depth_range_m must be 0 <= near < far, got {depth_range_m}")
        self.depth = DepthBuffer(depth_tolerance_s)
        self.min_valid_fraction = float(min_valid_fraction)
        self.near, self.far = float(near), float(far)
        self.camera: CameraModel | None = None

    def set_camera(self, camera: CameraModel | None) -> None:
        """Use ``camera`` from now on (an equal calibration keeps the cached ray map); None
        (after an unusable camera_info) until the next valid one: no bearings."""
        if camera is None or not camera.same_as(self.camera):
            self.camera = camera

    def locate(self, stamp_ns: int, mask: np.ndarray, objects: Sequence[SoundingObject],
               use_depth: bool = True) -> tuple[list[ObjectGeometry], list[tuple[str, str]]]:
        """Geometry per object (``objects`` order) of the frame ``mask`` uint8 [H, W].

        ``use_depth``: a depth topic is configured (its absence for this stamp is then an
        incident). Returns (geometries, incidents); incident kinds: ``camera_info_missing``
        (none yet), ``bad_camera_info`` (another resolution than the image), ``bad_depth``
        (another size), ``depth_missing`` (none within the tolerance), ``depth_invalid`` (an
        object with too little valid depth; one per object)."""
        incidents: list[tuple[str, str]] = []
        if not objects:
            return [], incidents
        h, w = mask.shape
        cam = self.camera
        if cam is None:
            incidents.append(("camera_info_missing", "no valid camera_info received yet; "
                              "objects go without bearing and position"))
        elif (cam.width, cam.height) != (w, h):
            incidents.append(("bad_camera_info", f"camera_info is for {cam.width}x{cam.height} "
                              f"px but the image is {w}x{h} px; expected the image's size "
                              "(binning and ROI are not supported)"))
            cam = None
        if cam is None:
            return [NO_GEOMETRY] * len(objects), incidents
        rays = cam.ray_map()
        depth = self.depth.nearest(stamp_ns) if use_depth else None
        if use_depth and depth is None:
            incidents.append(("depth_missing", f"no depth image within "
                              f"{self.depth.tolerance_ns / 1e6:.0f} ms of the frame stamp "
                              f"{stamp_ns} ns"))
        elif depth is not None and depth.data.shape != (h, w):
            incidents.append(("bad_depth", f"depth image is {depth.data.shape[1]}x"
                              f"{depth.data.shape[0]} px but the image is {w}x{h} px; expected "
                              "depth registered to the colour image (same size)"))
            depth = None
        out = []
        for obj in objects:
            geo = self._one(obj, objects, mask, cam, rays, depth)
            if geo.status == "too_few_valid_depth":
                incidents.append(("depth_invalid", f"object {obj.class_name} at ({obj.x}, "
                                  f"{obj.y}): {geo.valid_fraction:.0%} of its pixels have valid "
                                  f"depth, below min_valid_fraction {self.min_valid_fraction}"))
            out.append(geo)
        return out, incidents

    def _one(self, obj, objects, mask, cam, rays, depth: DepthImage | None) -> ObjectGeometry:
        box = (slice(obj.y, obj.y + obj.height), slice(obj.x, obj.x + obj.width))
        region = object_region(mask, obj, objects)
        cu, cv = obj.centroid_x, obj.centroid_y     # and the box's outer edges through it
        (mx, my), (left, _), (right, _), (_, top), (_, bottom) = cam.normalized(np.array(
            [[cu, cv], [obj.x - 0.5, cv], [obj.x + obj.width - 0.5, cv], [cu, obj.y - 0.5],
             [cu, obj.y + obj.height - 0.5]]))
        if cam.model != "none":     # the mean ray of all mask pixels (pinhole: the centroid's)
            weight = region.astype(np.float32)
            mx = float(np.einsum("ij,ij->", rays[0][box], weight)) / obj.area
            my = float(np.einsum("ij,ij->", rays[1][box], weight)) / obj.area
        norm = math.sqrt(mx * mx + my * my + 1.0)
        bearing = (mx / norm, my / norm, 1.0 / norm)
        az, el = bearing_angles(bearing)
        if depth is None:
            return ObjectGeometry(bearing, az, el, None, (0.0, 0.0, 0.0), 0.0, "no_depth")
        s = max(1, math.ceil(math.sqrt(obj.area / MAX_SAMPLES)))
        sampled = region[::s, ::s]
        z = depth.data[box][::s, ::s][sampled].astype(np.float32)  # (uint16 sorts slowly)
        if depth.scale != 1.0:
            z *= np.float32(depth.scale)
        valid = z[(z >= self.near) & (z <= self.far)]     # NaN compares False
        fraction = valid.size / max(1, z.size)
        if fraction < self.min_valid_fraction or valid.size == 0:
            return ObjectGeometry(bearing, az, el, None, (0.0, 0.0, 0.0), float(fraction),
                                  "too_few_valid_depth")
        n = valid.size
        k10, k50, k90 = int(0.1 * (n - 1)), (n - 1) // 2, int(0.9 * (n - 1))
        valid.partition(k50)         # single-kth partitions: numpy's multi-kth one is slower
        zm = float(valid[k50])       # the lower median
        p10 = p90 = zm               # then the 10th / 90th percentile in the two halves
        if k10 < k50:
            low = valid[:k50]
            low.partition(k10)
            p10 = float(low[k10])
        if k90 > k50:
            high = valid[k50 + 1:]
            high.partition(k90 - k50 - 1)
            p90 = float(high[k90 - k50 - 1])
        extent = (zm * (right - left), zm * (bottom - top), p90 - p10)
        return ObjectGeometry(bearing, az, el, (zm * mx, zm * my, zm), extent, float(fraction),
                              "ok")


def strongest(objects: Sequence[SoundingObject], geometry: Sequence[ObjectGeometry]
              ) -> int | None:
    """Index of the highest-scoring object that has a position (``~/target``), or None."""
    best = [i for i, g in enumerate(geometry) if g.position is not None]
    return max(best, key=lambda i: objects[i].score, default=None)


def message_fields(geo: ObjectGeometry | None) -> dict:
    """The 3-D fields of ``avs_ros/SoundingObject`` (msg/SoundingObject.msg) for one object:
    flags, ``bearing``, ``position``, ``extent`` as (x, y, z) tuples, angles in degrees;
    zeros where a flag is False (None: no geometry at all)."""
    geo = geo or NO_GEOMETRY
    has_bearing = geo.bearing is not None
    return {"has_bearing": has_bearing, "bearing": geo.bearing or (0.0, 0.0, 0.0),
            "azimuth_deg": geo.azimuth_deg if has_bearing else 0.0,
            "elevation_deg": geo.elevation_deg if has_bearing else 0.0,
            "has_position": geo.position is not None,
            "position": geo.position or (0.0, 0.0, 0.0), "extent": geo.extent,
            "valid_depth_fraction": geo.valid_fraction}
