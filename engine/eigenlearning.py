"""Eigenlearning: the test error of kernel ridge regression from the kernel's spectrum (THEORY.md section 4).

For kernel regression with n samples and ridge delta, f = K(x, X) (K(X, X) + delta I)^-1 y,
Simon et al. (2021, "The eigenlearning framework") predict, from the kernel's eigenvalues
lambda_i (w.r.t. the data distribution) and the target's coefficients v_i in its eigenbasis:
  kappa solves  sum_i lambda_i / (lambda_i + kappa) + delta / kappa = n,
  learnability  L_i = lambda_i / (lambda_i + kappa),
  e0 = n / (n - sum_i L_i^2),
  test MSE = e0 (sum_i (1 - L_i)^2 v_i^2 + noise^2).
Here the "distribution" is a finite pool (e.g. all 1,797 digits, uniform): the operator's
eigenvalues are those of K_pool / P, and the population error is measured on the whole pool.
Numpy + scipy only; a spectrum is computed once and every curve after it is instant.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq

from engine.config import ConfigBase, param


def single_blas_thread(fn):
    """Run ``fn`` with BLAS/LAPACK on one thread. On a shared CPU server (one computation per core
    already) oversubscribed OpenBLAS threads made these numpy panels ~20x slower (measured)."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            from threadpoolctl import threadpool_limits

            ctx = threadpool_limits(1)
        except ImportError:  # threadpoolctl comes with scikit-learn; without it, run as is
            ctx = contextlib.nullcontext()
        with ctx:
            return fn(*args, **kwargs)

    return wrapped


class Prediction(NamedTuple):
    """n (k,), kappa (k,), e0 (k,), test_mse (k,) summed over outputs (no 1/2);
    learnability (k, n_modes)."""

    n: np.ndarray
    kappa: np.ndarray
    e0: np.ndarray
    test_mse: np.ndarray
    learnability: np.ndarray


def solve_kappa(eigs: np.ndarray, n: float, ridge: float = 0.0) -> float:
    """The effective regularization kappa > 0 of n samples (ValueError if ridge = 0 and n >= rank)."""
    lam = np.asarray(eigs, np.float64)
    lam = lam[lam > 0]
    if ridge <= 0 and n >= lam.size:
        raise ValueError(f"ridgeless eigenlearning needs n < number of modes ({lam.size})")
    f = lambda lk: np.sum(lam / (lam + np.exp(lk))) + ridge / np.exp(lk) - n  # noqa: E731
    lo, hi = np.log(lam.min()) - 60.0, np.log(lam.max() + ridge + 1.0) + 60.0
    return float(np.exp(brentq(f, lo, hi, xtol=1e-13, rtol=1e-13, maxiter=500)))


def predict(eigs, coeffs2, n_values, ridge: float = 0.0, noise: float = 0.0) -> Prediction:
    """Eigenlearning prediction at each n in n_values.

    eigs (M,): kernel eigenvalues; coeffs2 (M,): squared target coefficients v_i^2 (summed
    over outputs for vector targets); ridge: delta; noise: label-noise std (per sum of outputs).
    """
    lam = np.asarray(eigs, np.float64)
    v2 = np.asarray(coeffs2, np.float64)
    ns = np.asarray(n_values, np.float64)
    kap, e0s, mse, learn = [], [], [], []
    for n in ns:
        k = solve_kappa(lam, n, ridge)
        L = lam / (lam + k)
        e0 = n / (n - np.sum(L**2))
        kap.append(k)
        e0s.append(e0)
        mse.append(e0 * (np.sum((1.0 - L) ** 2 * v2) + noise**2))
        learn.append(L)
    return Prediction(ns, np.array(kap), np.array(e0s), np.array(mse), np.array(learn))


def kernel_matrix(x: np.ndarray, kind: str = "rbf", bandwidth: float = 1.0, z: np.ndarray | None = None) -> np.ndarray:
    """K(x, z) for kind "rbf" exp(-|x-z|^2 / (2 s^2)) or "laplace" exp(-|x-z| / s), s = bandwidth."""
    z = x if z is None else z
    d2 = np.maximum(np.sum(x**2, 1)[:, None] + np.sum(z**2, 1)[None, :] - 2.0 * x @ z.T, 0.0)
    if kind == "rbf":
        return np.exp(-d2 / (2.0 * bandwidth**2))
    if kind == "laplace":
        return np.exp(-np.sqrt(d2) / bandwidth)
    raise ValueError(f"kind={kind!r}: choose 'rbf' or 'laplace'")


class Spectrum(NamedTuple):
    """eigs (P,) of K/P (descending); coeffs2 (P,) target power per mode (summed over outputs);
    K (P, P) the pool's kernel matrix; y (P, k) the pool's targets."""

    eigs: np.ndarray
    coeffs2: np.ndarray
    K: np.ndarray
    y: np.ndarray


@single_blas_thread
def spectrum(x: np.ndarray, y: np.ndarray, kind: str = "rbf", bandwidth: float = 1.0) -> Spectrum:
    """Eigen-decomposition of the kernel on a pool (uniform measure) and the target's coefficients.

    With K = U diag(mu) U^T on P points: eigenvalues lambda_i = mu_i / P, eigenfunctions
    sqrt(P) U_i, coefficients v_i = U_i . y / sqrt(P).
    """
    K = kernel_matrix(np.asarray(x, np.float64), kind, bandwidth)
    eigs, v2 = _eig(K, y)
    return Spectrum(eigs, v2, K, np.asarray(y, np.float64).reshape(K.shape[0], -1))


def _eig(K: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    P = K.shape[0]
    mu, U = np.linalg.eigh(K)
    order = np.argsort(mu)[::-1]
    mu, U = np.maximum(mu[order], 0.0), U[:, order]
    v2 = np.sum((U.T @ np.asarray(y, np.float64).reshape(P, -1)) ** 2, axis=1) / P
    return mu / P, v2


@single_blas_thread
def krr_test_mse(sp: Spectrum, n_values, ridge: float = 0.0, trials: int = 5, seed: int = 0) -> np.ndarray:
    """Actual kernel ridge regression: for each of ``trials`` random n-subsets of the pool, the
    population test MSE (summed over outputs, averaged over the whole pool). Returns (k, trials)."""
    rng = np.random.default_rng(seed)
    P = sp.K.shape[0]
    out = np.zeros((len(n_values), trials))
    for t in range(trials):
        perm = rng.permutation(P)
        for i, n in enumerate(np.asarray(n_values, int)):
            idx = perm[:n]
            Knn = sp.K[np.ix_(idx, idx)] + ridge * np.eye(n)
            coef = np.linalg.lstsq(Knn, sp.y[idx], rcond=None)[0] if ridge <= 0 else np.linalg.solve(Knn, sp.y[idx])
            pred = sp.K[:, idx] @ coef
            out[i, t] = np.mean(np.sum((pred - sp.y) ** 2, axis=1))
    return out


@functools.lru_cache(maxsize=8)
@single_blas_thread
def digits_spectrum(kind: str = "rbf", bandwidth_scale: float = 1.0) -> Spectrum:
    """Spectrum of a kernel on all 1,797 digits (pixels / 16, one-hot targets minus their mean).

    The bandwidth is bandwidth_scale times the median pairwise distance of the pool. The
    eigen-decomposition (seconds) is kept in the disk cache, so it is paid once per machine.
    """
    from sklearn.datasets import load_digits

    from engine import cache

    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    y = np.eye(10)[d.target]
    y = y - y.mean(0)
    sq = np.sum(x**2, 1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0))
    s = bandwidth_scale * float(np.median(dist[np.triu_indices_from(dist, 1)]))
    K = kernel_matrix(x, kind, s)
    key = cache.make_key("scaling.digits_spectrum", f"{kind}|{bandwidth_scale:.6g}")
    eigs, v2 = cache.memo(key, lambda: _eig(K, y))
    return Spectrum(eigs, v2, K, y)


# ------------------------------------------------------------------ the page's eigenlearning panel


@dataclass(frozen=True)
class EigenConfig(ConfigBase):
    LAB = "scaling.eigenlearning"
    kernel: str = param("rbf", choices=("rbf", "laplace"), help="kernel on the 64 pixels")
    bandwidth: float = param(1.0, lo=0.25, hi=4.0, log=True, help="kernel width, in units of the median distance")
    ridge: float = param(1e-3, lo=1e-6, hi=10.0, log=True, help="ridge delta added to K(X, X)")
    trials: int = param(4, lo=1, hi=20, help="random training sets per n for the actual regression")
    seed: int = param(0, lo=0, hi=2**31 - 1, help="draw of the training sets")


class EigenResult(NamedTuple):
    """n (k,) training-set sizes; actual (k, trials) kernel ridge regression test loss;
    n_fine (m,), predicted (m,) eigenlearning test loss; both loss = (1/2) MSE summed over the
    10 outputs; eigs (P,), coeffs2 (P,) the spectrum; kappa (m,); diverged: always False."""

    n: np.ndarray
    actual: np.ndarray
    n_fine: np.ndarray
    predicted: np.ndarray
    eigs: np.ndarray
    coeffs2: np.ndarray
    kappa: np.ndarray
    diverged: bool


@single_blas_thread
def digits_curves(cfg: EigenConfig) -> EigenResult:
    """Eigenlearning's test loss vs n on digits next to actual kernel ridge regression.

    The spectrum comes from all 1,797 digits (the pool is the population); n stays well below
    it (10 to 800). What it should look like: the prediction runs through the actual points,
    a power law in n over most of the range, bending where the ridge takes over.
    """
    sp = digits_spectrum(cfg.kernel, cfg.bandwidth)
    n = np.array([10, 20, 40, 80, 160, 320, 640])
    n_fine = np.unique(np.geomspace(10, 800, 40).astype(int)).astype(float)
    pred = predict(sp.eigs, sp.coeffs2, n_fine, ridge=cfg.ridge)
    actual = krr_test_mse(sp, n, ridge=cfg.ridge, trials=cfg.trials, seed=cfg.seed)
    return EigenResult(n, 0.5 * actual, n_fine, 0.5 * pred.test_mse, sp.eigs, sp.coeffs2, pred.kappa, False)
