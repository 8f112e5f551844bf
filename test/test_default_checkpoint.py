"""The shipped default checkpoint: loads with load_model, stays small, carries its recipe and
measured numbers, and predicts a mask on one SynthAVS frame."""
from __future__ import annotations

import numpy as np
import torch

from avs_models.checkpoints import load_model, read_checkpoint
from avs_models.weights import default_checkpoint


def test_file_is_small_and_float16():
    path = default_checkpoint()
    assert path.stat().st_size <= 15 * 2**20
    raw = read_checkpoint(path)
    floats = {v.dtype for v in raw["model"].values() if v.is_floating_point()}
    assert floats == {torch.float16}


def test_loads_with_recipe_and_metrics():
    model, meta = load_model(default_checkpoint())
    assert meta["preset"] == "lightavseg_t" and model.num_classes == 1
    assert meta["config"]["data"]["subset"] == "ms3"
    assert meta["config"]["model"]["image_size"] == list(model.contract.image_size)
    test = meta["metrics"]["test"]
    assert test["dataset"]["seed"] != meta["metrics"]["train_dataset"]["seed"]
    assert test["J_drop"] == test["true_audio"]["J"] - test["shuffled_audio"]["J"]
    assert test["image_size"] == list(model.contract.image_size)
    assert next(model.parameters()).dtype == torch.float32


def test_predicts_on_a_generated_frame():
    from avs_models.data.synth import stream
    from avs_ros.core.preprocess import Preprocessor

    model, _ = load_model(default_checkpoint())
    pre = Preprocessor(model.contract)
    frames = list(stream(2.0, 2.0, seed=11))
    audio = np.concatenate([f.audio for f in frames])[-15600:]
    frame = frames[-1]
    logits = model.predict(torch.from_numpy(pre.image(frame.image)),
                           torch.from_numpy(pre.audio(audio)))
    h, w = model.contract.image_size
    assert logits.shape == (1, 1, h, w) and torch.isfinite(logits).all()
    assert 0 < int((logits > 0).sum()) < h * w   # some pixels on, not all


def test_recorded_test_numbers_meet_the_targets():
    """The shipped model's recorded held-out numbers (issue targets): J >= 0.75 with its own
    audio and at least 0.20 lower with another clip's audio."""
    _, meta = load_model(default_checkpoint())
    test = meta["metrics"]["test"]
    assert test["split"] == "test" and test["true_audio"]["frames"] >= 300
    assert test["true_audio"]["J"] >= 0.75
    assert test["J_drop"] >= 0.20


def test_on_a_held_out_stream_it_finds_the_sounding_objects(tmp_path):
    """The node's real job (issue 13): a 16 s SynthAVS stream of a seed no training used
    (the training streams have seeds 11_000_000 + i), 10 fps, written as a bag and replayed
    through the node's pipeline with the shipped model. A regression guard, below what the
    model scores on it (J 0.78 when measured); the clip-only model before stream training
    scored 0.49-0.64 J on the 40 s held-out streams. Silence: 13 of its 23 silent frames
    publish no object (2 of 23 before the presence term, stage 1 of the recipe); the issue's
    90 % is not met (the failures are frames whose 0.975 s window still holds the sound that
    just stopped)."""
    from avs_ros.bag.sources import synth_stream
    from avs_ros.bag.writer import write_bag
    from avs_ros.core.model_source import load_backend
    from avs_ros.replay.session import replay

    write_bag(synth_stream(16.0, 10.0, seed=104), tmp_path / "bag", storage="mcap", seed=0)
    model = load_backend("lightavseg_t", threads=1)
    data = replay(tmp_path / "bag", tmp_path / "out", model, progress=False)
    assert data["metrics"]["J"] >= 0.65 and data["stream"]["J_sounding"] >= 0.55
    assert data["stream"]["silent_frames"] == 23 and data["stream"]["silent_no_object"] >= 0.35
