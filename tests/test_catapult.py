"""Catapults: the uv model's exact maps and its c = 2, 4 boundaries; a wide net's kernel falls."""

import math

import numpy as np
import pytest

from engine import catapult


def test_uv_maps_equal_gradient_descent_on_u_and_v():
    """The scalar one-step maps reproduce GD on the 2n weights exactly (float64)."""
    n, c, steps = 200, 3.0, 15
    r = catapult.uv_model(n, c, steps, seed=3)
    rng = np.random.default_rng(3)
    u, v = rng.standard_normal(n), rng.standard_normal(n)
    lr = c / ((u @ u + v @ v) / n)
    for t in range(steps + 1):
        f = u @ v / math.sqrt(n)
        assert r.f[t] == pytest.approx(f, rel=1e-9, abs=1e-12)
        assert r.lam[t] == pytest.approx((u @ u + v @ v) / n, rel=1e-9)
        u, v = u - lr * f * v / math.sqrt(n), v - lr * f * u / math.sqrt(n)  # grad of f^2/2
    assert r.lr == pytest.approx(lr)


@pytest.mark.parametrize("c", [2.5, 3.0, 3.5, 3.95])
def test_uv_catapult_spikes_then_converges_below_two(c):
    r = catapult.uv_model(10_000, c, 300, seed=0)
    assert not r.diverged
    assert np.nanmax(r.loss) > 10 * r.loss[0]  # the loss grows by orders of magnitude first
    assert r.loss[-1] < 1e-8 * r.loss[0]  # ... then converges
    assert r.lr * r.lam[-1] < 2  # the kernel fell below the linear stability edge


@pytest.mark.parametrize("c", [4.05, 5.0])
def test_uv_diverges_above_four(c):
    r = catapult.uv_model(10_000, c, 300, seed=0)
    assert r.diverged and r.diverged_step >= 0 and np.isnan(r.loss[-1])


def test_uv_lazy_below_two():
    r = catapult.uv_model(10_000, 1.5, 100, seed=0)
    assert not r.diverged and np.all(np.diff(r.loss) <= 0)
    assert r.lam[-1] == pytest.approx(r.lam[0], rel=1e-3)  # the kernel stays put


CFG = catapult.Config(width=512, n_train=32, steps=80)


@pytest.fixture(scope="module")
def runs():
    return {c: catapult.run(CFG.replace(c=c)) for c in (1.5, 3.0, 12.0)}


def test_net_catapult_kernel_falls_below_two_after_a_spike(runs):
    r = runs[3.0]
    assert not r.diverged
    assert r.lr * r.lambda0 == pytest.approx(3.0, rel=1e-5)
    assert r.top_ntk_eig[0] == pytest.approx(r.lambda0, rel=1e-5)
    assert np.max(r.loss) > 5 * r.loss[0]  # spike
    spike = int(np.argmax(r.loss))
    assert np.all(r.lr * r.top_ntk_eig[spike + 5 :] < 2)  # the kernel's top eigenvalue fell below 2/lr
    assert r.loss[-1] < r.loss[0]  # and training converged
    assert catapult.summarize(r)["final_lr_lambda"] < 2


def test_net_lazy_below_two_and_diverges_far_above(runs):
    lazy = runs[1.5]
    assert not lazy.diverged and np.max(lazy.loss) <= lazy.loss[0] * (1 + 1e-6)
    assert lazy.top_ntk_eig[-1] == pytest.approx(lazy.lambda0, rel=0.05)
    far = runs[12.0]
    assert far.diverged and far.diverged_step >= 0 and np.isnan(catapult.summarize(far)["final_lr_lambda"])
