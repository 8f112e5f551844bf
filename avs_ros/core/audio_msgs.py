"""Audio message fields -> audio chunks for the ring buffer, for both ``audio_common_msgs``.

Two incompatible packages share the name ``audio_common_msgs`` (ROS_CONVENTIONS.md); a
workspace holds one of them:

- ros-drivers/audio_common: ``AudioDataStamped { header; AudioData audio { uint8[] data } }``
  plus ``AudioInfo { channels; sample_rate; sample_format; bitrate; coding_format }`` on its own
  topic (published every few seconds). Only raw PCM (``coding_format`` "wave"/"pcm", sample
  format S16LE or F32LE) can be decoded here; until an AudioInfo arrives the format given by
  the node's parameters is assumed (default S16LE, 16 kHz, mono: what ``audio_capture`` sends
  with ``format:=wave``).
- mgonzs13/audio_common: ``AudioStamped { header; Audio audio { AudioData audio_data;
  AudioInfo info { format; channels; rate; chunk } } }``; every message carries its own format
  as a PortAudio sample-format constant. paInt16 (8, ``int16_data``) and paFloat32 (1,
  ``float32_data``) are read; the other formats are rejected.

Functions here read message fields only (duck typing), so they are tested without ROS.
"""
from __future__ import annotations

from dataclasses import dataclass

from .audio_buffer import BYTE_FORMATS
from .errors import AudioFormatError

#: ``audio_type`` values: the flavour's name -> the stamped message class it subscribes to
FLAVOURS = {"audio_data_stamped": "AudioDataStamped", "audio_stamped": "AudioStamped"}
#: PortAudio sample formats read from mgonzs13 messages: constant -> (field, name)
PORTAUDIO_FORMATS = {8: ("int16_data", "paInt16"), 1: ("float32_data", "paFloat32")}
#: ros-drivers coding formats that mean raw PCM
PCM_CODINGS = ("wave", "wav", "pcm", "raw", "")


def stamp_to_ns(stamp) -> int:
    """``builtin_interfaces/Time`` (fields ``sec``, ``nanosec``) -> integer ns."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


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
    """Layout of ros-drivers raw audio bytes: ``sample_format`` (a key of
    :data:`~avs_ros.core.audio_buffer.BYTE_FORMATS`, upper case), ``sample_rate`` Hz,
    ``channels``."""

    sample_format: str = "S16LE"
    sample_rate: int = 16000
    channels: int = 1

    def __post_init__(self) -> None:
        if self.sample_format.lower() not in BYTE_FORMATS:
            raise AudioFormatError(
                f"sample_format must be one of {sorted(k.upper() for k in BYTE_FORMATS)}, "
                f"got {self.sample_format!r}")
        if int(self.sample_rate) <= 0 or int(self.channels) <= 0:
            raise AudioFormatError(f"sample_rate and channels must be positive, got "
                                   f"{self.sample_rate} Hz, {self.channels} channel(s)")


def pcm_format_from_info(info) -> PcmFormat:
    """ros-drivers ``AudioInfo`` fields -> :class:`PcmFormat`.

    Raises:
        AudioFormatError: a compressed coding (e.g. mp3: run audio_capture with
            ``format:=wave``), an unknown sample format, or a zero rate or channel count.
    """
    coding = str(info.coding_format).lower()
    if coding not in PCM_CODINGS:
        raise AudioFormatError(
            f"AudioInfo announces coding_format={info.coding_format!r}; only raw PCM "
            f"('wave') can be decoded (start audio_capture with format:=wave)")
    return PcmFormat(str(info.sample_format).upper() or "S16LE", int(info.sample_rate),
                     int(info.channels))


def chunk_from_audio_data_stamped(msg, fmt: PcmFormat) -> AudioChunk:
    """ros-drivers ``AudioDataStamped`` -> :class:`AudioChunk` in the announced ``fmt``
    (byte-count checks happen when the buffer decodes it)."""
    return AudioChunk(stamp_to_ns(msg.header.stamp), msg.audio.data, int(fmt.sample_rate),
                      int(fmt.channels), fmt.sample_format)


def chunk_from_audio_stamped(msg) -> AudioChunk:
    """mgonzs13 ``AudioStamped`` -> :class:`AudioChunk` (format from ``msg.audio.info``).

    Raises:
        AudioFormatError: a PortAudio format other than paInt16/paFloat32, or non-positive
            rate or channel count.
    """
    info = msg.audio.info
    entry = PORTAUDIO_FORMATS.get(int(info.format))
    if entry is None:
        known = ", ".join(f"{name} ({code})" for code, (_, name) in PORTAUDIO_FORMATS.items())
        raise AudioFormatError(f"AudioStamped info.format={info.format} is not supported; "
                               f"expected {known}")
    if int(info.rate) <= 0 or int(info.channels) <= 0:
        raise AudioFormatError(f"AudioStamped info announces {info.rate} Hz and "
                               f"{info.channels} channel(s); both must be positive")
    return AudioChunk(stamp_to_ns(msg.header.stamp), getattr(msg.audio.audio_data, entry[0]),
                      int(info.rate), int(info.channels), None)
