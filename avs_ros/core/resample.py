"""Streaming polyphase resampler with carried state (chunk boundaries leave no trace).

It computes, chunk by chunk, exactly what ``scipy.signal.resample_poly(x, up, down)`` (default
Kaiser window, beta 5.0) computes on the whole concatenated signal, so no click or phase jump
appears where one audio message ends and the next begins. Output sample ``j`` is the
zero-phase (centred) filter output at input position ``j * down / up``; the filter's group
delay is therefore compensated and output sample ``j`` has the time stamp of that input
position. The price is a look-ahead: output ``j`` is emitted only once the input samples its
filter reaches have arrived, which holds back ``half_len / up`` input samples
(``half_len = 10 * max(up, down)``, as in scipy): 0.63 ms at 48 kHz, 0.63 ms at 44.1 kHz,
1.25 ms at 8 kHz. Samples before the first input count as zeros (as scipy's zero padding).

Filter design (anti-aliasing low-pass at the lower of the two Nyquist rates) follows
``resample_poly``'s documented defaults: ``firwin(2 * half_len + 1, 1 / max(up, down),
window=("kaiser", 5.0))`` scaled by ``up``. Equal rates pass samples through untouched.

Bounded cost. The filter has ``20 * max(up, down) + 1`` taps, so an odd rate would cost
without bound (a prime rate near 384 kHz: 7.7 M taps, 115 s of filter design). Factors are
therefore capped at :data:`MAX_FACTOR` (1000; every standard rate from 8 to 384 kHz needs at
most 640, e.g. 11025 -> 16000 is 640/441, and is exact): a rate whose exact ratio needs more
is resampled at the nearest ratio within the cap (``Fraction.limit_denominator``), with a
relative rate error ``rate_error`` (-3.4e-5 for the prime 383987 Hz, -8.9e-6 for 1009 Hz,
-5.1e-7 for 44056 Hz: at most 34 us per second, which the audio buffer's stamp checks
absorb). Filters are designed once per (up, down) and cached.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import gcd

import numpy as np

_BLOCK = 8192   # outputs computed per vectorised step (caps temporaries at ~8 MB)
#: largest up or down factor (filter taps = 20 * factor + 1, designed in ~0.2 s)
MAX_FACTOR = 1000


def _factors(rate_in: int, rate_out: int) -> tuple[int, int]:
    """(up, down) of ``rate_out / rate_in``, exact when both are <= MAX_FACTOR, else the
    nearest fraction whose terms are."""
    g = gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    limit = max(1, MAX_FACTOR * min(rate_in, rate_out) // rate_out)
    while max(up, down) > MAX_FACTOR:
        frac = Fraction(rate_out, rate_in).limit_denominator(limit)
        up, down = max(frac.numerator, 1), frac.denominator
        limit = max(1, limit * 9 // 10)
    return up, down


@lru_cache(maxsize=16)
def _design(up: int, down: int) -> tuple[int, np.ndarray]:
    """(half_len, polyphase weights [up, taps_per_phase]) of resample_poly's default filter."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    half_len = 10 * max_rate
    taps = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up
    taps_per_phase = -(-taps.size // up)            # ceil
    padded = np.zeros(taps_per_phase * up)
    padded[:taps.size] = taps
    # weights[phase, t] multiplies input sample (i_hi - t) for outputs of that phase
    weights = padded.reshape(taps_per_phase, up).T.copy()
    weights.setflags(write=False)
    return half_len, weights


class StreamingResampler:
    """Resample a 1-D stream from ``rate_in`` to ``rate_out`` Hz, one chunk at a time.

    Args:
        rate_in, rate_out: sample rates in Hz (positive integers).

    Raises:
        ValueError: a rate that is not a positive integer.
    """

    def __init__(self, rate_in: int, rate_out: int) -> None:
        for name, rate in (("rate_in", rate_in), ("rate_out", rate_out)):
            if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool) or rate <= 0:
                raise ValueError(f"{name} must be a positive integer in Hz, got {rate!r}")
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.up, self.down = _factors(self.rate_in, self.rate_out)
        #: relative error of the output rate (0 unless the ratio was approximated)
        self.rate_error = self.rate_in * self.up / (self.down * self.rate_out) - 1.0
        self.inputs_seen = 0    # input samples consumed so far
        self.outputs_done = 0   # output samples emitted so far
        if self.up == self.down == 1:
            return
        self.half_len, self._weights = _design(self.up, self.down)
        self.taps_per_phase = self._weights.shape[1]
        self._offsets = np.arange(self.taps_per_phase)
        # history[k] holds input sample (history_start + k); negative indices are zeros
        self._history = np.zeros(self.taps_per_phase)
        self._history_start = -self.taps_per_phase

    @property
    def latency_inputs(self) -> float:
        """Input samples held back by the look-ahead (0 for equal rates)."""
        return 0.0 if self.up == self.down == 1 else self.half_len / self.up

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed float samples [n]; return float64 [m], the outputs that are now complete
        (m varies from chunk to chunk; over the stream, output j follows output j - 1)."""
        chunk = np.asarray(chunk, dtype=np.float64).reshape(-1)
        self.inputs_seen += chunk.size
        if self.up == self.down == 1:
            self.outputs_done += chunk.size
            return chunk
        self._history = np.concatenate([self._history, chunk])
        # output j needs inputs up to i_hi(j) = (j * down + half_len) // up < inputs_seen
        last = (self.inputs_seen * self.up - 1 - self.half_len) // self.down
        if last < self.outputs_done:
            return np.zeros(0)
        out = np.empty(last + 1 - self.outputs_done)
        for first in range(self.outputs_done, last + 1, _BLOCK):   # bounded temporaries
            j = np.arange(first, min(first + _BLOCK, last + 1))
            pos = j * self.down + self.half_len
            i_hi, phase = pos // self.up, pos % self.up
            idx = i_hi[:, None] - self._offsets[None, :] - self._history_start
            out[first - self.outputs_done:first - self.outputs_done + j.size] = np.einsum(
                "jt,jt->j", self._weights[phase], self._history[idx])
        self.outputs_done = last + 1
        nxt = (self.outputs_done * self.down + self.half_len) // self.up - self.taps_per_phase + 1
        if nxt > self._history_start:
            self._history = self._history[nxt - self._history_start:]
            self._history_start = nxt
        return out
