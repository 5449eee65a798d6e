"""Lazy vs rich training: the width x output-scale phase diagram of feature learning.

A one-hidden-layer MLP f(w, x) is trained through the centred, rescaled model
F(w, x) = alpha (f(w, x) - f(w0, x)) (Chizat, Oyallon & Bach 2019) by full-batch gradient
descent on the loss L = (1/2m) sum_i ||F(x_i) - y_i||^2 scaled by 1/alpha^2 (equivalently:
the learning rate divided by alpha^2), so that F starts at zero and moves at the same
initial speed for every alpha. Large alpha (or, under the NTK parametrization, large
alpha sqrt(width)) is the lazy regime: the weights barely move (relative change ~ 1/alpha),
the empirical NTK stays put and the network tracks its first-order Taylor model around
init. Small alpha sqrt(width) is the rich regime: features (first-layer weights) move,
the kernel changes and the network differs from its linearization.

Each run sets its own learning rate from its own kernel: lr = c / lambda0, with lambda0
the top eigenvalue of the NTK of the scaled loss at init (K_f / (m d_out), K_f the Gram of
f contracted over outputs, with muP's per-layer learning-rate multipliers folded in), so
every cell of a phase diagram trains stably (c < 2) and time lr * steps is in the same
units everywhere.

Order parameters (``summarize``): relative first-layer weight change ||W_T - W_0|| / ||W_0||,
kernel distance 1 - <K_0, K_T> / (||K_0|| ||K_T||) of the empirical NTK on the training
inputs, and test loss of the network minus that of its linearization trained by the same
GD. References: Chizat, Oyallon & Bach 2019 (arXiv 1812.07956); Geiger, Spigler, Jacot &
Wyart 2020 (arXiv 1906.08034); Yang & Hu 2021 (arXiv 2011.14522).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from engine import data, kernels, nets, train
from engine.config import ConfigBase, ConfigError, param
from engine.lazy_rich_gd import _adaptive_gd, _gn_matvec, _power, _tree_mul, teacher_task  # noqa: F401

LAB = "lazy_rich"
N_TEST = 512  # test examples (teacher) / at most this many digits
N_KERNEL = 256  # training inputs on which the NTK Gram is measured
N_NEURONS = 256  # first-layer weight vectors kept in the Result for the direction plot
TEACHER_DIRS = 2  # the teacher depends on x only through its first TEACHER_DIRS coordinates
LR_RULES = ("adaptive", "init", "fixed")
REFRESH = 1  # steps between two power-iteration updates of lambda(t) (adaptive rule)
POWER_ITERS = 20  # power iterations for lambda0 at init


@dataclass(frozen=True)
class Config(ConfigBase):
    LAB = LAB
    dataset: str = param(
        "teacher", choices=("teacher", "digits"), help="low-dimensional ReLU teacher (regression) or 8x8 digits"
    )
    n_train: int = param(128, lo=16, hi=1200, help="training examples (full-batch GD)")
    d_in: int = param(16, lo=2, hi=128, help="input dimension of the teacher task (digits: 64 pixels)")
    width: int = param(256, lo=2, hi=4096, log=True, help="hidden units (one hidden layer)")
    alpha: float = param(0.03, lo=1e-3, hi=1e3, log=True, traced=True, help="output scale: F = alpha (f - f0)")
    parametrization: str = param("ntk", choices=nets.PARAMETRIZATIONS, help="how init and forward scale with width")
    activation: str = param("relu", choices=("relu", "tanh", "gelu"), help="nonlinearity")
    c: float = param(
        0.5,
        lo=0.01,
        hi=4.0,
        log=True,
        traced=True,
        help="learning rate in units of 1/lambda (GD on the kernel is stable for c < 2)",
    )
    lr_rule: str = param(
        "adaptive",
        choices=LR_RULES,
        help="adaptive: lr = c / lambda(t), the NTK's current top eigenvalue; init: c / lambda0; fixed: the lr field",
    )
    lr: float = param(0.1, lo=1e-6, hi=1e4, log=True, traced=True, help="learning rate when lr_rule = fixed")
    steps: int = param(600, lo=1, hi=50_000, help="full-batch GD steps")
    n_records: int = param(40, lo=2, hi=500, help="recorded points of the loss curves (log spaced)")
    seed: int = param(0, lo=0, hi=2**31 - 1, traced=True, help="random seed of the initialization")

    def validate(self) -> None:
        if self.dataset == "digits" and self.n_train > 1200:
            raise ConfigError(f"n_train={self.n_train}: digits has 1,797 images; keep n_train <= 1200")

    def cost_flops(self) -> float:
        spec = _spec(self)
        fwd = spec.forward_flops(1)
        train_flops = 2 * 4.0 * self.steps * fwd * self.n_train  # network + linearized model, fwd + bwd
        nk = min(self.n_train, N_KERNEL)
        kernel_flops = 2 * (2.0 * nk * nk * spec.n_params() * spec.d_out + 3.0 * nk * fwd * spec.d_out)
        return train_flops + kernel_flops


class Result(NamedTuple):
    """One training run of the network and of its linearization (T = recorded steps).

    steps (T,) int: recorded step indices (log spaced); time = lr * steps.
    train_loss, test_loss (T,): L = (1/2m) sum ||F - y||^2 of the network (NaN after divergence).
    linearized_train_loss, linearized_test_loss (T,): the same for the first-order Taylor model
      F_lin(w) = alpha J_f(w0) (w - w0), trained by the same GD.
    weight_change_curve (T,): ||W1(t) - W1(0)|| / ||W1(0)|| of the first-layer weights.
    lambda_curve (T,): top eigenvalue of the NTK of the scaled loss (Gauss-Newton, all
      training inputs and outputs) along training; lambda_curve[0] = lambda0.
    weight_change: float, its final value (relative hidden-weight change).
    kernel_distance: float, 1 - <K0, KT>_F / (||K0|| ||KT||) of the empirical NTK Gram
      (second order in a small change of the kernel's shape).
    kernel_change: float, ||KT - K0||_F / ||K0||_F (first order: ~ 1 / (alpha sqrt(width))
      in the lazy regime of the NTK parametrization).
    spectrum_init, spectrum_final (N_k,): eigenvalues of the NTK of the scaled loss
      (K_f / (N_k d_out)) on the first N_k = min(n_train, 256) training inputs, descending.
    lambda0: float, top eigenvalue at init (power iteration on all training inputs and
      outputs; equals spectrum_init[0] for one output and n_train <= 256).
    lr: float, the learning rate of the scaled loss at the first step (c / lambda0 unless fixed).
    w_init, w_final (k, d_in): first-layer weight vectors of the first k = min(width, 256)
      hidden units (rows), at init and at the end.
    a_init, a_final (k, d_out): their readout weights.
    teacher_alignment: float, share of ||W1||^2 in the teacher's input directions at the end
      (NaN for digits; about TEACHER_DIRS / d_in at init).
    diverged: bool; diverged_step: int (-1 if none).
    """

    steps: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    linearized_train_loss: np.ndarray
    linearized_test_loss: np.ndarray
    weight_change_curve: np.ndarray
    lambda_curve: np.ndarray
    weight_change: float
    kernel_distance: float
    kernel_change: float
    spectrum_init: np.ndarray
    spectrum_final: np.ndarray
    lambda0: float
    lr: float
    w_init: np.ndarray
    w_final: np.ndarray
    a_init: np.ndarray
    a_final: np.ndarray
    teacher_alignment: float
    diverged: bool
    diverged_step: int


PRESETS = {  # widths and alphas on the default diagram's grid: the run is one of its cells
    "lazy wide net": {"width": 1024, "alpha": 10.0, "parametrization": "ntk"},
    "rich narrow net": {"width": 16, "alpha": 0.03, "parametrization": "ntk"},
    "muP stays rich": {"width": 1024, "alpha": 0.1, "parametrization": "mup"},
}


def _data(cfg: Config) -> data.Dataset:
    if cfg.dataset == "digits":
        return data.digits(cfg.n_train, N_TEST, seed=0)
    return teacher_task(cfg.n_train, N_TEST, cfg.d_in, seed=0)


def _spec(cfg: Config) -> nets.MLP:
    d_in = 64 if cfg.dataset == "digits" else cfg.d_in
    d_out = 10 if cfg.dataset == "digits" else 1
    return nets.MLP(d_in, cfg.width, 1, d_out, cfg.activation, cfg.parametrization)


def _record(cfg: Config) -> np.ndarray:
    return train.record_steps(cfg.steps, cfg.n_records, spacing="log")


def batched(cfg: Config) -> Callable[[dict], dict]:
    """Pure function of the traced fields (alpha, c, lr, seed) for cfg's static fields (one compile)."""
    spec, ds = _spec(cfg), _data(cfg)
    x, y, xt, yt = map(jnp.asarray, ds)
    m = x.shape[0]
    nk = min(cfg.n_train, N_KERNEL)
    xk = x[:nk]
    rec = _record(cfg)
    mask = np.zeros(cfg.steps + 1, bool)
    mask[rec] = True
    scales = nets.lr_scales(spec, "gd")
    root = jax.tree.map(lambda s: float(np.sqrt(s)), scales)
    inv_root = jax.tree.map(lambda s: 1.0 / s, root)
    k_neur = min(cfg.width, N_NEURONS)

    def apply(p, a):
        return nets.apply(p, a, spec)

    def gram(p):
        # NTK of the preconditioned GD (per-layer lr multipliers s): K = J diag(s) J^T, as the
        # plain Gram of the reparametrized net q = p / sqrt(s).
        return kernels.ntk_gram(lambda q, a: apply(_tree_mul(q, root), a), _tree_mul(p, inv_root), xk, chunk=N_KERNEL)

    def mse(pred, target):
        return 0.5 * jnp.mean(jnp.sum((pred - target) ** 2, axis=-1))

    mv = _gn_matvec(lambda p: apply(p, x), scales, float(m))
    v_start = jnp.ones((m, spec.d_out), jnp.float32)

    def f(h):
        alpha, c = h["alpha"], h["c"]
        p0 = nets.init(jax.random.PRNGKey(h["seed"]), spec)
        lam0, v0 = _power(mv, p0, v_start, POWER_ITERS)
        lr0 = h["lr"] if cfg.lr_rule == "fixed" else c / lam0
        if cfg.lr_rule == "adaptive":
            opt = _adaptive_gd(c, lam0, v0, mv, scales, alpha, REFRESH)
        else:
            opt = train.make_optimizer("gd", lr0 / alpha**2, lr_scales=scales)
        lin_opt = train.make_optimizer("gd", lr0 / alpha**2, lr_scales=scales)

        big_f = nets.centered(apply, p0, alpha)
        w10 = p0[0]["w"]

        def net_loss(p, a, b):
            return mse(big_f(p, a), b)

        def net_metrics(p):
            lam, _ = _power(mv, p, v0, 4)
            wc = jnp.linalg.norm(p[0]["w"] - w10) / jnp.linalg.norm(w10)
            return {"test": mse(big_f(p, xt), yt), "wc": wc, "lam": lam}

        net = train.train_pure(net_loss, p0, opt, x, y, steps=cfg.steps, record_mask=mask, metrics_fn=net_metrics)

        # first-order Taylor model around init: F_lin(w) = alpha J(w0) (w - w0), same GD
        _, jvp_train = jax.linearize(lambda p: apply(p, x), p0)
        _, jvp_test = jax.linearize(lambda p: apply(p, xt), p0)

        def delta(p):
            return jax.tree.map(lambda u, v: u - v, p, p0)

        def lin_loss(p, a, b):
            return mse(alpha * jvp_train(delta(p)), b)

        def lin_metrics(p):
            return {"test": mse(alpha * jvp_test(delta(p)), yt)}

        lin = train.train_pure(lin_loss, p0, lin_opt, x, y, steps=cfg.steps, record_mask=mask, metrics_fn=lin_metrics)

        pt = net["params"]
        k0, kt = gram(p0), gram(pt)
        norm = nk * spec.d_out
        return {
            "train": net["loss"][rec],
            "test": net["metrics"]["test"][rec],
            "wc": net["metrics"]["wc"][rec],
            "lam": net["metrics"]["lam"][rec],
            "lin_train": lin["loss"][rec],
            "lin_test": lin["metrics"]["test"][rec],
            "kdist": kernels.kernel_distance(k0, kt),
            "kchange": jnp.linalg.norm(kt - k0) / jnp.linalg.norm(k0),
            "spec0": jnp.linalg.eigvalsh(0.5 * (k0 + k0.T))[::-1] / norm,
            "specT": jnp.linalg.eigvalsh(0.5 * (kt + kt.T))[::-1] / norm,
            "top0": kernels.top_eig(k0) / norm,
            "lam0": lam0,
            "lr": lr0,
            "w0": w10.T,  # all units: the headline weight change uses kernels.relative_weight_change
            "wT": pt[0]["w"].T,
            "a0": p0[1]["w"][:k_neur],
            "aT": pt[1]["w"][:k_neur],
            "diverged": net["diverged"] | lin["diverged"],
            "diverged_step": jnp.where(net["diverged"], net["diverged_step"], lin["diverged_step"]),
        }

    return f


def from_arrays(cfg: Config, out: dict) -> Result:
    """The Result of one cell from ``batched(cfg)``'s output (numpy arrays)."""
    g = {k: np.asarray(v) for k, v in out.items()}
    div = bool(g["diverged"])
    w0, wt = g["w0"].astype(np.float64), g["wT"].astype(np.float64)
    wc = kernels.relative_weight_change([{"w": w0}], [{"w": wt}])
    align = np.nan
    if cfg.dataset == "teacher" and not div:
        align = float(np.sum(wt[:, :TEACHER_DIRS] ** 2) / np.sum(wt**2))
    w0, wt = w0[:N_NEURONS], wt[:N_NEURONS]
    nan_if = lambda v: float("nan") if div else float(v)  # noqa: E731
    return Result(
        steps=_record(cfg),
        train_loss=g["train"].astype(np.float64),
        test_loss=g["test"].astype(np.float64),
        linearized_train_loss=g["lin_train"].astype(np.float64),
        linearized_test_loss=g["lin_test"].astype(np.float64),
        weight_change_curve=g["wc"].astype(np.float64),
        lambda_curve=g["lam"].astype(np.float64),
        weight_change=nan_if(wc),
        kernel_distance=nan_if(g["kdist"]),
        kernel_change=nan_if(g["kchange"]),
        spectrum_init=g["spec0"].astype(np.float64),
        spectrum_final=g["specT"].astype(np.float64),
        lambda0=float(g["lam0"]),
        lr=float(g["lr"]),
        w_init=w0,
        w_final=wt,
        a_init=g["a0"].astype(np.float64),
        a_final=g["aT"].astype(np.float64),
        teacher_alignment=align,
        diverged=div,
        diverged_step=int(g["diverged_step"]) if div else -1,
    )


_JIT: dict = {}


def run(cfg: Config, progress: Callable[[float, Result], None] | None = None) -> Result:
    """Train the network and its linearization on one setting; both with lr = c / lambda0.

    What it should look like: for alpha sqrt(width) >> 1 (NTK parametrization) the network's
    train and test curves lie on its linearization's, the weight change is ~ 1/alpha and the
    NTK spectrum barely moves; for alpha sqrt(width) << 1 the first-layer weights turn
    toward the teacher's directions, the kernel's top eigenvalues grow and the network's
    test loss departs from (on the teacher task: falls below) the linearized model's.

    Args: cfg (see :class:`Config`); progress(fraction, partial) is called once at the end
    (the whole run is one compiled program, about a second at the default size).
    Returns: :class:`Result` (shapes in its docstring). A diverging run is reported in
    ``diverged``, never raised. Same Result as the sweep's cell for the same Config.
    """
    key = repr(sorted((k, v) for k, v in cfg.to_dict().items() if k not in ("alpha", "c", "lr", "seed")))
    if key not in _JIT:
        if len(_JIT) >= 8:  # keep the last few programs (a page flips between a handful)
            _JIT.pop(next(iter(_JIT)))
        _JIT[key] = jax.jit(batched(cfg))
    h = {
        "alpha": np.asarray(cfg.alpha, np.float32),
        "c": np.asarray(cfg.c, np.float32),
        "lr": np.asarray(cfg.lr, np.float32),
        "seed": np.asarray(cfg.seed, np.int32),
    }
    res = from_arrays(cfg, jax.tree.map(np.asarray, _JIT[key](h)))
    if progress is not None:
        progress(1.0, res)
    return res


def summarize(r: Result) -> dict[str, float]:
    """Order parameters for the phase diagram (first: relative hidden-weight change)."""
    gap = float(r.test_loss[-1] - r.linearized_test_loss[-1]) if not r.diverged else float("nan")
    return {
        "weight_change": r.weight_change,
        "kernel_distance": r.kernel_distance,
        "kernel_change": r.kernel_change,
        "test_gap": gap,
        "test_loss": float(r.test_loss[-1]),
        "linearized_test_loss": float(r.linearized_test_loss[-1]),
        "teacher_alignment": r.teacher_alignment,
    }


def boundary_exponent(parametrization: str) -> float:
    """p in the lazy/rich crossover alpha * width^p = const for the relative first-layer change.

    With lr = c / lambda0 and one hidden layer: NTK parametrization p = 1/2 (Geiger et al.:
    alpha sqrt(h)); muP p = 0 (feature learning does not fade with width); standard
    parametrization p = 3/2 (lambda0 ~ h makes lr ~ 1/h, so the first layer moves even less
    than under NTK: relative change ~ sqrt(d) / (alpha h^(3/2))).
    """
    return {"ntk": 0.5, "mup": 0.0, "standard": 1.5}[parametrization]


def default_grid() -> tuple[list[int], list[float]]:
    """Widths and alphas of the page's default phase diagram (8 x 8)."""
    return [8, 16, 32, 64, 128, 256, 512, 1024], [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]


def diagram_base(cfg: Config) -> Config:
    """The base config of the width x alpha diagram for the current settings: width and alpha
    pinned (the cells set them), so the diagram's key does not follow those two sliders."""
    return cfg.replace(width=64, alpha=1.0)


DIAGRAMS = {
    f"width x alpha ({p})": {
        "base": {"width": 64, "alpha": 1.0, "parametrization": p},
        "x": ("width", default_grid()[0]),
        "y": ("alpha", default_grid()[1]),
    }
    for p in ("ntk", "mup")
}
