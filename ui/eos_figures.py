"""Figures of the edge-of-stability page (pure plotly; tested without the app).

Every builder takes engine Results (numpy) and returns a plotly Figure. ``x_axis`` is
"step" or "time" (effective time lr * step, the axis on which gradient flow lives).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ui import figures

GD, GF, CF, BATCH, EDGE = "#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "black"
X_TITLES = {"step": "step t", "time": "effective time lr * t"}


def _x(steps, lr: float, x_axis: str) -> np.ndarray:
    s = np.asarray(steps, float)
    return s * lr if x_axis == "time" else s


def _flow_x(flow, x_axis: str) -> np.ndarray:
    t = np.asarray(flow.time, float)
    return t if x_axis == "time" else t / flow.lr


def _log_ticks(fig: go.Figure, axis: str = "yaxis") -> go.Figure:
    """Label a log axis at 1-2-5 x 10^k (plotly otherwise labels every minor tick)."""
    ys = [np.asarray(t.y, float) for t in fig.data if t.y is not None and (t.yaxis or "y") == axis.replace("axis", "")]
    vals = np.concatenate([y[np.isfinite(y) & (y > 0)] for y in ys]) if ys else np.zeros(0)
    if vals.size == 0:
        return fig
    lo, hi = np.floor(np.log10(vals.min())), np.ceil(np.log10(vals.max()))
    mant = (1, 2, 5) if hi - lo <= 3 else (1,)
    every = max(1, int(np.ceil((hi - lo) / 8)))  # at most ~8 labelled decades
    ticks = [m * 10.0**k for k in range(int(lo), int(hi) + 1, every) for m in mant]
    ticks = [t for t in ticks if vals.min() / 1.5 <= t <= vals.max() * 1.5]
    fig.update_layout({axis: dict(tickmode="array", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])})
    return fig


def _stop_lines(res, flows, x_axis: str) -> list[tuple]:
    out = []
    if res is not None and res.diverged:
        out.append((float(_x([res.diverged_step], res.lr, x_axis)[0]), f"diverged at step {res.diverged_step}", CF))
    for f in flows:
        if f is not None and np.isfinite(f.stop_time) and not f.diverged:
            x = f.stop_time if x_axis == "time" else f.stop_time / f.lr
            out.append((x, "central flow stops: 2nd eigenvalue at 2/lr", CF))
    return out


def loss_figure(res, x_axis: str = "step", gradient=None, central=None, height: int = 340) -> go.Figure:
    """Training loss (log y) of GD, with the flows' losses and the central flow's prediction."""
    traces = [{"x": _x(res.steps, res.lr, x_axis), "y": res.loss, "name": "GD loss", "color": GD, "width": 1.5}]
    if gradient is not None:
        traces.append({"x": _flow_x(gradient, x_axis), "y": gradient.loss, "name": "gradient flow", "color": GF})
    if central is not None:
        cx = _flow_x(central, x_axis)
        traces.append({"x": cx, "y": central.loss, "name": "central flow L(w)", "color": CF, "dash": "dot"})
        traces.append({"x": cx, "y": central.predicted_loss, "name": "central flow: predicted GD average", "color": CF})
    fig = figures.line(
        traces,
        x_title=X_TITLES[x_axis],
        y_title="training loss L",
        log_y=True,
        vlines=_stop_lines(res, [central], x_axis),
        height=height,
    )
    return _log_ticks(fig)


def sharpness_figure(
    res, x_axis: str = "step", top_k: bool = True, gradient=None, central=None, height: int = 380
) -> go.Figure:
    """Sharpness (top Hessian eigenvalue) with the 2/lr line; top-k, batch sharpness and flows."""
    x = _x(res.eig_steps, res.lr, x_axis)
    traces = []
    if top_k:
        for j in range(1, res.eigenvalues.shape[1]):
            traces.append(
                {
                    "x": x,
                    "y": res.eigenvalues[:, j],
                    "name": f"eigenvalue {j + 1}",
                    "color": GD,
                    "width": 1,
                    "opacity": max(0.25, 0.6 - 0.1 * j),
                }
            )
    traces.append({"x": x, "y": res.sharpness, "name": "sharpness (top eigenvalue)", "color": GD, "width": 2.5})
    if len(res.batch_sharpness):
        traces.append({"x": x, "y": res.batch_sharpness, "name": "batch sharpness (SGD)", "color": BATCH})
    if gradient is not None:
        traces.append({"x": _flow_x(gradient, x_axis), "y": gradient.sharpness, "name": "gradient flow", "color": GF})
    if central is not None:
        traces.append({"x": _flow_x(central, x_axis), "y": central.sharpness, "name": "central flow", "color": CF})
    finite = [np.nanmax(t["y"]) for t in traces if np.isfinite(np.asarray(t["y"], float)).any()]
    top = max([2 / res.lr] + finite)
    return figures.line(
        traces,
        x_title=X_TITLES[x_axis],
        y_title="Hessian eigenvalue",
        hlines=[(2 / res.lr, f"2/lr = {2 / res.lr:.3g}", EDGE)],
        vlines=_stop_lines(res, [central], x_axis),
        y_range=(0, 1.12 * top),
        height=height,
    )


DIAGRAM_LABELS = {
    "lr": "learning rate",
    "batch_size": "batch size",
    "width": "width",
    "edge_ratio": "sharpness x lr/2",
    "c": "c = lr * lambda0",
    "final_lr_lambda": "final lr * lambda",
}


def phase_figure(sr, current: tuple | None = None, full_batch: int | None = None) -> go.Figure:
    """lr x (batch size | width) colored by late-time (batch) sharpness * lr/2; 1 = at the edge."""
    labels = dict(DIAGRAM_LABELS)
    if sr.y_field == "batch_size" and full_batch is not None:
        labels["batch_size"] = f"batch size ({full_batch} = full batch)"
    return figures.sweep_heatmap(
        sr,
        "edge_ratio",
        labels=labels,
        current=current,
        colorscale="RdBu_r",
        zmin=0.0,
        zmax=2.0,
        zmid=1.0,
    )


def _loss_and_lr_lambda_axes(fig: go.Figure, height: int, loss_title: str, right_title: str, right_range) -> None:
    """Catapult charts: steps on x, the loss on a log left axis, lr * lambda on a linear right axis."""
    fig.update_layout(
        height=height,
        template="plotly_white",
        margin=dict(l=60, r=60, t=20, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        xaxis=dict(title="step t"),
        yaxis=dict(title=loss_title, type="log", tickformat="~g", exponentformat="power"),
        yaxis2=dict(
            title=right_title,
            overlaying="y",
            side="right",
            showgrid=False,
            tickmode="linear",
            dtick=1,
            range=right_range,
        ),
    )


def catapult_figure(res, height: int = 340) -> go.Figure:
    """Loss (log) and lr * lambda_t (the kernel's top eigenvalue in units of 2/lr) over steps."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=res.steps, y=res.loss, name="training loss", line=dict(color=GD, width=2)))
    fig.add_trace(
        go.Scatter(
            x=res.steps,
            y=res.lr * res.top_ntk_eig,
            name="lr * lambda (NTK top eigenvalue)",
            yaxis="y2",
            line=dict(color=CF, width=2),
        )
    )
    fig.add_hline(y=2.0, yref="y2", line=dict(color=CF, dash="dot", width=1.5))
    fig.add_annotation(x=0, xref="paper", y=2.0, yref="y2", text="lr * lambda = 2", showarrow=False, yshift=10)
    if res.diverged:
        fig.add_vline(x=res.diverged_step, line=dict(color="gray", dash="dot"))
        fig.add_annotation(x=res.diverged_step, y=1, yref="paper", text=f"diverged at step {res.diverged_step}")
    _loss_and_lr_lambda_axes(
        fig, height, "training loss L", "lr * lambda", [0, max(4.0, 1.1 * float(np.nanmax(res.lr * res.top_ntk_eig)))]
    )
    return _log_ticks(fig)


def catapult_phase_figure(sr, current: tuple | None = None) -> go.Figure:
    """width x c colored by the final lr * lambda (diverged cells crossed), with c = 2 and c = 4."""
    xs = list(sr.x_values)
    bounds = [
        {"x": [xs[0], xs[-1]], "y": [2.0, 2.0], "name": "c = 2 (linear stability)", "color": "black", "dash": "dot"},
        {"x": [xs[0], xs[-1]], "y": [4.0, 4.0], "name": "c = 4 (uv-model limit)", "color": "black"},
    ]
    return figures.sweep_heatmap(
        sr,
        "final_lr_lambda",
        labels=DIAGRAM_LABELS,
        current=current,
        boundaries=bounds,
        colorscale="Viridis",
        zmin=0.0,
        zmax=4.0,
    )


def uv_figure(results: Sequence, height: int = 340) -> go.Figure:
    """Exact uv-model trajectories: loss (log) for several c, solid; lr * lambda, dashed, right axis."""
    fig = go.Figure()
    for i, r in enumerate(results):
        color = figures.COLORS[i % len(figures.COLORS)]
        c = r.lr * r.lambda0
        name = f"c = {c:.3g}" + (" (diverges)" if r.diverged else "")
        fig.add_trace(go.Scatter(x=r.steps, y=r.loss, name=name, legendgroup=name, line=dict(color=color)))
        fig.add_trace(
            go.Scatter(
                x=r.steps,
                y=r.lr * r.lam,
                name=f"lr*lambda, c = {c:.3g}",
                legendgroup=name,
                showlegend=False,
                yaxis="y2",
                line=dict(color=color, dash="dash"),
            )
        )
    fig.add_hline(y=2.0, yref="y2", line=dict(color="black", dash="dot", width=1))
    _loss_and_lr_lambda_axes(fig, height, "loss f^2/2 (solid)", "lr * lambda (dashed)", [0, 5])
    fig.update_yaxes(range=[-12, 6], selector=dict(type="log"))
    return _log_ticks(fig)
