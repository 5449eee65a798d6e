"""Command line: a small grid round-trips into the cache the app reads; clear errors for bad input."""

import json
import os
import subprocess
import sys

from engine import cache, cli, playground, sweep

BASE = {"steps": "15", "width": "8", "n_train": "32", "n_records": "4"}


def _run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=300,
    )


def test_cli_sweep_fills_the_cache_and_exports(tmp_path):
    sets = [a for k, v in BASE.items() for a in ("--set", f"{k}={v}")]
    out = _run(
        "sweep",
        "playground",
        "--x",
        "lr=0.05,30",
        "--y",
        "seed=0,1",
        *sets,
        "--csv",
        str(tmp_path / "g.csv"),
        "--json",
        str(tmp_path / "g.json"),
    )
    assert out.returncode == 0, out.stderr
    assert "4 cells (2 diverged)" in out.stdout
    base = playground.Config(steps=15, width=8, n_train=32, n_records=4)
    # the app's view of the same diagram and of each cell are now cache hits
    assert cache.lookup(cache.sweep_key("playground", base, ("lr", [0.05, 30.0]), ("seed", [0, 1]))) is not None
    cell = cache.lookup(cache.key_for(base.replace(lr=30.0, seed=1)))
    assert cell is not None and cell.diverged
    rows = json.loads((tmp_path / "g.json").read_text())["cells"]
    assert len(rows) == 4 and sum(r["diverged"] for r in rows) == 2
    assert (tmp_path / "g.csv").read_text().splitlines()[0].startswith("lr,seed,diverged")
    again = sweep.sweep("playground", base, ("lr", [0.05, 30.0]), ("seed", [0, 1]))
    assert again.done.all()


def test_cli_errors_are_one_clear_line():
    for args, msg in [
        (["sweep", "nolab", "--x", "lr=1", "--y", "seed=0"], "unknown lab 'nolab'"),
        (["sweep", "playground", "--x", "lr=-1", "--y", "seed=0"], "lr=-1.0 is out of range"),
        (["sweep", "playground", "--x", "wdth=1", "--y", "seed=0"], "unknown field 'wdth'"),
        (["run", "playground", "--preset", "nope"], "unknown preset 'nope'"),
    ]:
        out = _run(*args)
        assert out.returncode == 2 and msg in out.stderr and "Traceback" not in out.stderr


def test_warm_computes_presets_and_diagrams_then_hits(monkeypatch):
    small = {"tiny": {"steps": 10, "width": 4, "n_train": 16, "n_records": 3}}
    diagrams = {"d": {"base": small["tiny"], "x": ("lr", [0.01, 0.1]), "y": ("seed", [0, 1])}}
    monkeypatch.setattr(playground, "PRESETS", small)
    monkeypatch.setattr(playground, "DIAGRAMS", diagrams)
    first = cli.warm_lab("playground", log=lambda *_: None)
    second = cli.warm_lab("playground", log=lambda *_: None)
    assert [i["item"] for i in first] == ["preset defaults", "preset tiny", "diagram d"]
    assert all(i["cached"] for i in second)
    assert cache.lookup(cache.key_for(playground.Config(**small["tiny"]))) is not None
