"""The edge-of-stability page renders with small settings, and its sliders change the charts."""

import base64
import json
import pathlib

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(pathlib.Path(__file__).parents[1] / "pages" / "3_Edge_of_stability.py")
SMALL = {
    "n_train": "128",
    "width": "16",
    "steps": "100",
    "lr": "0.5",
    "diagram": "off",
    "cat_diagram": "off",
    "cat_width": "64",
}


def _array(v):
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _trace(chart: dict, name: str) -> dict:
    return next(t for t in chart["data"] if t.get("name") == name)


@pytest.fixture(scope="module")
def page():
    at = AppTest.from_file(PAGE, default_timeout=180)
    for k, v in SMALL.items():
        at.query_params[k] = v
    return at.run()


def test_page_renders_loss_sharpness_and_catapult(page):
    assert not page.exception, [e.message for e in page.exception]
    charts = _charts(page)
    assert len(charts) == 4  # loss, sharpness, catapult run, uv theory
    loss, sharp = charts[0], charts[1]
    assert loss["layout"]["yaxis"]["type"] == "log"
    assert len(_array(_trace(loss, "GD loss")["y"])) == 101
    edge = [s for s in sharp["layout"]["shapes"] if s.get("y0") == s.get("y1")]
    assert edge and edge[0]["y0"] == pytest.approx(2 / 0.5)  # the 2/lr line
    assert "Conventions" in page.markdown[0].value or any("Conventions" in m.value for m in page.markdown)


def test_lr_slider_changes_the_chart_data(page):
    before = _array(_trace(_charts(page)[1], "sharpness (top eigenvalue)")["y"])
    page.select_slider(key="lr").set_value(0.2).run()
    assert not page.exception, [e.message for e in page.exception]
    sharp = _charts(page)[1]
    after = _array(_trace(sharp, "sharpness (top eigenvalue)")["y"])
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
