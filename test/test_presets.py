"""Every registered preset gets the same checks (timm's habit): forward in eval and train
mode, finite gradients, batch independence, input errors, checkpoint round trip."""
import pytest
import torch

from avs_models import AVSInputError, build_model, list_presets
from avs_models.checkpoints import load_model, save_checkpoint

SIZE = (64, 96)  # small, non-square, multiple of 32 (224 is checked by export/summary tests)


@pytest.fixture(scope="module", params=list_presets())
def model(request):
    torch.manual_seed(0)
    return build_model(request.param, num_classes=1)


def inputs(b=2, size=SIZE, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, *size, generator=g), torch.randn(b, 1, 96, 64, generator=g) - 2


def test_eval_logits_at_input_resolution(model):
    image, audio = inputs()
    logits = model.predict(image, audio)
    assert logits.shape == (2, 1, *SIZE) and logits.dtype == torch.float32
    assert bool(torch.isfinite(logits).all())


def test_batch_items_are_independent(model):
    image, audio = inputs()
    both = model.predict(image, audio)
    first = model.predict(image[:1], audio[:1])
    torch.testing.assert_close(both[:1], first, atol=1e-4, rtol=1e-4)


def test_train_mode_outputs_and_finite_gradients(model):
    model.train()
    image, audio = inputs()
    out = model(image, audio)
    assert isinstance(out, dict) and out["logits"].shape == (2, 1, *SIZE)
    loss = out["logits"].mean()
    for key in ("aux_logits", "align_logits"):
        for t in out.get(key, []):
            assert t.dim() == 4 and t.shape[0] == 2
            loss = loss + t.mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
    model.zero_grad(set_to_none=True)
    model.eval()


def test_bad_audio_patch_is_rejected(model):
    image, _ = inputs(1)
    with pytest.raises(AVSInputError, match=r"\[B, 1, 96, 64\]"):
        model.predict(image, torch.zeros(1, 1, 64, 96))


def test_multiclass_head(model):
    m = build_model(model.preset, num_classes=71)
    image, audio = inputs(1)
    assert m.predict(image, audio).shape == (1, 71, *SIZE)


def test_checkpoint_round_trip(model, tmp_path):
    path = save_checkpoint(model, tmp_path / "m.pt", class_names=["sounding"],
                           metrics={"J": 0.5})
    loaded, meta = load_model(path)
    assert meta["preset"] == model.preset and meta["class_names"] == ["sounding"]
    image, audio = inputs(1)
    torch.testing.assert_close(loaded.predict(image, audio), model.predict(image, audio))
