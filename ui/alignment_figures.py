"""Figures of the representation-alignment lab (pure plotly, from an ``engine.alignment.Result``).

Models come ordered by family (trained MLPs, trained conv nets, then the untrained baselines);
heatmaps draw lines between the families, and every score is drawn next to its permutation null.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures import COLORS

METRIC_LABELS = {"cka": "linear CKA", "cka_unbiased": "unbiased linear CKA", "knn": "mutual k-NN"}
GROUP_COLORS = {"MLP": COLORS[0], "Conv": COLORS[1], "MLP (untrained)": "#9ecae1", "Conv (untrained)": "#f4a6a6"}
_SCALE = "Viridis"


def metric_label(metric: str, r) -> str:
    lab = METRIC_LABELS[metric]
    if metric == "knn":
        lab += f" (k = {r.k}{', clipped' if r.clip else ''})"
    return lab


def _group_breaks(groups) -> list[float]:
    g = list(groups)
    return [i - 0.5 for i in range(1, len(g)) if g[i] != g[i - 1]]


def _fmt(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.3f}"


def similarity_heatmaps(r, metric: str, height: int = 560) -> go.Figure:
    """The zoo's similarity matrix and, beside it on the same color scale, its permutation null."""
    sim, null = np.asarray(r.sim(metric), float), np.asarray(r.null(metric), float)
    names = list(r.models)
    std = r.null_std[["cka", "cka_unbiased", "knn"].index(metric)] if r.null_std.size else np.full(sim.shape, np.nan)
    hover = [
        [
            f"{names[i]}<br>vs {names[j]}<br>score {_fmt(sim[i, j])}<br>null {_fmt(null[i, j])} ± {_fmt(std[i, j])}"
            for j in range(len(names))
        ]
        for i in range(len(names))
    ]
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.62, 0.38],
        horizontal_spacing=0.04,
        subplot_titles=(metric_label(metric, r), "permutation null (rows of one model shuffled)"),
    )
    lo = min(0.0, float(np.nanmin(np.concatenate([sim.ravel(), null.ravel()]))) if sim.size else 0.0)
    for col, z in ((1, sim), (2, null)):
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=names,
                y=names,
                zmin=lo,
                zmax=1.0,
                colorscale=_SCALE,
                text=hover,
                hoverinfo="text",
                showscale=col == 1,
                colorbar=dict(title=dict(text="similarity", side="right")),
            ),
            row=1,
            col=col,
        )
        for b in _group_breaks(r.group):
            for kw in (dict(x0=b, x1=b, y0=-0.5, y1=len(names) - 0.5), dict(y0=b, y1=b, x0=-0.5, x1=len(names) - 0.5)):
                fig.add_shape(type="line", line=dict(color="white", width=2), row=1, col=col, **kw)
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=10))
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    fig.update_xaxes(tickangle=-60, tickfont=dict(size=10))
    fig.update_xaxes(showticklabels=False, row=1, col=2)
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=10, r=10, t=40, b=10))
    return fig


def alignment_scatter(r, metric: str, to: str = "best") -> go.Figure:
    """Held-out accuracy vs alignment (to the most accurate model, or mean to the others), one point
    per model, colored by family; the null level dotted; with ``to="best"`` each trained model's
    path through its training snapshots, faint."""
    mi = ["cka", "cka_unbiased", "knn"].index(metric)
    y = r.align_best[mi] if to == "best" else r.align_mean[mi]
    null = r.null(metric)
    if to == "best" and r.best >= 0:
        null_level = np.nanmean(np.delete(null[:, r.best], r.best))
    else:
        null_level = np.nanmean(null[~np.eye(len(null), dtype=bool)]) if len(null) > 1 else np.nan
    fig = go.Figure()
    if to == "best" and r.snap_best.size:
        for j, m in enumerate(r.snap_models):
            if m == r.best:
                continue
            fig.add_trace(
                go.Scatter(
                    x=r.snap_accuracy[:, j],
                    y=r.snap_best[mi][:, j],
                    mode="lines+markers",
                    line=dict(color=GROUP_COLORS.get(r.group[m], "gray"), width=1),
                    marker=dict(size=4),
                    opacity=0.35,
                    name="during training",
                    legendgroup="training",
                    showlegend=bool(j == 0 or (j == 1 and r.snap_models[0] == r.best)),
                    hovertext=[f"{r.models[m]} at step {s}" for s in r.snap_steps],
                    hoverinfo="text+x+y",
                )
            )
    for g in dict.fromkeys(r.group):
        idx = [i for i in range(len(r.models)) if r.group[i] == g and np.isfinite(y[i])]
        fig.add_trace(
            go.Scatter(
                x=r.accuracy[idx],
                y=y[idx],
                mode="markers",
                name=g,
                marker=dict(size=11, color=GROUP_COLORS.get(g, "gray"), line=dict(color="black", width=1)),
                hovertext=[r.models[i] for i in idx],
                hoverinfo="text+x+y",
            )
        )
    if np.isfinite(null_level):
        fig.add_hline(
            y=null_level,
            line=dict(color="gray", dash="dot"),
            annotation_text="permutation null",
            annotation_position="bottom right",
        )
    rho, (lo, hi) = r.rho[mi, 0 if to == "mean" else 1], r.rho_ci[mi, 0 if to == "mean" else 1]
    who = f"to the most accurate model ({r.models[r.best]})" if to == "best" else "mean to the other models"
    title = f"Spearman rho = {rho:.2f}  (95% bootstrap interval {lo:.2f} to {hi:.2f})" if np.isfinite(rho) else None
    fig.update_layout(
        title=dict(text=title, font=dict(size=15)),
        height=470,
        template="plotly_white",
        margin=dict(l=60, r=20, t=40, b=50),
        legend=dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0),
    )
    fig.update_xaxes(title_text="held-out accuracy", range=[0, 1.02])
    fig.update_yaxes(title_text=f"{METRIC_LABELS[metric]} {who}")
    return fig


def training_curves(r, metric: str, per_model: bool = True) -> go.Figure:
    """Each trained model's alignment to the most accurate model's final representation over
    training (faint; left out with ``per_model=False``, e.g. when pinned runs are overlaid), their
    mean (thick), its null (dotted), and the mean accuracy (right axis)."""
    mi = ["cka", "cka_unbiased", "knn"].index(metric)
    steps = [str(s) for s in r.snap_steps]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    others = [j for j, m in enumerate(r.snap_models) if m != r.best]
    for j in others if per_model else []:
        m = r.snap_models[j]
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=r.snap_best[mi][:, j],
                mode="lines",
                line=dict(color=GROUP_COLORS.get(r.group[m], "gray"), width=1),
                opacity=0.45,
                name=r.models[m],
                showlegend=False,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=r.snap_best[mi][:, others].mean(1),
            mode="lines+markers",
            name="mean alignment",
            line=dict(color="black", width=4),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=steps, y=r.snap_best_null[mi], mode="lines", name="permutation null", line=dict(color="gray", dash="dot")
        )
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=r.snap_accuracy[:, others].mean(1),
            mode="lines+markers",
            name="mean held-out accuracy",
            line=dict(color=COLORS[2], dash="dash", width=3),
        ),
        secondary_y=True,
    )
    fig.update_layout(
        height=470,
        template="plotly_white",
        margin=dict(l=60, r=60, t=40, b=50),
        legend=dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0),
    )
    fig.update_xaxes(title_text="training step (Adam, log-spaced snapshots)", type="category")
    fig.update_yaxes(title_text=f"{METRIC_LABELS[metric]} to the best model", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="held-out accuracy", range=[0, 1.02], dtick=0.2, secondary_y=True, showgrid=False)
    return fig


def layer_heatmap(r) -> go.Figure:
    """Linear CKA between every layer of model A (rows) and of model B (columns), input pixels first."""
    z = np.asarray(r.layer_cka, float)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(r.layers_b),
            y=list(r.layers_a),
            zmin=0,
            zmax=1,
            colorscale=_SCALE,
            text=[[f"{v:.2f}" for v in row] for row in z],
            texttemplate="%{text}",
            colorbar=dict(title=dict(text="linear CKA", side="right")),
        )
    )
    fig.update_yaxes(autorange="reversed", title_text=f"A: {r.models[r.model_a]}")
    fig.update_xaxes(title_text=f"B: {r.models[r.model_b]}")
    fig.update_layout(height=380, template="plotly_white", margin=dict(l=60, r=20, t=20, b=50))
    return fig


def accuracy_bars(r) -> go.Figure:
    """Held-out accuracy of every finished model, colored by family (the live view while training)."""
    fig = go.Figure(
        go.Bar(
            x=list(r.models),
            y=r.accuracy,
            marker_color=[GROUP_COLORS.get(g, "gray") for g in r.group],
            hovertemplate="%{x}: %{y:.3f}<extra></extra>",
        )
    )
    fig.add_hline(y=0.1, line=dict(color="gray", dash="dot"), annotation_text="chance (10 classes)")
    fig.update_layout(height=300, template="plotly_white", margin=dict(l=60, r=20, t=20, b=10))
    fig.update_yaxes(title_text="held-out accuracy", range=[0, 1.02])
    fig.update_xaxes(tickangle=-60, tickfont=dict(size=10))
    return fig
