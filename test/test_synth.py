"""SynthAVS: exact AVSBench layouts, determinism, scene rules, audio/mask consistency."""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from avs_models.audio.logmel import waveform_to_examples
from avs_models.data.avss_palette import AVSS_CLASSES, avss_palette, index_to_rgb, rgb_to_index
from avs_models.data.synth import CLASSES, generate, stream
from avs_models.data.synth import cli as synth_cli
from avs_models.data.synth.mixing import EXAMPLE_HOP, mix_clip
from avs_models.data.synth.scene import compose_clip
from avs_models.data.synth.sounds import SAMPLE_RATE, class_sound

N_CLIPS = 4


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("synth")
    for subset in ("s4", "ms3", "avss"):
        generate(subset, d, N_CLIPS, seed=5, workers=1)
    return d


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_s4_layout_exact(out):
    root = out / "Single-source"
    rows = _rows(root / "s4_meta_data.csv")
    assert list(rows[0]) == ["name", "start", "category", "split"]
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    expected = {"s4_meta_data.csv", "synthavs.json"}
    for r in rows:
        n, c, s = r["name"], r["category"], r["split"]
        assert c in [k.name for k in CLASSES]
        expected |= {f"s4_data/visual_frames/{s}/{c}/{n}/{n}_{k}.png" for k in range(1, 6)}
        expected |= {f"s4_data/gt_masks/{s}/{c}/{n}/{n}_{k}.png"
                     for k in ([1] if s == "train" else range(1, 6))}
        expected |= {f"s4_data/audio_wav/{s}/{c}/{n}.wav", f"s4_data/audio_log_mel/{s}/{c}/{n}.pkl"}
    assert _files(root) == expected
    r = rows[0]
    frame = Image.open(root / f"s4_data/visual_frames/{r['split']}/{r['category']}/{r['name']}/"
                       f"{r['name']}_1.png")
    assert frame.size == (224, 224) and frame.mode == "RGB"
    mask = np.asarray(Image.open(root / f"s4_data/gt_masks/{r['split']}/{r['category']}/"
                                 f"{r['name']}/{r['name']}_1.png"))
    assert mask.shape == (224, 224) and set(np.unique(mask)) <= {0, 255} and mask.max() == 255


def test_ms3_layout_exact(out):
    root = out / "Multi-sources"
    rows = _rows(root / "ms3_meta_data.csv")
    assert list(rows[0]) == ["video_id", "split"]
    expected = {"ms3_meta_data.csv", "synthavs.json"}
    for r in rows:
        n, s = r["video_id"], r["split"]
        expected |= {f"ms3_data/visual_frames/{n}/{n}.mp4_{k}.png" for k in range(1, 6)}
        expected |= {f"ms3_data/gt_masks/{s}/{n}/{n}_{k}.png" for k in range(1, 6)}
        expected |= {f"ms3_data/audio_wav/{s}/{n}.wav", f"ms3_data/audio_log_mel/{s}/{n}.pkl"}
    assert _files(root) == expected
    n, s = rows[0]["video_id"], rows[0]["split"]
    mask = Image.open(root / f"ms3_data/gt_masks/{s}/{n}/{n}_1.png")
    assert mask.mode == "L" and set(np.unique(np.asarray(mask))) <= {0, 255}


def test_avss_layout_exact(out):
    root = out / "AVSBench-semantic"
    rows = _rows(root / "metadata.csv")
    assert list(rows[0]) == ["vid", "uid", "s_min", "s_sec", "a_obj", "split", "label"]
    expected = {"metadata.csv", "label2idx.json", "synthavs.json"}
    for r in rows:
        u, lab = r["uid"], r["label"]
        n = 10 if lab == "v2" else 5
        masks = 1 if (lab == "v1s" and r["split"] == "train") else n
        base = f"{lab}/{u}"
        expected |= {f"{base}/frames/{i}.jpg" for i in range(n)} | {f"{base}/audio.wav"}
        expected |= {f"{base}/labels_rgb/{i}.png" for i in range(masks)}
        expected |= {f"{base}/labels_semantic/{i}.png" for i in range(masks)}
    assert _files(root) == expected
    r = rows[0]
    sem = np.asarray(Image.open(root / r["label"] / r["uid"] / "labels_semantic" / "0.png"))
    rgb = Image.open(root / r["label"] / r["uid"] / "labels_rgb" / "0.png").convert("RGB")
    rgb = np.asarray(rgb)
    np.testing.assert_array_equal(rgb_to_index(rgb), sem)
    heard = set(r["a_obj"].split(","))
    assert {AVSS_CLASSES[i] for i in np.unique(sem) if i} <= heard


def test_audio_files_and_pickles(out):
    root = out / "Multi-sources"
    r = _rows(root / "ms3_meta_data.csv")[0]
    wav, sr = sf.read(root / f"ms3_data/audio_wav/{r['split']}/{r['video_id']}.wav", dtype="int16")
    info = sf.info(root / f"ms3_data/audio_wav/{r['split']}/{r['video_id']}.wav")
    assert sr == 16000 and wav.ndim == 1 and len(wav) == 5 * 16000 and info.subtype == "PCM_16"
    with open(root / f"ms3_data/audio_log_mel/{r['split']}/{r['video_id']}.pkl", "rb") as f:
        lm = pickle.load(f)
    assert isinstance(lm, torch.Tensor) and lm.shape == (5, 1, 96, 64) and lm.dtype == torch.float32
    torch.testing.assert_close(lm, waveform_to_examples(wav, 16000))


def _digest(root: Path) -> dict[str, str]:
    """sha1 of every file but the pickles and the run record (which holds a duration)."""
    return {p: hashlib.sha1((root / p).read_bytes()).hexdigest() for p in _files(root)
            if not p.endswith(("synthavs.json", ".pkl"))}


def test_deterministic_for_a_seed_and_worker_count(tmp_path):
    a = generate("ms3", tmp_path / "a", 3, seed=11, workers=1)
    b = generate("ms3", tmp_path / "b", 3, seed=11, workers=2)
    c = generate("ms3", tmp_path / "c", 3, seed=12, workers=1)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    assert da == db
    assert set(da) != set(dc) or da != dc
    for p in a.rglob("*.pkl"):   # torch pickles differ in bytes, not in content
        with open(p, "rb") as fa, open(b / p.relative_to(a), "rb") as fb:
            assert torch.equal(pickle.load(fa), pickle.load(fb))


def _clips(mode: str, n: int = 24, size: tuple[int, int] = (224, 224)):
    return [compose_clip(np.random.default_rng([3, i]), 5, size, mode) for i in range(n)]


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_scene_rules(mode):
    clips = _clips(mode)
    frames_with_distractor = total = 0
    for clip in clips:
        assert len(set(clip.sounding)) > 1, "sounding set must change within a clip"
        assert len({o.cls.name for o in clip.objects}) == len(clip.objects) >= 2
        for k, inst in enumerate(clip.instances):
            visible = set(np.unique(inst).tolist()) - {0}
            assert len(visible) >= 2, "every frame shows at least two objects"
            if mode == "single":
                assert len(clip.sounding[k]) == 1
            silent = visible - {i + 1 for i in clip.sounding[k]}
            frames_with_distractor += bool(silent)
            total += 1
    assert frames_with_distractor / total >= 0.75


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_masks_are_the_visible_pixels_of_sounding_objects(mode):
    for clip in _clips(mode, n=8):
        for k in range(len(clip.frames)):
            m = clip.binary_mask(k)
            sem = clip.semantic_mask(k)
            np.testing.assert_array_equal(m, sem > 0)
            want = {clip.objects[i].cls.avss_index for i in clip.sounding[k]}
            assert set(np.unique(sem).tolist()) - {0} == want
            for i, o in enumerate(clip.objects):
                x, y = o.positions[k]
                h, w = o.mask.shape
                own = clip.instances[k] == i + 1
                assert not own[:y].any() and not own[y + h:].any()
                assert not own[:, :x].any() and not own[:, x + w:].any()
                assert (m & own).any() == (i in clip.sounding[k])


def test_ignoring_audio_scores_poorly():
    """The best audio-free guesses are poor: every class sounds in about half of its
    appearances, and segmenting all objects has a low mean IoU."""
    clips = _clips("multi", n=100, size=(96, 96))
    heard, seen, ious = {}, {}, []
    for clip in clips:
        for k in range(5):
            inst = clip.instances[k]
            allobj, gt = inst > 0, clip.binary_mask(k)
            ious.append((allobj & gt).sum() / max(1, (allobj | gt).sum()) if gt.any()
                        else 0.0)
            for i, o in enumerate(clip.objects):
                seen[o.cls.name] = seen.get(o.cls.name, 0) + 1
                heard[o.cls.name] = heard.get(o.cls.name, 0) + (i in clip.sounding[k])
    rates = {c: heard[c] / seen[c] for c in seen if seen[c] >= 40}
    assert len(rates) >= 12 and all(0.25 <= r <= 0.75 for r in rates.values()), rates
    assert float(np.mean(ious)) < 0.55


def test_segments_carry_exactly_the_sounding_objects():
    """Without noise, a frame's 0.96 s segment is silent iff nothing sounds in that frame."""
    for i in range(12):
        rng = np.random.default_rng([8, i])
        clip = compose_clip(rng, 5, (224, 224), "multi")
        audio, _ = mix_clip(rng, clip, 5.0, snr_db=(300.0, 300.0))
        for k in range(5):
            seg = audio[k * EXAMPLE_HOP + 400:(k + 1) * EXAMPLE_HOP - 400]
            rms = float(np.sqrt(np.mean(seg ** 2)))
            assert (rms > 1e-3) == bool(clip.sounding[k]), (i, k, rms, clip.sounding)


@pytest.mark.parametrize("source, floor", [("synthesised", 0.85), ("recorded", 0.75)])
def test_sound_identifies_the_class(monkeypatch, source, floor):
    """Nearest-centroid on per-band mean/std log-mel (leave-one-out) tells the 16 sound
    families apart, with synthesised sounds only and with the Sonic Pi recordings."""
    from avs_models.data.synth import sounds

    if source == "synthesised":
        monkeypatch.setenv("AVS_SONIC_PI_SAMPLES", "")
    elif sounds.samples_dir() is None:
        pytest.skip("sonic-pi-samples is not installed")
    try:
        rng = np.random.default_rng(0)
        feats, labels = [], []
        for ci, cls in enumerate(CLASSES):
            for _ in range(8):
                x = class_sound(cls, rng, SAMPLE_RATE, float(2 ** (rng.uniform(-3, 3) / 12)))
                ex = waveform_to_examples(0.1 * x, SAMPLE_RATE)[0, 0]
                feats.append(torch.cat([ex.mean(0), ex.std(0)]).numpy())
                labels.append(ci)
    finally:
        monkeypatch.undo()
    feats, labels = np.stack(feats), np.array(labels)
    correct = 0
    for j in range(len(labels)):
        keep = np.arange(len(labels)) != j
        cents = np.stack([feats[keep & (labels == c)].mean(0) for c in range(len(CLASSES))])
        correct += int(np.argmin(((cents - feats[j]) ** 2).sum(1)) == labels[j])
    assert correct / len(labels) >= floor


def test_palette():
    pal = avss_palette()
    assert pal.shape == (71, 3) and tuple(pal[0]) == (0, 0, 0) and tuple(pal[1]) == (128, 0, 0)
    assert len({tuple(c) for c in pal}) == 71
    ids = np.random.default_rng(0).integers(0, 71, (7, 9))
    np.testing.assert_array_equal(rgb_to_index(index_to_rgb(ids)), ids)
    with pytest.raises(ValueError, match="class ids"):
        index_to_rgb(np.array([[71]]))


def test_stream():
    frames = list(stream(6.0, fps=10, seed=4, size=(96, 128)))
    assert len(frames) == 60
    np.testing.assert_allclose([f.stamp_s for f in frames], np.arange(1, 61) / 10)
    assert sum(len(f.audio) for f in frames) == 6 * 16000
    sets = set()
    for f in frames:
        assert f.image.shape == (96, 128, 3) and f.image.dtype == np.uint8
        np.testing.assert_array_equal(f.mask, f.semantic > 0)
        assert {AVSS_CLASSES[i] for i in np.unique(f.semantic) if i} <= set(f.sounding)
        sets.add(f.sounding)
    assert len(sets) > 1, "sounds must start and stop"
    again = list(stream(6.0, fps=10, seed=4, size=(96, 128)))
    np.testing.assert_array_equal(again[17].image, frames[17].image)
    np.testing.assert_array_equal(again[17].audio, frames[17].audio)
    with pytest.raises(ValueError, match="fps"):
        next(stream(1.0, fps=0))


def test_falls_back_to_synthesised_sounds(tmp_path, monkeypatch):
    monkeypatch.setenv("AVS_SONIC_PI_SAMPLES", str(tmp_path / "absent"))
    root = generate("s4", tmp_path, 1, seed=1, workers=1)
    info = json.loads((root / "synthavs.json").read_text())
    assert info["sounds"] == "synthesised only" and info["clips"] == 1


def test_backgrounds_without_scikit_image(monkeypatch):
    from avs_models.data.synth import visuals

    monkeypatch.setattr(visuals, "_photos", lambda: ())
    assert visuals.background_source() == "procedural noise"
    bg = visuals.render_background(np.random.default_rng(0), 70, 90)
    assert bg.shape == (70, 90, 3) and bg.dtype == np.uint8 and bg.std() > 1.0


def test_cli(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    synth_cli.add_arguments(parser)
    args = parser.parse_args(["--subset", "s4", "--out", str(tmp_path), "--clips", "1",
                              "--seed", "2", "--workers", "1"])
    assert synth_cli.run(args) == 0
    assert len(_rows(tmp_path / "Single-source" / "s4_meta_data.csv")) == 1
    bad = parser.parse_args(["--subset", "s4", "--out", str(tmp_path), "--clips", "0"])
    assert synth_cli.run(bad) == 2
