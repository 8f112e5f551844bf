"""Bearing and 3-D position errors of replayed frames against the known geometry of a
SynthAVS ``avs bag --depth`` bag.

Ground truth per frame (same header stamp): true depth (``/avs/gt_depth``, 32FC1 m),
instance ids (``/avs/gt_instances``), the sounding mask (``/avs/gt_mask``) and the bag's
camera_info. A sounding instance is an object whose visible pixels are mostly sounding in the
mask; its true position is the mean of its visible pixels' true 3-D points
(``depth * ray``, rays from the camera_info as the node computes them), its true bearing the
direction to that point, its distance the point's norm.

Matching: each sounding instance with at least :data:`MIN_INSTANCE_PX` visible pixels takes the
predicted object (its own region, :func:`~avs_ros.core.geometry.object_region`) with the
highest IoU against the instance's pixels; that IoU is the object's J. Per match: bearing
error (degrees between predicted and true bearing) when the object has a bearing, position
error (m, Euclidean) when it has a position. The summary gives percentiles over matches with
J >= 0.5 (the target's condition) and, for positions, the error relative to the distance for
distances in 1-4 m.
"""
from __future__ import annotations

import math

import numpy as np

from avs_ros.core.geometry import CameraModel, angle_deg, object_region

from ..bag.reader import GeometryTruthEvent, GroundTruthEvent
from .engine import ProcessedFrame

MIN_INSTANCE_PX = 64
J_MIN = 0.5
DISTANCE_M = (1.0, 4.0)


class GeometryEvaluator:
    """Collects ground truth by stamp and scores each processed frame that has it."""

    def __init__(self) -> None:
        self._truth: dict[int, dict[str, np.ndarray]] = {}
        self.matches: list[dict] = []
        self.instances = 0          # sounding instances with ground truth
        self.frames = 0

    def truth(self, event: GeometryTruthEvent | GroundTruthEvent) -> None:
        """A ground-truth image (true depth, instances or the sounding mask)."""
        kind = event.kind if isinstance(event, GeometryTruthEvent) else "mask"
        data = event.data if isinstance(event, GeometryTruthEvent) else event.mask
        self._truth.setdefault(event.stamp_ns, {})[kind] = data

    def frame(self, frame: ProcessedFrame, camera: CameraModel | None) -> None:
        """Score one processed frame (needs its three truth images, a camera and geometry)."""
        stamp = frame.image.stamp_ns
        for old in [s for s in self._truth if s < stamp]:
            del self._truth[old]
        truth = self._truth.pop(stamp, None)
        if truth is None or len(truth) < 3 or camera is None or frame.geometry is None:
            return
        mask, inst, depth = truth["mask"], truth["instances"], truth["depth"]
        if inst.shape != frame.result.mask.shape or (camera.width, camera.height) != \
                inst.shape[::-1]:
            return
        self.frames += 1
        rx, ry = camera.ray_map()
        objects = frame.result.objects
        regions = [object_region(frame.result.mask, o, objects) for o in objects]
        for i in np.unique(inst[inst > 0]):
            pix = inst == i
            n = int(pix.sum())
            if n < MIN_INSTANCE_PX or (mask[pix] != 0).mean() < 0.5:
                continue
            self.instances += 1
            z = depth[pix].astype(np.float64)
            p = np.array([(rx[pix] * z).mean(), (ry[pix] * z).mean(), z.mean()])
            best, best_j = None, 0.0
            for k, (o, region) in enumerate(zip(objects, regions)):
                inter = int(np.count_nonzero(region & pix[o.y:o.y + o.height,
                                                          o.x:o.x + o.width]))
                j = inter / (o.area + n - inter)
                if j > best_j:
                    best, best_j = k, j
            if best is None:
                continue
            geo = frame.geometry[best]
            distance = float(np.linalg.norm(p))
            self.matches.append({
                "stamp_ns": stamp, "instance": int(i), "J": best_j, "distance_m": distance,
                "bearing_error_deg": angle_deg(geo.bearing, p) if geo.bearing else None,
                "position_error_m": float(np.linalg.norm(np.asarray(geo.position) - p))
                if geo.position else None})

    def summary(self) -> dict | None:
        """Errors as percentiles (see the module docstring); None without scored frames."""
        if not self.frames:
            return None

        def pct(values, q):
            return float(np.percentile(values, q)) if values else None

        good = [m for m in self.matches if m["J"] >= J_MIN]
        bearing = [m["bearing_error_deg"] for m in good if m["bearing_error_deg"] is not None]
        located = [m for m in good if m["position_error_m"] is not None]
        lo, hi = DISTANCE_M
        ranged = [m["position_error_m"] / m["distance_m"] for m in located
                  if lo <= m["distance_m"] <= hi]
        all_bearing = [m["bearing_error_deg"] for m in self.matches
                       if m["bearing_error_deg"] is not None]
        return {"frames": self.frames, "sounding_instances": self.instances,
                "matched": len(self.matches), "matched_j_ge_0_5": len(good),
                "bearing_error_deg_p50": pct(bearing, 50),
                "bearing_error_deg_p95": pct(bearing, 95),
                "bearing_error_deg_p50_all_matches": pct(all_bearing, 50),
                "with_position": len(located),
                "position_error_m_p50": pct([m["position_error_m"] for m in located], 50),
                "position_error_m_p95": pct([m["position_error_m"] for m in located], 95),
                "position_error_rel_p50_1_4m": pct(ranged, 50),
                "position_error_rel_p95_1_4m": pct(ranged, 95),
                "position_samples_1_4m": len(ranged),
                "j_min": J_MIN, "distance_m": list(DISTANCE_M)}


def format_summary(g: dict) -> str:
    """One line for the command's printout."""
    def num(v, fmt):
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)

    return (f"3-D ({g['matched_j_ge_0_5']} sounding objects with J >= 0.5 of "
            f"{g['sounding_instances']}): bearing error p50 "
            f"{num(g['bearing_error_deg_p50'], '{:.2f}')} deg (p95 "
            f"{num(g['bearing_error_deg_p95'], '{:.2f}')}); position error p50 "
            f"{num(g['position_error_m_p50'], '{:.3f}')} m, "
            f"{num(g['position_error_rel_p50_1_4m'], '{:.2%}')} of the distance at 1-4 m (p95 "
            f"{num(g['position_error_rel_p95_1_4m'], '{:.2%}')}, "
            f"{g['position_samples_1_4m']} objects)")
