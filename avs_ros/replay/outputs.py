"""Replay outputs that follow the frames: the output bag and the overlay video.

Output bag: every input message copied unchanged (same topics, types, stored definitions and
receive times), plus the node's outputs for each processed frame, stamped with the image's
header and received at the frame's completion on the bag clock (audio ready + measured
processing time):

- ``/avs_node/mask``: sensor_msgs/Image ``mono8`` class ids at the image's size;
- ``/avs_node/overlay``: sensor_msgs/Image ``bgr8``, the mask blended over the image;
- ``/avs_node/objects``: avs_ros/SoundingObjectArray (audio window, latency in ms);
- ``/avs_node/markers``: visualization_msgs/MarkerArray, box and label per object, or its
  3-D markers when the bag has camera_info
  (:func:`avs_ros.core.markers.object_markers`, ``marker_m_per_px`` as the node's).

``ros2 bag play`` of this bag with the shipped RViz config shows camera, overlay and mask.

Video: one MP4 (``mp4v``) frame per processed frame, in stamp order: the overlay with the
ground truth's outline in white (when present) and a caption (time, objects, J). Its rate
is the camera's (image count over the bag's span); frames narrower than
:data:`MIN_VIDEO_WIDTH` are enlarged by an integer factor (nearest neighbour) so that masks
and caption stay legible; frames of another size than the first are resized to it.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..bag import messages
from avs_ros.core.markers import object_markers

from ..bag.types import IMAGE, MARKER_ARRAY, OBJECTS
from ..bag.writer import BagWriter
from .engine import ProcessedFrame
from .evaluation import FrameScore

MIN_VIDEO_WIDTH = 448
NODE_TOPICS = {"mask": "/avs_node/mask", "overlay": "/avs_node/overlay",
               "objects": "/avs_node/objects", "markers": "/avs_node/markers"}


class OutputBag:
    """The output bag (see the module docstring).

    Args:
        path: folder to create (replaced when it exists).
        store: typestore for our outputs (:func:`avs_ros.bag.types.typestore`).
        storage: ``"mcap"`` or ``"sqlite3"``.
        palette: uint8 [N, 3] RGB colours by class id (the pipeline's), for the markers.
        marker_m_per_px: marker scale, metres per image pixel (node parameter).
    """

    def __init__(self, path: str | Path, store, storage: str = "mcap",
                 palette: np.ndarray | None = None, marker_m_per_px: float = 0.001) -> None:
        from avs_ros.core.postprocess import make_palette

        self.store = store
        self.palette = make_palette() if palette is None else palette
        self.marker_m_per_px = float(marker_m_per_px)
        self.bag = BagWriter(path, store, storage, overwrite=True)
        self._conns: dict[str, object] = {}

    def copy(self, conn, log_ns: int, raw: bytes) -> None:
        """Queue one input message unchanged (its stored definition travels with it)."""
        self.bag.put_raw(conn.topic, conn.msgtype, log_ns, raw, conn.msgdef.data, conn.digest)

    def frame(self, frame: ProcessedFrame) -> None:
        """Queue the node's outputs of one processed frame."""
        stamp, fid, res = frame.image.stamp_ns, frame.image.frame_id, frame.result
        done = frame.done_ns
        s = self.store
        self.bag.put(NODE_TOPICS["mask"], IMAGE, done,
                     messages.mono8_image(s, stamp, fid, res.mask))
        if res.overlay is not None:
            self.bag.put(NODE_TOPICS["overlay"], IMAGE, done,
                         messages.bgr8_image(s, stamp, fid, res.overlay))
        self.bag.put(NODE_TOPICS["objects"], OBJECTS, done, messages.sounding_objects(
            s, stamp, fid, res.objects, frame.window_start_ns, stamp, res.timings_ms["total"],
            frame.geometry))
        self.bag.put(NODE_TOPICS["markers"], MARKER_ARRAY, done, messages.marker_array(
            s, stamp, fid, object_markers(res.objects, self.palette, self.marker_m_per_px,
                                          geometry=frame.geometry)))

    def advance(self, now_ns: int) -> None:
        """Write what is queued up to bag time ``now_ns`` (outputs are never earlier)."""
        self.bag.flush(now_ns)

    def close(self) -> None:
        """Write the rest and close (the bag is valid afterwards, also after an error)."""
        self.bag.close()


def _caption(frame: ProcessedFrame, score: FrameScore, t0_ns: int) -> str:
    t = (frame.image.stamp_ns - t0_ns) / 1e9
    j = f"  J {score.j:.2f}" if score.j is not None else ""
    n = len(frame.result.objects)
    return f"t {t:6.2f} s  objects {n}{j}"


class OverlayVideo:
    """MP4 writer of overlay frames (see the module docstring).

    Args:
        path: ``.mp4`` file to write.
        fps: frame rate of the file (> 0).

    Raises:
        RuntimeError: OpenCV cannot open an mp4v writer at ``path``.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        self._writer = None
        self._size: tuple[int, int] | None = None
        self._t0: int | None = None
        self.frames = 0

    def add(self, frame: ProcessedFrame, gt: np.ndarray | None, score: FrameScore) -> np.ndarray:
        """Append one frame; returns it (BGR uint8 [h, w, 3], as written)."""
        res = frame.result
        rgb = res.overlay if res.overlay is not None else frame.image.rgb
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        if gt is not None and gt.shape == bgr.shape[:2]:
            contours, _ = cv2.findContours((gt != 0).astype(np.uint8), cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(bgr, contours, -1, (255, 255, 255), 1)
        if self._writer is None:
            k = -(-MIN_VIDEO_WIDTH // bgr.shape[1])      # ceil
            self._size = (bgr.shape[1] * k, bgr.shape[0] * k)
            self._t0 = frame.image.stamp_ns
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"),
                                           self.fps, self._size)
            if not self._writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write an mp4v video to {self.path}")
        if (bgr.shape[1], bgr.shape[0]) != self._size:
            bgr = cv2.resize(bgr, self._size, interpolation=cv2.INTER_NEAREST)
        scale = max(0.5, self._size[0] / 900)
        text = _caption(frame, score, self._t0)
        for colour, width in (((0, 0, 0), 2), ((255, 255, 255), 1)):
            cv2.putText(bgr, text, (6, int(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        colour, width, cv2.LINE_AA)
        self._writer.write(bgr)
        self.frames += 1
        return bgr

    def close(self) -> None:
        """Finish the file (idempotent; a video with no frame is not created)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
