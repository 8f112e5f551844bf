"""Audio message fields -> audio chunks for the ring buffer, for both ``audio_common_msgs``.

Two incompatible packages share the name ``audio_common_msgs`` (ROS_CONVENTIONS.md); a
workspace holds one of them:

- ros-drivers/audio_common: ``AudioDataStamped { header; AudioData audio { uint8[] data } }``
  plus ``AudioInfo { channels; sample_rate; sample_format; bitrate; coding_format }`` on its own
  topic (re-sent every 5 s). ``coding_format`` "mp3" (``audio_capture``'s default: raw MPEG
  audio frames, decoded incrementally by :mod:`.mp3_stream`) or raw PCM ("wave"/"pcm") in the
  GStreamer sample formats S8, U8, S16LE, S24LE (3 bytes), S24_32LE, S32LE, F32LE, F64LE. Until
  an AudioInfo arrives the format given by the node's parameters is assumed (default S16LE,
  16 kHz, mono: ``audio_capture`` with ``format:=wave``). An AudioInfo that cannot be honoured
  (unknown format, rate out of range) stops decoding until a valid one arrives: its data is
  never read in the previous format. :class:`AudioDataStampedReader` holds that state.
- mgonzs13/audio_common: ``AudioStamped { header; Audio audio { AudioData audio_data;
  AudioInfo info { format; channels; rate; chunk } } }``; every message carries its own format
  as a PortAudio sample-format constant (pyaudio ``paFloat32`` 1, ``paInt32`` 2, ``paInt24``
  4, ``paInt16`` 8, ``paInt8`` 16, ``paUInt8`` 32), the samples in the matching typed field
  (``float32_data``, ``int32_data``, ``int16_data``, ``int8_data``, ``uint8_data``; mgonzs13's
  ``utils.py`` map). The package has no 24-bit field and its capturer refuses paInt24; a
  paInt24 message is read from ``int32_data`` (24-bit values) or, when that is empty, from
  ``uint8_data`` as packed 3-byte little-endian samples.

Rates must lie in 1-384 kHz and channel counts in 1-64 (as the node's parameters), checked
before anything is allocated. Functions here read message fields only (duck typing), so they
are tested without ROS.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .audio_buffer import BYTE_FORMATS, check_rate_channels
from .errors import AudioFormatError

#: ``audio_type`` values: the flavour's name -> the stamped message class it subscribes to
FLAVOURS = {"audio_data_stamped": "AudioDataStamped", "audio_stamped": "AudioStamped"}
#: PortAudio sample formats of mgonzs13 messages: constant -> (field, name, raw format the
#: field's values are handed on in)
PORTAUDIO_FORMATS = {1: ("float32_data", "paFloat32", "F32LE"),
                     2: ("int32_data", "paInt32", "S32LE"),
                     4: ("int32_data", "paInt24", "S24_32LE"),
                     8: ("int16_data", "paInt16", "S16LE"),
                     16: ("int8_data", "paInt8", "S8"),
                     32: ("uint8_data", "paUInt8", "U8")}
_FIELD_DTYPES = {"float32_data": "<f4", "int32_data": "<i4", "int16_data": "<i2",
                 "int8_data": "i1", "uint8_data": "u1"}
#: ros-drivers coding formats that mean raw PCM
PCM_CODINGS = ("wave", "wav", "pcm", "raw", "")
#: ros-drivers coding formats decoded as an MPEG audio stream
MP3_CODINGS = ("mp3", "mpeg")


def stamp_to_ns(stamp) -> int:
    """``builtin_interfaces/Time`` (fields ``sec``, ``nanosec``) -> integer ns."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def preload(flavour: str) -> None:
    """Import what decoding ``flavour`` may need: scipy's filter design (the resampler of any
    rate but 16 kHz) and, for ros-drivers audio, PyAV (mp3) when installed. The node calls it
    at configure so that no callback blocks the executor on an import (scipy alone once took
    1.8 s there, and the audio queue overflowed)."""
    import scipy.signal  # noqa: F401

    if flavour == "audio_data_stamped":
        from .mp3_stream import load_av

        try:
            load_av()
        except AudioFormatError:
            pass     # mp3 messages are then refused, naming the missing package


def choose_flavour(module, requested: str = "auto") -> str:
    """The audio flavour to subscribe to.

    Args:
        module: the imported ``audio_common_msgs.msg`` module (or None when not importable).
        requested: ``"auto"`` (whichever stamped message the module defines) or a key of
            :data:`FLAVOURS`.

    Returns:
        A key of :data:`FLAVOURS`.

    Raises:
        ValueError: unknown ``requested``, no audio_common_msgs, or a module without the
            requested (or any) stamped message; the text names what the module defines.
    """
    if requested != "auto" and requested not in FLAVOURS:
        raise ValueError(f"audio_type must be 'auto' or one of {sorted(FLAVOURS)}, "
                         f"got {requested!r}")
    if module is None:
        raise ValueError("audio_common_msgs is not importable: install (or source) either "
                         "ros-drivers/audio_common or mgonzs13/audio_common")
    present = [k for k, cls in FLAVOURS.items() if hasattr(module, cls)]
    if requested == "auto":
        if not present:
            raise ValueError(f"audio_common_msgs defines neither {sorted(FLAVOURS.values())}; "
                             f"it has {sorted(n for n in dir(module) if not n.startswith('_'))}")
        return present[0]
    if requested not in present:
        raise ValueError(f"audio_type {requested!r} needs audio_common_msgs/"
                         f"{FLAVOURS[requested]}, which this workspace's audio_common_msgs "
                         f"does not define (it has {[FLAVOURS[k] for k in present]})")
    return requested


@dataclass(frozen=True)
class AudioChunk:
    """One message's audio, ready for :meth:`AudioBuffer.push`: ``samples`` (bytes in ``fmt``
    or an int16/float array), interleaved ``channels``, ``sample_rate`` in Hz and ``stamp_ns``
    of the first sample."""

    stamp_ns: int
    samples: object
    sample_rate: int
    channels: int
    fmt: str | None


@dataclass(frozen=True)
class PcmFormat:
    """What ros-drivers audio bytes hold: ``coding`` "pcm" (raw samples in ``sample_format``,
    a key of :data:`~avs_ros.core.audio_buffer.BYTE_FORMATS`, upper case) or "mp3" (MPEG audio
    frames, whose own headers give rate and channels); ``sample_rate`` Hz and ``channels`` as
    announced.

    Raises:
        AudioFormatError: an unknown coding or sample format, or a rate or channel count out
            of range (:func:`~avs_ros.core.audio_buffer.check_rate_channels`).
    """

    sample_format: str = "S16LE"
    sample_rate: int = 16000
    channels: int = 1
    coding: str = "pcm"

    def __post_init__(self) -> None:
        if self.coding not in ("pcm", "mp3"):
            raise AudioFormatError(f"coding must be 'pcm' or 'mp3', got {self.coding!r}")
        if self.coding == "pcm" and str(self.sample_format).lower() not in BYTE_FORMATS:
            raise AudioFormatError(
                f"sample_format must be one of {sorted(k.upper() for k in BYTE_FORMATS)}, "
                f"got {self.sample_format!r}")
        check_rate_channels(self.sample_rate, self.channels, "audio format")

    @classmethod
    def from_parameters(cls, audio_format: str, sample_rate: int, channels: int) -> PcmFormat:
        """The node's ``audio_format`` (a raw sample format or "MP3"), ``audio_sample_rate``
        and ``audio_channels`` parameters -> the format assumed until an AudioInfo arrives."""
        if str(audio_format).lower() in MP3_CODINGS:
            return cls("S16LE", sample_rate, channels, "mp3")
        return cls(str(audio_format).upper(), sample_rate, channels)


def pcm_format_from_info(info) -> PcmFormat:
    """ros-drivers ``AudioInfo`` fields -> :class:`PcmFormat`.

    Raises:
        AudioFormatError: a coding other than raw PCM or mp3, an unknown sample format, or a
            rate or channel count out of range; the message names the AudioInfo's fields.
    """
    coding = str(info.coding_format).lower()
    desc = (f"AudioInfo(coding_format={info.coding_format!r}, sample_format="
            f"{info.sample_format!r}, sample_rate={info.sample_rate}, channels={info.channels})")
    if coding in MP3_CODINGS:
        coding = "mp3"
    elif coding in PCM_CODINGS:
        coding = "pcm"
    else:
        raise AudioFormatError(f"{desc}: coding_format must be raw PCM {list(PCM_CODINGS[:4])}"
                               f" or {list(MP3_CODINGS)}")
    try:
        return PcmFormat(str(info.sample_format).upper() or "S16LE", int(info.sample_rate),
                         int(info.channels), coding)
    except AudioFormatError as exc:
        raise AudioFormatError(f"{desc}: {exc}") from None


class AudioDataStampedReader:
    """ros-drivers ``AudioDataStamped`` messages -> :class:`AudioChunk`\\ s, in the format of
    the latest ``AudioInfo`` (the node and the bag reader both use it, so replay decodes as
    the node does).

    Args:
        fmt: the format assumed until an AudioInfo arrives.
    """

    def __init__(self, fmt: PcmFormat = PcmFormat()) -> None:
        self.format: PcmFormat | None = fmt
        self.rejected: str | None = None      # why the last AudioInfo was refused
        self._mp3 = None
        if fmt.coding == "mp3":
            self._start_mp3()

    def _start_mp3(self) -> None:
        from .mp3_stream import Mp3Stream

        self._mp3 = Mp3Stream()

    def set_info(self, info) -> bool:
        """Take the format of an ``AudioInfo``; returns whether it changed.

        Raises:
            AudioFormatError: see :func:`pcm_format_from_info`, or mp3 without PyAV. The
                reader then refuses audio data (naming this error) until a valid AudioInfo
                arrives, rather than read it in the previous format.
        """
        try:
            fmt = pcm_format_from_info(info)
            if fmt.coding == "mp3" and (self.format is None or self.format.coding != "mp3"):
                self._start_mp3()
        except AudioFormatError as exc:
            self.format, self.rejected = None, str(exc)
            raise
        changed = fmt != self.format
        self.format, self.rejected = fmt, None
        return changed

    def chunks(self, msg) -> list[AudioChunk]:
        """One ``AudioDataStamped`` -> its chunks: one for raw PCM; for mp3, one per run of
        contiguous complete frames (none while a frame is incomplete).

        Raises:
            AudioFormatError: the last AudioInfo was refused, or mp3 bytes FFmpeg rejects
                (PCM byte counts are checked when the buffer decodes the chunk).
        """
        fmt = self.format
        if fmt is None:
            raise AudioFormatError(f"audio data not decoded: the last AudioInfo was refused "
                                   f"({self.rejected})")
        stamp = stamp_to_ns(msg.header.stamp)
        if fmt.coding == "pcm":
            return [AudioChunk(stamp, msg.audio.data, int(fmt.sample_rate), int(fmt.channels),
                               fmt.sample_format)]
        return [AudioChunk(s, pcm, rate, channels, None)
                for s, pcm, rate, channels in self._mp3.decode(stamp, msg.audio.data)]


def chunk_from_audio_data_stamped(msg, fmt: PcmFormat) -> AudioChunk:
    """ros-drivers ``AudioDataStamped`` holding raw PCM -> :class:`AudioChunk` in the announced
    ``fmt`` (byte-count checks happen when the buffer decodes it).

    Raises:
        AudioFormatError: ``fmt`` is mp3 (stateful: use :class:`AudioDataStampedReader`).
    """
    if fmt.coding != "pcm":
        raise AudioFormatError("mp3 audio needs the decoder state of AudioDataStampedReader")
    return AudioChunk(stamp_to_ns(msg.header.stamp), msg.audio.data, int(fmt.sample_rate),
                      int(fmt.channels), fmt.sample_format)


def chunk_from_audio_stamped(msg) -> AudioChunk:
    """mgonzs13 ``AudioStamped`` -> :class:`AudioChunk` (format from ``msg.audio.info``; the
    samples handed on as little-endian bytes of the matching raw format).

    Raises:
        AudioFormatError: a PortAudio format not in :data:`PORTAUDIO_FORMATS`, or a rate or
            channel count out of range.
    """
    info = msg.audio.info
    entry = PORTAUDIO_FORMATS.get(int(info.format))
    if entry is None:
        known = ", ".join(f"{name} ({code})" for code, (_, name, _) in PORTAUDIO_FORMATS.items())
        raise AudioFormatError(f"AudioStamped info.format={info.format} is not supported; "
                               f"expected {known}")
    field, name, raw = entry
    check_rate_channels(int(info.rate), int(info.channels), f"AudioStamped ({name})")
    data = msg.audio.audio_data
    values = getattr(data, field)
    if name == "paInt24" and len(values) == 0:
        values, field, raw = data.uint8_data, "uint8_data", "S24LE"
    try:
        samples = np.asarray(values, dtype=_FIELD_DTYPES[field]).reshape(-1).view(np.uint8)
    except (TypeError, ValueError, OverflowError) as exc:
        raise AudioFormatError(f"AudioStamped ({name}): {field} is not an array of "
                               f"{_FIELD_DTYPES[field]} ({exc})") from None
    return AudioChunk(stamp_to_ns(msg.header.stamp), samples, int(info.rate),
                      int(info.channels), raw)
