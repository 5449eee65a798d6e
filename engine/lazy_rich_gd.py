"""Numerical helpers of the lazy vs rich lab: the teacher task and gradient descent with a step
set by the current top eigenvalue of the Gauss-Newton matrix (power iteration by vjp + jvp)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from engine import data


def teacher_task(n_train: int, n_test: int, d_in: int, seed: int = 0) -> data.Dataset:
    """x ~ N(0, I_d); y = relu(x_1) - relu(x_2), standardized: a teacher living in a 2-d subspace.

    The teacher's directions are the first two input coordinates, so a first-layer weight
    vector's projection on them is its (x_1, x_2) part.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_train + n_test, d_in))
    y = (np.maximum(x[:, 0], 0.0) - np.maximum(x[:, 1], 0.0))[:, None]
    y = (y - y[:n_train].mean()) / (y[:n_train].std() + 1e-12)
    x, y = x.astype(np.float32), y.astype(np.float32)
    return data.Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def _tree_mul(a, b):
    return jax.tree.map(lambda u, v: u * v, a, b)


def _gn_matvec(apply_x: Callable, scales, norm: float) -> Callable:
    """v (m, d_out) -> J P J^T v / norm: the Gauss-Newton matrix of the 1/alpha^2-scaled loss
    (P = per-layer learning-rate multipliers), applied by one vjp and one jvp."""

    def mv(p, v):
        _, vjp = jax.vjp(apply_x, p)
        g = _tree_mul(vjp(v)[0], scales)
        return jax.jvp(apply_x, (p,), (g,))[1] / norm

    return mv


def _power(mv: Callable, p, v, iters: int):
    """(Rayleigh quotient, unit vector) after ``iters`` power iterations from v."""

    def body(_, carry):
        v, _lam = carry
        kv = mv(p, v)
        return kv / jnp.linalg.norm(kv), jnp.sum(v * kv)

    v = v / jnp.linalg.norm(v)
    v, lam = jax.lax.fori_loop(0, iters, body, (v, jnp.zeros((), v.dtype)))
    return lam, v


def _adaptive_gd(c, lam0, v0, mv: Callable, scales, alpha, every: int):
    """GD on the 1/alpha^2-scaled loss with step c / lambda(t) (optax transformation).

    lambda(t), the top Gauss-Newton eigenvalue, is refreshed every ``every`` steps by one
    power iteration warm-started from the previous eigenvector; the rich regime's growing
    kernel then never outruns the step (a fixed c / lambda0 does, for small alpha)."""

    def init(params):
        return (jnp.zeros((), jnp.int32), v0, lam0)

    def update(updates, state, params):
        count, v, lam = state

        def refresh(_):
            kv = mv(params, v)
            new = jnp.sum(v * kv)
            ok = jnp.isfinite(new) & (new > 0)
            return jnp.where(ok, kv / jnp.linalg.norm(kv), v), jnp.where(ok, new, lam)

        v, lam = jax.lax.cond(count % every == 0, refresh, lambda _: (v, lam), None)
        step = c / lam / alpha**2
        return jax.tree.map(lambda u, s: -step * s * u, updates, scales), (count + 1, v, lam)

    return optax.GradientTransformation(init, update)
