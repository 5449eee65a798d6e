"""Compare mode: pin the current run, then overlay it (dotted, faded) on the next one's charts."""

from __future__ import annotations

from typing import Any, Callable

import plotly.graph_objects as go
import streamlit as st

MAX_PINNED = 4


def label_of(cfg) -> str:
    """Short label: the fields that differ from the defaults (e.g. ``lr=0.1, width=64``)."""
    d = type(cfg)()
    diff = [
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in cfg.to_dict().items()
        if getattr(d, k) != getattr(cfg, k)
    ]
    return ", ".join(diff) or "defaults"


def pins(page: str, cfg, result: Any) -> list[tuple[str, Any]]:
    """Sidebar buttons to pin the current result or clear the pins; returns the pinned (label, result)."""
    key = f"lml_pins_{page}"
    pinned = st.session_state.setdefault(key, [])
    with st.sidebar:
        st.markdown("**Compare**")
        c1, c2 = st.columns(2)
        if c1.button("Pin this run", key=f"{key}_pin", disabled=result is None, width="stretch"):
            lbl = label_of(cfg)
            if all(lbl != p[0] for p in pinned):
                pinned.append((lbl, result))
                del pinned[:-MAX_PINNED]
        if c2.button("Clear pins", key=f"{key}_clear", disabled=not pinned, width="stretch"):
            pinned.clear()
        if pinned:
            st.caption("Pinned (dotted on the charts): " + "; ".join(p[0] for p in pinned))
    return [p for p in pinned if p[0] != label_of(cfg)]


def overlay(build: Callable[[Any], go.Figure], result: Any, pinned: list[tuple[str, Any]]) -> go.Figure:
    """``build(result)`` with the line traces of ``build(pinned_result)`` added, dotted and faded."""
    fig = build(result)
    for lbl, r in pinned:
        for tr in build(r).data:
            if isinstance(tr, go.Scatter) and tr.mode != "markers":
                tr.update(name=f"{tr.name} [{lbl}]", opacity=0.55, line=dict(dash="dot"), legendgroup=lbl)
                fig.add_trace(tr)
    return fig
