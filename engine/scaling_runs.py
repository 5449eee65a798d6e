"""One run of the scaling sweep: an MLP of one width trained on the first n examples of a pool.

Every run of one width shares a compiled program: ``n_train`` (like lr and seed) is traced,
the pool is padded to its full size and the rows past ``n_train`` are masked out of the
loss, so :func:`engine.sweep.run_cells` batches all dataset sizes of a width over the host
devices. Used by :mod:`engine.scaling`; see there for the teacher task and the physics.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from engine import data, nets, train
from engine.config import ConfigBase, param

_OPT_FLOPS = {"gd": 2.0, "sgd": 2.0, "momentum": 4.0, "adam": 12.0}  # FLOPs per parameter per update


@dataclass(frozen=True)
class Cell(ConfigBase):
    """One training run of the sweep. n_train is traced: every run of one width sees the whole
    pool with the rows past n_train masked out, so one compiled program serves all sizes
    (the padded rows cost FLOPs that are not counted as training compute)."""

    LAB = "scaling.cell"
    dataset: str = param("teacher", choices=("teacher", "digits"))
    width: int = param(8, lo=1, hi=512)
    depth: int = param(1, lo=1, hi=3)
    n_train: int = param(64, lo=1, hi=8192, traced=True)
    n_pool: int = param(64, lo=1, hi=8192)
    steps: int = param(400, lo=1, hi=20_000)
    lr: float = param(0.01, lo=1e-5, hi=10.0, traced=True)
    optimizer: str = param("adam", choices=("adam", "gd", "momentum"))
    d_in: int = param(128, lo=4, hi=512)
    spectrum_exponent: float = param(1.5, lo=1.01, hi=3.0)
    target_exponent: float = param(0.5, lo=0.1, hi=2.0)
    noise: float = param(0.0, lo=0.0, hi=1.0)
    n_test: int = param(1024, lo=1, hi=8192)
    n_records: int = param(24, lo=2, hi=200)
    seed: int = param(0, lo=0, hi=2**31 - 1, traced=True)


def teacher_weights(d: int, b: float, r: float) -> np.ndarray:
    """w*_k with k^-b w*_k^2 = k^-(1 + b r), k = 1..d."""
    k = np.arange(1, d + 1, dtype=np.float64)
    return np.sqrt(k ** -(1.0 + b * r) / k**-b)


def model_limit(widths, d: int, b: float, r: float) -> np.ndarray:
    """Best loss of a width-w bottleneck on the teacher (infinite data and time): (1/2) sum_{k>w} k^-(1+br)."""
    var = np.arange(1, d + 1, dtype=np.float64) ** -(1.0 + b * r)
    tail = np.concatenate([np.cumsum(var[::-1])[::-1], [0.0]])
    return 0.5 * tail[np.minimum(np.asarray(widths, int), d)]


def dataset(c: Cell) -> data.Dataset:
    """The sweep's pool of n_pool training examples (each run uses the first n_train) and its test set."""
    if c.dataset == "digits":
        ds = data.digits(c.n_pool, c.n_test, seed=0)
    else:
        ds = data.power_law_features(
            c.n_pool,
            c.n_test,
            d=c.d_in,
            spectrum_exponent=c.spectrum_exponent,
            target_exponent=c.target_exponent,
            seed=0,
        )
        w = teacher_weights(c.d_in, c.spectrum_exponent, c.target_exponent).astype(np.float32)
        y = ds.x_train * w + np.float32(c.noise) * np.random.default_rng(1).standard_normal(ds.x_train.shape).astype(
            np.float32
        )
        ds = data.Dataset(ds.x_train, y, ds.x_test, ds.x_test * w)
    return ds


def spec(c: Cell) -> nets.MLP:
    if c.dataset == "digits":
        return nets.MLP(64, c.width, c.depth, 10, "tanh", "standard")
    # the teacher is linear and centred: no biases, so N = width x (d_in + d_out) is exactly ~ width
    return nets.MLP(c.d_in, c.width, c.depth, c.d_in, "tanh", "standard", bias=False)


def record(c: Cell) -> np.ndarray:
    return train.record_steps(c.steps, c.n_records, "log")


def step_flops(net: nets.MLP, n: int, optimizer: str) -> float:
    """Counted FLOPs of one full-batch step on n examples (2 FLOPs per multiply-add).

    Forward matmuls 2 n P, weight gradients 2 n P, input gradients 2 n (P - first layer) (the
    data need none), bias adds and gradients, tanh and its derivative (1 + 2 per hidden unit),
    the loss (3 per output) and the optimizer update (per parameter). The 6ND rule counts
    only the 6 n P of the matmuls.
    """
    s = net.sizes
    mm = sum(a * b for a, b in zip(s[:-1], s[1:]))
    hidden = sum(s[1:-1])
    matmul = 2.0 * n * mm + 2.0 * n * mm + 2.0 * n * (mm - s[0] * s[1])
    elementwise = n * (2.0 * sum(s[1:]) + 3.0 * hidden + 3.0 * s[-1])
    return matmul + elementwise + _OPT_FLOPS[optimizer] * net.n_params()


def cell_flops(c: Cell) -> float:
    """Cost of computing the cell (padded rows and test evaluations included), for the app's cap."""
    net = spec(c)
    return c.steps * step_flops(net, c.n_pool, c.optimizer) + c.n_records * net.forward_flops(c.n_test)


def _init(net: nets.MLP, seed) -> list:
    params = nets.init(jax.random.PRNGKey(seed), net)
    params[-1] = {**params[-1], "w": jnp.zeros_like(params[-1]["w"])}  # every run starts at f = 0
    return params


def batched(c: Cell) -> Callable[[dict], dict]:
    net, ds = spec(c), dataset(c)
    x, y, xt, yt = map(jnp.asarray, ds)
    rec = record(c)
    mask_rec = np.zeros(c.steps + 1, bool)
    mask_rec[rec] = True
    apply = lambda p, a: nets.apply(p, a, net)  # noqa: E731

    def test_loss(p):
        return {"test": 0.5 * jnp.mean(jnp.sum((apply(p, xt) - yt) ** 2, axis=-1))}

    def f(h):
        m = (jnp.arange(c.n_pool) < h["n_train"]).astype(jnp.float32)
        ym = jnp.concatenate([y, m[:, None]], axis=1)  # the mask travels with the targets

        def loss(p, xx, yy):
            w = yy[:, -1]
            return 0.5 * jnp.sum(w * jnp.sum((apply(p, xx) - yy[:, :-1]) ** 2, axis=-1)) / jnp.sum(w)

        params = _init(net, h["seed"])
        opt = train.make_optimizer(c.optimizer, h["lr"])
        out = train.train_pure(loss, params, opt, x, ym, steps=c.steps, record_mask=mask_rec, metrics_fn=test_loss)
        div = out["diverged"]
        return {
            "train": out["loss"][rec],
            "test": jnp.where(div, jnp.nan, out["metrics"]["test"][rec]),
            "diverged": div,
            "diverged_step": out["diverged_step"],
        }

    return f


class CellResult(NamedTuple):
    """test, train (T,) loss curves at the recorded steps; diverged; diverged_step."""

    test: np.ndarray
    train: np.ndarray
    diverged: bool
    diverged_step: int


def from_arrays(c: Cell, out: dict) -> CellResult:
    test, tr = np.asarray(out["test"], np.float64), np.asarray(out["train"], np.float64)
    div = bool(out["diverged"])
    if div:  # the run froze at divergence: its curve stops there
        ds = int(out["diverged_step"])
        rec = record(c)
        test, tr = np.where(rec < ds, test, np.nan), np.where(rec < ds, tr, np.nan)
    return CellResult(test, tr, div, int(out["diverged_step"]) if div else -1)


def run_cell(c: Cell) -> CellResult:
    f = jax.jit(batched(c))
    h = {"n_train": jnp.int32(c.n_train), "lr": jnp.float32(c.lr), "seed": jnp.int32(c.seed)}
    return from_arrays(c, jax.tree.map(np.asarray, f(h)))


CELL_LAB = types.SimpleNamespace(
    __name__="engine.scaling.cells", batched=batched, from_arrays=from_arrays, run=run_cell
)
