"""Incremental decoding of an MPEG audio (mp3) elementary stream cut into messages at any byte.

ros-drivers ``audio_capture`` publishes mp3 by default: its GStreamer pipeline ends in
``lamemp3enc ! appsink``, and each ``AudioDataStamped`` carries one appsink buffer of raw MPEG
audio frames (no container, no ID3 tag), stamped with the buffer's time (pipeline base time +
PTS, i.e. the capture time of its first sample). This module turns those messages back into
PCM with FFmpeg's ``mp3`` decoder through PyAV (``av``; the fixed-point decoder, int16 planar
output): the codec parser (``CodecContext.parse``) buffers a frame split across messages until
it is complete, so messages may cut the stream anywhere.

Stamps. Each decoded frame is stamped with the stamp of the message holding its first byte,
plus the time of the bytes before it in that message (bytes -> seconds at the frame's own
rate: frame samples / frame bytes). The frames one message completes are returned as one
chunk, stamped as its first frame, unless a frame's stamp is off the end of the frames before
it by :data:`JOIN_TOLERANCE_NS` or more (a discontinuity: then a new chunk starts). The
stream's own sample clock then places them
(:class:`~avs_ros.core.audio_buffer.AudioBuffer`); lost messages show as gaps there. No encoder
or decoder delay is removed: LAME's 576-sample encoder delay plus the decoder's 529 samples
stay in the decoded signal (69 ms at 16 kHz), as for any player that ignores the LAME tag.

PyAV is imported when a :class:`Mp3Stream` is made (the node makes one at configure, not in a
callback).
"""
from __future__ import annotations

from collections import deque

import numpy as np

from .errors import AudioFormatError

NS_PER_S = 1_000_000_000
#: frames stamped within this of the previous frame's end join its chunk (the audio buffer's
#: default gap tolerance, 20 ms)
JOIN_TOLERANCE_NS = 20_000_000
#: most messages whose bytes are held for stamping
MAX_MESSAGES = 64


def load_av():
    """Import PyAV (the ``av`` package).

    Raises:
        AudioFormatError: PyAV is not installed (``pip install av``; the ``mp3`` extra).
    """
    try:
        import av
    except ImportError as exc:
        raise AudioFormatError(f"mp3 audio needs PyAV: pip install av ({exc})") from None
    return av


class Mp3Stream:
    """Decoder state for one mp3 stream.

    Raises:
        AudioFormatError: PyAV is not installed.
    """

    def __init__(self) -> None:
        self._av = load_av()
        self._codec = self._av.CodecContext.create("mp3", "r")
        self._fed = 0                 # bytes fed so far
        self._parsed = 0              # bytes handed out in complete frames so far
        self._messages: deque[tuple[int, int]] = deque()   # (first byte offset, stamp ns)

    def decode(self, stamp_ns: int, data) -> list[tuple[int, np.ndarray, int, int]]:
        """Feed one message's bytes (its stamp ``stamp_ns``, integer ns).

        Returns:
            A list (empty while a frame is incomplete) of ``(stamp_ns, samples, sample_rate,
            channels)``: ``samples`` int16 [n * channels] interleaved, one entry per run of
            contiguous frames this message completed, stamped as the module docstring says.

        Raises:
            AudioFormatError: bytes FFmpeg cannot parse or decode (the decoder stays usable:
                the next message is decoded afresh from the next frame header).
        """
        data = bytes(data)
        self._messages.append((self._fed, int(stamp_ns)))
        self._fed += len(data)
        av = self._av
        out: list[tuple[int, np.ndarray, int, int]] = []
        try:
            packets = self._codec.parse(data)
            for packet in packets:
                offset, size = self._parsed, packet.size
                self._parsed += size
                for frame in self._codec.decode(packet):
                    pcm = frame.to_ndarray()          # s16p: int16 [channels, samples]
                    if pcm.dtype != np.int16:
                        raise AudioFormatError(f"mp3 decoder gave {frame.format.name} "
                                               f"samples; expected s16/s16p")
                    channels = len(frame.layout.channels)
                    pcm = pcm.T.reshape(-1) if frame.format.is_planar else pcm.reshape(-1)
                    stamp = self._stamp(offset, size, frame.samples, frame.sample_rate)
                    self._append(out, stamp, pcm, frame.sample_rate, channels)
        except av.FFmpegError as exc:
            raise AudioFormatError(f"mp3 audio: {len(data)} bytes FFmpeg cannot decode "
                                   f"({exc}); expected an MPEG audio elementary stream") from None
        finally:
            self._forget()
        return out

    def _forget(self) -> None:
        """Drop the messages no frame can start in any more; past :data:`MAX_MESSAGES` held
        (bytes the parser skipped, e.g. a stream that is not mp3), count the oldest as
        consumed, so memory stays bounded."""
        while len(self._messages) > 1 and self._messages[1][0] <= self._parsed:
            self._messages.popleft()
        while len(self._messages) > MAX_MESSAGES:
            self._messages.popleft()
            self._parsed = max(self._parsed, self._messages[0][0])

    def _stamp(self, offset: int, size: int, samples: int, rate: int) -> int:
        first, stamp = self._messages[0]
        for start, s in self._messages:          # the message holding byte ``offset``
            if start > offset:
                break
            first, stamp = start, s
        return stamp + (offset - first) * samples * NS_PER_S // max(size * rate, 1)

    @staticmethod
    def _append(out: list, stamp: int, pcm: np.ndarray, rate: int, channels: int) -> None:
        if out:
            last_stamp, last, last_rate, last_channels = out[-1]
            end = last_stamp + (last.size // last_channels) * NS_PER_S // last_rate
            if (rate, channels) == (last_rate, last_channels) and \
                    abs(stamp - end) < JOIN_TOLERANCE_NS:
                out[-1] = (last_stamp, np.concatenate([last, pcm]), rate, channels)
                return
        out.append((stamp, pcm, rate, channels))
