"""Lazy vs rich page: renders a small phase diagram, a run, the diagonal and imbalance panels
without exceptions; the sliders change the charts' data."""

import json

import numpy as np
import pytest
from pagetools import SMALL_LINKS, chart_by_x_title, open_page, page_charts, plotly_array

SMALL = SMALL_LINKS["2_Lazy_vs_rich"]


def _named(fig: dict, name: str) -> dict:
    return next(t for t in fig["data"] if t.get("name") == name)


def _star(fig: dict) -> tuple:
    tr = next(t for t in fig["data"] if t.get("name") == "current setting")
    return float(plotly_array(tr["x"])[0]), float(plotly_array(tr["y"])[0])


def test_page_renders_and_controls_change_the_charts():
    at = open_page("2_Lazy_vs_rich.py", SMALL)
    assert not at.exception, at.exception
    charts = page_charts(at)
    assert len(charts) >= 8
    phase = chart_by_x_title(charts, "width")
    heat = next(t for t in phase["data"] if t["type"] == "heatmap")
    assert len(plotly_array(heat["x"])) == 4 and len(plotly_array(heat["y"])) == 4
    assert np.isfinite(plotly_array(heat["z"])).all()  # every cell computed
    assert any("theory" in t.get("name", "") for t in phase["data"])  # the boundary is drawn
    curves = chart_by_x_title(charts, "GD step")
    assert {t["name"] for t in curves["data"]} >= {"network: test", "linearized: test"}
    before_star, before_curve = _star(phase), curves["data"][1]["y"]

    at.select_slider(key="alpha").set_value(3.0).run()
    assert not at.exception, at.exception
    charts = page_charts(at)
    assert _star(chart_by_x_title(charts, "width")) != before_star
    assert chart_by_x_title(charts, "GD step")["data"][1]["y"] != before_curve

    diag = chart_by_x_title(charts, "initialization scale alpha")
    coeffs = chart_by_x_title(charts, "coefficient index")
    trained = _named(coeffs, "trained")["y"]
    at.select_slider(key="dg_alpha").set_value(1.0).run()
    assert not at.exception, at.exception
    charts = page_charts(at)
    assert _named(chart_by_x_title(charts, "coefficient index"), "trained")["y"] != trained
    assert (
        chart_by_x_title(charts, "initialization scale alpha")["data"][1]["y"] == diag["data"][1]["y"]
    )  # curve cached

    drift = chart_by_x_title(charts, "time t")["data"][0]["y"]
    at.select_slider(key="im_lr").set_value(0.05).run()
    assert not at.exception, at.exception
    assert chart_by_x_title(page_charts(at), "time t")["data"][0]["y"] != drift

    at.selectbox(key="order").set_value("kernel distance").run()
    assert not at.exception, at.exception
    assert any("kernel distance" in json.dumps(c["data"][0].get("colorbar", {})) for c in page_charts(at))


def test_theory_boundary_follows_the_parametrization():
    from ui import lazy_rich_figures as lrf

    widths = [8, 64, 1024]
    ntk, mup, sp = (lrf.boundary(widths, p) for p in ("ntk", "mup", "standard"))
    for b in (ntk, mup, sp):  # all pass through width 64, alpha 1/8 (muP = standard there)
        assert np.interp(np.log(64), np.log(b["x"]), np.log(b["y"])) == pytest.approx(np.log(1 / 8))
    slope = lambda b: np.polyfit(np.log(b["x"]), np.log(b["y"]), 1)[0]  # noqa: E731
    assert slope(ntk) == pytest.approx(-0.5) and slope(sp) == pytest.approx(-1.5)
    assert np.ptp(mup["y"]) == 0  # muP: the boundary does not depend on width
