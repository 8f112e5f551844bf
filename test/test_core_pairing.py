"""Frame/audio pairing policy on an explicit clock, with a real audio buffer and real samples."""
import numpy as np
import pytest

from avs_ros.core.audio_buffer import AudioBuffer
from avs_ros.core.pairing import FramePairer

T0 = 1_700_000_000 * 10**9
NS = 62_500                       # ns per 16 kHz sample
MS = 1_000_000
N = 15600
SIGNAL = np.random.default_rng(0).integers(-32768, 32768, 16000 * 6).astype(np.int16)


def _audio_until(pairer, start, end):
    """Push SIGNAL[start:end] (sample indices) as one chunk stamped at its first sample."""
    pairer.push_audio(T0 + start * NS, SIGNAL[start:end].tobytes(), 16000)


def _pairer(**kwargs):
    return FramePairer(AudioBuffer(capacity_s=4), N, **kwargs)


def test_frame_waits_for_its_audio_then_is_paired_with_the_window_ending_at_its_stamp():
    p = _pairer(max_skew_s=0.1)
    _audio_until(p, 0, 20000)
    stamp = T0 + 20800 * NS                      # audio up to 20000 only: not yet
    p.add_frame(stamp, "frame-a", now_ns=stamp + 5 * MS)
    assert p.take(now_ns=stamp + 10 * MS) is None and p.pending == 1
    _audio_until(p, 20000, 21000)
    got = p.take(now_ns=stamp + 60 * MS)
    assert got.frame == "frame-a" and got.stamp_ns == stamp
    assert got.waited_ns == 55 * MS
    np.testing.assert_array_equal(got.audio, SIGNAL[20800 - N:20800] / 32768.0)
    assert (p.stats.frames, p.stats.paired, p.pending) == (1, 1, 0)
    assert p.take(now_ns=stamp + 70 * MS) is None


def test_frame_without_audio_is_dropped_after_max_skew():
    p = _pairer(max_skew_s=0.1)
    _audio_until(p, 0, 20000)
    stamp = T0 + 25000 * NS
    p.add_frame(stamp, "late", now_ns=stamp)
    assert p.take(now_ns=stamp + 100 * MS) is None and p.pending == 1    # still within skew
    p.update(now_ns=stamp + 100 * MS + 1)
    assert p.pending == 0 and p.stats.dropped_no_audio == 1
    _audio_until(p, 20000, 30000)                                        # too late now
    assert p.take(now_ns=stamp + 200 * MS) is None and p.stats.paired == 0


def test_latest_ready_frame_wins_while_inference_is_busy():
    p = _pairer()
    _audio_until(p, 0, 40000)
    stamps = [T0 + k * NS for k in (20000, 25000, 30000)]
    for i, s in enumerate(stamps):                 # inference busy: nobody takes
        p.add_frame(s, i, now_ns=T0 + 40000 * NS)
    assert p.pending == 1 and p.stats.dropped_superseded == 2
    got = p.take(now_ns=T0 + 40000 * NS + 10 * MS)
    assert got.frame == 2
    np.testing.assert_array_equal(got.audio, SIGNAL[30000 - N:30000] / 32768.0)


def test_ready_frame_is_kept_for_a_newer_frame_still_waiting_and_never_expires():
    p = _pairer(max_skew_s=0.05)
    _audio_until(p, 0, 20000)
    ready, waiting = T0 + 19000 * NS, T0 + 21000 * NS
    p.add_frame(ready, "ready", now_ns=ready)
    p.add_frame(waiting, "waiting", now_ns=waiting)
    got = p.take(now_ns=ready + 40 * MS)
    assert got.frame == "ready" and p.pending == 1
    # a ready frame waits for inference as long as needed; only newer ready frames replace it
    _audio_until(p, 20000, 22000)
    p.update(now_ns=waiting + 30 * MS)              # "waiting" is ready now
    assert p.take(now_ns=waiting + 10_000 * MS).frame == "waiting"
    assert p.stats.dropped_no_audio == 0 and p.stats.paired == 2


def test_frames_whose_audio_is_gone_are_dropped_at_once():
    p = _pairer()
    _audio_until(p, 0, 16000 * 6)                   # 6 s into a 4 s ring
    p.add_frame(T0 + 10000 * NS, "before-start", now_ns=T0)
    p.add_frame(T0 + 30000 * NS, "evicted", now_ns=T0)
    # before the first audio sample: the stream had not started, no audio was lost
    assert p.pending == 0 and p.stats.waiting_for_audio == 1
    assert p.stats.dropped_audio_gone == 1
    # after a reset (the stream jumped back 3 s), a window before the new segment is gone
    p.push_audio(T0 - 3 * 10**9, SIGNAL[:16000].tobytes(), 16000)
    p.add_frame(T0 - 3 * 10**9 + 5000 * NS, "before-new-segment", now_ns=T0)
    assert p.stats.dropped_audio_gone == 2 and p.stats.waiting_for_audio == 1


def test_frames_before_any_audio_count_as_waiting_not_as_lost_audio():
    p = _pairer(max_skew_s=0.05)
    p.add_frame(T0 + 20000 * NS, "early", now_ns=T0)
    p.update(now_ns=T0 + 60 * MS)                   # expired with no audio at all
    assert p.stats.waiting_for_audio == 1 and p.stats.dropped_no_audio == 0
    _audio_until(p, 0, 16000)
    p.add_frame(T0 + 20000 * NS, "late", now_ns=T0)
    p.update(now_ns=T0 + 60 * MS)                   # audio exists but never reached it
    assert p.stats.dropped_no_audio == 1 and p.stats.waiting_for_audio == 1


def test_pending_list_is_capped():
    p = _pairer(max_skew_s=10.0, max_pending=3)
    _audio_until(p, 0, 20000)
    for k in range(5):                               # none has audio yet
        p.add_frame(T0 + (30000 + k * 100) * NS, k, now_ns=T0)
    assert p.pending == 3 and p.stats.dropped_superseded == 2
    _audio_until(p, 20000, 40000)
    assert p.take(now_ns=T0).frame == 4


def _replay(script):
    """Run a scripted session: audio chunks of 1024 samples arriving 20 ms after their last
    sample, frames at 30 Hz arriving 10 ms after their stamp, an inference of 45 ms."""
    p = _pairer(max_skew_s=0.08)
    events = []
    for start in range(0, 16000 * 3, 1024):
        end = min(start + 1024, 16000 * 3)
        events.append((T0 + end * NS + 20 * MS, 0, "audio", (start, end)))
    for k in range(1, 90):
        stamp = T0 + k * 10**9 // 30
        events.append((stamp + 10 * MS, 1, "frame", stamp))
    events.sort()
    busy_until, served = 0, []
    for now, _, kind, payload in events:
        if kind == "audio":
            _audio_until(p, *payload)
        else:
            p.add_frame(payload, payload, now_ns=now)
        if now >= busy_until:
            got = p.take(now_ns=now)
            if got is not None:
                served.append((got.stamp_ns, got.waited_ns, float(got.audio.sum())))
                busy_until = now + 45 * MS
    return served, p.stats, p.pending


def test_scripted_replay_is_deterministic_and_accounts_for_every_frame():
    served, stats, pending = _replay(None)
    again = _replay(None)
    assert (served, stats, pending) == again
    assert stats.frames == 89
    assert stats.frames == (stats.paired + stats.waiting_for_audio + stats.dropped_no_audio
                            + stats.dropped_audio_gone + stats.dropped_superseded + pending)
    # the first 0.975 s of frames have no full window (waiting for audio, not audio lost);
    # later ones are served or superseded
    assert stats.waiting_for_audio == 29 and stats.dropped_audio_gone == 0
    assert stats.paired == len(served) > 20 and stats.dropped_superseded > 0
    stamps = [s for s, _, _ in served]
    assert stamps == sorted(stamps)
    for stamp, _, total in served:                  # each window is the real signal
        e = (stamp - T0 + NS // 2) // NS
        assert total == pytest.approx(float((SIGNAL[e - N:e] / 32768.0).astype(np.float32).sum()),
                                      rel=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_skew_s"):
        _pairer(max_skew_s=-1)
    with pytest.raises(ValueError, match="max_pending"):
        _pairer(max_pending=0)
    with pytest.raises(ValueError, match="capacity"):
        FramePairer(AudioBuffer(capacity_s=0.5), N)
