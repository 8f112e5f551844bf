"""SynthAVS sound families: recorded Sonic Pi samples where they fit, synthesisers otherwise.

Recorded sounds come from Debian's ``sonic-pi-samples`` package (CC0 FLAC files under
``/usr/share/sonic-pi/samples``; 44.1 kHz, mono or stereo). They are mixed to mono, resampled
once to 16 kHz and cached per process. When the package is absent every class falls back to
its synthesiser, and :func:`sound_source` says which was used.

All waveforms are float32 mono at 16 kHz with peak <= 1. Instance variation (ours): pitch
factor 0.84-1.19 (+-3 semitones) per object, a further +-1 semitone and +-3 dB per event,
random onsets, and random attack/decay times; the synthesisers' parameter ranges are written
next to each of them.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import fft

from .classes import SynthClass

SAMPLE_RATE = 16000
#: where Debian's sonic-pi-samples installs its recordings; AVS_SONIC_PI_SAMPLES overrides it
SONIC_PI_DIR = Path("/usr/share/sonic-pi/samples")


def samples_dir() -> Path | None:
    """The Sonic Pi sample folder if it exists (``$AVS_SONIC_PI_SAMPLES`` first; an empty value
    disables recorded sounds), else None."""
    env = os.environ.get("AVS_SONIC_PI_SAMPLES")
    path = SONIC_PI_DIR if env is None else (Path(env) if env else None)
    return path if path is not None and path.is_dir() else None


def sound_source() -> str:
    """``"sonic-pi-samples (DIR) + synthesised"`` or ``"synthesised only"``: what the sound
    families will use in this process."""
    d = samples_dir()
    return f"sonic-pi-samples ({d}) + synthesised" if d else "synthesised only"


@lru_cache(maxsize=None)
def _read_sample(path: str) -> np.ndarray:
    """The recording at ``path`` as float32 mono 16 kHz with peak 1, leading silence cut."""
    import soundfile as sf
    from scipy.signal import resample_poly

    data, sr = sf.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if sr != SAMPLE_RATE:
        g = np.gcd(int(sr), SAMPLE_RATE)
        mono = resample_poly(mono, SAMPLE_RATE // g, int(sr) // g).astype(np.float32)
    # trim leading silence (below -50 dB of the peak) so that onsets are where we put them
    peak = float(np.abs(mono).max()) or 1.0
    start = int(np.argmax(np.abs(mono) > peak * 10 ** (-50 / 20)))
    return (mono[start:] / peak).astype(np.float32)


def _load_sample(name: str) -> np.ndarray | None:
    """Recording ``name`` (see ``_read_sample``), or None if it is unavailable here."""
    d = samples_dir()
    if d is None or not (d / f"{name}.flac").is_file():
        return None
    return _read_sample(str(d / f"{name}.flac"))


def available_samples(cls: SynthClass) -> tuple[str, ...]:
    """The class's sample names that can be loaded here (empty without the package)."""
    return tuple(n for n in cls.samples if _load_sample(n) is not None)


def _fade(x: np.ndarray, attack: int, release: int) -> np.ndarray:
    if attack > 0:
        x[:attack] *= np.linspace(0.0, 1.0, attack, dtype=np.float32)
    if release > 0:
        x[-release:] *= np.linspace(1.0, 0.0, release, dtype=np.float32)
    return x


def _shift_pitch(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (pitch up by ``factor``; linear interpolation)."""
    n_out = max(1, int(len(x) / factor))
    return np.interp(np.arange(n_out) * factor, np.arange(len(x)), x).astype(np.float32)


def _shaped_noise(rng: np.random.Generator, n: int, lo: float, hi: float,
                  tilt: float = 0.0) -> np.ndarray:
    """Gaussian noise band-limited to [lo, hi] Hz with a spectral tilt of ``tilt`` dB/octave,
    unit RMS (random complex spectrum shaped, then one inverse FFT)."""
    f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE).astype(np.float32)
    gain = ((f >= lo) & (f <= hi)).astype(np.float32)
    if tilt:
        gain *= (np.maximum(f, 1.0) / 1000.0) ** np.float32(tilt / 6.0206)
    z = rng.standard_normal((2, len(f)), dtype=np.float32) * gain
    y = fft.irfft(z[0] + 1j * z[1], n)
    return (y / (np.sqrt(np.mean(y * y)) + 1e-12)).astype(np.float32)


_TABLE = 4096


def _osc(phase: np.ndarray, amps, f_max: float) -> np.ndarray:
    """Wavetable oscillator: sum_k amps[k-1] * sin(k * phase), harmonics above 7.8 kHz at the
    highest fundamental ``f_max`` (Hz) left out; nearest lookup in a 4096-point table."""
    k = np.arange(1, len(amps) + 1)
    a = np.where(k * f_max < 7800, np.asarray(amps, dtype=np.float64), 0.0)
    x = np.arange(_TABLE) * (2 * np.pi / _TABLE)
    table = (a[:, None] * np.sin(k[:, None] * x)).sum(0).astype(np.float32)
    idx = (phase * (_TABLE / (2 * np.pi))).astype(np.int64) % _TABLE
    return table[idx]


def _partials(t: np.ndarray, f0: float, ratios, amps, taus) -> np.ndarray:
    out = np.zeros_like(t)
    for r, a, tau in zip(ratios, amps, taus):
        if f0 * r < SAMPLE_RATE / 2 - 200:
            out += a * np.exp(-t / tau) * np.sin(2 * np.pi * f0 * r * t)
    return out


# --- struck sounds: one event, length n_max at most --------------------------------------
def _bell(rng, n, p):  # inharmonic partials of a bell, f0 500-900 Hz, decay 0.3-0.8 s
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(500, 900) * p
    tau = rng.uniform(0.3, 0.8)
    return _partials(t, f0, (1.0, 2.76, 5.40, 8.93), (1.0, 0.6, 0.35, 0.2),
                     (tau, tau * 0.7, tau * 0.4, tau * 0.25))


def _drum(rng, n, p):  # kick/tom: sine gliding 150->50 Hz plus a noise burst
    t = np.arange(n) / SAMPLE_RATE
    f_hi, f_lo = rng.uniform(120, 200) * p, rng.uniform(45, 70) * p
    freq = f_lo + (f_hi - f_lo) * np.exp(-t / 0.04)
    body = np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * np.exp(-t / rng.uniform(0.12, 0.3))
    click = _shaped_noise(rng, n, 200, 4000) * np.exp(-t / 0.008) * 0.4
    return body + click


def _tabla(rng, n, p):  # tuned membrane with a pitch bend, f0 200-350 Hz, decay 0.1-0.35 s
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(200, 350) * p
    bend = 1.0 + rng.uniform(-0.15, 0.25) * np.exp(-t / 0.05)
    phase = 2 * np.pi * np.cumsum(f0 * bend) / SAMPLE_RATE
    tau = rng.uniform(0.1, 0.35)
    return sum(a * np.sin(k * phase) * np.exp(-t * k / tau)
               for k, a in ((1, 1.0), (2, 0.5), (3, 0.3)))


def _pluck(rng, n, p):  # plucked string: harmonics 1/k, decay 1.2/k s, f0 82-250 Hz
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(82, 250) * p
    k = np.arange(1, 11)
    return _partials(t, f0, k, 1.0 / k, rng.uniform(0.8, 1.5) / k)


def _piano(rng, n, p):  # stiff strings: 2-3 note chord, f0 260-780 Hz, hammer noise
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(260, 780) * p
    k = np.arange(1, 9)
    ratios = k * np.sqrt(1 + 4e-4 * k ** 2)
    out = np.zeros(n)
    for r in (1.0, 1.26, 1.5)[:int(rng.integers(2, 4))]:
        out += _partials(t, f0 * r, ratios, 0.7 ** k, 1.2 / (1 + 0.4 * k))
    return out + 0.1 * _shaped_noise(rng, n, 500, 6000) * np.exp(-t / 0.01)


def _chirp(rng, n, p):  # bird: 2-5 quick FM sweeps 2-5 kHz, 40-120 ms each
    out = np.zeros(n)
    pos = 0
    for _ in range(int(rng.integers(2, 6))):
        m = int(rng.uniform(0.04, 0.12) * SAMPLE_RATE)
        if pos + m > n:
            break
        tt = np.arange(m) / SAMPLE_RATE
        f = np.linspace(rng.uniform(2000, 3500), rng.uniform(3000, 5000), m) * p
        f = f + 300 * np.sin(2 * np.pi * rng.uniform(20, 60) * tt)
        out[pos:pos + m] = np.sin(2 * np.pi * np.cumsum(f) / SAMPLE_RATE) * np.hanning(m)
        pos += m + int(rng.uniform(0.02, 0.08) * SAMPLE_RATE)
    return out


def _tick(rng, n, p):  # clock: a "tick-tock" pair of band-passed clicks 0.15-0.3 s apart
    out = np.zeros(n)
    burst = _shaped_noise(rng, 160, 1500 * p, 5000) * np.exp(-np.arange(160) / 25.0)
    gap = int(rng.uniform(0.15, 0.3) * SAMPLE_RATE)
    for pos, amp in ((0, 1.0), (gap, 0.6)):
        if pos + 160 <= n:
            out[pos:pos + 160] += burst * amp
    return out


def _beep(rng, n, p):  # electronic beep: square-ish tone 400-1200 Hz, 80-200 ms
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(400, 1200) * p
    m = min(n, int(rng.uniform(0.08, 0.2) * SAMPLE_RATE))
    tone = _osc(2 * np.pi * f0 * t, (1.0, 0, 1 / 3, 0, 1 / 5, 0, 1 / 7), f0)
    env = np.zeros(n)
    env[:m] = 1.0
    return tone * _fade(env.astype(np.float32), 40, 80)


def _marimba(rng, n, p):  # wooden bar: partials 1, 3.9, 9.2, fast decay, f0 250-700 Hz
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(250, 700) * p
    tau = rng.uniform(0.15, 0.35)
    return _partials(t, f0, (1.0, 3.9, 9.2), (1.0, 0.4, 0.15), (tau, tau / 3, tau / 8))


# --- sustained sounds: n samples of continuous sound ---------------------------------------
def _siren(rng, n, p):  # sweeping or two-tone siren 600-1400 Hz with harmonics
    t = np.arange(n) / SAMPLE_RATE
    lo, hi = rng.uniform(550, 750) * p, rng.uniform(1000, 1400) * p
    rate = rng.uniform(0.7, 2.5)
    if rng.random() < 0.5:
        f = lo + (hi - lo) * 0.5 * (1 - np.cos(2 * np.pi * rate * t))
    else:
        f = np.where(np.sin(2 * np.pi * rate * t) >= 0, hi, lo)
    ph = 2 * np.pi * np.cumsum(f) / SAMPLE_RATE
    return _osc(ph, (1.0, 0.3, 0.15), hi)


def _blower(rng, n, p):  # hair dryer: low-passed noise plus a motor hum 90-180 Hz
    t = np.arange(n) / SAMPLE_RATE
    hum_f = rng.uniform(90, 180) * p
    hum = _osc(2 * np.pi * hum_f * t, (1.0, 0.5, 0.33), hum_f)
    return _shaped_noise(rng, n, 100, rng.uniform(2500, 5000), tilt=-3) + 0.3 * hum


def _flute(rng, n, p):  # near-sine tone 700-1400 Hz, 5 Hz vibrato, breath noise
    t = np.arange(n) / SAMPLE_RATE
    f = rng.uniform(700, 1400) * p * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 6) * t))
    ph = 2 * np.pi * np.cumsum(f) / SAMPLE_RATE
    return _osc(ph, (1.0, 0.2), 1.01 * f.max()) + 0.08 * _shaped_noise(rng, n, 1000, 6000)


def _bowed(rng, n, p):  # bowed string: sawtooth-like 1/k harmonics, 6 Hz vibrato, 190-400 Hz
    t = np.arange(n) / SAMPLE_RATE
    f = rng.uniform(190, 400) * p * (1 + 0.015 * np.sin(2 * np.pi * rng.uniform(5, 7) * t))
    ph = 2 * np.pi * np.cumsum(f) / SAMPLE_RATE
    return _osc(ph, 1.0 / np.arange(1, 13), f.max())


def _brass(rng, n, p):  # brass: staccato notes (3-6 per s, 80-200 ms), harmonics peak k 3-5
    t = np.arange(n) / SAMPLE_RATE
    peak = rng.uniform(3, 5)
    k = np.arange(1, 11)
    out = np.zeros(n, np.float32)
    period = int(SAMPLE_RATE / rng.uniform(3, 6))
    for start in range(0, n, period):
        m = min(n - start, int(rng.uniform(0.08, 0.2) * SAMPLE_RATE))
        f0 = rng.uniform(230, 470) * p
        note = _osc(2 * np.pi * f0 * t[:m], np.exp(-((k - peak) / 2.5) ** 2), f0)
        out[start:start + m] = _fade(note, min(m // 4, 160), min(m // 4, 320))
    return out


def _reed(rng, n, p):  # harmonica: 3-note reed chord, 350-600 Hz, deep 5-7 Hz tremolo
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(350, 600) * p
    tone = np.zeros(n, np.float32)
    for f in (f0, f0 * 1.25, f0 * 1.5):
        tone += _osc(2 * np.pi * f * t, 0.8 ** np.arange(1, 8), f)
    return tone * (1 + 0.7 * np.sin(2 * np.pi * rng.uniform(5, 7) * t))


def _rotor(rng, n, p):  # helicopter: noise amplitude-modulated at 12-25 Hz + turbine whine
    t = np.arange(n) / SAMPLE_RATE
    chop = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(12, 25) * p * t)) ** 3
    whine = 0.15 * np.sin(2 * np.pi * rng.uniform(900, 1500) * p * t)
    return _shaped_noise(rng, n, 60, 1500, tilt=-4) * chop + whine


#: synthesiser name -> function(rng, n_samples, pitch_factor) -> float array [n_samples]
SYNTHS = {
    "bell": _bell, "drum": _drum, "tabla": _tabla, "pluck": _pluck, "piano": _piano,
    "chirp": _chirp, "tick": _tick, "beep": _beep, "marimba": _marimba, "siren": _siren,
    "blower": _blower, "flute": _flute, "bowed": _bowed, "brass": _brass, "reed": _reed,
    "rotor": _rotor,
}


def _normalise(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return (x / rms).astype(np.float32) if rms > 1e-9 else x.astype(np.float32)


def _event(cls: SynthClass, rng: np.random.Generator, n_max: int, pitch: float) -> np.ndarray:
    """One struck event of at most ``n_max`` samples: a recording if the class has any here,
    else the class synthesiser."""
    names = available_samples(cls)
    p = pitch * 2 ** (rng.uniform(-1, 1) / 12)
    if names:
        rec = _load_sample(names[int(rng.integers(len(names)))])
        x = _shift_pitch(rec[:int(n_max * p) + 2], p)[:n_max]
    else:
        x = np.asarray(SYNTHS[cls.synth](rng, n_max, p), dtype=np.float32)
    x = x.astype(np.float32).copy()
    return _fade(x, min(16, len(x)), min(int(0.01 * SAMPLE_RATE), len(x)))


def class_sound(cls: SynthClass, rng: np.random.Generator, n: int, pitch: float) -> np.ndarray:
    """``n`` samples (16 kHz) of class ``cls`` sounding throughout, unit RMS, float32 [n].

    ``pitch`` is the object's instance pitch factor (one per object, e.g. 0.84-1.19). Struck
    classes get 1-4 events (recordings where available) with onsets spread over the span (first
    onset in the first 15 %, so that the sound is audible in every 0.96 s window it is meant
    for); sustained classes one synthesised tone with 10-60 ms attack and release and a
    +-3 dB slow amplitude drift.
    """
    out = np.zeros(n, dtype=np.float32)
    if n <= 0:
        return out
    if cls.pattern == "hits":
        k = int(rng.integers(1, 5))
        onsets = np.sort(rng.uniform(0.0, 0.85, size=k)) * n
        onsets[0] = rng.uniform(0.0, 0.15) * n
        for on in onsets.astype(int):
            ev = _event(cls, rng, n - on, pitch)
            out[on:on + len(ev)] += ev * 10 ** (rng.uniform(-3, 3) / 20)
    else:
        p = pitch * 2 ** (rng.uniform(-1, 1) / 12)
        out[:] = np.asarray(SYNTHS[cls.synth](rng, n, p), dtype=np.float32)
        t = np.arange(n) / SAMPLE_RATE
        drift = 10 ** (rng.uniform(-3, 3) / 20 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t))
        out *= drift.astype(np.float32)
        a = int(rng.uniform(0.01, 0.06) * SAMPLE_RATE)
        out = _fade(out, min(a, n // 4), min(a, n // 4))
    return _normalise(out)


def noise_bed(rng: np.random.Generator, n: int) -> np.ndarray:
    """Background noise, unit RMS float32 [n]: coloured noise with a random spectral slope
    between white (0 dB/octave) and brown (-6 dB/octave),
    plus (when the package is present, half of the time) a stretch of the ``vinyl_hiss``
    recording."""
    x = _shaped_noise(rng, n, 20, 8000, tilt=rng.uniform(-6.0, 0.0))
    hiss = _load_sample("vinyl_hiss")
    if hiss is not None and rng.random() < 0.5 and len(hiss) > 0:
        start = int(rng.integers(max(1, len(hiss) - n)))
        seg = np.tile(hiss, int(np.ceil((n + start) / len(hiss))))[start:start + n]
        x = x + _normalise(seg)
    return _normalise(x)
