"""Scaling laws: loss vs model size N, data D and compute C, fitted honestly (THEORY.md section 4).

The trained sweep: MLPs of several widths (parameter count N) trained on several dataset
sizes D for a fixed number of full-batch steps, then the two-variable fit
L(N, D) = E + A N^-a + B D^-b (Hoffmann et al. 2022) with bootstrap intervals. The lead task
is a power-law teacher with freely drawn data: inputs x ~ N(0, diag(k^-b)) from
:func:`engine.data.power_law_features` and one output per input direction, y_k = w*_k x_k with
output variance lambda_k w*_k^2 = k^-(1 + b r) (the (b, r) convention of THEORY.md). A hidden
layer of width w can carry at most w directions, so with unlimited data the loss floor is the
variance of the discarded directions, (1/2) sum_{k>w} k^-(1+br) ~ w^-(br): model-limited; with
D examples only the ~D strongest directions are resolved: data-limited. Digits is the second
dataset. Loss: L = (1/2m) sum_i ||f(x_i) - y_i||^2 on held-out data; time = lr * steps.

The solvable models live in :mod:`engine.rf` (power-law random features; re-exported here
as :func:`rf_losses`, :func:`rf_theory`) and :mod:`engine.eigenlearning`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from engine import cache, fit, sweep, train
from engine.config import ConfigBase, ConfigError, param
from engine.rf import (  # noqa: F401  (public API of the lab)
    paquette_phase,
    rf_data_losses,
    rf_losses,
    rf_theory,
    rf_time_losses,
)
from engine.scaling_runs import (  # noqa: F401  (Cell, teacher_weights: public helpers)
    CELL_LAB,
    Cell,
    CellResult,
    cell_flops,
    model_limit,
    spec,
    step_flops,
    teacher_weights,
)

LAB = "scaling"
N_BOOT = 200


@dataclass(frozen=True)
class Config(ConfigBase):
    LAB = LAB
    dataset: str = param("teacher", choices=("teacher", "digits"), help="power-law teacher (free data) or 8x8 digits")
    widths: tuple = param((1, 2, 4, 8, 16, 32), lo=1, hi=512, help="hidden widths: the model sizes N (>= 6 values)")
    sizes: tuple = param((16, 32, 64, 128, 256, 512), lo=8, hi=4096, help="training-set sizes D (>= 4 values)")
    steps: int = param(400, lo=10, hi=20_000, log=True, help="full-batch training steps, the same for every run")
    lr: float = param(0.01, lo=1e-5, hi=10.0, log=True, traced=True, help="learning rate")
    optimizer: str = param("adam", choices=("adam", "gd", "momentum"), help="full-batch optimizer")
    d_in: int = param(128, lo=4, hi=512, help="teacher input dimension = number of power-law directions")
    spectrum_exponent: float = param(1.5, lo=1.01, hi=3.0, help="teacher b: input variances k^-b")
    target_exponent: float = param(0.5, lo=0.1, hi=2.0, help="teacher r: output variances k^-(1 + b r)")
    noise: float = param(0.0, lo=0.0, hi=1.0, help="teacher label-noise std (sets the irreducible loss)")
    depth: int = param(1, lo=1, hi=3, help="hidden layers")
    n_test: int = param(1024, lo=100, hi=8192, help="held-out examples (teacher; digits uses 497)")
    n_records: int = param(24, lo=4, hi=200, help="recorded points of each loss curve (log-spaced steps)")
    seed: int = param(0, lo=0, hi=2**31 - 1, traced=True, help="initialisation seed (data drawn with seed 0)")

    def validate(self):
        if len(set(self.widths)) < 6 or len(set(self.sizes)) < 4:
            raise ConfigError("a scaling sweep needs at least 6 distinct widths and 4 distinct dataset sizes")
        if any(v != int(v) for v in self.widths + self.sizes):
            raise ConfigError("widths and sizes must be whole numbers")
        if self.dataset == "digits" and max(self.sizes) > 1797 - 497:
            raise ConfigError(f"digits has 1,797 images and keeps 497 for testing: sizes must be <= {1797 - 497}")

    def cost_flops(self) -> float:
        return float(sum(cell_flops(c) for c in _cells(self)))


class Result(NamedTuple):
    """Grid axes first: i over widths, j over sizes, t over recorded steps.

    widths (nW,), n_params (nW,) parameter counts N, sizes (nD,) dataset sizes D, steps (T,);
    test_loss, train_loss (nW, nD, T): loss curves (NaN after divergence or not yet run);
    loss (nW, nD): held-out loss at the best recorded step (early stopping), the L(N, D) fitted;
    last_loss (nW, nD): held-out loss after the last step; flops_per_step (nW, nD) counted;
    flops (nW, nD): counted training FLOPs of the whole run; six_nd (nW, nD): 6 N D steps;
    model_limit (nW,): teacher floor (1/2) sum_{k>w} k^-(1+br) (NaN for digits);
    fit (5,): E, A, a, B, b of L = E + A N^-a + B D^-b; fit_ci (5, 2): bootstrap 95% intervals;
    fit_boot (n_boot, 5): bootstrap fits (for bands); fit_n, fit_d (3,): E, A, exponent of
    L vs N at the largest D and of L vs D at the largest width, fit_n_ci, fit_d_ci (2,);
    done, diverged (nW, nD) bool; diverged_step (nW, nD) int (-1 if none)."""

    widths: np.ndarray
    n_params: np.ndarray
    sizes: np.ndarray
    steps: np.ndarray
    test_loss: np.ndarray
    train_loss: np.ndarray
    loss: np.ndarray
    last_loss: np.ndarray
    flops_per_step: np.ndarray
    flops: np.ndarray
    six_nd: np.ndarray
    model_limit: np.ndarray
    fit: np.ndarray
    fit_ci: np.ndarray
    fit_boot: np.ndarray
    fit_n: np.ndarray
    fit_n_ci: np.ndarray
    fit_d: np.ndarray
    fit_d_ci: np.ndarray
    done: np.ndarray
    diverged: np.ndarray
    diverged_step: np.ndarray


PRESETS = {
    "teacher (both limits)": {},
    "model-limited": {"widths": (1, 2, 3, 4, 6, 8), "sizes": (256, 512, 1024, 2048)},
    "data-limited": {"widths": (24, 32, 48, 64, 96, 128), "sizes": (8, 16, 32, 64)},
    "digits": {"dataset": "digits", "widths": (2, 4, 8, 16, 32, 64), "sizes": (50, 100, 200, 400, 800, 1300)},
}


def _cells(cfg: Config) -> list[Cell]:
    n_max = int(max(cfg.sizes))
    out = []
    for w in cfg.widths:
        for n in cfg.sizes:
            out.append(
                Cell(
                    dataset=cfg.dataset,
                    width=int(w),
                    depth=cfg.depth,
                    n_train=int(n),
                    n_pool=n_max,
                    steps=cfg.steps,
                    lr=cfg.lr,
                    optimizer=cfg.optimizer,
                    d_in=cfg.d_in if cfg.dataset == "teacher" else 64,
                    spectrum_exponent=cfg.spectrum_exponent,
                    target_exponent=cfg.target_exponent,
                    noise=cfg.noise,
                    n_test=cfg.n_test if cfg.dataset == "teacher" else 497,
                    n_records=cfg.n_records,
                    seed=cfg.seed,
                )
            )
    return out


# ------------------------------------------------------------------ the sweep


def run(cfg: Config, progress: Callable[[float, Result], None] | None = None) -> Result:
    """Train every (width, dataset size) pair for ``cfg.steps`` steps and fit the scaling law.

    What it should look like: held-out loss falls as a power law in N until the data run out
    and in D until the model runs out; on the (N, D) heatmap the lower-left is limited by
    both, the top row by the model (the teacher's bottleneck floor ~ N^-(br)), the right
    column by the data. The fit L = E + A N^-a + B D^-b recovers exponents near b*r on the
    teacher. Runs of equal shape (one width) are batched in one compiled program over the
    host devices; each run is cached on its own, so a changed grid reuses finished runs.

    Args:
      cfg: the sweep (widths x sizes, steps, optimizer, teacher exponents or digits).
      progress: called as ``progress(fraction, partial)`` whenever a block of runs finishes;
        unfinished cells are NaN and ``done`` False.

    Returns:
      :class:`Result` (shapes there). L(N, D) is the early-stopped held-out loss (best
      recorded step, Kaplan et al. 2020's treatment of finite data).

    References: Kaplan et al. 2020; Hoffmann et al. 2022; Maloney, Roberts, Sully 2022.
    """
    widths = np.array([int(w) for w in cfg.widths])
    sizes = np.array([int(n) for n in cfg.sizes])
    cells = _cells(cfg)
    nw, nd = len(widths), len(sizes)
    T = len(train.record_steps(cfg.steps, cfg.n_records, "log"))
    test = np.full((nw, nd, T), np.nan)
    tr = np.full((nw, nd, T), np.nan)
    done = np.zeros((nw, nd), bool)
    div = np.zeros((nw, nd), bool)
    div_step = np.full((nw, nd), -1)
    pos = {id(c): divmod(k, nd) for k, c in enumerate(cells)}

    def put(c: Cell, r: CellResult) -> None:
        i, j = pos[id(c)]
        test[i, j], tr[i, j] = r.test, r.train
        done[i, j], div[i, j], div_step[i, j] = True, r.diverged, r.diverged_step

    missing = []
    for c in cells:
        r = cache.lookup(cache.key_for(c))
        (missing.append(c) if r is None else put(c, r))

    def on_block(bc, br):
        for c, r in zip(bc, br):
            cache.store(cache.key_for(c), r)
            put(c, r)
        if progress:
            progress(float(done.mean()), _assemble(cfg, widths, sizes, test, tr, done, div, div_step, final=False))

    if missing:
        if progress:
            progress(float(done.mean()), _assemble(cfg, widths, sizes, test, tr, done, div, div_step, final=False))
        sweep.run_cells(CELL_LAB, missing, on_block=on_block)
    res = _assemble(cfg, widths, sizes, test, tr, done, div, div_step, final=True)
    if progress:
        progress(1.0, res)
    return res


def _assemble(cfg, widths, sizes, test, tr, done, div, div_step, *, final: bool) -> Result:
    cells = _cells(cfg)
    nd = len(sizes)
    specs = [spec(cells[i * nd]) for i in range(len(widths))]
    n_params = np.array([s.n_params() for s in specs], np.float64)
    fps = np.array([[step_flops(s, int(n), cfg.optimizer) for n in sizes] for s in specs])
    with np.errstate(all="ignore"):
        loss = np.where(done, np.nanmin(np.where(np.isfinite(test), test, np.inf), axis=-1), np.nan)
    loss[~np.isfinite(loss)] = np.nan
    last = test[..., -1].copy()
    if cfg.dataset == "teacher":
        floor = (
            model_limit(widths, cfg.d_in, cfg.spectrum_exponent, cfg.target_exponent) + 0.5 * cfg.noise**2 * cfg.d_in
        )
    else:
        floor = np.full(len(widths), np.nan)
    fits = _fits(n_params, sizes, loss) if final else _no_fits()
    return Result(
        widths,
        n_params,
        sizes,
        train.record_steps(cfg.steps, cfg.n_records, "log"),
        test.copy(),
        tr.copy(),
        loss,
        last,
        fps,
        fps * cfg.steps,
        6.0 * n_params[:, None] * sizes[None, :] * cfg.steps,
        floor,
        *fits,
        done.copy(),
        div.copy(),
        div_step.copy(),
    )


def _no_fits() -> tuple:
    nan = np.full
    return (
        nan(5, np.nan),
        nan((5, 2), np.nan),
        nan((0, 5), np.nan),
        nan(3, np.nan),
        nan(2, np.nan),
        nan(3, np.nan),
        nan(2, np.nan),
    )


def _fits(n_params: np.ndarray, sizes: np.ndarray, loss: np.ndarray) -> tuple:
    """Chinchilla fit with bootstrap samples, and the two one-variable power laws."""
    out = list(_no_fits())
    N, D = np.meshgrid(n_params, sizes.astype(np.float64), indexing="ij")
    ok = np.isfinite(loss) & (loss > 0)
    if ok.sum() >= 6:
        try:
            ch = fit.fit_chinchilla(N[ok], D[ok], loss[ok], n_boot=N_BOOT)
            names = ("E", "A", "a", "B", "b")
            out[0] = np.array([getattr(ch, k) for k in names])
            out[1] = np.array([ch.intervals[k] for k in names])
            out[2] = _bootstrap(N[ok], D[ok], loss[ok], ch)
        except (ValueError, RuntimeError):
            pass
    for k, (x, y) in enumerate(((n_params, loss[:, -1]), (sizes.astype(np.float64), loss[-1, :]))):
        good = np.isfinite(y) & (y > 0)
        if good.sum() >= 3:
            try:
                pl = fit.fit_power_law(x[good], y[good], offset=False, n_boot=100)
                out[3 + 2 * k] = np.array([pl.E, pl.A, pl.a])
                out[4 + 2 * k] = np.array(pl.a_ci)
            except (ValueError, RuntimeError):
                pass
    return tuple(out)


def _bootstrap(N, D, L, ch) -> np.ndarray:
    """Bootstrap refits (pairs resampled, warm-started at the point fit) for the figure's bands."""
    rng = np.random.default_rng(0)
    x0 = np.array([ch.E, np.log(ch.A), ch.a, np.log(ch.B), ch.b])
    lN, lD = np.log(N), np.log(D)
    boots = []
    for _ in range(N_BOOT):
        idx = rng.integers(0, N.size, N.size)
        try:
            e, la, a, lb, b = fit._fit_one_chinchilla(lN[idx], lD[idx], L[idx], x0=x0)
        except (ValueError, RuntimeError, np.linalg.LinAlgError):
            continue
        boots.append([e, np.exp(la), a, np.exp(lb), b])
    return np.array(boots, np.float64).reshape(-1, 5)


def _chinchilla(p) -> fit.ChinchillaFit:
    return fit.ChinchillaFit(*(float(v) for v in p), intervals={}, n_boot=0)


def predict(r: Result, N, D, ci: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fitted L(N, D) and its bootstrap band (lo, hi) at points N, D (broadcast), from ``r.fit_boot``."""
    mid = _chinchilla(r.fit).predict(N, D)
    if len(r.fit_boot) == 0:
        return mid, mid, mid
    samples = np.stack([_chinchilla(p).predict(N, D) for p in r.fit_boot])
    lo, hi = np.nanpercentile(samples, [50 * (1 - ci), 50 * (1 + ci)], axis=0)
    return mid, lo, hi


def compute_optimal(r: Result, C, k: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N*, D*) minimising the fitted L under C = k N D; k defaults to the counted FLOPs per
    parameter per example of this sweep (about 6 x steps; 6 x steps is the 6ND rule)."""
    return _chinchilla(r.fit).compute_optimal(C, flops_per_param_token=flops_per_nd(r) if k is None else k)


def flops_per_nd(r: Result) -> float:
    """Counted training FLOPs per parameter per training example (median over the grid)."""
    return float(np.median(r.flops / (r.n_params[:, None] * r.sizes[None, :])))


def summarize(r: Result) -> dict[str, float]:
    E, A, a, B, b = r.fit
    return {
        "exponent_N": float(a),
        "exponent_D": float(b),
        "irreducible": float(E),
        "best_loss": float(np.nanmin(r.loss)),
    }


# ------------------------------------------------------------------ the page's theory panels at their defaults
CALLS = ("default_panels",)


def default_panels(cfg: Config | None = None, progress: Callable | None = None) -> dict:
    """The page's two theory panels at their default settings, for the warm cache.

    {"theory": rf.solvable(TheoryConfig()), "eigen": eigenlearning.digits_curves(EigenConfig())}.
    Neither depends on ``cfg`` (accepted for the lab's entry-point protocol); the page reads
    them under ``Config()``'s key. Numpy only, a few seconds (the digits kernel spectrum).
    """
    from engine import eigenlearning, rf

    theory = rf.solvable(rf.TheoryConfig())
    if progress is not None:
        progress(0.5, None)
    out = {"theory": theory, "eigen": eigenlearning.digits_curves(eigenlearning.EigenConfig())}
    if progress is not None:
        progress(1.0, None)
    return out
