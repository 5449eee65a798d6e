"""Cache (cross-process hit, one computation under concurrency, corrupt entries) and sweeps."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from engine import cache, playground, sweep

TINY = playground.Config(n_train=32, width=8, steps=20, n_records=5)


def test_key_is_canonical_and_depends_on_config_and_lab():
    a = cache.key_for(TINY)
    assert a == cache.key_for(playground.Config.from_dict(dict(reversed(list(TINY.to_dict().items())))))
    assert a != cache.key_for(TINY.replace(seed=1))
    assert cache.make_key("x", TINY.key()) != cache.make_key("y", TINY.key())


def test_memo_computes_once_under_concurrent_threads():
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.3)
        return {"v": 42}

    key = cache.make_key("test", f"threads-{time.time()}")
    out = []
    threads = [threading.Thread(target=lambda: out.append(cache.memo(key, compute))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and out == [{"v": 42}] * 6


_CHILD = textwrap.dedent("""
    import os, sys, time, pathlib
    from engine import cache
    key, marker = sys.argv[1], sys.argv[2]
    def compute():
        with open(marker, "a") as f:
            f.write("x")
        time.sleep(1.0)
        return "computed"
    print(cache.memo(key, compute))
""")


def test_memo_computes_once_across_processes_and_hits_from_another(tmp_path):
    key = cache.make_key("test", f"procs-{time.time()}")
    marker = tmp_path / "calls"
    env = dict(os.environ)
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD, key, str(marker)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert outs == ["computed"] * 3
    assert marker.read_text() == "x"  # computed exactly once
    assert cache.lookup(key) == "computed"  # and this process reads the other's entry


def test_lock_of_a_dead_holder_expires(monkeypatch):
    key = cache.make_key("test", f"dead-{time.time()}")
    c = cache.get_cache()
    c.set("lock:" + key, "ghost", expire=0.5)  # a holder that died without releasing
    t0 = time.time()
    assert cache.memo(key, lambda: "mine") == "mine"
    assert 0.3 < time.time() - t0 < 10


def test_corrupt_entry_is_dropped_and_recomputed():
    c = cache.get_cache()
    # a large value lives in its own file: truncate the file
    big = cache.make_key("test", f"corrupt-file-{time.time()}")
    cache.store(big, np.zeros(100_000))
    ((fname,),) = c._sql("SELECT filename FROM Cache WHERE key = ?", (big,)).fetchall()
    with open(os.path.join(c.directory, fname), "wb") as f:
        f.write(b"\x80\x04not a pickle")
    assert cache.lookup(big) is None
    assert cache.memo(big, lambda: "recomputed") == "recomputed"
    # a small value lives in the database: overwrite its bytes
    small = cache.make_key("test", f"corrupt-db-{time.time()}")
    cache.store(small, {"good": 1})
    c._sql("UPDATE Cache SET value = ? WHERE key = ?", (b"\x80\x04garbage", small))
    assert cache.lookup(small) is None
    assert cache.memo(small, lambda: {"good": 2}) == {"good": 2}


def test_cached_run_round_trips_a_result():
    r1 = cache.cached_run(TINY, playground.run)
    r2 = cache.lookup(cache.key_for(TINY))
    np.testing.assert_array_equal(r1.loss, r2.loss)


LRS = [0.02, 0.05, 0.1, 0.2]
SCALES = [0.5, 1.0, 2.0]


@pytest.fixture(scope="module")
def loop_grid():
    return sweep.sweep("playground", TINY, ("lr", LRS), ("init_scale", SCALES), strategy="loop", use_cache=False)


def test_sweep_batched_equals_loop_of_single_runs(loop_grid):
    fast = sweep.sweep("playground", TINY, ("lr", LRS), ("init_scale", SCALES), strategy="map", use_cache=False)
    assert fast.metrics["final_loss"].shape == (4, 3)
    np.testing.assert_allclose(fast.metrics["final_loss"], loop_grid.metrics["final_loss"], rtol=2e-5)
    np.testing.assert_array_equal(fast.diverged, loop_grid.diverged)


def test_sharded_sweep_equals_unsharded(loop_grid):
    import jax

    assert len(jax.devices()) == 2  # conftest: two host devices
    cfgs = [TINY.replace(lr=lr, init_scale=s) for lr in LRS for s in SCALES]
    one = sweep.run_cells(playground, cfgs, strategy="map", devices=1)
    two = sweep.run_cells(playground, cfgs, strategy="map", devices=2)
    vm = sweep.run_cells(playground, cfgs, strategy="vmap", devices=2)
    for a, b, c in zip(one, two, vm):
        np.testing.assert_allclose(a.loss, b.loss, rtol=1e-6)
        np.testing.assert_allclose(a.loss, c.loss, rtol=2e-5)


def test_sweep_marks_divergence_fills_cache_and_reports_progress():
    seen = []
    sr = sweep.sweep("playground", TINY, ("lr", [0.05, 50.0]), ("seed", [0, 1]), progress=lambda f, s: seen.append(f))
    assert sr.diverged[1].all() and not sr.diverged[0].any()
    assert np.isnan(sr.metrics["final_loss"][1]).all() and (sr.diverged_step[1] >= 0).all()
    assert seen[-1] == 1.0 and sr.done.all()
    # every cell is cached under its own Config's key: the single-run view opens instantly
    assert cache.lookup(cache.key_for(TINY.replace(lr=50.0, seed=1))).diverged
    again = sweep.sweep("playground", TINY, ("lr", [0.05, 50.0]), ("seed", [0, 1]))
    np.testing.assert_array_equal(again.diverged, sr.diverged)


def test_sweep_rejects_unknown_lab_and_bad_values():
    with pytest.raises(ValueError, match="unknown lab"):
        sweep.sweep("nope", TINY, ("lr", [0.1]), ("seed", [0]))
    with pytest.raises(ValueError, match="lr=-1.0"):
        sweep.sweep("playground", TINY, ("lr", [-1.0]), ("seed", [0]))


def test_sweep_averages_over_seeds_and_reports_the_spread():
    sr = sweep.sweep("playground", TINY, ("lr", [0.05, 50.0]), ("init_scale", [1.0]), seeds=[0, 1, 2])
    per_seed = [
        sweep.sweep("playground", TINY.replace(seed=s), ("lr", [0.05]), ("init_scale", [1.0])).metrics["final_loss"][
            0, 0
        ]
        for s in (0, 1, 2)
    ]
    assert sr.metrics["final_loss"][0, 0] == pytest.approx(np.mean(per_seed), rel=1e-6)
    assert sr.spread["final_loss"][0, 0] == pytest.approx(np.std(per_seed), rel=1e-5)
    assert sr.spread["final_loss"][0, 0] > 0 and list(sr.seeds) == [0, 1, 2]
    assert sr.diverged[1, 0] and not sr.diverged[0, 0]


def test_a_diagram_has_one_key_whatever_the_base_values_of_its_axes():
    x, y = ("lr", [0.01, 0.1]), ("seed", [0, 1])
    assert cache.sweep_key("playground", TINY.replace(lr=0.3, seed=5), x, y) == cache.sweep_key(
        "playground", TINY, x, y
    )
    assert cache.sweep_key("playground", TINY.replace(width=9), x, y) != cache.sweep_key("playground", TINY, x, y)
