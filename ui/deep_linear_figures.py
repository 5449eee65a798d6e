"""Figures of the deep linear networks lab: pure plotly builders (no Streamlit, no JAX).

Every simulated curve is solid, its theory dashed in the same color. Time on the x axes is
t = lr * steps (tau = 1/lr), the unit in which the theory is written.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from engine.deep_linear_theory import learn_time
from ui import figures

TIME = "time t = lr x steps"


def _mode_name(s: float) -> str:
    return f"s = {s:g}"


def modes_figure(r) -> go.Figure:
    """Mode strengths u_i(t) (solid) and their theory (dashed), one color per mode."""
    traces = []
    for i, s in enumerate(r.singular_values):
        color = figures.COLORS[i % len(figures.COLORS)]
        g = f"mode{i}"
        traces.append({"x": r.t, "y": r.mode_strengths[:, i], "name": _mode_name(s), "color": color, "group": g})
        traces.append(
            {
                "x": r.t,
                "y": r.theory[:, i],
                "color": color,
                "dash": figures.THEORY_DASH,
                "group": g,
                "showlegend": False,
            }
        )
    traces.append({"x": [np.nan], "y": [np.nan], "name": "theory (dashed)", "color": "black", "dash": "dash"})
    s_max = float(np.max(r.singular_values))
    u = r.mode_strengths[np.isfinite(r.mode_strengths)]
    lo = min(0.0, 1.05 * float(u.min())) if u.size else 0.0
    hi = 1.08 * min(max(s_max, float(u.max()) if u.size else 0.0), 3 * s_max)  # a blow-up stays in view
    return figures.line(traces, x_title=TIME, y_title="mode strength u_i = U_i^T W V_i", y_range=(lo, hi), height=420)


def loss_figure(r, log_y: bool = False) -> go.Figure:
    """Training loss (solid) with the theory's 1/2 sum_i (s_i - u_i(t))^2 (dashed); dotted lines at
    the theory's half-times, where each plateau ends."""
    traces = [
        {"x": r.t, "y": r.loss, "name": "loss (simulation)", "color": "#222222"},
        {"x": r.t, "y": r.loss_theory, "name": "theory", "color": "#ff7f0e", "dash": figures.THEORY_DASH},
    ]
    t_end = float(r.t[-1]) if len(r.t) else 0.0
    vlines = [
        (float(h), _mode_name(s), figures.COLORS[i % len(figures.COLORS)])
        for i, (h, s) in enumerate(zip(r.half_times_theory, r.singular_values))
        if np.isfinite(h) and 0 < h < t_end
    ]
    finite = r.loss[np.isfinite(r.loss) & (r.loss > 0)]
    y_top = float(finite.max()) if finite.size else 1.0
    y_range = None
    if log_y and finite.size:  # at least a decade, at most 8 (float32 ends near 1e-7 of the start)
        hi = np.log10(1.5 * y_top)
        y_range = (min(max(np.log10(finite.min()), hi - 8), hi - 1), hi)
    fig = figures.line(
        traces, x_title=TIME, y_title="loss L = 1/2 ||Σyx - W||²", log_y=log_y, height=420, y_range=y_range
    )
    for x, label, color in vlines:  # thin lines; labels in the hover, not on the plot (they would overlap)
        fig.add_vline(x=x, line=dict(color=color, dash="dot", width=1.2))
        fig.add_trace(
            go.Scatter(
                x=[x],
                y=[y_top],
                mode="markers",
                marker=dict(color=color, size=8, symbol="triangle-down"),
                name=f"half-time {label}",
                showlegend=False,
                hovertemplate=f"theory half-time of {label}: t = {x:.3g}<extra></extra>",
            )
        )
    return fig


def balance_figure(b) -> go.Figure:
    """Drift of the conserved quantities since init, for each learning rate (solid), with the summed
    GD terms lr^2 (G G^T - G^T G) dashed on top (equal to it up to rounding)."""
    traces = []
    for i, lr in enumerate(b.lrs):
        color = figures.COLORS[i % len(figures.COLORS)]
        g = f"lr{i}"
        traces.append({"x": b.t[i], "y": b.drift[i], "name": f"lr = {lr:.3g}", "color": color, "group": g})
        traces.append(
            {
                "x": b.t[i],
                "y": b.gd_terms[i],
                "name": "sum of lr² (G Gᵀ − Gᵀ G)" if i == 0 else "",
                "color": "black",
                "dash": figures.THEORY_DASH,
                "width": 1.2,
                "group": g,
                "showlegend": i == 0,
            }
        )
    return figures.line(
        traces,
        x_title=TIME,
        y_title="balancedness drift ||C(t) − C(0)||_F",
        log_y=True,
        height=380,
    ).update_yaxes(dtick="D2")  # 1-2-5 labels: all nine per decade would overlap on a short range


def _not_learned(fig, sr, z, log_y: bool, t_max: float) -> None:
    """Grey squares on cells that did not learn within the run (NaN and not diverged)."""
    miss = ~np.isfinite(z) & sr.done & ~sr.diverged
    if not miss.any():
        return
    ii, jj = np.nonzero(miss)
    xs = figures.to_axis(np.asarray(sr.x_values, float)[ii], True)
    yv = _y_numbers(sr)[jj]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=figures.to_axis(yv, log_y),
            mode="markers",
            name=f"not learned by t = {t_max:.3g}",
            marker=dict(symbol="square", size=26, color="#bbbbbb"),
            hoverinfo="skip",
        )
    )


def _y_numbers(sr) -> np.ndarray:
    """y values as numbers (single-mode spectra (s,) become s)."""
    return np.array([v[0] if np.ndim(v) else v for v in sr.y_values], float)


def stage_diagram(sr, current: tuple | None, t_max: float, x_title: str) -> go.Figure:
    """Init scale x depth, colored by stage-likeness (0: all modes together, toward 1: one by one)."""
    z = sr.metrics.get("stage_likeness", np.full(sr.diverged.shape, np.nan))
    fig = figures.heatmap(
        sr.x_values,
        sr.y_values,
        z,
        x_title=x_title,
        y_title="depth D (weight matrices)",
        z_title="stage-likeness",
        log_y=False,
        diverged=sr.diverged,
        current=current,
        zmin=0.0,
        zmax=1.0,
        colorscale="Viridis",
    )
    _not_learned(fig, sr, z, False, t_max)
    return fig


def time_diagram(sr, depth: int, current: tuple | None, t_max: float, x_title: str, theory: bool) -> go.Figure:
    """Init scale x mode strength, colored by the time to learn a mode (|u - s| <= 0.1 s); the
    theory's time to learn as labelled white contours (aligned init)."""
    z = sr.metrics.get("learn_time", np.full(sr.diverged.shape, np.nan))
    ys = _y_numbers(sr)
    fig = figures.heatmap(
        sr.x_values,
        ys,
        z,
        x_title=x_title,
        y_title="mode strength s",
        z_title="time to learn",
        diverged=sr.diverged,
        current=current,
        log_z=True,
        colorscale="Plasma",
    )
    if theory:
        add_time_contours(fig, sr.x_values, ys, depth)
    _not_learned(fig, sr, z, True, t_max)
    return fig


def add_time_contours(fig, x_values, y_values, depth: int, levels=(0.5, 1, 2, 5, 10, 20, 50, 100)) -> None:
    """Theory time-to-learn contours over (u0, s) on log axes, one labelled line per level."""
    # growing modes only (u0 < 0.9 s everywhere): no jump where u0 reaches s, no gaps to outline
    gx = np.geomspace(min(x_values), min(max(x_values), 0.85 * min(y_values)), 80)
    gy = np.geomspace(min(y_values), max(y_values), 80)
    tt = learn_time(gy[:, None], gx[None, :], depth)  # (ny, nx) as plotly's z
    for k, lv in enumerate(levels):
        if not (np.nanmin(tt) < lv < np.nanmax(tt)):
            continue
        fig.add_trace(
            go.Contour(
                x=np.log10(gx),
                y=np.log10(gy),
                z=tt,
                contours=dict(
                    start=lv, end=lv, size=1, coloring="none", showlabels=True, labelfont=dict(color="white", size=15)
                ),
                line=dict(color="white", width=2, dash="dash"),
                showscale=False,
                hoverinfo="skip",
                name="theory time to learn",
                showlegend=k == 0,
            )
        )


def run_table(r) -> dict:
    """Columns of the single run for CSV/JSON export."""
    out = {"step": r.steps, "t": r.t, "loss": r.loss, "loss_theory": r.loss_theory}
    for i, s in enumerate(r.singular_values):
        out[f"u_{i}_s{s:g}"] = r.mode_strengths[:, i]
        out[f"theory_{i}_s{s:g}"] = r.theory[:, i]
    for j in range(r.balance_drift.shape[1]):
        out[f"balance_drift_{j + 1}{j + 2}"] = r.balance_drift[:, j]
    return out


def sweep_table(sr) -> dict:
    """Long-format columns of a phase diagram: x, y and every metric per cell."""
    nx, ny = sr.diverged.shape
    xs = np.repeat(np.asarray(sr.x_values, float), ny)
    ys = np.tile(_y_numbers(sr), nx)
    return {
        sr.x_field: xs,
        sr.y_field: ys,
        **{k: v.ravel() for k, v in sr.metrics.items()},
        "diverged": sr.diverged.ravel(),
    }


def diagram_snippet(cfg) -> str:
    """Python that recomputes both phase diagrams for ``cfg``."""
    from ui.export import snippet

    head = snippet(cfg).split("result =")[0]
    return (
        head.replace("from engine import deep_linear", "from engine import deep_linear, sweep")
        + "for name in ('init scale x depth', 'init scale x mode strength'):\n"
        + "    base, x, y = deep_linear.diagram(cfg, name)\n"
        + "    sr = sweep.sweep('deep_linear', base, x, y)  # sr.metrics['stage_likeness'], ['learn_time']\n"
    )
