"""The catapult phase (Lewkowycz, Bahri, Dyer, Sohl-Dickstein, Gur-Ari 2020).

A wide two-layer net in the NTK parametrization, f(x) = v . phi(W x / sqrt(d)) / sqrt(width),
trained by full-batch GD on L = (1/2m) sum_i (f(x_i) - y_i)^2. Its Hessian's Gauss-Newton part
J^T J / m has the same top eigenvalue as the empirical NTK Gram matrix K / m, lambda = top
eig(K) / m. The learning rate is set relative to the kernel at initialization,
lr = c / lambda0, so c = lr * lambda0:

- c < 2: lazy phase; the kernel barely moves and the loss falls.
- 2 < c < c_max: catapult; the loss grows for ~log(width) steps, the kernel's top eigenvalue
  falls until lr * lambda < 2, then the loss converges (at a flatter point).
- c > c_max: divergence. The uv model has c_max = 4 exactly; ReLU nets reach ~12.

``uv_model`` iterates the exact one-step maps of the uv model (THEORY.md section 3).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from engine import data, kernels, nets
from engine.config import ConfigBase, param

LAB = "catapult"
D_IN = 16  # input dimension of the teacher task
SPIKE_LIMIT = 1e3  # a loss above SPIKE_LIMIT * width * (initial loss) counts as divergence


@dataclass(frozen=True)
class Config(ConfigBase):
    LAB = LAB
    width: int = param(1024, lo=16, hi=8192, log=True, help="hidden units (NTK parametrization)")
    c: float = param(3.0, lo=0.1, hi=30.0, log=True, traced=True, help="lr * lambda0 (2: linear stability edge)")
    n_train: int = param(64, lo=4, hi=512, log=True, help="training examples of the teacher task")
    activation: str = param("relu", choices=("relu", "tanh", "linear"), help="hidden nonlinearity")
    steps: int = param(150, lo=5, hi=5000, help="full-batch GD steps")
    seed: int = param(0, lo=0, hi=2**31 - 1, traced=True, help="random seed (init)")

    def cost_flops(self) -> float:
        p = self.width * (D_IN + 1)
        # one step: forward/backward on n, then the NTK Gram (Jacobian + n^2 P contraction)
        return self.steps * (6.0 * self.n_train * p + 2.0 * self.n_train**2 * p + 4.0 * self.n_train * p)


class Result(NamedTuple):
    """steps (T,) = 0..steps; loss (T,) training loss after t updates (NaN after divergence);
    top_ntk_eig (T,) top eigenvalue of K_t / m; lambda0: float (= top_ntk_eig[0]);
    lr: float (= c / lambda0); diverged: bool; diverged_step: int (-1 if none)."""

    steps: np.ndarray
    loss: np.ndarray
    top_ntk_eig: np.ndarray
    lambda0: float
    lr: float
    diverged: bool
    diverged_step: int


class UVResult(NamedTuple):
    """Exact uv-model trajectory. steps (T,); f (T,) output; loss (T,) = f^2/2; lam (T,) the
    kernel (|u|^2 + |v|^2)/n; lambda0, lr = c / lambda0: floats; diverged: bool;
    diverged_step: int (-1 if none)."""

    steps: np.ndarray
    f: np.ndarray
    loss: np.ndarray
    lam: np.ndarray
    lambda0: float
    lr: float
    diverged: bool
    diverged_step: int


PRESETS = {
    "catapult": {"c": 3.0},
    "lazy (c < 2)": {"c": 1.5},
    "beyond the uv limit (c = 6)": {"c": 6.0},
    "diverges": {"c": 20.0},
}


def uv_model(n: int = 1000, c: float = 3.0, steps: int = 100, seed: int = 0) -> UVResult:
    """The uv model f = v.u/sqrt(n), x = 1, y = 0, iterated with its exact one-step maps.

    f' = f (1 - lr lambda + lr^2 f^2 / n),  lambda' = lambda + (lr f^2 / n)(lr lambda - 4),
    lr = c / lambda0, with u, v ~ N(0, I_n) (so lambda0 ~ 2, f0 ~ N(0, 1)). Expect: c < 2 lazy
    decay; 2 < c < 4 the loss grows ~ (c-1)^(2t) for ~log(n) steps, lambda falls below 2/lr,
    and f converges to 0; c > 4 lambda grows and f diverges. Exact (float64), no training.
    """
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal(n), rng.standard_normal(n)
    f, lam = float(u @ v / math.sqrt(n)), float((u @ u + v @ v) / n)
    lam0, lr = lam, c / lam
    fs, lams = [f], [lam]
    div_step = -1
    for t in range(steps):
        f, lam = f * (1 - lr * lam + lr**2 * f**2 / n), lam + (lr * f**2 / n) * (lr * lam - 4)
        if not (math.isfinite(f) and math.isfinite(lam)) or abs(f) > 1e6 * math.sqrt(n):
            div_step = t
            break
        fs.append(f)
        lams.append(lam)
    pad = steps + 1 - len(fs)
    f_arr = np.array(fs + [np.nan] * pad)
    lam_arr = np.array(lams + [np.nan] * pad)
    return UVResult(np.arange(steps + 1), f_arr, 0.5 * f_arr**2, lam_arr, lam0, lr, div_step >= 0, div_step)


# ---------------------------------------------------------------- the network
def _spec(cfg: Config) -> nets.MLP:
    return nets.MLP(D_IN, cfg.width, 1, 1, cfg.activation, "ntk", bias=False)


@functools.lru_cache(maxsize=16)
def _problem(static: Config):
    spec = _spec(static)
    ds = data.teacher_student(static.n_train, 1, d_in=D_IN, seed=0)
    x, y = jnp.asarray(ds.x_train), jnp.asarray(ds.y_train)
    _, unravel = ravel_pytree(nets.init(jax.random.PRNGKey(0), spec))

    def apply(w, xb):
        return nets.apply(unravel(w), xb, spec)

    def loss(w):
        return 0.5 * jnp.mean(jnp.sum((apply(w, x) - y) ** 2, axis=-1))

    def lam(w):  # top eigenvalue of the NTK Gram / m
        return kernels.top_eig(kernels.ntk_gram(apply, w, x)) / x.shape[0]

    def init(seed):
        return ravel_pytree(nets.init(jax.random.PRNGKey(seed), spec))[0]

    return loss, lam, init


def batched(cfg: Config) -> Callable[[dict], dict]:
    """Pure function of the traced fields (c, seed) -> loss and top NTK eigenvalue per step."""
    loss, lam, init = _problem(cfg.replace(c=1.0, seed=0))
    width = cfg.width

    def f(h):
        w = init(h["seed"])
        l0, lam0 = loss(w), lam(w)
        lr = h["c"] / lam0
        limit = SPIKE_LIMIT * width * jnp.maximum(l0, 1e-6)

        def step(carry, t):
            w, div, dstep = carry
            lv, g = jax.value_and_grad(loss)(w)
            lv_k = lam(w)
            bad = ~jnp.isfinite(lv) | (lv > limit)
            newly = ~div & bad
            div = div | bad
            w = jnp.where(div, w, w - lr * g)
            out = (jnp.where(div, jnp.nan, lv), jnp.where(div, jnp.nan, lv_k))
            return (w, div, jnp.where(newly, t, dstep)), out

        (w, div, dstep), (ls, ks) = jax.lax.scan(
            step, (w, jnp.asarray(False), jnp.asarray(-1, jnp.int32)), jnp.arange(cfg.steps)
        )
        lv, kv = loss(w), lam(w)
        bad = div | ~jnp.isfinite(lv) | (lv > limit)
        dstep = jnp.where(~div & bad, cfg.steps, dstep)
        return {
            "loss": jnp.concatenate([ls, jnp.where(bad, jnp.nan, lv)[None]]),
            "top_ntk_eig": jnp.concatenate([ks, jnp.where(bad, jnp.nan, kv)[None]]),
            "lambda0": lam0,
            "lr": lr,
            "diverged": bad,
            "diverged_step": dstep,
        }

    return f


def from_arrays(cfg: Config, out: dict) -> Result:
    return Result(
        np.arange(cfg.steps + 1),
        np.asarray(out["loss"], np.float64),
        np.asarray(out["top_ntk_eig"], np.float64),
        float(out["lambda0"]),
        float(out["lr"]),
        bool(out["diverged"]),
        int(out["diverged_step"]),
    )


@functools.lru_cache(maxsize=16)
def _compiled(static: Config):
    return jax.jit(batched(static))


def run(cfg: Config, progress: Callable[[float, Result], None] | None = None) -> Result:
    """Train the wide two-layer net at lr = c / lambda0 and track the NTK's top eigenvalue.

    What to look for: c < 2, the loss decays and lambda stays put (lazy); 2 < c < c_max, the
    loss first grows by orders of magnitude for ~log(width) steps while lambda falls below
    2/lr, then the loss converges (the catapult); larger c diverges. Returns a
    :class:`Result` with arrays over steps 0..steps (NaN after divergence).

    Reference: Lewkowycz et al. (2020) "The large learning rate phase of deep learning: the
    catapult mechanism".
    """
    f = _compiled(cfg.replace(c=1.0, seed=0))
    out = f({"c": jnp.asarray(cfg.c, jnp.float32), "seed": jnp.asarray(cfg.seed, jnp.int32)})
    res = from_arrays(cfg, jax.tree.map(np.asarray, out))
    if progress is not None:
        progress(1.0, res)
    return res


def summarize(r: Result) -> dict[str, float]:
    """final_lr_lambda: lr * final top NTK eigenvalue (< 2 once converged); NaN if diverged."""
    nan = float("nan")
    loss0 = float(r.loss[0])
    return {
        "final_lr_lambda": nan if r.diverged else float(r.lr * r.top_ntk_eig[-1]),
        "loss_spike": nan if r.diverged else float(np.nanmax(r.loss) / max(loss0, 1e-12)),
        "final_loss": nan if r.diverged else float(r.loss[-1]),
    }


DIAGRAMS = {
    "width x c": {
        "base": {"steps": 100},
        "x": ("width", [64, 128, 256, 512, 1024]),
        "y": ("c", [1.0, 1.5, 1.9, 2.2, 2.6, 3.0, 3.4, 3.8, 4.2, 5.0]),
    },
}
