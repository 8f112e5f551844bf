"""SynthAVS stream options (off-screen sources, exits), the stream training set on disk and
StreamFrames' ground-truth rules, checked against the stream generator's own frames."""
import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from avs_models.audio.logmel import waveform_to_examples
from avs_models.contract import InputContract
from avs_models.data.streams import (StreamFrames, last_change, sounding_at,
                                     sounding_fraction)
from avs_models.data.synth import stream
from avs_models.data.synth.stream_set import STREAM_SEED_STRIDE, generate_streams


def test_off_screen_sources_are_heard_but_never_segmented():
    frames = list(stream(12.0, fps=5.0, seed=4, offscreen=2, n_objects=2))
    f0 = frames[0]
    assert len(f0.offscreen) == 2 and not {c for c, _ in f0.offscreen} & set(f0.classes)
    assert all(set(np.unique(f.instances)) <= {0, 1, 2} for f in frames)
    # frames where no drawn object sounds but an off-screen source does: empty mask, loud audio
    only_hidden = [f for f in frames if not f.sounding_ids and any(
        sounding_at(iv, f.stamp_s) for _, iv in f.offscreen)]
    assert only_hidden, "seed 4 should have off-screen-only moments"
    for f in only_hidden:
        assert not f.mask.any()
        assert np.sqrt(np.mean(f.audio ** 2)) > 0.01


def test_exits_let_objects_leave_the_view():
    frames = list(stream(40.0, fps=2.0, seed=3, exits=True, n_objects=3))
    visible = [len(set(np.unique(f.instances)) - {0}) for f in frames]
    assert min(visible) < 3            # someone left
    still = list(stream(40.0, fps=2.0, seed=3, n_objects=3))
    assert all(len(set(np.unique(f.instances)) - {0}) == 3 for f in still[:5])


def test_rules_on_hand_intervals():
    iv = [(1.0, 2.0), (3.0, 3.2)]
    assert sounding_at(iv, 1.5) and not sounding_at(iv, 2.0)
    assert sounding_fraction(iv, 2.5, 1.0) == pytest.approx(0.5)
    assert sounding_fraction(iv, 3.3, 1.0) == pytest.approx(0.2)
    assert last_change(iv, 3.25) == pytest.approx(0.05)
    assert last_change([(0.0, 5.0)], 2.0) == float("inf")


@pytest.fixture(scope="module")
def stream_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("streams")
    return generate_streams(out, streams=3, seed=7, duration_s=6.0, fps=5.0, workers=1)


def test_stream_set_frames_masks_and_audio_match_the_generator(stream_set):
    rows = (stream_set / "streams.csv").read_text().splitlines()
    assert rows[0] == "name,split,fps,duration_s,frames" and len(rows) == 4
    ds = StreamFrames(stream_set, "train", target="stamp")        # 224 x 224: stored size
    name = ds.streams[0]["name"]
    gen = list(stream(6.0, fps=5.0, seed=7 * STREAM_SEED_STRIDE + 0,
                      **_options(stream_set, name)))
    assert [k for _, k in ds.samples][0] == 4                     # stamp 1.0 s >= 0.975 s
    wav, rate = sf.read(stream_set / "train" / name / "audio.wav", dtype="int16")
    assert rate == 16000 and wav.size == 6 * 16000
    for i, (si, k) in enumerate(ds.samples):
        s = ds[i]
        f = gen[k]
        # the generator's own ground truth (state at the stamp) is the stamp rule's
        np.testing.assert_array_equal(s["mask"][0].numpy().astype(bool), f.mask)
        if k % 7 == 0:    # the window ending at the stamp, as the node pairs it
            track = np.concatenate([g.audio for g in gen[:k + 1]])[-15600:]
            ref = waveform_to_examples(track, 16000)[0]
            np.testing.assert_allclose(s["audio"].numpy(), ref.numpy(), atol=0.05)


def _options(root, name):
    rec = json.loads((root / "train" / name / "stream.json").read_text())
    return {"offscreen": len(rec["offscreen"]), "exits": rec["exits"]}


def test_ignore_and_majority_rules(stream_set):
    contract = replace(InputContract(), image_size=(64, 64))
    stamp = StreamFrames(stream_set, "train", contract=contract, target="stamp")
    ignore = StreamFrames(stream_set, "train", contract=contract, target="ignore",
                          ignore_s=0.3)
    major = StreamFrames(stream_set, "train", contract=contract, target="majority")
    s = stamp.streams[0]
    for si, k in stamp.samples:
        t = (k + 1) / s["fps"]
        recent = any(last_change(s["intervals"][i], t) < 0.3 for i in s["visible"][k])
        assert ((si, k) in ignore.samples) == (not recent)
    for (si, k), ids in zip(major.samples, major.labels):
        t = (k + 1) / s["fps"]
        assert ids == tuple(i for i, iv in enumerate(s["intervals"])
                            if sounding_fraction(iv, t, 0.975) >= 0.5)
    assert major[0]["mask"].shape == (1, 64, 64)
    with pytest.raises(ValueError, match="target"):
        StreamFrames(stream_set, "train", target="middle")
    with pytest.raises(FileNotFoundError, match="streams.csv"):
        StreamFrames(stream_set / "nowhere", "train")
