"""Helpers for the AppTest page tests: open a page with link values, read its plotly charts."""

from __future__ import annotations

import base64
import json
import pathlib

import numpy as np
from streamlit.testing.v1 import AppTest

PAGES = pathlib.Path(__file__).resolve().parents[1] / "pages"

# Link values that make each page's every section small (page file stem -> query values): the AppTest
# page tests and the real-browser tests open pages with them, so they test the page, not the training.
SMALL_LINKS: dict[str, dict[str, str]] = {
    "6_Representation_alignment": {"zoo": "small", "n_seeds": "1", "steps": "60", "n_probe": "120"},
    "1_Deep_linear_networks": {
        "singular_values": "2,1",
        "width": "4",
        "steps": "1000",
        "init_scale": "0.001",
        "lr": "0.005",
    },
    "3_Edge_of_stability": {
        "n_train": "128",
        "width": "16",
        "steps": "100",
        "lr": "0.5",
        "diagram": "off",
        "cat_diagram": "off",
        "cat_width": "64",
    },
    "2_Lazy_vs_rich": {
        "grid": "4 x 4 (quick)",
        "steps": "20",
        "n_train": "32",
        "d_in": "4",
        "width": "16",
        "alpha": "0.1",
        "dg_d": "20",
        "dg_n": "10",
        "dg_k": "2",
        "dg_steps": "2000",
        "im_steps": "200",
    },
    "5_Hyperparameter_transfer": {
        "widths": "32,128",
        "base_width": "32",
        "steps": "20",
        "batch_size": "16",
        "n_seeds": "1",
    },
    "4_Scaling_laws": {"widths": "1,2,3,4,6,8", "sizes": "8,16,32,64", "steps": "20"},
    "9_Playground": {"steps": "20", "width": "16"},
}


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


def chart_by_x_title(charts: list[dict], start: str) -> dict:
    """The first figure whose x-axis title starts with ``start``."""
    return next(c for c in charts if c["layout"].get("xaxis", {}).get("title", {}).get("text", "").startswith(start))
