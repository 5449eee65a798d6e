"""Diagonal linear networks: the initialization scale picks the implicit bias (Woodworth et al. 2020).

The model f(x) = <u*u - v*v, x> (beta = u^2 - v^2, elementwise) starts at u = v = alpha 1
(so beta = 0) and is trained by full-batch GD on L = (1/2n) sum_i (f(x_i) - y_i)^2 for an
underdetermined sparse regression (n < d, beta* k-sparse). Gradient flow converges to the
interpolator minimizing

    Q_alpha(beta) = alpha^2 sum_i q(beta_i / alpha^2),  q(z) = 2 - sqrt(4 + z^2) + z arcsinh(z / 2),

which tends to the minimum-L1 interpolator as alpha -> 0 (rich: sparse recovery) and to the
minimum-L2 one (the pseudoinverse) as alpha -> infinity (lazy: a kernel method). Under the
flow u_i v_i = alpha^2 is conserved; one GD step multiplies it by exactly 1 - 4 lr^2 g_i^2
(g = X^T r / n), so small steps stay on the gradient-flow path (large steps shift the bias:
Even et al. 2023). ``implicit_bias_beta`` is computed independently from the dual problem
beta = 2 alpha^2 sinh(X^T mu), mu = argmin sum_i 2 alpha^2 cosh((X^T mu)_i) - mu.y (scipy),
min-L1 by a linear program and min-L2 by the pseudoinverse.

Test error = E_x (x.beta - x.beta*)^2 = ||beta - beta*||^2 (x ~ N(0, I)): the noiseless
population risk. References: Woodworth et al. 2020 (arXiv 2002.09277); Even, Pesme,
Gunasekar & Flammarion 2023 (arXiv 2302.08982).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from engine import data, train
from engine.config import ConfigBase, ConfigError, param

LAB = "diagonal"
N_RECORDS = 60  # recorded points of the training curves (log spaced)


@dataclass(frozen=True)
class Config(ConfigBase):
    LAB = LAB
    d: int = param(100, lo=2, hi=1000, help="input dimension (number of coefficients)")
    n: int = param(40, lo=1, hi=1000, help="training examples (n < d: many interpolators)")
    k: int = param(5, lo=1, hi=1000, help="nonzero entries of the teacher beta* (each +-1)")
    alpha: float = param(0.05, lo=1e-4, hi=100.0, log=True, traced=True, help="initialization scale u = v = alpha")
    noise: float = param(0.0, lo=0.0, hi=2.0, help="label noise std on the training set")
    c: float = param(
        0.25,
        lo=0.001,
        hi=2.0,
        log=True,
        traced=True,
        help="step size in units of 1/curvature at the solution (small: gradient flow)",
    )
    steps: int = param(100_000, lo=1, hi=500_000, help="full-batch GD steps (small alpha needs many)")
    seed: int = param(0, lo=0, hi=2**31 - 1, help="seed of the data and of beta*")

    def validate(self) -> None:
        if self.k > self.d:
            raise ConfigError(f"k={self.k} nonzero entries do not fit in d={self.d}")

    def cost_flops(self) -> float:
        return 8.0 * self.steps * self.n * self.d


class Result(NamedTuple):
    """One trained diagonal network and the reference solutions (d = input dimension, T records).

    beta (d,): trained u^2 - v^2; beta_star (d,): the teacher; implicit_bias_beta (d,): the
    Q_alpha interpolator (gradient-flow prediction); beta_l1 (d,), beta_l2 (d,): min-L1 and
    min-L2 interpolators. test_error, implicit_bias_error, l1_error, l2_error: float,
    ||. - beta*||^2 of each. steps (T,) int; train_loss (T,); uv_drift: float, max_i
    |u_i v_i - alpha^2| / alpha^2 at the end (0 under gradient flow). lr: float, the step
    used. diverged: bool; diverged_step: int (-1 if none).
    """

    beta: np.ndarray
    beta_star: np.ndarray
    implicit_bias_beta: np.ndarray
    beta_l1: np.ndarray
    beta_l2: np.ndarray
    test_error: float
    implicit_bias_error: float
    l1_error: float
    l2_error: float
    steps: np.ndarray
    train_loss: np.ndarray
    uv_drift: float
    lr: float
    diverged: bool
    diverged_step: int


class Curve(NamedTuple):
    """Test error against alpha (A values): alphas (A,); test_error, implicit_bias_error,
    train_loss (final), uv_drift (A,); diverged (A,) bool; l1_error, l2_error: float;
    theory_alphas (F,), theory_error (F,): the Q_alpha interpolator's error on a finer grid."""

    alphas: np.ndarray
    test_error: np.ndarray
    implicit_bias_error: np.ndarray
    train_loss: np.ndarray
    uv_drift: np.ndarray
    diverged: np.ndarray
    l1_error: float
    l2_error: float
    theory_alphas: np.ndarray
    theory_error: np.ndarray


PRESETS = {
    "sparse recovery (small alpha)": {"alpha": 0.003},
    "min-norm (large alpha)": {"alpha": 10.0},
}
CALLS = ("alpha_curve",)


def q(z: np.ndarray) -> np.ndarray:
    """The Woodworth potential q(z) = 2 - sqrt(4 + z^2) + z arcsinh(z / 2)."""
    z = np.asarray(z, np.float64)
    return 2.0 - np.sqrt(4.0 + z**2) + z * np.arcsinh(z / 2.0)


def q_alpha(beta: np.ndarray, alpha: float) -> float:
    """Q_alpha(beta) = alpha^2 sum_i q(beta_i / alpha^2)."""
    return float(alpha**2 * np.sum(q(np.asarray(beta, np.float64) / alpha**2)))


@functools.lru_cache(maxsize=16)
def _problem(d: int, n: int, k: int, noise: float, seed: int):
    ds, beta = data.sparse_regression(n_train=n, n_test=1, d=d, k=k, noise=noise, seed=seed)
    return ds.x_train.astype(np.float64), ds.y_train[:, 0].astype(np.float64), beta.astype(np.float64)


def _lam_max(x: np.ndarray) -> float:
    return float(np.linalg.eigvalsh(x @ x.T / x.shape[0])[-1])


@functools.lru_cache(maxsize=16)
def min_l1(d: int, n: int, k: int, noise: float, seed: int) -> np.ndarray:
    """argmin ||beta||_1 s.t. X beta = y, by a linear program (beta = p - q, p, q >= 0)."""
    x, y, _ = _problem(d, n, k, noise, seed)
    res = scipy.optimize.linprog(
        np.ones(2 * d), A_eq=np.hstack([x, -x]), b_eq=y, bounds=[(0, None)] * (2 * d), method="highs"
    )
    if not res.success:
        raise RuntimeError(f"linear program failed: {res.message}")
    return res.x[:d] - res.x[d:]


def min_l2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """argmin ||beta||_2 s.t. X beta = y: the pseudoinverse solution."""
    return np.linalg.pinv(x) @ y


def implicit_bias(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """argmin Q_alpha(beta) s.t. X beta = y, through the dual (THEORY.md section 2).

    beta = 2 alpha^2 sinh(X^T mu) with mu minimizing phi(mu) = sum_i 2 alpha^2 cosh((X^T mu)_i) - mu.y,
    a smooth convex problem in n variables, solved by scipy's trust-region Newton method.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    a2 = 2.0 * alpha**2

    def fun(mu):
        z = x.T @ mu
        return a2 * np.sum(np.cosh(z)) - mu @ y, x @ (a2 * np.sinh(z)) - y

    def hess(mu):
        z = x.T @ mu
        return (x * (a2 * np.cosh(z))) @ x.T

    res = scipy.optimize.minimize(
        fun, np.zeros(x.shape[0]), jac=True, hess=hess, method="trust-exact", options={"gtol": 1e-10, "maxiter": 2000}
    )
    mu = res.x
    for _ in range(3):  # Newton polish: the constraint X beta = y to rounding error
        step = np.linalg.lstsq(hess(mu), fun(mu)[1], rcond=None)[0]
        if not np.all(np.isfinite(step)):
            break
        mu = mu - step
    return a2 * np.sinh(x.T @ mu)


def _lr(cfg_c, alpha, lam: float, scale: float):
    """c / (4 lambda_max(X X^T / n) (B + 2 alpha^2)): u^2 + v^2 <= |beta| + 2 alpha^2 bounds the curvature."""
    return cfg_c / (4.0 * lam * (scale + 2.0 * alpha**2))


def _record(cfg: Config) -> np.ndarray:
    return train.record_steps(cfg.steps, N_RECORDS, spacing="log")


def batched(cfg: Config) -> Callable[[dict], dict]:
    """Pure function of the traced fields (alpha, c) for cfg's static fields."""
    x64, y64, _ = _problem(cfg.d, cfg.n, cfg.k, cfg.noise, cfg.seed)
    x, y = jnp.asarray(x64, jnp.float32), jnp.asarray(y64[:, None], jnp.float32)
    lam = _lam_max(x64)
    scale = max(1.0, float(np.max(np.abs(min_l1(cfg.d, cfg.n, cfg.k, cfg.noise, cfg.seed)))))
    rec = _record(cfg)

    def loss_fn(p, a, b):
        return 0.5 * jnp.mean((a @ (p["u"] ** 2 - p["v"] ** 2) - b[:, 0]) ** 2)

    def f(h):
        alpha = h["alpha"]
        p0 = {"u": jnp.full((cfg.d,), alpha, jnp.float32), "v": jnp.full((cfg.d,), alpha, jnp.float32)}
        lr = _lr(h["c"], alpha, lam, scale)
        out = train.train_pure(loss_fn, p0, train.make_optimizer("gd", lr), x, y, steps=cfg.steps)
        p = out["params"]
        return {
            "beta": p["u"] ** 2 - p["v"] ** 2,
            "loss": out["loss"][rec],
            "uv": jnp.max(jnp.abs(p["u"] * p["v"] - alpha**2)) / alpha**2,
            "lr": lr,
            "diverged": out["diverged"],
            "diverged_step": out["diverged_step"],
        }

    return f


def from_arrays(cfg: Config, out: dict) -> Result:
    """The Result of one setting from ``batched(cfg)``'s output, with the reference solutions."""
    x, y, beta_star = _problem(cfg.d, cfg.n, cfg.k, cfg.noise, cfg.seed)
    b1 = min_l1(cfg.d, cfg.n, cfg.k, cfg.noise, cfg.seed)
    b2 = min_l2(x, y)
    bq = implicit_bias(x, y, cfg.alpha)
    beta = np.asarray(out["beta"], np.float64)
    div = bool(out["diverged"])

    def err(b):
        return float(np.sum((b - beta_star) ** 2))

    return Result(
        beta=beta,
        beta_star=beta_star,
        implicit_bias_beta=bq,
        beta_l1=b1,
        beta_l2=b2,
        test_error=float("nan") if div else err(beta),
        implicit_bias_error=err(bq),
        l1_error=err(b1),
        l2_error=err(b2),
        steps=_record(cfg),
        train_loss=np.asarray(out["loss"], np.float64),
        uv_drift=float(out["uv"]),
        lr=float(out["lr"]),
        diverged=div,
        diverged_step=int(out["diverged_step"]) if div else -1,
    )


_JIT: dict = {}


def _compiled(cfg: Config, batch: bool):
    key = (repr(sorted((k, v) for k, v in cfg.to_dict().items() if k not in ("alpha", "c"))), batch)
    if key not in _JIT:
        if len(_JIT) > 8:
            _JIT.clear()
        f = batched(cfg)
        _JIT[key] = jax.jit(jax.vmap(f) if batch else f)
    return _JIT[key]


def _hyper(alpha, c) -> dict:
    return {"alpha": np.asarray(alpha, np.float32), "c": np.asarray(c, np.float32)}


def run(cfg: Config, progress: Callable[[float, Result], None] | None = None) -> Result:
    """Train the diagonal network u, v from u = v = alpha by small-step GD; compare with theory.

    What it should look like: for small alpha the trained beta is sparse and close to the
    min-L1 interpolator (recovering beta* when n is large enough for the k-sparse vector);
    for large alpha it is the dense pseudoinverse solution; at every alpha it sits on the
    Q_alpha interpolator (``implicit_bias_beta``) when the steps are small.

    Args: cfg (:class:`Config`); progress(fraction, partial) is called once at the end.
    Returns: :class:`Result` (shapes in its docstring); divergence is reported, not raised.
    """
    out = jax.tree.map(np.asarray, _compiled(cfg, False)(_hyper(cfg.alpha, cfg.c)))
    res = from_arrays(cfg, out)
    if progress is not None:
        progress(1.0, res)
    return res


def default_alphas() -> np.ndarray:
    """The alphas of the test-error-vs-alpha curve: 1e-3 .. 10, five per decade (1-2-3-5-7)."""
    return np.array([float(f"{m * 10.0**e:.6g}") for e in range(-3, 1) for m in (1, 2, 3, 5, 7)] + [10.0])


def alpha_curve(
    cfg: Config, alphas: np.ndarray | None = None, progress: Callable[[float, Curve], None] | None = None
) -> Curve:
    """Test error of the trained network and of the Q_alpha interpolator for many alphas.

    All alphas train in one vectorized program. Should show: test error rising from the
    min-L1 level (small alpha) to the min-L2 level (large alpha), trained points on the
    Q_alpha curve. Returns :class:`Curve`.
    """
    alphas = default_alphas() if alphas is None else np.asarray(alphas, float)
    out = jax.tree.map(np.asarray, _compiled(cfg, True)(_hyper(alphas, np.full(len(alphas), cfg.c))))
    rows = [
        from_arrays(cfg.replace(alpha=float(a)), jax.tree.map(lambda v, i=i: v[i], out)) for i, a in enumerate(alphas)
    ]
    x, y, beta_star = _problem(cfg.d, cfg.n, cfg.k, cfg.noise, cfg.seed)
    fine = np.logspace(np.log10(alphas.min()), np.log10(alphas.max()), 4 * len(alphas) + 1)
    fine_err = np.array([np.sum((implicit_bias(x, y, a) - beta_star) ** 2) for a in fine])
    res = Curve(
        alphas=np.asarray(alphas, float),
        test_error=np.array([r.test_error for r in rows]),
        implicit_bias_error=np.array([r.implicit_bias_error for r in rows]),
        train_loss=np.array([r.train_loss[-1] for r in rows]),
        uv_drift=np.array([r.uv_drift for r in rows]),
        diverged=np.array([r.diverged for r in rows]),
        l1_error=rows[0].l1_error,
        l2_error=rows[0].l2_error,
        theory_alphas=fine,
        theory_error=fine_err,
    )
    if progress is not None:
        progress(1.0, res)
    return res


def summarize(r: Result) -> dict[str, float]:
    """Scalars for sweeps (first: test error)."""
    return {
        "test_error": r.test_error,
        "implicit_bias_error": r.implicit_bias_error,
        "distance_to_implicit_bias": float(np.sum((r.beta - r.implicit_bias_beta) ** 2)),
        "train_loss": float(r.train_loss[-1]),
        "uv_drift": r.uv_drift,
    }
