"""Deep linear networks: singular modes learned one at a time, the exact theory on every curve."""

import numpy as np
import streamlit as st

from engine import cache
from engine import deep_linear as lab
from ui import compare, controls, export, present, run
from ui import deep_linear_figures as dlf

st.title("Deep linear networks: learning one mode at a time")
present.explain(
    r"""
A deep linear network $f(x) = W_D \cdots W_1 x$ is linear in its input but not in its weights, and
its gradient descent is **solvable**. The target map $\Sigma_{yx} = U \,\mathrm{diag}(s)\, V^\top$ has
singular values $s_i$; the network's strength on mode $i$ is $u_i = U_i^\top W_D \cdots W_1 V_i$. From an
aligned, balanced init each mode evolves on its own (Saxe, McClelland & Ganguli 2014):

* depth 2: $u(t) = s \,/\, \big(1 + (s/u_0 - 1)\, e^{-2st}\big)$, a sigmoid that leaves its plateau after
  about $\ln(s/u_0)/2s$: **strong modes are learned first**, and from a small init the loss falls in steps,
  from saddle to saddle;
* $D$ weight matrices: $du/dt = D\, u^{2-2/D} (s - u)$: longer plateaus, sharper jumps.

**Solid: simulation. Dashed: theory.** A large init learns all modes at once. Gradient flow conserves the
balancedness $C_l = W_l W_l^\top - W_{l+1}^\top W_{l+1}$; a gradient descent step moves it by exactly
$\eta^2 (G_l G_l^\top - G_{l+1}^\top G_{l+1})$ (Arora, Cohen & Hazan 2018).

*Conventions.* Depth $D$ counts **weight matrices** ($D = 2$ is one hidden layer; the MLP labs count hidden
layers). Loss $L = \tfrac12 \lVert \Sigma_{yx} - W_D \cdots W_1 \rVert_F^2$: the population loss for whitened
inputs, equal to $\tfrac{1}{2m}\sum_i \lVert f(x_i) - y_i \rVert^2$ up to a constant. Time $t = \eta \times$ steps
($\eta$ = learning rate). Init scale: the initial strength $u_0$ of every mode (aligned init) or the standard
deviation of every weight (random init).
References: [Saxe et al. 2014](https://arxiv.org/abs/1312.6120),
[Arora et al. 2018](https://arxiv.org/abs/1802.06509), [Kunin et al. 2024](https://arxiv.org/abs/2406.06158).
"""
)

cfg = controls.sidebar(
    lab.Config,
    ["depth", "width", "singular_values", "init", "init_scale", "lr", "steps", "seed"],
    presets=lab.PRESETS,
    labels={"singular_values": "target singular values s", "init_scale": "init scale", "lr": "learning rate"},
    limits={"init_scale": (1e-8, 3.0), "lr": (1e-4, 2.0), "steps": (100, 100_000), "width": (1, 128)},
    present=["depth", "init_scale", "lr"],
)
pinned = compare.pins("deep_linear", cfg, cache.lookup(cache.key_for(cfg)))
c1, c2 = st.columns(2)
modes_box, loss_box = c1.empty(), c2.empty()
log_loss = c2.toggle(
    "log scale", value=True, key="dl_log_loss", help="linear: the plateaus; log: the weak modes' steps too"
)


def draw(r):
    run.chart(modes_box, compare.overlay(dlf.modes_figure, r, pinned))
    run.chart(loss_box, compare.overlay(lambda q: dlf.loss_figure(q, log_y=log_loss), r, pinned))


res = run.run_lab(cfg, draw)
lr_sharp = cfg.lr * lab.sharpness_at_target(max(cfg.singular_values), cfg.depth)
if res is not None:
    if res.diverged:
        st.warning(f"Diverged at step {res.diverged_step}: lr x sharpness = {lr_sharp:.2g} (GD needs < 2).")
    elif lr_sharp > 0.1:
        st.info(f"lr x sharpness at the target = {lr_sharp:.2g}: gradient descent lags the gradient-flow theory.")
    need = float(np.nanmax(lab.learn_time(res.singular_values, res.u0, cfg.depth)))
    if not res.diverged and need > res.t[-1]:
        st.info(
            f"The weakest mode needs about t = {need:.3g} to be learned (theory); this run stops at "
            f"t = {res.t[-1]:.3g}. Deeper nets wait much longer on their plateaus from a small init."
        )
        if st.button("Fit learning rate and steps to the theory", key="dl_fit"):
            controls.load(lab.fit_schedule(cfg))
    pairs = "; ".join(
        f"s={s:g}: {h:.3g} / {ht:.3g}".replace("nan /", "not yet /")
        for s, h, ht in zip(res.singular_values, res.half_times, res.half_times_theory)
    )
    st.caption(f"Half-times, simulation / theory (time to cover half the way from u_i(0) to s_i): {pairs}.")
    if cfg.init == "random" and cfg.depth == 2:
        st.caption(
            "Random init: early on, gradient descent grows the combination (W₁Vᵢ + W₂ᵀUᵢ)/2 of the random "
            "weights as e^(sᵢt) and shrinks the rest, so the dashed curves start the aligned solution from its "
            "squared norm. What remains of the gap is the modes sharing random, not yet aligned, hidden units."
        )
    elif cfg.init == "random":
        st.caption(
            "Random init, depth > 2: no solved theory here. The dashed curves are only a reference, the aligned "
            "solution started from the measured |uᵢ(0)|; the gap is the time the layers spend aligning."
        )
    export.panel("deep_linear_run", cfg, dlf.run_table(res))

st.subheader("Balancedness: conserved by gradient flow, drifting under gradient descent")
bal_box = st.empty()
bal = run.call("balance_vs_lr", cfg, lab.balance_vs_lr, label="Balancedness at lr, lr/2, lr/4")
if bal is not None:
    run.chart(bal_box, dlf.balance_figure(bal))
    ratio = bal.drift[0, -1] / bal.drift[1, -1]
    note = (
        f"Shown for random init with weight std {bal.init_scale:.2g}: the aligned, balanced init above stays "
        "exactly balanced under gradient descent too (its lr² terms cancel mode by mode). "
        if cfg.init == "aligned"
        else ""
    )
    st.caption(
        f"{note}C(t) − C(0) stacked over the {cfg.depth - 1} layer pair(s); dashed: the summed lr² terms. "
        f"Each step adds O(lr²) and a fixed time takes t/lr steps, so halving lr should halve the drift: "
        f"measured drift(lr) / drift(lr/2) = {ratio:.2f} at t = {bal.t[0, -1]:.3g}."
    )
    if np.any(bal.drift[:, -1] > 2 * bal.gd_terms[:, -1]):
        st.info(
            "At the smallest learning rates float32 rounding of the weights (updates below their last digit) "
            "drifts more than gradient descent itself; the dashed exact lr² sums still fall in proportion to lr."
        )

st.subheader("Phase diagrams")
d1, d2 = st.columns(2)
x_title = "init scale u0" if cfg.init == "aligned" else "weight std (random init)"
base1, x1, y1 = lab.diagram(cfg, "init scale x depth")
t1 = base1.lr * base1.steps
box1 = d1.empty()
star = (cfg.init_scale, cfg.depth) if min(x1[1]) <= cfg.init_scale <= max(x1[1]) else None


def fig1(sr):
    return dlf.stage_diagram(sr, star, t1, x_title)


sr1 = run.sweep("deep_linear", base1, x1, y1, lambda s: run.chart(box1, fig1(s)), label="Init scale x depth")
if sr1 is not None:
    event = run.chart(box1, fig1(sr1), key="deep_linear_stage", on_select="rerun", selection_mode="points")
    picked = dlf.figures.selected_cell(event, sr1.x_values, sr1.y_values)
    if picked is not None and picked != (cfg.init_scale, cfg.depth):
        new = cfg.replace(init_scale=float(picked[0]), depth=int(picked[1]))
        controls.load({"init_scale": new.init_scale, "depth": new.depth, **lab.fit_schedule(new)})
    d1.caption(
        "**Stage-likeness** = (latest − earliest half-time of the modes) / (time until every mode is within 10% "
        "of its target), over the modes that have to move. Near 0: all modes learned together; toward "
        f"1 − s_min/s_max: one after another. Each cell: the target spectrum above, lr {base1.lr:g}, "
        f"t up to {t1:.3g}. Click a cell to load it above."
    )

base2, x2, y2 = lab.diagram(cfg, "init scale x mode strength")
t2 = base2.lr * base2.steps
box2 = d2.empty()


def fig2(sr):
    return dlf.time_diagram(sr, cfg.depth, None, t2, x_title, theory=cfg.init == "aligned")


sr2 = run.sweep("deep_linear", base2, x2, y2, lambda s: run.chart(box2, fig2(s)), label="Init scale x mode strength")
if sr2 is not None:
    run.chart(box2, fig2(sr2), key="deep_linear_time")
    theory_note = "White dashed contours: the theory's time to learn. " if cfg.init == "aligned" else ""
    d2.caption(
        f"Time until a single mode of strength s is learned (|u − s| ≤ 0.1 s), depth {cfg.depth}, "
        f"lr {base2.lr:g}. {theory_note}Weak modes and small inits wait longest: the plateau grows like "
        "ln(s/u0)/2s at depth 2 and like u0^−(1−2/D) deeper."
    )

if sr1 is not None and sr2 is not None and not present.active():
    with st.expander("Phase-diagram data and reproduce in Python"):
        c1, c2 = st.columns(2)
        for col, name, sr in ((c1, "stage", sr1), (c2, "time_to_learn", sr2)):
            csv = export.to_csv(dlf.sweep_table(sr))
            col.download_button(f"Download {name} CSV", csv, file_name=f"deep_linear_{name}.csv", key=f"dl_{name}")
        st.code(dlf.diagram_snippet(cfg), language="python")
