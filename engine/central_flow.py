"""Gradient flow and the central flow from the same initialization as an ``engine.eos`` run.

Time is t = lr * steps, so a flow and a GD run share an x-axis; both are recorded at the
GD run's eigenvalue times ``lr * eig_steps``.

- Gradient flow dw/dt = -grad L, integrated with Runge-Kutta 4 at a step h = alpha / S
  (S re-estimated at every record), as in the reference code of Cohen et al. (2021): below
  2/lr GD tracks it; past that its sharpness keeps rising while GD's stops at 2/lr.
- Central flow (Cohen, Damian et al. 2024), single-unstable-eigenvalue form:
  dw/dt = -[grad L + (1/2) sigma^2 grad S], grad S = grad_w (v.H(w)v) at the top eigenvector v
  (one more derivative of the Hessian-vector product). sigma^2 = 0 until S reaches 2/lr; then
  sigma^2 = max(0, 2 [(S - 2/lr)/h - <grad S, grad L>] / |grad S|^2), which keeps S on 2/lr and
  pulls it back there after each Euler step h (the complementarity problem of the reference
  code ``central_flows_jax`` for one eigenvalue). GD's time-averaged loss is predicted as
  L(w) + (1/2) sigma^2 S (the reference's ``make_pred``: f(w) + (1/2) tr(U^T H U X)), i.e.
  about L + sigma^2/lr at the edge. When the second eigenvalue also reaches 2/lr (common on
  multi-output nets) the one-eigenvalue flow stops being valid: the integration stops there
  and the Result says so.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from engine import eos

MAX_SUBSTEPS = 4000  # RK4 steps per record interval at most (bounds the cost of a stiff flow)
STOP_TOL = 0.99  # second eigenvalue >= STOP_TOL * 2/lr ends the one-eigenvalue central flow
NEAR_EDGE = 0.85  # central flow: below this fraction of 2/lr it is integrated as gradient flow


class FlowResult(NamedTuple):
    """A flow from the run's initialization, at the GD run's eigenvalue times.

    time (F,) = lr * eig_steps; loss (F,) L(w(t)); sharpness (F,) top Hessian eigenvalue;
    eigenvalues (F, n_eigs); sigma2 (F,) oscillation variance along the top eigenvector
    (zeros for gradient flow); predicted_loss (F,) GD's predicted time-averaged loss
    L + sigma2 * S / 2 (= loss for gradient flow); NaN after the flow stopped.
    edge_time: time the flow's sharpness first reached 2/lr (NaN if never); stop_time: time
    the integration stopped early (NaN if it ran to the end); stop_reason: "" or a sentence;
    lr: float; diverged: bool; diverged_step: int (record index, -1 if none).
    """

    time: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    eigenvalues: np.ndarray
    sigma2: np.ndarray
    predicted_loss: np.ndarray
    edge_time: float
    stop_time: float
    stop_reason: str
    lr: float
    diverged: bool
    diverged_step: int


class _FState(NamedTuple):
    w: jax.Array
    vecs: jax.Array
    key: jax.Array
    loss0: jax.Array
    active: jax.Array  # central flow: S has reached 2/lr
    stopped: jax.Array  # diverged, or (central) second eigenvalue at the edge
    edge_rec: jax.Array  # record index where S first reached 2/lr (-1)
    why: jax.Array  # 0 running, 1 diverged, 2 second eigenvalue


def _bad(loss, loss0):
    return ~jnp.isfinite(loss) | (loss > eos.DIVERGE_FACTOR * loss0)


def _init(pb, cfg, h):
    key = jax.random.PRNGKey(h["seed"])
    kw, kv, kt = jax.random.split(key, 3)  # the same split as eos.run: same initial weights
    w = pb.init(kw, h["init_scale"])
    v0 = jax.random.normal(kv, (pb.dim,))
    _, vecs = eos.top_eigs(pb.loss, w, v0 / jnp.linalg.norm(v0), max(cfg.n_eigs, 2), 2 * cfg.lanczos_iters)
    f, i = jnp.asarray(False), jnp.asarray(-1, jnp.int32)
    return _FState(w, vecs, kt, pb.loss(w), f, f, i, jnp.asarray(0, jnp.int32))


def _rk4(pb, w, hh):
    g = jax.grad(pb.loss)
    k1 = -g(w)
    k2 = -g(w + 0.5 * hh * k1)
    k3 = -g(w + 0.5 * hh * k2)
    k4 = -g(w + hh * k3)
    return w + hh / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def _gf_record(pb, cfg, alpha, k):
    """One record interval of gradient flow: measure, then RK4 at h = alpha/S for lr * eig_every."""

    def rec(st: _FState, i, lr):
        dt = lr * cfg.eig_every
        v0 = eos.warm_start(st.vecs, jax.random.fold_in(st.key, i))
        vals, vecs = eos.top_eigs(pb.loss, st.w, v0, k, cfg.lanczos_iters)
        loss = pb.loss(st.w)
        bad = _bad(loss, st.loss0) | ~jnp.all(jnp.isfinite(vals))
        stopped = st.stopped | bad
        n_sub = jnp.clip(jnp.ceil(dt * jnp.max(jnp.abs(vals)) / alpha), 1, MAX_SUBSTEPS).astype(jnp.int32)
        n_sub = jnp.where(stopped, 0, n_sub)
        hh = dt / jnp.maximum(n_sub, 1)
        w = jax.lax.fori_loop(0, n_sub, lambda _, w: _rk4(pb, w, hh), st.w)
        edge = jnp.where((st.edge_rec < 0) & (vals[0] >= 2 / lr), i, st.edge_rec)
        why = jnp.where(st.stopped, st.why, jnp.where(bad, 1, 0))
        nan = jnp.where(stopped, jnp.nan, 1.0)
        st = st._replace(w=w, vecs=jnp.where(stopped, st.vecs, vecs), stopped=stopped, edge_rec=edge, why=why)
        return st, (loss * nan, vals * nan, jnp.zeros(()) * nan, loss * nan)

    return rec


def _cf_record(pb, cfg, substeps, iters, alpha):
    """One record interval of central flow.

    Far below the edge (S < NEAR_EDGE * 2/lr at the record's start) the central flow is
    gradient flow: the cheap RK4 record. Otherwise eig_every ticks of one GD step each: a
    warm-started Lanczos for the top eigenpairs, then ``substeps`` projected Euler steps.
    """
    k = max(cfg.n_eigs, 2)
    gf = _gf_record(pb, cfg, alpha, k)

    def phi(w, v):  # v.H(w)v: its gradient is grad S, one more derivative of the HVP
        return v @ jax.jvp(jax.grad(pb.loss), (w,), (v,))[1]

    def tick(st: _FState, j, lr):
        edge = 2.0 / lr
        hh = lr / substeps
        v0 = eos.warm_start(st.vecs, jax.random.fold_in(st.key, j))
        vals, vecs = eos.top_eigs(pb.loss, st.w, v0, k, iters)
        v = vecs[0]
        active = st.active | (vals[0] >= edge)
        second = active & (vals[1] >= STOP_TOL * edge)

        def sub(w, _):
            loss, g = jax.value_and_grad(pb.loss)(w)

            def proj(w):
                s, gs = jax.value_and_grad(phi)(w, v)
                s2 = 2.0 * ((s - edge) / hh - gs @ g) / jnp.maximum(gs @ gs, 1e-30)
                return jnp.maximum(s2, 0.0), gs, s

            def free(w):
                return jnp.zeros(()), jnp.zeros_like(w), vals[0]

            sigma2, gs, s = jax.lax.cond(active, proj, free, w)
            return w - hh * (g + 0.5 * sigma2 * gs), (loss, sigma2, s)

        w, (losses, sig, s) = jax.lax.scan(sub, st.w, None, length=substeps)
        bad = _bad(losses[0], st.loss0)
        nan = jnp.where(st.stopped | bad, jnp.nan, 1.0)
        stopped = st.stopped | bad | second
        why = jnp.where(st.stopped, st.why, jnp.where(bad, 1, jnp.where(second, 2, 0)))
        st = st._replace(
            w=jnp.where(stopped, st.w, w),
            vecs=jnp.where(stopped, st.vecs, vecs),
            active=active,
            stopped=stopped,
            why=why,
        )
        return st, (losses[0] * nan, vals * nan, sig[0] * nan, (losses[0] + 0.5 * sig[0] * s[0]) * nan)

    def near(st: _FState, i, lr):
        st, outs = jax.lax.scan(lambda s, j: tick(s, j, lr), st, i * cfg.eig_every + jnp.arange(cfg.eig_every))
        first = jax.tree.map(lambda a: a[0], outs)
        edge = jnp.where((st.edge_rec < 0) & st.active, i, st.edge_rec)
        return st._replace(edge_rec=edge), first

    def rec(st: _FState, i, lr):
        # the Rayleigh quotient along the carried top eigenvector: cheap, and a lower bound on S
        s_est = st.vecs[0] @ eos.hvp_fn(pb.loss, st.w)(st.vecs[0])
        go_near = st.active | (s_est >= NEAR_EDGE * 2.0 / lr)
        st, (loss, vals, sig, pred) = jax.lax.cond(go_near, near, gf, st, i, lr)
        return st, (loss, vals[: cfg.n_eigs], sig, pred)

    return rec


@functools.lru_cache(maxsize=8)
def _compiled(static: eos.Config, kind: str, chunk: int, opts: tuple):
    pb = eos.problem(static)
    rec = _gf_record(pb, static, *opts, static.n_eigs) if kind == "gradient" else _cf_record(pb, static, *opts)

    @jax.jit
    def run_chunk(st, i0, h):
        return jax.lax.scan(lambda s, i: rec(s, i, h["lr"]), st, i0 + jnp.arange(chunk))

    return jax.jit(lambda h: _init(pb, static, h)), run_chunk


def _run_flow(cfg: eos.Config, kind: str, opts: tuple, progress) -> FlowResult:
    n_rec = eos.n_blocks(cfg) + 1
    chunk = max(1, min(n_rec, math.ceil(50 / cfg.eig_every)))
    init, run_chunk = _compiled(eos._static(cfg), kind, chunk, opts)
    h = eos._hyper(cfg)
    st = init(h)
    outs: list = []
    i = 0
    times = cfg.lr * eos.eig_steps(cfg).astype(np.float64)

    def assemble(final: bool) -> FlowResult:
        cols = [np.concatenate([np.asarray(o[c]) for o in outs])[:n_rec] for c in range(4)] if outs else None
        m = n_rec if final else min(i, n_rec)

        def pad(a, shape):
            full = np.full(shape, np.nan)
            if a is not None:
                full[: min(len(a), shape[0])] = a[: shape[0]]
            return full[:m]

        loss = pad(cols and cols[0], (n_rec,))
        vals = pad(cols and cols[1], (n_rec, cfg.n_eigs))
        sig = pad(cols and cols[2], (n_rec,))
        pred = pad(cols and cols[3], (n_rec,))
        why = int(st.why)
        stopped_at = int(np.argmax(~np.isfinite(loss))) if why else -1
        edge_rec = int(st.edge_rec)
        reasons = {1: "the loss diverged", 2: "a second eigenvalue reached 2/lr: the one-eigenvalue flow ends here"}
        return FlowResult(
            times[:m],
            loss,
            vals[:, 0],
            vals,
            sig,
            pred,
            float(times[edge_rec]) if edge_rec >= 0 else float("nan"),
            float(times[stopped_at]) if why else float("nan"),
            reasons.get(why, ""),
            float(cfg.lr),
            why == 1,
            stopped_at if why == 1 else -1,
        )

    while i < n_rec:
        st, o = run_chunk(st, i, h)
        outs.append(o)
        i += chunk
        if bool(st.stopped):
            break
        if progress is not None and i < n_rec:
            progress(i / n_rec, assemble(False))
    res = assemble(True)
    if progress is not None:
        progress(1.0, res)
    return res


def gradient_flow(cfg: eos.Config, progress: Callable | None = None, *, alpha: float = 1.0) -> FlowResult:
    """Gradient flow dw/dt = -grad L from ``cfg``'s initialization, over GD's time lr * steps.

    Expect: the same loss and sharpness as GD while GD's sharpness is below 2/lr; then the
    flow's sharpness keeps climbing past 2/lr (GD's stops there). RK4 with step alpha / S
    (Cohen et al. 2021, ``src/flow.py``). Returns a :class:`FlowResult` (sigma2 = 0).
    """
    return _run_flow(cfg, "gradient", (float(alpha),), progress)


def central_flow(
    cfg: eos.Config,
    progress: Callable | None = None,
    *,
    substeps: int = 2,
    iters: int | None = None,
    alpha: float = 1.0,
) -> FlowResult:
    """Central flow (one unstable eigenvalue) from ``cfg``'s initialization.

    Expect: gradient flow (RK4, as :func:`gradient_flow`) until S nears 2/lr, then S held at
    2/lr, a smooth monotone loss, and a predicted time-averaged loss L + sigma2 S/2 that runs through the middle of GD's
    oscillating loss (Cohen, Damian et al. 2024, "Understanding optimization in deep learning
    with central flows"). Euler steps of lr/substeps; the top eigenvectors are refreshed by a
    warm-started Lanczos run of ``iters`` (default cfg.lanczos_iters // 2) iterations each GD
    step. Stops (stop_time, stop_reason) when a second eigenvalue reaches 2/lr.
    """
    iters = iters or max(cfg.lanczos_iters // 2, 4)
    return _run_flow(cfg, "central", (int(substeps), int(iters), float(alpha)), progress)
