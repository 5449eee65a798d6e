"""The deep linear networks page renders with small settings, and its sliders change the charts."""

import pathlib

import numpy as np
import pytest
from pagetools import SMALL_LINKS, open_page, page_charts, plotly_array

PAGE = str(pathlib.Path(__file__).parents[1] / "pages" / "1_Deep_linear_networks.py")
SMALL = SMALL_LINKS["1_Deep_linear_networks"]


@pytest.fixture(scope="module")
def page():
    return open_page("1_Deep_linear_networks.py", SMALL)


def test_page_renders_theory_over_simulation(page):
    assert not page.exception, [e.message for e in page.exception]
    charts = page_charts(page)
    assert len(charts) == 5  # modes, loss, balancedness, two phase diagrams
    modes = charts[0]["data"]
    sims = [t for t in modes if t.get("name", "").startswith("s = ")]
    dashed = [t for t in modes if t.get("line", {}).get("dash") == "dash" and len(plotly_array(t["y"])) > 1]
    assert len(sims) == 2 and len(dashed) == 2
    for sim, th in zip(sims, dashed):  # the theory lies on the simulation (lr * s small)
        np.testing.assert_allclose(plotly_array(sim["y"]), plotly_array(th["y"]), atol=0.05)
    assert "time t = lr x steps" in charts[0]["layout"]["xaxis"]["title"]["text"]
    assert any("Stage-likeness" in c.value for c in page.caption)


def test_slider_changes_the_chart_data(page):
    before = plotly_array(page_charts(page)[0]["data"][0]["y"])
    page.select_slider(key="init_scale").set_value(0.01).run()
    assert not page.exception, [e.message for e in page.exception]
    after = plotly_array(page_charts(page)[0]["data"][0]["y"])
    assert after[0] == pytest.approx(0.01, rel=1e-3) and before[0] == pytest.approx(0.001, rel=1e-3)
    assert not np.allclose(before, after)


def test_phase_diagram_figures_mark_unlearned_cells_and_draw_theory_contours():
    from engine.sweep import SweepResult
    from ui import deep_linear_figures as dlf

    xs, ys = np.array([1e-4, 1e-2, 0.1]), [(0.5,), (2.0,)]
    z = np.array([[np.nan, 4.0], [5.0, 1.0], [2.0, 0.5]])
    done, div = np.ones((3, 2), bool), np.zeros((3, 2), bool)
    sr = SweepResult("init_scale", xs, "singular_values", ys, {"learn_time": z}, div, done, np.full((3, 2), -1))
    fig = dlf.time_diagram(sr, 2, None, 30.0, "init scale u0", theory=True)
    names = [t.name for t in fig.data]
    assert "not learned by t = 30" in names
    contours = [t for t in fig.data if t.type == "contour"]
    assert contours and all(c.contours.start == c.contours.end for c in contours)
    assert "theory time to learn" in names
    assert not any(t.type == "contour" for t in dlf.time_diagram(sr, 2, None, 30.0, "std", theory=False).data)


def test_clicked_cell_is_read_from_the_browser_event_format():
    """Streamlit hands plotly 7's typed-array customdata back as {"0": i, "1": j}."""
    from ui import figures

    event = {"selection": {"points": [{"curve_number": 1, "point_index": 3, "customdata": {"0": 1, "1": 1}}]}}
    assert figures.selected_cell(event, [1e-3, 1e-2, 0.1], [2, 3]) == (1e-2, 3)
