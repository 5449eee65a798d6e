"""Hyperparameter transfer presets show their lecture story, on the presets' own Configs (shrunk where noted)."""

import numpy as np
import pytest

from engine import mup

# The full default sweep trains 5 widths x 12 learning rates x 2 seeds per parametrization (minutes on two
# cores; there SP's argmin moves 4 grid steps over 16x width and muP's none). Shrunk to fit the test budget:
# two widths 8x apart, one seed, and the grid 2^-12..2^-4 (still step x2, around both argmins); the
# preset's own 200 steps (with fewer, the wide muP net prefers a larger lr).
ADAM = mup.Config(**mup.PRESETS["Adam: SP drifts, muP transfers"]).replace(
    widths=(64, 512), n_seeds=1, lr_log2_min=-12.0, lr_log2_max=-4.0, n_lrs=9
)
# Coordinate checks on the presets' own settings; two widths 8x apart (a slope needs two) instead of five.
COORD_WIDTHS = (128, 1024)


@pytest.fixture(scope="module")
def adam():
    return mup.lr_sweeps(ADAM)


@pytest.fixture(scope="module", params=["SGD", "coord check"])
def coords(request):
    cfg = mup.Config(**mup.PRESETS[request.param]).replace(widths=COORD_WIDTHS)
    c = mup.coord_checks(cfg)
    return request.param, {p: mup.loglog_slopes(getattr(c, p)) for p in mup.PARAMETRIZATIONS}


def test_default_preset_is_the_adam_story():
    assert mup.Config(**mup.PRESETS["Adam: SP drifts, muP transfers"]) == mup.Config()


def test_adam_preset_sp_argmin_drifts_and_mup_transfers(adam):
    sp, mp = adam.standard, adam.mup
    assert (sp.best_index >= 0).all() and (mp.best_index >= 0).all()
    # 8x wider: SP's best lr moves at least two grid steps (x4) to smaller values, muP's at most one
    assert sp.best_index[-1] <= sp.best_index[0] - 2, sp.best_lr
    assert abs(int(mp.best_index[-1] - mp.best_index[0])) <= 1, mp.best_lr
    # zero-shot transfer: the lr tuned on the narrow muP net is within 20% of the wide net's best loss;
    # under SP the same recipe loses more than that (or diverges)
    got_mp, got_sp = mup.transferred_loss(mp)[-1], mup.transferred_loss(sp)[-1]
    assert got_mp <= 1.2 * np.nanmin(mp.loss[-1])
    assert not np.isfinite(got_sp) or got_sp > 1.2 * np.nanmin(sp.loss[-1])
    assert sp.seed_best_lr.shape == (2, 1) and np.array_equal(sp.seed_best_lr[:, 0], sp.best_lr)


def test_coord_presets_flat_under_mup_growing_under_sp(coords):
    name, s = coords  # slopes (t, layer): layers = hidden 1, hidden 2, output; t = 0 is initialization
    after = slice(1, None)
    # muP: every layer's size is width-independent once training starts
    assert np.all(np.abs(s["mup"][after]) < 0.3), (name, s["mup"])
    # SP: the hidden-to-hidden pre-activation and the output grow with width after the first update
    assert np.all(s["standard"][-1, 1:] > 0.5), (name, s["standard"])
    assert s["standard"][-1, -1] > s["mup"][-1, -1] + 0.5
    # the first layer's fan-in (the input) is fixed: flat in both after one update (later, SGD under SP
    # feeds the blown-up output back into it)
    assert np.all(np.abs(s["standard"][:2, 0]) < 0.1) and np.all(np.abs(s["mup"][:, 0]) < 0.1)
