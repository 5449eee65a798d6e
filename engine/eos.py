"""Edge of stability: full-batch GD (or SGD) with the top Hessian eigenvalues tracked in the scan.

The loss is L = (1/2m) sum_i ||f(x_i) - y_i||^2 (``loss="mse"``, one-hot targets on digits) or
the mean softmax cross-entropy (``loss="ce"``). "Sharpness" S is the top eigenvalue of the
Hessian of *that* L; GD with step ``lr`` on a quadratic is stable iff S < 2/lr. Cohen et al.
(2021) found that full-batch GD on neural nets first sharpens (S rises) and then sits at
S ~ 2/lr while the loss keeps falling, non-monotonically: the edge of stability.

The eigenvalues are computed inside the compiled scan: training runs in blocks of
``eig_every`` steps; after each block a Lanczos run, warm-started from the previous top
eigenvectors (carried in the scan state), gives the top ``n_eigs`` eigenvalues. The host
runs a few blocks per compiled call and reports each as live progress.

Gradient flow and the central flow (the overlays) live in :mod:`engine.central_flow`.
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

from engine.config import ConfigBase, ConfigError, param
from engine.eos_problem import (  # noqa: F401  (public API of the lab)
    Problem,
    _spec,
    dataset,
    hvp_fn,
    problem,
    top_eigs,
    warm_start,
)
from engine.hessian import batch_sharpness

LAB = "eos"
N_SHARPNESS_BATCHES = 16  # minibatches averaged in one batch-sharpness estimate (SGD)
DIVERGE_FACTOR = 1e4  # a loss above this multiple of the initial loss counts as divergence
TORCH_INIT = 1 / math.sqrt(3)  # PyTorch's default Linear init, in our 1/fan_in convention


@dataclass(frozen=True)
class Config(ConfigBase):
    LAB = LAB
    dataset: str = param(
        "digits", choices=("digits", "teacher"), help="first n_train 8x8 digits (10 outputs) or a 16-d tanh teacher"
    )
    n_train: int = param(1000, lo=16, hi=1500, help="training examples (full batch = all of them)")
    width: int = param(200, lo=4, hi=1024, log=True, help="hidden units per layer")
    depth: int = param(2, lo=1, hi=4, help="hidden layers")
    activation: str = param("tanh", choices=("tanh", "relu", "gelu"), help="nonlinearity")
    loss: str = param("mse", choices=("mse", "ce"), help="mse: (1/2m) sum ||f-y||^2; ce: mean cross-entropy")
    # lr 0.2 on the default net: sharpness climbs from ~5 to 2/lr = 10 in ~250 steps, then hovers.
    lr: float = param(0.2, lo=1e-3, hi=10.0, log=True, traced=True, help="learning rate (edge at 2/lr)")
    init_scale: float = param(
        round(TORCH_INIT, 4), lo=0.05, hi=4.0, log=True, traced=True, help="weight std x sqrt(fan_in); 0.577 = PyTorch"
    )
    batch_size: int | None = param(None, lo=1, hi=1500, help="minibatch size (None = full-batch GD)")
    steps: int = param(1000, lo=10, hi=20_000, help="training steps")
    eig_every: int = param(20, lo=1, hi=1000, help="steps between sharpness measurements")
    n_eigs: int = param(3, lo=1, hi=10, help="top Hessian eigenvalues tracked")
    lanczos_iters: int = param(16, lo=4, hi=100, help="Lanczos iterations per measurement (warm-started)")
    seed: int = param(0, lo=0, hi=2**31 - 1, traced=True, help="random seed (init and minibatches)")

    def validate(self):
        if self.batch_size is not None and self.batch_size > self.n_train:
            raise ConfigError(f"batch_size={self.batch_size} is larger than n_train={self.n_train}")
        if self.loss == "ce" and self.dataset != "digits":
            raise ConfigError("loss='ce' needs class labels: use dataset='digits'")
        if self.n_eigs > self.lanczos_iters:
            raise ConfigError(f"n_eigs={self.n_eigs} needs lanczos_iters >= n_eigs")
        if self.dataset == "digits" and self.n_train > 1500:
            raise ConfigError("digits has 1,797 images: n_train must be at most 1500")

    def cost_flops(self) -> float:
        spec = _spec(self)
        n = self.batch_size or self.n_train
        train = 3.0 * self.steps * spec.forward_flops(n)
        if self.batch_size is not None:  # the full-batch loss is also evaluated each step
            train += self.steps * spec.forward_flops(self.n_train)
        n_evals = self.steps // self.eig_every + 1
        eig = n_evals * (self.lanczos_iters + 2) * 5.0 * spec.forward_flops(self.n_train)
        if self.batch_size is not None:
            eig += n_evals * N_SHARPNESS_BATCHES * 8.0 * spec.forward_flops(n)
        return train + eig


class Result(NamedTuple):
    """One training run.

    steps (T,) = 0..steps; loss (T,) full-batch training loss after t updates (NaN after
    divergence); eig_steps (E,) steps where eigenvalues were measured (0, eig_every, ..., steps);
    sharpness (E,) top Hessian eigenvalue there; eigenvalues (E, n_eigs) top eigenvalues,
    descending; batch_sharpness (E,) SGD's batch sharpness E_B[g_B.H_B g_B / |g_B|^2]
    (empty (0,) for full batch); lr: float; diverged: bool; diverged_step: int (-1 if none).
    """

    steps: np.ndarray
    loss: np.ndarray
    eig_steps: np.ndarray
    sharpness: np.ndarray
    eigenvalues: np.ndarray
    batch_sharpness: np.ndarray
    lr: float
    diverged: bool
    diverged_step: int


PRESETS = {
    # 2/lr = 40: the sharpness rises from ~4 but never gets near the edge in 1000 steps.
    "progressive sharpening": {"lr": 0.05, "steps": 1000},
    # the defaults: the sharpness reaches 2/lr = 10 by step ~250 and hovers there.
    "at the edge": {},
    # minibatches of 16: the full-batch sharpness settles well below 2/lr.
    "SGD stays below": {"batch_size": 16},
    # 2/lr = 1.9 below the sharpness at init (~4.3): the loss jumps up, the sharpness is thrown
    # down to ~2/lr within a few steps, then training converges (Lewkowycz et al. 2020).
    "catapult": {"lr": 1.05, "steps": 300, "eig_every": 5},
}


# ---------------------------------------------------------------- the problem (static part)
def _static(cfg: Config) -> Config:
    """cfg with its traced fields reset, the key of everything compiled for it."""
    return cfg.replace(lr=0.2, init_scale=1.0, seed=0)


# ---------------------------------------------------------------- one compiled block
class State(NamedTuple):
    w: jax.Array
    vecs: jax.Array  # (k, dim) previous top eigenvectors (the warm start)
    key: jax.Array
    loss0: jax.Array
    diverged: jax.Array
    div_step: jax.Array


def _batch_sharpness(pb: Problem, w, key, batch_size: int):
    """E_B[g_B.H_B g_B / |g_B|^2] over N_SHARPNESS_BATCHES random minibatches."""
    return batch_sharpness(pb.loss_xy, w, pb.x, pb.y, batch_size, N_SHARPNESS_BATCHES, key)


def _machinery(cfg: Config):
    """(init(h) -> (State, eig outputs), block(State, b, h) -> (State, outputs)) for cfg's shapes."""
    pb = problem(_static(cfg))
    n, k, ev, steps = pb.x.shape[0], cfg.n_eigs, cfg.eig_every, cfg.steps
    bs = cfg.batch_size if cfg.batch_size is not None and cfg.batch_size < n else None
    per_epoch = n // bs if bs else 1

    def measure(w, vecs, key):
        ka, kb = jax.random.split(key)
        vals, vecs = top_eigs(pb.loss, w, warm_start(vecs, ka), k, cfg.lanczos_iters)
        bsharp = _batch_sharpness(pb, w, kb, bs) if bs else jnp.zeros(())
        return vals, vecs, bsharp

    def init(h):
        key = jax.random.PRNGKey(h["seed"])
        kw, kv, kt = jax.random.split(key, 3)
        w = pb.init(kw, h["init_scale"])
        v0 = jax.random.normal(kv, (k, pb.dim))
        # cold start: a longer Lanczos from a random vector
        vals, vecs = top_eigs(pb.loss, w, v0[0] / jnp.linalg.norm(v0[0]), k, 2 * cfg.lanczos_iters)
        bsharp = _batch_sharpness(pb, w, kv, bs) if bs else jnp.zeros(())
        l0 = pb.loss(w)
        st = State(w, vecs, kt, l0, jnp.asarray(False), jnp.asarray(-1, jnp.int32))
        return st, (vals, bsharp)

    def step(st: State, t, lr):
        if bs:
            perm = jax.random.permutation(jax.random.fold_in(st.key, t // per_epoch), n)
            idx = jax.lax.dynamic_slice(perm, ((t % per_epoch) * bs,), (bs,))
            g = jax.grad(pb.loss_xy)(st.w, pb.x[idx], pb.y[idx])
            loss = pb.loss(st.w)
        else:
            loss, g = jax.value_and_grad(pb.loss)(st.w)
        bad = ~jnp.isfinite(loss) | (loss > DIVERGE_FACTOR * st.loss0)
        live = (t < steps) & ~st.diverged & ~bad
        newly = (t < steps) & ~st.diverged & bad
        st = st._replace(
            w=jnp.where(live, st.w - lr * g, st.w),
            diverged=st.diverged | newly,
            div_step=jnp.where(newly, t, st.div_step),
        )
        return st, jnp.where(st.diverged, jnp.nan, loss)

    def block(st: State, b, h):
        st, losses = jax.lax.scan(lambda s, t: step(s, t, h["lr"]), st, b * ev + jnp.arange(ev))
        vals, vecs, bsharp = measure(st.w, st.vecs, jax.random.fold_in(st.key, 10**6 + b))
        vals = jnp.where(st.diverged, jnp.nan, vals)
        st = st._replace(vecs=jnp.where(st.diverged, st.vecs, vecs))
        return st, (losses, vals, jnp.where(st.diverged, jnp.nan, bsharp))

    return pb, init, block


def n_blocks(cfg: Config) -> int:
    return -(-cfg.steps // cfg.eig_every)


def eig_steps(cfg: Config) -> np.ndarray:
    return np.minimum(np.arange(n_blocks(cfg) + 1) * cfg.eig_every, cfg.steps)


def _hyper(cfg: Config) -> dict:
    return {
        "lr": jnp.asarray(cfg.lr, jnp.float32),
        "init_scale": jnp.asarray(cfg.init_scale, jnp.float32),
        "seed": jnp.asarray(cfg.seed, jnp.int32),
    }


# ---------------------------------------------------------------- sweep protocol
def batched(cfg: Config) -> Callable[[dict], dict]:
    """Pure function of the traced fields (lr, init_scale, seed) -> the whole run's arrays."""
    pb, init, block = _machinery(cfg)
    nb = n_blocks(cfg)

    def f(h):
        st, (v0, b0) = init(h)
        st, (losses, vals, bsharp) = jax.lax.scan(lambda s, b: block(s, b, h), st, jnp.arange(nb))
        last = jnp.where(st.diverged, jnp.nan, pb.loss(st.w))
        return {
            "loss": jnp.concatenate([losses.reshape(-1)[: cfg.steps], last[None]]),
            "eigenvalues": jnp.concatenate([v0[None], vals]),
            "batch_sharpness": jnp.concatenate([b0[None], bsharp]),
            "diverged": st.diverged,
            "diverged_step": st.div_step,
        }

    return f


def from_arrays(cfg: Config, out: dict) -> Result:
    vals = np.asarray(out["eigenvalues"], np.float64)
    sgd = cfg.batch_size is not None and cfg.batch_size < cfg.n_train
    bs = np.asarray(out["batch_sharpness"], np.float64) if sgd else np.zeros(0)
    return Result(
        np.arange(cfg.steps + 1),
        np.asarray(out["loss"], np.float64),
        eig_steps(cfg),
        vals[:, 0],
        vals,
        bs,
        float(cfg.lr),
        bool(out["diverged"]),
        int(out["diverged_step"]),
    )


@functools.lru_cache(maxsize=16)
def _compiled(static: Config, chunk: int):
    pb, init, block = _machinery(static)

    @jax.jit
    def run_chunk(st, b0, h):
        return jax.lax.scan(lambda s, b: block(s, b, h), st, b0 + jnp.arange(chunk))

    return jax.jit(init), run_chunk, jax.jit(pb.loss)


def run(cfg: Config, progress: Callable[[float, Result], None] | None = None) -> Result:
    """Train with GD (or SGD) and track the top Hessian eigenvalues.

    What to look for: with full batch, the sharpness rises (progressive sharpening) until it
    reaches 2/lr, then hovers at or slightly above 2/lr while the loss keeps decreasing over
    long times, non-monotonically (Cohen et al. 2021). With a small lr it never gets there
    within the run. With minibatches the batch sharpness settles near 2/lr instead, and the
    full-batch sharpness stays below (Andreyev & Beneventano 2024). On a 10-output net several
    eigenvalues reach 2/lr one after another.

    Args:
        cfg: the :class:`Config`.
        progress: called as ``progress(fraction, partial_result)`` after each compiled chunk.

    Returns:
        :class:`Result` (loss at every step; eigenvalues every ``eig_every`` steps). A run
        that diverges stops; its arrays are padded with NaN to full length.

    References: Cohen, Kaur, Li, Kolter, Talwalkar (2021) "Gradient descent on neural networks
    typically occurs at the edge of stability"; Damian, Nichani, Lee (2022) "Self-stabilization";
    Andreyev & Beneventano (2024) "Edge of stochastic stability".
    """
    ev, nb = cfg.eig_every, n_blocks(cfg)
    chunk = max(1, min(nb, math.ceil(100 / ev)))  # ~100 steps between progress reports
    init, run_chunk, _ = _compiled(_static(cfg), chunk)
    h = _hyper(cfg)
    st, (v0, b0) = init(h)
    losses, vals, bsharps = [], [np.asarray(v0)[None]], [np.asarray(b0)[None]]
    b = 0

    def assemble() -> Result:
        done_steps = min(b * ev, cfg.steps)
        loss = np.full(cfg.steps + 1, np.nan)
        flat = np.concatenate(losses)[:done_steps] if losses else np.zeros(0)
        loss[: len(flat)] = flat
        ev_vals = np.concatenate(vals)[: min(b, nb) + 1]
        ev_b = np.concatenate(bsharps)[: min(b, nb) + 1]
        full = np.full((nb + 1, cfg.n_eigs), np.nan)
        full[: len(ev_vals)] = ev_vals
        fb = np.full(nb + 1, np.nan)
        fb[: len(ev_b)] = ev_b
        if b >= nb and not bool(st.diverged):
            loss[-1] = float(_compiled(_static(cfg), chunk)[2](st.w))
        out = {"loss": loss, "eigenvalues": full, "batch_sharpness": fb}
        res = from_arrays(cfg, {**out, "diverged": st.diverged, "diverged_step": st.div_step})
        if b < nb:  # partial: cut at what has been computed
            ne = min(b, nb) + 1
            res = res._replace(
                steps=res.steps[: done_steps + 1],
                loss=res.loss[: done_steps + 1],
                eig_steps=res.eig_steps[:ne],
                sharpness=res.sharpness[:ne],
                eigenvalues=res.eigenvalues[:ne],
                batch_sharpness=res.batch_sharpness[:ne],
            )
        return res

    while b < nb:
        st, (ls, v, bsh) = run_chunk(st, b, h)
        losses.append(np.asarray(ls).reshape(-1))
        vals.append(np.asarray(v))
        bsharps.append(np.asarray(bsh))
        b += chunk
        if bool(st.diverged):
            b = nb
            break
        if progress is not None and b < nb:
            progress(min(b, nb) / nb, assemble())
    res = assemble()
    if progress is not None:
        progress(1.0, res)
    return res


def late_mean(a: np.ndarray, frac: float = 0.25) -> float:
    """Mean over the last ``frac`` of a series (NaN-aware; NaN if nothing finite)."""
    a = np.asarray(a, np.float64)
    if a.size == 0:
        return float("nan")
    tail = a[-max(1, int(round(frac * len(a)))) :]
    return float(np.nanmean(tail)) if np.isfinite(tail).any() else float("nan")


def summarize(r: Result) -> dict[str, float]:
    """edge_ratio: late-time sharpness * lr/2 (batch sharpness for SGD); 1 = at the edge."""
    full = late_mean(r.sharpness) * r.lr / 2
    batch = late_mean(r.batch_sharpness) * r.lr / 2 if len(r.batch_sharpness) else full
    nan = float("nan")
    return {
        "edge_ratio": nan if r.diverged else batch,
        "full_batch_ratio": nan if r.diverged else full,
        "final_loss": nan if r.diverged else float(r.loss[-1]),
    }


# The page's phase diagrams; cells use a smaller net than the single run (the page says so).
_CELL = {"n_train": 256, "width": 32, "steps": 600, "eig_every": 50, "n_eigs": 1, "lanczos_iters": 10}
DIAGRAMS = {
    "lr x batch size": {
        "base": _CELL,
        "x": ("lr", [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0]),
        "y": ("batch_size", [8, 16, 32, 64, 128, 256]),
    },
    "lr x width": {
        "base": {k: v for k, v in _CELL.items() if k != "width"},
        "x": ("lr", [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0]),
        "y": ("width", [8, 16, 32, 64, 128]),
    },
}
CALLS = ("gradient_flow", "central_flow")


def gradient_flow(cfg: Config, progress=None, **kw):
    """Gradient flow from the same init (see :func:`engine.central_flow.gradient_flow`)."""
    from engine import central_flow

    return central_flow.gradient_flow(cfg, progress=progress, **kw)


def central_flow(cfg: Config, progress=None, **kw):
    """Central flow from the same init (see :func:`engine.central_flow.central_flow`)."""
    from engine import central_flow as cf

    return cf.central_flow(cfg, progress=progress, **kw)
