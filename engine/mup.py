"""Hyperparameter transfer: the maximal update parametrization (muP) vs standard (SP).

Under SP (init variance 1/fan_in, one global learning rate) the loss-optimal learning rate
of an MLP drifts to smaller values as the width grows, because one update moves each hidden
pre-activation by an amount that grows with width (~ n for Adam). Under muP, in the form
the microsoft/mup package implements (see :mod:`engine.nets`: readout divided by
width_mult = width / base_width, per-layer lr multipliers), every layer's update stays O(1),
so the best learning rate found at the base width stays best at every width ("muTransfer").

Two experiments, both over ``cfg.widths``:
- :func:`lr_sweep`: final training loss after a fixed budget of minibatch steps, width x
  learning rate (log2 grid), averaged over seeds, through :func:`engine.sweep.sweep`
  (lr and seed traced, width static: one compile per width, every cell cached on its own);
- :func:`coord_check` (in :mod:`engine.mup_coord`): mean |pre-activation| of every layer and of the output after t
  updates on a fixed batch, as mup's ``get_coord_data`` records it (flat in width under
  muP, growing under SP).

The page calls :func:`lr_sweeps` and :func:`coord_checks` (both parametrizations at once).
Model and data: :mod:`engine.mup_model`; the sweep's result and its analysis (argmin, stability
edge): :mod:`engine.mup_grid`. Every public name is importable from here.

Loss: L = (1/2m) sum_i ||f(x_i) - y_i||^2 (one-hot targets for digits).
References: Yang & Hu 2021 (Tensor Programs IV); Yang et al. 2022 (Tensor Programs V,
arXiv 2203.03466); Everett et al. 2024 (arXiv 2407.05872); github.com/microsoft/mup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from engine import cache, nets, train
from engine.config import ConfigBase, ConfigError, param
from engine.mup_coord import CoordResult, coord_check, layer_names, loglog_slopes
from engine.mup_grid import SweepResult, best_lr, stability_edge, transferred_loss
from engine.mup_model import GRID_FIELDS as _GRID_FIELDS
from engine.mup_model import dataset as _data
from engine.mup_model import init_params as _init
from engine.mup_model import spec as _spec
from engine.mup_model import static_key as _static_key

__all__ = ["Config", "Result", "SweepResult", "CoordResult", "Sweeps", "Coords", "run", "summarize", "PRESETS"]
__all__ += ["CALLS", "lr_sweep", "lr_sweeps", "coord_check", "coord_checks", "best_lr", "stability_edge"]
__all__ += ["transferred_loss", "sweep_cost_flops", "layer_names", "loglog_slopes", "sweep_config", "coord_config"]

LAB = "mup"
WIDTHS = (64.0, 128.0, 256.0, 512.0, 1024.0)
# log2 learning-rate grid per optimizer when the config leaves it unset (lr at base width)
LR_RANGE = {"adam": (-13.0, -2.0), "sgd": (-10.0, 1.0)}
_DIVERGE_FACTOR = 100.0  # a minibatch loss above this x the initial loss counts as divergence
_N_CURVE = 20  # points of the recorded training curve (means over windows of steps)
PARAMETRIZATIONS = ("standard", "mup")


@dataclass(frozen=True)
class Config(ConfigBase):
    LAB = LAB
    parametrization: str = param("mup", choices=("standard", "mup"), help="standard (SP) or muP (microsoft/mup form)")
    optimizer: str = param("adam", choices=("adam", "sgd"), help="Adam (SP drift is clearest) or plain SGD")
    dataset: str = param(
        "teacher", choices=("teacher", "digits"), help="tanh teacher (16 inputs, 1 output) or 8x8 digits (10 classes)"
    )
    base_width: int = param(64, lo=8, hi=4096, log=True, help="muP reference width: muP = SP at this width")
    depth: int = param(2, lo=1, hi=4, help="hidden layers (2: one hidden-to-hidden matrix)")
    activation: str = param("relu", choices=("relu", "tanh", "gelu"), help="nonlinearity")
    zero_readout: bool = param(False, help="muP only: start the readout weights at zero (mup's readout_zero_init)")
    width: int = param(64, lo=8, hi=4096, log=True, help="hidden units of a single run (the sweep sets it)")
    lr: float = param(2.0**-6, lo=2.0**-24, hi=2.0**10, log=True, traced=True, help="learning rate at base width")
    widths: tuple = param(WIDTHS, lo=8, hi=4096, help="widths of the sweep and of the coordinate check")
    lr_log2_min: float | None = param(None, lo=-24.0, hi=10.0, help="smallest log2 lr of the grid (None: by optimizer)")
    lr_log2_max: float | None = param(None, lo=-24.0, hi=10.0, help="largest log2 lr of the grid (None: by optimizer)")
    n_lrs: int = param(12, lo=2, hi=40, help="learning rates in the log2 grid")
    n_seeds: int = param(2, lo=1, hi=16, help="seeds averaged per cell (init and batches)")
    seed: int = param(0, lo=0, hi=2**31 - 1, traced=True, help="first seed; seeds are seed, seed+1, ...")
    steps: int = param(200, lo=1, hi=20_000, help="training steps (the fixed budget)")
    batch_size: int = param(32, lo=1, hi=1500, help="minibatch size")
    n_train: int = param(1024, lo=16, hi=1500, help="training examples")
    coord_steps: int = param(3, lo=1, hi=20, help="updates recorded by the coordinate check")

    def validate(self):
        if self.batch_size > self.n_train:
            raise ConfigError(f"batch_size={self.batch_size} is larger than n_train={self.n_train}")
        if any(w != int(w) for w in self.widths) or not self.widths:
            raise ConfigError(f"widths={self.widths} must be whole numbers")
        lo, hi = self.lr_range
        if lo >= hi:
            raise ConfigError(f"the log2 lr grid needs lr_log2_min < lr_log2_max (got {lo} and {hi})")

    @property
    def lr_range(self) -> tuple[float, float]:
        d = LR_RANGE[self.optimizer]
        lo = d[0] if self.lr_log2_min is None else self.lr_log2_min
        return lo, (d[1] if self.lr_log2_max is None else self.lr_log2_max)

    @property
    def lrs(self) -> np.ndarray:
        """The learning-rate grid (n_lrs,), log2 spaced, at base width."""
        lo, hi = self.lr_range
        return 2.0 ** np.linspace(lo, hi, self.n_lrs)

    def cost_flops(self) -> float:
        """One run: n_seeds trainings of ``width`` (fwd + bwd = 3 forward passes per step)."""
        spec = _spec(self)
        return self.n_seeds * (
            3.0 * self.steps * spec.forward_flops(self.batch_size) + spec.forward_flops(self.n_train)
        )


class Result(NamedTuple):
    """One width and learning rate, over seeds.

    loss: float, mean final training loss over seeds (NaN if any seed diverged);
    seed_loss (n_seeds,) final training loss per seed (NaN where diverged);
    curve_steps (C,) step at the centre of each window; curve (n_seeds, C) mean minibatch loss
    per window (NaN after divergence); diverged: bool (any seed); diverged_step: int (first
    divergence step over seeds, -1 if none); seed_diverged (n_seeds,) bool.
    """

    loss: float
    seed_loss: np.ndarray
    curve_steps: np.ndarray
    curve: np.ndarray
    diverged: bool
    diverged_step: int
    seed_diverged: np.ndarray


class Sweeps(NamedTuple):
    """The lr sweep of both parametrizations (same Config otherwise): standard, mup (None
    while not yet computed in a live partial result)."""

    standard: SweepResult | None
    mup: SweepResult | None


class Coords(NamedTuple):
    """The coordinate check of both parametrizations: standard, mup (None while not yet computed)."""

    standard: CoordResult | None
    mup: CoordResult | None


PRESETS = {
    "Adam: SP drifts, muP transfers": {},
    "SGD": {"optimizer": "sgd", "lr": 2.0**-2},
    "coord check": {"optimizer": "adam", "lr": 2.0**-6, "activation": "tanh", "dataset": "digits"},
}


def _windows(cfg: Config) -> tuple[int, int]:
    n = min(_N_CURVE, cfg.steps)
    return n, cfg.steps // n


def _train_fn(cfg: Config) -> Callable:
    """f(lr, seed) -> dict for one training run of cfg's width (pure, traceable)."""
    spec, ds = _spec(cfg), _data(cfg)
    x, y = jnp.asarray(ds.x_train), jnp.asarray(ds.y_train)
    loss_fn = train.mse(lambda p, a: nets.apply(p, a, spec))
    scales = nets.lr_scales(spec, cfg.optimizer)
    n, bs = x.shape[0], cfg.batch_size
    n_win, per_win = _windows(cfg)

    def one(lr, seed):
        key = jax.random.PRNGKey(seed)
        k_init, k_data = jax.random.split(key)
        params = _init(cfg, spec, k_init)
        opt = train.make_optimizer(cfg.optimizer, lr, lr_scales=scales)

        def live(c, t):
            params, state, loss0, _, div_step = c
            idx = jax.random.randint(jax.random.fold_in(k_data, t), (bs,), 0, n)
            loss, g = jax.value_and_grad(loss_fn)(params, x[idx], y[idx])
            loss0 = jnp.where(t == 0, loss, loss0)
            bad = ~jnp.isfinite(loss) | (loss > _DIVERGE_FACTOR * jnp.maximum(loss0, 1e-6))
            upd, state = opt.update(g, state, params)
            params = jax.tree.map(lambda p, u: p + u, params, upd)
            return (params, state, loss0, bad, jnp.where(bad, t, div_step)), jnp.where(bad, jnp.nan, loss)

        def step(c, t):  # a diverged run stops computing (lax.map on CPU really skips it)
            return jax.lax.cond(c[3], lambda c, t: (c, jnp.float32(jnp.nan)), live, c, t)

        c0 = (params, opt.init(params), jnp.float32(1.0), jnp.asarray(False), jnp.asarray(-1, jnp.int32))
        (params, _, _, div, div_step), losses = jax.lax.scan(step, c0, jnp.arange(cfg.steps))
        final = jax.lax.cond(div, lambda p: jnp.float32(jnp.nan), lambda p: loss_fn(p, x, y), params)
        final = jnp.where(div | ~jnp.isfinite(final), jnp.nan, final)
        curve = losses[: n_win * per_win].reshape(n_win, per_win).mean(axis=1)
        return {"loss": final, "curve": curve, "diverged": div, "diverged_step": div_step}

    return one


def batched(cfg: Config) -> Callable[[dict], dict]:
    """Pure function of the traced fields (lr, seed) for cfg's width: n_seeds runs, lax.map."""
    one = _train_fn(cfg)
    offsets = jnp.arange(cfg.n_seeds, dtype=jnp.int32)

    def f(h):
        return jax.lax.map(lambda s: one(h["lr"], s), h["seed"] + offsets)

    return f


def from_arrays(cfg: Config, out: dict) -> Result:
    n_win, per_win = _windows(cfg)
    seed_loss = np.asarray(out["loss"], np.float64)
    seed_div = np.asarray(out["diverged"], bool)
    steps_div = np.asarray(out["diverged_step"])
    diverged = bool(seed_div.any())
    return Result(
        loss=float("nan") if diverged else float(seed_loss.mean()),
        seed_loss=seed_loss,
        curve_steps=(np.arange(n_win) + 0.5) * per_win,
        curve=np.asarray(out["curve"], np.float64),
        diverged=diverged,
        diverged_step=int(steps_div[seed_div].min()) if diverged else -1,
        seed_diverged=seed_div,
    )


_JITTED: dict = {}


def run(cfg: Config, progress: Callable[[float, Result], None] | None = None) -> Result:
    """Train cfg.n_seeds MLPs of width ``cfg.width`` at learning rate ``cfg.lr`` (at base width).

    Under muP the final loss at a fixed lr should be nearly independent of width (and improve
    slightly with it); under SP a learning rate that is good at the base width becomes too
    large at wide widths (Adam: roughly lr_opt ~ 1/width, in practice somewhat slower).
    Returns a :class:`Result`; ``progress(1.0, result)`` once at the end.
    """
    key = (_static_key(cfg), cfg.width)
    if key not in _JITTED:
        _JITTED[key] = jax.jit(batched(cfg))
    out = _JITTED[key]({"lr": jnp.float32(cfg.lr), "seed": jnp.int32(cfg.seed)})
    res = from_arrays(cfg, jax.tree.map(np.asarray, out))
    if progress is not None:
        progress(1.0, res)
    return res


def summarize(r: Result) -> dict[str, float]:
    """Mean final loss over seeds (NaN if any diverged), its std, and each seed's ``loss_seed{k}``."""
    sl = np.asarray(r.seed_loss)
    out = {"loss": float(r.loss), "loss_std": float(np.nanstd(sl)) if np.isfinite(sl).any() else float("nan")}
    return out | {f"loss_seed{k}": float(v) for k, v in enumerate(sl)}


def _cell_base(cfg: Config) -> Config:
    """cfg with the grid-only fields at their defaults (a cell's cache key ignores the grid)."""
    defaults = {f.name: f.default for f in dataclasses.fields(Config) if f.name in _GRID_FIELDS}
    return cfg.replace(**defaults)


def _to_sweep_result(cfg: Config, s) -> SweepResult:
    loss = s.metrics.get("loss", np.full(s.done.shape, np.nan))
    std = s.metrics.get("loss_std", np.full(s.done.shape, np.nan))
    bl, bi = best_lr(cfg.lrs, loss)
    per_seed = [s.metrics.get(f"loss_seed{k}", np.full(s.done.shape, np.nan)) for k in range(cfg.n_seeds)]
    seed_bl = np.stack([best_lr(cfg.lrs, np.where(s.diverged, np.nan, v))[0] for v in per_seed], axis=1)
    return SweepResult(
        np.asarray(cfg.widths, float),
        cfg.lrs,
        loss,
        std,
        s.diverged,
        s.done,
        bl,
        bi,
        cfg.parametrization,
        cfg.optimizer,
        s.diverged_step,
        seed_bl,
    )


def lr_sweep(cfg: Config, progress: Callable[[float, SweepResult], None] | None = None) -> SweepResult:
    """Final training loss over the grid ``cfg.widths`` x ``cfg.lrs`` (lr at base width).

    Under muP the curves of loss vs log2 lr line up across widths and their argmin stays
    within about one grid step (transfer; wider is better at fixed lr); under SP the argmin
    drifts to smaller lr as width grows and the divergence edge moves left. Runs through
    :func:`engine.sweep.sweep` (one compile per width; lr and seed traced; cells cached).
    Returns a :class:`SweepResult`; ``progress(fraction, partial)`` after every block.
    """
    from engine import sweep

    base = _cell_base(cfg)
    widths = [int(w) for w in cfg.widths]
    cb = (lambda fr, s: progress(fr, _to_sweep_result(cfg, s))) if progress else None
    s = sweep.sweep(LAB, base, ("width", widths), ("lr", [float(v) for v in cfg.lrs]), progress=cb)
    return _to_sweep_result(cfg, s)


def sweep_cost_flops(cfg: Config) -> float:
    """Rough FLOPs of :func:`lr_sweep` (every cell computed)."""
    return sum(cfg.replace(width=int(w)).cost_flops() for w in cfg.widths) * cfg.n_lrs


# ---------------------------------------------------------------- the page's entry points (both parametrizations)

CALLS = ("lr_sweeps", "coord_checks")


def sweep_config(cfg: Config, parametrization: str) -> Config:
    """The Config of one parametrization's lr sweep: the fields the sweep ignores (lr, coord_steps)
    at their defaults, so changing them reuses the sweep."""
    d = Config()
    return cfg.replace(parametrization=parametrization, lr=d.lr, coord_steps=d.coord_steps)


def coord_config(cfg: Config, parametrization: str) -> Config:
    """The Config of one parametrization's coordinate check (steps and the lr grid at their defaults)."""
    d = Config()
    return cfg.replace(
        parametrization=parametrization, steps=d.steps, lr_log2_min=None, lr_log2_max=None, n_lrs=d.n_lrs
    )


def _both(cfg: Config, name: str, fn: Callable, norm: Callable, out_cls, progress: Callable | None):
    parts: dict = {p: None for p in PARAMETRIZATIONS}
    for i, p in enumerate(PARAMETRIZATIONS):
        c = norm(cfg, p)

        def cb(fr, partial, i=i, p=p):
            progress((i + fr) / len(PARAMETRIZATIONS), out_cls(**{**parts, p: partial}))

        parts[p] = cache.memo(cache.call_key(name, c), lambda c=c, cb=cb: fn(c, progress=cb if progress else None))
        if progress is not None:
            progress((i + 1) / len(PARAMETRIZATIONS), out_cls(**parts))
    return out_cls(**parts)


def lr_sweeps(cfg: Config, progress: Callable[[float, Sweeps], None] | None = None) -> Sweeps:
    """:func:`lr_sweep` under SP and under muP (``cfg.parametrization`` is ignored).

    What it should look like: SP's best learning rate drifts to smaller values as width grows
    (Adam on the teacher: ~4 grid steps over 16x width), muP's stays put (within ~1 step).
    Each parametrization is cached on its own under :func:`sweep_config` (so the coordinate
    check's lr does not recompute it). Returns :class:`Sweeps`; ``progress(fraction, partial)``.
    """
    return _both(cfg, "lr_sweep", lr_sweep, sweep_config, Sweeps, progress)


def coord_checks(cfg: Config, progress: Callable[[float, Coords], None] | None = None) -> Coords:
    """:func:`coord_check` under SP and under muP, each cached under :func:`coord_config`.

    What it should look like: flat in width under muP, growing with width under SP after t >= 1.
    Returns :class:`Coords`; ``progress(fraction, partial)``.
    """
    return _both(cfg, "coord_check", coord_check, coord_config, Coords, progress)
