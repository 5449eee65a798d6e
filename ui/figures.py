"""Pure plotly builders shared by the labs (no Streamlit, no JAX): tested without the app.

Phase diagrams put log-scaled parameters on a log10 coordinate with readable tick labels
(plotly heatmaps on log axes misplace cells), mark diverged cells with a cross, the current
setting with a star, draw theory boundaries on top, and carry an almost invisible scatter
trace at the cell centres so a click selects a cell (a plain heatmap click selects nothing).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
THEORY_DASH = "dash"
SELECT_TRACE = "cells"


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _axis_style(log: bool) -> dict:
    # plotly labels log-axis minor ticks with bare digits ("2, 3, ... 0.1, 9, 8"): label every tick fully
    return dict(type="log", tickformat="~g", exponentformat="power") if log else dict(type="linear")


def line(
    traces: Sequence[dict],
    *,
    x_title: str,
    y_title: str,
    title: str | None = None,
    log_x: bool = False,
    log_y: bool = False,
    hlines: Sequence[tuple] = (),
    vlines: Sequence[tuple] = (),
    height: int = 380,
    y_range: tuple | None = None,
) -> go.Figure:
    """Line chart. traces: dicts with x, y, name and optional color, dash, mode, width, opacity,
    showlegend, group (legendgroup). hlines/vlines: (value, label[, color])."""
    fig = go.Figure()
    for i, t in enumerate(traces):
        fig.add_trace(
            go.Scatter(
                x=np.asarray(t["x"]),
                y=np.asarray(t["y"]),
                name=t.get("name", ""),
                mode=t.get("mode", "lines"),
                line=dict(color=t.get("color", COLORS[i % len(COLORS)]), dash=t.get("dash"), width=t.get("width", 2)),
                opacity=t.get("opacity", 1.0),
                showlegend=t.get("showlegend", True),
                legendgroup=t.get("group"),
                marker=dict(size=t.get("marker_size", 6)),
            )
        )
    for h in hlines:
        fig.add_hline(
            y=h[0],
            line=dict(color=h[2] if len(h) > 2 else "black", dash="dot", width=1.5),
            annotation_text=h[1],
            annotation_position="top left",
        )
    for v in vlines:
        fig.add_vline(
            x=v[0],
            line=dict(color=v[2] if len(v) > 2 else "gray", dash="dot", width=1.5),
            annotation_text=v[1],
            annotation_position="top right",
        )
    fig.update_layout(
        title=title,
        height=height,
        margin=dict(l=60, r=20, t=50 if title else 20, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        template="plotly_white",
    )
    fig.update_xaxes(title_text=x_title, **_axis_style(log_x))
    fig.update_yaxes(title_text=y_title, range=y_range, **_axis_style(log_y))
    return fig


def _axis(values: Sequence[float], log: bool) -> tuple[np.ndarray, dict]:
    v = np.asarray(values, float)
    pos = np.log10(v) if log else v
    ticks = dict(tickmode="array", tickvals=list(pos), ticktext=[_fmt(x) for x in v])
    if len(v) > 10:
        step = math.ceil(len(v) / 10)
        ticks = dict(tickmode="array", tickvals=list(pos[::step]), ticktext=[_fmt(x) for x in v[::step]])
    return pos, ticks


def to_axis(values, log: bool) -> np.ndarray:
    """Coordinates of parameter values on a heatmap axis (log10 for log axes)."""
    v = np.asarray(values, float)
    return np.log10(v) if log else v


def heatmap(
    x_values: Sequence[float],
    y_values: Sequence[float],
    z: np.ndarray,
    *,
    x_title: str,
    y_title: str,
    z_title: str,
    log_x: bool = True,
    log_y: bool = True,
    diverged: np.ndarray | None = None,
    current: tuple | None = None,
    boundaries: Sequence[dict] = (),
    colorscale: str = "Viridis",
    zmin=None,
    zmax=None,
    zmid=None,
    title: str | None = None,
    height: int = 460,
    log_z: bool = False,
    z_spread: np.ndarray | None = None,
) -> go.Figure:
    """Phase diagram. z has shape (nx, ny) (grid axes first, as sweeps return them).

    diverged (nx, ny) bool: cells marked with a cross; current: (x, y) in parameter units;
    boundaries: dicts with x, y (parameter units), name, optional color/dash (theory lines).
    With log_z the color is log10(z) and the color bar is labelled in z's units; z_spread (nx, ny)
    adds "± spread" (e.g. the standard deviation over seeds) to each cell's hover text.
    """
    z = np.asarray(z, float)
    xp, xt = _axis(x_values, log_x)
    yp, yt = _axis(y_values, log_y)
    zc = np.where(z > 0, np.log10(np.where(z > 0, z, 1.0)), np.nan) if log_z else z

    def cell(i: int, j: int) -> str:
        if diverged is not None and diverged[i, j]:
            return "diverged"
        if not np.isfinite(z[i, j]):
            return "not computed"
        pm = f" ± {_fmt(z_spread[i, j])}" if z_spread is not None and np.isfinite(z_spread[i, j]) else ""
        return _fmt(z[i, j]) + pm

    hover = [
        [f"{x_title}={_fmt(xv)}<br>{y_title}={_fmt(yv)}<br>{z_title}={cell(i, j)}" for i, xv in enumerate(x_values)]
        for j, yv in enumerate(y_values)
    ]
    cb = dict(title=dict(text=z_title, side="right"))
    if log_z:
        finite = zc[np.isfinite(zc)]
        if finite.size:
            lo, hi = math.floor(finite.min()), math.ceil(finite.max())
            ticks = np.arange(lo, hi + 1)
            cb.update(tickvals=list(ticks), ticktext=[_fmt(10.0**t) for t in ticks])
    fig = go.Figure(
        go.Heatmap(
            x=xp,
            y=yp,
            z=zc.T,
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            zmid=zmid,
            colorbar=cb,
            text=hover,
            hoverinfo="text",
            name=z_title,
            showscale=True,
        )
    )
    if diverged is not None and np.any(diverged):
        ii, jj = np.nonzero(diverged)
        fig.add_trace(
            go.Scatter(
                x=xp[ii],
                y=yp[jj],
                mode="markers",
                name="diverged",
                marker=dict(symbol="x", size=12, color="#d62728", line=dict(width=1)),
                hoverinfo="skip",
            )
        )
    for b in boundaries:
        bx, by = to_axis(b["x"], log_x), to_axis(b["y"], log_y)
        fig.add_trace(
            go.Scatter(
                x=bx,
                y=by,
                mode="lines",
                name=b.get("name", "theory"),
                line=dict(color=b.get("color", "white"), dash=b.get("dash", "dash"), width=3),
                hoverinfo="skip",
            )
        )
    if current is not None:
        fig.add_trace(
            go.Scatter(
                x=to_axis([current[0]], log_x),
                y=to_axis([current[1]], log_y),
                mode="markers",
                name="current setting",
                hoverinfo="skip",
                marker=dict(symbol="star", size=18, color="white", line=dict(color="black", width=2)),
            )
        )
    gx, gy = np.meshgrid(np.arange(len(xp)), np.arange(len(yp)), indexing="ij")
    fig.add_trace(
        go.Scatter(
            x=xp[gx.ravel()],
            y=yp[gy.ravel()],
            mode="markers",
            name=SELECT_TRACE,
            marker=dict(size=22, opacity=0.01, color="black"),
            showlegend=False,
            customdata=np.stack([gx.ravel(), gy.ravel()], 1),
            hoverinfo="none",
        )
    )
    pad_x = (xp[1] - xp[0]) / 2 if len(xp) > 1 else 0.5
    pad_y = (yp[1] - yp[0]) / 2 if len(yp) > 1 else 0.5
    fig.update_xaxes(title_text=x_title, range=[xp.min() - pad_x, xp.max() + pad_x], **xt)
    fig.update_yaxes(title_text=y_title, range=[yp.min() - pad_y, yp.max() + pad_y], **yt)
    fig.update_layout(
        title=title,
        height=height,
        template="plotly_white",
        margin=dict(l=70, r=20, t=50 if title else 30, b=60),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    )
    return fig


def sweep_heatmap(
    sr,
    metric: str,
    *,
    labels: dict | None = None,
    current: tuple | None = None,
    log_x: bool = True,
    log_y: bool = True,
    **kw,
) -> go.Figure:
    """Heatmap of ``sr.metrics[metric]`` for an ``engine.sweep.SweepResult``."""
    labels = labels or {}
    return heatmap(
        sr.x_values,
        sr.y_values,
        sr.metrics.get(metric, np.full(sr.diverged.shape, np.nan)),
        x_title=labels.get(sr.x_field, sr.x_field),
        y_title=labels.get(sr.y_field, sr.y_field),
        z_title=labels.get(metric, metric),
        diverged=sr.diverged,
        current=current,
        log_x=log_x,
        log_y=log_y,
        z_spread=sr.spread.get(metric) if sr.spread and sr.seeds is not None and len(sr.seeds) > 1 else None,
        **kw,
    )


def selected_cell(event, x_values: Sequence, y_values: Sequence) -> tuple | None:
    """(x, y) parameter values of the cell clicked in a heatmap from :func:`heatmap`, or None."""
    try:
        points = event.selection["points"] if hasattr(event, "selection") else event["selection"]["points"]
    except (KeyError, TypeError, AttributeError):
        return None
    for p in points or []:
        cd = p.get("customdata")
        if isinstance(cd, dict):  # plotly 7 in Streamlit sends a typed-array row as {"0": i, "1": j}
            cd = [cd.get("0"), cd.get("1")] if "0" in cd and "1" in cd else None
        if cd is not None and len(cd) == 2:
            i, j = int(cd[0]), int(cd[1])
            if 0 <= i < len(x_values) and 0 <= j < len(y_values):
                return x_values[i], y_values[j]
    return None
