"""Playground: train one MLP and map learning rate x init scale (the reference page)."""

import streamlit as st

from engine import cache
from engine import playground as lab
from ui import compare, controls, export, figures, present, run

st.title("Playground: one network, one phase diagram")
present.explain(
    "Train a small MLP with gradient descent and watch the training loss. Below, the same network is "
    "trained at every point of a learning-rate x init-scale grid: past a threshold (about 2/sharpness) "
    "gradient descent diverges, marked with a cross. Loss: L = (1/2m) sum_i ||f(x_i) - y_i||^2."
)

cfg = controls.sidebar(
    lab.Config,
    ["dataset", "width", "depth", "activation", "lr", "init_scale", "steps", "seed"],
    presets=lab.PRESETS,
    limits={"width": (4, 1024), "steps": (10, 5000)},
    present=["lr", "init_scale"],
)
pinned = compare.pins("playground", cfg, cache.lookup(cache.key_for(cfg)))
chart = st.empty()


def loss_fig(r):
    return figures.line(
        [{"x": r.steps, "y": r.loss, "name": "training loss"}], x_title="step", y_title="loss L", log_y=True
    )


res = run.run_lab(cfg, lambda r: run.chart(chart, compare.overlay(loss_fig, r, pinned)))
if res is not None:
    if res.diverged:
        st.warning(f"Diverged at step {res.diverged_step}: lower the learning rate.")
    else:
        st.caption(f"Final training loss {res.loss[-1]:.4g}, test loss {res.test_loss:.4g}.")
    export.panel("playground_run", cfg, {"step": res.steps, "loss": res.loss})

st.subheader("Phase diagram: learning rate x init scale")
diagram = lab.DIAGRAMS["lr x init scale"]
small = cfg.replace(**diagram["base"])
heat = st.empty()


def heat_fig(sr):
    labels = {"lr": "learning rate", "init_scale": "init scale", "final_loss": "final training loss"}
    return figures.sweep_heatmap(sr, "final_loss", labels=labels, current=(cfg.lr, cfg.init_scale), log_z=True)


sr = run.sweep("playground", small, diagram["x"], diagram["y"], lambda s: run.chart(heat, heat_fig(s)))
if sr is not None:
    event = run.chart(heat, heat_fig(sr), key="playground_phase", on_select="rerun", selection_mode="points")
    picked = figures.selected_cell(event, sr.x_values, sr.y_values)
    if picked is not None and picked != (cfg.lr, cfg.init_scale):
        controls.load({"lr": float(picked[0]), "init_scale": float(picked[1])})
    st.caption(
        f"Each cell: {small.steps} steps of the network above; crosses: diverged. "
        "Click a cell to load its setting above."
    )
