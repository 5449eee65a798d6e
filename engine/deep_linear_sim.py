"""Simulation core of the deep linear network lab: GD on L = 1/2 ||target - W_D...W_1||_F^2.

Host-side seeded init (numpy: new shapes compile fast), then ``scan_records``: a ``lax.scan``
over record points, each a ``while_loop`` of GD steps up to the next recorded step (traced, so
steps never recompile), stopping at divergence. Each step also accumulates the GD terms
lr^2 (G_l G_l^T - G_{l+1}^T G_{l+1}) by which the balancedness C_l = W_l W_l^T - W_{l+1}^T W_{l+1}
moves. ``engine.deep_linear`` is the lab's public face.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def _mm(a: jax.Array, b: jax.Array) -> jax.Array:
    """a @ b; tiny ones as a fused multiply-and-sum: there XLA's CPU dot hands the work to a thread
    pool and the hand-offs cost more than the arithmetic (a depth-6 step ran ~5x faster)."""
    if a.shape[0] * a.shape[1] * b.shape[1] > 24**3:
        return a @ b
    return jnp.sum(a[:, :, None] * b[None, :, :], axis=1)


def _product(ws) -> jax.Array:
    p = ws[0]
    for w in ws[1:]:
        p = _mm(w, p)
    return p


def _balance(ws) -> list:
    return [_mm(ws[i], ws[i].T) - _mm(ws[i + 1].T, ws[i + 1]) for i in range(len(ws) - 1)]


class _Carry(NamedTuple):
    ws: tuple
    acc: tuple  # sum of lr^2 (G_l G_l^T - G_{l+1}^T G_{l+1}) over past steps
    t: jax.Array
    diverged: jax.Array
    div_step: jax.Array


def init_np(seed, init_scale, s, depth: int, width: int, init: str) -> tuple:
    """(W_1..W_D, target, U, V) as float32 numpy from the seed: host-side, so new shapes compile fast."""
    rng = np.random.default_rng(int(seed))
    s = np.asarray(s, np.float64)
    n = s.size

    def orth(rows):  # Haar: QR of a Gaussian with the signs of R's diagonal fixed
        q, r = np.linalg.qr(rng.standard_normal((rows, n)))
        return q * np.sign(np.diag(r))[None, :]

    u, v = orth(n), orth(n)
    if init == "aligned":  # W_l = a Q_l Q_{l-1}^T with Q_0 = V, Q_D = U: product u0 U V^T, exactly balanced
        a = float(init_scale) ** (1.0 / depth)
        qs = [v] + [orth(width) for _ in range(depth - 1)] + [u]
        ws = [a * qs[i + 1] @ qs[i].T for i in range(depth)]
    else:
        shapes = [(width, n)] + [(width, width)] * (depth - 2) + [(n, width)]
        ws = [float(init_scale) * rng.standard_normal(sh) for sh in shapes]
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    return tuple(map(f32, ws)), f32((u * s[None, :]) @ v.T), f32(u), f32(v)


def theory_u0(ws, u, v) -> jax.Array:
    """Initial strength (n,) the theory starts each mode from.

    Depth 2: ||(W_1 V_i + W_2^T U_i) / 2||^2. From a small init the linearized dynamics
    d(W_1 V_i)/dt = s_i W_2^T U_i, d(W_2^T U_i)/dt = s_i W_1 V_i grow this combination as
    e^{s_i t} and shrink the other, so u_i then follows the aligned solution from this value
    (for aligned balanced init it equals u0). Deeper: |u_i(0)|, a reference only (no linear
    regime to solve for random init)."""
    if len(ws) == 2:
        return jnp.sum(((_mm(ws[0], v) + _mm(ws[1].T, u)) / 2) ** 2, axis=0)
    return jnp.abs(jnp.sum(u * _mm(_product(ws), v), axis=0))


def start(ws, target, u, v, lr) -> tuple:
    """(carry, consts) at step 0."""
    width = ws[0].shape[0]
    acc = tuple(jnp.zeros((width, width)) for _ in range(len(ws) - 1))
    consts = {"target": target, "u": u, "v": v, "c0": _balance(ws), "loss0": _loss(ws, target), "lr": lr}
    consts["u0_theory"] = theory_u0(ws, u, v)
    return _Carry(tuple(ws), acc, jnp.asarray(0, jnp.int32), jnp.asarray(False), jnp.asarray(-1, jnp.int32)), consts


def _loss(ws, target) -> jax.Array:
    return 0.5 * jnp.sum((target - _product(ws)) ** 2)


def _metrics(c: _Carry, k: dict) -> dict:
    p = _product(c.ws)
    nan = jnp.where(c.diverged, jnp.nan, 1.0)
    fro = lambda m: jnp.sqrt(jnp.sum(m**2))  # noqa: E731
    drift = [fro(b - b0) for b, b0 in zip(_balance(c.ws), k["c0"])]
    return {
        "u": jnp.sum(k["u"] * _mm(p, k["v"]), axis=0) * nan,
        "loss": 0.5 * jnp.sum((k["target"] - p) ** 2) * nan,
        "drift": jnp.stack(drift) * nan,
        "gd_terms": jnp.stack([fro(a) for a in c.acc]) * nan,
    }


def _segment(c: _Carry, k: dict, until) -> _Carry:
    """GD steps until step ``until`` (traced), stopping at divergence."""
    lr = k["lr"]

    def body(c: _Carry) -> _Carry:
        loss, g = jax.value_and_grad(_loss)(c.ws, k["target"])
        bad = ~jnp.isfinite(loss) | (loss > 1e4 * jnp.maximum(k["loss0"], 1e-3))
        keep = lambda new, old: jnp.where(bad, old, new)  # noqa: E731
        ws = tuple(keep(w - lr * gw, w) for w, gw in zip(c.ws, g))
        terms = [_mm(g[i], g[i].T) - _mm(g[i + 1].T, g[i + 1]) for i in range(len(g) - 1)]
        acc = tuple(keep(a + lr**2 * d, a) for a, d in zip(c.acc, terms))
        return _Carry(ws, acc, c.t + 1, bad, jnp.where(bad, c.t, c.div_step))

    return jax.lax.while_loop(lambda c: (c.t < until) & ~c.diverged, body, c)


def scan_records(c: _Carry, k: dict, targets) -> tuple:
    def rec(c, until):
        c = _segment(c, k, until)
        return c, _metrics(c, k)

    return jax.lax.scan(rec, c, targets)


start_jit = jax.jit(start)
scan_jit = jax.jit(scan_records)
