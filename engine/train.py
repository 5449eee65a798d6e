"""Training loops: GD / SGD / momentum / Adam (optax) as a ``lax.scan`` in chunks.

One step function serves two uses:
- :func:`train` runs on the host in chunks of ``chunk`` steps, calling
  ``progress(fraction, partial)`` after each chunk so a page can draw live, and stops
  early once the run has diverged;
- :func:`train_pure` is the same computation as one traced function, so sweeps can
  ``vmap``/``lax.map``/shard it with the learning rate, init scale and seed traced.

Step t (0-based) records the loss of the parameters after t updates, and ``metrics_fn``
at the recorded steps (``record_mask``); the state after the last update is recorded as
step ``steps``. Divergence: a non-finite loss, or one above ``diverge_factor`` times the
initial loss, freezes the parameters and is reported with its step (a result, not an error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

OPTIMIZERS = ("gd", "sgd", "momentum", "adam")


class TrainResult(NamedTuple):
    """params: final pytree; steps (T,) recorded step indices; loss (T,) training loss there
    (NaN after divergence); metrics: name -> (T, ...) arrays; diverged: bool;
    diverged_step: int (-1 if none); loss_every (S,): the minibatch/full loss at every step."""

    params: object
    steps: np.ndarray
    loss: np.ndarray
    metrics: dict
    diverged: bool
    diverged_step: int
    loss_every: np.ndarray


def record_steps(steps: int, n_points: int = 100, spacing: str = "linear") -> np.ndarray:
    """Sorted unique step indices in [0, steps], linear or log spaced, always with 0 and steps."""
    if spacing == "log":
        s = np.unique(np.round(np.geomspace(1, steps + 1, n_points)).astype(int) - 1)
    else:
        s = np.unique(np.round(np.linspace(0, steps, n_points)).astype(int))
    return np.unique(np.concatenate([[0], s, [steps]]))


def _scale_by_tree(scales) -> optax.GradientTransformation:
    def update(updates, state, params=None):
        return jax.tree.map(lambda u, s: u * s, updates, scales), state

    return optax.GradientTransformation(lambda p: optax.EmptyState(), update)


def make_optimizer(name: str, lr, *, momentum: float = 0.9, lr_scales=None) -> optax.GradientTransformation:
    """optax optimizer; ``lr`` may be traced; ``lr_scales`` a params-shaped tree of multipliers."""
    if name in ("gd", "sgd"):
        opt = optax.sgd(lr)
    elif name == "momentum":
        opt = optax.sgd(lr, momentum=momentum)
    elif name == "adam":
        opt = optax.adam(lr)
    else:
        raise ValueError(f"optimizer={name!r}: choose one of {OPTIMIZERS}")
    return optax.chain(opt, _scale_by_tree(lr_scales)) if lr_scales is not None else opt


class _Carry(NamedTuple):
    params: object
    opt_state: object
    key: jax.Array
    loss0: jax.Array
    diverged: jax.Array
    div_step: jax.Array


def _make_step(loss_fn, opt, x, y, batch_size, replacement, total_steps, record_mask, metrics_fn, diverge_factor):
    n = x.shape[0]
    full = batch_size is None or batch_size >= n
    steps_per_epoch = max(n // batch_size, 1) if not full else 1
    record_mask = jnp.asarray(record_mask)

    def batch(key, t):
        if full:
            return x, y
        if replacement:
            idx = jax.random.randint(jax.random.fold_in(key, t), (batch_size,), 0, n)
        else:
            epoch, pos = t // steps_per_epoch, t % steps_per_epoch
            perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
            idx = jax.lax.dynamic_slice(perm, (pos * batch_size,), (batch_size,))
        return x[idx], y[idx]

    def metrics_at(params, t):
        if metrics_fn is None:
            return {}
        shapes = jax.eval_shape(metrics_fn, params)
        zeros = jax.tree.map(lambda s: jnp.full(s.shape, jnp.nan, s.dtype), shapes)
        return jax.lax.cond(record_mask[t], metrics_fn, lambda p: zeros, params)

    def step(c: _Carry, t):
        xb, yb = batch(c.key, t)
        loss, grads = jax.value_and_grad(loss_fn)(c.params, xb, yb)
        full_loss = loss if full else loss_fn(c.params, x, y)
        m = metrics_at(c.params, t)
        bad = ~jnp.isfinite(full_loss) | (full_loss > diverge_factor * jnp.maximum(c.loss0, 1e-12))
        active = (t < total_steps) & ~c.diverged & ~bad
        updates, new_opt = opt.update(grads, c.opt_state, c.params)
        new_params = optax.apply_updates(c.params, updates)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(active, a, b), new, old)  # noqa: E731
        newly = (t < total_steps) & ~c.diverged & bad
        c2 = _Carry(
            keep(new_params, c.params),
            keep(new_opt, c.opt_state),
            c.key,
            c.loss0,
            c.diverged | newly,
            jnp.where(newly, t, c.div_step),
        )
        out_loss = jnp.where(c.diverged | bad, jnp.nan, full_loss)
        return c2, (out_loss, jnp.where(c.diverged | bad, jnp.nan, loss), m)

    return step, metrics_at


def _init_carry(loss_fn, opt, params, x, y, key) -> _Carry:
    loss0 = loss_fn(params, x, y)
    return _Carry(params, opt.init(params), key, loss0, jnp.asarray(False), jnp.asarray(-1, jnp.int32))


def train_pure(
    loss_fn: Callable,
    params,
    opt: optax.GradientTransformation,
    x,
    y,
    *,
    steps: int,
    record_mask: np.ndarray | None = None,
    metrics_fn: Callable | None = None,
    batch_size: int | None = None,
    replacement: bool = False,
    key=None,
    diverge_factor: float = 1e4,
) -> dict:
    """The whole run as one traced computation (for jit/vmap/sweeps).

    Returns a dict: ``loss`` (steps+1,) full training loss after t updates (NaN once
    diverged), ``batch_loss`` (steps,), ``metrics`` name -> (steps+1, ...) (NaN where not
    recorded), ``diverged`` bool, ``diverged_step`` int, ``params`` final.
    """
    if record_mask is None:
        record_mask = np.ones(steps + 1, bool)
    key = jax.random.PRNGKey(0) if key is None else key
    step, metrics_at = _make_step(
        loss_fn, opt, x, y, batch_size, replacement, steps, record_mask, metrics_fn, diverge_factor
    )
    c = _init_carry(loss_fn, opt, params, x, y, key)
    c, (loss, bloss, m) = jax.lax.scan(step, c, jnp.arange(steps))
    last = loss_fn(c.params, x, y)
    last = jnp.where(c.diverged | ~jnp.isfinite(last), jnp.nan, last)
    m_last = metrics_at(c.params, steps)
    metrics = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), m, m_last)
    return {
        "loss": jnp.concatenate([loss, last[None]]),
        "batch_loss": bloss,
        "metrics": metrics,
        "diverged": c.diverged,
        "diverged_step": c.div_step,
        "params": c.params,
    }


def train(
    loss_fn: Callable,
    params,
    opt: optax.GradientTransformation,
    x,
    y,
    *,
    steps: int,
    record_at: np.ndarray | None = None,
    metrics_fn: Callable | None = None,
    batch_size: int | None = None,
    replacement: bool = False,
    key=None,
    chunk: int = 100,
    diverge_factor: float = 1e4,
    progress: Callable[[float, TrainResult], None] | None = None,
) -> TrainResult:
    """Train on the host in compiled chunks with live progress; stops at divergence.

    loss_fn(params, x, y) -> scalar (the full objective, e.g. 0.5 * mean squared error).
    record_at: steps at which to record loss and ``metrics_fn(params) -> dict`` (default all).
    batch_size None = full-batch GD; else minibatches with/without replacement.
    """
    record_at = np.arange(steps + 1) if record_at is None else np.asarray(record_at)
    mask = np.zeros(steps + 1, bool)
    mask[record_at[(record_at >= 0) & (record_at <= steps)]] = True
    x, y = jnp.asarray(x), jnp.asarray(y)
    key = jax.random.PRNGKey(0) if key is None else key
    chunk = max(1, min(chunk, steps)) if steps > 0 else 1
    step, metrics_at = _make_step(loss_fn, opt, x, y, batch_size, replacement, steps, mask, metrics_fn, diverge_factor)

    @jax.jit
    def run_chunk(c, start):
        return jax.lax.scan(step, c, start + jnp.arange(chunk))

    @jax.jit
    def finish(c):
        last = loss_fn(c.params, x, y)
        return jnp.where(c.diverged | ~jnp.isfinite(last), jnp.nan, last), metrics_at(c.params, steps)

    c = jax.jit(lambda p: _init_carry(loss_fn, opt, p, x, y, key))(params)
    losses, blosses, mets = [], [], []
    done = 0

    def partial(final: bool) -> TrainResult:
        loss = np.concatenate(losses)[:done] if losses else np.zeros(0)
        bl = np.concatenate(blosses)[:done] if blosses else np.zeros(0)
        m = {k: np.concatenate([mm[k] for mm in mets])[:done] for k in (mets[0] if mets else {})}
        if final:
            last, m_last = finish(c)
            loss = np.append(loss, float(last))
            m = {k: np.concatenate([v, np.asarray(m_last[k])[None]]) for k, v in m.items()}
        sel = record_at[record_at < len(loss)]
        div = bool(c.diverged)
        return TrainResult(c.params, sel, loss[sel], {k: v[sel] for k, v in m.items()}, div, int(c.div_step), bl)

    while done < steps:
        c, (loss, bl, m) = run_chunk(c, done)
        losses.append(np.asarray(loss))
        blosses.append(np.asarray(bl))
        mets.append(jax.tree.map(np.asarray, m))
        done = min(done + chunk, steps)
        if bool(c.diverged):
            break
        if progress is not None and done < steps:
            progress(done / steps, partial(False))
    res = partial(not bool(c.diverged))
    if progress is not None:
        progress(1.0, res)
    return res


def mse(apply_fn: Callable) -> Callable:
    """L = (1/2m) sum_i ||f(x_i) - y_i||^2 (THEORY.md convention: sum over outputs, mean over examples)."""
    return lambda p, x, y: 0.5 * jnp.mean(jnp.sum((apply_fn(p, x) - y) ** 2, axis=-1))


def cross_entropy(apply_fn: Callable) -> Callable:
    """Mean softmax cross-entropy against one-hot (or soft) targets."""
    return lambda p, x, y: jnp.mean(optax.softmax_cross_entropy(apply_fn(p, x), y))
