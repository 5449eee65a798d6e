"""Helpers for the AppTest page tests: open a page with link values, read its plotly charts."""

from __future__ import annotations

import base64
import json
import pathlib

import numpy as np
from streamlit.testing.v1 import AppTest

PAGES = pathlib.Path(__file__).resolve().parents[1] / "pages"


def open_page(name: str, params: dict[str, str], timeout: float = 180) -> AppTest:
    """Run ``pages/<name>`` once with ``params`` as its link's query values."""
    at = AppTest.from_file(str(PAGES / name), default_timeout=timeout)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def plotly_array(v) -> np.ndarray:
    """A plotly JSON array (plain list, or plotly's base64 typed-array encoding) as numpy."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape([int(n) for n in str(v["shape"]).split(",")]) if "shape" in v else a
    return np.asarray(v, dtype=float)


def page_charts(at: AppTest) -> list[dict]:
    """Every plotly figure the page drew, as plotly JSON dicts."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
