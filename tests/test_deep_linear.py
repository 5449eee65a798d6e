"""Deep linear networks: the simulation against the exact theory, and GD's balancedness drift."""

import numpy as np
import pytest

from engine import deep_linear as dl
from engine import sweep
from engine.config import ConfigError

# Small shapes; two or three modes; lr small enough that GD follows gradient flow closely.
SMALL = dl.Config(singular_values=(2.0, 1.0, 0.5), width=4, init_scale=1e-3, lr=0.002, steps=8000, n_records=120)


@pytest.fixture(scope="module")
def depth2():
    return dl.run(SMALL)


def test_depth2_simulation_follows_closed_form(depth2):
    r, s = depth2, depth2.singular_values
    assert np.allclose(r.theory, dl.closed_form(r.t[:, None], s[None, :], 1e-3))
    # Every mode travels from u0 = 1e-3 to its target, and never strays from the closed form.
    assert np.all(np.abs(r.mode_strengths[-1] - s) < 0.02 * s)
    dev = np.max(np.abs(r.mode_strengths - r.theory), axis=0)
    assert np.all(dev < 0.02 * s), dev / s
    # The loss is the mode-wise loss: the aligned init never leaves the modes' span.
    np.testing.assert_allclose(r.loss, r.loss_theory, rtol=0.05, atol=1e-4)


def test_stage_like_learning_from_small_init(depth2):
    """Strong modes first: half-times in the order of the singular values, as the theory says."""
    r = depth2
    assert np.all(np.diff(r.half_times) > 0), r.half_times
    np.testing.assert_allclose(r.half_times, r.half_times_theory, rtol=0.03)
    # Half-time of a small init: (1/2s) ln(s/u0 - 1) to reach s/2 (THEORY.md section 1).
    s = r.singular_values
    np.testing.assert_allclose(dl.time_to_reach(s, 1e-3, s / 2, 2), np.log(s / 1e-3 - 1) / (2 * s))
    large = dl.run(SMALL.replace(init_scale=0.3, steps=3000))
    assert dl.stage_likeness(large) < dl.stage_likeness(r) - 0.2


@pytest.mark.parametrize("depth,u0", [(3, 0.05), (4, 0.1)])
def test_deeper_simulation_follows_ode(depth, u0):
    cfg = SMALL.replace(depth=depth, init_scale=u0, steps=5000)
    r = dl.run(cfg)
    s = r.singular_values
    assert np.all(np.abs(r.mode_strengths[-1] - s) < 0.05 * s)  # learned: the comparison is not vacuous
    dev = np.max(np.abs(r.mode_strengths - r.theory), axis=0)
    assert np.all(dev < 0.02 * s), dev / s
    assert np.all(np.diff(r.half_times) > 0)


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_theory_times_invert_trajectories(depth):
    """Gauss-Legendre time-to-reach against the ODE (or closed form) trajectory: u(T(u0 -> uf)) = uf."""
    s = np.array([3.0, 1.0, 0.4, 0.4])
    u0 = np.array([1e-4, 0.02, 0.9, 0.1])  # last two: from above the target (0.9 > 0.4) and below
    uf = np.array([2.0, 0.5, 0.5, 0.3])
    times = dl.time_to_reach(s, u0, uf, depth)
    assert np.all(np.isfinite(times)) and np.all(times > 0)
    for i in range(len(s)):
        u = dl.trajectory(np.array([0.0, times[i]]), s[i : i + 1], u0[i : i + 1], depth)
        np.testing.assert_allclose(u[-1, 0], uf[i], rtol=1e-5)
    assert np.isnan(dl.time_to_reach(1.0, 0.5, 0.2, depth))  # never: u only grows toward s
    # Deeper nets: longer plateaus from the same small init (~ u0^{-(1 - 2/D)}).
    assert dl.learn_time(1.0, 1e-3, depth + 1) > dl.learn_time(1.0, 1e-3, depth)


def test_random_init_follows_aligned_solution_from_growing_part():
    """Depth 2, small random init: the linearized dynamics pick (W1 V_i + W2^T U_i)/2; from its
    squared norm the aligned solution predicts the strongest mode closely, the rest roughly."""
    r = dl.run(SMALL.replace(init="random", init_scale=0.01, width=16))
    s = r.singular_values
    assert np.all(np.abs(r.mode_strengths[-1] - s) < 0.02 * s)
    dev = np.max(np.abs(r.mode_strengths - r.theory), axis=0) / s
    assert dev[0] < 0.02 and np.all(dev < 0.1), dev
    assert np.all(r.u0 > 1e-4) and np.all(r.u0 < 1e-2)  # ~ std^2 width / 2 = 8e-4, not the tiny u_i(0)


@pytest.fixture(scope="module")
def random_pair():
    """Random init at lr and lr/2 over the same time t = lr * steps."""
    cfg = SMALL.replace(init="random", init_scale=0.1, lr=0.01, steps=600, n_records=31)
    return dl.run(cfg), dl.run(cfg.replace(lr=0.005, steps=1200))


def test_balance_drift_is_the_sum_of_gd_terms(random_pair):
    """C_l(t) - C_l(0) = sum over steps of lr^2 (G_l G_l^T - G_{l+1}^T G_{l+1}), exactly."""
    r = random_pair[0]
    assert r.balance_drift[-1, 0] > 1e-3  # a real drift, far above float32 rounding
    np.testing.assert_allclose(r.balance_drift[1:], r.balance_gd_terms[1:], rtol=0.02, atol=2e-5)


def test_balance_drift_scales_with_lr_at_fixed_time(random_pair):
    """O(lr^2) per step times t/lr steps: at equal time, halving lr halves the drift."""
    big, small = random_pair
    np.testing.assert_allclose(big.t, small.t)
    ratio = big.balance_drift[-1, 0] / small.balance_drift[-1, 0]
    assert 1.8 < ratio < 2.2, ratio
    assert np.all(big.balance_drift[-1] > 1e-3)


def test_aligned_init_stays_balanced(depth2):
    """Aligned balanced init: the lr^2 terms cancel mode by mode, only rounding remains."""
    assert np.max(depth2.balance_gd_terms) < 1e-6
    scale = np.sqrt(np.sum(depth2.singular_values**2))  # ||W_1 W_1^T||_F once learned
    assert np.max(depth2.balance_drift) < 3e-4 * scale  # float32 rounding over 8000 steps


def test_balance_vs_lr_compares_at_equal_times():
    b = dl.balance_vs_lr(SMALL.replace(steps=1000, n_records=21))
    assert b.init == "random" and not b.diverged.any()  # aligned cfg: compared at the same layer scale
    np.testing.assert_allclose(b.lrs, [0.002, 0.001, 0.0005])
    np.testing.assert_allclose(b.t[0, -1], b.t[2, -1])
    assert b.drift[0, -1] > b.drift[1, -1] > b.drift[2, -1] > 0


def test_sweep_cells_equal_single_runs():
    base = SMALL.replace(steps=2400, n_records=40, lr=0.005)
    x, y = ("init_scale", [0.01, 0.3]), ("depth", [2, 3])
    sr = sweep.sweep(dl, base, x, y, use_cache=False)
    assert sr.done.all() and not sr.diverged.any()
    for i, u0 in enumerate(x[1]):
        for j, d in enumerate(y[1]):
            one = dl.summarize(dl.run(base.replace(init_scale=u0, depth=d)))
            np.testing.assert_allclose(sr.metrics["learn_time"][i, j], one["learn_time"], rtol=1e-3)
    assert np.all(sr.metrics["stage_likeness"][0] > sr.metrics["stage_likeness"][1])  # small init: stages


def test_mode_strength_sweep_matches_theory_time_to_learn():
    base, x, y = dl.diagram(SMALL, "init scale x mode strength")
    assert base.width == 1 and base.singular_values == (1.0,)
    xs, ys = x[1][::4], y[1][::4]  # a 3 x 3 corner of the page's grid
    sr = sweep.sweep(dl, base, (x[0], xs), (y[0], ys), use_cache=False)
    theory = dl.learn_time(np.array([s[0] for s in ys])[None, :], np.array(xs)[:, None], base.depth)
    np.testing.assert_allclose(sr.metrics["learn_time"], theory, rtol=0.08, atol=0.05)


def test_divergence_is_a_result():
    r = dl.run(SMALL.replace(lr=1.5, steps=200, n_records=20))
    assert r.diverged and 0 <= r.diverged_step < 200
    assert r.mode_strengths.shape == (20, 3) and np.isnan(r.loss[-1])


def test_config_checks():
    with pytest.raises(ConfigError, match="width"):
        dl.Config(width=4)  # six modes need width >= 6 for aligned init
    with pytest.raises(ConfigError):
        dl.Config(singular_values=())
    assert dl.Config(width=4, init="random").width == 4
    for overrides in dl.PRESETS.values():
        dl.Config(**overrides)
    assert dl.Config().cost_flops() > 0
