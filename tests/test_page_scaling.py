"""Scaling-laws page: renders a tiny sweep without exceptions; sliders change the charts."""

from pagetools import SMALL_LINKS, chart_by_x_title, open_page, page_charts

TINY = SMALL_LINKS["4_Scaling_laws"]


def test_page_renders_and_sliders_change_the_charts():
    at = open_page("4_Scaling_laws.py", TINY)
    assert not at.exception, at.exception
    charts = page_charts(at)
    assert len(charts) >= 9
    n_plot = chart_by_x_title(charts, "parameters N")
    assert any("D = 64" == t.get("name") for t in n_plot["data"])  # one series per dataset size
    assert any("a$ =" in m.value or "a$ = " in m.value for m in at.markdown)  # exponents with intervals printed

    before = chart_by_x_title(charts, "features N")["data"][0]["y"]
    at.slider(key="rf_r").set_value(1.5).run()
    assert not at.exception, at.exception
    after = chart_by_x_title(page_charts(at), "features N")["data"][0]["y"]
    assert before != after

    curve = chart_by_x_title(page_charts(at), "training examples n")["data"][1]["y"]
    at.select_slider(key="el_ridge").set_value(0.1).run()
    assert not at.exception, at.exception
    assert chart_by_x_title(page_charts(at), "training examples n")["data"][1]["y"] != curve
