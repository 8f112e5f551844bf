"""Streaming resampler: chunked output equals scipy's resample_poly on the whole signal."""
import numpy as np
import pytest
from scipy.signal import resample_poly

from avs_ros.core.resample import StreamingResampler


@pytest.mark.parametrize("rate_in", [48000, 44100, 8000, 22050])
def test_chunked_stream_matches_resample_poly_of_whole_signal(rate_in):
    rng = np.random.default_rng(rate_in)
    x = rng.standard_normal(12000)
    r = StreamingResampler(rate_in, 16000)
    parts, i = [], 0
    while i < x.size:
        n = int(rng.integers(1, 2500))
        parts.append(r.process(x[i:i + n]))
        i += n
    y = np.concatenate(parts)
    ref = resample_poly(x, r.up, r.down)
    # everything but the look-ahead tail has been emitted, and it equals the offline result
    assert ref.size - y.size == pytest.approx(r.latency_inputs * r.up / r.down, abs=1.0)
    np.testing.assert_allclose(y, ref[:y.size], rtol=0, atol=1e-12)
    assert r.outputs_done == y.size and r.inputs_seen == x.size


def test_equal_rates_pass_through_and_bad_rates_raise():
    r = StreamingResampler(16000, 16000)
    x = np.arange(5.0)
    np.testing.assert_array_equal(r.process(x), x)
    assert r.latency_inputs == 0.0
    for bad in (0, -16000, 16000.0, True):
        with pytest.raises(ValueError, match="positive integer"):
            StreamingResampler(bad, 16000)


def test_one_large_chunk_spanning_several_vectorised_blocks():
    x = np.random.default_rng(1).standard_normal(10000)
    r = StreamingResampler(8000, 16000)                 # 19980 outputs at once
    y = r.process(x)
    np.testing.assert_allclose(y, resample_poly(x, 2, 1)[:y.size], rtol=0, atol=1e-12)
    assert y.size == 20000 - 20
