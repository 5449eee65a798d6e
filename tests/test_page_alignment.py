"""The representation-alignment page renders a small zoo, and its controls change the charts."""

import pathlib

import numpy as np
import pytest
from pagetools import SMALL_LINKS, open_page, page_charts, plotly_array

PAGE = str(pathlib.Path(__file__).parents[1] / "pages" / "6_Representation_alignment.py")
SMALL = SMALL_LINKS["6_Representation_alignment"]


def _matrix(at) -> np.ndarray:
    heat = next(c for c in page_charts(at) if sum(t["type"] == "heatmap" for t in c["data"]) == 2)
    return plotly_array(heat["data"][0]["z"])  # the scores (the null is beside them)


@pytest.fixture(scope="module")
def page():
    return open_page("6_Representation_alignment.py", SMALL)


def test_page_renders_the_claim_the_matrices_and_the_null(page):
    assert not page.exception, [e.message for e in page.exception]
    charts = page_charts(page)
    assert len(charts) == 5  # claim scatter, training curves, matrix + null, layer by layer, accuracy
    assert "Spearman rho" in charts[0]["layout"]["title"]["text"]
    assert "held-out accuracy" in charts[0]["layout"]["xaxis"]["title"]["text"]
    heat = [t for t in charts[2]["data"] if t["type"] == "heatmap"]
    assert len(heat) == 2  # the score and its permutation null, side by side
    n = 8  # 4 architectures x 1 seed + 4 untrained
    score, null = plotly_array(heat[0]["z"]), plotly_array(heat[1]["z"])
    assert score.shape == null.shape == (n, n)
    np.testing.assert_allclose(np.diag(score), 1.0, atol=1e-6)
    assert np.nanmax(null) < 0.5 * np.nanmax(score[~np.eye(n, dtype=bool)])
    names = [t["name"] for t in charts[1]["data"]]
    assert "permutation null" in names and "mean held-out accuracy" in names


def test_metric_k_and_layer_controls_change_the_chart_data(page):
    cka = _matrix(page)
    page.selectbox(key="metric").set_value("mutual k-NN").run()
    assert not page.exception, [e.message for e in page.exception]
    knn10 = _matrix(page)
    assert not np.allclose(cka, knn10)
    page.slider(key="k").set_value(25).run()
    assert not page.exception, [e.message for e in page.exception]
    knn25 = _matrix(page)
    assert not np.allclose(knn10, knn25)
    page.selectbox(key="layer").set_value("logits").run()
    assert not page.exception, [e.message for e in page.exception]
    assert not np.allclose(knn25, _matrix(page))
