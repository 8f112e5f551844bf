"""SynthAVS clip audio: the sounding objects' sounds per frame segment, mixed over noise.

Segment alignment (ours, so that the official pre-computed log-mel pairing holds exactly): the
VGGish front end cuts non-overlapping 0.96 s examples, so example k of a clip's audio starts at
k * 0.96 s. Frame k's sounding set is therefore played in [0.96 k, 0.96 (k + 1)) s, the last
frame's until the clip ends (k * 15360 samples at 16 kHz); example k (which spans 0.975 s) sees
only frame k's sources except for 15 ms of fade at its end.

Noise: one background bed per clip at a signal-to-noise ratio drawn uniformly in
``snr_db`` (default 0-20 dB) against the RMS of the sounding segments; segments in which
nothing sounds carry only the noise.
"""
from __future__ import annotations

import numpy as np

from .scene import Clip
from .sounds import SAMPLE_RATE, class_sound, noise_bed

#: samples between the starts of consecutive VGGish examples (0.96 s at 16 kHz)
EXAMPLE_HOP = 15360


def segment_bounds(n_frames: int, n_samples: int) -> list[tuple[int, int]]:
    """[start, end) sample span of each frame's sounds: k * 15360 .. (k + 1) * 15360, the
    last one running to ``n_samples``."""
    starts = [k * EXAMPLE_HOP for k in range(n_frames)]
    ends = starts[1:] + [n_samples]
    return list(zip(starts, ends))


def mix_clip(rng: np.random.Generator, clip: Clip, duration_s: float,
             snr_db: tuple[float, float] = (0.0, 20.0)) -> tuple[np.ndarray, float]:
    """Audio of ``clip``: float32 [round(duration_s * 16000)] in [-1, 1], and the SNR used (dB).

    Each sounding object contributes its class sound (instance pitch and gain of the object,
    fresh events per segment) to each segment of a frame in which it sounds. The mix is scaled
    to an RMS of 0.1, less if a peak would exceed 0.99 (no clipping).
    """
    n = int(round(duration_s * SAMPLE_RATE))
    n_frames = len(clip.frames)
    if n_frames * EXAMPLE_HOP > n:
        raise ValueError(f"{duration_s} s of audio is too short for {n_frames} frames")
    signal = np.zeros(n, np.float32)
    active = np.zeros(n, bool)
    for k, (a, b) in enumerate(segment_bounds(n_frames, n)):
        for i in clip.sounding[k]:
            obj = clip.objects[i]
            snd = class_sound(obj.cls, rng, b - a, obj.pitch)
            signal[a:b] += snd * np.float32(10 ** (obj.gain_db / 20))
            active[a:b] = True
    snr = float(rng.uniform(*snr_db))
    sig_rms = float(np.sqrt(np.mean(signal[active] ** 2))) if active.any() else 0.1
    noise = noise_bed(rng, n) * np.float32(sig_rms / 10 ** (snr / 20))
    return level_mix(signal + noise), snr


def level_mix(mix: np.ndarray) -> np.ndarray:
    """Scale to an RMS of 0.1, or lower where that would push a peak past 0.99."""
    rms = float(np.sqrt(np.mean(mix.astype(np.float64) ** 2))) + 1e-12
    peak = float(np.abs(mix).max()) + 1e-12
    return (mix * np.float32(min(0.1 / rms, 0.99 / peak))).astype(np.float32)
