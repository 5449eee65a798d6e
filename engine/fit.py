"""Power-law fits with bootstrap intervals (THEORY.md section 4).

- :func:`fit_power_law`: y = E + A x^-a (or A x^-a without the offset E).
- :func:`fit_chinchilla`: L(N, D) = E + A N^-a + B D^-b (Hoffmann et al. 2022), with the
  compute-optimal allocation N*(C), D*(C) under C = 6 N D.

Fits minimise squared residuals of log y (every decade of x weighs the same, as in
Hoffmann et al.), from several starting points, with E kept in [0, min y). Intervals are
percentile bootstraps over the data points (pairs resampled with replacement); resamples
whose fit fails are dropped and ``n_boot`` reports how many succeeded. Numpy + scipy only.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy.optimize import least_squares


class PowerLawFit(NamedTuple):
    """y = E + A x^-a. E, A, a: point estimates (E = 0 without offset); *_ci: (lo, hi)
    bootstrap percentile intervals; n_boot: successful bootstrap fits; samples: (n_boot, 3)
    bootstrap refits, columns E, A, a (for drawing bands)."""

    E: float
    A: float
    a: float
    a_ci: tuple[float, float]
    E_ci: tuple[float, float]
    A_ci: tuple[float, float]
    n_boot: int
    samples: np.ndarray | None = None

    def predict(self, x) -> np.ndarray:
        return self.E + self.A * np.asarray(x, np.float64) ** (-self.a)


class ChinchillaFit(NamedTuple):
    """L = E + A N^-a + B D^-b. intervals: name -> (lo, hi) for E, A, a, B, b; n_boot:
    successful bootstrap fits; samples: (n_boot, 5) bootstrap refits, columns E, A, a, B, b."""

    E: float
    A: float
    a: float
    B: float
    b: float
    intervals: dict
    n_boot: int
    samples: np.ndarray | None = None

    def predict(self, N, D) -> np.ndarray:
        N, D = np.asarray(N, np.float64), np.asarray(D, np.float64)
        return self.E + self.A * N ** (-self.a) + self.B * D ** (-self.b)

    def compute_optimal(self, C, flops_per_param_token: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
        """(N*, D*) minimising L subject to C = k N D (k = flops_per_param_token):
        N* = G (C/k)^(b/(a+b)), D* = (C/k) / N*, G = (a A / (b B))^(1/(a+b))."""
        ck = np.asarray(C, np.float64) / flops_per_param_token
        G = (self.a * self.A / (self.b * self.B)) ** (1.0 / (self.a + self.b))
        n_opt = G * ck ** (self.b / (self.a + self.b))
        return n_opt, ck / n_opt


def _check(*arrays) -> list[np.ndarray]:
    out = [np.asarray(a, np.float64).ravel() for a in arrays]
    n = out[0].size
    if any(a.size != n for a in out):
        raise ValueError("inputs must have the same number of points")
    if any(np.any(~np.isfinite(a)) or np.any(a <= 0) for a in out):
        raise ValueError("power-law fits need finite, positive x and y")
    return out


def _interval(samples: np.ndarray, ci: float) -> tuple[float, float]:
    if samples.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(samples, [50 * (1 - ci), 50 * (1 + ci)])
    return (float(lo), float(hi))


# ---------------------------------------------------------------- y = E + A x^-a


def _fit_loglinear(lx: np.ndarray, ly: np.ndarray) -> tuple[float, float]:
    """Least squares of log y = log A - a log x -> (log A, a)."""
    slope, intercept = np.polyfit(lx, ly, 1)
    return float(intercept), float(-slope)


def _fit_one_power(x: np.ndarray, y: np.ndarray, offset: bool, x0=None) -> np.ndarray:
    """(E, log A, a) minimising sum (log(E + A x^-a) - log y)^2; raises on failure."""
    lx, ly = np.log(x), np.log(y)
    if np.unique(x).size < (3 if offset else 2):
        raise ValueError("too few distinct x values")
    if not offset:
        logA, a = _fit_loglinear(lx, ly)
        return np.array([0.0, logA, a])
    ymin = float(y.min())

    def resid(t):
        E, logA, a = t
        return np.log(E + np.exp(logA - a * lx)) - ly

    starts = [] if x0 is None else [np.asarray(x0, np.float64)]
    if x0 is None:  # profile over E: a log-linear fit of y - E for each candidate
        for frac in (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99):
            E = frac * ymin
            logA, a = _fit_loglinear(lx, np.log(y - E))
            starts.append(np.array([E, logA, a]))
        starts.sort(key=lambda t: np.sum(resid(t) ** 2))
        starts = starts[:3]
    best = None
    lower, upper = [0.0, -np.inf, -10.0], [ymin * (1 - 1e-9), np.inf, 10.0]
    for s in starts:
        s = np.clip(s, [0.0, -1e6, -10.0], [ymin * (1 - 1e-6), 1e6, 10.0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = least_squares(resid, s, bounds=(lower, upper), method="trf", x_scale="jac")
        if np.all(np.isfinite(r.x)) and (best is None or r.cost < best.cost):
            best = r
    if best is None:
        raise RuntimeError("power-law fit failed")
    return best.x


def fit_power_law(x, y, *, offset: bool = True, n_boot: int = 200, ci: float = 0.95, seed: int = 0) -> PowerLawFit:
    """Fit y = E + A x^-a (E = 0 when ``offset=False``) with bootstrap intervals.

    Args:
      x, y: (n,) positive arrays (e.g. width or steps, and loss); n >= 3 (>= 2 without offset).
      offset: fit the irreducible term E (kept in [0, min y)).
      n_boot: bootstrap resamples of the (x, y) pairs; ci: interval mass (0.95).
      seed: resampling seed.

    Returns:
      :class:`PowerLawFit`; ``fit.predict(x)`` evaluates the fitted curve.
    """
    x, y = _check(x, y)
    E, logA, a = _fit_one_power(x, y, offset)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, x.size, x.size)
        try:
            boots.append(_fit_one_power(x[idx], y[idx], offset, x0=None if not offset else (E, logA, a)))
        except (ValueError, RuntimeError, np.linalg.LinAlgError):
            continue
    boots = np.array(boots).reshape(-1, 3)
    samples = np.stack([boots[:, 0], np.exp(boots[:, 1]), boots[:, 2]], axis=1)
    return PowerLawFit(
        E=float(E),
        A=float(np.exp(logA)),
        a=float(a),
        a_ci=_interval(boots[:, 2], ci),
        E_ci=_interval(boots[:, 0], ci),
        A_ci=_interval(samples[:, 1], ci),
        n_boot=len(boots),
        samples=samples,
    )


# ---------------------------------------------------------------- L = E + A N^-a + B D^-b


def _fit_one_chinchilla(lN: np.ndarray, lD: np.ndarray, L: np.ndarray, x0=None) -> np.ndarray:
    """(E, log A, a, log B, b) minimising squared log residuals; raises on failure."""
    lL = np.log(L)
    if np.unique(lN).size < 2 or np.unique(lD).size < 2 or lN.size < 5:
        raise ValueError("too few distinct points")
    Lmin = float(L.min())

    def resid(t):
        E, logA, a, logB, b = t
        return np.log(E + np.exp(logA - a * lN) + np.exp(logB - b * lD)) - lL

    if x0 is not None:
        starts = [np.asarray(x0, np.float64)]
    else:  # grid of exponents and offsets; A, B chosen so each term starts at ~(L - E)/2
        starts = []
        for a in (0.2, 0.5, 1.0):
            for b in (0.2, 0.5, 1.0):
                for frac in (0.0, 0.5, 0.9):
                    E = frac * Lmin
                    half = np.log(max(np.median(L) - E, 1e-12) / 2)
                    starts.append(np.array([E, half + a * np.median(lN), a, half + b * np.median(lD), b]))
        starts.sort(key=lambda t: np.sum(resid(t) ** 2))
        starts = starts[:6]
    lower = [0.0, -np.inf, 0.0, -np.inf, 0.0]
    upper = [Lmin * (1 - 1e-9), np.inf, 5.0, np.inf, 5.0]
    best = None
    for s in starts:
        s = np.clip(s, [0.0, -1e6, 1e-6, -1e6, 1e-6], [Lmin * (1 - 1e-6), 1e6, 5.0 - 1e-6, 1e6, 5.0 - 1e-6])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = least_squares(resid, s, bounds=(lower, upper), method="trf", x_scale="jac")
        if np.all(np.isfinite(r.x)) and (best is None or r.cost < best.cost):
            best = r
    if best is None:
        raise RuntimeError("Chinchilla fit failed")
    return best.x


def fit_chinchilla(N, D, L, *, n_boot: int = 200, ci: float = 0.95, seed: int = 0) -> ChinchillaFit:
    """Fit L(N, D) = E + A N^-a + B D^-b (Hoffmann et al. 2022, approach 3) with bootstrap intervals.

    Args:
      N, D, L: (n,) positive arrays: parameters, training tokens (or examples), final loss;
        both N and D must vary (a grid or IsoFLOP curves), n >= 5.
      n_boot, ci, seed: as in :func:`fit_power_law`.

    Returns:
      :class:`ChinchillaFit` with ``predict(N, D)`` and ``compute_optimal(C)``.
    """
    N, D, L = _check(N, D, L)
    lN, lD = np.log(N), np.log(D)
    best = _fit_one_chinchilla(lN, lD, L)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, N.size, N.size)
        try:
            boots.append(_fit_one_chinchilla(lN[idx], lD[idx], L[idx], x0=best))
        except (ValueError, RuntimeError, np.linalg.LinAlgError):
            continue
    boots = np.array(boots).reshape(-1, 5)
    cols = {"E": boots[:, 0], "A": np.exp(boots[:, 1]), "a": boots[:, 2], "B": np.exp(boots[:, 3]), "b": boots[:, 4]}
    E, logA, a, logB, b = best
    return ChinchillaFit(
        E=float(E),
        A=float(np.exp(logA)),
        a=float(a),
        B=float(np.exp(logB)),
        b=float(b),
        intervals={k: _interval(v, ci) for k, v in cols.items()},
        n_boot=len(boots),
        samples=np.stack(list(cols.values()), axis=1),
    )
