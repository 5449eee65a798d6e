"""Lazy vs rich: each preset shows the lecture story its name promises (on its own Config)."""

import pytest

from engine import lazy_rich as lr

NAMES = {"lazy": "lazy wide net", "rich": "rich narrow net", "mup": "muP stays rich"}


@pytest.fixture(scope="module")
def summaries():
    """The presets' own runs (a few seconds each, mostly compiling) and, for contrast, the muP
    preset's width and alpha under the NTK parametrization (same shapes as the lazy preset: no
    new compile)."""
    assert set(NAMES.values()) == set(lr.PRESETS)
    runs = {k: lr.run(lr.Config.from_dict(lr.PRESETS[name])) for k, name in NAMES.items()}
    runs["ntk_contrast"] = lr.run(lr.Config.from_dict({**lr.PRESETS[NAMES["mup"]], "parametrization": "ntk"}))
    for k, r in runs.items():
        assert not r.diverged, k
    return {k: lr.summarize(r) for k, r in runs.items()}


def test_lazy_wide_net_tracks_its_linearization(summaries):
    s = summaries["lazy"]
    assert s["weight_change"] < 0.02  # weights move ~1/alpha: barely
    assert s["kernel_distance"] < 1e-3  # the NTK is frozen
    assert abs(s["test_gap"]) < 0.05 * s["linearized_test_loss"]  # the network is its Taylor model
    assert s["teacher_alignment"] < 0.2  # first-layer weights stay random (init ~ 2/d = 0.125)


def test_rich_narrow_net_learns_features(summaries):
    s, lazy = summaries["rich"], summaries["lazy"]
    assert s["weight_change"] > 100 * lazy["weight_change"] and s["weight_change"] > 0.5
    assert s["kernel_distance"] > 0.05
    assert s["test_loss"] < 0.5 * s["linearized_test_loss"]  # beats its own linearization
    assert s["teacher_alignment"] > 0.5  # first-layer weights turn toward the teacher's directions


def test_mup_stays_rich_at_large_width(summaries):
    s, ntk = summaries["mup"], summaries["ntk_contrast"]
    # Same width 1024 and alpha: muP keeps learning features where NTK has almost frozen its kernel.
    assert s["kernel_distance"] > 0.05 and s["kernel_distance"] > 10 * ntk["kernel_distance"]
    assert s["weight_change"] > 1.5 * ntk["weight_change"]
    assert s["test_loss"] < 0.5 * s["linearized_test_loss"]
    assert s["teacher_alignment"] > ntk["teacher_alignment"] + 0.05
