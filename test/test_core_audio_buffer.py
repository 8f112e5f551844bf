"""Audio ring buffer: exact windows, formats, resampling, gaps, overlaps, resets, eviction."""
import array

import numpy as np
import pytest
from scipy.signal import resample_poly

from avs_ros.core.audio_buffer import AudioBuffer, WindowStatus, decode_samples
from avs_ros.core.errors import AudioFormatError

T0 = 1_700_000_000 * 10**9      # a realistic stamp, ns
NS = 62_500                      # one 16 kHz sample in ns
N = 15600


def _int16(n, seed=0):
    return np.random.default_rng(seed).integers(-32768, 32768, n).astype(np.int16)


def _push_chunks(buf, x, rate, sizes, t0=T0, as_bytes=True):
    i = 0
    for n in sizes:
        if i >= x.size:
            break
        chunk = x[i:i + n]
        buf.push(t0 + i * 10**9 // rate, chunk.tobytes() if as_bytes else chunk, rate)
        i += n
    return i


def test_window_equals_pushed_samples_across_chunks_s16le_bytes():
    x = _int16(40000)
    buf = AudioBuffer(capacity_s=5)
    rng = np.random.default_rng(1)
    sizes = list(rng.integers(1, 1500, 60)) + [40000]
    _push_chunks(buf, x, 16000, sizes)
    assert buf.end_ns == T0 + 40000 * NS
    for e in (N, 23456, 40000):
        w = buf.window(T0 + e * NS)
        assert w.status is WindowStatus.OK and w.samples.dtype == np.float32
        np.testing.assert_array_equal(w.samples, x[e - N:e] / 32768.0)
    # a stamp between two samples rounds to the nearest sample boundary
    w = buf.window(T0 + 30000 * NS + NS // 3)
    np.testing.assert_array_equal(w.samples, x[30000 - N:30000] / 32768.0)
    assert buf.stats.samples_received == 40000 and buf.stats.gaps == buf.stats.overlaps == 0


def test_int16_and_float_arrays_and_f32le_bytes():
    x = _int16(N)
    f = (x / 32768.0).astype(np.float32)
    for samples, fmt in ((x, None), (array.array("h", x.tolist()), None), (f, None),
                         (f.astype("<f4").tobytes(), "F32LE"), (x.tobytes(), "s16le")):
        buf = AudioBuffer(capacity_s=2)
        buf.push(T0, samples, 16000, 1, fmt)
        np.testing.assert_array_equal(buf.window(T0 + N * NS).samples, f)


def test_interleaved_stereo_is_averaged():
    left, right = _int16(N, 1), _int16(N, 2)
    inter = np.stack([left, right], axis=1).reshape(-1)
    buf = AudioBuffer(capacity_s=2)
    buf.push(T0, inter.tobytes(), 16000, channels=2)
    expected = ((left.astype(np.float64) + right) / 2 / 32768.0).astype(np.float32)
    np.testing.assert_array_equal(buf.window(T0 + N * NS).samples, expected)
    assert buf.stats.samples_received == N


def test_48k_is_resampled_with_right_length_and_tone_frequency():
    rate, seconds, tone = 48000, 2.0, 1000.0
    t = np.arange(int(rate * seconds)) / rate
    x = (0.5 * np.sin(2 * np.pi * tone * t) * 32767).astype(np.int16)
    buf = AudioBuffer(capacity_s=4)
    _push_chunks(buf, x, rate, [480] * 200)
    # 96000 samples at 48 kHz -> 32000 at 16 kHz, less the 0.625 ms look-ahead (10 samples)
    assert buf._written == 32000 - 10
    assert buf.end_ns == T0 + (32000 - 10) * NS
    end = 30000
    w = buf.window(T0 + end * NS)
    ref = resample_poly(x / 32768.0, 1, 3)
    np.testing.assert_allclose(w.samples, ref[end - N:end], atol=1e-6)
    spectrum = np.abs(np.fft.rfft(w.samples * np.hanning(N)))
    peak_hz = np.argmax(spectrum) * 16000 / N
    assert abs(peak_hz - tone) < 16000 / N
    # amplitude kept (no loss through the filter in the pass band)
    assert np.abs(w.samples).max() == pytest.approx(0.5, abs=0.01)


def test_gap_is_zero_filled_and_counted():
    a, b = _int16(16000, 1), _int16(16000, 2)
    buf = AudioBuffer(capacity_s=5, gap_tolerance_s=0.02)
    buf.push(T0, a.tobytes(), 16000)
    buf.push(T0 + (16000 + 1600) * NS, b.tobytes(), 16000)       # 0.1 s missing
    assert buf.stats.gaps == 1 and buf.stats.gap_samples == 1600
    end = 16000 + 1600 + 8000
    w = buf.window(T0 + end * NS).samples
    expected = np.concatenate([a, np.zeros(1600, np.int16), b])[end - N:end] / 32768.0
    np.testing.assert_array_equal(w, expected.astype(np.float32))
    assert not w[N - 8000 - 1600:N - 8000].any()


def test_gap_in_a_48k_stream_is_filled_before_resampling():
    a, b = _int16(48000, 1), _int16(48000, 2)
    buf = AudioBuffer(capacity_s=5)
    buf.push(T0, a.tobytes(), 48000)
    buf.push(T0 + 10**9 + 5 * 10**7, b.tobytes(), 48000)            # 50 ms missing
    assert buf.stats.gaps == 1 and buf.stats.gap_samples == 2400
    whole = np.concatenate([a, np.zeros(2400, np.int16), b]) / 32768.0
    end = 16000 + 800 + 10000
    np.testing.assert_allclose(buf.window(T0 + end * NS).samples,
                               resample_poly(whole, 1, 3)[end - N:end], atol=1e-6)


def test_stamp_jitter_within_tolerance_is_ignored():
    x = _int16(32000)
    buf = AudioBuffer(capacity_s=5, gap_tolerance_s=0.02)
    jitter = np.random.default_rng(3).integers(-10**7, 10**7, 64)   # +-10 ms
    jitter[0] = 0                     # the first chunk's stamp anchors the time axis
    for k in range(64):
        buf.push(T0 + k * 500 * NS + int(jitter[k]), x[k * 500:(k + 1) * 500].tobytes(), 16000)
    assert buf.stats.gaps == buf.stats.overlaps == 0
    np.testing.assert_array_equal(buf.window(T0 + 32000 * NS).samples, x[-N:] / 32768.0)


def test_repeated_and_overlapping_chunks_do_not_corrupt_the_buffer():
    x = _int16(32000)
    buf = AudioBuffer(capacity_s=5)
    buf.push(T0, x[:16000].tobytes(), 16000)
    buf.push(T0, x[:16000].tobytes(), 16000)                          # duplicate message
    assert buf.stats.overlaps == 1 and buf.stats.overlap_samples == 16000
    assert buf.end_ns == T0 + 16000 * NS
    buf.push(T0 + 12000 * NS, x[12000:32000].tobytes(), 16000)        # starts 0.25 s early
    assert buf.stats.overlaps == 2 and buf.stats.overlap_samples == 16000 + 4000
    np.testing.assert_array_equal(buf.window(T0 + 32000 * NS).samples, x[-N:] / 32768.0)
    assert buf.stats.resets == 0


def test_large_backwards_jump_starts_a_new_segment():
    x = _int16(40000)
    buf = AudioBuffer(capacity_s=5, reset_backwards_s=1.0)
    buf.push(T0 + 5 * 10**9, x[:20000].tobytes(), 16000)
    buf.push(T0, x[20000:].tobytes(), 16000)                          # e.g. bag looped
    assert buf.stats.resets == 1
    assert buf.window(T0 + 5 * 10**9 + 20000 * NS).status is WindowStatus.NOT_YET
    assert buf.window(T0 + 10000 * NS).status is WindowStatus.BEFORE_START
    np.testing.assert_array_equal(buf.window(T0 + 20000 * NS).samples, x[-N:] / 32768.0)


def test_status_not_yet_evicted_before_start():
    buf = AudioBuffer(capacity_s=2.0)
    assert buf.window(T0).status is WindowStatus.NOT_YET and buf.end_ns is None
    x = _int16(48000)
    _push_chunks(buf, x, 16000, [1600] * 30)                          # 3 s into a 2 s ring
    assert buf.window(T0 + 48001 * NS).status is WindowStatus.NOT_YET
    assert buf.window(T0 + 48000 * NS).status is WindowStatus.OK
    # oldest kept sample is 48000 - 32000 = 16000
    assert buf.window(T0 + (16000 + N) * NS).status is WindowStatus.OK
    np.testing.assert_array_equal(buf.window(T0 + (16000 + N) * NS).samples,
                                  x[16000:16000 + N] / 32768.0)
    assert buf.window(T0 + (15999 + N) * NS).status is WindowStatus.EVICTED
    assert buf.window(T0 + (N - 1) * NS).status is WindowStatus.BEFORE_START
    assert buf.status(T0 + 48000 * NS) is WindowStatus.OK
    with pytest.raises(ValueError, match="capacity"):
        buf.window(T0, num_samples=32001)


def test_rate_change_and_rate_mismatch_are_counted():
    buf = AudioBuffer(capacity_s=5)
    buf.push(T0, _int16(1600).tobytes(), 16000)
    buf.push(T0 + 1600 * NS, _int16(4800).tobytes(), 48000)
    assert buf.stats.rate_changes == 1 and buf.stats.resets == 1
    # announced 48 kHz, but the stamps advance by one second per 16000 samples
    wrong = AudioBuffer(capacity_s=5, rate_check_s=2.0)
    right = AudioBuffer(capacity_s=5, rate_check_s=2.0)
    for k in range(31):
        wrong.push(T0 + k * 10**8, _int16(1600).tobytes(), 48000)
        right.push(T0 + k * 10**8, _int16(1600).tobytes(), 16000)
    assert wrong.stats.rate_mismatches == 1 and right.stats.rate_mismatches == 0
    assert wrong.measured_rate_hz == pytest.approx(16000)
    assert right.measured_rate_hz == pytest.approx(16000)


def test_bad_chunks_raise_and_leave_the_buffer_unchanged():
    buf = AudioBuffer(capacity_s=2)
    buf.push(T0, _int16(N).tobytes(), 16000)
    cases = [
        (dict(samples=b"\x00" * 3), "whole number"),
        (dict(samples=b"\x00" * 8, channels=3), "whole number"),
        (dict(samples=b"\x00" * 4, fmt="S16BE"), "sample format"),
        (dict(samples=np.zeros(4, np.int64)), "int8/int16/int32"),
        (dict(samples=np.array([0.0, np.nan], np.float32)), "NaN"),
        (dict(samples=np.zeros(4, np.int16), sample_rate=0), "sample_rate"),
        (dict(samples=np.zeros(4, np.int16), channels=0), "channels"),
        # AudioInfo.sample_rate = 1000000007 once cost a 149 GiB filter: out of range now
        (dict(samples=np.zeros(4, np.int16), sample_rate=1_000_000_007),
         r"sample_rate must be an integer in \[1000, 384000\] Hz"),
        (dict(samples=np.zeros(65, np.int16), channels=65), r"channels .*\[1, 64\]"),
    ]
    for kwargs, match in cases:
        args = dict(stamp_ns=T0 + N * NS, sample_rate=16000, channels=1, fmt="S16LE") | kwargs
        with pytest.raises(AudioFormatError, match=match):
            buf.push(**args)
    assert buf.stats.chunks == 1 and buf.end_ns == T0 + N * NS
    with pytest.raises(ValueError, match="capacity_s"):
        AudioBuffer(capacity_s=0)


def test_decode_samples_uint8_array_is_raw_bytes():
    x = np.array([1, -2, 300], np.int16)
    np.testing.assert_array_equal(decode_samples(np.frombuffer(x.tobytes(), np.uint8), 1, "S16LE"),
                                  x / 32768.0)
