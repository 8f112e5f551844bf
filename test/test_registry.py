"""Preset registry: lookup, errors, and the builder contract."""
import pytest

from avs_models import PRESETS, PresetError, build_model, get_preset, list_presets

REQUIRED = {"avesformer_r18", "avesformer_r50", "lightavseg_t", "lightavseg_l", "avsegformer_r50"}


def test_required_presets_are_registered():
    assert REQUIRED <= set(list_presets())
    for name in list_presets():
        p = get_preset(name)
        assert p.name == name and ":" in p.builder and p.description


def test_unknown_preset_suggests_close_names():
    with pytest.raises(PresetError, match="did you mean avesformer_r18"):
        get_preset("avesformer_r81")


def test_unknown_builder_option_is_rejected_with_the_known_ones():
    with pytest.raises(PresetError, match="does not take option\\(s\\) \\['nonsense'\\]"):
        build_model("lightavseg_t", nonsense=1)


def test_paper_figures_cite_their_source():
    for p in PRESETS.values():
        if p.paper.params_m or p.paper.latency_ms:
            assert p.paper.source
