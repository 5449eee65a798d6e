"""Diagonal linear nets (implicit bias from L1 to L2, the Q_alpha solution) and the conservation
laws of two-layer models (u_i v_i = alpha^2; a^2 - ||w||^2 and its exact per-step GD drift)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from engine import diagonal, imbalance, train

CFG = diagonal.Config()  # d=100, n=40, k=5: the 5-sparse beta* is recoverable by L1, not by L2


@pytest.fixture(scope="module")
def curve():
    return diagonal.alpha_curve(CFG, np.array([0.003, 0.03, 0.1, 0.3, 10.0]))


def test_small_alpha_recovers_the_sparse_vector(curve):
    assert curve.l1_error < 1e-6 < 1.0 < curve.l2_error  # L1 recovers beta*, the pseudoinverse does not
    assert curve.test_error[0] < 0.01 * curve.l2_error
    r = diagonal.run(CFG.replace(alpha=0.003))
    support = np.flatnonzero(r.beta_star)
    np.testing.assert_allclose(r.beta[support], r.beta_star[support], atol=0.05)
    off = np.delete(r.beta, support)
    assert np.max(np.abs(off)) < 0.03
    np.testing.assert_allclose(r.beta, r.beta_l1, atol=0.05)


def test_large_alpha_gives_the_pseudoinverse(curve):
    assert curve.test_error[-1] == pytest.approx(curve.l2_error, rel=0.01)
    r = diagonal.run(CFG.replace(alpha=10.0))
    assert np.linalg.norm(r.beta - r.beta_l2) / np.linalg.norm(r.beta_l2) < 0.01
    x, y, _ = diagonal._problem(CFG.d, CFG.n, CFG.k, CFG.noise, CFG.seed)
    np.testing.assert_allclose(x @ r.beta_l2, y, atol=1e-8)  # an interpolator...
    assert np.allclose(r.beta_l2, x.T @ np.linalg.solve(x @ x.T, y))  # ...in the row space


def test_test_error_rises_monotonically_with_alpha(curve):
    assert np.all(np.diff(curve.test_error) > 0)
    assert not curve.diverged.any()


def test_trained_net_matches_q_alpha_at_intermediate_alpha(curve):
    for a in (0.03, 0.1, 0.3):
        r = diagonal.run(CFG.replace(alpha=a))
        dist = np.linalg.norm(r.beta - r.implicit_bias_beta) / np.linalg.norm(r.implicit_bias_beta)
        assert dist < 0.02, (a, dist)
        # and Q_alpha's solution is neither the L1 nor the L2 one there
        assert np.linalg.norm(r.implicit_bias_beta - r.beta_l1) > 5 * np.linalg.norm(r.beta - r.implicit_bias_beta)
        assert np.linalg.norm(r.implicit_bias_beta - r.beta_l2) > 5 * np.linalg.norm(r.beta - r.implicit_bias_beta)
    np.testing.assert_allclose(curve.test_error[1:4], curve.implicit_bias_error[1:4], rtol=0.03)


def test_dual_solution_is_the_constrained_minimizer_of_q_alpha():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 8)), rng.standard_normal(4)
    for alpha in (0.3, 1.0):
        b = diagonal.implicit_bias(x, y, alpha)
        np.testing.assert_allclose(x @ b, y, atol=1e-8)
        direct = scipy.optimize.minimize(
            lambda v, a=alpha: diagonal.q_alpha(v, a),
            np.linalg.pinv(x) @ y,
            jac=lambda v, a=alpha: np.arcsinh(v / (2 * a**2)),
            constraints=[{"type": "eq", "fun": lambda v: x @ v - y, "jac": lambda v: x}],
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 500},
        )
        np.testing.assert_allclose(b, direct.x, atol=2e-5)
        assert diagonal.q_alpha(b, alpha) <= diagonal.q_alpha(direct.x, alpha) + 1e-9


def test_uv_is_conserved_under_small_steps():
    small = CFG.replace(alpha=0.1, c=0.02, steps=20_000)
    assert diagonal.run(small).uv_drift < 0.01
    assert diagonal.run(small.replace(c=0.5)).uv_drift > 5 * diagonal.run(small).uv_drift


def test_one_gd_step_multiplies_uv_by_one_minus_4_lr2_g2():
    x64, y64, _ = diagonal._problem(20, 10, 3, 0.0, 0)
    x, y = jnp.asarray(x64, jnp.float32), jnp.asarray(y64[:, None], jnp.float32)
    rng = np.random.default_rng(0)
    p = {k: jnp.asarray(rng.uniform(0.5, 1.5, 20), jnp.float32) for k in ("u", "v")}

    def loss(p, a, b):
        return 0.5 * jnp.mean((a @ (p["u"] ** 2 - p["v"] ** 2) - b[:, 0]) ** 2)

    lr = 0.01
    out = train.train_pure(loss, p, train.make_optimizer("gd", lr), x, y, steps=1)
    g = np.asarray(x64.T @ (x64 @ (np.asarray(p["u"], float) ** 2 - np.asarray(p["v"], float) ** 2) - y64) / 10)
    uv0 = np.asarray(p["u"], float) * np.asarray(p["v"], float)
    uv1 = np.asarray(out["params"]["u"], float) * np.asarray(out["params"]["v"], float)
    np.testing.assert_allclose(uv1, uv0 * (1 - 4 * lr**2 * g**2), rtol=2e-6)
    assert np.max(np.abs(uv1 - uv0)) > 1e-4  # the drift is really there


@pytest.fixture(scope="module")
def imb():
    return imbalance.run(imbalance.Config(steps=1500))


def test_imbalance_changes_by_exactly_lr2_times_ga2_minus_gw2(imb):
    drift = imb.imbalance - imb.imbalance[0]
    assert np.max(np.abs(drift)) > 1e-5  # GD does move it...
    np.testing.assert_allclose(drift, imb.predicted_drift, rtol=0, atol=1e-12)  # ...by exactly this
    # the same identity step by step, from the model's own gradients
    x, y, u = imbalance._problem(imbalance.Config())
    a, w = imbalance.init(0.3, -0.5, u)
    a = np.array([a])
    w = w[None]
    for _ in range(5):
        _, ga, gw = imbalance.grads(a, w, x, y)
        a2, w2 = a - 0.05 * ga, w - 0.05 * gw
        change = (a2**2 - np.sum(w2**2, -1)) - (a**2 - np.sum(w**2, -1))
        np.testing.assert_allclose(change, 0.05**2 * (ga**2 - np.sum(gw**2, -1)), rtol=1e-9, atol=1e-15)
        a, w = a2, w2


def test_imbalance_drift_halves_with_half_the_step(imb):
    full = imb.imbalance[-1] - imb.imbalance[0]
    half = imb.half_imbalance[-1] - imb.half_imbalance[0]
    assert half / full == pytest.approx(0.5, abs=0.05)


def test_imbalance_sets_lazy_vs_rich(imb):
    kd = imb.kernel_distance[: len(imb.scales) // 2]  # small scales
    assert np.max(kd[:, imb.deltas >= 2]) < 0.01  # delta >> 0: lazy
    assert np.min(kd[:, imb.deltas <= -2]) > 0.2  # delta << 0: rich (after a delay)
    assert np.all(imb.final_loss[np.isfinite(imb.final_loss)] < 1e-3)  # every cell fits the data
    a0, w0 = imbalance.init(imb.scales[:, None], imb.deltas[None, :], np.ones(3) / np.sqrt(3))
    np.testing.assert_allclose(a0**2 - np.sum(w0**2, -1), np.broadcast_to(imb.deltas, a0.shape), atol=1e-12)
    np.testing.assert_allclose(a0 * np.linalg.norm(w0, axis=-1), np.broadcast_to(imb.scales[:, None], a0.shape))


def test_jax_diag_and_numpy_agree_on_the_potential():
    z = np.linspace(-5, 5, 11)
    # q'(z) = arcsinh(z / 2): finite differences
    h = 1e-6
    np.testing.assert_allclose((diagonal.q(z + h) - diagonal.q(z - h)) / (2 * h), np.arcsinh(z / 2), atol=1e-6)
    assert diagonal.q(0.0) == 0.0
    assert jax.numpy.all(jnp.asarray(diagonal.q(z)) >= 0)
