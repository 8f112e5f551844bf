"""Replay engine and evaluator without a model: a fake pipeline with a fixed processing
time makes the bag-clock schedules deterministic (drops, the real-time simulation), and
hand-made frames check the ground-truth matching and the scores."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from avs_models.metrics import BinaryAVSMetric, SemanticAVSMetric
from avs_ros.bag.reader import BagReader, GroundTruthEvent, ImageEvent
from avs_ros.bag.sources import Audio, Frame
from avs_ros.bag.writer import write_bag
from avs_ros.core.pipeline import Result
from avs_ros.replay.engine import ProcessedFrame, ReplayEngine, Sink
from avs_ros.replay.evaluation import Evaluator, GroundTruthError, probability_to_logits

NS = 10**9
START = 1_700_000_000 * NS


class FakePipeline:
    """Pipeline stand-in: an empty mask, ``latency_ms`` per frame."""

    def __init__(self, latency_ms: float) -> None:
        self.latency_ms = latency_ms

    def process(self, rgb, window, stamp_ns=None):
        assert window.shape == (15600,) and window.dtype == np.float32
        h, w = rgb.shape[:2]
        return Result(np.zeros((h, w), np.uint8), np.full((h, w), 0.25, np.float32), [], None,
                      {"total": self.latency_ms})


class Collect(Sink):
    def __init__(self) -> None:
        self.frames: list[ProcessedFrame] = []

    def frame(self, frame):
        self.frames.append(frame)


def _bag(tmp_path, audio_s: float, frames_s: float, fps: float = 10.0):
    """Audio (0.1 amplitude noise) for ``audio_s`` s, frames every 1/fps s up to frames_s."""
    rng = np.random.default_rng(0)
    items = [Audio(START, (0.1 * rng.standard_normal(int(audio_s * 16000))).astype(np.float32))]
    n = int(round(frames_s * fps))
    items += [Frame(START + (k + 1) * NS // int(fps), np.zeros((8, 8, 3), np.uint8), None, "c")
              for k in range(n)]
    out = tmp_path / "bag"
    write_bag(items, out, chunk_ms=(50, 50))
    return out


def test_offline_schedule_counts_drops_like_the_node(tmp_path):
    # audio for 2 s, frames for 3 s at 10 FPS: 9 frames before the window fits (stamps <
    # 0.975 s; waiting for audio, not lost), frames 1.0..2.0 s processed, those after 2 s never get audio (dropped after
    # max_skew: no_audio; the last ones are still waiting when the bag ends)
    bag = _bag(tmp_path, audio_s=2.0, frames_s=3.0)
    with BagReader(bag) as reader:
        sink = Collect()
        stats = ReplayEngine(reader, FakePipeline(0.0), max_skew_s=0.15).run(sink)
    stamps = [(f.image.stamp_ns - START) / NS for f in sink.frames]
    assert stamps == pytest.approx([1.0 + 0.1 * k for k in range(11)])
    assert stats.waiting_for_audio == 9 and stats.dropped_audio_gone == 0
    assert stats.processed == 11
    assert stats.dropped_no_audio + stats.pending_at_end == 10 and stats.dropped_no_audio >= 8
    assert stats.frames == 30
    # the real-time policy with instant inference processes the same frames
    assert stats.realtime["processed"] == 11 and stats.realtime["dropped_superseded"] == 0


def test_realtime_simulation_drops_frames_a_slow_model_cannot_keep_up_with(tmp_path):
    bag = _bag(tmp_path, audio_s=3.0, frames_s=3.0)
    with BagReader(bag) as reader:
        stats = ReplayEngine(reader, FakePipeline(450.0)).run(Collect())
    rt = stats.realtime
    assert stats.processed == 21                       # offline: every pairable frame
    # frames 1.0..3.0 s are ready 5 ms after their stamp; one inference lasts 0.45 s, so the
    # node takes 1.0 (busy to 1.455 s), then the newest ready: 1.4, 1.8, 2.3, 2.8, 3.0
    assert rt["processed"] == 6 and rt["dropped_superseded"] == 15
    assert len(stats.realtime_latency_ms) == 6
    assert min(stats.realtime_latency_ms) >= 450.0


def _frame(stamp: int, prob: np.ndarray, clip: str = "a") -> ProcessedFrame:
    mask = (prob > 0.5).astype(np.uint8)
    image = ImageEvent(stamp, stamp, "cam", np.zeros(prob.shape + (3,), np.uint8))
    return ProcessedFrame(image, clip, stamp, stamp - 975_000_000,
                          Result(mask, prob, [], None, {"total": 1.0}))


def test_evaluator_matches_late_masks_and_scores_like_the_metric():
    rng = np.random.default_rng(1)
    probs = [rng.random((6, 7)).astype(np.float32) for _ in range(3)]
    gts = [(rng.random((6, 7)) > 0.6).astype(np.uint8) for _ in range(3)]
    gts[1][:] = 0                                        # empty ground truth: F skips it
    emitted = []
    ev = Evaluator(1, "/gt", lambda f, g, s: emitted.append((f.image.stamp_ns, g, s)),
                   horizon_s=1.0)
    ev.ground_truth(GroundTruthEvent(0, 99, np.ones((6, 7), np.uint8)))   # a dropped frame's
    for k in range(3):
        ev.frame(_frame(100 + k, probs[k], clip="a" if k < 2 else "b"))
    assert emitted == []                                 # waiting for the masks
    for k in (0, 1):
        ev.ground_truth(GroundTruthEvent(0, 100 + k, gts[k]))
    ev.advance(200)
    assert [e[0] for e in emitted] == [100, 101]
    ev.advance(102 + 2 * NS)                             # frame 102 gave up waiting
    ev.ground_truth(GroundTruthEvent(0, 102, gts[2]))    # too late: unmatched
    ev.finish()
    assert [e[0] for e in emitted] == [100, 101, 102] and emitted[2][1] is None
    assert (ev.frames_scored, ev.frames_unannotated, ev.gt_unmatched) == (2, 1, 2)
    ref = BinaryAVSMetric("clip")
    for k in (0, 1):
        ref.update(probability_to_logits(probs[k]), torch.from_numpy(gts[k] != 0)[None], ["a"])
    want = ref.compute()
    got = ev.summary()
    assert got["J"] == pytest.approx(want["J"]) and got["F"] == pytest.approx(want["F"])
    p, g = probs[0] > 0.5, gts[0] != 0
    assert emitted[0][2].j == pytest.approx((p & g).sum() / (p | g).sum())
    background = probs[1] <= 0.5                         # empty ground truth: TN fraction
    assert emitted[1][2].f is None
    assert emitted[1][2].j == pytest.approx(background.sum() / background.size)


def test_semantic_scores_and_size_mismatch():
    pred = np.array([[0, 1, 1], [2, 2, 0]], np.uint8)
    gt = np.array([[0, 1, 2], [2, 2, 0]], np.uint8)
    emitted = []
    ev = Evaluator(3, "/gt", lambda f, g, s: emitted.append(s))
    frame = _frame(5, np.full(pred.shape, 0.9, np.float32))
    frame = ProcessedFrame(frame.image, "a", 5, 0, Result(pred, frame.result.probability, [],
                                                          None, {"total": 1.0}))
    ev.ground_truth(GroundTruthEvent(0, 5, gt))
    ev.frame(frame)
    ref = SemanticAVSMetric(3)
    ref.update(torch.from_numpy(pred.astype(np.int64))[None],
               torch.from_numpy(gt.astype(np.int64))[None])
    assert ev.summary()["mIoU"] == pytest.approx(ref.compute()["mIoU"])
    # classes 0: IoU 1, 1: 1/2, 2: 2/3 -> frame mean over present classes
    assert emitted[0].j == pytest.approx((1 + 0.5 + 2 / 3) / 3)
    ev.ground_truth(GroundTruthEvent(0, 6, np.zeros((4, 4), np.uint8)))
    with pytest.raises(GroundTruthError, match=r"at stamp 6 ns is 4x4 px but its image .* "
                                               r"is 3x2 px"):
        ev.frame(_frame(6, np.zeros((2, 3), np.float32)))


def test_binary_accumulation_equals_the_metric_with_clip_grouping():
    rng = np.random.default_rng(2)
    clips = ["a", "a", "b", "b", "b", "c"]
    probs = [rng.random((5, 9)).astype(np.float32) for _ in clips]
    gts = [(rng.random((5, 9)) > 0.5).astype(np.uint8) for _ in clips]
    gts[5][:] = 0                                         # clip c: all empty -> F 0, counts
    ev = Evaluator(1, "/gt", lambda *a: None)
    ref = BinaryAVSMetric("clip")
    for k, clip in enumerate(clips):
        ev.ground_truth(GroundTruthEvent(0, k, gts[k]))
        ev.frame(_frame(k, probs[k], clip))
        ref.update(probability_to_logits(probs[k]), torch.from_numpy(gts[k] != 0)[None], [clip])
    got, want = ev.summary(), ref.compute()
    for key in ("J", "F", "J_group_mean"):
        assert got[key] == pytest.approx(want[key], rel=1e-6), key
    assert (got["groups"], got["frames"]) == (3, 6)
