"""Deep linear network theory in numpy (no jax): what the simulation of ``engine.deep_linear`` is
drawn against. All times are in units of t = lr * steps (tau = 1/lr).

Aligned balanced init under gradient flow on L = 1/2 ||Sigma_yx - W_D...W_1||_F^2 with whitened
inputs: each singular mode of strength u evolves alone, du/dt = D u^{2-2/D} (s - u)
(Saxe, McClelland & Ganguli 2014; D counts weight matrices). D = 2 in closed form:
u(t) = s / (1 + (s/u0 - 1) e^{-2st}); time from u0 to uf (1/2s) ln[uf (s - u0) / (u0 (s - uf))].
"""

from __future__ import annotations

import numpy as np

LEARNED_TOL = 0.1  # a mode is "learned" once |u - s| <= LEARNED_TOL * s


def _p(depth: int) -> float:
    return 2.0 - 2.0 / depth


def _y_of(v):
    """Log-odds coordinate y = ln|v / (1 - v)| of v = u / s (v < 1 and v > 1 alike)."""
    v = np.asarray(v, float)
    with np.errstate(divide="ignore"):
        return np.log(np.abs(v)) - np.log(np.abs(1.0 - v))


def _v_of(y, above):
    """Inverse of _y_of on the branch v > 1 (above) or v < 1."""
    with np.errstate(over="ignore", divide="ignore"):
        return np.where(above, -1.0 / np.expm1(-np.abs(y)), 1.0 / (1.0 + np.exp(-y)))


def closed_form(t, s, u0):
    """Depth 2: u(t) = s / (1 + (s/u0 - 1) e^{-2 s t}) (Saxe et al. 2014). Broadcasts."""
    t, s, u0 = np.asarray(t, float), np.asarray(s, float), np.asarray(u0, float)
    return s / (1.0 + (s / u0 - 1.0) * np.exp(-2.0 * s * t))


def trajectory(t, s, u0, depth: int) -> np.ndarray:
    """u_i(t) of du/dt = D u^{2-2/D} (s - u) for each mode: (T, n) for t (T,), s and u0 (n,).

    D = 2: the closed form; deeper: the ODE integrated (DOP853, rtol 1e-10) in the log-odds
    coordinate y = ln|u / (s - u)|, where it is smooth: dy/dt = D s^{2-2/D} (u/s)^{1-2/D}.
    """
    t = np.asarray(t, float)
    s = np.atleast_1d(np.asarray(s, float))
    u0 = np.broadcast_to(np.maximum(np.asarray(u0, float), 1e-30), s.shape)
    if depth == 2:
        return closed_form(t[:, None], s[None, :], u0[None, :])
    from scipy.integrate import solve_ivp

    p = _p(depth)
    v0 = u0 / s
    above = v0 > 1.0
    y0 = np.minimum(_y_of(v0), 60.0)  # v0 == s: start e^-60 from the fixed point
    rate = depth * s**p

    def rhs(_, y):
        return rate * _v_of(y, above) ** (p - 1.0)

    tmax = float(t.max()) if t.size else 0.0
    if tmax <= 0:
        return np.broadcast_to(u0, (t.size, s.size)).copy()
    sol = solve_ivp(rhs, (0.0, tmax), y0, t_eval=np.clip(t, 0, tmax), method="DOP853", rtol=1e-10, atol=1e-10)
    y = sol.y.T if sol.success else np.full((t.size, s.size), np.nan)
    return s[None, :] * _v_of(y, above[None, :])


_GL_X, _GL_W = np.polynomial.legendre.leggauss(96)


def time_to_reach(s, u0, uf, depth: int):
    """Gradient-flow time for a mode of strength s to go from u0 to uf (broadcasts; NaN if never).

    D = 2: (1/2s) ln[uf (s - u0) / (u0 (s - uf))]; deeper: the integral of
    dt = v^{2/D-1} dy / (D s^{2-2/D}) over the log-odds y (v = u/s), by 96-point Gauss-Legendre.
    """
    s, u0, uf = np.broadcast_arrays(*(np.asarray(a, float) for a in (s, u0, uf)))
    ok = ((u0 <= uf) & (uf < s) & (u0 > 0)) | ((u0 >= uf) & (uf > s))
    with np.errstate(all="ignore"):
        y0, yf = _y_of(u0 / s), _y_of(uf / s)
        if depth == 2:
            out = (yf - y0) / (2.0 * s)
        else:
            p = _p(depth)
            mid, half = (yf + y0) / 2, (yf - y0) / 2
            y = mid[..., None] + half[..., None] * _GL_X
            g = _v_of(y, (u0 > s)[..., None]) ** (1.0 - p)
            out = half * np.sum(_GL_W * g, axis=-1) / (depth * s**p)
    return np.where(ok, out, np.nan)


def half_time(s, u0, depth: int):
    """Time to cover half the way from u0 to s; for small u0, (1/2s) ln(s/u0 - 1) at D = 2."""
    s, u0 = np.asarray(s, float), np.asarray(u0, float)
    return np.where(_at_target(s, u0), 0.0, time_to_reach(s, u0, (u0 + s) / 2, depth))


def _at_target(s, u0):
    """Modes that start within 0.1% of their target: half-time 0 by definition."""
    return np.abs(np.asarray(u0) - np.asarray(s)) <= 1e-3 * np.asarray(s)


def learn_time(s, u0, depth: int, tol: float = LEARNED_TOL):
    """Time until |u - s| <= tol * s (0 if already there): the time-to-learn of the phase diagram."""
    s, u0 = np.broadcast_arrays(np.asarray(s, float), np.asarray(u0, float))
    uf = np.where(u0 < s, (1 - tol) * s, (1 + tol) * s)
    return np.where(np.abs(u0 - s) <= tol * s, 0.0, time_to_reach(s, u0, uf, depth))


def sharpness_at_target(s_max: float, depth: int) -> float:
    """Hessian eigenvalue of the strongest mode at the balanced minimum, D s_max^{2-2/D}.

    GD is unstable there unless lr < 2 / this value; lr well below 1 / this keeps GD near the flow."""
    return depth * s_max ** _p(depth)


# ----------------------------------------------------------------- measured times
def _first_crossing(t: np.ndarray, x: np.ndarray, level: float) -> np.ndarray:
    """Per column of x (T, n): first time x >= level, linearly interpolated; NaN if never."""
    out = np.full(x.shape[1], np.nan)
    for i in range(x.shape[1]):
        hit = np.flatnonzero(np.nan_to_num(x[:, i], nan=-np.inf) >= level)
        if hit.size == 0:
            continue
        k = hit[0]
        if k == 0:
            out[i] = t[0]
        else:
            x0, x1 = x[k - 1, i], x[k, i]
            frac = (level - x0) / (x1 - x0) if np.isfinite(x0) and x1 > x0 else 1.0
            out[i] = t[k - 1] + (t[k] - t[k - 1]) * frac
    return out


def measured_times(t: np.ndarray, u: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(half_times, learn_times) (n,) from curves u (T, n): half the way from u(0) to s; |u - s| <= 0.1 s."""
    with np.errstate(all="ignore"):
        progress = (u - u[:1]) / (s[None, :] - u[:1])
        err = np.abs(u - s[None, :]) / s[None, :]
    half = np.where(_at_target(s, u[0]), 0.0, _first_crossing(t, progress, 0.5))
    return half, _first_crossing(t, -err, -LEARNED_TOL)
