"""Lazy vs rich: the width x output-scale phase diagram of feature learning, diagonal nets, layer imbalance."""

import json

import streamlit as st

from engine import cache, diagonal, imbalance
from engine import lazy_rich as lab
from ui import compare, controls, export, figures, present, run
from ui import lazy_rich_figures as lrf

st.title("Lazy vs rich: when does a network learn features?")
present.explain(
    r"""
Train $F(w, x) = \alpha\,(f(w, x) - f(w_0, x))$, a one-hidden-layer network centred at its initialization and
scaled by $\alpha$, with the loss divided by $\alpha^2$ (Chizat, Oyallon & Bach 2019). For large $\alpha$ the
weights need to move only $\sim 1/\alpha$ to fit the data: the network stays on its **first-order Taylor model**
around init and trains like a kernel method with a frozen neural tangent kernel (NTK): the **lazy** regime.
For small $\alpha$ the first-layer weights turn toward useful directions, the kernel changes and the network
can beat its linearization: the **rich** (feature-learning) regime. Under the NTK parametrization width and
scale act together: lazy when $\alpha\sqrt{h} \gg 1$, rich when $\alpha\sqrt{h} \ll 1$ (Geiger et al. 2020), so
the weight change plotted against $\alpha\sqrt{h}$ falls on one curve for every width. Under muP (Yang & Hu 2021)
feature learning does not fade with width: the boundary is $\alpha$ = const.

**Order parameters:** relative first-layer weight change $\lVert W_T - W_0\rVert/\lVert W_0\rVert$ (falls as
$1/\alpha$ when lazy); NTK kernel distance $1 - \langle K_0, K_T\rangle/(\lVert K_0\rVert\lVert K_T\rVert)$ (second
order in a small change); relative NTK change $\lVert K_T - K_0\rVert/\lVert K_0\rVert$; test loss of the network
minus its linearized model.

*Conventions.* Loss $L = \frac{1}{2m}\sum_i \lVert F(x_i) - y_i\rVert^2$, reported unscaled; gradient descent runs
on $L/\alpha^2$ with step $c/\lambda(t)$, $\lambda(t)$ the current top eigenvalue of that loss's NTK (Gauss-Newton),
so every cell trains stably and the step is the same in kernel units everywhere (rule *init*: $c/\lambda_0$
throughout, as in the lazy limit; *fixed*: the lr slider). The linearized model trains with $c/\lambda_0$: its
kernel never changes. Teacher task: $y = \mathrm{relu}(x_1) - \mathrm{relu}(x_2)$ in $d$ dimensions. References:
[Chizat et al. 2019](https://arxiv.org/abs/1812.07956), [Geiger et al. 2020](https://arxiv.org/abs/1906.08034),
[Woodworth et al. 2020](https://arxiv.org/abs/2002.09277), [Yang & Hu 2021](https://arxiv.org/abs/2011.14522),
[Kunin et al. 2024](https://arxiv.org/abs/2406.06158).
"""
)

cfg = controls.sidebar(
    lab.Config,
    ["dataset", "width", "alpha", "parametrization", "activation", "c", "lr_rule", "lr", "steps", "n_train", "d_in"]
    + ["seed"],
    presets=lab.PRESETS,
    labels={
        "alpha": "output scale alpha",
        "c": "step c (x 1/lambda)",
        "lr_rule": "learning-rate rule",
        "lr": "lr (rule 'fixed' only)",
        "d_in": "input dimension d (teacher)",
    },
    limits={"width": (4, 2048), "steps": (20, 5000), "n_train": (16, 512), "d_in": (2, 64)},
    present=["width", "alpha", "parametrization"],
)
st.subheader("Phase diagram: width x output scale")
grids = {"8 x 8": lab.default_grid(), "4 x 4 (quick)": ([16, 64, 256, 1024], [0.01, 0.1, 1.0, 10.0])}
names = {v[0]: k for k, v in lrf.ORDER_PARAMS.items()}
s1, s2, _ = st.columns([2, 1, 2])
metric = names[controls.choice("Order parameter (color)", list(names), key="order", container=s1)]
grid_name = controls.choice("Grid", list(grids), key="grid", container=s2)
widths, alphas = grids[grid_name]
base = lab.diagram_base(cfg)
c1, c2 = st.columns([3, 2])
heat, coll = c1.empty(), c2.empty()
star = (cfg.width, cfg.alpha)


def draw_diagram(sr):
    run.chart(heat, lrf.phase_figure(sr, metric, cfg.parametrization, star))
    run.chart(coll, lrf.collapse_figure(sr, metric, cfg.parametrization))


sr = run.sweep("lazy_rich", base, ("width", widths), ("alpha", alphas), draw_diagram, label="Phase diagram")
if sr is not None:
    event = run.chart(heat, lrf.phase_figure(sr, metric, cfg.parametrization, star), key="lr_phase", on_select="rerun")
    picked = figures.selected_cell(event, sr.x_values, sr.y_values)
    if picked is not None and picked != (cfg.width, cfg.alpha):
        controls.load({"width": int(picked[0]), "alpha": float(picked[1])})
    p, var = lrf.collapse_variable(cfg.parametrization)
    c1.caption(
        f"Each cell: {cfg.steps} GD steps of the network and of its linearization ({cfg.dataset}, "
        f"{cfg.parametrization} parametrization). Dashed: the theory's boundary. Star: the run below; "
        "click a cell to load it. Crosses: diverged."
    )
    c2.caption(
        f"The same cells against {var}, the theory's combination for this parametrization: "
        f"{lrf.COLLAPSE_NOTES[metric]}."
    )
if sr is not None and not present.active():
    with st.expander("Phase-diagram data and reproduce in Python"):
        st.download_button("Download CSV", export.to_csv(lrf.sweep_table(sr)), "lazy_rich_phase.csv", key="lr_csv")
        st.code(
            export.snippet(base, module="lazy_rich", call="run", result_name="cell").split("cell =")[0]
            + f"from engine import sweep\nsr = sweep.sweep('lazy_rich', cfg, ('width', {json.dumps(widths)}), "
            f"('alpha', {json.dumps(alphas)}))\n",
            language="python",
        )

st.subheader(f"One run: width {cfg.width}, alpha {cfg.alpha:g} (alpha sqrt(width) = {cfg.alpha * cfg.width**0.5:.3g})")
pinned = compare.pins("lazy_rich", cfg, cache.lookup(cache.key_for(cfg)))
r1, r2 = st.columns(2)
curves_box, dir_box = r1.empty(), r2.empty()
kern_box = st.empty()


def draw_run(r):
    run.chart(curves_box, compare.overlay(lrf.curves_figure, r, pinned))
    run.chart(dir_box, lrf.directions_figure(r, cfg.dataset))
    run.chart(kern_box, lrf.kernel_figure(r))


res = run.run_lab(cfg, draw_run, label="Training network and linearization")
if res is not None:
    if res.diverged:
        st.warning(f"Diverged at step {res.diverged_step}: lower c (or the fixed learning rate).")
    else:
        s = lab.summarize(res)
        align = (
            ""
            if cfg.dataset == "digits"
            else f", teacher alignment {res.teacher_alignment:.2f} (init ~ {2 / cfg.d_in:.2f})"
        )
        st.caption(
            f"Weight change {s['weight_change']:.3g}, kernel distance {s['kernel_distance']:.2g}, top NTK eigenvalue "
            f"x{res.lambda_curve[-1] / res.lambda0:.3g} from init{align}. Test loss: network {s['test_loss']:.3g}, "
            f"linearized {s['linearized_test_loss']:.3g}. Right: each hidden unit's first-layer weight in the "
            "teacher's plane, scaled by its readout (init grey, end red); rich runs gather on the teacher's units."
        )
    export.panel("lazy_rich_run", cfg, lrf.run_table(res))

st.subheader("Diagonal linear networks: the init scale chooses the implicit bias")
d1, d2 = st.columns([1, 3])
dcfg = controls.sidebar(
    diagonal.Config,
    ["alpha", "d", "n", "k", "noise", "c", "steps"],
    prefix="dg_",
    presets=diagonal.PRESETS,
    container=d1,
    present=["alpha"],
    labels={"alpha": "init scale alpha", "k": "sparsity k", "c": "step c (x 1/curvature)"},
    limits={"d": (5, 400), "n": (2, 200), "k": (1, 50), "steps": (1000, 200_000)},
)
d2.markdown(
    r"""$f(x) = \langle u\odot u - v\odot v, x\rangle$ from $u = v = \alpha$, small-step GD on an underdetermined sparse
regression. Gradient flow ends at $\arg\min Q_\alpha(\beta)$ s.t. $X\beta = y$: the min-L1 interpolator as
$\alpha \to 0$ (sparse recovery), the min-L2 one as $\alpha\to\infty$ (a kernel method). Test error
$\lVert\beta - \beta^*\rVert^2$ (the population risk for $x \sim N(0, I)$)."""
)
dc1, dc2 = d2.columns(2)
curve = run.call("alpha_curve", dcfg.replace(alpha=diagonal.Config().alpha), diagonal.alpha_curve, label="Alpha sweep")
if curve is not None:
    run.chart(dc1.empty(), lrf.diagonal_curve_figure(curve, dcfg.alpha))
dres = run.run_lab(dcfg, label="Diagonal net")
if dres is not None:
    run.chart(dc2.empty(), lrf.coefficients_figure(dres))
    d2.caption(
        f"At alpha = {dcfg.alpha:g}: test error {dres.test_error:.3g} (Q_alpha theory {dres.implicit_bias_error:.3g}, "
        f"min-L1 {dres.l1_error:.2g}, min-L2 {dres.l2_error:.3g}); u_i v_i drifted from alpha^2 by at most "
        f"{100 * dres.uv_drift:.2g}% (conserved by gradient flow; each GD step multiplies it by 1 - 4 lr^2 g_i^2)."
    )
    if curve is not None:
        export.panel(
            "diagonal_curve",
            dcfg,
            {"alpha": curve.alphas, "test_error": curve.test_error, "q_alpha_error": curve.implicit_bias_error},
            call="alpha_curve",
            module="diagonal",
        )

st.subheader("Layer imbalance: a conserved quantity sets lazy vs rich")
i1, i2 = st.columns([1, 3])
icfg = controls.sidebar(
    imbalance.Config,
    ["scale", "delta", "lr", "steps"],
    prefix="im_",
    presets=imbalance.PRESETS,
    container=i1,
    present=["scale", "delta"],
    labels={"scale": "init scale p", "delta": "imbalance delta"},
    limits={"steps": (100, 20_000)},
)
i2.markdown(
    r"""$f(x) = a\,(w\cdot x)$ on $y = x\cdot\beta^*$, $\lVert\beta^*\rVert = 1$. Gradient flow conserves
$\delta = a^2 - \lVert w\rVert^2$ (Kunin et al. 2024): a large readout ($\delta \gg 0$) learns lazily, a balanced small
init or a large first layer ($\delta \le 0$) must rotate $w$ and learns features. Under GD each step changes
$\delta$ by exactly $\mathrm{lr}^2 (g_a^2 - \lVert g_w\rVert^2)$."""
)
ic1, ic2 = i2.columns(2)
ires = run.run_lab(icfg, label="Layer-imbalance grid")
if ires is not None:
    ev = run.chart(
        ic1.empty(), lrf.imbalance_figure(ires, (icfg.scale, icfg.delta)), key="lr_imbalance", on_select="rerun"
    )
    cell = figures.selected_cell(ev, ires.scales, ires.deltas)
    if cell is not None and cell != (icfg.scale, icfg.delta):
        controls.load({"scale": float(cell[0]), "delta": float(cell[1])}, prefix="im_")
    run.chart(ic2.empty(), lrf.conservation_figure(ires))
    full = ires.imbalance[-1] - ires.imbalance[0]
    half = ires.half_imbalance[-1] - ires.half_imbalance[0]
    i2.caption(
        f"Left: kernel distance of the NTK K = (w.x)(w.x') + a^2 x.x' between init and end, {icfg.steps} steps at "
        f"lr {icfg.lr:g}; click a cell to trace it. Right: the drift of delta at lr ({full:.2g}) and at lr/2 "
        f"({half:.2g}, ratio {half / full if full else float('nan'):.2f}); dotted: the exact per-step prediction."
    )
    export.panel(
        "layer_imbalance",
        icfg,
        {"t": ires.t, "delta": ires.imbalance, "predicted_drift": ires.predicted_drift, "loss": ires.loss},
        module="imbalance",
    )
