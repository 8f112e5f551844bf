"""avs import: encoder files built here with the public names and shapes, refusals of wrong
files (nothing written), and a public AVSegFormer checkpoint taken through replay, eval,
export and the node's loader."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avs_models.audio.mobilenetv2 import MobileNetV2Audio
from avs_models.audio.vggish import VGGish
from avs_models.backbones.pvt_v2 import pvt_v2_b5
from avs_models.backbones.resnet import resnet18, resnet50
from avs_models.backbones.seaformer import seaformer
from avs_models.checkpoints import read_checkpoint, save_checkpoint
from avs_models.registry import build_model
from avs_ros import cli
from avs_ros.weights_import.cli import import_file
from avs_ros.weights_import.recognise import ImportRefused

PARITY_FIXTURE = Path(__file__).parent / "fixtures" / "avsegformer_public_logits.json"


def _rand(state: dict) -> dict:
    g = torch.Generator().manual_seed(1)
    return {k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v.clone()
            for k, v in state.items()}


def _import(tmp_path, name: str, payload, **kw) -> tuple[dict, Path]:
    src, out = tmp_path / name, tmp_path / "out" / f"{name}.pt"
    torch.save(payload, src)
    return import_file(src, out, **kw), out


def _refused(tmp_path, name: str, payload, match: str, raw: bytes | None = None) -> None:
    src, out = tmp_path / name, tmp_path / "out.pt"
    if raw is not None:
        src.write_bytes(raw)
    else:
        torch.save(payload, src)
    with pytest.raises(ImportRefused, match=match):
        import_file(src, out)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


# --- encoder files: public names and shapes as the public files hold them ------------------

def _torchvision_resnet(depth: int) -> dict:
    module = resnet18() if depth == 18 else resnet50()
    width = 512 if depth == 18 else 2048
    sd = _rand(module.state_dict())
    sd.update({"fc.weight": torch.randn(1000, width), "fc.bias": torch.randn(1000)})
    return sd


@pytest.mark.parametrize("depth", [18, 50])
def test_torchvision_resnet_loads_into_training_build(tmp_path, depth):
    public = _torchvision_resnet(depth)
    # spot checks of the torchvision layout, independent of our module
    assert public["layer2.0.downsample.0.weight"].shape == \
        ((128, 64, 1, 1) if depth == 18 else (512, 256, 1, 1))
    assert ("layer1.0.conv3.weight" in public) == (depth == 50)
    report, out = _import(tmp_path, f"resnet{depth}.pth", public)
    assert report["kind"] == f"resnet{depth}" and report["unused"] == {"fc": 2}
    assert report["config_key"] == "backbone_weights"
    model = build_model(f"avesformer_r{depth}", backbone_weights=str(out))
    for key in ("conv1.weight", "layer4.1.bn2.running_var"):
        assert torch.equal(model.backbone.state_dict()[key], public[key])
    assert read_checkpoint(out)["source"]["sha256"] == report["sha256"]


def test_lightavseg_encoders_seaformer_and_panns(tmp_path):
    sea = _rand(seaformer("seaformer_t").state_dict())
    sea.update({"linear.weight": torch.randn(1000, 160), "linear.bias": torch.randn(1000)})
    panns = _rand(MobileNetV2Audio().state_dict())
    panns.update({"spectrogram_extractor.stft.conv_real.weight": torch.randn(513, 1, 1024),
                  "spectrogram_extractor.stft.conv_imag.weight": torch.randn(513, 1, 1024),
                  "logmel_extractor.melW": torch.randn(513, 64),
                  "fc_audioset.weight": torch.randn(527, 1024),
                  "fc_audioset.bias": torch.randn(527)})
    assert panns["features.0.0.weight"].shape == (32, 1, 3, 3) and \
        panns["fc1.weight"].shape == (1024, 1280) and panns["bn0.weight"].shape == (64,)
    # PANNs' released checkpoints keep the sampler state (numpy) next to "model"
    sampler = {"indexes_per_class": [np.arange(4)],
               "random_state": np.random.RandomState(0).get_state()}
    r_sea, sea_out = _import(tmp_path, "SeaFormer_T.pth", {"state_dict": sea})
    r_pan, pan_out = _import(tmp_path, "MobileNetV2_mAP=0.383.pth",
                             {"iteration": 560000, "model": panns, "sampler": sampler})
    assert (r_sea["kind"], r_sea["unused"]) == ("seaformer_t", {"linear": 2})
    assert r_pan["kind"] == "panns_mobilenetv2" and r_pan["config_key"] == "audio_weights"
    assert r_pan["unused"] == {"spectrogram_extractor": 2, "logmel_extractor": 1,
                               "fc_audioset": 2}
    model = build_model("lightavseg_t", backbone_weights=str(sea_out),
                        audio_weights=str(pan_out))
    assert torch.equal(model.audio_backbone.fc1.weight, panns["fc1.weight"])
    key = "trans1.transformer_blocks.0.attn.to_q.c.weight"
    assert torch.equal(model.backbone.state_dict()[key], sea[key])


@pytest.mark.parametrize("size", ["s", "b", "l"])
def test_other_seaformer_sizes_are_told_apart(tmp_path, size):
    sd = _rand(seaformer(f"seaformer_{size}").state_dict())
    report, _ = _import(tmp_path, f"SeaFormer_{size.upper()}.pth", sd)
    assert report["kind"] == f"seaformer_{size}"


@pytest.mark.slow
def test_vggish_port_with_pca_reports_it_unused(tmp_path):
    public = _rand(VGGish().state_dict())
    public.update({"pproc.pca_eigen_vectors": torch.randn(128, 128),
                   "pproc.pca_means": torch.randn(128, 1)})
    assert public["features.0.weight"].shape == (64, 1, 3, 3) and \
        public["embeddings.0.weight"].shape == (4096, 12288)
    report, out = _import(tmp_path, "vggish.pth", public)
    assert report["kind"] == "vggish" and report["unused"] == {"pproc": 2}
    assert "PCA" in report["unused_what"]
    model = VGGish()
    from avs_models.audio.vggish import load_vggish_weights
    load_vggish_weights(model, out)
    assert torch.equal(model.embeddings[4].weight, public["embeddings.4.weight"])


@pytest.mark.slow
def test_pvt_v2_b5_imagenet_file_in_public_names(tmp_path):
    keys = json.loads(PARITY_FIXTURE.read_text())["cases"]["pvt_s4"]["keys"]
    public = {k[len("backbone."):]: torch.randn(shape) for k, shape, _ in keys
              if k.startswith("backbone.")}     # the public PVT's own names and shapes
    public.update({"head.weight": torch.randn(1000, 512), "head.bias": torch.randn(1000)})
    report, out = _import(tmp_path, "pvt_v2_b5.pth", public)
    assert report["kind"] == "pvt_v2_b5" and report["unused"] == {"head": 2}
    model = pvt_v2_b5()
    from avs_models.backbones.pvt_v2 import load_pvt_v2_weights
    load_pvt_v2_weights(model, out)
    assert torch.equal(model.block3[39].attn.kv.weight, public["block3.39.attn.kv.weight"])


# --- refusals --------------------------------------------------------------------------------

def test_refuses_html_truncated_and_non_checkpoints(tmp_path):
    _refused(tmp_path, "a.pth", None, "HTML page",
             raw=b"<!DOCTYPE html><html><title>Google Drive - Virus scan warning</title>")
    good = tmp_path / "good.pth"
    torch.save(_torchvision_resnet(18), good)
    data = good.read_bytes()
    _refused(tmp_path, "half.pth", None, r"truncated download", raw=data[: len(data) // 2])
    _refused(tmp_path, "notes.pth", None, "not a complete torch weight file", raw=b"hello\n" * 9)
    _refused(tmp_path, "list.pth", [1, 2, 3], "holds no state dict")


def test_refuses_other_architectures_and_variants(tmp_path):
    r101 = {f"layer{i}.{j}.conv{c}.weight": torch.zeros(1)
            for i, n in enumerate((3, 4, 23, 3), 1) for j in range(n) for c in (1, 2, 3)}
    r101["conv1.weight"] = torch.zeros(64, 3, 7, 7)
    _refused(tmp_path, "resnet101.pth", r101, r"ResNet-101.*resnet18-\*\.pth")
    b2 = {f"block{i}.{j}.attn.q.weight": torch.zeros(1)
          for i, n in enumerate((3, 4, 6, 3), 1) for j in range(n)}
    b2["patch_embed1.proj.weight"] = torch.zeros(64, 3, 7, 7)
    _refused(tmp_path, "pvt_v2_b2.pth", b2, r"PVTv2-B2.*pvt_v2_b5\.pth")
    cnn14 = {"bn0.weight": torch.zeros(64), "conv_block1.conv1.weight": torch.zeros(64, 1, 3, 3),
             "fc_audioset.weight": torch.zeros(527, 2048)}
    _refused(tmp_path, "Cnn14.pth", {"model": cnn14}, r"Cnn6/10/14.*MobileNetV2_mAP=0\.383")
    vgg16 = {"features.0.weight": torch.zeros(64, 3, 3, 3),
             "classifier.0.weight": torch.zeros(4096, 25088)}
    _refused(tmp_path, "vgg16.pth", vgg16, r"features \(1\), classifier \(1\).*vggish-10086976")
    sea = seaformer("seaformer_t").state_dict()
    sea["smb2.layer1.conv.0.c.weight"] = torch.zeros(3, 3, 3, 3)
    _refused(tmp_path, "SeaFormer_T.pth", sea, r"Closest, SeaFormer-T.*smb2\.layer1\.conv\.0")


def test_refuses_pca_file_our_checkpoint_and_broken_avsegformer(tmp_path):
    pca = {"pca_eigen_vectors": np.zeros((128, 128)), "pca_means": np.zeros(128)}
    _refused(tmp_path, "vggish_pca_params-970ea276.pth", pca, "PCA post-processing")
    ours = tmp_path / "ours.pt"
    save_checkpoint(build_model("lightavseg_t"), ours)
    with pytest.raises(ImportRefused, match="already an avs_ros/1 checkpoint"):
        import_file(ours, tmp_path / "x.pt")
    no_fc = {"head.learnable_query.weight": torch.zeros(300, 256),
             "vggish.features.0.weight": torch.zeros(64, 1, 3, 3)}
    _refused(tmp_path, "avsegformer.pth", no_fc, r"AVSegFormer checkpoint.*head\.fc\.4\.weight")
    other_backbone = dict(no_fc, **{"head.fc.4.weight": torch.zeros(1, 32, 1, 1),
                                    "backbone.layer3.0.conv1.weight": torch.zeros(1)})
    _refused(tmp_path, "avsegformer2.pth", other_backbone, r"unknown backbone.*backbone\.layer3")


def test_name_hash_must_match_the_content(tmp_path):
    public = _torchvision_resnet(18)
    wrong = tmp_path / "resnet18-0123abcd.pth"
    torch.save(public, wrong)
    with pytest.raises(ImportRefused, match="incomplete or altered download"):
        import_file(wrong, tmp_path / "o.pt")
    assert not (tmp_path / "o.pt").exists()
    sha = hashlib.sha256(wrong.read_bytes()).hexdigest()
    right = wrong.rename(tmp_path / f"resnet18-{sha[:8]}.pth")
    assert import_file(right, tmp_path / "o.pt")["kind"] == "resnet18"


def test_command_exit_status_and_message(tmp_path, capsys):
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"<html>")
    assert cli.main(["import", str(bad), "--out", str(tmp_path / "o.pt")]) == 2
    assert "refused: x.pth is an HTML page" in capsys.readouterr().err
    torch.save(_torchvision_resnet(18), tmp_path / "r.pth")
    assert cli.main(["import", str(tmp_path / "r.pth"), "--out", str(tmp_path / "o.pt"),
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["presets"] == ["avesformer_r18"]


# --- a public AVSegFormer checkpoint through our tools ---------------------------------------

@pytest.fixture(scope="module")
def imported_r50(tmp_path_factory):
    """The public R50 S4 key list (recorded from the public model) with random weights,
    saved as DataParallel would and wrapped, then imported."""
    from test_avsegformer_public_parity import public_random_state

    case = json.loads(PARITY_FIXTURE.read_text())["cases"]["r50_s4"]
    state = public_random_state(case["keys"], 5)
    tmp = tmp_path_factory.mktemp("import")
    src = tmp / "AVSegFormer_res50_s4.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, src)
    del state
    out = tmp / "avsegformer_r50_s4.pt"
    report = import_file(src, out, subset="s4")
    src.unlink()
    return report, out


@pytest.mark.slow
def test_avsegformer_import_records_source_and_contract(imported_r50):
    report, out = imported_r50
    assert (report["kind"], report["preset"], report["num_classes"], report["subset"]) == \
        ("avsegformer", "avsegformer_r50", 1, "s4")
    assert report["published"]["J"] == 76.38 and report["tensors"] == 853
    assert report["unused"]["backbone.layer3_2"] > 0 and sum(report["unused"].values()) == 185
    ckpt = read_checkpoint(out)
    assert ckpt["format"] == "avs_ros/1" and ckpt["preset"] == "avsegformer_r50"
    assert ckpt["source"]["sha256"] == report["sha256"]
    assert ckpt["source"]["file"] == "AVSegFormer_res50_s4.pth"
    assert ckpt["class_names"] == ["background", "sounding"]
    assert ckpt["contract"]["mel_frames"] == 96
    assert ckpt["build_kwargs"].get("mixer_residual", False) is False


@pytest.mark.slow
def test_imported_checkpoint_runs_in_node_loader_replay_export_and_eval(imported_r50,
                                                                         tmp_path, capsys):
    from avs_ros.bag.sources import synth_stream
    from avs_ros.bag.writer import write_bag
    from avs_ros.core.model_source import load_backend

    _, ckpt = imported_r50
    loaded = load_backend("lightavseg_t", str(ckpt), image_size=(64, 64))   # avs_node's call
    assert loaded.source == str(ckpt) and not loaded.random_weights

    bag = tmp_path / "bag"
    write_bag(synth_stream(1.5, 4.0, seed=1, size=(64, 64), start_ns=1_700_000_000 * 10**9),
              bag, storage="mcap", seed=0)
    assert cli.main(["replay", str(bag), "--out", str(tmp_path / "replay"), "--checkpoint",
                     str(ckpt), "--image-size", "64", "64", "--no-video", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"]["processed"] >= 1

    onnx = tmp_path / "m.onnx"
    assert cli.main(["export", "--checkpoint", str(ckpt), "--out", str(onnx),
                     "--image-size", "64", "64"]) == 0
    assert onnx.is_file()

    from avs_models.data.synth import generate
    root = generate("ms3", tmp_path / "synth", clips=7, seed=5, workers=1)   # 1 test clip
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(f"model: {{preset: avsegformer_r50}}\ndata: {{root: '{root}', subset: ms3, "
                   "workers: 0}\n")
    capsys.readouterr()
    assert cli.main(["eval", "--config", str(cfg), "--checkpoint", str(ckpt), "--json",
                     "--batch-size", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["preset"] == "avsegformer_r50"
