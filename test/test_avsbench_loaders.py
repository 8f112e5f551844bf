"""AVSBench loaders (S4, MS3, AVSS) on SynthAVS fixtures: samples, split rules, geometry,
flip, and errors that name the path and the CSV line."""
from __future__ import annotations

import csv
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from avs_models.contract import IMAGENET_MEAN, IMAGENET_STD
from avs_models.data import AVSBenchFormatError, AVSSDataset, MS3Dataset, S4Dataset
from avs_models.data.avss_palette import rgb_to_index
from avs_models.data.synth import generate


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("avsbench")
    for subset in ("s4", "ms3", "avss"):
        generate(subset, d, 4, seed=21, workers=1)
    return d


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _denorm(image: torch.Tensor) -> np.ndarray:
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((image * std + mean) * 255).permute(1, 2, 0).numpy()


def test_s4_samples_and_train_has_only_first_mask(data):
    root = data / "Single-source"
    rows = _rows(root / "s4_meta_data.csv")
    n = {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}
    train = S4Dataset(root, "train")
    assert len(train) == n["train"] and all(k == 0 for _, k in train.samples)
    assert len(S4Dataset(root, "val")) == 5 * n["val"]
    s = train[0]
    assert s["image"].shape == (3, 224, 224) and s["image"].dtype == torch.float32
    assert s["audio"].shape == (1, 96, 64) and s["audio"].dtype == torch.float32
    assert s["mask"].shape == (1, 224, 224) and s["mask"].dtype == torch.float32
    assert set(torch.unique(s["mask"]).tolist()) <= {0.0, 1.0}
    r = rows[0]
    assert (s["clip"], s["frame"], s["category"], s["split"]) == (r["name"], 0, r["category"],
                                                                 "train")
    base = f"s4_data/%s/train/{r['category']}/{r['name']}/{r['name']}_1.png"
    png = np.asarray(Image.open(root / (base % "visual_frames")), dtype=np.float32)
    np.testing.assert_allclose(_denorm(s["image"]), png, atol=1e-3)
    gt = np.asarray(Image.open(root / (base % "gt_masks"))) >= 128
    np.testing.assert_array_equal(s["mask"][0].numpy().astype(bool), gt)


def test_pkl_and_wav_audio_agree(data):
    for cls, root in ((S4Dataset, "Single-source"), (MS3Dataset, "Multi-sources")):
        a = cls(data / root, "test", audio="pkl")
        b = cls(data / root, "test", audio="wav")
        for i in (0, 3):
            torch.testing.assert_close(a[i]["audio"], b[i]["audio"])
        assert not torch.equal(a[0]["audio"], a[1]["audio"]), "frames get their own second"


def test_ms3_samples(data):
    root = data / "Multi-sources"
    rows = _rows(root / "ms3_meta_data.csv")
    ds = MS3Dataset(root, "train")
    assert len(ds) == 5 * sum(r["split"] == "train" for r in rows)
    s = ds[2]
    assert s["frame"] == 2 and s["mask"].shape == (1, 224, 224)
    name = s["clip"]
    gt = np.asarray(Image.open(root / f"ms3_data/gt_masks/train/{name}/{name}_3.png")) != 0
    np.testing.assert_array_equal(s["mask"][0].numpy().astype(bool), gt)


def test_avss_samples_and_geometry(data):
    root = data / "AVSBench-semantic"
    rows = _rows(root / "metadata.csv")
    for split in ("train", "val", "test"):
        ds = AVSSDataset(root, split)
        want = sum((1 if (r["label"] == "v1s" and split == "train") else
                    10 if r["label"] == "v2" else 5) for r in rows if r["split"] == split)
        assert len(ds) == want and ds.num_classes == 71
        s = ds[len(ds) - 1]
        assert s["image"].shape == (3, 224, 224) and s["audio"].shape == (1, 96, 64)
        assert s["mask"].shape == (224, 224) and s["mask"].dtype == torch.int64
        clip = ds.clips[ds.samples[-1][0]]
        k = s["frame"]
        frame = Image.open(root / clip.label / clip.name / "frames" / f"{k}.jpg").convert("RGB")
        rgb = Image.open(root / clip.label / clip.name / "labels_rgb" / f"{k}.png").convert("RGB")
        assert frame.size == (320, 240)
        if split == "train":   # short side to 224 (240x320 -> 224x298), centre crop x 37..261
            frame = frame.resize((298, 224), Image.BILINEAR).crop((37, 0, 261, 224))
            rgb = rgb.resize((298, 224), Image.NEAREST).crop((37, 0, 261, 224))
        else:
            frame, rgb = frame.resize((224, 224), Image.BILINEAR), rgb.resize((224, 224),
                                                                                Image.NEAREST)
        np.testing.assert_allclose(_denorm(s["image"]), np.asarray(frame, np.float32), atol=1e-3)
        np.testing.assert_array_equal(s["mask"].numpy(), rgb_to_index(np.asarray(rgb)))


def test_hflip_flips_image_and_mask_together(data):
    for cls, root in ((S4Dataset, "Single-source"), (AVSSDataset, "AVSBench-semantic")):
        plain = cls(data / root, "val")[1]
        flipped = cls(data / root, "val", hflip=True, hflip_p=1.0)[1]
        torch.testing.assert_close(flipped["image"], plain["image"].flip(-1))
        torch.testing.assert_close(flipped["mask"], plain["mask"].flip(-1))
        torch.testing.assert_close(flipped["audio"], plain["audio"])
        assert not torch.equal(flipped["mask"], plain["mask"])
        never = cls(data / root, "val", hflip=True, hflip_p=0.0)[1]
        torch.testing.assert_close(never["image"], plain["image"])


def test_missing_file_names_path_and_row(data, tmp_path):
    root = tmp_path / "Multi-sources"
    shutil.copytree(data / "Multi-sources", root)
    rows = _rows(root / "ms3_meta_data.csv")
    name = rows[1]["video_id"]
    victim = root / f"ms3_data/visual_frames/{name}/{name}.mp4_4.png"
    victim.unlink()
    ds = MS3Dataset(root, "train")
    index = ds.samples.index((1, 3))
    with pytest.raises(FileNotFoundError) as err:
        ds[index]
    assert str(victim) in str(err.value) and "line 3" in str(err.value)
    pkl = root / f"ms3_data/audio_log_mel/train/{rows[0]['video_id']}.pkl"
    with open(pkl, "wb") as f:
        pickle.dump(torch.zeros(5, 96, 64), f)
    with pytest.raises(AVSBenchFormatError, match=r"\[N >= 1, 1, 96, 64\].*line 2") as err:
        ds[0]
    assert str(pkl) in str(err.value)
    pkl.unlink()
    with pytest.raises(FileNotFoundError, match=r"\.pkl.*line 2"):
        ds[0]


@pytest.mark.parametrize("bad_line, problem", [
    ("syn_x,0,bell,training\n", "split 'training'"),
    ("syn_x,0,bell\n", "3 fields"),
    (",0,bell,train\n", "empty clip name"),
])
def test_malformed_row_names_path_and_row(data, tmp_path, bad_line, problem):
    root = tmp_path / "Single-source"
    shutil.copytree(data / "Single-source", root)
    csv_path = root / "s4_meta_data.csv"
    lines = csv_path.read_text().splitlines(keepends=True)
    lines.insert(2, bad_line)           # becomes line 3 of the file
    csv_path.write_text("".join(lines))
    with pytest.raises(AVSBenchFormatError) as err:
        S4Dataset(root, "train")
    assert str(csv_path) in str(err.value) and "line 3" in str(err.value)
    assert problem in str(err.value)


def test_missing_column_and_csv(data, tmp_path):
    root = tmp_path / "AVSBench-semantic"
    root.mkdir()
    shutil.copy(data / "AVSBench-semantic" / "label2idx.json", root)
    with pytest.raises(FileNotFoundError, match="metadata.csv"):
        AVSSDataset(root, "train")
    (root / "metadata.csv").write_text("vid,uid,split\nv,u,train\n")
    with pytest.raises(AVSBenchFormatError, match=r"line 1.*\['label'\]"):
        AVSSDataset(root, "train")
    with pytest.raises(ValueError, match="split"):
        S4Dataset(data / "Single-source", "training")


def test_batches_collate(data):
    loader = torch.utils.data.DataLoader(MS3Dataset(data / "Multi-sources", "train"),
                                         batch_size=2)
    batch = next(iter(loader))
    assert batch["image"].shape == (2, 3, 224, 224) and batch["audio"].shape == (2, 1, 96, 64)
    assert batch["mask"].shape == (2, 1, 224, 224) and batch["frame"].tolist() == [0, 1]
