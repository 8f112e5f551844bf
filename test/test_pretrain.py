"""avs pretrain: the pretext labels agree with the composed clips, the written weights load
through the public-format loaders into a training model (audio frozen), and bad arguments
are refused."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avs_models.data.synth.classes import CLASSES
from avs_models.train.config import config_from_dict
from avs_models.train.pretrain import PretrainConfig, compose_pretraining_set, pretrain
from avs_models.train.trainer import build_training_model
from avs_ros.cli import main


def test_pretext_labels_match_clips():
    data = compose_pretraining_set(clips=3, seed=9, image_size=(64, 64), workers=1)
    assert data["image"].shape == (15, 3, 64, 64) and data["image"].dtype == torch.uint8
    assert data["classes"].shape == (15, 64, 64) and data["audio"].shape == (15, 1, 96, 64)
    assert data["sounding"].shape == (15, len(CLASSES))
    for k in range(15):
        present = set(torch.unique(data["classes"][k]).tolist()) - {0}
        # every frame shows >= 2 objects; a sounding class is one of the objects in view
        assert len(present) >= 2
        sounding = {int(c) + 1 for c in torch.nonzero(data["sounding"][k]).flatten()}
        assert sounding <= present
    again = compose_pretraining_set(clips=3, seed=9, image_size=(64, 64), workers=2)
    assert all(torch.equal(data[k], again[k]) for k in data)   # workers do not matter
    other = compose_pretraining_set(clips=3, seed=10, image_size=(64, 64), workers=1)
    assert not torch.equal(data["image"], other["image"])


def test_pretrained_weights_load_into_training_model(tmp_path):
    cfg = PretrainConfig(image_size=(64, 64), clips=4, seed=9, visual_steps=3, audio_steps=3,
                         batch_size=4, audio_batch_size=4, workers=1, threads=1)
    summary = pretrain(cfg, tmp_path, progress=False)
    assert 0.0 <= summary["visual"]["heldout_miou"] <= 1.0
    assert set(summary["audio"]["heldout"]) == {"micro_f1", "exact_set_accuracy"}
    assert json.loads((tmp_path / "pretrain.json").read_text())["frames"] == 20

    vis = torch.load(tmp_path / "seaformer_t_synthavs.pth", weights_only=True)
    aud = torch.load(tmp_path / "mobilenetv2_synthavs.pth", weights_only=True)["model"]
    model = build_training_model(config_from_dict({
        "model": {"preset": "lightavseg_t", "image_size": [64, 64],
                  "backbone_weights": str(tmp_path / "seaformer_t_synthavs.pth"),
                  "audio_weights": str(tmp_path / "mobilenetv2_synthavs.pth")},
        "data": {"root": "unused"}}))
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, vis[k]), k
    for k, v in model.audio_backbone.state_dict().items():
        assert torch.equal(v, aud[k]), k
    assert "fc_audioset.weight" in aud                     # the tag layer, dropped on load
    assert not any(p.requires_grad for p in model.audio_backbone.parameters())  # auto freeze


@pytest.mark.parametrize("argv, what", [
    (["--clips", "1"], "clips"),
    (["--visual-steps", "-1"], "visual_steps"),
    (["--image-size", "100", "100"], "image size"),
])
def test_cli_refuses_bad_arguments(tmp_path, capsys, argv, what):
    assert main(["pretrain", "--out", str(tmp_path), *argv]) == 2
    assert what in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_audio_tags_are_learnable_signal():
    """The multi-hot targets are not constant: most frames have 1+ sounding class and the
    classes vary, so the audio pretext has something to learn."""
    hot = compose_pretraining_set(clips=6, seed=9, image_size=(64, 64), workers=1)["sounding"]
    per_frame = hot.sum(1).numpy()
    assert (per_frame >= 1).mean() > 0.5 and np.unique(per_frame).size > 1
    assert (hot.sum(0) > 0).sum() >= 4
