"""Deep linear networks: each preset shows the lecture story its name promises (on its own Config)."""

import numpy as np
import pytest

from engine import deep_linear as dl

NAMES = {
    "saddle": "saddle to saddle (small init)",
    "large": "large init: all at once",
    "deep": "deep network",
    "random": "random init",
}


@pytest.fixture(scope="module")
def runs():
    """Every preset's own run (each takes about a second: no shrinking needed)."""
    assert set(NAMES.values()) == set(dl.PRESETS)
    return {k: dl.run(dl.Config.from_dict(dl.PRESETS[name])) for k, name in NAMES.items()}


def _strong_first(r):
    order = np.argsort(-r.singular_values)
    return np.all(np.diff(r.half_times[order]) > 0)


def _jump_width(r, i):
    """Time mode i takes from 10% to 90% of its target (how sharp its jump out of the plateau is)."""
    frac = r.mode_strengths[:, i] / r.singular_values[i]
    return r.t[np.argmax(frac >= 0.9)] - r.t[np.argmax(frac >= 0.1)]


def test_presets_train_without_diverging(runs):
    for k, r in runs.items():
        assert not r.diverged, k
        assert np.all(np.isfinite(r.learn_times)), k  # every mode is learned within the preset's run
        assert r.loss[-1] < 1e-3 * r.loss[0], k


def test_saddle_to_saddle_one_mode_at_a_time(runs):
    r = runs["saddle"]
    assert _strong_first(r)
    assert dl.stage_likeness(r) > 0.5
    # A plateau between stages: when the strongest mode is half learned, the weakest has not moved
    # beyond 1% of its target; the simulation sits on the closed-form half-times.
    i_strong, i_weak = np.argmax(r.singular_values), np.argmin(r.singular_values)
    at = np.argmin(np.abs(r.t - r.half_times[i_strong]))
    assert r.mode_strengths[at, i_weak] < 0.01 * r.singular_values[i_weak]
    np.testing.assert_allclose(r.half_times, r.half_times_theory, rtol=0.02)


def test_large_init_learns_all_modes_at_once(runs):
    big, small = runs["large"], runs["saddle"]
    assert dl.stage_likeness(big) < 0.6 * dl.stage_likeness(small)
    assert np.max(big.learn_times) < 0.2 * np.max(small.learn_times)
    # No plateau: when the strongest mode is half learned every mode has covered a quarter of its way.
    at = np.argmin(np.abs(big.t - big.half_times[np.argmax(big.singular_values)]))
    way = (big.mode_strengths[at] - big.u0) / (big.singular_values - big.u0)
    assert np.all(way > 0.25), way


def test_deep_network_longer_plateaus_sharper_jumps(runs):
    deep = runs["deep"]
    # The same preset with D = 2 weight matrices (same init, lr, steps), for contrast.
    shallow = dl.run(dl.Config.from_dict({**dl.PRESETS[NAMES["deep"]], "depth": 2}))
    assert _strong_first(deep) and dl.stage_likeness(deep) > dl.stage_likeness(shallow) + 0.1
    np.testing.assert_allclose(deep.half_times, deep.half_times_theory, rtol=0.02)
    # du/dt = D u^(2-2/D) (s - u): from the same init the deeper net waits longer, then jumps faster.
    i = int(np.argmax(deep.singular_values))
    assert deep.half_times[i] > 1.15 * shallow.half_times[i]
    assert _jump_width(deep, i) < 0.6 * _jump_width(shallow, i), (_jump_width(deep, i), _jump_width(shallow, i))


def test_random_init_still_learns_strongest_first(runs):
    r = runs["random"]
    assert _strong_first(r) and dl.stage_likeness(r) > 0.4
    # Random (not aligned) weights: the aligned theory started from the init's growing part predicts
    # the half-times within 10% (the rest: modes sharing not yet aligned hidden units).
    np.testing.assert_allclose(r.half_times, r.half_times_theory, rtol=0.1)
