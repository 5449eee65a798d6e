"""Playground: one MLP trained on a teacher task or digits (the reference lab).

It is the smallest lab that uses every piece of the engine (nets, data, train, cache,
sweep) and the workload of ``benchmarks/sweep_throughput.py``: e.g. a learning rate x
init scale grid of full-batch GD trainings. Loss: L = (1/2m) sum_i ||f(x_i) - y_i||^2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from engine import data, nets, train
from engine.config import ConfigBase, ConfigError, param

LAB = "playground"


@dataclass(frozen=True)
class Config(ConfigBase):
    LAB = LAB
    dataset: str = param("teacher", choices=("teacher", "digits"), help="teacher-student regression or 8x8 digits")
    n_train: int = param(512, lo=8, hi=1500, help="training examples")
    d_in: int = param(16, lo=1, hi=256, help="input dimension of the teacher task (digits: 64)")
    width: int = param(256, lo=1, hi=4096, log=True, help="hidden units per layer")
    depth: int = param(1, lo=0, hi=8, help="hidden layers")
    activation: str = param("tanh", choices=tuple(nets.ACTIVATIONS), help="nonlinearity")
    parametrization: str = param("standard", choices=nets.PARAMETRIZATIONS, help="init/forward scaling")
    optimizer: str = param("gd", choices=train.OPTIMIZERS, help="gd = full batch")
    lr: float = param(0.05, lo=1e-5, hi=100.0, log=True, traced=True, help="learning rate")
    init_scale: float = param(1.0, lo=1e-3, hi=100.0, log=True, traced=True, help="weight std multiplier")
    batch_size: int | None = param(None, lo=1, hi=1500, help="minibatch size (None = full batch)")
    steps: int = param(500, lo=1, hi=100_000, help="training steps")
    n_records: int = param(50, lo=2, hi=1000, help="recorded points of the loss curve")
    seed: int = param(0, lo=0, hi=2**31 - 1, traced=True, help="random seed (init, data, batches)")

    def validate(self):
        if self.batch_size is not None and self.batch_size > self.n_train:
            raise ConfigError(f"batch_size={self.batch_size} is larger than n_train={self.n_train}")

    def cost_flops(self) -> float:
        n = self.batch_size or self.n_train
        return 3.0 * self.steps * _spec(self).forward_flops(n)


class Result(NamedTuple):
    """steps (T,) recorded step indices; loss (T,) training loss (NaN after divergence);
    test_loss: float (final); diverged: bool; diverged_step: int (-1 if none)."""

    steps: np.ndarray
    loss: np.ndarray
    test_loss: float
    diverged: bool
    diverged_step: int


PRESETS = {
    "stable": {},
    "too large a learning rate": {"lr": 2.0},
}


DIAGRAMS = {
    "lr x init scale": {
        "base": {"steps": 200, "n_records": 10},
        "x": ("lr", [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]),
        "y": ("init_scale", [0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0]),
    },
}


def _spec(cfg: Config) -> nets.MLP:
    d_in = 64 if cfg.dataset == "digits" else cfg.d_in
    d_out = 10 if cfg.dataset == "digits" else 1
    return nets.MLP(d_in, cfg.width, cfg.depth, d_out, cfg.activation, cfg.parametrization)


def _data(cfg: Config) -> data.Dataset:
    if cfg.dataset == "digits":
        return data.digits(cfg.n_train, 500, seed=0)
    return data.teacher_student(cfg.n_train, 512, d_in=cfg.d_in, seed=0)


def _record(cfg: Config) -> np.ndarray:
    return train.record_steps(cfg.steps, cfg.n_records)


def batched(cfg: Config) -> Callable[[dict], dict]:
    """Pure function of the traced fields (lr, init_scale, seed) for cfg's static fields."""
    spec, ds = _spec(cfg), _data(cfg)
    x, y, xt, yt = map(jnp.asarray, ds)
    loss_fn = train.mse(lambda p, a: nets.apply(p, a, spec))
    rec = _record(cfg)
    scales = nets.lr_scales(spec, cfg.optimizer)

    def f(h):
        key = jax.random.PRNGKey(h["seed"])
        params = nets.init(key, spec, h["init_scale"])
        opt = train.make_optimizer(cfg.optimizer, h["lr"], lr_scales=scales)
        out = train.train_pure(
            loss_fn,
            params,
            opt,
            x,
            y,
            steps=cfg.steps,
            batch_size=None if cfg.optimizer == "gd" else cfg.batch_size,
            key=jax.random.fold_in(key, 1),
        )
        test = jnp.where(out["diverged"], jnp.nan, loss_fn(out["params"], xt, yt))
        return {
            "loss": out["loss"][rec],
            "test_loss": test,
            "diverged": out["diverged"],
            "diverged_step": out["diverged_step"],
        }

    return f


def from_arrays(cfg: Config, out: dict) -> Result:
    return Result(
        _record(cfg), np.asarray(out["loss"]), float(out["test_loss"]), bool(out["diverged"]), int(out["diverged_step"])
    )


def run(cfg: Config, progress: Callable[[float, Result], None] | None = None) -> Result:
    """Train one MLP; the loss should fall smoothly for small lr and diverge for lr >~ 2/sharpness.

    Returns a :class:`Result`; ``progress(fraction, partial)`` after every chunk.
    """
    spec, ds = _spec(cfg), _data(cfg)
    loss_fn = train.mse(lambda p, a: nets.apply(p, a, spec))
    key = jax.random.PRNGKey(cfg.seed)
    params = nets.init(key, spec, cfg.init_scale)
    opt = train.make_optimizer(cfg.optimizer, cfg.lr, lr_scales=nets.lr_scales(spec, cfg.optimizer))
    rec = _record(cfg)

    def to_result(tr: train.TrainResult, test=np.nan) -> Result:
        return Result(tr.steps, tr.loss, float(test), tr.diverged, tr.diverged_step)

    cb = (lambda fr, tr: progress(fr, to_result(tr))) if progress else None
    tr = train.train(
        loss_fn,
        params,
        opt,
        ds.x_train,
        ds.y_train,
        steps=cfg.steps,
        record_at=rec,
        batch_size=None if cfg.optimizer == "gd" else cfg.batch_size,
        key=jax.random.fold_in(key, 1),
        progress=cb,
    )
    test = np.nan if tr.diverged else float(loss_fn(tr.params, ds.x_test, ds.y_test))
    res = to_result(tr, test)
    if tr.diverged:  # keep shapes: pad the curve with NaN up to the full record grid
        loss = np.full(len(rec), np.nan)
        loss[: len(tr.loss)] = tr.loss
        res = res._replace(steps=rec, loss=loss)
    return res


def summarize(r: Result) -> dict[str, float]:
    return {"final_loss": float(r.loss[-1]), "test_loss": float(r.test_loss)}
