"""Hyperparameter transfer: the coordinate check (mean |pre-activation| vs width after t updates).

As the microsoft/mup package's ``get_coord_data`` records it: a fixed batch, the optimizer at
learning rate ``cfg.lr``, the statistic l1 = mean |x| of every hidden pre-activation and of the
output. Flat in width under muP; growing with width under SP once training starts.
Re-exported by :mod:`engine.mup`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from engine import nets, train
from engine.mup_model import dataset, init_params, spec, static_key


class CoordResult(NamedTuple):
    """Coordinate check: widths (W,); steps (T+1,) = 0..T updates (0 = initialization);
    layers (K,) names (each hidden pre-activation, then the output); act_size (W, T+1, K)
    mean |pre-activation| over the fixed batch and units, averaged over seeds;
    parametrization, optimizer: str; lr: float (at base width); diverged (W,) bool: some
    recorded size is not finite (the lr is far too large at that width)."""

    widths: np.ndarray
    steps: np.ndarray
    layers: tuple
    act_size: np.ndarray
    parametrization: str
    optimizer: str
    lr: float
    diverged: np.ndarray


def layer_names(depth: int) -> tuple[str, ...]:
    return tuple(f"hidden {i + 1}" for i in range(depth)) + ("output",)


_COORD_FNS: dict = {}


def _coord_fn(cfg, width: int) -> Callable:
    """f(lr, seeds) -> (n_seeds, T+1, K) mean |pre-activation| after t = 0..T updates (jitted, kept)."""
    key = (static_key(cfg), width, cfg.coord_steps)
    if key in _COORD_FNS:
        return _COORD_FNS[key]
    net, ds = spec(cfg, width), dataset(cfg)
    x, y = jnp.asarray(ds.x_train[: cfg.batch_size]), jnp.asarray(ds.y_train[: cfg.batch_size])
    loss_fn = train.mse(lambda p, a: nets.apply(p, a, net))
    scales = nets.lr_scales(net, cfg.optimizer)

    def sizes(params):
        _, pre = nets.apply(params, x, net, return_preacts=True)
        return jnp.stack([jnp.mean(jnp.abs(z)) for z in pre])

    def one(lr, seed):
        opt = train.make_optimizer(cfg.optimizer, lr, lr_scales=scales)
        params = init_params(cfg, net, jax.random.split(jax.random.PRNGKey(seed))[0])

        def step(c, _):
            p, s = c
            g = jax.grad(loss_fn)(p, x, y)
            u, s = opt.update(g, s, p)
            p = jax.tree.map(lambda a, b: a + b, p, u)
            return (p, s), sizes(p)

        _, rec = jax.lax.scan(step, (params, opt.init(params)), None, length=cfg.coord_steps)
        return jnp.concatenate([sizes(params)[None], rec])

    _COORD_FNS[key] = jax.jit(jax.vmap(one, in_axes=(None, 0)))
    return _COORD_FNS[key]


def coord_check(cfg, progress: Callable[[float, CoordResult], None] | None = None) -> CoordResult:
    """Mean |pre-activation| of each layer and of the output after t = 0..coord_steps updates.

    The mup package's coordinate check (``get_coord_data``: fixed batch, optimizer at lr
    ``cfg.lr``, statistic l1 = mean |x|): under muP every curve is flat in width; under SP
    the hidden pre-activations and the output grow with width after the first update (Adam:
    up to ~ width; tanh after the layer squashes it, so we record pre-activations).
    Returns a :class:`CoordResult` (act_size (W, T+1, K)); ``progress`` after every width.
    """
    widths = [int(w) for w in cfg.widths]
    k = cfg.depth + 1
    out = np.full((len(widths), cfg.coord_steps + 1, k), np.nan)
    seeds = cfg.seed + jnp.arange(cfg.n_seeds, dtype=jnp.int32)

    def result():
        return CoordResult(
            np.asarray(widths, float),
            np.arange(cfg.coord_steps + 1),
            layer_names(cfg.depth),
            out.copy(),
            cfg.parametrization,
            cfg.optimizer,
            cfg.lr,
            ~np.isfinite(out).all(axis=(1, 2)),
        )

    for i, w in enumerate(widths):
        out[i] = np.asarray(_coord_fn(cfg, w)(jnp.float32(cfg.lr), seeds)).mean(axis=0)
        if progress is not None:
            progress((i + 1) / len(widths), result())
    return result()


def loglog_slopes(res: CoordResult) -> np.ndarray:
    """Least-squares slope of log mean |pre-activation| vs log width, per (step, layer): (T+1, K)
    (NaN where a size is zero or not finite)."""
    lw = np.log(res.widths)
    a = np.asarray(res.act_size, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        la = np.where(a > 0, np.log(np.where(a > 0, a, 1.0)), np.nan)  # (W, T+1, K); a zero readout: NaN
    lw_c = lw - lw.mean()
    return np.einsum("w,wtk->tk", lw_c, la - la.mean(axis=0)) / (lw_c**2).sum()
