"""Representation alignment presets show their lecture story (engine level).

Every preset is run on its own zoo, layer and metric settings, shrunk for the test budget: one seed
per architecture (the presets train two), 120 Adam steps (300), 150 probe digits (500), two snapshots,
one null permutation and 300 bootstrap resamples. The trained zoo is cached per zoo, so the layer and
k-NN presets reuse the default zoo's training.
"""

import numpy as np
import pytest

from engine import alignment as al

SHRINK = dict(n_seeds=1, steps=120, n_probe=150, n_snapshots=2, n_perm=1, n_boot=300)


def _run(name, **extra):
    return al.run(al.Config(**{**al.PRESETS[name], **SHRINK, **extra}))


@pytest.fixture(scope="module")
def runs():
    return {name: _run(name) for name in al.PRESETS}


def _trained_pairs(r, m):
    tr = np.flatnonzero(r.trained)
    off = ~np.eye(len(tr), dtype=bool)
    return r.sim(m)[np.ix_(tr, tr)][off].mean(), r.null(m)[np.ix_(tr, tr)][off].mean()


def _best_gap(r, mi):
    """Mean alignment to the best model: trained minus untrained."""
    a = r.align_best[mi]
    return np.nanmean(a[r.trained]) - np.nanmean(a[~r.trained])


def test_default_zoo_alignment_rises_with_accuracy_far_above_the_null(runs):
    r = runs["default zoo"]
    for mi, m in enumerate(al.METRICS):
        sim, null = _trained_pairs(r, m)
        assert sim > null + 0.25, (m, sim, null)
        assert r.rho[mi, 1] > 0.3, (m, r.rho[mi])
        assert _best_gap(r, mi) > 0.1, m


def test_width_sweep_wider_is_more_accurate_and_more_aligned(runs):
    r = runs["width sweep"]
    assert not (~r.trained).any() and len(r.models) == 8
    assert r.accuracy[-1] > r.accuracy[0] + 0.5  # width 256 vs width 2
    assert np.all(r.rho[:, 1] > 0.7), r.rho


def test_mlp_and_conv_families_align_across_families(runs):
    r = runs["MLP vs conv"]
    mlp, conv = r.trained & (r.family == "MLP"), r.trained & (r.family == "Conv")
    assert mlp.sum() == 3 and conv.sum() == 3 and not (~r.trained).any()
    for m in al.METRICS:
        cross = np.ix_(mlp, conv)
        assert r.sim(m)[cross].mean() > r.null(m)[cross].mean() + 0.3, m


def test_untrained_copies_align_less_than_trained_ones(runs):
    r = runs["untrained vs trained"]
    assert r.accuracy[~r.trained].max() < 0.3 and r.accuracy[r.trained].min() > 0.8
    for mi in range(len(al.METRICS)):
        assert _best_gap(r, mi) > 0.1, al.METRICS[mi]


def test_output_layer_separates_trained_from_untrained_more_than_the_penultimate(runs):
    out, pen = runs["output layer"], runs["default zoo"]
    assert out.layer == "logits"
    for mi in range(len(al.METRICS)):
        assert _best_gap(out, mi) > _best_gap(pen, mi) + 0.1, al.METRICS[mi]


def test_first_layer_stays_near_the_pixels_untrained_align_as_much(runs):
    r = runs["first layer"]
    assert r.layer == "first"
    gap = _best_gap(r, 0)  # linear CKA
    assert gap < 0.05 and abs(r.rho[0, 1]) < 0.5, (gap, r.rho[0])


def test_huh_knn_preset_clips_and_scores_far_above_chance(runs):
    r, d = runs["mutual k-NN as Huh et al."], runs["default zoo"]
    assert r.clip and r.k == 10
    sim, null = _trained_pairs(r, "knn")
    assert null == pytest.approx(r.k / (150 - 1), abs=0.02) and sim > null + 0.25
    np.testing.assert_array_equal(r.cka, d.cka)  # clipping is applied to mutual k-NN only
    assert not np.array_equal(r.knn, d.knn)
