"""The per-frame pipeline (with a scripted backend and a tiny real model) and LatencyStats."""
import math

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from avs_models.audio.logmel import waveform_to_examples
from avs_models.backends import TorchBackend
from avs_models.backends.base import Backend
from avs_models.base import AVSModel
from avs_models.contract import InputContract
from avs_models.errors import AVSInputError
from avs_ros.core.errors import StageError
from avs_ros.core.pipeline import STAGES, LatencyStats, Pipeline
from avs_ros.core.preprocess import Preprocessor

RNG = np.random.default_rng(0)
FRAME = RNG.integers(0, 256, (48, 80, 3)).astype(np.uint8)
WINDOW = (0.3 * np.sin(2 * np.pi * 440 * np.arange(15600) / 16000)).astype(np.float32)


class ScriptedBackend(Backend):
    """Test double: records its inputs and returns fixed logits (a sounding square)."""

    name = "scripted"
    image_size = (64, 64)
    num_classes = 1

    def __init__(self):
        self.calls = []
        self.logits = np.full((1, 1, 64, 64), -6.0, np.float32)
        self.logits[0, 0, 16:48, 32:64] = 6.0          # right half of the middle rows

    def _infer(self, image, audio):
        self.calls.append((image, audio))
        return self.logits


def test_pipeline_feeds_the_backend_the_contract_inputs_and_maps_outputs_to_the_frame():
    backend = ScriptedBackend()
    pipe = Pipeline(backend, InputContract(), overlay=True)   # contract says 224: backend wins
    result = pipe.process(FRAME, WINDOW)
    (image, audio), = backend.calls
    assert image.shape == (1, 3, 64, 64) and image.dtype == np.float32
    resized = cv2.resize(FRAME, (64, 64), interpolation=cv2.INTER_LINEAR) / 255.0
    expected = (resized - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(image[0], expected.transpose(2, 0, 1), atol=1e-5)
    reference = waveform_to_examples(WINDOW, 16000).numpy()   # the clip-level reference path
    assert audio.shape == reference.shape == (1, 1, 96, 64)
    np.testing.assert_allclose(audio, reference, atol=1e-4)
    # the 64x64 square rows 16..47, cols 32..63 maps to rows 12..35, cols 40..79 of 48x80
    assert result.mask.shape == (48, 80) and result.mask.dtype == np.uint8
    (obj,) = result.objects
    assert (obj.x, obj.y, obj.width, obj.height, obj.area) == (40, 12, 40, 24, 960)
    # column 40 samples source column 31.9 -> logit 0.1 * -6 + 0.9 * 6 = 4.8; the rest 6
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    assert obj.score == pytest.approx((24 * sig(4.8) + 936 * sig(6.0)) / 960, rel=1e-5)
    assert result.overlay.shape == (48, 80, 3)
    assert np.array_equal(result.overlay[0], FRAME[0])           # background untouched
    assert list(result.timings_ms) == [*STAGES, "total"]
    assert all(v >= 0 for v in result.timings_ms.values())
    assert result.timings_ms["total"] >= result.timings_ms["inference"]
    assert Pipeline(backend, InputContract(), overlay=False).process(FRAME, WINDOW).overlay is None


class TinyAVS(AVSModel):
    """A real (tiny) model: 1x1 conv on the image plus the mean log-mel energy."""

    def __init__(self):
        super().__init__(num_classes=2, contract=InputContract(image_size=(64, 64)))
        self.audio_backbone = nn.Identity()
        self.head = nn.Conv2d(3, 2, 1)

    def forward_outputs(self, image, audio, aux):
        bias = audio.mean(dim=(1, 2, 3))[:, None, None, None]
        return {"logits": self.head(image) + bias * torch.tensor([0.0, 1.0])[None, :, None, None]}


def test_pipeline_runs_a_real_model_through_the_torch_backend():
    torch.manual_seed(0)
    model = TinyAVS()
    pipe = Pipeline(TorchBackend(model, "cpu"), model.contract, class_names=["bg", "thing"],
                    score_threshold=0.0)
    result = pipe.process(FRAME, WINDOW)
    with torch.inference_mode():
        prep = Preprocessor(model.contract)
        logits = model(torch.from_numpy(prep.image(FRAME)), torch.from_numpy(prep.audio(WINDOW)))
    label = logits[0].argmax(0).numpy().astype(np.uint8)
    expected = cv2.resize(label, (80, 48), interpolation=cv2.INTER_NEAREST_EXACT)
    np.testing.assert_array_equal(result.mask, expected)
    assert {o.class_name for o in result.objects} <= {"thing"}
    assert pipe.class_names == ("bg", "thing")


def test_bad_frames_windows_and_contracts_raise():
    pipe = Pipeline(ScriptedBackend(), InputContract())
    with pytest.raises(StageError, match=r"preprocess failed: AVSInputError: .*RGB uint8 "
                                         r"\[H, W, 3\]") as info:
        pipe.process(FRAME.astype(np.float32), WINDOW)
    assert info.value.stage == "preprocess" and isinstance(info.value.__cause__, AVSInputError)
    with pytest.raises(StageError, match=r"\[15600\]") as info:
        pipe.process(FRAME, WINDOW[:16000 - 401])
    assert info.value.stage == "logmel"
    with pytest.raises(ValueError, match="15600 samples at 16000 Hz"):
        Preprocessor(InputContract(sample_rate=8000))


def test_latency_stats_percentiles_fps_and_rolling_window():
    stats = LatencyStats(window=4)
    assert math.isnan(stats.p50) and math.isnan(stats.fps)
    for i, ms in enumerate([10.0, 20.0, 30.0, 40.0]):
        stats.add(ms, done_s=100.0 + 0.1 * i)
    assert stats.p50 == pytest.approx(25.0)
    assert stats.p95 == pytest.approx(38.5)           # linear interpolation: 30 + 0.85 * 10
    assert stats.fps == pytest.approx(10.0)
    stats.add(1000.0, done_s=100.5)                  # 10 ms leaves the window
    assert stats.p50 == pytest.approx(35.0) and stats.fps == pytest.approx(3 / 0.4)
    assert stats.summary()["count"] == 5
    with pytest.raises(ValueError, match="window"):
        LatencyStats(window=1)


def test_core_modules_import_no_ros():
    import ast
    from pathlib import Path

    import avs_ros.core as core

    files = sorted(Path(core.__file__).parent.glob("*.py"))
    assert len(files) >= 9
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            assert not {"rclpy", "sensor_msgs", "cv_bridge"} & set(roots), path.name


class SequenceBackend(ScriptedBackend):
    """Test double: returns the next logits of a list per call."""

    def __init__(self, values):
        super().__init__()
        self.values = list(values)

    def _infer(self, image, audio):
        return np.full((1, 1, 64, 64), self.values.pop(0), np.float32)


def test_temporal_smoothing_is_a_moving_average_of_the_logits_restarted_on_gaps():
    backend = SequenceBackend([4.0, -4.0, -4.0, 8.0, 8.0, 2.0])
    pipe = Pipeline(backend, InputContract(), overlay=False, temporal_smoothing=0.75)
    prob = [pipe.process(FRAME, WINDOW, stamp_ns=s).probability[0, 0]
            for s in (0, 66_000_000, 133_000_000, 2_000_000_000, 2_066_000_000)]
    logit = np.log(np.array(prob, np.float64) / (1 - np.array(prob, np.float64)))
    # 4; 0.25(-4) + 0.75(4) = 2; 0.25(-4) + 0.75(2) = 0.5; gap of 1.87 s: restart at 8; 8
    np.testing.assert_allclose(logit, [4.0, 2.0, 0.5, 8.0, 8.0], atol=1e-4)
    # a frame without a stamp is not smoothed and restarts the average
    assert pipe.process(FRAME, WINDOW).probability[0, 0] == pytest.approx(1 / (1 + math.exp(-2)))
    with pytest.raises(ValueError, match="temporal_smoothing"):
        Pipeline(backend, InputContract(), temporal_smoothing=1.0)


def test_smoothing_off_keeps_each_frame_on_its_own():
    backend = SequenceBackend([4.0, -4.0])
    pipe = Pipeline(backend, InputContract(), overlay=False)
    pipe.process(FRAME, WINDOW, stamp_ns=0)
    p = pipe.process(FRAME, WINDOW, stamp_ns=66_000_000).probability[0, 0]
    assert p == pytest.approx(1 / (1 + math.exp(4.0)), rel=1e-5)
