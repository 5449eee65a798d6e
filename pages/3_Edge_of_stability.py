"""Edge of stability: sharpness rises to 2/lr and hovers there; flows, SGD, phase diagrams, catapults."""

import numpy as np
import streamlit as st

from engine import cache, catapult, eos
from ui import compare, controls, export, present, run
from ui import eos_figures as ef

st.title("Edge of stability: gradient descent at the brink")
present.explain(
    r"""
The **sharpness** $S$ is the largest eigenvalue of the Hessian of the training loss. On a quadratic, a
gradient-descent step multiplies the error along the top eigenvector by $(1 - \eta S)$, so GD with learning
rate $\eta$ is stable only while $S < 2/\eta$. Neural nets do something stranger (Cohen et al. 2021): the
sharpness **rises** during training (progressive sharpening) until it reaches $2/\eta$, then **hovers there**
while the loss keeps falling, with spikes. Gradient flow, the $\eta \to 0$ limit, keeps sharpening past $2/\eta$;
GD **self-stabilizes** (Damian et al. 2022) and follows the **central flow** (Cohen, Damian et al. 2024), a
flow that holds $S = 2/\eta$ and predicts GD's time-averaged loss. With minibatches the full-batch sharpness
stays **below** $2/\eta$, the more so the smaller the batch; Andreyev & Beneventano (2024) argue that what settles
near $2/\eta$ is the **batch sharpness** $E_B[g_B^\top H_B g_B / \lVert g_B \rVert^2]$ (on this small net it gets
close at large learning rates: see the phase diagram). A 10-output net has several eigenvalues that reach
$2/\eta$ one after another.

*Look for:* the blue sharpness climbing to the dotted $2/\eta$ line and staying, while the loss falls.

*Conventions.* $L = \frac{1}{2m}\sum_i \lVert f(x_i) - y_i\rVert^2$ summed over the 10 one-hot outputs (averaging
over outputs too would divide every eigenvalue by 10), or the mean cross-entropy; the sharpness is of that $L$.
Time $= \eta \times$ steps. Init scale 0.577 $= 1/\sqrt3$ is PyTorch's default init. Digits: the first $m$
of scikit-learn's 8x8 digits, standardized pixels.
References: [Cohen et al. 2021](https://arxiv.org/abs/2103.00065),
[Damian et al. 2022](https://arxiv.org/abs/2209.15594),
[Cohen, Damian et al. 2024](https://arxiv.org/abs/2410.24206),
[Lewkowycz et al. 2020](https://arxiv.org/abs/2003.02218),
[Andreyev & Beneventano 2024](https://arxiv.org/abs/2412.20553).
"""
)

cfg = controls.sidebar(
    eos.Config,
    ["lr", "width", "depth", "init_scale", "batch_size", "activation", "loss", "dataset", "n_train", "steps", "seed"],
    presets=eos.PRESETS,
    labels={"lr": "learning rate", "batch_size": "batch size", "n_train": "training examples"},
    limits={"width": (8, 512), "steps": (50, 5000), "lr": (0.005, 5.0), "batch_size": (8, 1024)},
    present=["lr", "batch_size", "steps"],
)
x_axis = controls.choice("x axis", ["step", "time"], key="x_axis", help="steps t, or effective time lr * t")
flows = controls.choice(
    "Flows from the same init",
    ["none", "gradient flow", "gradient + central flow"],
    key="flows",
    help="computed after the GD run, each with its own progress bar",
)
top_k = st.sidebar.toggle("show top-3 eigenvalues", value=True, key="eos_topk")
pinned = compare.pins("eos", cfg, cache.lookup(cache.key_for(cfg)))

c1, c2 = st.columns(2)
loss_box, sharp_box = c1.empty(), c2.empty()
overlays: dict = {}


def draw(r):
    g, c = overlays.get("gradient"), overlays.get("central")
    run.chart(loss_box, compare.overlay(lambda q: ef.loss_figure(q, x_axis, g, c), r, pinned))
    run.chart(sharp_box, compare.overlay(lambda q: ef.sharpness_figure(q, x_axis, top_k, g, c), r, pinned))


res = run.run_lab(cfg, draw)
if res is not None:
    edge = 2 / cfg.lr
    if res.diverged:
        st.warning(f"Diverged at step {res.diverged_step}: the learning rate is too large for this network.")
    else:
        reached = np.nonzero(res.sharpness >= 0.95 * edge)[0]
        late = eos.late_mean(res.sharpness)
        if len(reached):
            st.caption(
                f"Sharpness reached 2/lr = {edge:.3g} at step {res.eig_steps[reached[0]]} (from {res.sharpness[0]:.3g} "
                f"at init); mean over the last quarter {late:.3g} = {late / edge:.2f} x 2/lr."
            )
        else:
            st.info(
                f"The sharpness rose from {res.sharpness[0]:.3g} to {res.sharpness[-1]:.3g}, below 2/lr = {edge:.3g}: "
                "raise the learning rate or the number of steps to reach the edge."
            )
    if flows != "none" and not res.diverged:
        overlays["gradient"] = run.call(
            "gradient_flow",
            cfg,
            eos.gradient_flow,
            lambda g: (overlays.update(gradient=g), draw(res)),
            label="Gradient flow (RK4, step 1/sharpness)",
        )
    if flows == "gradient + central flow" and not res.diverged:
        overlays["central"] = run.call(
            "central_flow",
            cfg,
            eos.central_flow,
            lambda c: (overlays.update(central=c), draw(res)),
            label="Central flow",
        )
        cf = overlays["central"]
        if cf is not None and cf.stop_reason:
            st.caption(f"Central flow: {cf.stop_reason} (at t = {cf.stop_time:.3g}, step {cf.stop_time / cfg.lr:.0f}).")
    draw(res)
    export.panel("eos_run", cfg, {"step": res.eig_steps, "loss": res.loss[res.eig_steps], "sharpness": res.sharpness})

st.subheader("Phase diagram: where does training sit at the edge?")
choice = controls.choice("Phase diagram", ["lr x batch size", "lr x width", "off"], key="diagram")
if choice != "off":
    d = eos.DIAGRAMS[choice]
    # the axis fields are set per cell: reset them, so every preset shares the diagram (and its cache entry)
    default = eos.Config()
    base = cfg.replace(**{f: getattr(default, f) for f in (d["x"][0], d["y"][0], "batch_size")}).replace(**d["base"])
    yv = (cfg.batch_size or base.n_train) if choice == "lr x batch size" else cfg.width
    box = st.empty()

    def pfig(sr):
        return ef.phase_figure(sr, (cfg.lr, yv), full_batch=base.n_train)

    sr = run.sweep("eos", base, d["x"], d["y"], lambda s: run.chart(box, pfig(s)), label=choice)
    if sr is not None:
        event = run.chart(box, pfig(sr), key="eos_phase", on_select="rerun", selection_mode="points")
        picked = ef.figures.selected_cell(event, sr.x_values, sr.y_values)
        if picked is not None and picked != (cfg.lr, yv):
            y = int(picked[1])
            field = "batch_size" if choice == "lr x batch size" else "width"
            controls.load({"lr": float(picked[0]), field: None if y >= base.n_train and field == "batch_size" else y})
        st.caption(
            f"Color: late-time sharpness x lr/2 (batch sharpness for SGD cells); 1 = at the edge, blue = below. "
            f"Cells use a smaller net than the run above: {base.n_train} digits, width {base.width}, "
            f"{base.steps} steps (late = last quarter). Crosses: diverged. Click a cell to load it above."
        )

st.subheader("Catapult: a wide net thrown over the edge")
st.markdown(
    "A wide two-layer net (NTK parametrization, MSE) at lr = c / lambda0, with lambda0 the top eigenvalue of "
    "its NTK Gram / m at init. For 2 < c < c_max the loss first **explodes**, the kernel's top eigenvalue "
    "**falls** until lr * lambda < 2, then training converges (Lewkowycz et al. 2020)."
)


def url_option(box, label: str, options: list, default, key: str):
    """A select slider whose value lives in the link as ``?key=...`` (bad values: warning, default)."""
    if key not in st.session_state:
        raw = st.query_params.get(key)
        match = [o for o in options if str(o) == raw]
        if raw is not None and not match:
            st.warning(f"Ignored `{key}={raw}` from the link: choose one of {', '.join(map(str, options))}.")
        st.session_state[key] = match[0] if match else default
    v = box.select_slider(label, options, key=key)
    if v == default:
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = str(v)
    return v


k1, k2, k3 = st.columns(3)
cc = catapult.Config(
    c=url_option(k1, "c = lr * lambda0", [0.5, 1.0, 1.5, 1.9, 2.5, 3.0, 3.5, 3.9, 4.5, 6.0, 10.0], 3.0, "cat_c"),
    width=url_option(k2, "width", [64, 128, 256, 512, 1024, 2048, 4096], 1024, "cat_width"),
    activation=url_option(k3, "activation", ["relu", "tanh", "linear"], "relu", "cat_act"),
)
c1, c2 = st.columns(2)
cat_box = c1.empty()
cres = run.run_lab(cc, lambda r: run.chart(cat_box, ef.catapult_figure(r)), label="Catapult run")
uv = [catapult.uv_model(cc.width, c, 40, cc.seed) for c in (1.5, 3.0, 3.9, 4.1)]
run.chart(c2.empty(), ef.uv_figure(uv))
if cres is not None:
    s = catapult.summarize(cres)
    c1.caption(
        f"lambda0 = {cres.lambda0:.3g}, lr = {cres.lr:.3g}. "
        + (
            f"Diverged at step {cres.diverged_step}."
            if cres.diverged
            else f"Loss spike x{s['loss_spike']:.3g}; final lr * lambda = {s['final_lr_lambda']:.3g}."
        )
    )
c2.caption("Theory panel: the exact uv model, f = v.u/sqrt(n), n = width; c_max = 4 exactly.")
if not present.active() and (
    controls.choice("Catapult phase diagram", ["width x c", "off"], key="cat_diagram", container=st) != "off"
):
    d = catapult.DIAGRAMS["width x c"]
    base_c = cc.replace(**d["base"])
    box = st.empty()
    csr = run.sweep("catapult", base_c, d["x"], d["y"], lambda s: run.chart(box, ef.catapult_phase_figure(s)))
    if csr is not None:
        run.chart(box, ef.catapult_phase_figure(csr, (cc.width, cc.c)), key="cat_phase")
        st.caption("Color: final lr * lambda (< 2: converged at a flatter point); crosses: diverged.")
