"""Plotly builders for the scaling-laws page (pure functions of engine results; no Streamlit, no JAX)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from engine import rf, scaling
from ui import figures

LOSS = "held-out loss L"


def _shades(n: int, scale: str = "Viridis") -> list[str]:
    return sample_colorscale(scale, list(np.linspace(0.0, 0.85, max(n, 2))))[:n]


def _nice(v: float) -> str:
    return f"{v / 1e6:.3g}M" if v >= 1e6 else f"{v / 1e3:.3g}k" if v >= 1e4 else f"{v:.0f}"


def _fmt_ci(v: float, ci) -> str:
    return f"{v:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if np.all(np.isfinite(ci)) else f"{v:.2f}"


def _band(fig: go.Figure, x, lo, hi, color: str, group: str) -> None:
    fig.add_trace(
        go.Scatter(
            x=np.concatenate([x, x[::-1]]),
            y=np.concatenate([hi, lo[::-1]]),
            fill="toself",
            fillcolor=color,
            opacity=0.18,
            line=dict(width=0),
            hoverinfo="skip",
            showlegend=False,
            legendgroup=group,
        )
    )


def _log_layout(fig: go.Figure, x_title: str, y_title: str, height: int = 400) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin=dict(l=60, r=20, t=10, b=50),
        legend=dict(font=dict(size=11), orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    )
    fig.update_xaxes(type="log", title_text=x_title)
    fig.update_yaxes(type="log", title_text=y_title)
    return fig


def loss_vs_axis(r: scaling.Result, axis: str) -> go.Figure:
    """Held-out loss vs N (one series per D) or vs D (one series per width); fitted surface with its
    bootstrap band where the fit exists; the teacher's bottleneck floor on the N plot."""
    along_n = axis == "N"
    x = r.n_params if along_n else r.sizes.astype(float)
    others = r.sizes if along_n else r.widths
    colors = _shades(len(others))
    fine = np.geomspace(x.min(), x.max(), 60)
    fitted = np.all(np.isfinite(r.fit)) and len(r.fit_boot) > 0
    fig = go.Figure()
    for k, (o, c) in enumerate(zip(others, colors)):
        y = r.loss[:, k] if along_n else r.loss[k, :]
        name = f"D = {o}" if along_n else f"width {o} (N = {int(r.n_params[k]):,})"
        fig.add_trace(go.Scatter(x=x, y=y, mode="markers", marker=dict(color=c, size=8), name=name, legendgroup=name))
        if fitted:
            other = np.full_like(fine, float(o) if along_n else r.n_params[k])
            mid, lo, hi = scaling.predict(r, fine, other) if along_n else scaling.predict(r, other, fine)
            _band(fig, fine, lo, hi, c, name)
            fig.add_trace(
                go.Scatter(
                    x=fine, y=mid, mode="lines", line=dict(color=c, width=1.5), showlegend=False, legendgroup=name
                )
            )
    if along_n and np.all(np.isfinite(r.model_limit)):
        fig.add_trace(
            go.Scatter(
                x=r.n_params,
                y=r.model_limit,
                mode="lines",
                line=dict(color="black", dash="dash", width=2),
                name="bottleneck floor (theory)",
            )
        )
    return _log_layout(fig, "parameters N" if along_n else "training examples D", LOSS)


def loss_vs_compute(r: scaling.Result) -> go.Figure:
    """Every run's held-out loss vs counted training FLOPs (colour = width), the envelope over
    all runs (best loss reachable at each compute) and the fitted optimum L(N*(C), D*(C))."""
    colors = _shades(len(r.widths))
    fig = go.Figure()
    pts_c, pts_l = [], []
    for i, w in enumerate(r.widths):
        for j in range(len(r.sizes)):
            c = np.maximum(r.steps, 1) * r.flops_per_step[i, j]
            y = r.test_loss[i, j]
            ok = np.isfinite(y)
            pts_c.append(c[ok])
            pts_l.append(y[ok])
            fig.add_trace(
                go.Scatter(
                    x=c[ok],
                    y=y[ok],
                    mode="lines",
                    line=dict(color=colors[i], width=1),
                    opacity=0.5,
                    name=f"width {w}",
                    legendgroup=f"w{w}",
                    showlegend=j == len(r.sizes) - 1,
                )
            )
    if pts_c and sum(len(p) for p in pts_c):
        c, y = np.concatenate(pts_c), np.concatenate(pts_l)
        order = np.argsort(c)
        env_c, env_l = c[order], np.minimum.accumulate(y[order])
        keep = np.r_[True, np.diff(env_l) < 0]
        fig.add_trace(
            go.Scatter(x=env_c[keep], y=env_l[keep], mode="lines", line=dict(color="black", width=3), name="envelope")
        )
    if np.all(np.isfinite(r.fit)):
        C = np.geomspace(np.nanmin(r.flops), np.nanmax(r.flops), 40)
        n_opt, d_opt = scaling.compute_optimal(r, C)
        fig.add_trace(
            go.Scatter(
                x=C,
                y=scaling.predict(r, n_opt, d_opt)[0],
                mode="lines",
                line=dict(color="#d62728", dash="dash", width=2),
                name=f"fit: best (N, D) at {r.steps[-1]} steps",
            )
        )
    return _log_layout(fig, "training compute C (counted FLOPs)", LOSS)


def phase_map(r: scaling.Result) -> go.Figure:
    """Loss over (N, D): the fit's boundary A N^-a = B D^-b splits model-limited (above) from
    data-limited (below); iso-FLOP lines C = k N D and the compute-optimal path N*(C), D*(C)."""
    bounds = []
    if np.all(np.isfinite(r.fit)):
        E, A, a, B, b = r.fit
        n = np.geomspace(r.n_params.min() / 2, r.n_params.max() * 2, 50)
        bounds.append({"x": n, "y": (B / A * n**a) ** (1.0 / b), "name": "A N^-a = B D^-b", "color": "white"})
        k = scaling.flops_per_nd(r)
        lo, hi = np.log10(r.flops.min()), np.log10(r.flops.max())
        for logc in np.linspace(lo, hi, 4):
            bounds.append(
                {
                    "x": n,
                    "y": 10**logc / (k * n),
                    "name": "iso-FLOP C = k N D",
                    "color": "#bbbbbb",
                    "dash": "dot",
                }
            )
        C = np.geomspace(10 ** (lo - 1), 10 ** (hi + 1), 50)
        n_opt, d_opt = scaling.compute_optimal(r, C)
        bounds.append(
            {"x": n_opt, "y": d_opt, "name": "compute-optimal N*(C), D*(C)", "color": "#ff7f0e", "dash": "solid"}
        )
    fig = figures.heatmap(
        r.n_params,
        r.sizes,
        r.loss,
        x_title="parameters N",
        y_title="training examples D",
        z_title=LOSS,
        diverged=r.diverged,
        boundaries=bounds,
        log_z=True,
        colorscale="Viridis",
        height=440,
    )
    fig.update_xaxes(ticktext=[_nice(v) for v in r.n_params])
    seen = False
    for tr in fig.data:
        if tr.name == "iso-FLOP C = k N D":
            tr.showlegend, seen = not seen, True
    return fig


def isoflop(r: scaling.Result) -> go.Figure:
    """IsoFLOP profiles of the fit: L along N at fixed compute, minimum marked; counted FLOPs
    per parameter-example k vs the 6ND rule's 6 x steps."""
    fig = go.Figure()
    if not np.all(np.isfinite(r.fit)):
        return _log_layout(fig, "parameters N", LOSS)
    k = scaling.flops_per_nd(r)
    lo, hi = np.log10(r.flops.min()), np.log10(r.flops.max())
    cs = 10 ** np.linspace(lo, hi + 1, 5)
    colors = _shades(len(cs), "Plasma")
    for c, col in zip(cs, colors):
        n = np.geomspace(r.n_params.min() / 4, r.n_params.max() * 8, 80)
        d = c / (k * n)
        fig.add_trace(
            go.Scatter(x=n, y=scaling.predict(r, n, d)[0], mode="lines", line=dict(color=col), name=f"C = {c:.2g}")
        )
        n_opt, d_opt = scaling.compute_optimal(r, np.array([c]))
        fig.add_trace(
            go.Scatter(
                x=n_opt,
                y=scaling.predict(r, n_opt, d_opt)[0],
                mode="markers",
                marker=dict(color=col, size=11, symbol="star"),
                showlegend=False,
            )
        )
        n6, d6 = scaling.compute_optimal(r, np.array([c]), k=6.0 * r.steps[-1])
        fig.add_trace(
            go.Scatter(
                x=n6,
                y=scaling.predict(r, n6, d6)[0],
                mode="markers",
                marker=dict(color=col, size=9, symbol="circle-open", line=dict(width=2)),
                showlegend=bool(c == cs[0]),
                name="optimum with C = 6ND x steps",
            )
        )
    return _log_layout(fig, "parameters N (D = C / (k N))", LOSS)


def rf_curves(t: rf.TheoryResult, which: str) -> go.Figure:
    """Random-features simulation (markers or thin lines) and theory (dashed) for L(N), L(t) or L(D)."""
    fig = go.Figure()
    if which == "N":
        x = t.sizes
        fig.add_trace(
            go.Scatter(x=x, y=t.loss_n, mode="markers", name="simulated random features", marker=dict(size=8))
        )
        fig.add_trace(go.Scatter(x=x, y=t.loss_n_theory, mode="lines", line=dict(dash="dash"), name="theory"))
        fig.add_trace(
            go.Scatter(
                x=x, y=t.loss_n_top, mode="lines", line=dict(dash="dot", color="gray"), name="top-N eigenfeatures"
            )
        )
        return _log_layout(fig, "features N (infinite data and time)", "population loss", 360)
    if which == "t":
        for n, y, col in zip(t.time_features, t.loss_t, _shades(len(t.time_features))):
            fig.add_trace(go.Scatter(x=t.times, y=y, mode="lines", line=dict(color=col), name=f"N = {n} features"))
        fig.add_trace(
            go.Scatter(
                x=t.times,
                y=t.loss_t_theory,
                mode="lines",
                line=dict(dash="dash", color="black"),
                name="theory, N = infinity",
            )
        )
        return _log_layout(fig, "time t = lr x steps (gradient flow)", "population loss", 360)
    fig.add_trace(go.Scatter(x=t.samples, y=t.loss_d, mode="markers", name="simulated ridgeless", marker=dict(size=8)))
    fig.add_trace(
        go.Scatter(x=t.samples, y=t.loss_d_theory, mode="lines", line=dict(dash="dash"), name="eigenlearning")
    )
    return _log_layout(fig, "examples D (infinite features and time)", "population loss", 360)


def exponent_table(t: rf.TheoryResult) -> dict[str, list]:
    """Predicted vs fitted exponents (columns for st.dataframe / st.table)."""
    laws = ["L(N) ~ N^-(b min(r,1))", "L(t) ~ t^-r", "L(D) ~ D^-(b min(r,2))"]
    return {
        "law": laws,
        "predicted": [f"{p:.3f}" for p in t.predicted],
        "fitted [95% interval]": [_fmt_ci(f, ci) for f, ci in zip(t.fitted, t.fitted_ci)],
    }


PHASE_COLORS = {"Ia": 0, "II": 1, "III": 2, "Ib": 3, "Ic": 4, "IV": 5, "none": 6}


def paquette_map(b: float, r: float) -> go.Figure:
    """Paquette et al. phases over (b, r), coloured by the compute-optimal exponent xi (N* ~ C^xi)
    where b > 1, with the phase boundaries, labels and the current (b, r)."""
    bs = np.linspace(0.3, 3.0, 120)
    rs = np.linspace(0.05, 2.5, 120)
    B, R = np.meshgrid(bs, rs, indexing="ij")
    ph = rf.paquette_phase(B, R)
    hover = [
        [
            f"b={bs[i]:.2f}, r={rs[j]:.2f}<br>phase {ph['phase'][i, j]}<br>{ph['limits'][i, j]}"
            + (f"<br>N* ~ C^{ph['xi'][i, j]:.2f}, L* ~ C^-{ph['eta'][i, j]:.2f}" if np.isfinite(ph["xi"][i, j]) else "")
            for i in range(len(bs))
        ]
        for j in range(len(rs))
    ]
    fig = go.Figure(
        go.Heatmap(
            x=bs,
            y=rs,
            z=ph["xi"].T,
            colorscale="Cividis",
            colorbar=dict(title=dict(text="exponent of N*(C)", side="right")),
            text=hover,
            hoverinfo="text",
        )
    )
    b_hi = np.linspace(1.0, 3.0, 50)
    for x, y, col in (
        ([1, 1], [0.05, 2.5], "white"),
        ([0.5, 0.5], [1, 2.5], "#555555"),
        ([0.3, 1.0], [1, 1], "#555555"),
        ([1.0, 3.0], [1, 1], "white"),
        (b_hi, 2 - 1 / b_hi, "white"),
    ):
        fig.add_trace(
            go.Scatter(x=x, y=y, mode="lines", line=dict(color=col, width=2), hoverinfo="skip", showlegend=False)
        )
    for text, x, y, col in (
        ("Ia", 2.0, 0.5, "white"),
        ("II", 2.4, 1.28, "white"),
        ("III", 2.0, 2.1, "black"),
        ("Ib", 0.65, 0.5, "#333333"),
        ("Ic", 0.4, 1.8, "#333333"),
        ("IV", 0.75, 1.8, "#333333"),
    ):
        fig.add_annotation(x=x, y=y, text=f"<b>{text}</b>", showarrow=False, font=dict(color=col, size=15))
    fig.add_annotation(
        x=0.65, y=0.12, text="b < 1: lr shrinks with N", showarrow=False, font=dict(color="#333333", size=11)
    )
    fig.add_trace(
        go.Scatter(
            x=[b],
            y=[r],
            mode="markers",
            name="current (b, r)",
            showlegend=False,
            hoverinfo="skip",
            marker=dict(symbol="star", size=18, color="#ff7f0e", line=dict(color="black", width=1)),
        )
    )
    fig.update_layout(template="plotly_white", height=400, margin=dict(l=60, r=20, t=20, b=50), plot_bgcolor="#dcdcdc")
    fig.update_xaxes(title_text="spectrum exponent b (= 2 alpha)", range=[0.3, 3.0])
    fig.update_yaxes(title_text="target exponent r", range=[0.05, 2.5])
    return fig


def eigen_curves(e) -> go.Figure:
    """Eigenlearning prediction vs actual kernel ridge regression on digits (mean +- std over draws)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=e.n,
            y=e.actual.mean(1),
            error_y=dict(type="data", array=e.actual.std(1)),
            mode="markers",
            marker=dict(size=9),
            name="kernel ridge regression (actual)",
        )
    )
    fig.add_trace(go.Scatter(x=e.n_fine, y=e.predicted, mode="lines", line=dict(dash="dash"), name="eigenlearning"))
    return _log_layout(fig, "training examples n (pool: 1,797 digits)", "test loss (1/2) sum over outputs", 380)


def eigen_spectrum(e) -> go.Figure:
    """Kernel eigenvalues lambda_i and target power v_i^2 per mode (rank-ordered), log-log."""
    i = np.arange(1, len(e.eigs) + 1)
    keep = (e.eigs > 0) & (i <= 1500)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=i[keep], y=e.eigs[keep], mode="lines", name="eigenvalue lambda_i"))
    v2 = np.where(e.coeffs2 > 0, e.coeffs2, np.nan)
    fig.add_trace(go.Scatter(x=i[keep], y=v2[keep], mode="markers", marker=dict(size=3), name="target power v_i^2"))
    return _log_layout(fig, "mode i", "value", 380)
