"""Deep linear networks: singular modes learned in stages, exact theory over the simulation.

Network f(x) = W_D ... W_1 x. ``depth`` D counts WEIGHT MATRICES (D = 2 is one hidden layer),
unlike the MLP convention of ``engine.nets`` where depth counts hidden layers. Inputs are
whitened (Sigma_xx = I) and the target map is Sigma_yx = U diag(s) V^T with random orthogonal
U, V drawn from the seed. GD runs on the population loss

    L = 1/2 ||Sigma_yx - W_D ... W_1||_F^2,

which with whitened inputs equals the (1/2m) sum_i ||f(x_i) - y_i||^2 convention up to a
constant. Time t = lr * steps (tau = 1/lr). Mode strength u_i = U_i^T W_D...W_1 V_i.

Theory (Saxe, McClelland & Ganguli 2014), aligned balanced init, gradient flow: each mode
evolves alone, du/dt = D u^{2-2/D} (s - u); for D = 2 in closed form
u(t) = s / (1 + (s/u0 - 1) e^{-2st}) (numpy, in ``engine.deep_linear_theory``, re-exported here;
times in units of t = lr * steps).
Under GD the balancedness W_l W_l^T - W_{l+1}^T W_{l+1} (conserved by gradient flow) moves by
exactly lr^2 (G_l G_l^T - G_{l+1}^T G_{l+1}) per step (Arora et al. 2018).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from engine import deep_linear_sim as sim
from engine import train
from engine.config import ConfigBase, ConfigError, param
from engine.deep_linear_theory import (  # noqa: F401  (re-exported: the lab's public API)
    LEARNED_TOL,
    closed_form,
    half_time,
    learn_time,
    measured_times,
    sharpness_at_target,
    time_to_reach,
    trajectory,
)

LAB = "deep_linear"
_CHUNK = 16  # records per compiled call of run() (one progress update each)


@dataclass(frozen=True)
class Config(ConfigBase):
    LAB = LAB
    depth: int = param(2, lo=2, hi=6, help="weight matrices D (D = 2: one hidden layer; not the MLP convention)")
    width: int = param(16, lo=1, hi=128, log=True, help="hidden units per layer (aligned init needs >= modes)")
    # Each mode sqrt(2) weaker than the last: six well separated stages from small init.
    singular_values: tuple = param(
        (4.0, 2.8, 2.0, 1.4, 1.0, 0.7), lo=0.05, hi=10.0, traced=True, help="target singular values s_i"
    )
    # Small: long plateaus between stages (saddle to saddle), each ~ ln(s/u0)/2s long at depth 2.
    # The product's strength, not a per-layer scale.
    init_scale: float = param(
        1e-6,
        lo=1e-8,
        hi=10.0,
        log=True,
        traced=True,
        help="aligned: initial strength u0 of every mode; random: weight std",
    )
    # GD lags gradient flow (the theory) by about lr * s * ln(s/u0) / 4 of s: ~1.3% here.
    lr: float = param(0.002, lo=1e-5, hi=2.0, log=True, traced=True, help="learning rate (time t = lr * steps)")
    # t = 13: the weakest default mode (0.7) is learned by t ~ 11 from u0 = 1e-6.
    steps: int = param(6500, lo=1, hi=200_000, log=True, help="GD steps")
    init: str = param("aligned", choices=("aligned", "random"), help="aligned balanced, or i.i.d. Gaussian weights")
    n_records: int = param(150, lo=10, hi=1000, help="recorded points of every curve")
    seed: int = param(0, lo=0, hi=2**31 - 1, traced=True, help="random seed (target's U, V and the init)")

    def validate(self):
        n = len(self.singular_values)
        if not 1 <= n <= 8:
            raise ConfigError(f"singular_values has {n} entries: give between 1 and 8")
        if self.init == "aligned" and self.width < n:
            raise ConfigError(f"aligned init needs width >= number of modes ({n}), got width={self.width}")

    def cost_flops(self) -> float:
        n, h = len(self.singular_values), self.width
        return 6.0 * self.steps * self.depth * h * max(h, n) * n + 4.0 * self.steps * self.depth * h**3


class Result(NamedTuple):
    """T recorded points, n modes, D - 1 adjacent layer pairs.

    steps (T,) int; t (T,) = lr * steps; mode_strengths (T, n): u_i = U_i^T W V_i;
    theory (T, n): gradient-flow prediction (aligned balanced solution from ``u0``);
    loss (T,): 1/2 ||Sigma_yx - W||_F^2; loss_theory (T,): 1/2 sum_i (s_i - theory_i)^2;
    balance_drift (T, D-1): ||C_l(t) - C_l(0)||_F with C_l = W_l W_l^T - W_{l+1}^T W_{l+1};
    balance_gd_terms (T, D-1): ||sum over past steps of lr^2 (G_l G_l^T - G_{l+1}^T G_{l+1})||_F,
    equal to balance_drift up to rounding; singular_values (n,); u0 (n,): initial strengths the
    theory starts from (init_scale for aligned init; for random init at depth 2 the strength of
    the init's growing part, deeper |u_i(0)|: see ``deep_linear_sim.theory_u0``);
    half_times (n,): time each mode first covers half the way from u_i(0) to s_i (NaN if not
    within the run); half_times_theory (n,); learn_times (n,): first time |u_i - s_i| <= 0.1 s_i;
    diverged: bool; diverged_step: int (-1 if none). Curves are NaN after divergence.
    """

    steps: np.ndarray
    t: np.ndarray
    mode_strengths: np.ndarray
    theory: np.ndarray
    loss: np.ndarray
    loss_theory: np.ndarray
    balance_drift: np.ndarray
    balance_gd_terms: np.ndarray
    singular_values: np.ndarray
    u0: np.ndarray
    half_times: np.ndarray
    half_times_theory: np.ndarray
    learn_times: np.ndarray
    diverged: bool
    diverged_step: int


PRESETS = {
    "saddle to saddle (small init)": {},
    "large init: all at once": {"init_scale": 0.5, "steps": 1500},
    "deep network": {"depth": 4, "init_scale": 0.02, "lr": 0.001, "steps": 6000},
    "random init": {"init": "random", "init_scale": 0.02, "lr": 0.004, "steps": 4000},
}


def _record(cfg: Config) -> np.ndarray:
    return train.record_steps(cfg.steps, cfg.n_records)


def batched(cfg: Config) -> Callable[[dict], dict]:
    """Pure function of the traced fields (init_scale, lr, seed, singular_values) for a sweep."""
    rec = jnp.asarray(_record(cfg), jnp.int32)
    example = sim.init_np(0, 1.0, cfg.singular_values, cfg.depth, cfg.width, cfg.init)
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), example)

    def f(h):
        # The init runs on the host (numpy, seeded) in both paths, so a sweep cell equals run().
        init = lambda *a: sim.init_np(*a, cfg.depth, cfg.width, cfg.init)  # noqa: E731
        args = (h["seed"], h["init_scale"], h["singular_values"])
        ws, target, u, v = jax.pure_callback(init, shapes, *args, vmap_method="sequential")
        c, k = sim.start(ws, target, u, v, h["lr"])
        c, m = sim.scan_records(c, k, rec)
        return {**m, "u0_theory": k["u0_theory"], "diverged": c.diverged, "diverged_step": c.div_step}

    return f


# ----------------------------------------------------------------- results
def _build(cfg: Config, steps: np.ndarray, m: dict, theory_full: np.ndarray, u0, div: bool, div_step: int):
    T = len(steps)
    s = np.asarray(cfg.singular_values, float)
    t = cfg.lr * steps.astype(float)
    u = np.asarray(m["u"], float)
    theory = theory_full[:T]
    half, learn = measured_times(t, u, s)
    return Result(
        steps=steps,
        t=t,
        mode_strengths=u,
        theory=theory,
        loss=np.asarray(m["loss"], float),
        loss_theory=0.5 * np.sum((s[None, :] - theory) ** 2, axis=1),
        balance_drift=np.asarray(m["drift"], float),
        balance_gd_terms=np.asarray(m["gd_terms"], float),
        singular_values=s,
        u0=np.asarray(u0, float),
        half_times=half,
        half_times_theory=half_time(s, u0, cfg.depth),
        learn_times=learn,
        diverged=bool(div),
        diverged_step=int(div_step),
    )


def _theory_u0(cfg: Config, measured) -> np.ndarray:
    """init_scale for aligned init (exact), else the simulation's ``theory_u0`` (see there)."""
    n = len(cfg.singular_values)
    return np.full(n, cfg.init_scale) if cfg.init == "aligned" else np.maximum(np.asarray(measured, float), 1e-30)


def from_arrays(cfg: Config, out: dict) -> Result:
    """Result from the arrays of :func:`batched` for one cell."""
    rec = _record(cfg)
    m = {k: np.asarray(out[k]) for k in ("u", "loss", "drift", "gd_terms")}
    u0 = _theory_u0(cfg, out["u0_theory"])
    theory = trajectory(cfg.lr * rec, cfg.singular_values, u0, cfg.depth)
    return _build(cfg, rec, m, theory, u0, bool(out["diverged"]), int(out["diverged_step"]))


def run(cfg: Config, progress: Callable[[float, Result], None] | None = None) -> Result:
    """Train a deep linear network by GD on the population loss; modes are learned in stages.

    What it should look like: from small aligned init every mode strength u_i(t) follows a
    sigmoid that leaves a plateau after a time ~ ln(s_i/u0) / (2 s_i) (D = 2), strongest mode
    first, and the loss falls in steps ("saddle to saddle"); the theory curves lie on the
    simulation while lr * s_max * ln(s/u0) << 1. Large init learns all modes at once. Deeper
    nets have longer plateaus (~ u0^{-(1-2/D)}) and sharper transitions. Balancedness is
    conserved up to the GD terms lr^2 (G_l G_l^T - G_{l+1}^T G_{l+1}) per step, so the total
    drift at a fixed time t scales as lr; aligned balanced init stays exactly balanced.

    Args: cfg: :class:`Config`; progress(fraction, partial Result) after each chunk of records.
    Returns: :class:`Result` (shapes in its docstring; NaN-padded after a divergence).
    References: Saxe, McClelland, Ganguli 2014 (arXiv 1312.6120); Arora, Cohen, Hazan 2018
    (arXiv 1802.06509); Kunin et al. 2024 (arXiv 2406.06158).
    """
    rec = _record(cfg)
    f32 = np.float32  # the same rounding of the traced values as in a sweep
    init = sim.init_np(cfg.seed, f32(cfg.init_scale), f32(cfg.singular_values), cfg.depth, cfg.width, cfg.init)
    c, k = sim.start_jit(*init, f32(cfg.lr))
    parts: list[dict] = []
    theory, u0 = None, None
    for start in range(0, len(rec), _CHUNK):
        targets = np.full(_CHUNK, rec[-1], np.int32)
        chunk = rec[start : start + _CHUNK]
        targets[: len(chunk)] = chunk
        c, m = sim.scan_jit(c, k, jnp.asarray(targets))
        parts.append({key: np.asarray(v)[: len(chunk)] for key, v in m.items()})
        if theory is None:
            u0 = _theory_u0(cfg, k["u0_theory"])
            theory = trajectory(cfg.lr * rec, cfg.singular_values, u0, cfg.depth)
        done = start + len(chunk)
        diverged = bool(c.diverged)
        if progress is not None and done < len(rec) and not diverged:
            m_so_far = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
            progress(done / len(rec), _build(cfg, rec[:done], m_so_far, theory, u0, False, -1))
        if diverged:
            break
    m = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    pad = len(rec) - len(m["u"])
    if pad:  # diverged: keep shapes, NaN for the records never reached
        m = {key: np.concatenate([v, np.full((pad,) + v.shape[1:], np.nan)]) for key, v in m.items()}
    res = _build(cfg, rec, m, theory, u0, bool(c.diverged), int(c.div_step))
    if progress is not None:
        progress(1.0, res)
    return res


def stage_likeness(r: Result) -> float:
    """(latest half-time - earliest half-time) / time until every mode is learned (within 10%),
    over the modes that start more than 10% away from their target.

    Near 0: all modes learned together; toward 1 - s_min/s_max: one mode after another.
    NaN if some mode is not learned within the run; 0 if fewer than two modes have to move.
    """
    moving = np.abs(r.u0 - r.singular_values) > LEARNED_TOL * r.singular_values
    total = np.max(r.learn_times)
    if not np.isfinite(total) or not np.all(np.isfinite(r.half_times[moving])):
        return float("nan")
    if moving.sum() < 2 or total <= 0:
        return 0.0
    half = r.half_times[moving]
    return float((np.max(half) - np.min(half)) / total)


def summarize(r: Result) -> dict[str, float]:
    """stage_likeness (default color), learn_time (all modes within 10%), final_loss."""
    return {
        "stage_likeness": stage_likeness(r),
        "learn_time": float(np.max(r.learn_times)),
        "final_loss": float(r.loss[-1]),
    }


# ----------------------------------------------------------------- balancedness vs lr, phase diagrams
RANDOM_STD = 0.1  # weight std of the balancedness comparison when the run itself is aligned


class BalanceResult(NamedTuple):
    """Drift of the conserved quantities since init, one GD run per learning rate, same time span.

    lrs (k,); t (k, T); drift (k, T): sqrt(sum_l ||C_l(t) - C_l(0)||_F^2) over the D - 1 pairs;
    gd_terms (k, T): the same norm of the accumulated lr^2 (G_l G_l^T - G_{l+1}^T G_{l+1});
    init: the init used; init_scale: its scale; diverged (k,) bool."""

    lrs: np.ndarray
    t: np.ndarray
    drift: np.ndarray
    gd_terms: np.ndarray
    init: str
    init_scale: float
    diverged: np.ndarray


def balance_vs_lr(cfg: Config, progress: Callable | None = None, factors=(1.0, 0.5, 0.25)) -> BalanceResult:
    """Balancedness drift at lr * f for f in ``factors``, over the same time t = lr * steps.

    Each GD step moves C_l by lr^2 (G_l G_l^T - G_{l+1}^T G_{l+1}) and a fixed time takes t/lr
    steps, so the drift at fixed t should fall in proportion to lr (halve lr: half the drift).
    Aligned balanced init stays exactly balanced (its lr^2 terms cancel mode by mode), so an
    aligned ``cfg`` is compared on random init with weight std ``RANDOM_STD`` instead (a small
    random init drifts too little to rise above float32 rounding of C, ~1e-5).
    """
    if cfg.init == "aligned":
        cfg = cfg.replace(init="random", init_scale=RANDOM_STD)
    steps = min(cfg.steps, int(Config.fields_meta()["steps"]["hi"] * min(factors)))  # the smallest lr's run fits
    runs = []
    for i, f in enumerate(factors):
        c = cfg.replace(lr=cfg.lr * f, steps=max(1, round(steps / f)))
        runs.append(run(c))
        if progress is not None:
            progress((i + 1) / len(factors), None)
    norm = lambda a: np.sqrt(np.sum(a**2, axis=1))  # noqa: E731
    T = min(len(r.t) for r in runs)
    return BalanceResult(
        lrs=np.array([cfg.lr * f for f in factors]),
        t=np.stack([r.t[:T] for r in runs]),
        drift=np.stack([norm(r.balance_drift[:T]) for r in runs]),
        gd_terms=np.stack([norm(r.balance_gd_terms[:T]) for r in runs]),
        init=cfg.init,
        init_scale=float(cfg.init_scale),
        diverged=np.array([r.diverged for r in runs]),
    )


CALLS = ("balance_vs_lr",)
T_MAX_DIAGRAM = 60.0  # longest simulated time t of a phase-diagram cell (slower cells: "not learned")
MODE_STRENGTHS = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)


def diagram(cfg: Config, name: str) -> tuple[Config, tuple, tuple]:
    """(base Config, x, y) of the page's phase diagram ``name`` for the current ``cfg``.

    "init scale x depth": the current target spectrum, colored by stage-likeness.
    "init scale x mode strength": one mode per cell at the current depth, colored by time to learn.
    lr = 0.15 / (largest sharpness at the target over the grid): every cell trains stably and
    within a few percent of gradient flow; steps cover the slowest cell's theoretical learning
    time (at most ``T_MAX_DIAGRAM``). Aligned init never leaves the modes' span, so its width
    does not change the dynamics: aligned diagrams use width = number of modes (much faster).
    Only the init, seed, random init's width and the spectrum or depth follow ``cfg``, so moving
    lr or steps reuses a computed diagram.
    """
    if name == "init scale x depth":
        depths, spectrum = (2, 3, 4, 5, 6), cfg.singular_values
    elif name == "init scale x mode strength":
        depths, spectrum = (cfg.depth,), MODE_STRENGTHS
    else:
        raise ValueError(f"unknown diagram {name!r}: 'init scale x depth' or 'init scale x mode strength'")
    if cfg.init == "aligned":  # initial mode strength u0, half decades; deeper nets start higher
        inits = tuple(float(f"{v:.1g}") for v in 10.0 ** np.arange(-6, 0.01, 0.5))
        if name.endswith("strength"):  # below the weakest mode: every cell grows toward its target
            inits = tuple(v for v in inits if v <= 0.3 and (depths == (2,) or v >= 1e-3))
        u0s, width = inits, len(spectrum) if name.endswith("depth") else 1
    else:  # weight std; std^2 width / 2: strength of the init's growing part at depth 2
        inits = (0.003, 0.006, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3)
        u0s, width = [i**2 * cfg.width / 2 for i in inits], cfg.width
    lr = float(f"{0.15 / max(sharpness_at_target(max(spectrum), d) for d in depths):.2g}")
    t_need = np.nanmax([learn_time(min(spectrum), u, d) for u in u0s for d in depths])
    t_max = min(1.25 * float(t_need), T_MAX_DIAGRAM) if np.isfinite(t_need) else T_MAX_DIAGRAM
    common = dict(lr=lr, steps=int(np.ceil(t_max / lr)), n_records=200, init_scale=inits[0], width=width)
    if name == "init scale x depth":
        return cfg.replace(**common), ("init_scale", list(inits)), ("depth", list(depths))
    base = cfg.replace(**common, singular_values=(1.0,))
    return base, ("init_scale", list(inits)), ("singular_values", [(s,) for s in MODE_STRENGTHS])


def _default_diagrams() -> dict:
    """The page's two diagrams on the default view and on every preset (one entry per distinct grid)."""
    out, seen = {}, set()
    for pname, over in {"defaults": {}, **PRESETS}.items():
        cfg = Config.from_dict(over)
        for name in ("init scale x depth", "init scale x mode strength"):
            base, x, y = diagram(cfg, name)
            overrides = {k: v for k, v in base.to_dict().items() if v != Config().to_dict()[k]}
            sig = (base.key(), repr(x), repr(y))
            if sig not in seen:
                seen.add(sig)
                out[name if pname == "defaults" else f"{name} ({pname})"] = {"base": overrides, "x": x, "y": y}
    return out


DIAGRAMS = _default_diagrams()


def fit_schedule(cfg: Config) -> dict:
    """lr and steps that let ``cfg`` learn every mode near gradient flow: lr at most
    0.1 / sharpness at the target, steps covering 1.3x the theory's slowest time to learn."""
    lr = min(cfg.lr, float(f"{0.1 / sharpness_at_target(max(cfg.singular_values), cfg.depth):.2g}"))
    u0 = cfg.init_scale if cfg.init == "aligned" else cfg.init_scale**2 * cfg.width / 2
    t_need = float(np.nanmax(learn_time(np.asarray(cfg.singular_values), u0, cfg.depth)))
    steps = int(np.clip(np.ceil(1.3 * t_need / lr), 100, 200_000)) if np.isfinite(t_need) else cfg.steps
    return {"lr": lr, "steps": steps}
