"""Checkpoint reading/checking: clear errors and nothing half-loaded."""
import pytest
import torch

from avs_models.backbones.resnet import resnet18
from avs_models.checkpoints import (check_state_dict, extract_state_dict, load_state_dict_strict,
                                    read_checkpoint, read_state_dict)
from avs_models.errors import CheckpointError


def test_missing_empty_and_corrupt_files_name_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_checkpoint(tmp_path / "empty.pt")
    good = tmp_path / "good.pt"
    torch.save(resnet18().state_dict(), good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt.*could not be read"):
        read_checkpoint(truncated)


def test_containers_are_unwrapped_and_non_state_dicts_rejected(tmp_path):
    state = {"w": torch.zeros(2)}
    assert extract_state_dict({"state_dict": state}) == state
    assert extract_state_dict({"model": state, "epoch": 3}) == state
    with pytest.raises(CheckpointError, match="no state dict"):
        extract_state_dict([1, 2, 3])
    torch.save({"epoch": 3}, tmp_path / "meta.pt")
    with pytest.raises(CheckpointError, match="no state dict"):
        read_state_dict(tmp_path / "meta.pt")


def test_mismatch_lists_missing_unexpected_and_shapes_and_loads_nothing():
    model = resnet18()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in model.state_dict().items()}
    del state["layer1.0.conv1.weight"]
    state["head.extra"] = torch.zeros(1)
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    with pytest.raises(CheckpointError) as err:
        load_state_dict_strict(model, state, source="x.pt")
    msg = str(err.value)
    assert "1 missing key(s): layer1.0.conv1.weight" in msg
    assert "1 unexpected key(s): head.extra" in msg
    assert "conv1.weight: checkpoint (64, 3, 3, 3) vs model (64, 3, 7, 7)" in msg
    assert "Nothing was loaded" in msg
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_matching_state_dict_passes_check():
    model = resnet18()
    check_state_dict(model, resnet18().state_dict())


def test_numpy_state_beside_the_tensors_is_read_but_no_other_objects(tmp_path):
    """PANNs' released checkpoints pickle their sampler's numpy state next to "model"."""
    import argparse

    import numpy as np

    path = tmp_path / "panns_like.pth"
    torch.save({"model": {"w": torch.ones(2)}, "iteration": np.int64(3),
                "sampler": {"random_state": np.random.RandomState(0).get_state()}}, path)
    assert torch.equal(read_state_dict(path)["w"], torch.ones(2))
    torch.save({"model": {"w": torch.ones(2)}, "args": argparse.Namespace(lr=1)}, path)
    with pytest.raises(CheckpointError, match="could not be read"):
        read_checkpoint(path)


def test_files_from_before_num_batches_tracked_load(tmp_path):
    """torchvision's first ResNet files (PyTorch < 0.4.1) hold no BatchNorm
    ``num_batches_tracked``; PyTorch's own strict loading accepts them, and so do we."""
    from avs_models.backbones.resnet import load_torchvision_weights

    source = resnet18()
    old = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "resnet18-old.pth")
    model = resnet18()
    load_torchvision_weights(model, tmp_path / "resnet18-old.pth")
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    del old["bn1.running_mean"]
    with pytest.raises(CheckpointError, match="bn1.running_mean"):
        load_state_dict_strict(resnet18(), old)


def test_wise_ft_interpolation_of_a_model_and_its_fine_tune(tmp_path):
    from avs_models.checkpoints import interpolate_checkpoints, load_model, save_checkpoint
    from avs_models.registry import build_model
    from avs_ros.cli import main

    torch.manual_seed(0)
    start, tuned = build_model("lightavseg_t"), build_model("lightavseg_t")
    for p in tuned.parameters():        # "fine-tuned": every weight moved
        p.data += 1.0
    a = save_checkpoint(start, tmp_path / "start.pt")
    b = save_checkpoint(tuned, tmp_path / "tuned.pt", metrics={"val": {"J": 0.5}})
    sa, sb = start.state_dict(), tuned.state_dict()
    for alpha in (0.0, 0.25, 1.0):
        out = interpolate_checkpoints(a, b, alpha)
        for k, v in out["model"].items():
            if v.is_floating_point():
                torch.testing.assert_close(v, (1 - alpha) * sa[k] + alpha * sb[k])
            else:
                assert torch.equal(v, sb[k])
        assert out["metrics"] is None and out["source"]["alpha"] == alpha
    # the verb writes a checkpoint that load_model reads, half precision on request
    assert main(["interpolate", str(a), str(b), "--alpha", "0.5", "--half",
                 "--out", str(tmp_path / "mid.pt")]) == 0
    model, meta = load_model(tmp_path / "mid.pt")
    key = next(k for k, v in sa.items() if v.is_floating_point())
    torch.testing.assert_close(model.state_dict()[key], ((sa[key] + sb[key]) / 2).half().float())
    assert meta["source"]["kind"] == "wise-ft" and meta["source"]["start"]["file"] == "start.pt"
    # not a model and its fine-tune, or a bad alpha: a clear error, nothing written
    other = save_checkpoint(build_model("lightavseg_t", num_classes=3), tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="num_classes"):
        interpolate_checkpoints(a, other, 0.5)
    assert main(["interpolate", str(a), str(b), "--alpha", "1.5",
                 "--out", str(tmp_path / "bad.pt")]) == 2
    assert not (tmp_path / "bad.pt").exists()
