"""Layer imbalance: a conserved quantity decides lazy vs rich in a two-layer model (Kunin et al. 2024).

The minimal model f(x) = a (w . x) (a scalar readout a, first-layer vector w in R^d) is trained
by full-batch GD with step lr on L = (1/2n) sum_i (f(x_i) - y_i)^2, y = x . beta*, ||beta*|| = 1.
Gradient flow conserves delta = a^2 - ||w||^2 (with per-layer rates lr_a, lr_w: lr_w a^2 -
lr_a ||w||^2), because a dL/da = w . dL/dw (the model is 1-homogeneous in each layer). One GD
step changes a^2 - ||w||^2 by exactly lr^2 (g_a^2 - ||g_w||^2): the linear terms cancel, the
drift is O(lr^2) per step, O(lr) over a fixed time.

The initialization is given by its scale p = |a0| ||w0|| (the size of f at init) and its
imbalance delta: a0^2 = (delta + sqrt(delta^2 + 4 p^2)) / 2, ||w0||^2 = a0^2 - delta, w0
along a fixed random direction. Kunin et al.'s picture, which the phase diagram shows through
the kernel distance of the NTK K(x, x') = (w.x)(w.x') + a^2 x.x' between init and end:
delta >> 0 (large readout, "downstream") is lazy: w learns a linear model with a fixed
kernel a^2 x.x'; delta near 0 at small scale is rich; delta << 0 ("upstream") must rotate a
large w and is rich after a delay. References: Kunin, Raventos, Domine, Chen, Klindt, Saxe &
Ganguli 2024 (arXiv 2406.06158); Du, Hu & Lee 2018 (balancedness, arXiv 1806.00900).
Pure numpy in float64 (the exact per-step identity is checked to rounding error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from engine.config import ConfigBase, param

LAB = "imbalance"
SCALES = tuple(float(m * 10.0**e) for e in range(-3, 1) for m in (1, 2, 5)) + (10.0,)  # grid of p = |a0| ||w0||
DELTAS = tuple(float(v) for v in np.round(np.linspace(-4, 4, 17), 6))  # grid of the imbalance


@dataclass(frozen=True)
class Config(ConfigBase):
    LAB = LAB
    d: int = param(5, lo=2, hi=200, help="input dimension")
    n: int = param(40, lo=2, hi=1000, help="training examples (y = x . beta*, no noise)")
    scale: float = param(0.01, lo=1e-4, hi=100.0, log=True, help="init scale p = |a0| ||w0|| of the single run")
    delta: float = param(0.0, lo=-5.0, hi=5.0, help="imbalance a0^2 - ||w0||^2 of the single run")
    lr: float = param(0.02, lo=1e-4, hi=0.5, log=True, help="GD step (both layers)")
    steps: int = param(3000, lo=10, hi=100_000, help="GD steps (time = lr * steps)")
    seed: int = param(0, lo=0, hi=2**31 - 1, help="seed of the data, beta* and the direction of w0")

    def cost_flops(self) -> float:
        cells = len(SCALES) * len(DELTAS) + 3
        return 6.0 * cells * self.steps * self.n * self.d


class Result(NamedTuple):
    """Grid over (scale, imbalance) and one run traced step by step (T = steps + 1).

    scales (S,), deltas (D,): the grid; kernel_distance (S, D): NTK kernel distance init vs
    end; final_loss (S, D); diverged (S, D) bool (a cell whose loss blew up).
    t (T,): time lr * step of the single run; loss (T,); imbalance (T,): a^2 - ||w||^2;
    predicted_drift (T,): cumulative sum of lr^2 (g_a^2 - ||g_w||^2) (the exact GD identity);
    half_t (T2,), half_imbalance (T2,): the same run with lr / 2 for the same time (drift
    halves); kernel_distance_curve (T,): distance of the current NTK from the initial one.
    diverged: bool (the single run); diverged_step: int (-1 if none).
    """

    scales: np.ndarray
    deltas: np.ndarray
    kernel_distance: np.ndarray
    final_loss: np.ndarray
    grid_diverged: np.ndarray
    t: np.ndarray
    loss: np.ndarray
    imbalance: np.ndarray
    predicted_drift: np.ndarray
    half_t: np.ndarray
    half_imbalance: np.ndarray
    kernel_distance_curve: np.ndarray
    diverged: bool
    diverged_step: int


PRESETS = {
    "balanced, small: rich": {"scale": 0.01, "delta": 0.0},
    "large readout: lazy": {"scale": 0.01, "delta": 3.0},
    "large first layer: delayed rich": {"scale": 0.01, "delta": -3.0},
}


def _problem(cfg: Config):
    rng = np.random.default_rng(cfg.seed)
    x = rng.standard_normal((cfg.n, cfg.d))
    beta = rng.standard_normal(cfg.d)
    beta /= np.linalg.norm(beta)
    u = rng.standard_normal(cfg.d)
    u /= np.linalg.norm(u)
    return x, x @ beta, u


def init(scale, delta, direction: np.ndarray):
    """(a0, w0) with |a0| ||w0|| = scale and a0^2 - ||w0||^2 = delta (arrays broadcast)."""
    scale, delta = np.asarray(scale, float), np.asarray(delta, float)
    a2 = 0.5 * (delta + np.sqrt(delta**2 + 4.0 * scale**2))
    w_norm = np.sqrt(np.maximum(a2 - delta, 0.0))
    return np.sqrt(a2), w_norm[..., None] * direction


def grads(a, w, x, y):
    """(loss, g_a, g_w) of L = (1/2n) sum (a w.x - y)^2 for batched a (...,) and w (..., d)."""
    h = w @ x.T  # (..., n)
    r = a[..., None] * h - y
    n = x.shape[0]
    return 0.5 * np.mean(r**2, -1), np.mean(r * h, -1), a[..., None] * (r @ x) / n


def _gram(a, w, x):
    h = w @ x.T
    return h[..., :, None] * h[..., None, :] + (a**2)[..., None, None] * (x @ x.T)


def _kdist(k0, k1):
    num = np.sum(k0 * k1, axis=(-2, -1))
    return 1.0 - num / (np.linalg.norm(k0, axis=(-2, -1)) * np.linalg.norm(k1, axis=(-2, -1)))


def gd(a, w, x, y, lr: float, steps: int, trace: bool = False):
    """Plain GD from (a, w) (batched). Returns final (a, w, loss, diverged, step) and, with trace,
    per-step loss, a^2 - ||w||^2 and lr^2 (g_a^2 - ||g_w||^2) (leading axis = step)."""
    a, w = np.array(a, float), np.array(w, float)
    loss0 = grads(a, w, x, y)[0]
    dead = np.zeros(a.shape, bool)
    div_step = np.full(a.shape, -1)
    rec = {"loss": [], "imb": [], "pred": []}
    for t in range(steps):
        loss, ga, gw = grads(a, w, x, y)
        bad = ~np.isfinite(loss) | (loss > 1e4 * np.maximum(loss0, 1e-12))
        div_step = np.where(bad & ~dead, t, div_step)
        dead |= bad
        if trace:
            rec["loss"].append(loss)
            rec["imb"].append(a**2 - np.sum(w**2, -1))
            rec["pred"].append(lr**2 * (ga**2 - np.sum(gw**2, -1)))
        live = ~dead
        a = np.where(live, a - lr * ga, a)
        w = np.where(live[..., None], w - lr * gw, w)
    loss = grads(a, w, x, y)[0]
    if trace:
        rec["loss"].append(loss)
        rec["imb"].append(a**2 - np.sum(w**2, -1))
        return a, w, loss, dead, div_step, {k: np.asarray(v) for k, v in rec.items()}
    return a, w, loss, dead, div_step


def run(cfg: Config, progress: Callable[[float, Result], None] | None = None) -> Result:
    """Phase diagram over (scale, imbalance) and one run with its conserved quantity.

    What it should look like: the kernel distance is near 0 for delta >> 0 (lazy) and large
    for small scale near delta = 0 and for delta << 0 (rich); along the single run
    a^2 - ||w||^2 stays put up to a drift equal, step by step, to lr^2 (g_a^2 - ||g_w||^2),
    and halving lr halves the drift accumulated by a given time.
    Returns :class:`Result` (shapes in its docstring).
    """
    x, y, u = _problem(cfg)
    s, dl = np.meshgrid(np.asarray(SCALES), np.asarray(DELTAS), indexing="ij")
    a0, w0 = init(s, dl, u)
    a, w, loss, dead, _ = gd(a0, w0, x, y, cfg.lr, cfg.steps)
    kd = np.where(dead, np.nan, _kdist(_gram(a0, w0, x), _gram(a, w, x)))
    loss = np.where(dead, np.nan, loss)

    a1, w1 = init(cfg.scale, cfg.delta, u)
    a_t, w_t = a1, w1
    _, _, _, dead1, step1, tr = gd(a1, w1, x, y, cfg.lr, cfg.steps, trace=True)
    pre = np.r_[0.0, np.cumsum(tr["pred"])]
    _, _, _, _, _, tr2 = gd(a1, w1, x, y, cfg.lr / 2, 2 * cfg.steps, trace=True)
    # kernel distance along the run, at a few dozen points (recomputed by replaying GD)
    k0 = _gram(a1, w1, x)
    marks = np.unique(np.linspace(0, cfg.steps, 41).astype(int))
    kcurve = np.full(cfg.steps + 1, np.nan)
    done = 0
    for m in marks:
        if m > done:
            a_t, w_t, *_ = gd(a_t, w_t, x, y, cfg.lr, m - done)
            done = m
        kcurve[m] = _kdist(k0, _gram(a_t, w_t, x))
    res = Result(
        scales=np.asarray(SCALES),
        deltas=np.asarray(DELTAS),
        kernel_distance=kd,
        final_loss=loss,
        grid_diverged=dead,
        t=cfg.lr * np.arange(cfg.steps + 1),
        loss=tr["loss"],
        imbalance=tr["imb"],
        predicted_drift=pre,
        half_t=0.5 * cfg.lr * np.arange(2 * cfg.steps + 1),
        half_imbalance=tr2["imb"],
        kernel_distance_curve=kcurve,
        diverged=bool(dead1),
        diverged_step=int(step1),
    )
    if progress is not None:
        progress(1.0, res)
    return res


def summarize(r: Result) -> dict[str, float]:
    """Scalars of the single run: final loss, kernel distance, largest |drift| of the imbalance."""
    kd = r.kernel_distance_curve[np.isfinite(r.kernel_distance_curve)]
    return {
        "final_loss": float(r.loss[-1]),
        "kernel_distance": float(kd[-1]) if kd.size else float("nan"),
        "imbalance_drift": float(np.max(np.abs(r.imbalance - r.imbalance[0]))),
    }
