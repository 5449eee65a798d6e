"""Lazy vs rich: weight change ~ 1/alpha, collapse in alpha sqrt(width), the linearized model
against a closed-form oracle, muP staying rich, divergence as a result, sweep == run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine import kernels, lazy_rich, nets, sweep

TINY = lazy_rich.Config(n_train=64, d_in=8, steps=200, n_records=10)


@pytest.fixture(scope="module")
def ntk_grid():
    """NTK parametrization, widths 16/64/256 at alpha sqrt(width) in {4, 16, 64}: {(w, s): Result}."""
    out = {}
    for w in (16, 64, 256):
        for s in (4.0, 16.0, 64.0):
            out[w, s] = lazy_rich.run(TINY.replace(width=w, alpha=s / np.sqrt(w)))
    return out


def test_relative_weight_change_falls_as_one_over_alpha(ntk_grid):
    # at fixed width, alpha x4 per step in the lazy regime: log-log slope near -1
    for w in (16, 64, 256):
        wc = np.array([ntk_grid[w, s].weight_change for s in (16.0, 64.0)])
        slope = np.log(wc[1] / wc[0]) / np.log(4.0)
        assert -1.1 < slope < -0.9, (w, wc, slope)
        # alpha * ||W_T - W_0|| is nearly constant in alpha (THEORY.md section 2)
        a = np.array([16.0, 64.0]) / np.sqrt(w)
        assert np.ptp(a * wc) / np.mean(a * wc) < 0.1
        # the in-scan curve and kernels.relative_weight_change (float64, on the host) agree
        assert ntk_grid[w, 16.0].weight_change_curve[-1] == pytest.approx(wc[0], rel=1e-4)


def test_weight_change_collapses_in_alpha_sqrt_width(ntk_grid):
    for s in (16.0, 64.0):
        wc = np.array([ntk_grid[w, s].weight_change for w in (16, 64, 256)])
        assert np.ptp(wc) / np.mean(wc) < 0.12, (s, wc)
    # ... while at one alpha the widths differ by ~ sqrt(16) = 4: the collapse is not trivial
    same_alpha = ntk_grid[16, 16.0].weight_change / ntk_grid[256, 64.0].weight_change
    assert 3.0 < same_alpha < 5.0


def test_lazy_network_tracks_its_linearization_rich_one_does_not(ntk_grid):
    lazy, rich = ntk_grid[256, 64.0], ntk_grid[16, 4.0]
    gap = lambda r: abs(r.test_loss[-1] - r.linearized_test_loss[-1]) / r.linearized_test_loss[-1]  # noqa: E731
    assert gap(lazy) < 0.01
    assert gap(rich) > 5 * gap(lazy)
    assert rich.kernel_distance > 20 * lazy.kernel_distance
    np.testing.assert_allclose(lazy.train_loss, lazy.linearized_train_loss, rtol=0.05)


def test_rich_run_turns_first_layer_weights_toward_the_teacher(ntk_grid):
    def share(w):  # fraction of ||W1||^2 in the teacher's two input directions
        return np.sum(w[:, :2] ** 2) / np.sum(w**2)

    lazy = ntk_grid[16, 64.0]
    rich = lazy_rich.run(TINY.replace(width=16, alpha=0.25))  # alpha sqrt(width) = 1
    assert abs(lazy.teacher_alignment - share(lazy.w_init)) < 0.03
    assert rich.teacher_alignment > share(rich.w_init) + 0.1
    assert rich.teacher_alignment == pytest.approx(share(rich.w_final))


def test_linearized_model_matches_kernel_gd_closed_form():
    # oracle: GD on a linear model, residual r_t = (I - lr K / m)^t r_0 with K the NTK Gram
    cfg = TINY.replace(width=16, alpha=0.3, c=0.8)  # the linearized model always steps c / lambda0
    res = lazy_rich.run(cfg)
    spec = lazy_rich._spec(cfg)
    ds = lazy_rich._data(cfg)
    p0 = nets.init(jax.random.PRNGKey(cfg.seed), spec)
    k = np.asarray(kernels.ntk_gram(lambda p, a: nets.apply(p, a, spec), p0, jnp.asarray(ds.x_train)), np.float64)
    m = cfg.n_train
    lam, vec = np.linalg.eigh(k / m)
    assert res.lambda0 == pytest.approx(lam[-1], rel=1e-3)  # power iteration vs eigh
    assert res.lambda0 == pytest.approx(kernels.top_eig(k) / m, rel=1e-3)
    y = ds.y_train[:, 0].astype(np.float64)
    lr = cfg.c / lam[-1]
    for t, loss in zip(res.steps, res.linearized_train_loss):
        r = vec @ ((1 - lr * lam) ** t * (vec.T @ -y))
        assert loss == pytest.approx(0.5 * np.mean(r**2), rel=2e-3, abs=1e-6), t


def test_mup_stays_rich_as_width_grows():
    out = {}
    for par in ("mup", "ntk"):
        for w in (64, 256):
            out[par, w] = lazy_rich.run(TINY.replace(width=w, alpha=0.3, parametrization=par)).weight_change
    assert out["mup", 256] / out["mup", 64] > 0.8  # muP: feature movement does not fade
    assert out["ntk", 256] / out["ntk", 64] < 0.6  # NTK: ~ 1 / sqrt(4) = 0.5


def test_divergence_is_a_result_not_an_error():
    r = lazy_rich.run(TINY.replace(width=16, c=4.0, alpha=10.0))  # lazy: GD needs c < 2
    assert r.diverged and r.diverged_step >= 0
    assert np.isnan(r.weight_change) and np.isnan(lazy_rich.summarize(r)["test_gap"])


def test_sweep_cell_equals_single_run_and_fills_order_parameters():
    base = TINY.replace(width=16)
    sr = sweep.sweep("lazy_rich", base, ("width", [16]), ("alpha", [0.1, 3.0]), use_cache=False)
    assert sr.done.all() and not sr.diverged.any()
    for j, a in enumerate([0.1, 3.0]):
        r = lazy_rich.run(base.replace(alpha=a))
        s = lazy_rich.summarize(r)
        for k in ("weight_change", "kernel_distance", "test_gap"):
            assert sr.metrics[k][0, j] == pytest.approx(s[k], rel=1e-3, abs=1e-6), k
    assert sr.metrics["weight_change"][0, 0] > 5 * sr.metrics["weight_change"][0, 1]


def test_config_validation_and_theory_exponents():
    with pytest.raises(ValueError):
        lazy_rich.Config(alpha=0.0)
    with pytest.raises(ValueError):
        lazy_rich.Config(parametrization="xavier")
    assert lazy_rich.boundary_exponent("ntk") == 0.5 and lazy_rich.boundary_exponent("mup") == 0.0
    for name, ov in lazy_rich.PRESETS.items():
        assert lazy_rich.Config(**ov).cost_flops() > 0, name
