"""Figures of the lazy vs rich lab: pure plotly builders (no Streamlit, no JAX).

Network curves are solid, the linearized model (or the theory) dashed in the same color.
Training curves run against the GD step on a log axis (each run picks its own step size
from its kernel, so steps, not lr x steps, are comparable across runs).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.lazy_rich import TEACHER_DIRS, boundary_exponent
from ui import figures

STEP = "GD step"
# order parameter -> (short label, axis label, log color scale, colorscale, zmid)
ORDER_PARAMS = {
    "weight_change": ("relative weight change", "||W1(T) - W1(0)|| / ||W1(0)||", True, "Viridis", None),
    "kernel_distance": ("kernel distance", "NTK kernel distance 1 - cos(K0, KT)", True, "Viridis", None),
    "kernel_change": ("relative NTK change", "||KT - K0|| / ||K0||", True, "Viridis", None),
    "test_gap": ("network minus linearized test loss", "test loss: network - linearized", False, "RdBu_r", 0.0),
}
COLLAPSE_NOTES = {
    "weight_change": "the weight change of all widths falls on one curve, with slope -1 on the lazy side "
    "(alpha ||W_T - W_0|| stays constant as alpha grows)",
    "kernel_distance": "the kernel distance is second order in a small kernel change (slope about -2 on the lazy "
    "side) and collapses only roughly at these widths: it also shrinks with width at fixed alpha sqrt(width)",
    "kernel_change": "the relative NTK change is first order (slope about -1 on the lazy side); it collapses "
    "roughly, best among the wider nets",
    "test_gap": "the network's advantage over its linearization vanishes on the lazy side for every width",
}
BASE_WIDTH = 64  # nets.MLP's muP base width: muP = standard parametrization there


def collapse_variable(parametrization: str) -> tuple[float, str]:
    """(exponent p, label) of the theory's combination alpha * width^p."""
    p = boundary_exponent(parametrization)
    label = {0.5: "alpha x sqrt(width)", 0.0: "alpha", 1.5: "alpha x width^(3/2)"}[p]
    return p, label


def boundary(widths, parametrization: str) -> dict:
    """The crossover alpha * width^p = 64^p / 8 (all three pass through width 64, alpha 1/8,
    where muP and standard coincide and NTK's alpha sqrt(width) = 1)."""
    p, _ = collapse_variable(parametrization)
    w = np.geomspace(min(widths), max(widths), 50)
    const = BASE_WIDTH**p / 8.0
    name = {0.5: "theory: alpha sqrt(width) = 1", 0.0: "theory (muP): alpha = 1/8 at every width"}.get(
        p, "theory (standard, lr ~ 1/width): alpha width^1.5 = const"
    )
    return {"x": w, "y": const / w**p, "name": name, "color": "white", "dash": "dash"}


def phase_figure(sr, metric: str, parametrization: str, current: tuple | None) -> go.Figure:
    """Width (log) x alpha (log) colored by an order parameter, with the theory's boundary."""
    label, _, log_z, scale, zmid = ORDER_PARAMS[metric]
    z = sr.metrics.get(metric, np.full(sr.diverged.shape, np.nan))
    kw = {}
    if zmid is not None:
        lim = float(np.nanmax(np.abs(z))) if np.any(np.isfinite(z)) else 1.0
        kw = dict(zmid=0.0, zmin=-lim, zmax=lim)
    fig = figures.heatmap(
        sr.x_values,
        sr.y_values,
        z,
        x_title="width (hidden units)",
        y_title="output scale alpha",
        z_title=label,
        diverged=sr.diverged,
        current=current,
        boundaries=[boundary(sr.x_values, parametrization)],
        colorscale=scale,
        log_z=log_z,
        height=480,
        **kw,
    )
    pos = figures.to_axis(sr.x_values, True)
    fig.update_xaxes(tickvals=list(pos), ticktext=[str(int(w)) for w in sr.x_values])
    lazy_at = (0.97, 0.97) if boundary_exponent(parametrization) > 0 else (0.5, 0.97)
    for text, (x, y) in (("lazy", lazy_at), ("rich", (0.03, 0.03))):
        fig.add_annotation(
            text=text, x=x, y=y, xref="paper", yref="paper", showarrow=False, bgcolor="rgba(255,255,255,0.75)"
        )
    return fig


def collapse_figure(sr, metric: str, parametrization: str) -> go.Figure:
    """The order parameter against alpha * width^p, one line per width: one curve if the theory holds."""
    p, xlabel = collapse_variable(parametrization)
    _, label, log_z, _, _ = ORDER_PARAMS[metric]
    z = sr.metrics.get(metric, np.full(sr.diverged.shape, np.nan))
    traces = []
    for i, w in enumerate(sr.x_values):
        traces.append(
            {
                "x": np.asarray(sr.y_values, float) * float(w) ** p,
                "y": z[i],
                "name": f"width {int(w)}",
                "mode": "lines+markers",
                "color": _width_color(i, len(sr.x_values)),
            }
        )
    fig = figures.line(traces, x_title=xlabel, y_title=label, log_x=True, log_y=log_z, height=420)
    if metric == "weight_change":
        xs = np.asarray(sr.y_values, float)[:, None] * np.asarray(sr.x_values, float)[None, :] ** p
        ref_x = np.geomspace(np.nanmax(xs) / 30, np.nanmax(xs), 10)
        col = z[np.isfinite(z)]
        if col.size:
            anchor = float(np.nanmin(z[:, -1])) if np.any(np.isfinite(z[:, -1])) else float(col.min())
            fig.add_trace(
                go.Scatter(
                    x=ref_x,
                    y=anchor * ref_x[-1] / ref_x,
                    mode="lines",
                    name="slope -1 (lazy theory)",
                    line=dict(color="black", dash="dash", width=1.5),
                )
            )
    return fig


def _width_color(i: int, n: int) -> str:
    import plotly.colors as pc

    return pc.sample_colorscale("Plasma", [0.85 * i / max(n - 1, 1)])[0]


def curves_figure(r) -> go.Figure:
    """Train and test loss of the network (solid) and its linearization (dashed)."""
    s = np.maximum(r.steps, 0.5)  # step 0 on a log axis
    traces = [
        {"x": s, "y": r.train_loss, "name": "network: train", "color": figures.COLORS[0], "group": "tr"},
        {"x": s, "y": r.test_loss, "name": "network: test", "color": figures.COLORS[1], "group": "te"},
        {"x": s, "y": r.linearized_train_loss, "name": "linearized: train", "color": figures.COLORS[0], "dash": "dash"},
        {"x": s, "y": r.linearized_test_loss, "name": "linearized: test", "color": figures.COLORS[1], "dash": "dash"},
    ]
    return figures.line(
        traces,
        x_title=STEP + " (step 0 drawn at 0.5)",
        y_title="loss (1/2m) sum ||F - y||^2",
        log_x=True,
        log_y=True,
        height=400,
    ).update_yaxes(dtick="D2")  # 1-2-5 labels: every minor tick labelled would overlap on a short range


def kernel_figure(r) -> go.Figure:
    """NTK eigenvalues at init and at the end (left); top eigenvalue and weight change along training (right)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("NTK spectrum", "along training"))
    k = np.arange(1, len(r.spectrum_init) + 1)
    for y, name, color, dash in (
        (r.spectrum_init, "init", "#7f7f7f", "dash"),
        (r.spectrum_final, "end", figures.COLORS[2], None),
    ):
        fig.add_trace(
            go.Scatter(x=k, y=np.maximum(y, 1e-12), name=f"spectrum at {name}", line=dict(color=color, dash=dash)),
            row=1,
            col=1,
        )
    s = np.maximum(r.steps, 0.5)
    fig.add_trace(
        go.Scatter(x=s, y=r.lambda_curve / r.lambda0, name="top eigenvalue / at init", line=dict(color="#9467bd")),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(x=s, y=r.weight_change_curve, name="relative weight change", line=dict(color="#ff7f0e")),
        row=1,
        col=2,
    )
    log_ticks = dict(type="log", tickformat="~g", dtick="D2")  # 1-2-5 labels, written in full
    fig.update_xaxes(title_text="eigenvalue index", **log_ticks, row=1, col=1)
    decades = dict(type="log", exponentformat="power", dtick=1)
    fig.update_yaxes(title_text="eigenvalue of K / (m d_out)", **decades, row=1, col=1)
    fig.update_xaxes(title_text=STEP, **log_ticks, row=1, col=2)
    fig.update_yaxes(title_text="value", **log_ticks, row=1, col=2)
    fig.update_layout(
        height=400,
        template="plotly_white",
        margin=dict(l=60, r=20, t=60, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.1, xanchor="left", x=0),
    )
    return fig


def directions_figure(r, dataset: str) -> go.Figure:
    """Teacher: each hidden unit's first-layer weight projected on the teacher's plane (x1, x2),
    at init and at the end, scaled by |readout|. Digits: 8 units' weights as 8x8 images."""
    if dataset == "digits":
        return _digit_filters(r)
    a0 = np.linalg.norm(r.a_init, axis=1)
    at = np.linalg.norm(r.a_final, axis=1)
    p0 = r.w_init[:, :TEACHER_DIRS] * a0[:, None]
    pt = r.w_final[:, :TEACHER_DIRS] * at[:, None]
    scale0 = np.percentile(np.linalg.norm(p0, axis=1), 95) or 1.0
    scalet = np.percentile(np.linalg.norm(pt, axis=1), 95) or 1.0
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=p0[:, 0] / scale0, y=p0[:, 1] / scale0, mode="markers", name="init", marker=dict(color="#bbbbbb", size=6)
        )
    )
    fig.add_trace(
        go.Scatter(
            x=pt[:, 0] / scalet,
            y=pt[:, 1] / scalet,
            mode="markers",
            name="end",
            marker=dict(color=figures.COLORS[1], size=7, line=dict(color="white", width=0.5)),
        )
    )
    for dx, dy in ((1.0, 0.0), (0.0, 1.0)):
        fig.add_trace(
            go.Scatter(
                x=[0, 1.15 * dx],
                y=[0, 1.15 * dy],
                mode="lines",
                name="teacher's units: relu(x1), -relu(x2)",
                line=dict(color="black", dash="dash", width=2),
                showlegend=dx > 0,
            )
        )
    fig.update_layout(
        height=400,
        template="plotly_white",
        margin=dict(l=60, r=20, t=40, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    )
    fig.update_xaxes(title_text="|a_j| w_j . e1 (teacher direction 1), rescaled", range=[-1.5, 1.5], zeroline=True)
    fig.update_yaxes(title_text="|a_j| w_j . e2 (teacher direction 2)", range=[-1.5, 1.5], scaleanchor="x")
    return fig


def _digit_filters(r) -> go.Figure:
    n = min(8, r.w_init.shape[0])
    strength = np.linalg.norm(r.w_final - r.w_init, axis=1)
    idx = np.argsort(-strength)[:n]  # the units that moved most
    fig = make_subplots(rows=2, cols=n, horizontal_spacing=0.01, vertical_spacing=0.06)
    for c, j in enumerate(idx):
        for row, w in ((1, r.w_init[j]), (2, r.w_final[j] - r.w_init[j])):
            img = w.reshape(8, 8)
            lim = float(np.max(np.abs(img))) or 1.0
            fig.add_trace(
                go.Heatmap(z=img[::-1], colorscale="RdBu", zmin=-lim, zmax=lim, showscale=False), row=row, col=c + 1
            )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    for i in range(1, 2 * n + 1):  # square pixels
        fig.layout[f"yaxis{i if i > 1 else ''}"].scaleanchor = f"x{i if i > 1 else ''}"
    fig.update_layout(
        height=320,
        template="plotly_white",
        margin=dict(l=10, r=10, t=50, b=10),
        title=dict(
            text="First-layer weights (8x8 pixels) of the 8 units that moved most:<br>at init (top), change (bottom)"
        ),
    )
    return fig


def diagonal_curve_figure(curve, alpha: float) -> go.Figure:
    """Test error vs alpha: trained nets (markers), Q_alpha theory (line), min-L1 / min-L2 (horizontal)."""
    traces = [
        {
            "x": curve.theory_alphas,
            "y": curve.theory_error,
            "name": "Q_alpha interpolator (gradient-flow theory)",
            "color": "#ff7f0e",
            "dash": "dash",
        },
        {
            "x": curve.alphas,
            "y": curve.test_error,
            "name": "trained diagonal net",
            "mode": "markers",
            "color": figures.COLORS[0],
            "marker_size": 9,
        },
    ]
    top = max(curve.l2_error, float(np.nanmax(curve.test_error)) if np.any(np.isfinite(curve.test_error)) else 1.0)
    fig = figures.line(
        traces,
        x_title="initialization scale alpha (u = v = alpha)",
        y_title="test error ||beta - beta*||^2",
        log_x=True,
        hlines=[
            (curve.l1_error, f"min-L1 interpolator: {curve.l1_error:.2g}", "#2ca02c"),
            (curve.l2_error, f"min-L2 (pseudoinverse): {curve.l2_error:.3g}", "#d62728"),
        ],
        vlines=[(alpha, f"alpha = {alpha:g}", "gray")],
        y_range=(-0.04 * top, 1.12 * top),
        height=400,
    )
    return fig


def coefficients_figure(r) -> go.Figure:
    """The d coefficients: trained beta, the teacher, and the three reference interpolators."""
    i = np.arange(len(r.beta))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=i, y=r.beta_star, name="teacher beta*", marker_color="#cccccc"))
    for y, name, color, sym in (
        (r.beta_l2, "min-L2", "#d62728", "x"),
        (r.beta_l1, "min-L1", "#2ca02c", "diamond-open"),
        (r.implicit_bias_beta, "Q_alpha", "#ff7f0e", "circle-open"),
        (r.beta, "trained", figures.COLORS[0], "circle"),
    ):
        fig.add_trace(go.Scatter(x=i, y=y, mode="markers", name=name, marker=dict(color=color, symbol=sym, size=7)))
    fig.update_layout(
        height=400,
        template="plotly_white",
        margin=dict(l=60, r=20, t=30, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        bargap=0.3,
    )
    fig.update_xaxes(title_text="coefficient index i")
    fig.update_yaxes(title_text="beta_i")
    return fig


def imbalance_figure(res, current: tuple | None) -> go.Figure:
    """Scale (log) x imbalance delta colored by the NTK kernel distance between init and end."""
    fig = figures.heatmap(
        res.scales,
        res.deltas,
        res.kernel_distance,
        x_title="init scale p = |a0| ||w0||",
        y_title="imbalance delta = a0^2 - ||w0||^2",
        z_title="kernel distance",
        log_x=True,
        log_y=False,
        diverged=res.grid_diverged,
        current=current,
        log_z=True,
        height=420,
    )
    return fig


def conservation_figure(res) -> go.Figure:
    """a^2 - ||w||^2 minus its initial value along training, at lr and lr/2, with the exact GD prediction."""
    traces = [
        {"x": res.t, "y": res.imbalance - res.imbalance[0], "name": "GD, lr", "color": figures.COLORS[0]},
        {
            "x": res.t,
            "y": res.predicted_drift,
            "name": "sum of lr^2 (g_a^2 - ||g_w||^2)",
            "color": "black",
            "dash": "dot",
        },
        {
            "x": res.half_t,
            "y": res.half_imbalance - res.half_imbalance[0],
            "name": "GD, lr / 2",
            "color": figures.COLORS[3],
        },
    ]
    return figures.line(traces, x_title="time t = lr x steps", y_title="delta(t) - delta(0)", height=420)


def run_table(r) -> dict:
    """Columns of the single-run CSV."""
    return {
        "step": r.steps,
        "train_loss": r.train_loss,
        "test_loss": r.test_loss,
        "linearized_train_loss": r.linearized_train_loss,
        "linearized_test_loss": r.linearized_test_loss,
        "weight_change": r.weight_change_curve,
        "top_ntk_eigenvalue": r.lambda_curve,
    }


def sweep_table(sr) -> dict:
    """Long-format columns of a phase diagram (one row per cell)."""
    wi, ai = np.meshgrid(np.arange(len(sr.x_values)), np.arange(len(sr.y_values)), indexing="ij")
    out = {"width": np.asarray(sr.x_values)[wi].ravel(), "alpha": np.asarray(sr.y_values)[ai].ravel()}
    for k, v in sr.metrics.items():
        out[k] = np.asarray(v).ravel()
    out["diverged"] = sr.diverged.ravel()
    return out
