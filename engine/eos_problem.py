"""The static part of an edge-of-stability problem: network, data, flat-parameter loss, init,
and the Hessian eigen-solvers used inside the compiled scans (of :mod:`engine.eos` and
:mod:`engine.central_flow`). Functions take an ``engine.eos.Config`` (duck-typed here)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from engine import data, nets
from engine.hessian import lanczos


def _spec(cfg) -> nets.MLP:
    d_in, d_out = (64, 10) if cfg.dataset == "digits" else (16, 1)
    return nets.MLP(d_in, cfg.width, cfg.depth, d_out, cfg.activation)


def dataset(cfg) -> tuple[np.ndarray, np.ndarray]:
    """Training inputs (n, d) and targets (n, k): the first n_train digits, or the teacher task."""
    if cfg.dataset == "digits":
        ds = data.digits(cfg.n_train, 1, shuffle=False)
    else:
        ds = data.teacher_student(cfg.n_train, 1, d_in=16, seed=0)
    return ds.x_train, ds.y_train


class Problem(NamedTuple):
    """Everything static about a config: data, flat-parameter loss, init."""

    x: jax.Array
    y: jax.Array
    loss_xy: Callable  # (w_flat, x, y) -> scalar
    loss: Callable  # w_flat -> scalar on the full training set
    init: Callable  # (key, init_scale) -> w_flat
    dim: int


@functools.lru_cache(maxsize=16)
def problem(static) -> Problem:
    """The static problem for ``static`` (a Config; its traced fields are ignored)."""
    spec = _spec(static)
    x, y = (jnp.asarray(a) for a in dataset(static))
    _, unravel = ravel_pytree(nets.init(jax.random.PRNGKey(0), spec))

    def loss_xy(w, xb, yb):
        f = nets.apply(unravel(w), xb, spec)
        if static.loss == "ce":
            return jnp.mean(optax.softmax_cross_entropy(f, yb))
        return 0.5 * jnp.mean(jnp.sum((f - yb) ** 2, axis=-1))

    def init(key, init_scale):
        return ravel_pytree(nets.init(key, spec, init_scale))[0]

    return Problem(x, y, loss_xy, lambda w: loss_xy(w, x, y), init, spec.n_params())


def hvp_fn(loss: Callable, w: jax.Array) -> Callable:
    """v -> H(w) v by forward-over-reverse (measured faster here than reusing jax.linearize)."""
    g = jax.grad(loss)
    return lambda v: jax.jvp(g, (w,), (v,))[1]


def top_eigs(loss: Callable, w, v0, k: int, iters: int):
    """Top-k Hessian eigenvalues (desc) and eigenvectors (k, dim), Lanczos from v0."""
    return lanczos(hvp_fn(loss, w), w.shape[0], k, iters, v0=v0, key=jax.random.PRNGKey(17))


def warm_start(vecs: jax.Array, key: jax.Array) -> jax.Array:
    """Start vector from the previous top eigenvectors, plus a little noise for new directions."""
    k = vecs.shape[0]
    weights = 1.0 / jnp.arange(1, k + 1, dtype=vecs.dtype)
    v = weights @ vecs
    noise = jax.random.normal(key, v.shape, v.dtype)
    return v / jnp.linalg.norm(v) + 0.1 * noise / jnp.linalg.norm(noise)
