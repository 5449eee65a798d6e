"""Power-law fits: planted exponents recovered inside tight bootstrap intervals; compute-optimal law."""

import numpy as np
import pytest

from engine.fit import ChinchillaFit, fit_chinchilla, fit_power_law

E_TRUE, A_TRUE, a_TRUE = 0.5, 3.0, 0.6
CHIN = dict(E=1.69, A=406.4, a=0.34, B=410.7, b=0.28)  # Hoffmann et al. (2022) estimates


def test_power_law_with_offset_recovers_planted_values():
    """Ten noisy data sets (1% multiplicative noise, 16 points over three decades): the 95%
    intervals must cover the planted values in most of them (pairs bootstraps of 16 points
    cover ~93% here), stay narrow, and every point estimate must be close."""
    x = np.logspace(1, 4, 16)
    covered = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        y = (E_TRUE + A_TRUE * x**-a_TRUE) * np.exp(0.01 * rng.normal(size=x.size))
        fit = fit_power_law(x, y, n_boot=100, seed=seed)
        covered.append([fit.a_ci[0] <= a_TRUE <= fit.a_ci[1], fit.E_ci[0] <= E_TRUE <= fit.E_ci[1]])
        assert fit.a_ci[1] - fit.a_ci[0] < 0.3 and fit.n_boot > 95
        assert fit.samples.shape == (fit.n_boot, 3)
        assert np.percentile(fit.samples[:, 2], 2.5) == pytest.approx(fit.a_ci[0])
        assert abs(fit.a - a_TRUE) < 0.05 and abs(fit.E - E_TRUE) < 0.02
        np.testing.assert_allclose(fit.predict(x), E_TRUE + A_TRUE * x**-a_TRUE, rtol=0.02)
    assert np.sum(covered, axis=0).min() >= 8, covered


def test_pure_power_law_without_offset():
    rng = np.random.default_rng(3)
    x = np.logspace(0, 3, 12)
    y = 2.0 * x**-1.3 * np.exp(0.05 * rng.normal(size=x.size))
    fit = fit_power_law(x, y, offset=False)
    assert fit.E == 0.0 and fit.E_ci == (0.0, 0.0)
    assert fit.a_ci[0] <= 1.3 <= fit.a_ci[1] and fit.a_ci[1] - fit.a_ci[0] < 0.1
    slope = np.polyfit(np.log(x), np.log(y), 1)[0]  # the log-log regression it must equal
    assert fit.a == pytest.approx(-slope, rel=1e-9)


def test_offset_matters():
    """A curve bending to a floor is badly described by a pure power law, well by the offset form."""
    x = np.logspace(1, 4, 16)
    y = E_TRUE + A_TRUE * x**-a_TRUE
    pure = fit_power_law(x, y, offset=False, n_boot=0)
    full = fit_power_law(x, y, n_boot=0)
    assert pure.a < 0.3 and full.a == pytest.approx(a_TRUE, rel=1e-4)
    assert np.isnan(full.a_ci[0]) and full.n_boot == 0


def test_bad_input_raises():
    with pytest.raises(ValueError):
        fit_power_law([1, 2, 3], [1.0, -1.0, 0.5])
    with pytest.raises(ValueError):
        fit_power_law([1, 2, 3], [1.0, 0.5])


def test_chinchilla_recovers_planted_parameters():
    """Five noisy 7 x 7 (N, D) grids (0.5% noise): intervals cover the planted (E, A, a, B, b)
    in most cases (~87% measured over 20 data sets), a and b to within 0.1 in width."""
    N, D = np.meshgrid(np.logspace(6, 9, 7), np.logspace(8, 11, 7))
    N, D = N.ravel(), D.ravel()
    L = CHIN["E"] + CHIN["A"] * N ** -CHIN["a"] + CHIN["B"] * D ** -CHIN["b"]
    covered = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        fit = fit_chinchilla(N, D, L * np.exp(0.005 * rng.normal(size=N.size)), n_boot=100, seed=seed)
        for name, true in CHIN.items():
            lo, hi = fit.intervals[name]
            covered.append(lo <= true <= hi)
            assert getattr(fit, name) == pytest.approx(true, rel=0.25), (seed, name)
        assert fit.intervals["a"][1] - fit.intervals["a"][0] < 0.1
        assert fit.intervals["b"][1] - fit.intervals["b"][0] < 0.1
        np.testing.assert_allclose(fit.predict(N, D), L, rtol=0.01)
        assert fit.samples.shape == (fit.n_boot, 5) and fit.n_boot > 95
    assert np.mean(covered) >= 0.75, covered


def test_compute_optimal_matches_brute_force():
    fit = ChinchillaFit(**CHIN, intervals={}, n_boot=0)
    C = np.array([1e18, 1e21, 1e24])
    n_opt, d_opt = fit.compute_optimal(C)
    np.testing.assert_allclose(6.0 * n_opt * d_opt, C, rtol=1e-12)
    grid = np.logspace(3, 15, 120_001)  # resolution 1e-4 decades
    for c, n_star in zip(C, n_opt):
        loss = fit.predict(grid, c / (6.0 * grid))
        assert abs(np.log10(grid[np.argmin(loss)] / n_star)) < 2e-4
    # the allocation exponents: N* ~ C^(b/(a+b)), D* ~ C^(a/(a+b))
    slope_n = np.polyfit(np.log(C), np.log(n_opt), 1)[0]
    assert slope_n == pytest.approx(CHIN["b"] / (CHIN["a"] + CHIN["b"]), rel=1e-9)
