"""avs pretrain: the pretext labels agree with the composed clips, the written weights load
through the public-format loaders into a training model (audio frozen) - SeaFormer +
MobileNetV2 for LightAVSeg, ResNet-18 + VGGish for AVESFormer, the latter also recognised by
``avs import`` as the torchvision / torchvggish files they imitate - wrong files are refused,
and bad arguments are refused."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avs_models.backbones.resnet import resnet18
from avs_models.data.synth.classes import CLASSES
from avs_models.errors import CheckpointError
from avs_models.registry import build_model
from avs_models.train.config import config_from_dict
from avs_models.train.pretrain import (AudioPretext, PretrainConfig, VisualPretext,
                                       compose_pretraining_set, pretrain)
from avs_models.train.trainer import build_training_model
from avs_ros.cli import main
from avs_ros.weights_import.recognise import recognise

#: the AVESFormer head narrowed as configs/synth/avesformer_r18_ms3.yaml does (faster build)
_AVES_OPTIONS = {"ffn_dim": 64, "mask_mlp_dim": 32}


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


@pytest.fixture(scope="module")
def r18_vggish(tmp_path_factory):
    """A tiny ResNet-18 + VGGish pretraining run: (out folder, summary)."""
    out = tmp_path_factory.mktemp("pretrain_r18_vggish")
    cfg = PretrainConfig(backbone="resnet18", audio_encoder="vggish", image_size=(64, 64),
                         clips=4, seed=9, visual_steps=2, audio_steps=2, batch_size=4,
                         audio_batch_size=4, workers=1, threads=1)
    return out, pretrain(cfg, out, progress=False)


def test_resnet18_and_vggish_files_have_the_public_keys(r18_vggish):
    out, summary = r18_vggish
    assert summary["visual"]["weights"] == str(out / "resnet18_synthavs.pth")
    assert summary["audio"]["weights"] == str(out / "vggish_synthavs.pth")
    assert summary["visual"]["seconds_per_step"] > 0 < summary["audio"]["seconds_per_step"]
    assert not (out / "mobilenetv2_synthavs.pth").exists()
    vis = torch.load(out / "resnet18_synthavs.pth", weights_only=True)
    aud = torch.load(out / "vggish_synthavs.pth", weights_only=True)
    # plain state dicts (as torchvision's and torchvggish's files), the public key names
    assert set(vis) == set(resnet18().state_dict())
    for key, shape in [("conv1.weight", (64, 3, 7, 7)), ("bn1.running_mean", (64,)),
                       ("layer1.0.conv1.weight", (64, 64, 3, 3)),
                       ("layer2.0.downsample.0.weight", (128, 64, 1, 1)),
                       ("layer4.1.bn2.weight", (512,))]:
        assert vis[key].shape == shape, key
    assert not any(k.startswith("fc.") for k in vis)     # no ImageNet classifier trained
    assert set(aud) == {f"{m}.{i}.{p}" for m, idx in (("features", (0, 3, 6, 8, 11, 13)),
                                                      ("embeddings", (0, 2, 4)))
                        for i in idx for p in ("weight", "bias")}
    assert aud["features.0.weight"].shape == (64, 1, 3, 3)
    assert aud["embeddings.0.weight"].shape == (4096, 12288)
    assert aud["embeddings.4.weight"].shape == (128, 4096)
    # trained: not the initialisation of a fresh module
    assert not torch.equal(vis["conv1.weight"], resnet18().conv1.weight)


def test_resnet18_and_vggish_files_are_recognised_as_public(r18_vggish):
    out, _ = r18_vggish
    found = recognise(out / "resnet18_synthavs.pth")
    assert (found.kind, found.unused) == ("resnet18", {})
    assert found.encoder.config_key == "backbone_weights"
    assert "avesformer_r18" in found.encoder.presets
    found = recognise(out / "vggish_synthavs.pth")
    assert (found.kind, found.unused) == ("vggish", {})
    assert found.encoder.config_key == "audio_weights"
    assert "avesformer_r18" in found.encoder.presets


def test_resnet18_and_vggish_load_into_avesformer_audio_frozen(r18_vggish):
    out, _ = r18_vggish
    vis = torch.load(out / "resnet18_synthavs.pth", weights_only=True)
    aud = torch.load(out / "vggish_synthavs.pth", weights_only=True)
    model = build_training_model(config_from_dict({
        "model": {"preset": "avesformer_r18", "image_size": [64, 64], "options": _AVES_OPTIONS,
                  "backbone_weights": str(out / "resnet18_synthavs.pth"),
                  "audio_weights": str(out / "vggish_synthavs.pth"), "freeze_audio": "auto"},
        "data": {"root": "unused"}}))
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, vis[k]), k
    for k, v in model.audio_backbone.state_dict().items():
        assert torch.equal(v, aud[k]), k
    model.train()
    assert not any(p.requires_grad for p in model.audio_backbone.parameters())  # auto freeze
    assert not model.audio_backbone.training
    assert all(p.requires_grad for p in model.backbone.parameters())
    # the builder's keyword route loads the same tensors
    direct = build_model("avesformer_r18", backbone_weights=str(out / "resnet18_synthavs.pth"),
                         audio_weights=str(out / "vggish_synthavs.pth"), **_AVES_OPTIONS)
    assert torch.equal(direct.backbone.layer3[1].conv2.weight, vis["layer3.1.conv2.weight"])
    assert torch.equal(direct.audio_backbone.embeddings[0].weight, aud["embeddings.0.weight"])


def test_wrong_encoder_files_are_refused(r18_vggish, tmp_path):
    out, _ = r18_vggish
    r18, vgg = str(out / "resnet18_synthavs.pth"), str(out / "vggish_synthavs.pth")
    # swapped files: the strict loaders name the file and the missing / unexpected keys
    with pytest.raises(CheckpointError, match=r"vggish_synthavs\.pth does not match ResNet.*"
                                              r"missing key.*conv1\.weight"):
        build_model("avesformer_r18", backbone_weights=vgg, **_AVES_OPTIONS)
    with pytest.raises(CheckpointError, match=r"resnet18_synthavs\.pth does not match VGGish.*"
                                              r"missing key.*features\.0\.weight"):
        build_model("avesformer_r18", audio_weights=r18, **_AVES_OPTIONS)
    # a ResNet-50 file for the R18 preset, a truncated file
    torch.save(VisualPretext("resnet18").backbone.state_dict() | {
        "layer1.0.conv3.weight": torch.zeros(256, 64, 1, 1)}, tmp_path / "r50ish.pth")
    with pytest.raises(CheckpointError, match="unexpected key.*layer1.0.conv3.weight"):
        build_model("avesformer_r18", backbone_weights=str(tmp_path / "r50ish.pth"),
                    **_AVES_OPTIONS)
    (tmp_path / "cut.pth").write_bytes((out / "vggish_synthavs.pth").read_bytes()[:4096])
    with pytest.raises(CheckpointError, match="cut.pth"):
        build_training_model(config_from_dict({
            "model": {"preset": "avesformer_r18", "options": _AVES_OPTIONS,
                      "audio_weights": str(tmp_path / "cut.pth")},
            "data": {"root": "unused"}}))


def test_resnet18_and_vggish_pretext_shapes_and_unknown_names():
    with torch.no_grad():
        assert VisualPretext("resnet18").eval()(torch.randn(2, 3, 64, 96)).shape == \
            (2, len(CLASSES) + 1, 64, 96)
        tags = AudioPretext("vggish").eval()(torch.randn(2, 1, 96, 64))
    assert tags.shape == (2, len(CLASSES)) and tags.dtype == torch.float32
    with pytest.raises(ValueError, match="resnet18"):
        VisualPretext("resnet50")
    with pytest.raises(ValueError, match="vggish"):
        AudioPretext("cnn14")
    with pytest.raises(ValueError, match="unknown audio encoder"):
        pretrain(PretrainConfig(audio_encoder="panns"), "unused", progress=False)


@pytest.mark.parametrize("argv, what", [
    (["--clips", "1"], "clips"),
    (["--visual-steps", "-1"], "visual_steps"),
    (["--image-size", "100", "100"], "image size"),
    (["--audio-lr=-1e-4"], "audio_lr"),
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


def test_avesformer_recipe_loads_what_avs_pretrain_writes():
    """configs/synth/avesformer_r18_ms3.yaml names the files its own `avs pretrain` command
    (in its header) writes, at 128 x 128 with VGGish frozen (freeze_audio auto)."""
    import re
    import shlex
    from pathlib import Path

    from avs_models.train.config import load_config
    from avs_models.train.pretrain import AUDIO_ENCODERS

    path = Path(__file__).resolve().parents[1] / "configs" / "synth" / "avesformer_r18_ms3.yaml"
    cfg = load_config(path)
    header = re.search(r"#\s+(avs pretrain .*?)\n#\s*\w", path.read_text(), re.S)[1]
    argv = shlex.split(re.sub(r"\\\n#\s*", " ", header))[2:]
    opts = dict(zip(argv[::2], argv[1::2]))
    assert opts["--backbone"] == "resnet18" and opts["--audio-encoder"] == "vggish"
    out = opts["--out"]
    assert cfg.model.backbone_weights == f"{out}/resnet18_synthavs.pth"
    assert cfg.model.audio_weights == f"{out}/{AUDIO_ENCODERS['vggish']}"
    assert (cfg.model.preset, cfg.model.image_size, cfg.model.freeze_audio) == \
        ("avesformer_r18", [128, 128], "auto")
    assert cfg.model.audio_front_end == "vggish"
