"""Power-law random features: the solvable model behind scaling laws (THEORY.md section 4).

Latent data x in R^M with x ~ N(0, diag(lambda)), lambda_k = k^-b (b = spectrum exponent);
target y = x . w* with target power lambda_k w*_k^2 = k^-(1 + b r) (r = target exponent).
Write x = Lambda^(1/2) z with z ~ N(0, I); the target is then z . u with u_k^2 = k^-(1+br).
A model with N random features phi = F x (F Gaussian, N x M) predicts phi . v = z . (G^T v),
G = F Lambda^(1/2), so its population loss is L(v) = (1/2) ||G^T v - u||^2. Everything here
is exact linear algebra in numpy (float64): no sampling noise except the draw of F (and of
the D examples for the data-limited branch).

Predictions (Maloney, Roberts, Sully 2022; Bordelon, Atanasov, Pehlevan 2024; Bach 2023):
- infinite data and time, N random features: L(N) ~ N^-(b min(r, 1)) (top-N eigenfeatures
  instead: N^-(b r)); the deterministic equivalent below gives the whole curve;
- gradient flow, infinite N and data: L(t) ~ t^-r;
- infinite N, D examples, ridgeless: L(D) ~ D^-(b min(r, 2)) (eigenlearning).
Near r = 1 logarithmic corrections bias fitted exponents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq
from scipy.special import zeta

from engine import eigenlearning
from engine.config import ConfigBase, param
from engine.eigenlearning import single_blas_thread


def _spectrum(n_latent: int, b: float, r: float) -> tuple[np.ndarray, np.ndarray]:
    """(lambda_k, u_k^2) for k = 1..n_latent."""
    k = np.arange(1, n_latent + 1, dtype=np.float64)
    return k**-b, k ** -(1.0 + b * r)


def _tail(n_latent: int, b: float, r: float) -> float:
    """(1/2) sum_{k > n_latent} k^-(1+br): target power beyond the modelled latent directions,
    which N << n_latent features cannot learn; added to every loss so a finite n_latent
    mimics an infinite latent space."""
    return 0.5 * float(zeta(1.0 + b * r, n_latent + 1))


def _features(n: int, n_latent: int, seed: int) -> np.ndarray:
    """Gaussian projection F (n x n_latent), entries N(0, 1/n) so that F^T F -> I as n grows."""
    return np.random.default_rng(seed).standard_normal((n, n_latent)) / np.sqrt(n)


@single_blas_thread
def rf_losses(
    sizes, spectrum_exponent: float, target_exponent: float, n_latent: int = 4096, seed: int = 0, draws: int = 1
) -> np.ndarray:
    """Population losses of N random features with the population-optimal readout, for N in sizes.

    The optimal readout projects u onto the row space of G = F Lambda^(1/2): L(N) =
    (1/2) (||u||^2 - ||P_N u||^2). Features are nested (the first N rows of one F), so one
    QR decomposition of G^T gives every N at once; ``draws`` > 1 averages over independent
    F (seeds seed, seed+1, ...). Returns (len(sizes),) losses. Keep max(sizes) well below
    n_latent (e.g. a quarter) so the latent tail stays infinite-like.
    """
    sizes = np.asarray(sizes, int)
    if sizes.min() < 1 or sizes.max() > n_latent:
        raise ValueError(f"sizes must lie in [1, n_latent={n_latent}]")
    lam, u2 = _spectrum(n_latent, spectrum_exponent, target_exponent)
    out = np.zeros(len(sizes))
    for s in range(draws):
        G = _features(int(sizes.max()), n_latent, seed + s) * np.sqrt(lam)[None, :]
        q, _ = np.linalg.qr(G.T)  # (M, N_max); first N columns span the first N features
        captured = np.cumsum((q.T @ np.sqrt(u2)) ** 2)
        out += 0.5 * np.maximum(u2.sum() - captured[sizes - 1], 0.0) / draws
    return out + _tail(n_latent, spectrum_exponent, target_exponent)


def _kappa_features(lam: np.ndarray, n: float) -> float:
    """kappa with sum_k lambda_k / (lambda_k + kappa) = n (deterministic equivalent of a projection)."""
    f = lambda lk: np.sum(lam / (lam + np.exp(lk))) - n  # noqa: E731
    return float(np.exp(brentq(f, np.log(lam.min()) - 40.0, np.log(lam.max()) + 40.0, xtol=1e-12)))


def rf_theory(
    sizes,
    spectrum_exponent: float,
    target_exponent: float,
    n_latent: int = 4096,
    *,
    branch: str = "N",
) -> np.ndarray:
    """The matching theory curve at each value in ``sizes`` (returns (len(sizes),) losses).

    branch "N": random features, infinite data and time. The projection onto N Gaussian
      features behaves like Lambda (Lambda + kappa)^-1 with sum_k lambda_k/(lambda_k+kappa) = N,
      so L(N) = (1/2) sum_k u_k^2 kappa / (lambda_k + kappa) ~ N^-(b min(r,1)).
    branch "t": gradient flow on the population loss with infinitely many features, at
      times t = sizes: L(t) = (1/2) sum_k u_k^2 exp(-2 lambda_k t) ~ t^-r.
    branch "D": infinitely many features, D = sizes examples, ridgeless regression:
      the eigenlearning prediction (1/2) e0 sum_k (1 - L_k)^2 u_k^2 ~ D^-(b min(r, 2)).
    """
    lam, u2 = _spectrum(n_latent, spectrum_exponent, target_exponent)
    x = np.asarray(sizes, np.float64)
    tail = _tail(n_latent, spectrum_exponent, target_exponent)
    if branch == "N":
        return tail + np.array([0.5 * np.sum(u2 * (k := _kappa_features(lam, n)) / (lam + k)) for n in x])
    if branch == "t":
        return tail + 0.5 * np.exp(-2.0 * np.outer(x, lam)) @ u2
    if branch == "D":  # v_k = u_k in the linear kernel's eigenbasis
        return tail + 0.5 * eigenlearning.predict(lam, u2, x, ridge=0.0).test_mse
    raise ValueError(f"branch={branch!r}: choose 'N', 't' or 'D'")


def rf_exponents(spectrum_exponent: float, target_exponent: float) -> dict[str, float]:
    """Predicted exponents: N (random features), N_top (top-N eigenfeatures), t, D."""
    b, r = spectrum_exponent, target_exponent
    return {"N": b * min(r, 1.0), "N_top": b * r, "t": r, "D": b * min(r, 2.0)}


@single_blas_thread
def rf_time_losses(
    n_features: int, times, spectrum_exponent: float, target_exponent: float, n_latent: int = 4096, seed: int = 0
) -> np.ndarray:
    """Population loss of gradient flow on the readout of N random features (v(0) = 0), exactly.

    With G = P S Q^T (SVD), the prediction's component along Q_i relaxes as 1 - exp(-s_i^2 t):
    L(t) = (1/2) [||u||^2 - ||Q^T u||^2 + sum_i (Q_i . u)^2 exp(-2 s_i^2 t)]. Follows the
    infinite-width curve t^-r, then levels off at L(N). Returns (len(times),) losses.
    """
    lam, u2 = _spectrum(n_latent, spectrum_exponent, target_exponent)
    G = _features(n_features, n_latent, seed) * np.sqrt(lam)[None, :]
    _, s, qt = np.linalg.svd(G, full_matrices=False)
    c2 = (qt @ np.sqrt(u2)) ** 2
    t = np.asarray(times, np.float64)
    loss = 0.5 * (u2.sum() - c2.sum() + np.exp(-2.0 * np.outer(t, s**2)) @ c2)
    return loss + _tail(n_latent, spectrum_exponent, target_exponent)


@single_blas_thread
def rf_data_losses(
    sizes, spectrum_exponent: float, target_exponent: float, n_latent: int = 2048, seed: int = 0, trials: int = 4
) -> np.ndarray:
    """Population loss of ridgeless (minimum-norm) regression on all latent features from D examples.

    The infinite-width, infinite-time, data-limited branch; averaged over ``trials`` draws of
    the examples. Returns (len(sizes),) losses; keep D well below n_latent.
    """
    lam, u2 = _spectrum(n_latent, spectrum_exponent, target_exponent)
    u = np.sqrt(u2)
    rng = np.random.default_rng(seed)
    out = np.zeros(len(sizes))
    for _ in range(trials):
        z = rng.standard_normal((int(max(sizes)), n_latent))
        for i, n in enumerate(np.asarray(sizes, int)):
            x = z[:n] * np.sqrt(lam)  # examples in latent coordinates
            w_hat = np.linalg.lstsq(x, z[:n] @ u, rcond=None)[0]  # minimum-norm interpolant
            out[i] += 0.5 * np.sum((np.sqrt(lam) * w_hat - u) ** 2) / trials
    return out + _tail(n_latent, spectrum_exponent, target_exponent)


# ------------------------------------------------------------------ compute-optimal phases

PHASES = ("Ia", "Ib", "Ic", "II", "III", "IV", "none")


def paquette_phase(spectrum_exponent, target_exponent) -> dict:
    """Phase of Paquette et al. (2024) "4+3 phases" at (b, r) (arrays broadcast).

    Mapping (THEORY.md): b = 2 alpha, r = (2 alpha + 2 beta - 1) / (2 alpha), i.e.
    alpha = b / 2, beta = (b (r - 1) + 1) / 2. Their one-pass SGD loss is a sum of four terms
    in the parameter count d and steps s (compute f = d s):
      F_pp ~ s^-r (optimization of the target), F_0 ~ d^-(b min(r,1)) (capacity),
      F_ac ~ d^-1 s^-(1 - 1/b) (feature-embedding correction, when 2 beta > 1),
      K_pp ~ s^-(2 - 1/b) (SGD noise).
    Above the high-dimensional line (b > 1): Ia (r < 1) balances F_pp against F_0, so
    d* ~ f^(1/(1+b)); II (1 < r < 2 - 1/b) balances F_pp against F_ac, d* ~ f^(beta/(alpha+beta));
    III (r > 2 - 1/b, i.e. beta > alpha) balances F_ac against the SGD noise K_pp, d* ~ f^(1/2).
    Below it (b < 1) the paper has Ib (r < 1), Ic (b < 1/2, r > 1) and IVa/IVb (1/2 < b < 1,
    r > 1; SGD noise limits); their exponents need the learning-rate scaling with d there,
    not given by this sketch (xi, eta NaN). r <= 0: the target has infinite power (no phase).

    Returns dict with "phase" (array of names), "xi" (N* ~ C^xi), "eta" (L* ~ C^-eta),
    "limits" (the two balanced terms), "alpha", "beta".
    """
    b = np.asarray(spectrum_exponent, np.float64)
    r = np.asarray(target_exponent, np.float64)
    b, r = np.broadcast_arrays(b, r)
    alpha, beta = b / 2.0, (b * (r - 1.0) + 1.0) / 2.0
    phase = np.full(b.shape, "none", dtype=object)
    xi = np.full(b.shape, np.nan)
    eta = np.full(b.shape, np.nan)
    limits = np.full(b.shape, "", dtype=object)
    high = b > 1.0
    ia = high & (r > 0) & (r < 1)
    ii = high & (r >= 1) & (r < 2.0 - 1.0 / b)
    iii = high & (r >= 2.0 - 1.0 / b)
    phase[ia], phase[ii], phase[iii] = "Ia", "II", "III"
    phase[~high & (r > 0) & (r < 1)] = "Ib"
    phase[~high & (b <= 0.5) & (r >= 1)] = "Ic"
    phase[~high & (b > 0.5) & (r >= 1)] = "IV"
    with np.errstate(all="ignore"):
        xi = np.where(ia, 1.0 / (1.0 + b), xi)
        eta = np.where(ia, b * r / (1.0 + b), eta)
        xi = np.where(ii, beta / (alpha + beta), xi)
        eta = np.where(ii, b * r / (b * r + 1.0), eta)
        xi = np.where(iii, 0.5, xi)
        eta = np.where(iii, 1.0 - 1.0 / (2.0 * b), eta)
    limits[ia] = "optimization F_pp vs capacity F_0"
    limits[ii] = "optimization F_pp vs embedding F_ac"
    limits[iii] = "embedding F_ac vs SGD noise K_pp"
    limits[phase == "Ib"] = "optimization F_pp vs capacity F_0"
    limits[phase == "Ic"] = "optimization F_pp vs capacity F_0"
    limits[phase == "IV"] = "SGD noise K_pp with capacity F_0 (IVa / IVb)"
    return {"phase": phase, "xi": xi, "eta": eta, "limits": limits, "alpha": alpha, "beta": beta}


def compute_optimal_terms(spectrum_exponent: float, target_exponent: float, flops) -> dict:
    """Numerical check of :func:`paquette_phase`: minimise the four-term loss (unit constants)
    over d at each compute f = d s. Returns d_opt, loss_opt and each term at the optimum."""
    b, r = spectrum_exponent, target_exponent
    out = {"d_opt": [], "loss_opt": [], "F_pp": [], "F_ac": [], "F_0": [], "K_pp": []}
    for f in np.asarray(flops, np.float64):
        d = np.logspace(0, np.log10(f), 2000)
        s = f / d
        terms = _terms(b, r, d, s)
        i = int(np.argmin(sum(terms.values())))
        out["d_opt"].append(d[i])
        out["loss_opt"].append(sum(v[i] for v in terms.values()))
        for k, v in terms.items():
            out[k].append(v[i])
    return {k: np.asarray(v) for k, v in out.items()}


def _terms(b: float, r: float, d: np.ndarray, s: np.ndarray) -> dict:
    alpha, beta = b / 2.0, (b * (r - 1.0) + 1.0) / 2.0
    return {
        "F_pp": s**-r,
        "F_ac": (d**-1.0) * s ** (-1.0 + 1.0 / b) if 2 * beta > 1 else 0.0 * d,
        "F_0": d ** -(b * min(r, 1.0)),
        "K_pp": s ** (-2.0 + 1.0 / b) if alpha > 0.25 else 0.0 * d,
    }


# ------------------------------------------------------------------ the page's solvable-theory panel


@dataclass(frozen=True)
class TheoryConfig(ConfigBase):
    LAB = "scaling.theory"
    b: float = param(1.5, lo=1.05, hi=3.0, help="spectrum exponent b: feature variances k^-b")
    r: float = param(0.5, lo=0.1, hi=2.5, help="target exponent r: target power k^-(1 + b r)")
    n_latent: int = param(2048, lo=256, hi=8192, help="latent directions simulated (the rest added as a constant)")
    seed: int = param(0, lo=0, hi=2**31 - 1, help="draw of the random features and the examples")


class TheoryResult(NamedTuple):
    """sizes (nN,) feature counts; loss_n (nN,) simulated, loss_n_theory (nN,), loss_n_top (nN,)
    top-N eigenfeatures; times (nT,); time_features (3,) feature counts; loss_t (3, nT) simulated
    gradient flow; loss_t_theory (nT,) infinitely many features; samples (nD,); loss_d (nD,)
    simulated ridgeless regression; loss_d_theory (nD,); predicted, fitted (3,) exponents of
    L(N), L(t), L(D); fitted_ci (3, 2); diverged: always False (exact solutions)."""

    sizes: np.ndarray
    loss_n: np.ndarray
    loss_n_theory: np.ndarray
    loss_n_top: np.ndarray
    times: np.ndarray
    time_features: np.ndarray
    loss_t: np.ndarray
    loss_t_theory: np.ndarray
    samples: np.ndarray
    loss_d: np.ndarray
    loss_d_theory: np.ndarray
    predicted: np.ndarray
    fitted: np.ndarray
    fitted_ci: np.ndarray
    diverged: bool


@single_blas_thread
def solvable(cfg: TheoryConfig) -> TheoryResult:
    """The random-features model at (b, r): simulation and theory of L(N), L(t) and L(D).

    What it should look like: each simulated curve follows its power law, N^-(b min(r,1)),
    t^-r (until the finite-N plateau L(N)) and D^-(b min(r,2)); the fitted exponents sit
    near the predicted ones, less so near r = 1 (log corrections). Numpy only, about a second.
    """
    from engine import fit

    b, r, m = cfg.b, cfg.r, cfg.n_latent
    sizes = np.unique(np.geomspace(8, m // 4, 12).astype(int))
    loss_n = rf_losses(sizes, b, r, m, cfg.seed, draws=2)
    lam, u2 = _spectrum(m, b, r)
    tail = np.concatenate([np.cumsum(u2[::-1])[::-1], [0.0]])
    loss_top = 0.5 * tail[sizes] + _tail(m, b, r)
    times = np.geomspace(1.0, 1e5, 40)
    feats = np.array([m // 64, m // 16, m // 4])
    loss_t = np.stack([rf_time_losses(n, times, b, r, m, cfg.seed) for n in feats])
    samples = np.unique(np.geomspace(8, m // 8, 8).astype(int))
    loss_d = rf_data_losses(samples, b, r, m, cfg.seed, trials=2)
    fitted, ci = np.full(3, np.nan), np.full((3, 2), np.nan)
    plateau = rf_losses(feats[-1:], b, r, m, cfg.seed)[0]
    early = loss_t[-1] > 3.0 * plateau
    for k, (x, y) in enumerate(((sizes, loss_n), (times[early], loss_t[-1][early]), (samples, loss_d))):
        if len(x) >= 3:
            f = fit.fit_power_law(x, y, offset=False, n_boot=100, seed=cfg.seed)
            fitted[k], ci[k] = f.a, f.a_ci
    ex = rf_exponents(b, r)
    return TheoryResult(
        sizes,
        loss_n,
        rf_theory(sizes, b, r, m),
        loss_top,
        times,
        feats,
        loss_t,
        rf_theory(times, b, r, m, branch="t"),
        samples,
        loss_d,
        rf_theory(samples, b, r, m, branch="D"),
        np.array([ex["N"], ex["t"], ex["D"]]),
        fitted,
        ci,
        False,
    )
