"""The shipped checkpoints (the default LightAVSeg-T and AVESFormer-R18): each loads with
load_model, stays within its size, carries its recipe and measured numbers, meets its issue's
held-out targets, and finds the sounding objects of a held-out stream through the node's
pipeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from avs_models.checkpoints import load_model, read_checkpoint
from avs_models.weights import SHIPPED, shipped_checkpoint

#: per shipped preset: largest file size (MiB; the frozen VGGish alone is 139 MiB in
#: float16) and the held-out clip J its issue asked for (13: 0.75, 15: 0.70)
LIMITS = {"lightavseg_t": (15, 0.75), "avesformer_r18": (190, 0.70)}


def test_every_shipped_preset_has_limits():
    assert set(SHIPPED) == set(LIMITS)


@pytest.mark.parametrize("preset", sorted(LIMITS))
def test_file_is_small_and_float16(preset):
    path = shipped_checkpoint(preset)
    assert path.stat().st_size <= LIMITS[preset][0] * 2**20
    raw = read_checkpoint(path)
    floats = {v.dtype for v in raw["model"].values() if v.is_floating_point()}
    assert floats == {torch.float16}


@pytest.mark.parametrize("preset", sorted(LIMITS))
def test_loads_with_recipe_and_metrics(preset):
    model, meta = load_model(shipped_checkpoint(preset))
    assert meta["preset"] == preset and model.num_classes == 1
    assert meta["config"]["data"]["subset"] == "ms3"
    assert meta["config"]["model"]["image_size"] == list(model.contract.image_size)
    test = meta["metrics"]["test"]
    assert test["dataset"]["seed"] != meta["metrics"]["train_dataset"]["seed"]
    assert test["J_drop"] == test["true_audio"]["J"] - test["shuffled_audio"]["J"]
    assert test["image_size"] == list(model.contract.image_size)
    assert next(model.parameters()).dtype == torch.float32


@pytest.mark.parametrize("preset", sorted(LIMITS))
def test_predicts_on_a_generated_frame(preset):
    from avs_models.data.synth import stream
    from avs_ros.core.preprocess import Preprocessor

    model, _ = load_model(shipped_checkpoint(preset))
    pre = Preprocessor(model.contract)
    frames = list(stream(2.0, 2.0, seed=11))
    audio = np.concatenate([f.audio for f in frames])[-15600:]
    frame = frames[-1]
    logits = model.predict(torch.from_numpy(pre.image(frame.image)),
                           torch.from_numpy(pre.audio(audio)))
    h, w = model.contract.image_size
    assert logits.shape == (1, 1, h, w) and torch.isfinite(logits).all()
    assert 0 < int((logits > 0).sum()) < h * w   # some pixels on, not all


@pytest.mark.parametrize("preset", sorted(LIMITS))
def test_recorded_test_numbers_meet_the_targets(preset):
    """The recorded held-out numbers (issue targets): J at least the issue's with its own
    audio, and at least 0.20 lower with another clip's audio."""
    _, meta = load_model(shipped_checkpoint(preset))
    test = meta["metrics"]["test"]
    assert test["split"] == "test" and test["true_audio"]["frames"] >= 300
    assert test["true_audio"]["J"] >= LIMITS[preset][1]
    assert test["J_drop"] >= 0.20


def _replay_held_out_stream(preset: str, tmp_path):
    """Load ``preset`` as the node does with an empty checkpoint and replay a 16 s, 10 fps
    SynthAVS stream of seed 104 (held out) through it: (loaded model, replay metrics)."""
    from avs_ros.bag.sources import synth_stream
    from avs_ros.bag.writer import write_bag
    from avs_ros.core.model_source import load_backend
    from avs_ros.replay.session import replay

    write_bag(synth_stream(16.0, 10.0, seed=104), tmp_path / "bag", storage="mcap", seed=0)
    model = load_backend(preset, threads=1)
    return model, replay(tmp_path / "bag", tmp_path / "out", model, progress=False)


def test_on_a_held_out_stream_it_finds_the_sounding_objects(tmp_path):
    """The node's real job (issue 13): a 16 s SynthAVS stream of a seed no training used
    (the training streams have seeds 11_000_000 + i and 12_000_000 + i), 10 fps, written as
    a bag and replayed through the node's pipeline with the shipped model. A regression
    guard, below what the model scores on it (J 0.81 when measured); the clip-only model
    before stream training scored 0.49-0.64 J on the 40 s held-out streams. Silence: 18 of
    its 23 silent frames publish no object (2 of 23 before the presence term, stage 1 of the
    recipe); the issue's 90 % is not met (the failures are frames whose 0.975 s window still
    holds the sound that just stopped)."""
    _, data = _replay_held_out_stream("lightavseg_t", tmp_path)
    assert data["metrics"]["J"] >= 0.65 and data["stream"]["J_sounding"] >= 0.55
    assert data["stream"]["silent_frames"] == 23 and data["stream"]["silent_no_object"] >= 0.35


def test_avesformer_preset_without_checkpoint_runs_the_shipped_model_on_a_stream(tmp_path):
    """`preset:=avesformer_r18` with no checkpoint (node and replay alike) loads the shipped
    AVESFormer-R18 (issue 15), which finds the sounding objects of the held-out stream above
    (measured J 0.67, 0.62 on sounding frames; a guard below that). Trained on clips only, it
    publishes an object on 22 of the 23 silent frames: silence is issue 13's work, not
    checked here."""
    model, data = _replay_held_out_stream("avesformer_r18", tmp_path)
    assert not model.random_weights and model.source == str(shipped_checkpoint("avesformer_r18"))
    assert data["metrics"]["J"] >= 0.60 and data["stream"]["J_sounding"] >= 0.55
