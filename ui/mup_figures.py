"""Figures of the hyperparameter transfer lab: pure plotly builders (no Streamlit, no JAX).

Learning rates are plotted on log axes labelled in powers of two (the sweep's grid); widths
on log axes; one color per width (dark = narrow, bright = wide) in every chart.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from engine.mup import CoordResult, SweepResult, loglog_slopes, stability_edge
from ui import figures

NAMES = {"standard": "standard (SP)", "mup": "muP"}
PARAM_COLORS = {"standard": "#d62728", "mup": "#1f77b4"}
LAYER_COLORS = ["#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
LR_TITLE = "learning rate at base width (log2 grid)"
LOSS_TITLE = "final training loss"


def width_colors(n: int) -> list[str]:
    return sample_colorscale("Viridis", list(np.linspace(0.0, 0.85, n))) if n > 1 else ["#440154"]


def _pow2_ticks(values) -> dict:
    """Log-axis ticks at the powers of two among ``values`` (at most ~8 labels)."""
    k = np.unique(np.round(np.log2(np.asarray(values, float)[np.isfinite(values)])).astype(int))
    k = k[:: max(1, int(np.ceil(len(k) / 8)))]
    return dict(type="log", tickmode="array", tickvals=list(2.0**k), ticktext=[f"2<sup>{v}</sup>" for v in k])


def _log_ticks(lo: float, hi: float) -> dict:
    """Log-axis ticks at 1, 2, 5 x 10^k (every decade only if the range is wide) within [lo, hi] (log10),
    fully labelled (plotly's own minor labels read "5" for 0.05)."""
    mant = (1.0,) if hi - lo > 2.5 else (1.0, 2.0, 5.0)
    vals = [m * 10.0**k for k in range(int(np.floor(lo)), int(np.ceil(hi)) + 1) for m in mant]
    vals = [v for v in vals if lo <= np.log10(v) <= hi]
    return dict(type="log", tickmode="array", tickvals=vals, ticktext=[f"{v:g}" for v in vals], range=[lo, hi])


def _width_ticks(widths) -> dict:
    w = np.asarray(widths, float)
    return dict(type="log", tickmode="array", tickvals=list(w), ticktext=[f"{v:g}" for v in w])


def _layout(fig: go.Figure, title: str | None, height: int = 400) -> go.Figure:
    fig.update_layout(
        title=title,
        height=height,
        template="plotly_white",
        margin=dict(l=60, r=20, t=60 if title else 30, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    )
    return fig


def loss_vs_lr(sr: SweepResult, y_range: tuple | None = None, title: str | None = None) -> go.Figure:
    """Final loss vs lr, one curve per width (error bars: std over seeds); stars: each curve's
    argmin; crosses along the top: diverged runs. y_range: (lo, hi) of log10 loss, to share axes."""
    fig = go.Figure()
    colors = width_colors(len(sr.widths))
    finite = sr.loss[np.isfinite(sr.loss)]
    top = 10 ** y_range[1] / 1.3 if y_range else (finite.max() * 1.5 if finite.size else 1.0)
    for i, w in enumerate(sr.widths):
        g, c = f"w{i}", colors[i]
        fig.add_trace(
            go.Scatter(
                x=sr.lrs,
                y=sr.loss[i],
                name=f"width {w:g}",
                mode="lines+markers",
                line=dict(color=c, width=2),
                marker=dict(size=5),
                error_y=dict(type="data", array=sr.loss_std[i], visible=True, thickness=1, width=0),
                legendgroup=g,
            )
        )
        if sr.best_index[i] >= 0:
            j = sr.best_index[i]
            fig.add_trace(
                go.Scatter(
                    x=[sr.lrs[j]],
                    y=[sr.loss[i, j]],
                    mode="markers",
                    marker=dict(symbol="star", size=15, color=c, line=dict(color="black", width=1)),
                    name=f"best lr, width {w:g}",
                    legendgroup=g,
                    showlegend=False,
                    hovertemplate=f"width {w:g}: best lr %{{x:.3g}}, loss %{{y:.3g}}<extra></extra>",
                )
            )
        d = np.asarray(sr.diverged[i], bool)
        if d.any():
            fig.add_trace(
                go.Scatter(
                    x=sr.lrs[d],
                    y=np.full(int(d.sum()), top * 0.88**i),  # one row of crosses per width
                    mode="markers",
                    marker=dict(symbol="x", size=9, color=c),
                    name="diverged",
                    legendgroup=g,
                    showlegend=False,
                    hovertemplate=f"width {w:g}: diverged at lr %{{x:.3g}}<extra></extra>",
                )
            )
    fig.add_trace(  # legend keys for the markers
        go.Scatter(
            x=[None], y=[None], mode="markers", marker=dict(symbol="star", size=12, color="gray"), name="best lr"
        )
    )
    fig.add_trace(
        go.Scatter(x=[None], y=[None], mode="markers", marker=dict(symbol="x", size=9, color="gray"), name="diverged")
    )
    fig.update_xaxes(title_text=LR_TITLE, **_pow2_ticks(sr.lrs))
    if y_range is None:
        lo = np.log10(finite.min()) - 0.1 if finite.size else -2.0
        y_range = (lo, np.log10(top) + 0.15)
    fig.update_yaxes(title_text=LOSS_TITLE, **_log_ticks(*y_range))
    _layout(fig, title or NAMES.get(sr.parametrization, sr.parametrization), height=480)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0), margin=dict(b=110))
    return fig


def shared_loss_range(*srs: SweepResult) -> tuple[float, float]:
    """log10 range covering every finite loss of the sweeps, with room above for the crosses."""
    vals = np.concatenate([s.loss[np.isfinite(s.loss)] for s in srs] + [np.zeros(0)])
    if not vals.size:
        return (-2.0, 0.0)
    return (float(np.log10(vals.min())) - 0.1, float(np.log10(vals.max())) + 0.5)


def seed_range(sr: SweepResult) -> tuple[np.ndarray, np.ndarray]:
    """Per width: the smallest and largest of the seeds' own best learning rates (NaN if unknown)."""
    s = sr.seed_best_lr
    if s is None or not np.isfinite(s).any():
        nan = np.full(len(sr.widths), np.nan)
        return nan, nan
    with np.errstate(all="ignore"):
        ok = np.isfinite(s).any(axis=1)
        lo = np.where(ok, np.nanmin(np.where(np.isfinite(s), s, np.inf), axis=1), np.nan)
        hi = np.where(ok, np.nanmax(np.where(np.isfinite(s), s, -np.inf), axis=1), np.nan)
    return lo, hi


def optimal_lr(srs: dict[str, SweepResult]) -> go.Figure:
    """Best lr of the seed-averaged loss (solid, stars; error bars and open circles: each seed's
    own argmin) and largest stable lr (dotted) vs width, per parametrization, with a 1/width
    guide (dashed gray) through SP's stability edge at the narrowest width."""
    fig = go.Figure()
    all_lrs, widths = [], None
    for p, sr in srs.items():
        c, name = PARAM_COLORS.get(p, "black"), NAMES.get(p, p)
        widths = sr.widths
        edge, _ = stability_edge(sr)
        lo, hi = seed_range(sr)
        err = {}
        if np.isfinite(lo).any():  # error bars: the range of the seeds' own argmins
            up, down = np.nan_to_num(hi - sr.best_lr), np.nan_to_num(sr.best_lr - lo)
            err = dict(error_y=dict(type="data", array=up, arrayminus=down, visible=True, thickness=1.5, width=6))
        fig.add_trace(
            go.Scatter(
                x=sr.widths,
                y=sr.best_lr,
                mode="lines+markers",
                name=f"{name}: best lr",
                line=dict(color=c, width=3),
                marker=dict(symbol="star", size=13),
                **err,
            )
        )
        if sr.seed_best_lr is not None and sr.seed_best_lr.shape[1] > 1:
            n_s = sr.seed_best_lr.shape[1]
            fig.add_trace(
                go.Scatter(
                    x=np.repeat(sr.widths, n_s) * np.tile(1 + 0.04 * (np.arange(n_s) - (n_s - 1) / 2), len(sr.widths)),
                    y=sr.seed_best_lr.ravel(),
                    mode="markers",
                    name=f"{name}: each seed's best lr",
                    marker=dict(symbol="circle-open", size=8, color=c),
                    hovertemplate="width %{x:.0f}: seed's best lr %{y:.3g}<extra></extra>",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=sr.widths,
                y=edge,
                mode="lines+markers",
                name=f"{name}: largest stable lr",
                line=dict(color=c, width=1.5, dash="dot"),
                marker=dict(symbol="triangle-up", size=8),
            )
        )
        all_lrs += [sr.lrs]
        if p == "standard" and np.isfinite(edge[0]):
            fig.add_trace(
                go.Scatter(
                    x=sr.widths,
                    y=edge[0] * sr.widths[0] / sr.widths,
                    mode="lines",
                    name="~ 1/width",
                    line=dict(color="gray", dash="dash", width=1),
                )
            )
    lrs = np.concatenate(all_lrs) if all_lrs else np.array([1.0])
    fig.update_xaxes(title_text="width (hidden units)", **_width_ticks(widths if widths is not None else [1]))
    fig.update_yaxes(
        title_text="learning rate at base width",
        range=[np.log10(lrs.min()) - 0.1, np.log10(lrs.max()) + 0.1],
        **_pow2_ticks(lrs),
    )
    _layout(fig, "Optimal learning rate vs width", height=490)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.26, xanchor="left", x=0), margin=dict(b=140))
    return fig


def phase_diagram(sr: SweepResult, title: str | None = None, zrange: tuple | None = None) -> go.Figure:
    """Width x lr colored by log10 final loss; crosses: diverged; white line: stable/divergent
    boundary; stars: the best lr of each width. zrange: (lo, hi) log10 loss to share colors."""
    _, boundary = stability_edge(sr)
    b = [{"x": sr.widths, "y": boundary, "name": "stable / divergent boundary", "color": "white", "dash": "solid"}]
    kw = dict(zmin=zrange[0], zmax=zrange[1]) if zrange else {}
    fig = figures.heatmap(
        sr.widths,
        sr.lrs,
        sr.loss,
        x_title="width",
        y_title="learning rate at base width",
        z_title=LOSS_TITLE,
        diverged=sr.diverged,
        boundaries=b,
        log_z=True,
        z_spread=sr.loss_std,
        title=title or NAMES.get(sr.parametrization, sr.parametrization),
        height=430,
        **kw,
    )
    ok = sr.best_index >= 0
    fig.add_trace(
        go.Scatter(
            x=np.log10(sr.widths[ok]),
            y=np.log10(sr.best_lr[ok]),
            mode="markers+lines",
            name="best lr",
            line=dict(color="#ff7f0e", width=1.5),
            marker=dict(symbol="star", size=14, color="#ff7f0e", line=dict(color="black", width=1)),
            hoverinfo="skip",
        )
    )
    ylr = np.asarray(sr.lrs, float)
    k = np.unique(np.round(np.log2(ylr)).astype(int))[:: max(1, int(np.ceil(len(ylr) / 8)))]
    fig.update_yaxes(tickmode="array", tickvals=list(np.log10(2.0**k)), ticktext=[f"2<sup>{v}</sup>" for v in k])
    fig.update_xaxes(tickmode="array", tickvals=list(np.log10(sr.widths)), ticktext=[f"{w:g}" for w in sr.widths])
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0), margin=dict(b=110))
    return fig


def coord_figure(crs: dict[str, CoordResult]) -> go.Figure:
    """The mup package's coord-check plot: rows = parametrizations, columns = step t (0 =
    initialization), mean |pre-activation| vs width (log-log, shared y), one color per layer."""
    crs = {p: c for p, c in crs.items() if c is not None}
    first = next(iter(crs.values()))
    steps = list(first.steps)
    fig = make_subplots(
        rows=len(crs),
        cols=len(steps),
        shared_yaxes=True,
        horizontal_spacing=0.02,
        vertical_spacing=0.12,
        subplot_titles=[f"{NAMES.get(p, p)}, t = {t}" for p in crs for t in steps],
    )
    for r, cr in enumerate(crs.values(), start=1):
        for ti in range(len(cr.steps)):
            for k, layer in enumerate(cr.layers):
                fig.add_trace(
                    go.Scatter(
                        x=cr.widths,
                        y=cr.act_size[:, ti, k],
                        mode="lines+markers",
                        name=layer,
                        legendgroup=layer,
                        showlegend=r == 1 and ti == 0,
                        line=dict(color=LAYER_COLORS[k % len(LAYER_COLORS)], width=2),
                        marker=dict(size=5),
                        hovertemplate=f"{layer}, t = {cr.steps[ti]}: width %{{x}}, %{{y:.3g}}<extra></extra>",
                    ),
                    row=r,
                    col=ti + 1,
                )
    fig.update_xaxes(**_width_ticks(first.widths), tickangle=0)
    fig.update_xaxes(title_text="width", row=len(crs))
    yr = shared_coord_range(*crs.values())
    fig.update_yaxes(**_log_ticks(*yr))
    fig.update_yaxes(title_text="mean |pre-activation|", col=1)
    _layout(fig, None, height=300 * len(crs) + 100)
    fig.update_layout(legend=dict(y=1.08), margin=dict(t=80))
    return fig


def shared_coord_range(*crs: CoordResult) -> tuple[float, float]:
    vals = np.concatenate([c.act_size[np.isfinite(c.act_size) & (c.act_size > 0)] for c in crs])
    return (float(np.log10(vals.min())) - 0.15, float(np.log10(vals.max())) + 0.15)


def slope_table(crs: dict[str, CoordResult]) -> dict[str, list]:
    """Log-log slope of mean |pre-activation| vs width per layer, for every step t >= 1."""
    out: dict[str, list] = {"layer": list(next(iter(crs.values())).layers)}
    for p, cr in crs.items():
        s = loglog_slopes(cr)
        for ti in range(1, len(cr.steps)):
            out[f"{NAMES.get(p, p)}, t = {cr.steps[ti]}"] = [round(float(v), 2) for v in s[ti]]
    return out


def sweep_table(sr: SweepResult) -> dict[str, np.ndarray]:
    """Long-format columns of a sweep for the CSV download."""
    w, lr = np.meshgrid(sr.widths, sr.lrs, indexing="ij")
    return {
        "parametrization": np.full(w.size, sr.parametrization),
        "width": w.ravel(),
        "lr": lr.ravel(),
        "loss": sr.loss.ravel(),
        "loss_std": sr.loss_std.ravel(),
        "diverged": sr.diverged.ravel(),
    }


def best_lr_table(srs: dict[str, SweepResult]) -> dict[str, np.ndarray]:
    """Per parametrization and width: the best lr of the mean loss and each seed's best lr (CSV)."""
    rows = []
    for p, sr in srs.items():
        n_s = 0 if sr.seed_best_lr is None else sr.seed_best_lr.shape[1]
        for i, w in enumerate(sr.widths):
            rows.append([p, w, sr.best_lr[i]] + [sr.seed_best_lr[i, k] for k in range(n_s)])
    n = max(len(r) for r in rows) - 3
    cols = {"parametrization": [], "width": [], "best_lr_mean_loss": []} | {f"best_lr_seed{k}": [] for k in range(n)}
    for r in rows:
        for c, v in zip(cols, r + [np.nan] * (n + 3 - len(r))):
            cols[c].append(v)
    return {k: np.asarray(v) for k, v in cols.items()}
