"""Downloads of the plotted data (CSV, JSON with the Config) and a "reproduce in Python" snippet."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import streamlit as st


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return np.where(np.isfinite(v), v, None).tolist() if v.dtype.kind == "f" else v.tolist()
    if isinstance(v, (np.floating, float)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def to_csv(data: dict[str, Any]) -> str:
    """Columns of equal length side by side; otherwise long format (series, index, value)."""
    cols = {k: np.asarray(v) for k, v in data.items()}
    flat = {k: v.ravel() if v.ndim else v.reshape(1) for k, v in cols.items()}
    lengths = {len(v) for v in flat.values()}
    buf = io.StringIO()
    if len(lengths) == 1:
        buf.write(",".join(flat) + "\n")
        for row in zip(*flat.values(), strict=True):
            buf.write(",".join(_cell(x) for x in row) + "\n")
    else:
        buf.write("series,index,value\n")
        for k, v in flat.items():
            for i, x in enumerate(v):
                buf.write(f"{k},{i},{_cell(x)}\n")
    return buf.getvalue()


def _cell(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return "" if not np.isfinite(x) else f"{float(x):.8g}"
    return str(x)


def to_json(cfg, data: dict[str, Any]) -> str:
    return json.dumps({"lab": cfg.LAB, "config": cfg.to_dict(), "data": _jsonable(data)}, indent=1)


def snippet(cfg, call: str = "run", module: str | None = None, result_name: str = "result") -> str:
    """Python that reproduces a figure's data: the Config with its non-default fields, then the call."""
    module = module or cfg.LAB
    defaults = type(cfg)()
    args = ", ".join(f"{k}={v!r}" for k, v in cfg.to_dict().items() if getattr(defaults, k) != getattr(cfg, k))
    args = args.replace("[", "(").replace("]", ")")  # tuples in configs
    return f"from engine import {module}\n\ncfg = {module}.Config({args})\n{result_name} = {module}.{call}(cfg)\n"


def panel(
    name: str, cfg, data: dict[str, Any], *, call: str = "run", module: str | None = None, key: str | None = None
) -> None:
    """Download buttons (CSV, JSON) and the reproduce snippet, in an expander."""
    from ui import present

    if present.active():
        return
    key = key or name
    with st.expander("Data and reproduce in Python"):
        c1, c2 = st.columns(2)
        c1.download_button("Download CSV", to_csv(data), file_name=f"{name}.csv", mime="text/csv", key=f"csv_{key}")
        c2.download_button(
            "Download JSON", to_json(cfg, data), file_name=f"{name}.json", mime="application/json", key=f"json_{key}"
        )
        st.code(snippet(cfg, call, module), language="python")
