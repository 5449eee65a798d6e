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
- :func:`coord_check`: mean |pre-activation| of every layer and of the output after t
  updates on a fixed batch, as mup's ``get_coord_data`` records it (flat in width under
  muP, growing under SP).

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

from engine import data, nets, train
from engine.config import ConfigBase, ConfigError, param

LAB = "mup"
WIDTHS = (64.0, 128.0, 256.0, 512.0, 1024.0)
# log2 learning-rate grid per optimizer when the config leaves it unset (lr at base width)
LR_RANGE = {"adam": (-13.0, -2.0), "sgd": (-10.0, 1.0)}
_DIVERGE_FACTOR = 100.0  # a minibatch loss above this x the initial loss counts as divergence
_N_CURVE = 20  # points of the recorded training curve (means over windows of steps)
# fields that only describe the grid: reset in a sweep cell so cells are shared across grids
_GRID_FIELDS = ("widths", "lr_log2_min", "lr_log2_max", "n_lrs", "coord_steps")


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


class SweepResult(NamedTuple):
    """Width x learning-rate sweep (grid axes first).

    widths (W,); lrs (L,) learning rates at base width; loss (W, L) mean final training loss
    over seeds (NaN where diverged or not yet computed); loss_std (W, L) std over seeds;
    diverged (W, L) bool (any seed diverged); done (W, L) bool; best_lr (W,) grid argmin of loss
    per width (NaN if none); best_index (W,) int (-1 if none); parametrization, optimizer: str;
    diverged_step (W, L) int, first divergence step over seeds (-1 if none).
    """

    widths: np.ndarray
    lrs: np.ndarray
    loss: np.ndarray
    loss_std: np.ndarray
    diverged: np.ndarray
    done: np.ndarray
    best_lr: np.ndarray
    best_index: np.ndarray
    parametrization: str
    optimizer: str
    diverged_step: np.ndarray


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


PRESETS = {
    "Adam: SP drifts, muP transfers": {},
    "SGD": {"optimizer": "sgd", "lr": 2.0**-2},
    "coord check": {"optimizer": "adam", "lr": 2.0**-6, "activation": "tanh", "dataset": "digits"},
}


def _spec(cfg: Config, width: int | None = None) -> nets.MLP:
    d_in, d_out = (64, 10) if cfg.dataset == "digits" else (16, 1)
    return nets.MLP(
        d_in, int(width or cfg.width), cfg.depth, d_out, cfg.activation, cfg.parametrization, cfg.base_width
    )


def _data(cfg: Config) -> data.Dataset:
    if cfg.dataset == "digits":
        return data.digits(cfg.n_train, 200, seed=0)
    return data.teacher_student(cfg.n_train, 200, d_in=16, d_out=1, teacher_width=32, seed=0)


def _init(cfg: Config, spec: nets.MLP, key: jax.Array) -> list[dict]:
    params = nets.init(key, spec)
    if cfg.zero_readout and cfg.parametrization == "mup":
        params[-1] = jax.tree.map(jnp.zeros_like, params[-1])
    return params


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


def _static_key(cfg: Config) -> str:
    """The fields that change the compiled program of one cell (not lr, seed or the grid)."""
    return repr(sorted((k, v) for k, v in cfg.to_dict().items() if k not in ("lr", "seed", "width") + _GRID_FIELDS))


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
    sl = np.asarray(r.seed_loss)
    return {"loss": float(r.loss), "loss_std": float(np.nanstd(sl)) if np.isfinite(sl).any() else float("nan")}


def _cell_base(cfg: Config) -> Config:
    """cfg with the grid-only fields at their defaults (a cell's cache key ignores the grid)."""
    defaults = {f.name: f.default for f in dataclasses.fields(Config) if f.name in _GRID_FIELDS}
    return cfg.replace(**defaults)


def best_lr(lrs: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid argmin of loss (W, L) along lrs: (best_lr (W,) NaN where no finite loss, index (W,) -1)."""
    loss = np.asarray(loss, float)
    ok = np.isfinite(loss).any(axis=1)
    idx = np.where(ok, np.argmin(np.where(np.isfinite(loss), loss, np.inf), axis=1), -1)
    return np.where(ok, np.asarray(lrs)[np.maximum(idx, 0)], np.nan), idx


def stability_edge(sr: SweepResult) -> tuple[np.ndarray, np.ndarray]:
    """Per width: the largest learning rate that did not diverge (W,) and the stable/divergent
    boundary, the log2 midpoint between it and the next grid value (W,); NaN where the grid has
    no stable value or no divergence above it."""
    lrs, out_lr, out_b = np.asarray(sr.lrs), [], []
    for d, done in zip(np.asarray(sr.diverged), np.asarray(sr.done)):
        ok = np.flatnonzero(done & ~d)
        i = ok.max() if ok.size else -1
        out_lr.append(lrs[i] if i >= 0 else np.nan)
        out_b.append(np.sqrt(lrs[i] * lrs[i + 1]) if 0 <= i < len(lrs) - 1 and d[i + 1] else np.nan)
    return np.asarray(out_lr), np.asarray(out_b)


def transferred_loss(sr: SweepResult) -> np.ndarray:
    """Loss at every width with the learning rate tuned at the narrowest width (W,) (NaN where
    that run diverged): zero-shot transfer works when it matches each width's own best loss."""
    j = int(sr.best_index[0])
    return np.asarray(sr.loss)[:, j] if j >= 0 else np.full(len(sr.widths), np.nan)


def _to_sweep_result(cfg: Config, s) -> SweepResult:
    loss = s.metrics.get("loss", np.full(s.done.shape, np.nan))
    std = s.metrics.get("loss_std", np.full(s.done.shape, np.nan))
    bl, bi = best_lr(cfg.lrs, loss)
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


def layer_names(depth: int) -> tuple[str, ...]:
    return tuple(f"hidden {i + 1}" for i in range(depth)) + ("output",)


_COORD_FNS: dict = {}


def _coord_fn(cfg: Config, width: int) -> Callable:
    """f(lr, seeds) -> (n_seeds, T+1, K) mean |pre-activation| after t = 0..T updates (jitted, kept)."""
    key = (_static_key(cfg), width, cfg.coord_steps)
    if key in _COORD_FNS:
        return _COORD_FNS[key]
    spec, ds = _spec(cfg, width), _data(cfg)
    x, y = jnp.asarray(ds.x_train[: cfg.batch_size]), jnp.asarray(ds.y_train[: cfg.batch_size])
    loss_fn = train.mse(lambda p, a: nets.apply(p, a, spec))
    scales = nets.lr_scales(spec, cfg.optimizer)

    def sizes(params):
        _, pre = nets.apply(params, x, spec, return_preacts=True)
        return jnp.stack([jnp.mean(jnp.abs(z)) for z in pre])

    def one(lr, seed):
        opt = train.make_optimizer(cfg.optimizer, lr, lr_scales=scales)
        params = _init(cfg, spec, jax.random.split(jax.random.PRNGKey(seed))[0])

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


def coord_check(cfg: Config, progress: Callable[[float, CoordResult], None] | None = None) -> CoordResult:
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
