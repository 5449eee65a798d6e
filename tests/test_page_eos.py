"""The edge-of-stability page renders with small settings, and its sliders change the charts."""

import pathlib

import numpy as np
import pytest
from pagetools import SMALL_LINKS, open_page, page_charts, plotly_array
from streamlit.testing.v1 import AppTest

PAGE = str(pathlib.Path(__file__).parents[1] / "pages" / "3_Edge_of_stability.py")
SMALL = SMALL_LINKS["3_Edge_of_stability"]


def _trace(chart: dict, name: str) -> dict:
    return next(t for t in chart["data"] if t.get("name") == name)


@pytest.fixture(scope="module")
def page():
    return open_page("3_Edge_of_stability.py", SMALL)


def test_page_renders_loss_sharpness_and_catapult(page):
    assert not page.exception, [e.message for e in page.exception]
    charts = page_charts(page)
    assert len(charts) == 4  # loss, sharpness, catapult run, uv theory
    loss, sharp = charts[0], charts[1]
    assert loss["layout"]["yaxis"]["type"] == "log"
    assert len(plotly_array(_trace(loss, "GD loss")["y"])) == 101
    edge = [s for s in sharp["layout"]["shapes"] if s.get("y0") == s.get("y1")]
    assert edge and edge[0]["y0"] == pytest.approx(2 / 0.5)  # the 2/lr line
    assert "Conventions" in page.markdown[0].value or any("Conventions" in m.value for m in page.markdown)


def test_lr_slider_changes_the_chart_data(page):
    before = plotly_array(_trace(page_charts(page)[1], "sharpness (top eigenvalue)")["y"])
    page.select_slider(key="lr").set_value(0.2).run()
    assert not page.exception, [e.message for e in page.exception]
    sharp = page_charts(page)[1]
    after = plotly_array(_trace(sharp, "sharpness (top eigenvalue)")["y"])
    edge = [s for s in sharp["layout"]["shapes"] if s.get("y0") == s.get("y1")]
    assert edge[0]["y0"] == pytest.approx(2 / 0.2)
    assert not np.allclose(before, after)


def test_bad_url_value_warns_and_uses_default():
    at = AppTest.from_file(PAGE, default_timeout=180)
    for k, v in {**SMALL, "cat_c": "99"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    assert any("cat_c=99" in w.value for w in at.warning)


def test_figures_draw_flows_stop_line_and_catapult_boundaries():
    from engine import catapult, eos
    from engine.central_flow import FlowResult
    from engine.sweep import SweepResult
    from ui import eos_figures as ef

    steps = np.arange(101)
    res = eos.Result(
        steps,
        np.linspace(1, 0.1, 101),
        steps[::10],
        np.full(11, 4.0),
        np.full((11, 2), 4.0),
        np.zeros(0),
        0.5,
        False,
        -1,
    )
    t = 0.5 * steps[::10]
    cf = FlowResult(
        t,
        np.linspace(1, 0.2, 11),
        np.full(11, 4.0),
        np.full((11, 2), 4.0),
        np.zeros(11),
        np.linspace(1, 0.2, 11),
        10.0,
        30.0,
        "a second eigenvalue reached 2/lr",
        0.5,
        False,
        -1,
    )
    fig = ef.sharpness_figure(res, "step", True, None, cf)
    assert any("central flow stops" in (a.text or "") for a in fig.layout.annotations)
    assert any(s.x0 == pytest.approx(60.0) for s in fig.layout.shapes if s.x0 == s.x1)  # t = 30 -> step 60
    assert [tr.name for tr in ef.loss_figure(res, "time", None, cf).data][-1].startswith("central flow: predicted")
    sr = SweepResult(
        "width",
        np.array([64, 128]),
        "c",
        np.array([1.5, 3.0, 5.0]),
        {"final_lr_lambda": np.ones((2, 3))},
        np.zeros((2, 3), bool),
        np.ones((2, 3), bool),
        -np.ones((2, 3), int),
    )
    names = [tr.name for tr in ef.catapult_phase_figure(sr, (64, 3.0)).data]
    assert "c = 2 (linear stability)" in names and "c = 4 (uv-model limit)" in names
    uv = ef.uv_figure([catapult.uv_model(100, c, 20) for c in (1.5, 4.5)])
    assert any("diverges" in (tr.name or "") for tr in uv.data)
