"""One ``avs replay`` run: bag in, DIR out (output bag, metrics.json, frames.csv, overlay.mp4,
report.html), shared by the ``replay`` and ``demo`` commands.

Failure handling: whatever stops the run (a damaged bag, a ground-truth size mismatch, an
interrupt) is caught once here; the outputs written so far are closed properly (the output bag
gets its index and is readable, the video is finalised, frames.csv is flushed row by row) and
metrics.json and report.html are written with ``"status": "error"`` and the message, then the
error is re-raised for the command to report.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avs_ros.core.model_source import LoadedModel
from avs_ros.core.pipeline import Pipeline

from ..bag.reader import BagReader
from ..bag.types import typestore
from . import report
from .engine import ProcessedFrame, ReplayEngine, Sink
from .evaluation import Evaluator, FrameScore
from .geometry_eval import GeometryEvaluator
from .outputs import OutputBag, OverlayVideo
from .stream_metrics import StreamMetrics

log = logging.getLogger(__name__)
EXAMPLE_FRACTIONS = (0.15, 0.4, 0.65, 0.9)


@dataclass
class ReplayOptions:
    """Topics (None: found by type), pairing and post-processing parameters (node
    defaults), and what to write."""

    image_topic: str | None = None
    audio_topic: str | None = None
    audio_type: str = "auto"
    audio_info_topic: str = "/audio/audio_info"
    gt_topic: str = "/avs/gt_mask"
    clip_topic: str = "/avs/clip"
    depth_topic: str = "/camera/depth_registered/image_raw"
    max_skew_s: float = 0.15
    audio_buffer_s: float = 5.0
    score_threshold: float = 0.5
    min_area_px: int = 16
    temporal_smoothing: float = 0.0
    video: bool = True
    storage: str | None = None          # output bag storage; None: the input's
    extra: dict = field(default_factory=dict)


class _Session(Sink):
    def __init__(self, out: Path, reader: BagReader, model: LoadedModel, opts: ReplayOptions,
                 fps: float, image_count: int) -> None:
        storage = opts.storage or ("mcap" if any(p.suffix == ".mcap" for p in
                                                 reader.folder.iterdir()) else "sqlite3")
        flavour = reader.layout.audio_type
        self.bag = OutputBag(out / "bag", typestore(flavour), storage)
        self.video = OverlayVideo(out / "overlay.mp4", fps) if opts.video else None
        self.table = report.FrameTable(out / "frames.csv")
        self.evaluator = Evaluator(model.backend.num_classes, reader.layout.gt_topic, self._emit)
        self.geometry = GeometryEvaluator()
        self.stream = StreamMetrics(
            window_s=model.contract.window_samples / model.contract.sample_rate)
        self.localizer = None           # the engine's, set once it exists
        self.processing_ms: list[float] = []
        self.stage_ms: dict[str, list[float]] = {}    # pipeline stage -> wall ms per frame
        marks = sorted({int(f * max(image_count - 1, 0)) for f in EXAMPLE_FRACTIONS})
        self._marks = set(marks)
        self._seen = 0
        self.examples: list[tuple[str, np.ndarray]] = []

    def message(self, conn, log_ns, raw):
        self.bag.copy(conn, log_ns, raw)

    def frame(self, frame: ProcessedFrame):
        self.processing_ms.append(frame.result.timings_ms["total"])
        for stage, ms in frame.result.timings_ms.items():
            if stage != "total":
                self.stage_ms.setdefault(stage, []).append(ms)
        self.bag.frame(frame)
        self.geometry.frame(frame, self.localizer.camera if self.localizer else None)
        self.evaluator.frame(frame)

    def ground_truth(self, event):
        self.geometry.truth(event)
        self.evaluator.ground_truth(event)

    def geometry_truth(self, event):
        self.geometry.truth(event)

    def advance(self, now_ns):
        self.evaluator.advance(now_ns)
        self.bag.advance(now_ns)

    def _emit(self, frame: ProcessedFrame, gt, score: FrameScore) -> None:
        self.table.add(frame, score)
        if gt is not None:
            self.stream.update(frame.clip, frame.image.stamp_ns, frame.result.mask,
                               len(frame.result.objects), gt, score.j)
        shown = self.video.add(frame, gt, score) if self.video else None
        if self._seen in self._marks and shown is not None:
            j = f", J {score.j:.2f}" if score.j is not None else ""
            self.examples.append((f"stamp {frame.image.stamp_ns / 1e9:.2f} s{j}",
                                  shown[:, :, ::-1]))
        self._seen += 1

    def close(self) -> None:
        try:
            self.evaluator.finish()
        finally:
            self.table.close()
            if self.video:
                self.video.close()
            self.bag.close()


def _warm_up(pipeline: Pipeline, model: LoadedModel) -> None:
    """One frame of zeros through the pipeline, so that one-off costs (allocations, kernel
    selection, the mel filter bank) stay out of the first frame's latency."""
    h, w = model.contract.image_size
    pipeline.process(np.zeros((h, w, 3), np.uint8),
                     np.zeros(model.contract.window_samples, np.float32))


def _camera_fps(reader: BagReader) -> float:
    """Frame rate from the image topic's message count and the bag's span (15 when unknown)."""
    count = sum(c.msgcount for c in reader.connections if c.topic == reader.layout.image_topic)
    span = reader.layout.duration_ns / 1e9
    fps = (count - 1) / span if count > 1 and span > 0 else 15.0
    return float(min(max(fps, 0.2), 120.0))


def replay(bag: str | Path, out: str | Path, model: LoadedModel,
           opts: ReplayOptions = ReplayOptions(), progress: bool = True) -> dict:
    """Replay ``bag`` into the folder ``out`` (created; files in it are replaced).

    Returns:
        The summary written as metrics.json (see :func:`.report.summary`).

    Raises:
        BagError: the bag cannot be read as asked (nothing written but the folder), or is
            damaged part-way (partial results written, status "error").
        GroundTruthError: a mask of another size than its image (partial results written).
        StageError: a frame the model cannot take (the pipeline's stage and cause named).
    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with BagReader(bag, opts.image_topic, opts.audio_topic, opts.audio_type,
                   opts.audio_info_topic, opts.gt_topic, opts.clip_topic,
                   opts.depth_topic) as reader:
        pipeline = Pipeline(model.backend, model.contract, model.class_names,
                            opts.score_threshold, opts.min_area_px, overlay=True,
                            object_grid="model",     # the node's objects
                            temporal_smoothing=opts.temporal_smoothing)
        _warm_up(pipeline, model)
        engine = ReplayEngine(reader, pipeline, model.contract.window_samples, opts.max_skew_s,
                              opts.audio_buffer_s)
        images = sum(c.msgcount for c in reader.connections
                     if c.topic == reader.layout.image_topic)
        session = _Session(out, reader, model, opts, _camera_fps(reader), images)
        session.localizer = engine.localizer
        total = sum(c.msgcount for c in reader.connections)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="msg", desc="avs replay", leave=False)
        error = None
        try:
            engine.run(session, (lambda: bar.update(1)) if bar else None)
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if bar is not None:
                bar.close()
            try:
                session.close()
            except Exception as exc:   # e.g. the size mismatch found while flushing
                error = error or f"{type(exc).__name__}: {exc}"
                _write(out, reader, model, engine, session, t0, error)
                raise
            _write(out, reader, model, engine, session, t0, error)
    return report.summary_from_file(out / "metrics.json")


def _write(out, reader, model, engine, session, t0, error) -> None:
    outputs = {"bag": str(out / "bag"), "metrics": str(out / "metrics.json"),
               "frames": str(out / "frames.csv"), "report": str(out / "report.html")}
    if session.video is not None and session.video.frames:
        outputs["video"] = str(session.video.path)
        outputs["video_frames"] = session.video.frames
    data = report.summary(reader.folder, reader.layout, model.source, model.random_weights,
                          engine.stats, session.evaluator, session.processing_ms, outputs,
                          time.perf_counter() - t0, error, session.stage_ms)
    data["stream"] = session.stream.summary() if data["metrics"] else None
    if engine.localizer is not None:
        stats = engine.stats
        data["geometry"] = {"topics": {"camera_info": reader.layout.camera_info_topic,
                                       "depth": reader.layout.depth_topic},
                            "errors": session.geometry.summary(),
                            "incidents": dict(stats.geometry_incidents),
                            "step_p50_ms": float(np.median(stats.geometry_ms))
                            if stats.geometry_ms else None}
    report.write_json(out / "metrics.json", data)
    report.write_html(out, data, session.table.rows, session.examples)
