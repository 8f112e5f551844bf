"""AVSBench as the official code reads it, on fixture files in the release encodings written
here: each subset's mask rule, short audio (AVSS zeros, S4/MS3 the .pkl's repeat), and the
audio window of each frame: the node, fed the clip as a bag (``avs bag --source avsbench``),
hears exactly the window AVSBench trains the frame with."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from avs_models.contract import InputContract
from avs_models.data.avsbench import (AVSSDataset, MS3Dataset, S4Dataset, frame_audio_end,
                                      read_wav_16k)
from avs_models.data.avss_palette import index_to_rgb
from avs_models.data.synth.writers import (write_avss_clip, write_csv, write_ms3_clip,
                                           write_s4_clip)
from avs_ros.bag.reader import BagReader
from avs_ros.bag.sources import avsbench
from avs_ros.bag.writer import write_bag
from avs_ros.core.pipeline import Result
from avs_ros.core.preprocess import Preprocessor
from avs_ros.replay.engine import ReplayEngine, Sink

NS = 10**9
START = 1_700_000_000 * NS
SIZE = 224


def _audio(seconds: float, seed: int) -> np.ndarray:
    """Real-ish audio: a harmonic tone whose pitch steps every second plus noise bursts, so
    that every second (and any misaligned window) sounds different."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    f0 = 200.0 * 1.25 ** np.floor(t)
    x = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 6))
    x += 0.3 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 0.7 * t) > 0.5)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def _frames(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(n)]


def _masks(n: int) -> list[np.ndarray]:
    out = []
    for k in range(n):
        m = np.zeros((SIZE, SIZE), bool)
        m[30 + 9 * k:160, 40:200 - 11 * k] = True
        out.append(m)
    return out


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """S4, MS3 and AVSS folders: one test clip each (AVSS: a 3.5 s v1m clip, 3 examples for
    5 frames, and a 10 s v2 clip), plus a 3.5 s S4 clip."""
    root = tmp_path_factory.mktemp("avsbench")
    s4 = root / "Single-source"
    rows = [write_s4_clip(s4, "clipA", "test", "dog", _frames(5, 0), _masks(5), _audio(5, 0)),
            write_s4_clip(s4, "short", "test", "dog", _frames(5, 1), _masks(5), _audio(3.5, 1))]
    write_csv(s4, "s4", rows)
    ms3 = root / "Multi-sources"
    write_csv(ms3, "ms3", [write_ms3_clip(ms3, "clipB", "test", _frames(5, 2), _masks(5),
                                          _audio(5, 2))])
    avss = root / "AVSBench-semantic"
    sem5 = [m.astype(np.uint8) * (7 + k) for k, m in enumerate(_masks(5))]
    sem10 = [m.astype(np.uint8) * 17 for m in _masks(10)]
    write_csv(avss, "avss", [
        write_avss_clip(avss, "v", "short_v1m", "test", "v1m", _frames(5, 3), sem5,
                        _audio(3.5, 3), ["bird"]),
        write_avss_clip(avss, "w", "long_v2", "test", "v2", _frames(10, 4), sem10,
                        _audio(10, 4), ["dog"])])
    return root


# ---- masks ------------------------------------------------------------------------------------
def test_s4_mask_is_pil_one_bit(release, tmp_path):
    ds = S4Dataset(release / "Single-source", "test")
    path = Path(ds._paths(ds.clips[0], 0)[1])
    grey = np.tile(np.linspace(0, 255, SIZE).astype(np.uint8), (SIZE, 1))   # anti-aliased ramp
    Image.fromarray(grey, "L").save(path)
    got = ds[0]["mask"][0].numpy()
    np.testing.assert_array_equal(got, np.asarray(Image.fromarray(grey, "L").convert("1")))
    assert got.mean() == pytest.approx(0.5, abs=0.05) and not np.array_equal(got, grey >= 128), \
        "PIL dithers greys: not a threshold"


def test_ms3_mask_is_grey_over_255(release):
    ds = MS3Dataset(release / "Multi-sources", "test")
    path = Path(ds._paths(ds.clips[0], 1)[1])
    written = np.asarray(Image.open(path))
    assert Image.open(path).mode == "L" and set(np.unique(written)) == {0, 255}
    np.testing.assert_array_equal(ds[1]["mask"][0].numpy(), written / 255.0)
    index = (written > 0).astype(np.uint8)          # a palette PNG with index 1 on the object
    img = Image.fromarray(index, "P")
    img.putpalette([0, 0, 0, 255, 255, 255])
    img.save(path)
    assert ds[1]["mask"].max().item() == pytest.approx(1 / 255), "what the official loader reads"


def test_avss_mask_is_the_palette_index(release):
    ds = AVSSDataset(release / "AVSBench-semantic", "test")
    k = next(i for i, (ci, f) in enumerate(ds.samples) if ds.clips[ci].name == "short_v1m"
             and f == 2)
    mask = ds[k]["mask"].numpy()
    assert set(np.unique(mask)) == {0, 9}
    ci, f = ds.samples[k]
    path = Path(ds._paths(ds.clips[ci], f)[1])
    rgb = index_to_rgb(mask.astype(np.uint8)).copy()
    rgb[0, :5] = (1, 2, 3)                          # a colour not in the palette
    Image.fromarray(rgb).save(path)
    got = ds[k]["mask"].numpy()
    assert (got[0, :5] == 0).all() and np.array_equal(got[1:], mask[1:])


# ---- audio ------------------------------------------------------------------------------------
def test_short_audio_zeros_in_avss_repeat_in_s4(release):
    ds = AVSSDataset(release / "AVSBench-semantic", "test")
    short = [ds[i]["audio"] for i, (ci, _) in enumerate(ds.samples)
             if ds.clips[ci].name == "short_v1m"]
    assert len(short) == 5 and all(a.abs().sum() > 0 for a in short[:3])   # 3.5 s: 3 examples
    assert all(torch.equal(a, torch.zeros(1, 96, 64)) for a in short[3:])
    s4 = S4Dataset(release / "Single-source", "test", audio="wav")
    pkl = S4Dataset(release / "Single-source", "test", audio="pkl")
    k = [i for i, (ci, _) in enumerate(s4.samples) if s4.clips[ci].name == "short"]
    assert torch.equal(s4[k[3]]["audio"], s4[k[2]]["audio"])
    assert torch.equal(s4[k[4]]["audio"], s4[k[2]]["audio"])
    for i in k:
        torch.testing.assert_close(s4[i]["audio"], pkl[i]["audio"], atol=1e-4, rtol=0)


def test_pkl_holds_vggish_patches_only(release):
    panns = InputContract().with_front_end("panns")
    with pytest.raises(ValueError, match="audio='wav'"):
        S4Dataset(release / "Single-source", "test", audio="pkl", contract=panns)


# ---- alignment: the node hears the training window ----------------------------------------
class _Recorder:
    """The replay engine's pipeline slot: records the window the engine pairs with each frame
    and the node's log-mel of it (the real :class:`Preprocessor`), returns an empty mask."""

    def __init__(self, contract: InputContract) -> None:
        self.pre = Preprocessor(contract)
        self.windows: list[np.ndarray] = []
        self.patches: list[np.ndarray] = []

    def process(self, rgb, window, stamp_ns=None):
        self.windows.append(window.copy())
        self.patches.append(self.pre.audio(window)[0])
        h, w = rgb.shape[:2]
        return Result(np.zeros((h, w), np.uint8), None, [], None, {"total": 1.0})


@pytest.mark.parametrize("front_end", ["vggish", "panns"])
@pytest.mark.parametrize("task, folder, dataset", [
    ("s4", "Single-source", S4Dataset), ("avss", "AVSBench-semantic", AVSSDataset)])
def test_node_hears_the_training_window(release, tmp_path, front_end, task, folder, dataset):
    contract = InputContract().with_front_end(front_end)
    root = release / folder
    items = list(avsbench(root, task, "test", max_clips=None if task == "s4" else 2,
                          start_ns=START))
    write_bag(iter(items), tmp_path / "bag")
    recorder = _Recorder(contract)
    with BagReader(tmp_path / "bag") as reader:
        ReplayEngine(reader, recorder, contract.window_samples, max_skew_s=2.0,
                     audio_buffer_s=30.0).run(Sink())
    kw = {"audio": "wav"} if task == "s4" else {}
    ds = dataset(root, "test", contract=contract, **kw)
    assert len(recorder.windows) == len(ds) == (10 if task == "s4" else 15)
    n = contract.window_samples
    for i, (ci, k) in enumerate(ds.samples):
        clip = ds.clips[ci]
        wav = read_wav_16k(ds._paths(clip, k)[2]).astype(np.float32)
        end = frame_audio_end(k)
        if end <= wav.size:      # the clip's own audio: bit-identical window, same patch
            np.testing.assert_array_equal(recorder.windows[i], wav[end - n:end])
            np.testing.assert_allclose(recorder.patches[i], ds[i]["audio"].numpy(),
                                       atol=1e-4, rtol=0)
    if front_end == "vggish" and task == "s4":       # and the official .pkl patch
        pkl = S4Dataset(root, "test", audio="pkl")
        for i in range(5):
            np.testing.assert_allclose(recorder.patches[i], pkl[i]["audio"].numpy(),
                                       atol=1e-4, rtol=0)


def test_frame_stamps_end_the_training_windows(release):
    frames = [x for x in avsbench(release / "AVSBench-semantic", "avss", "test", start_ns=0)
              if hasattr(x, "image")]
    # clip 1 (5 s) then clip 2 (10 s): frame k of a clip at 0.96 k + 0.975 s of its start
    want = [(15360 * k + 15600) * NS // 16000 for k in range(5)]
    want += [5 * NS + (15360 * k + 15600) * NS // 16000 for k in range(10)]
    assert [f.stamp_ns for f in frames] == want
    assert want[:2] == [975_000_000, 1_935_000_000]
