"""``generate_streams``: a SynthAVS training set of streams, what the node sees, on disk.

Clips (:mod:`.generate`) show a model one annotated frame per second of audio that sounds
for the whole second. The node sees a stream: every frame is paired with the 0.975 s ending
at its stamp, sounds start and stop anywhere in that window, objects leave the view, and
sounds come from things that are not in it. A stream set stores such streams
(:func:`avs_models.data.synth.stream.stream` with off-screen sources and exits) so that
:class:`avs_models.data.streams.StreamFrames` can train on windows ending at every frame
stamp, under a ground-truth rule chosen at training time.

Layout (ours; ``OUT/Streams/``):

- ``streams.csv``: name, split, fps, duration_s, frames;
- ``synthavs.json``: the generator record (seed, count, options, sources, seconds);
- ``{split}/{name}/audio.wav``: the whole track, 16 kHz mono PCM16 (what a bag carries);
- ``{split}/{name}/frames/{k:05d}.jpg``: frame k (stamp (k + 1) / fps s), RGB, quality 95;
- ``{split}/{name}/instances/{k:05d}.png``: 8-bit instance ids of frame k (0 background,
  i + 1 the visible pixels of drawn object i);
- ``{split}/{name}/stream.json``: fps, frames, per drawn object its class and sounding
  intervals [start, end) in s, per frame the drawn objects with visible pixels, and the
  off-screen sources (class, intervals).

Per stream i of a set of seed S (stream seed ``S * 1_000_000 + i``, so that the small seeds
used for held-out bags never occur): 2-4 drawn objects, 0/1/2 off-screen sources with
p 0.4/0.4/0.2, exits with p 0.5, the SNR range of the stream mode. Splits as the clips':
the first ~70 % of the streams train, then ~15 % val, the rest test.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from .generate import run_jobs, split_of
from .sounds import SAMPLE_RATE, sound_source
from .visuals import background_source
from .writers import to_pcm16

STREAMS_ROOT = "Streams"
STREAM_SEED_STRIDE = 1_000_000


def stream_name(seed: int, i: int) -> str:
    """Name of stream ``i`` of a set of seed ``seed``: ``str{seed}_{i:05d}``."""
    return f"str{seed}_{i:05d}"


def _make_stream(job: tuple[str, int, int, int, float, float]) -> dict:
    from .stream import stream

    out, seed, i, n, duration_s, fps = job
    rng = np.random.default_rng([seed, 0x5E7, i])
    offscreen = int(rng.choice(3, p=(0.4, 0.4, 0.2)))
    exits = bool(rng.random() < 0.5)
    name, split = stream_name(seed, i), split_of(i, n)
    folder = Path(out) / STREAMS_ROOT / split / name
    (folder / "frames").mkdir(parents=True, exist_ok=True)
    (folder / "instances").mkdir(parents=True, exist_ok=True)
    audio, visible, first = [], [], None
    for k, f in enumerate(stream(duration_s, fps=fps, seed=seed * STREAM_SEED_STRIDE + i,
                                 offscreen=offscreen, exits=exits)):
        first = first or f
        audio.append(f.audio)
        cv2.imwrite(str(folder / "frames" / f"{k:05d}.jpg"),
                    cv2.cvtColor(f.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(folder / "instances" / f"{k:05d}.png"), f.instances.astype(np.uint8))
        visible.append(sorted(int(v) - 1 for v in np.unique(f.instances) if v > 0))
    sf.write(str(folder / "audio.wav"), to_pcm16(np.concatenate(audio)), SAMPLE_RATE,
             subtype="PCM_16")
    record = {"fps": fps, "frames": len(visible), "duration_s": duration_s,
              "objects": [{"class": c, "intervals": [list(iv) for iv in ivs]}
                          for c, ivs in zip(first.classes, first.intervals)],
              "offscreen": [{"class": c, "intervals": [list(iv) for iv in ivs]}
                            for c, ivs in first.offscreen],
              "exits": exits, "visible": visible}
    (folder / "stream.json").write_text(json.dumps(record) + "\n")
    return {"name": name, "split": split, "fps": fps, "duration_s": duration_s,
            "frames": len(visible)}


def generate_streams(out_dir: str | Path, streams: int, seed: int, duration_s: float = 40.0,
                     fps: float = 5.0, workers: int = 2, progress=None) -> Path:
    """Write ``streams`` SynthAVS training streams under ``out_dir/Streams`` (layout above).

    Args:
        out_dir: parent folder; existing files are overwritten.
        streams: number of streams (>= 1).
        seed: integer seed; equal arguments give identical sets.
        duration_s: length of each stream in s (>= 2).
        fps: annotated frames per second (> 0); every frame is a training sample.
        workers: processes (1 = in this process).
        progress: optional callable(done, total).

    Returns the ``Streams`` folder. Raises ValueError for a bad count, duration, fps or
    worker count.
    """
    if streams < 1 or workers < 1:
        raise ValueError(f"streams and workers must be >= 1, got {streams}, {workers}")
    if duration_s < 2 or fps <= 0:
        raise ValueError(f"duration_s must be >= 2 s and fps > 0, got {duration_s}, {fps}")
    t0 = time.perf_counter()
    root = Path(out_dir) / STREAMS_ROOT
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(str(out_dir), int(seed), i, streams, float(duration_s), float(fps))
            for i in range(streams)]
    rows = run_jobs(_make_stream, jobs, workers, progress)
    with open(root / "streams.csv", "w") as f:
        f.write("name,split,fps,duration_s,frames\n")
        for r in rows:
            f.write(f"{r['name']},{r['split']},{r['fps']},{r['duration_s']},{r['frames']}\n")
    info = {"generator": "SynthAVS streams", "streams": streams, "seed": seed,
            "duration_s": duration_s, "fps": fps, "sounds": sound_source(),
            "backgrounds": background_source(), "seconds": round(time.perf_counter() - t0, 2)}
    (root / "synthavs.json").write_text(json.dumps(info, indent=1) + "\n")
    return root
