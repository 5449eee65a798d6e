"""UI pieces without a browser: figure builders, exports (the snippet really reproduces), controls, home page."""

import json

import numpy as np
from pagetools import plotly_array
from streamlit.testing.v1 import AppTest

from engine import playground
from engine.sweep import SweepResult
from ui import controls, export, figures


def test_line_chart_has_titles_log_axes_and_reference_lines():
    fig = figures.line(
        [{"x": [1, 2, 3], "y": [3, 2, 1], "name": "loss"}],
        x_title="step",
        y_title="loss",
        log_y=True,
        hlines=[(2.0, "2/lr")],
    )
    assert fig.layout.xaxis.title.text == "step" and fig.layout.yaxis.type == "log"
    assert fig.data[0].name == "loss" and fig.layout.shapes[0].y0 == 2.0


def _sr():
    z = np.arange(6.0).reshape(3, 2)
    div = np.zeros((3, 2), bool)
    div[2, 1] = True
    return SweepResult(
        "lr",
        np.array([0.01, 0.1, 1.0]),
        "width",
        np.array([16, 64]),
        {"loss": z},
        div,
        np.ones((3, 2), bool),
        np.where(div, 5, -1),
    )


def test_heatmap_marks_diverged_current_boundary_and_selects_cells():
    sr = _sr()
    fig = figures.sweep_heatmap(
        sr, "loss", current=(0.1, 16), boundaries=[{"x": [0.01, 1], "y": [16, 64], "name": "theory"}]
    )
    names = [t.name for t in fig.data]
    assert {"diverged", "theory", "current setting", figures.SELECT_TRACE} <= set(names)
    heat = fig.data[0]
    assert np.allclose(np.asarray(heat.z).T, sr.metrics["loss"])  # rows are y, columns x
    assert np.allclose(heat.x, np.log10(sr.x_values))  # log axes as log10 coordinates ...
    assert list(fig.layout.xaxis.ticktext) == ["0.01", "0.1", "1"]  # ... labelled in parameter units
    div = fig.data[names.index("diverged")]
    assert np.allclose(div.x, [0.0]) and np.allclose(div.y, [np.log10(64)])
    sel = fig.data[names.index(figures.SELECT_TRACE)]
    k = 3  # the fourth cell centre
    event = {"selection": {"points": [{"customdata": list(sel.customdata[k])}]}}
    assert figures.selected_cell(event, sr.x_values, sr.y_values) == (0.1, 64)
    assert figures.selected_cell({"selection": {"points": []}}, sr.x_values, sr.y_values) is None


def test_csv_and_json_exports_carry_data_and_config():
    cfg = playground.Config(width=32)
    csv = export.to_csv({"step": np.array([0, 1]), "loss": np.array([1.0, np.nan])})
    assert csv.splitlines() == ["step,loss", "0,1", "1,"]
    long = export.to_csv({"a": [1, 2], "b": [3]})
    assert long.splitlines()[0] == "series,index,value" and len(long.splitlines()) == 4
    j = json.loads(export.to_json(cfg, {"loss": np.array([0.5, np.inf])}))
    assert j["config"]["width"] == 32 and j["data"]["loss"] == [0.5, None] and j["lab"] == "playground"


def test_reproduce_snippet_really_reproduces():
    cfg = playground.Config(width=8, n_train=32, steps=15, n_records=4, lr=0.1)
    code = export.snippet(cfg)
    assert "playground.Config(" in code and "width=8" in code
    scope = {}
    exec(code, scope)
    np.testing.assert_array_equal(scope["result"].loss, playground.run(cfg).loss)


def test_log_grid_is_readable_and_inside_range():
    g = controls.log_grid(0.001, 1.0)
    assert g[0] == 0.001 and g[-1] == 1.0 and 0.01 in g and 0.3 in g
    assert controls.log_grid(4, 100, integer=True)[:4] == [4, 6, 8, 12]


def test_home_page_renders_backend_and_links():
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "learning mechanics" in text
    assert any("JAX backend" in m.label for m in at.metric)


def test_bad_url_values_warn_and_fall_back_to_defaults():
    at = AppTest.from_file("../pages/9_Playground.py", default_timeout=120)
    at.query_params["width"] = "-5"
    at.query_params["activation"] = "sigmoid"
    at.query_params["steps"] = "20"
    at.run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "width=-5" in warnings and "activation" in warnings
    assert at.select_slider(key="width").value == playground.Config().width
    assert at.slider(key="steps").value == 20  # the valid value is kept


def test_playground_slider_changes_the_chart():
    at = AppTest.from_file("../pages/9_Playground.py", default_timeout=120)
    at.query_params["steps"] = "20"
    at.query_params["width"] = "16"
    at.run()
    assert not at.exception
    before = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["y"]
    at.select_slider(key="lr").set_value(0.1).run()
    assert not at.exception
    after = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["y"]
    assert before != after


def test_compare_overlay_adds_pinned_lines_dotted():
    from types import SimpleNamespace

    from ui import compare

    def build(r):
        return figures.line([{"x": r.steps, "y": r.loss, "name": "loss"}], x_title="step", y_title="loss")

    a = SimpleNamespace(steps=[0, 1], loss=[1.0, 0.5])
    b = SimpleNamespace(steps=[0, 1], loss=[1.0, 0.2])
    fig = compare.overlay(build, a, [("lr=0.1", b)])
    assert [t.name for t in fig.data] == ["loss", "loss [lr=0.1]"]
    assert fig.data[1].line.dash == "dot" and list(fig.data[1].y) == [1.0, 0.2]
    assert compare.label_of(playground.Config(lr=0.1)) == "lr=0.1"


def test_presentation_mode_keeps_only_the_sliders_that_matter():
    at = AppTest.from_file("../pages/9_Playground.py", default_timeout=120)
    at.query_params["present"] = "1"
    at.query_params["steps"] = "20"
    at.query_params["width"] = "16"
    at.session_state["lml_present"] = True
    at.run()
    assert not at.exception
    keys = {s.key for s in at.slider} | {s.key for s in at.select_slider}
    assert keys == {"lr", "init_scale"}
    assert not [e for e in at.expander if e.label == "Data and reproduce in Python"]
    # hidden fields keep the link's values: the chart is the 20-step run
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert plotly_array(spec["data"][0]["x"])[-1] == 20


def test_preset_link_applies_the_preset_and_explicit_values_win():
    at = AppTest.from_file("../pages/9_Playground.py", default_timeout=120)
    at.query_params["preset"] = "too large a learning rate"
    at.query_params["steps"] = "20"
    at.query_params["width"] = "16"
    at.run()
    assert not at.exception
    assert at.select_slider(key="lr").value == playground.PRESETS["too large a learning rate"]["lr"]
    assert at.slider(key="steps").value == 20
    assert any("Diverged at step" in w.value for w in at.warning)
    at.button(key="reset").click().run()
    assert at.select_slider(key="lr").value == playground.Config().lr and at.slider(key="steps").value == 500
