"""Audio message fields of both audio_common_msgs flavours -> chunks (no ROS needed)."""
from __future__ import annotations

import array
from types import SimpleNamespace as NS

import numpy as np
import pytest

from avs_ros.core.audio_buffer import AudioBuffer, decode_samples
from avs_ros.core.audio_msgs import (
    AudioDataStampedReader,
    PcmFormat,
    choose_flavour,
    chunk_from_audio_data_stamped,
    chunk_from_audio_stamped,
    pcm_format_from_info,
    stamp_to_ns,
)
from avs_ros.core.errors import AudioFormatError
from avs_ros.core.mp3_stream import MAX_MESSAGES


def _header(sec, nanosec):
    return NS(stamp=NS(sec=sec, nanosec=nanosec), frame_id="mic")


def test_stamp_to_ns():
    assert stamp_to_ns(NS(sec=3, nanosec=250)) == 3_000_000_250


def test_choose_flavour_auto_and_explicit():
    drivers = NS(AudioData=1, AudioDataStamped=1, AudioInfo=1)
    mgonzs = NS(AudioData=1, Audio=1, AudioInfo=1, AudioStamped=1)
    assert choose_flavour(drivers) == "audio_data_stamped"
    assert choose_flavour(mgonzs) == "audio_stamped"
    assert choose_flavour(mgonzs, "audio_stamped") == "audio_stamped"
    with pytest.raises(ValueError, match="does not define"):
        choose_flavour(drivers, "audio_stamped")
    with pytest.raises(ValueError, match="neither"):
        choose_flavour(NS(AudioData=1))
    with pytest.raises(ValueError, match="not importable"):
        choose_flavour(None)
    with pytest.raises(ValueError, match="audio_type must be"):
        choose_flavour(drivers, "wav")


def test_ros_drivers_chunk_uses_announced_format_and_decodes():
    fmt = pcm_format_from_info(NS(channels=2, sample_rate=48000, sample_format="s16le",
                                  bitrate=0, coding_format="wave"))
    assert fmt == PcmFormat("S16LE", 48000, 2)
    pcm = np.array([1000, 3000] * 480, dtype="<i2").tobytes()   # 10 ms of stereo
    msg = NS(header=_header(5, 0), audio=NS(data=array.array("B", pcm)))
    chunk = chunk_from_audio_data_stamped(msg, fmt)
    assert (chunk.stamp_ns, chunk.sample_rate, chunk.channels, chunk.fmt) == \
        (5_000_000_000, 48000, 2, "S16LE")
    buf = AudioBuffer(2.0)
    buf.push(chunk.stamp_ns, chunk.samples, chunk.sample_rate, chunk.channels, chunk.fmt)
    assert buf.stats.samples_received == 480


def test_ros_drivers_info_formats_and_rejections():
    def info(**kw):
        return NS(**({"channels": 1, "sample_rate": 16000, "sample_format": "S16LE",
                      "bitrate": 192, "coding_format": "wave"} | kw))

    assert pcm_format_from_info(info(coding_format="mp3")) == \
        PcmFormat("S16LE", 16000, 1, "mp3")           # audio_capture's default
    assert pcm_format_from_info(info(sample_format="S24LE")).sample_format == "S24LE"
    for kw, match in [({"coding_format": "flac"}, "coding_format must be raw PCM"),
                      ({"sample_format": "S16BE"}, "sample_format must be one of"),
                      ({"sample_rate": 1_000_000_007}, r"sample_rate .*\[1000, 384000\]"),
                      ({"sample_rate": 0}, "sample_rate"),
                      ({"channels": 0}, r"channels .*\[1, 64\]")]:
        with pytest.raises(AudioFormatError, match=match) as err:
            pcm_format_from_info(info(**kw))
        assert "AudioInfo(coding_format=" in str(err.value)   # names what arrived


def test_reader_switches_format_on_audio_info_and_refuses_data_after_a_bad_one():
    reader = AudioDataStampedReader()
    pcm24 = np.array([1 << 22, -(1 << 22)], "<i4")          # +-0.5 full scale in 24 bits
    packed = np.stack([pcm24 & 255, (pcm24 >> 8) & 255, (pcm24 >> 16) & 255], 1)
    msg = NS(header=_header(2, 0), audio=NS(data=packed.astype(np.uint8).tobytes()))
    assert reader.set_info(NS(channels=1, sample_rate=48000, sample_format="S24LE",
                              bitrate=0, coding_format="wave"))
    (chunk,) = reader.chunks(msg)
    assert (chunk.fmt, chunk.sample_rate) == ("S24LE", 48000)
    np.testing.assert_array_equal(decode_samples(chunk.samples, 1, chunk.fmt), [0.5, -0.5])
    with pytest.raises(AudioFormatError, match="S24BE"):
        reader.set_info(NS(channels=1, sample_rate=48000, sample_format="S24BE", bitrate=0,
                           coding_format="wave"))
    # never read in the previous (or the default S16LE) format after a refused AudioInfo
    with pytest.raises(AudioFormatError, match="last AudioInfo was refused .*S24BE"):
        reader.chunks(msg)


def _mgonzs(fmt, rate=16000, channels=1, **data):
    fields = {k: [] for k in ("float32_data", "int32_data", "int16_data", "int8_data",
                              "uint8_data")} | data
    return NS(header=_header(1, 500_000_000),
              audio=NS(audio_data=NS(**fields),
                       info=NS(format=fmt, channels=channels, rate=rate, chunk=4)))


#: the same two samples (+0.5, -0.25 of full scale) in every PortAudio format mgonzs13 carries
MGONZS13 = [
    (1, {"float32_data": array.array("f", [0.5, -0.25])}),
    (2, {"int32_data": array.array("i", [1 << 30, -(1 << 29)])}),
    (4, {"int32_data": array.array("i", [1 << 22, -(1 << 21)])}),          # paInt24 values
    (4, {"uint8_data": array.array("B", [0, 0, 0x40, 0, 0, 0xE0])}),        # packed 24-bit
    (8, {"int16_data": array.array("h", [1 << 14, -(1 << 13)])}),
    (16, {"int8_data": array.array("b", [64, -32])}),
    (32, {"uint8_data": array.array("B", [192, 96])}),                      # offset binary
]


@pytest.mark.parametrize("fmt, data", MGONZS13)
def test_mgonzs13_every_portaudio_format_decodes_to_the_same_samples(fmt, data):
    chunk = chunk_from_audio_stamped(_mgonzs(fmt, 44100, 1, **data))
    assert (chunk.stamp_ns, chunk.sample_rate, chunk.channels) == (1_500_000_000, 44100, 1)
    np.testing.assert_allclose(decode_samples(chunk.samples, 1, chunk.fmt), [0.5, -0.25])


def test_mgonzs13_rejects_other_formats_and_bad_info():
    with pytest.raises(AudioFormatError, match=r"paInt16 \(8\)"):
        chunk_from_audio_stamped(_mgonzs(64))     # not a PortAudio sample format
    with pytest.raises(AudioFormatError, match=r"sample_rate must be an integer in \[1000"):
        chunk_from_audio_stamped(_mgonzs(8, rate=0))
    with pytest.raises(AudioFormatError, match="sample_rate"):
        chunk_from_audio_stamped(_mgonzs(8, rate=1_000_000_007))
    with pytest.raises(AudioFormatError, match="channels"):
        chunk_from_audio_stamped(_mgonzs(8, channels=1000))


@pytest.mark.parametrize("fmt, dtype, scale", [
    ("S8", "i1", 2 ** 7), ("S16LE", "<i2", 2 ** 15), ("S32LE", "<i4", 2 ** 31),
    ("F32LE", "<f4", 1), ("F64LE", "<f8", 1)])
def test_raw_formats_against_numpy(fmt, dtype, scale):
    x = np.random.default_rng(3).uniform(-0.9, 0.9, 200)
    stereo = np.repeat(x[:, None], 2, 1).reshape(-1)
    raw = (stereo * scale).astype(dtype) if scale > 1 else stereo.astype(dtype)
    got = decode_samples(raw.tobytes(), 2, fmt)
    np.testing.assert_allclose(got, raw[::2].astype(np.float64) / scale, atol=0)
    np.testing.assert_allclose(got, x, atol=2.0 / scale if scale > 1 else 1e-7)


def test_u8_s24_and_s24_32_against_numpy():
    x = np.random.default_rng(4).integers(-(1 << 23), 1 << 23, 300)
    packed = np.stack([x & 255, (x >> 8) & 255, (x >> 16) & 255], 1).astype(np.uint8)
    np.testing.assert_array_equal(decode_samples(packed.tobytes(), 1, "s24le"), x / 2.0 ** 23)
    # S24_32LE: 24 significant bits in 4 bytes; whatever the top byte holds is ignored
    junk = (x & 0xFFFFFF) | (0x5A << 24)
    np.testing.assert_array_equal(decode_samples(junk.astype("<u4").tobytes(), 1, "S24_32LE"),
                                  x / 2.0 ** 23)
    u8 = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(decode_samples(u8.tobytes(), 1, "U8"), (u8 - 128.0) / 128)
    with pytest.raises(AudioFormatError, match="not a whole number of 2-channel frames of 6"):
        decode_samples(packed.tobytes()[:9], 2, "S24LE")


# ---- mp3, as ros-drivers audio_capture publishes it by default --------------------------
RATE = 16000


def _lame_mp3(signal: np.ndarray, rate: int = RATE, layout: str = "mono") -> list[bytes]:
    """``signal`` float [n] (or [n, 2]) encoded by LAME (libmp3lame through PyAV) at
    audio_capture's 192 kbit/s target -> the encoder's packets (one MPEG frame each)."""
    av = pytest.importorskip("av")
    enc = av.CodecContext.create("libmp3lame", "w")
    enc.sample_rate, enc.layout, enc.format, enc.bit_rate = rate, layout, "s16p", 192000
    pcm = np.round(np.atleast_2d(signal.T) * 32767).astype(np.int16)
    packets = []
    for start in range(0, pcm.shape[1], 1152):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, start:start + 1152]),
                                           format="s16p", layout=layout)
        frame.sample_rate = rate
        packets += [bytes(p) for p in enc.encode(frame)]
    return packets + [bytes(p) for p in enc.encode(None)]


def _decode_stream(reader, packets, cut=None, t0_ns=7 * 10**9, rate=RATE):
    """Publish LAME ``packets`` (one MPEG frame each) as audio_capture stamps them: a message
    carries the stamp of its first byte's sample (frame k starts at k * frame samples / rate;
    within a frame, time runs with the bytes). ``cut``: bytes per message (None: one frame
    per message). Returns the reader's chunks."""
    per_frame = 1152 if rate >= 32000 else 576          # MPEG-1 / MPEG-2 layer III
    starts = np.cumsum([0] + [len(p) for p in packets])
    stream = b"".join(packets)
    bounds = list(starts[:-1]) if cut is None else list(range(0, len(stream), cut))
    chunks = []
    for a, b in zip(bounds, bounds[1:] + [len(stream)]):
        k = int(np.searchsorted(starts, a, side="right") - 1)
        t = (k + (a - starts[k]) / (starts[k + 1] - starts[k])) * per_frame / rate
        stamp = t0_ns + round(t * 1e9)
        chunks += reader.chunks(NS(header=_header(stamp // 10**9, stamp % 10**9),
                                   audio=NS(data=array.array("B", stream[a:b]))))
    return chunks


_SECONDS = 3


def _chirp(seconds=_SECONDS, rate=RATE):
    t = np.arange(seconds * rate) / rate
    return 0.4 * np.sin(2 * np.pi * (200 + 900 * t) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * t))


@pytest.mark.parametrize("cut", ["frames", "odd"])
def test_mp3_decoded_incrementally_matches_the_signal(cut):
    """LAME-encoded audio, published as audio_capture does (one MPEG frame per message) or cut
    at arbitrary bytes: the decoded stream correlates with the original at a constant delay
    (LAME's encoder delay plus the decoder's), and chunk stamps follow the stream."""
    x = _chirp()
    packets = _lame_mp3(x)
    reader = AudioDataStampedReader()
    reader.set_info(NS(channels=1, sample_rate=RATE, sample_format="S16LE", bitrate=192,
                       coding_format="mp3"))
    chunks = _decode_stream(reader, packets, None if cut == "frames" else 777)
    assert chunks and all(c.sample_rate == RATE and c.channels == 1 for c in chunks)
    y = np.concatenate([decode_samples(c.samples, 1, c.fmt) for c in chunks])
    lags = np.arange(0, 3000)
    corr = [np.dot(x[:40000], y[k:k + 40000]) for k in lags]
    lag = int(lags[int(np.argmax(corr))])
    assert 1000 <= lag <= 1200, lag        # 576 (LAME) + 529 (decoder) = 1105 samples
    aligned = y[lag:lag + len(x)]
    n = min(len(aligned), len(x))
    r = np.corrcoef(aligned[:n], x[:n])[0, 1]
    assert r > 0.99, r
    # placed on the stream's own clock: chunk k starts where the samples before it end
    buf = AudioBuffer(10.0)
    for c in chunks:
        buf.push(c.stamp_ns, c.samples, c.sample_rate, c.channels, c.fmt)
    assert buf.stats.gaps == 0 and buf.stats.overlaps == 0 and buf.stats.resets == 0


def test_mp3_stereo_44k1_and_garbage_do_not_break_the_stream():
    x = np.stack([_chirp(1, 44100), 0.5 * _chirp(1, 44100)], 1)
    packets = _lame_mp3(x, 44100, "stereo")
    reader = AudioDataStampedReader(PcmFormat("S16LE", 44100, 2, "mp3"))
    chunks = _decode_stream(reader, packets[:10], rate=44100)
    assert chunks[0].sample_rate == 44100 and chunks[0].channels == 2
    # random bytes: no frame, or a typed error; then the real stream goes on
    for junk in (b"", bytes(range(256)) * 3, b"\xff\xfb\x90\x00" + bytes(500)):
        try:
            reader.chunks(NS(header=_header(9, 0), audio=NS(data=junk)))
        except AudioFormatError:
            pass
    later = _decode_stream(reader, packets[10:30], t0_ns=20 * 10**9, rate=44100)
    assert sum(c.samples.size for c in later) >= 2 * 1152 * 15
    # a stream that never parses (not mp3 at all) holds a bounded number of messages
    for k in range(200):
        try:
            reader.chunks(NS(header=_header(30 + k, 0), audio=NS(data=bytes([k % 7]) * 300)))
        except AudioFormatError:
            pass
    assert len(reader._mp3._messages) <= MAX_MESSAGES
