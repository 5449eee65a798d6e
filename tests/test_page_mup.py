"""The hyperparameter transfer page renders on a tiny config and a control changes its charts."""

import numpy as np
from pagetools import SMALL_LINKS, page_charts, plotly_array
from streamlit.testing.v1 import AppTest

from ui import mup_figures

PAGE = "../pages/5_Hyperparameter_transfer.py"
SMALL = SMALL_LINKS["5_Hyperparameter_transfer"]


def _coord_y(figs):
    return [plotly_array(t["y"]) for f in figs for t in f["data"] if ", t = " in t.get("hovertemplate", "")]


def test_page_runs_and_the_coord_check_follows_the_learning_rate():
    at = AppTest.from_file(PAGE, default_timeout=120)
    for k, v in SMALL.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    figs = page_charts(at)
    titles = [f["layout"].get("title", {}).get("text", "") for f in figs]
    # loss vs lr (SP, muP), optimal lr, two phase diagrams, the coordinate check
    assert len(figs) == 6, titles
    assert any("Optimal learning rate" in t for t in titles)
    loss_traces = [t for t in figs[0]["data"] if t.get("name", "").startswith("width ")]
    assert len(loss_traces) == 2  # one curve per width
    before = _coord_y(figs)
    assert len(before) == 2 * 3 * 4  # (SP, muP) x (hidden 1, hidden 2, output) x (t = 0..3)
    slider = next(s for s in at.select_slider if s.label.startswith("learning rate"))
    slider.set_value(0.002).run()  # from 2^-6: the SP blow-up shrinks
    assert not at.exception, at.exception
    after = _coord_y(page_charts(at))
    assert len(after) == len(before) and any(not np.allclose(a, b) for a, b in zip(after, before))


def test_figures_mark_argmin_and_divergence():
    from engine.mup import SweepResult

    loss = np.array([[0.5, 0.2, 0.3, np.nan], [0.4, 0.1, np.nan, np.nan]])
    sr = SweepResult(
        np.array([32.0, 128.0]),
        2.0 ** np.arange(-8, -4),
        loss,
        np.zeros_like(loss),
        np.isnan(loss),
        np.ones(loss.shape, bool),
        np.array([2.0**-7, 2.0**-7]),
        np.array([1, 1]),
        "standard",
        "adam",
        np.where(np.isnan(loss), 3, -1),
    )
    fig = mup_figures.loss_vs_lr(sr)
    stars = [t for t in fig.data if t.marker.symbol == "star" and t.x[0] is not None]
    crosses = [t for t in fig.data if t.marker.symbol == "x" and t.x[0] is not None]
    assert [s.x[0] for s in stars] == [2.0**-7, 2.0**-7] and sum(len(c.x) for c in crosses) == 3
    phase = mup_figures.phase_diagram(sr)
    boundary = next(t for t in phase.data if t.name == "stable / divergent boundary")
    assert np.allclose(boundary.y, np.log10([2.0**-5.5, 2.0**-6.5]))  # log2 midpoints of the edge
