"""StreamMetrics (avs replay's stream figures) on scripted mask sequences with known answers."""
import numpy as np
import pytest

from avs_ros.replay.stream_metrics import StreamMetrics, format_summary

H = W = 64
STEP_NS = 100_000_000          # 10 fps


def square(x0, on=True):
    m = np.zeros((H, W), np.uint8)
    if on:
        m[20:40, x0:x0 + 20] = 1
    return m


def run(frames):
    """frames: (gt, pred, objects) per frame, one clip."""
    sm = StreamMetrics(min_event_px=50, max_lag_s=1.0)
    for k, (gt, pred, objects) in enumerate(frames):
        inter = np.logical_and(gt, pred).sum()
        union = np.logical_or(gt, pred).sum()
        sm.update("clip", k * STEP_NS, pred, objects, gt, inter / union if union else 1.0)
    return sm.summary()


def test_onset_and_offset_lags_follow_a_moving_object():
    frames = []
    for k in range(30):
        x = 5 + k // 2                                # the object drifts right
        gt_on = 5 <= k < 20                           # sounds from frame 5 to 19
        pred_on = 8 <= k < 22                         # seen 3 frames late, kept 2 frames long
        frames.append((square(x, gt_on), square(x, pred_on), int(pred_on)))
    s = run(frames)
    assert s["onset"]["events"] == 1 and s["onset"]["median_frames"] == 3
    assert s["onset"]["median_ms"] == pytest.approx(300)
    assert s["offset"]["events"] == 1 and s["offset"]["median_frames"] == 2
    # silent frames: 0-4 and 20-29 (15); objects published on 20, 21
    assert s["silent_frames"] == 15 and s["silent_with_object"] == 2
    assert s["silent_no_object"] == pytest.approx(13 / 15)
    # whole 0.975 s window silent: frames 0-4 (before any sound) and 29 (1.0 s after 19)
    assert s["silent_window_frames"] == 6 and s["silent_window_no_object"] == 1.0
    # frames 5-7 sound with nothing predicted (J 0), 8-19 exact (J 1)
    assert s["J_sounding"] == pytest.approx(12 / 15)
    assert "onset lag: median 300 ms (3 frames)" in "\n".join(format_summary(s))


def test_flicker_counts_changes_on_pairs_without_onset_or_offset():
    gt = square(10)
    frames = [(gt, square(10, k % 2 == 0), int(k % 2 == 0)) for k in range(10)]
    s = run(frames)
    assert s["stable_pairs"] == 9 and s["presence_flips"] == pytest.approx(1.0)
    assert s["flicker"] == pytest.approx(400 / (H * W))
    assert s["flicker_gt"] == 0.0
    steady = run([(gt, gt, 1)] * 10)
    assert steady["flicker"] == 0.0 and steady["presence_flips"] == 0.0


def test_unresolved_and_interrupted_events():
    # an onset never predicted: missed after max_lag_s (1 s = 10 frames)
    frames = [(square(10, k >= 2), square(10, False), 0) for k in range(20)]
    s = run(frames)
    assert s["onset"]["events"] == 0 and s["onset"]["missed"] == 1
    # a sound that stops before it was found: censored, not a lag
    frames = [(square(10, 2 <= k < 4), square(10, False), 0) for k in range(8)]
    s = run(frames)
    assert s["onset"]["censored"] == 1 and s["onset"]["events"] == 0
    # the mask is already gone where the sound stops: offset lag 0
    frames = [(square(10, k < 5), square(10, k < 5), int(k < 5)) for k in range(8)]
    assert run(frames)["offset"]["median_frames"] == 0
