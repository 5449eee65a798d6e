"""Scaling-laws page: renders a tiny sweep without exceptions; sliders change the charts."""

from pagetools import SMALL_LINKS, page_charts
from streamlit.testing.v1 import AppTest

TINY = SMALL_LINKS["4_Scaling_laws"]


def _find(charts: list[dict], x_title: str) -> dict:
    return next(c for c in charts if c["layout"].get("xaxis", {}).get("title", {}).get("text", "").startswith(x_title))


def test_page_renders_and_sliders_change_the_charts():
    at = AppTest.from_file("../pages/4_Scaling_laws.py", default_timeout=120)
    for k, v in TINY.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    charts = page_charts(at)
    assert len(charts) >= 9
    n_plot = _find(charts, "parameters N")
    assert any("D = 64" == t.get("name") for t in n_plot["data"])  # one series per dataset size
    assert any("a$ =" in m.value or "a$ = " in m.value for m in at.markdown)  # exponents with intervals printed

    before = _find(charts, "features N")["data"][0]["y"]
    at.slider(key="rf_r").set_value(1.5).run()
    assert not at.exception, at.exception
    after = _find(page_charts(at), "features N")["data"][0]["y"]
    assert before != after

    curve = _find(page_charts(at), "training examples n")["data"][1]["y"]
    at.select_slider(key="el_ridge").set_value(0.1).run()
    assert not at.exception, at.exception
    assert _find(page_charts(at), "training examples n")["data"][1]["y"] != curve
