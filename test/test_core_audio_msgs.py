"""Audio message fields of both audio_common_msgs flavours -> chunks (no ROS needed)."""
from __future__ import annotations

import array
from types import SimpleNamespace as NS

import numpy as np
import pytest

from avs_ros.core.audio_buffer import AudioBuffer
from avs_ros.core.audio_msgs import (
    PcmFormat,
    choose_flavour,
    chunk_from_audio_data_stamped,
    chunk_from_audio_stamped,
    pcm_format_from_info,
    stamp_to_ns,
)
from avs_ros.core.errors import AudioFormatError


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


def test_ros_drivers_info_rejects_mp3_and_unknown_formats():
    with pytest.raises(AudioFormatError, match="format:=wave"):
        pcm_format_from_info(NS(channels=1, sample_rate=16000, sample_format="S16LE",
                                bitrate=0, coding_format="mp3"))
    with pytest.raises(AudioFormatError, match="sample_format must be one of"):
        pcm_format_from_info(NS(channels=1, sample_rate=16000, sample_format="S24LE",
                                bitrate=0, coding_format="wave"))
    with pytest.raises(AudioFormatError, match="positive"):
        PcmFormat("S16LE", 0, 1)


def _mgonzs(fmt, rate=16000, channels=1, **data):
    fields = {"float32_data": [], "int16_data": [], **data}
    return NS(header=_header(1, 500_000_000),
              audio=NS(audio_data=NS(**fields),
                       info=NS(format=fmt, channels=channels, rate=rate, chunk=4)))


def test_mgonzs13_int16_and_float32_pick_their_arrays():
    chunk = chunk_from_audio_stamped(_mgonzs(8, 44100, 2, int16_data=array.array("h", [1, 2])))
    assert (chunk.stamp_ns, chunk.sample_rate, chunk.channels) == (1_500_000_000, 44100, 2)
    assert list(chunk.samples) == [1, 2] and chunk.fmt is None
    chunk = chunk_from_audio_stamped(_mgonzs(1, float32_data=array.array("f", [0.5])))
    assert list(chunk.samples) == [0.5]


def test_mgonzs13_rejects_other_formats_and_bad_info():
    with pytest.raises(AudioFormatError, match="paInt16 \\(8\\)"):
        chunk_from_audio_stamped(_mgonzs(2))      # paInt32
    with pytest.raises(AudioFormatError, match="must be positive"):
        chunk_from_audio_stamped(_mgonzs(8, rate=0))
