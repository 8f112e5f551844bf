"""Ring buffer of 16 kHz mono float32 audio on a time-stamp axis, for pairing audio with frames.

Audio arrives as chunks (one ROS message each: raw PCM bytes in a GStreamer sample format, or
int/float arrays; see :mod:`.audio_msgs`), each with the stamp of its first sample, 1 to 64
channels and a sample rate of 1 to 384 kHz. The buffer turns them into one continuous 16 kHz mono
stream and answers "give me the N samples that end at stamp T".

Time axis. Within a *segment* (a stretch of stream received without a reset), sample ``j`` of
the 16 kHz output has the stamp ``origin + j * 1e9 / 16000`` ns, where ``origin`` is the stamp
of the segment's first chunk; sample ``j`` covers ``[stamp_j, stamp_j + 62.5 us)``. A chunk is
placed where the samples received so far say it belongs; its own stamp is only compared with
that place:

- within ``gap_tolerance_s`` of it: contiguous (stamp jitter is ignored, the stream's own
  sample clock decides);
- later by more: a **gap**; the missing time is filled with zeros (counted), so stamps stay
  right after lost messages; a gap longer than the capacity starts a new segment instead;
- earlier by more: an **overlap** (a repeated message or stamps going backwards; counted); the
  part of the chunk that lies before the stream's end is dropped, the rest appended, so no
  buffered sample is overwritten; a jump back of more than ``reset_backwards_s`` (a bag played
  again, a simulator restarted) starts a new segment instead.

Since a drifting audio clock is corrected by these rules whenever its error exceeds the
tolerance, the placement error is at most ``gap_tolerance_s`` plus one sample.

Resampling uses :class:`~avs_ros.core.resample.StreamingResampler` (state carried across
chunks, group delay compensated; see there). A change of the announced sample rate between
chunks starts a new segment (counted in ``rate_changes`` and ``resets``); so does a change of
channel count.

Not thread-safe by itself: the owner serialises calls (the pairing policy does, with a lock).
"""
from __future__ import annotations

import array
import enum
from dataclasses import dataclass

import numpy as np

from .errors import AudioFormatError
from .resample import StreamingResampler

NS_PER_S = 1_000_000_000
#: output sample rate of the buffer (the VGGish front end's rate, InputContract.sample_rate)
SAMPLE_RATE = 16000
#: sample rates accepted, Hz (the node's ``audio_sample_rate`` range; a rate outside it is a
#: broken message, and would cost the resampler's filter unbounded memory)
MIN_RATE_HZ, MAX_RATE_HZ = 1000, 384000
#: most interleaved channels accepted (the node's ``audio_channels`` range)
MAX_CHANNELS = 64
#: raw sample formats (GStreamer ``audio/x-raw`` names, as ros-drivers ``AudioInfo.sample_format``
#: writes them; case-insensitive) -> bytes per sample
BYTE_FORMATS = {"s8": 1, "u8": 1, "s16le": 2, "s24le": 3, "s24_32le": 4, "s32le": 4,
                "f32le": 4, "f64le": 8}
#: full scale of integer samples by numpy dtype (floats are used as they are)
_FULL_SCALE = {np.dtype(np.int8): 2.0 ** 7, np.dtype(np.int16): 2.0 ** 15,
               np.dtype(np.int32): 2.0 ** 31}


def check_rate_channels(sample_rate, channels, what: str = "audio") -> None:
    """Raise :class:`AudioFormatError` naming ``what`` unless ``sample_rate`` is an integer in
    [:data:`MIN_RATE_HZ`, :data:`MAX_RATE_HZ`] Hz and ``channels`` an integer in
    [1, :data:`MAX_CHANNELS`]."""
    for name, value, lo, hi, unit in (("sample_rate", sample_rate, MIN_RATE_HZ, MAX_RATE_HZ,
                                       " Hz"), ("channels", channels, 1, MAX_CHANNELS, "")):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) \
                or not lo <= value <= hi:
            raise AudioFormatError(f"{what}: {name} must be an integer in [{lo}, {hi}]{unit}, "
                                   f"got {value!r}")


def _bytes_to_float(buf: memoryview, fmt: str) -> np.ndarray:
    """Raw little-endian samples in ``fmt`` (a key of :data:`BYTE_FORMATS`) -> float64 in
    [-1, 1] (integers divided by their full scale: 2**7, 2**15, 2**23, 2**31; U8 centred at
    128 first)."""
    if fmt == "s24le":        # packed 3-byte samples: sign-extend through the top of an int32
        b = np.frombuffer(buf, np.uint8).reshape(-1, 3)
        wide = np.zeros((b.shape[0], 4), np.uint8)
        wide[:, 1:] = b
        return (wide.view("<i4")[:, 0] >> 8) / 2.0 ** 23
    if fmt == "s24_32le":     # 24 significant bits in the low bytes of 4
        return ((np.frombuffer(buf, "<i4") << 8) >> 8) / 2.0 ** 23
    if fmt == "u8":
        return (np.frombuffer(buf, np.uint8).astype(np.float64) - 128.0) / 128.0
    dtype = {"s8": "i1", "s16le": "<i2", "s32le": "<i4", "f32le": "<f4", "f64le": "<f8"}[fmt]
    data = np.frombuffer(buf, dtype)
    scale = _FULL_SCALE.get(data.dtype.newbyteorder("="))
    return data / scale if scale else data.astype(np.float64)


def decode_samples(samples, channels: int = 1, fmt: str | None = None) -> np.ndarray:
    """One chunk of interleaved PCM -> mono float64 [n] in [-1, 1] (channels averaged).

    Args:
        samples: raw bytes (``bytes``, ``bytearray``, ``memoryview``, ``array.array('B')`` or
            a uint8 numpy array) in format ``fmt``; or an int8/int16/int32 array (divided by
            2**7/2**15/2**31) or a float32/float64 array (used as is), e.g.
            ``array.array('h')``, a list or numpy.
        channels: interleaved channels per frame (samples c0 c1 .. c0 c1 ..), 1 to
            :data:`MAX_CHANNELS`.
        fmt: for raw bytes: a key of :data:`BYTE_FORMATS`, any case (``"S16LE"``,
            ``"S24LE"`` ...: audio_common's ``sample_format``); ignored otherwise.

    Raises:
        AudioFormatError: unknown ``fmt``, a length that is not a whole number of frames, an
            unsupported dtype, a channel count out of range, or NaN/Inf samples.
    """
    if not isinstance(channels, (int, np.integer)) or isinstance(channels, bool) \
            or not 1 <= channels <= MAX_CHANNELS:
        raise AudioFormatError(f"channels must be an integer in [1, {MAX_CHANNELS}], "
                               f"got {channels!r}")
    raw = isinstance(samples, (bytes, bytearray, memoryview)) or (
        isinstance(samples, array.array) and samples.typecode == "B") or (
        isinstance(samples, np.ndarray) and samples.dtype == np.uint8)
    if raw:
        key = str(fmt).lower()
        width = BYTE_FORMATS.get(key)
        if width is None:
            raise AudioFormatError(
                f"raw audio bytes need a sample format in "
                f"{sorted(k.upper() for k in BYTE_FORMATS)}, got {fmt!r}")
        buf = memoryview(samples).cast("B")
        if buf.nbytes % (width * channels):
            raise AudioFormatError(
                f"{buf.nbytes} bytes of {key.upper()} audio are not a whole number of "
                f"{channels}-channel frames of {width * channels} bytes")
        mono = _bytes_to_float(buf, key)
    else:
        try:
            data = np.asarray(samples)
        except (TypeError, ValueError, OverflowError) as exc:
            raise AudioFormatError(f"audio samples are not a numeric array ({exc})") from None
        data = data.reshape(-1)
        if data.size % channels:
            raise AudioFormatError(
                f"{data.size} samples are not a whole number of {channels}-channel frames")
        scale = _FULL_SCALE.get(data.dtype)
        if scale is not None:
            mono = data / scale
        elif data.dtype in (np.float32, np.float64):
            mono = data.astype(np.float64)
        else:
            raise AudioFormatError(
                f"audio samples must be int8/int16/int32 (full scale 2**7/2**15/2**31) or "
                f"float in [-1, 1], got dtype {data.dtype}")
    if not np.isfinite(mono).all():
        raise AudioFormatError("audio chunk contains NaN or Inf samples")
    if channels > 1:
        mono = mono.reshape(-1, channels).mean(axis=1)
    return mono


class WindowStatus(enum.Enum):
    """Outcome of :meth:`AudioBuffer.window`."""

    OK = "ok"
    NOT_YET = "not yet arrived"            # the window ends after the newest sample
    EVICTED = "too old (evicted)"          # its start has left the ring already
    BEFORE_START = "before stream start"   # it starts before the current segment's first sample


@dataclass(frozen=True)
class AudioWindow:
    """A window request's answer: ``samples`` float32 [num_samples] at 16 kHz when ``status``
    is OK (the newest sample is the one just before ``end_ns``), else None. ``available_end_ns``
    is the stamp just after the newest buffered sample (None before any audio)."""

    status: WindowStatus
    samples: np.ndarray | None
    end_ns: int
    available_end_ns: int | None


@dataclass
class AudioBufferStats:
    """Diagnostic counters (since construction; resets do not clear them).

    chunks / samples_received: chunks pushed and their samples per channel at the input rate;
    gaps / gap_samples: gaps and the zero samples (input rate) filled in for them;
    overlaps / overlap_samples: late or repeated chunks and the input samples dropped;
    resets: new segments after the first (jumps, rate or channel changes);
    rate_changes: announced sample rate or channel count differing from the previous chunk's;
    rate_mismatches: segments whose stamps advance at a rate off the announced one by more than
        ``rate_tolerance`` (checked once per segment, after ``rate_check_s`` of stamps; heavy
        message loss also lowers the measured rate).
    """

    chunks: int = 0
    samples_received: int = 0
    gaps: int = 0
    gap_samples: int = 0
    overlaps: int = 0
    overlap_samples: int = 0
    resets: int = 0
    rate_changes: int = 0
    rate_mismatches: int = 0


class AudioBuffer:
    """Ring buffer of the last ``capacity_s`` seconds of 16 kHz mono float32 audio.

    Args:
        capacity_s: seconds kept (> the longest window asked for; frames whose window starts
            earlier get EVICTED).
        gap_tolerance_s: stamp deviation tolerated before a gap or overlap is declared.
        reset_backwards_s: a backwards jump of more than this starts a new segment.
        rate_tolerance: relative deviation of the stamp-measured rate from the announced one
            counted as a mismatch.
        rate_check_s: stamp span after which a segment's rate is checked.

    Raises:
        ValueError: non-positive capacity or negative tolerances.
    """

    def __init__(self, capacity_s: float = 10.0, gap_tolerance_s: float = 0.02,
                 reset_backwards_s: float = 1.0, rate_tolerance: float = 0.05,
                 rate_check_s: float = 2.0) -> None:
        if not capacity_s > 0:
            raise ValueError(f"capacity_s must be > 0 s, got {capacity_s!r}")
        for name, value in (("gap_tolerance_s", gap_tolerance_s),
                            ("reset_backwards_s", reset_backwards_s),
                            ("rate_tolerance", rate_tolerance), ("rate_check_s", rate_check_s)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        self.capacity = int(round(capacity_s * SAMPLE_RATE))
        self.gap_tolerance_ns = int(gap_tolerance_s * NS_PER_S)
        self.reset_backwards_ns = int(reset_backwards_s * NS_PER_S)
        self.rate_tolerance = float(rate_tolerance)
        self.rate_check_ns = int(rate_check_s * NS_PER_S)
        self.stats = AudioBufferStats()
        self._ring = np.zeros(self.capacity, dtype=np.float32)
        self._resampler: StreamingResampler | None = None
        self._channels = 0
        self._origin_ns = 0      # stamp of output sample 0 (= input sample 0) of the segment
        self._written = 0        # output samples written in the segment
        self._first_stamp_ns = self._last_stamp_ns = 0   # first / latest chunk stamps
        self._segment_received = 0   # input samples received in the segment (no zero fill)
        self._received_before_last = 0
        self._rate_checked = False

    # ---- time axis -----------------------------------------------------------------------
    @property
    def end_ns(self) -> int | None:
        """Stamp just after the newest buffered sample (None before any audio)."""
        if self._resampler is None:
            return None
        return self._origin_ns + _div_round(self._written * NS_PER_S, SAMPLE_RATE)

    @property
    def measured_rate_hz(self) -> float | None:
        """Input samples per second of stamp time in the current segment (None until two
        chunks with different stamps arrived)."""
        if self._resampler is None or self._last_stamp_ns <= self._first_stamp_ns:
            return None
        return self._received_before_last * NS_PER_S / (self._last_stamp_ns - self._first_stamp_ns)

    def _expected_stamp(self) -> int:
        r = self._resampler
        return self._origin_ns + _div_round(r.inputs_seen * NS_PER_S, r.rate_in)

    # ---- input ---------------------------------------------------------------------------
    def push(self, stamp_ns: int, samples, sample_rate: int, channels: int = 1,
             fmt: str | None = "S16LE") -> None:
        """Append one chunk.

        Args:
            stamp_ns: stamp of the chunk's first sample, integer ns (header.stamp converted as
                ``sec * 10**9 + nanosec``).
            samples, channels, fmt: see :func:`decode_samples` (interleaved; averaged to mono).
            sample_rate: the chunk's announced rate in Hz; resampled to 16 kHz.

        Raises:
            AudioFormatError: undecodable chunk, or a sample rate or channel count outside
                :func:`check_rate_channels`' ranges; the buffer is left unchanged.
        """
        check_rate_channels(sample_rate, channels, "audio chunk")
        mono = decode_samples(samples, channels, fmt)
        stamp_ns, received = int(stamp_ns), mono.size
        self.stats.chunks += 1
        self.stats.samples_received += received
        r = self._resampler
        if r is not None and (r.rate_in != sample_rate or self._channels != channels):
            self.stats.rate_changes += 1
            r = None
        if r is not None:
            delta = stamp_ns - self._expected_stamp()
            if delta > self.gap_tolerance_ns:
                if delta > self.capacity * NS_PER_S // SAMPLE_RATE:
                    r = None    # nothing buffered would survive the zero fill
                else:
                    zeros = _div_round(delta * sample_rate, NS_PER_S)
                    self.stats.gaps += 1
                    self.stats.gap_samples += zeros
                    self._write(r.process(np.zeros(zeros)))
            elif delta < -self.gap_tolerance_ns:
                if -delta > self.reset_backwards_ns:
                    r = None
                else:
                    drop = min(mono.size, _div_round(-delta * sample_rate, NS_PER_S))
                    self.stats.overlaps += 1
                    self.stats.overlap_samples += drop
                    mono = mono[drop:]
        if r is None:
            self._start_segment(stamp_ns, int(sample_rate), channels)
            r = self._resampler
        self._check_rate(stamp_ns, sample_rate)
        self._segment_received += received
        self._write(r.process(mono))

    def _start_segment(self, stamp_ns: int, sample_rate: int, channels: int) -> None:
        if self._resampler is not None:
            self.stats.resets += 1
        self._resampler = StreamingResampler(sample_rate, SAMPLE_RATE)
        self._channels = channels
        self._origin_ns = stamp_ns
        self._written = 0
        self._first_stamp_ns = self._last_stamp_ns = stamp_ns
        self._segment_received = self._received_before_last = 0
        self._rate_checked = False

    def _check_rate(self, stamp_ns: int, sample_rate: int) -> None:
        self._last_stamp_ns = stamp_ns
        self._received_before_last = self._segment_received
        if self._rate_checked or stamp_ns - self._first_stamp_ns < max(self.rate_check_ns, 1):
            return
        self._rate_checked = True
        if abs(self.measured_rate_hz / sample_rate - 1.0) > self.rate_tolerance:
            self.stats.rate_mismatches += 1

    def _write(self, out: np.ndarray) -> None:
        n = out.size
        if n == 0:
            return
        if n > self.capacity:
            out = out[-self.capacity:]
        start = (self._written + n - out.size) % self.capacity
        first = min(out.size, self.capacity - start)
        self._ring[start:start + first] = out[:first]
        self._ring[:out.size - first] = out[first:]
        self._written += n

    # ---- output --------------------------------------------------------------------------
    def window(self, end_ns: int, num_samples: int = 15600) -> AudioWindow:
        """The ``num_samples`` 16 kHz samples that end at ``end_ns`` (integer ns).

        The window is samples ``[e - num_samples, e)`` with ``e`` the sample whose stamp is
        nearest to ``end_ns``, i.e. it covers ``[end_ns - num_samples / 16 kHz, end_ns)`` to
        within half a sample.

        Returns:
            :class:`AudioWindow`: BEFORE_START when sample ``e - num_samples`` precedes the
            current segment, NOT_YET when sample ``e - 1`` has not arrived (or no audio at
            all), EVICTED when sample ``e - num_samples`` left the ring, else OK with a float32
            copy.

        Raises:
            ValueError: ``num_samples`` not in [1, capacity].
        """
        status, e = self._locate(end_ns, num_samples)
        available = self.end_ns
        if status is not WindowStatus.OK:
            return AudioWindow(status, None, int(end_ns), available)
        idx = np.arange(e - num_samples, e) % self.capacity
        return AudioWindow(status, self._ring[idx], int(end_ns), available)

    def status(self, end_ns: int, num_samples: int = 15600) -> WindowStatus:
        """:meth:`window`'s status alone, without copying samples (same errors)."""
        return self._locate(end_ns, num_samples)[0]

    def _locate(self, end_ns: int, num_samples: int) -> tuple[WindowStatus, int]:
        if not 1 <= num_samples <= self.capacity:
            raise ValueError(f"num_samples must be in [1, {self.capacity}] (the capacity), "
                             f"got {num_samples}")
        if self._resampler is None:
            return WindowStatus.NOT_YET, 0
        e = _div_round((int(end_ns) - self._origin_ns) * SAMPLE_RATE, NS_PER_S)
        start = e - num_samples
        if start < 0:    # never servable: the segment began after the window's start
            return WindowStatus.BEFORE_START, e
        if e > self._written:
            return WindowStatus.NOT_YET, e
        if start < self._written - self.capacity:
            return WindowStatus.EVICTED, e
        return WindowStatus.OK, e


def _div_round(num: int, den: int) -> int:
    """Integer num / den rounded half up (exact for any int size)."""
    return (2 * num + den) // (2 * den)
