"""SynthAVS: synthetic audio-visual segmentation data in the exact AVSBench layouts.

``generate(subset, out_dir, clips, seed, workers=2)`` writes S4, MS3 or AVSS datasets that the
loaders of :mod:`avs_models.data.avsbench` read; ``stream(duration_s, fps, seed)`` yields a
continuous scene (frames, per-frame ground truth, 16 kHz audio chunks) for replay and rosbags.
Design notes (how audio is made necessary) are in :mod:`.scene`.
"""
from .classes import CLASSES, SynthClass
from .generate import SUBSETS, generate
from .stream import StreamFrame, stream

__all__ = ["CLASSES", "SUBSETS", "StreamFrame", "SynthClass", "generate", "stream"]
