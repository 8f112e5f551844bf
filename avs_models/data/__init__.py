"""Datasets: AVSBench loaders (S4, MS3, AVSS; one annotated frame per sample) and the SynthAVS
generator (:mod:`avs_models.data.synth`)."""
from .avsbench import AVSBenchFormatError, AVSSDataset, MS3Dataset, S4Dataset

__all__ = ["AVSBenchFormatError", "AVSSDataset", "MS3Dataset", "S4Dataset"]
