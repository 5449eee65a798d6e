"""Hyperparameter transfer: the best learning rate across width under muP and under SP."""

import numpy as np
import streamlit as st

from engine import cache
from engine import mup as lab
from ui import compare, controls, export, present, run
from ui import mup_figures as mf

st.title("Hyperparameter transfer: muP vs standard parametrization")
present.explain(
    r"""
A **parametrization** says how initial weights, layer multipliers and per-layer learning rates scale with the
width $n$. In the **standard parametrization (SP)** (weights of variance $1/\text{fan-in}$, one global learning
rate) a single update moves every hidden pre-activation by an amount that **grows with width**: the update of
an $n \times n$ matrix adds up $n$ aligned contributions ($\sim n$ per step with Adam). So the learning rate
that is best for a narrow network is too large for a wide one, and the wide one must be tuned again.
The **maximal update parametrization (muP)** (Yang & Hu 2021) rescales the readout by $1/\text{width mult}$ and
the learning rates per layer (here Adam: hidden matrices get $lr/\text{width mult}$; SGD: input, biases and
readout get $lr \times \text{width mult}$; width mult $= n / n_\text{base}$, as in the `mup` package) so that
every layer keeps changing by $O(1)$ at any width. Then the learning rate tuned on a small model is (nearly) the
best one on a large model: **zero-shot hyperparameter transfer** (muTransfer, Yang et al. 2022). Both coincide
at the base width.

Below: final training loss after a fixed budget of minibatch steps, on a log2 learning-rate grid, for several
widths (mean of the seeds; error bars: their spread), SP left and muP right; the best learning rate per width;
the width x learning-rate phase diagram; and the **coordinate check** that explains it (mean |pre-activation|
after $t$ updates vs width: flat under muP, growing under SP). MLP with the chosen number of hidden layers;
the widest width is what two CPU cores train in about a minute with small minibatches.

*Convention:* $L = \frac{1}{2m}\sum_i \lVert f(x_i) - y_i\rVert^2$ on the training set (one-hot digits, or the
teacher's output), after all steps. A run whose minibatch loss becomes non-finite or 100x its initial value is
**diverged** (any seed). References: [Yang & Hu 2021, Tensor Programs IV](https://arxiv.org/abs/2011.14522);
[Yang et al. 2022, Tensor Programs V](https://arxiv.org/abs/2203.03466);
[Everett et al. 2024](https://arxiv.org/abs/2407.05872); [microsoft/mup](https://github.com/microsoft/mup).
"""
)

cfg = controls.sidebar(
    lab.Config,
    ["optimizer", "dataset", "activation", "lr", "zero_readout", "base_width", "widths", "depth"]
    + ["steps", "batch_size", "n_seeds", "seed"],
    presets=lab.PRESETS,
    labels={
        "lr": "learning rate of the coordinate check",
        "zero_readout": "muP: zero-init readout",
        "n_seeds": "seeds",
    },
    limits={
        "lr": (1e-4, 1.0),
        "base_width": (16, 1024),
        "steps": (20, 2000),
        "batch_size": (8, 256),
        "n_seeds": (1, 4),
    },
    present=["optimizer", "dataset", "n_seeds"],
)
PARAMS = lab.PARAMETRIZATIONS
gflop = lab.sweep_cost_flops(cfg) * 2 / 1e9
if gflop > run.DEFAULT_MAX_GFLOP * 4:
    st.error(
        f"These sweeps need about {gflop:,.0f} GFLOP, above this server's limit: use narrower widths or fewer steps."
    )
    st.stop()
pinned = compare.pins("mup", cfg, cache.lookup(cache.call_key("lr_sweeps", cfg)))

st.subheader("Loss vs learning rate, one curve per width")
st.caption(
    f"{len(cfg.widths)} widths x {cfg.n_lrs} learning rates x {cfg.n_seeds} seeds, {cfg.steps} steps of "
    f"{cfg.optimizer} with minibatches of {cfg.batch_size}. Points: mean over seeds; error bars: their standard "
    "deviation. Stars: best learning rate of each width; crosses: diverged."
)
cols = st.columns(2)
boxes = {p: c.empty() for p, c in zip(PARAMS, cols)}


def draw_sweeps(s):
    for p in PARAMS:
        if getattr(s, p) is not None:
            run.chart(boxes[p], mf.loss_vs_lr(getattr(s, p)))


both = run.call(
    "lr_sweeps",
    cfg,
    lab.lr_sweeps,
    draw_sweeps,
    label=f"SP and muP: training {2 * len(cfg.widths) * cfg.n_lrs} width x lr cells",
)

if both is not None:
    sweeps = both._asdict()
    yr = mf.shared_loss_range(*sweeps.values())
    for p in PARAMS:
        run.chart(boxes[p], mf.loss_vs_lr(sweeps[p], y_range=yr), key=f"mup_loss_{p}")
    shift = {p: int(s.best_index[-1] - s.best_index[0]) for p, s in sweeps.items() if (s.best_index >= 0).all()}
    c1, c2 = st.columns([3, 2])
    fig = compare.overlay(lambda r: mf.optimal_lr(r._asdict()), both, pinned)
    run.chart(c1.empty(), fig, key="mup_optimal")
    c1.caption(
        f"Stars: argmin of the loss averaged over {cfg.n_seeds} seed(s); open circles and error bars: the argmin of "
        "each seed's own loss curve (its spread is the uncertainty of the star, one grid step = x2)."
    )
    edges = {p: lab.stability_edge(s)[0] for p, s in sweeps.items()}
    w0, w1 = cfg.widths[0], cfg.widths[-1]

    def transfer(p):
        s = sweeps[p]
        got, best = lab.transferred_loss(s)[-1], np.nanmin(s.loss[-1]) if np.isfinite(s.loss[-1]).any() else np.nan
        lr0 = f"2<sup>{np.log2(s.best_lr[0]):.0f}</sup>" if np.isfinite(s.best_lr[0]) else "?"
        what = "**diverges**" if not np.isfinite(got) else f"reaches loss {got:.3g} (its own best: {best:.3g})"
        return f"- {mf.NAMES[p]}: lr {lr0}, tuned at width {w0:g}, {what} at width {w1:g}"

    def seed_shift(p):
        s0 = sweeps[p].seed_best_lr
        if s0 is None or not np.isfinite(s0[[0, -1]]).all():
            return ""
        d = np.log2(s0[-1]) - np.log2(s0[0])
        return f"{mf.NAMES[p]} {d.min():+.0f} to {d.max():+.0f}"

    c2.markdown(
        "**Zero-shot transfer**: tune the learning rate on the narrowest network, train the widest with it.\n"
        + "\n".join(transfer(p) for p in PARAMS),
        unsafe_allow_html=True,
    )
    per_seed = [t for t in (seed_shift(p) for p in PARAMS) if t]
    c2.markdown(
        f"From width {w0:g} to {w1:g} ({w1 / w0:g}x) the best learning rate moves by "
        + ", ".join(f"**{shift[p]:+d}** grid steps under {mf.NAMES[p]}" for p in shift)
        + (f" (seed by seed: {'; '.join(per_seed)})" if per_seed and cfg.n_seeds > 1 else "")
        + "; the largest stable learning rate by "
        + ", ".join(
            f"x{e[-1] / e[0]:.3g} under {mf.NAMES[p]}" for p, e in edges.items() if np.isfinite(e[[0, -1]]).all()
        )
        + f" (1/width would be x{w0 / w1:g}). Transfer is approximate (about one grid step) and improves with "
        "the base width; under muP wider networks are also better at the same learning rate."
    )
    if not present.active():  # the same sweeps as heatmaps: not needed on a projector
        st.subheader("Phase diagrams: width x learning rate")
        zr = mf.shared_loss_range(*sweeps.values())
        cols = st.columns(2)
        for p, c in zip(PARAMS, cols):
            run.chart(c.empty(), mf.phase_diagram(sweeps[p], zrange=(zr[0], zr[1] - 0.25)), key=f"mup_phase_{p}")
        st.caption(
            "Color: log final training loss (same scale both sides); crosses: diverged; white line: the boundary "
            "between the largest stable and the first diverged learning rate; stars: best learning rate per width."
        )
    data = {k: np.concatenate([mf.sweep_table(s)[k] for s in sweeps.values()]) for k in mf.sweep_table(sweeps["mup"])}
    export.panel("mup_lr_sweep", cfg, data, call="lr_sweeps")
    export.panel("mup_best_lr", cfg, mf.best_lr_table(sweeps), call="lr_sweeps")

st.subheader("Coordinate check: why the learning rate drifts")
st.caption(
    f"Mean |pre-activation| of each layer and of the output vs width after t = 0..{cfg.coord_steps} {cfg.optimizer} "
    f"updates at learning rate {cfg.lr:.3g} (at base width) on one fixed batch of {cfg.batch_size}, mean of "
    f"{cfg.n_seeds} seeds, as the mup package's coord check records it; t = 0 is initialization. "
    "Table: log-log slope vs width (0: width-independent)."
)
cbox = st.empty()
both_c = run.call(
    "coord_checks",
    cfg,
    lab.coord_checks,
    lambda r: run.chart(cbox, mf.coord_figure(r._asdict())) if any(c is not None for c in r) else None,
    label="SP and muP: coordinate check",
)
coords = both_c._asdict() if both_c is not None else {}
if coords and all(c is not None for c in coords.values()):
    run.chart(cbox, mf.coord_figure(coords), key="mup_coord")
    st.dataframe(mf.slope_table(coords), hide_index=True)
    st.markdown(
        "Under SP the hidden-to-hidden pre-activation and the "
        "output grow with width once training starts (Adam: up to ~ width^1); the first layer's fan-in (the input "
        "dimension) is fixed, so it stays flat in both. Under muP every layer stays flat; its output starts "
        "smaller at larger widths (readout variance ~ 1/width^2, slope -1/2 at t = 0, or 0 with a zero-init "
        "readout) and the updates bring it to a width-independent size."
    )
    export.panel(
        "mup_coord_check",
        cfg,
        {
            f"{p}|{layer}|t={t}": coords[p].act_size[:, ti, k]
            for p in PARAMS
            for ti, t in enumerate(coords[p].steps)
            for k, layer in enumerate(coords[p].layers)
        }
        | {"width": coords["mup"].widths},
        call="coord_checks",
    )
