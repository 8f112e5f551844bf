"""avs train / avs eval: typed configs, a CPU training smoke run whose loss falls, resume,
J/F with true and shuffled audio, a 2-process DDP run (torchrun, gloo) and the JSON keys of
``avs eval --json``. All on a tiny SynthAVS MS3 split at 64x64."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from avs_models.checkpoints import load_model
from avs_models.train.config import ConfigError, config_from_dict, load_config
from avs_models.train.data import AudioSwapped, build_dataset, other_clip_index
from avs_models.train.evaluate import evaluate_with_shuffle
from avs_models.train.trainer import build_training_model, lr_factor, param_groups, train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ms3_root(tmp_path_factory) -> Path:
    from avs_models.data.synth import generate

    # 7 clips: 5 train, 1 val, 1 test (generate.split_of)
    return generate("ms3", tmp_path_factory.mktemp("synth"), clips=7, seed=5, workers=1)


def _cfg(root: Path, **train) -> dict:
    return {
        "model": {"preset": "lightavseg_t", "image_size": [64, 64]},
        "data": {"root": str(root), "subset": "ms3", "cache": True, "workers": 0},
        "optim": {"lr": 2e-3, "scheduler": "constant"},
        "train": {"epochs": 1, "batch_size": 5, "seed": 0, "num_threads": 1,
                  "log_every": 1, "tensorboard": False, **train},
    }


# --- config ----------------------------------------------------------------------------------
def test_unknown_key_names_path_and_suggestion():
    with pytest.raises(ConfigError, match=r"optim\.lrr.*did you mean 'lr'"):
        config_from_dict({"model": {"preset": "lightavseg_t"}, "data": {"root": "x"},
                          "optim": {"lrr": 1e-3}})
    with pytest.raises(ConfigError, match=r"'trian'.*did you mean 'train'"):
        config_from_dict({"model": {"preset": "lightavseg_t"}, "data": {"root": "x"},
                          "trian": {}})


def test_types_checked_and_coerced():
    base = {"model": {"preset": "lightavseg_t"}, "data": {"root": "x"}}
    cfg = config_from_dict({**base, "optim": {"lr": "1e-4", "weight_decay": 0}})
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.weight_decay, float)
    with pytest.raises(ConfigError, match=r"train\.epochs: expected an integer"):
        config_from_dict({**base, "train": {"epochs": "ten"}})
    with pytest.raises(ConfigError, match=r"train\.amp: expected true or false"):
        config_from_dict({**base, "train": {"amp": 1}})
    with pytest.raises(ConfigError, match=r"data\.subset: expected one of"):
        config_from_dict({**base, "data": {"root": "x", "subset": "s5"}})
    with pytest.raises(ConfigError, match=r"model\.image_size"):
        config_from_dict({**base, "model": {"preset": "lightavseg_t", "image_size": [100, 96]}})
    with pytest.raises(ConfigError, match=r"model\.preset is required"):
        config_from_dict({"data": {"root": "x"}})
    assert config_from_dict({**base, "model": {"preset": "a", "freeze_audio": True}}
                            ).model.freeze_audio == "true"


def test_shipped_configs_parse_and_match_papers():
    files = sorted((REPO / "configs").rglob("*.yaml"))
    names = {str(p.relative_to(REPO / "configs")) for p in files}
    for need in ("lightavseg_l_s4.yaml", "lightavseg_l_ms3.yaml", "lightavseg_l_avss.yaml",
                 "avesformer_r18_s4.yaml", "avesformer_r18_ms3.yaml", "avesformer_r18_avss.yaml",
                 "avesformer_r50_ms3.yaml", "avsegformer_r50_s4.yaml",
                 "synth/lightavseg_t_ms3.yaml", "synth/avesformer_r18_ms3.yaml"):
        assert need in names
    cfgs = {n: load_config(REPO / "configs" / n) for n in names}
    a = cfgs["avesformer_r18_avss.yaml"]
    assert (a.optim.lr, a.optim.scheduler, a.optim.poly_power, a.train.epochs,
            a.train.batch_size, a.loss.options["lambda_iou"], a.model.num_classes) == \
        (1e-4, "poly", 0.9, 30, 8, 1.0, 71)
    light = cfgs["lightavseg_l_ms3.yaml"]
    assert (light.optim.lr, light.train.batch_size, light.train.epochs,
            light.loss.options) == (1e-4, 8, 60, {"lambda_msa": 0.5})
    assert cfgs["avsegformer_r50_s4.yaml"].optim.lr == 2e-5


def test_resolved_config_round_trips(tmp_path, ms3_root):
    cfg = config_from_dict(_cfg(ms3_root))
    from avs_models.train.config import save_config

    again = load_config(save_config(cfg, tmp_path / "c.yaml"))
    assert again == cfg


def test_lr_schedule_values():
    cfg = config_from_dict({"model": {"preset": "p"}, "data": {"root": "x"},
                            "optim": {"scheduler": "poly", "warmup_iters": 10,
                                      "warmup_ratio": 0.1}})
    assert lr_factor(0, 100, cfg.optim) == pytest.approx(0.1)
    assert lr_factor(5, 100, cfg.optim) == pytest.approx(0.55)
    assert lr_factor(50, 100, cfg.optim) == pytest.approx(0.5 ** 0.9)
    assert lr_factor(100, 100, cfg.optim) == 0.0


def test_lr_mult_groups_parameters_by_longest_prefix_and_rejects_unknown_ones():
    net = torch.nn.Sequential()
    net.add_module("enc", torch.nn.Linear(2, 2))
    net.add_module("enc2", torch.nn.Linear(2, 2))   # "enc" must not claim "enc2.*"
    net.add_module("gen", torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)))
    net.gen[1].weight.requires_grad_(False)
    groups = param_groups(net, 1e-3, {"gen": 0.1, "gen.1": 0.5})
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-4, 5e-4])
    assert [{id(p) for p in g["params"]} for g in groups] == [
        {id(p) for p in (*net.enc.parameters(), *net.enc2.parameters())},
        {id(p) for p in net.gen[0].parameters()}, {id(net.gen[1].bias)}]
    with pytest.raises(ValueError, match="'gne'"):
        param_groups(net, 1e-3, {"gne": 0.1})
    with pytest.raises(ConfigError, match="optim.lr_mult.gen must be > 0"):
        config_from_dict({"model": {"preset": "p"}, "data": {"root": "x"},
                          "optim": {"lr_mult": {"gen": 0}}})
    with pytest.raises(ConfigError, match="optim.lr_mult.gen: expected a number"):
        config_from_dict({"model": {"preset": "p"}, "data": {"root": "x"},
                          "optim": {"lr_mult": {"gen": "fast"}}})


def test_lr_mult_scales_the_schedule_of_its_group(tmp_path, ms3_root):
    cfg = _cfg(ms3_root, max_steps=2)
    cfg["optim"].update(lr_mult={"audio_backbone": 0.25}, warmup_iters=10)
    train(config_from_dict(cfg), tmp_path, progress=False)
    state = torch.load(tmp_path / "trainer_state.pt", weights_only=False)
    lrs = [g["lr"] for g in state["optimizer"]["param_groups"]]
    assert lrs == pytest.approx([2e-3 * 0.28, 0.25 * 2e-3 * 0.28])   # 2 of 10 warm-up steps


def test_freeze_audio_auto_follows_weights():
    base = {"data": {"root": "x"}}
    m = build_training_model(config_from_dict({**base, "model": {"preset": "lightavseg_t"}}))
    assert all(p.requires_grad for p in m.audio_backbone.parameters())
    m = build_training_model(config_from_dict(
        {**base, "model": {"preset": "lightavseg_t", "freeze_audio": "true",
                           "image_size": [96, 128]}}))
    assert not any(p.requires_grad for p in m.audio_backbone.parameters())
    assert m.contract.image_size == (96, 128)


# --- training --------------------------------------------------------------------------------
def test_cpu_training_loss_falls_and_resume_continues(tmp_path, ms3_root):
    torch.manual_seed(0)
    out = tmp_path / "run"
    cfg = config_from_dict(_cfg(ms3_root, epochs=4))
    res = train(cfg, out, progress=False)
    losses = res["losses"]
    assert len(losses) == 20   # 25 train frames // batch 5 = 5 steps per epoch, 4 epochs
    assert sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3
    assert res["images_per_s"] > 0 and res["peak_gpu_mb"] is None     # 15 timed steps, CPU
    for name in ("config.yaml", "last.pt", "best.pt", "trainer_state.pt", "train_log.csv",
                 "val_log.csv"):
        assert (out / name).is_file()
    model, meta = load_model(out / "best.pt")
    assert meta["config"]["model"]["preset"] == "lightavseg_t"
    assert meta["metrics"]["val"]["J"] == res["best"]["J"]
    assert model.contract.image_size == (64, 64)

    # resume: two more epochs continue from epoch 4, step 20, with the optimiser state
    cfg6 = config_from_dict(_cfg(ms3_root, epochs=6))
    res2 = train(cfg6, out, resume=True, progress=False)
    assert len(res2["losses"]) == 10 and res2["steps"] == 30 and res2["epochs"] == 6
    state = torch.load(out / "trainer_state.pt", weights_only=False)
    assert state["epoch"] == 6 and state["step"] == 30
    assert state["seconds"] >= res2["seconds"] - 1 and res2["seconds"] > res["seconds"]
    adam_steps = {float(s["step"]) for s in state["optimizer"]["state"].values()}
    assert adam_steps == {30.0}
    epochs = [int(r["epoch"]) for r in
              __import__("csv").DictReader(open(out / "val_log.csv"))]
    assert epochs == [1, 2, 3, 4, 5, 6]


def test_streams_join_the_clips_and_init_checkpoint_starts_from_a_release(tmp_path, ms3_root):
    from avs_models.checkpoints import save_checkpoint
    from avs_models.data.synth.stream_set import generate_streams
    from avs_models.errors import CheckpointError

    streams = generate_streams(tmp_path / "s", streams=3, seed=9, duration_s=4.0, fps=5.0,
                               workers=1)
    data = _cfg(ms3_root)
    data["data"].update(streams=str(streams), stream_target="ignore", stream_ignore_s=0.3)
    cfg = config_from_dict(data)
    train_set = build_dataset(cfg, "train", train=True)
    val_set = build_dataset(cfg, "val", train=False)
    clips = len(build_dataset(config_from_dict(_cfg(ms3_root)), "train", train=True))
    assert len(train_set.datasets) == 2 and len(train_set.datasets[0]) == clips
    # validation frames of the streams are labelled by the stamp rule, whatever trains
    assert len(val_set.datasets[1]) == 4 * 5 - 4          # stamps >= 0.975 s
    start = build_training_model(config_from_dict(_cfg(ms3_root)))
    next(start.audio_backbone.parameters()).data.fill_(0.5)        # not a fresh init
    save_checkpoint(start, tmp_path / "start.pt", config=cfg.to_dict())
    data["model"]["init_checkpoint"] = str(tmp_path / "start.pt")
    model = build_training_model(config_from_dict(data))
    for (name, a), b in zip(model.state_dict().items(), start.state_dict().values()):
        assert torch.equal(a, b), name
    assert not any(p.requires_grad for p in model.audio_backbone.parameters())   # auto
    res = train(config_from_dict({**data, "train": {**data["train"], "max_steps": 2}}),
                tmp_path / "run", progress=False)
    assert res["steps"] == 2
    data["model"]["preset"] = "lightavseg_s"
    with pytest.raises(CheckpointError, match="holds preset 'lightavseg_t'"):
        build_training_model(config_from_dict(data))
    with pytest.raises(ConfigError, match="num_classes must be 1"):
        config_from_dict({**data, "model": {"preset": "lightavseg_t", "num_classes": 71},
                          "data": {**data["data"], "subset": "avss"}})


def test_resume_without_run_is_an_error(tmp_path, ms3_root):
    with pytest.raises(FileNotFoundError, match="--resume needs"):
        train(config_from_dict(_cfg(ms3_root)), tmp_path / "none", resume=True, progress=False)


# --- evaluation ------------------------------------------------------------------------------
def test_other_clip_index_never_maps_to_own_clip():
    samples = [(c, k) for c in range(4) for k in range(5)] + [(4, 0)]
    idx = other_clip_index(samples, seed=3)
    for i, j in enumerate(idx):
        assert samples[j][0] != samples[i][0]
        assert samples[j][1] == min(samples[i][1], 4 if samples[j][0] < 4 else 0)
    with pytest.raises(ValueError, match="at least two clips"):
        other_clip_index([(0, 0), (0, 1)])


def test_eval_true_and_shuffled_audio(ms3_root):
    cfg = config_from_dict(_cfg(ms3_root) | {"data": {"root": str(ms3_root), "subset": "ms3"}})
    ds = build_dataset(cfg, "train", train=False)
    swapped = AudioSwapped(ds, seed=1)
    for i in (0, 7):
        j = swapped.index[i]
        assert ds[i]["clip"] != ds[j]["clip"]
        assert torch.equal(swapped[i]["audio"], ds[j]["audio"])
        assert torch.equal(swapped[i]["image"], ds[i]["image"])
    torch.manual_seed(0)
    model = build_training_model(cfg)
    res = evaluate_with_shuffle(model, ds, shuffle_audio=True, batch_size=8)
    t, s = res["true_audio"], res["shuffled_audio"]
    assert t["frames"] == s["frames"] == 25 and t["groups"] == 5
    assert 0.0 <= t["J"] <= 1.0 and 0.0 <= t["F"] <= 1.0
    assert res["J_drop"] == pytest.approx(t["J"] - s["J"])


def _write_cfg(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_avs_eval_json_keys(tmp_path, ms3_root, capsys):
    from avs_models.checkpoints import save_checkpoint
    from avs_ros.cli import main

    data = _cfg(ms3_root)
    torch.manual_seed(0)
    model = build_training_model(config_from_dict(data))
    ckpt = save_checkpoint(model, tmp_path / "m.pt", half=True)
    cfg_path = _write_cfg(tmp_path / "c.yaml", data)
    assert main(["eval", "--config", str(cfg_path), "--checkpoint", str(ckpt),
                 "--split", "train", "--shuffle-audio", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) >= {"true_audio", "shuffled_audio", "J_drop", "checkpoint", "preset",
                        "split", "image_size", "grouping"}
    assert set(res["true_audio"]) >= {"J", "F", "frames", "groups"}
    assert res["image_size"] == [64, 64] and res["grouping"] == "clip"
    assert main(["eval", "--config", str(cfg_path), "--checkpoint",
                 str(tmp_path / "missing.pt")]) == 2


def test_avs_eval_record_writes_half_copy_with_metrics(tmp_path, ms3_root, capsys):
    from avs_models.checkpoints import read_checkpoint, save_checkpoint
    from avs_ros.cli import main

    data = _cfg(ms3_root)
    torch.manual_seed(0)
    ckpt = save_checkpoint(build_training_model(config_from_dict(data)), tmp_path / "m.pt",
                           config=data, metrics={"best_val_J": 0.5})
    out = tmp_path / "rec.pt"
    assert main(["eval", "--config", str(_write_cfg(tmp_path / "c.yaml", data)),
                 "--checkpoint", str(ckpt), "--split", "val", "--json", "--record",
                 str(out)]) == 0
    res = json.loads(capsys.readouterr().out)
    raw = read_checkpoint(out)
    assert {v.dtype for v in raw["model"].values() if v.is_floating_point()} == {torch.float16}
    m = raw["metrics"]
    assert m["best_val_J"] == 0.5 and m["val"]["true_audio"] == res["true_audio"]
    assert m["val"]["dataset"]["seed"] == 5 and m["train_dataset"]["seed"] == 5
    # the recorded numbers are those of the float16 weights
    model, _ = load_model(out)
    ds = build_dataset(config_from_dict(data), "val", train=False)
    again = evaluate_with_shuffle(model, ds, shuffle_audio=False, batch_size=16)
    assert again["true_audio"]["J"] == pytest.approx(res["true_audio"]["J"], abs=1e-6)


def test_torchrun_ddp_two_cpu_processes(tmp_path, ms3_root):
    cfg_path = _write_cfg(tmp_path / "ddp.yaml", _cfg(ms3_root, batch_size=2, max_steps=2))
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         "--standalone", "-m", "avs_ros.cli", "train", "--config", str(cfg_path),
         "--out", str(out), "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(out / "trainer_state.pt", weights_only=False)
    assert state["step"] == 2 and len(state["rng"]) == 2   # both ranks reported
    model, meta = load_model(out / "best.pt")
    assert meta["metrics"]["val"]["step"] == 2
    assert proc.stdout.count('"out"') == 1   # rank 0 alone prints the summary


def test_avs_eval_avss_reports_per_class(tmp_path, capsys):
    from avs_models.checkpoints import save_checkpoint
    from avs_models.data.synth import generate
    from avs_ros.cli import main

    root = generate("avss", tmp_path / "avss", clips=4, seed=2, workers=1)
    data = {"model": {"preset": "lightavseg_t", "num_classes": 71, "image_size": [64, 64]},
            "data": {"root": str(root), "subset": "avss", "workers": 0}}
    torch.manual_seed(0)
    ckpt = save_checkpoint(build_training_model(config_from_dict(data)), tmp_path / "m.pt")
    cfg_path = _write_cfg(tmp_path / "c.yaml", data)
    assert main(["eval", "--config", str(cfg_path), "--checkpoint", str(ckpt),
                 "--split", "train", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    t = res["true_audio"]
    assert len(t["per_class_iou"]) == len(t["per_class_f"]) == 71
    assert res["class_names"][0] == "background" and t["J"] == t["mIoU"]
    assert main(["eval", "--config", str(cfg_path), "--checkpoint", str(ckpt),
                 "--split", "train"]) == 0
    text = capsys.readouterr().out
    assert "per class" in text and "accordion" in text


def test_no_pqg_ablation_differs_from_its_recipe_only_in_the_query_generator():
    recipe = load_config(REPO / "configs/synth/avesformer_r18_ms3.yaml").to_dict()
    ablation = load_config(REPO / "configs/synth/avesformer_r18_ms3_no_pqg.yaml").to_dict()
    assert ablation["model"]["options"].pop("query_generator") == "none"
    # the recipe slows its prompt query generator, which the ablation does not have
    assert recipe["optim"].pop("lr_mult") == {"query_generator": 0.1}
    assert ablation["optim"].pop("lr_mult") == {}
    assert ablation == recipe
