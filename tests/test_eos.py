"""Edge of stability on a tiny net: sharpening to 2/lr and hovering, flows, SGD, divergence.

One static config (256 digits, width 32) serves every full-batch test: lr, init scale and
seed are traced, so the run compiles once.
"""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.sparse.linalg import LinearOperator, eigsh

from engine import eos, sweep
from engine.config import ConfigError

TINY = eos.Config(n_train=256, width=32, steps=400, eig_every=20, n_eigs=2, lanczos_iters=12)
EDGE_LR = 0.5  # 2/lr = 4; the sharpness starts near 2.5 and reaches 4 by step ~100
SMALL_LR = 0.05  # 2/lr = 40, far above anything the sharpness reaches here


@pytest.fixture(scope="module")
def at_edge():
    return eos.run(TINY.replace(lr=EDGE_LR))


@pytest.fixture(scope="module")
def small_lr():
    return eos.run(TINY.replace(lr=SMALL_LR))


def _late(a, frac=0.4):
    return np.asarray(a)[-max(1, int(frac * len(a))) :]


def test_sharpening_then_hovering_at_two_over_lr(at_edge):
    r, edge = at_edge, 2 / EDGE_LR
    assert not r.diverged and r.sharpness.shape == (TINY.steps // TINY.eig_every + 1,)
    assert r.sharpness[0] < 0.75 * edge  # starts well below the edge: sharpening is visible
    late = _late(r.sharpness)
    assert np.all(np.abs(late / edge - 1) < 0.15), late / edge  # hovers within 15% of 2/lr
    assert abs(late.mean() / edge - 1) < 0.07
    assert np.all(np.diff(r.eigenvalues, axis=1) <= 1e-4)  # eigenvalues come sorted, descending


def test_small_lr_stays_well_below_the_edge(small_lr):
    assert not small_lr.diverged
    assert np.nanmax(small_lr.sharpness) < 0.25 * (2 / SMALL_LR)


def test_loss_keeps_falling_at_the_edge_but_not_monotonically(at_edge):
    loss = at_edge.loss
    t_edge = at_edge.eig_steps[np.argmax(at_edge.sharpness >= 0.95 * 2 / EDGE_LR)]
    assert loss[-1] < 0.6 * loss[t_edge]  # overall decrease after reaching the edge
    assert np.sum(np.diff(loss[t_edge:]) > 0) > 5  # ... with upward steps along the way


def test_sharpness_matches_an_independent_eigensolver(small_lr):
    """The warm-started in-scan Lanczos gives the Hessian's top eigenvalues at the end of training."""
    pb = eos.problem(eos._static(TINY))
    # replay the (stable, non-chaotic) small-lr run on the host and solve the Hessian densely
    w = pb.init(jax.random.split(jax.random.PRNGKey(0), 3)[0], TINY.init_scale)
    step = jax.jit(lambda w: w - SMALL_LR * jax.grad(pb.loss)(w))
    for _ in range(TINY.steps):
        w = step(w)
    # an independent eigensolver (ARPACK, to convergence) on the same Hessian-vector products
    hvp = jax.jit(lambda v: jax.jvp(jax.grad(pb.loss), (w,), (v,))[1])
    op = LinearOperator((pb.dim, pb.dim), matvec=lambda v: np.asarray(hvp(jnp.asarray(v, jnp.float32)), np.float64))
    top = np.sort(eigsh(op, k=2, which="LA", tol=1e-6)[0])[::-1]
    assert small_lr.sharpness[-1] == pytest.approx(top[0], rel=1e-3)
    assert small_lr.eigenvalues[-1, 1] == pytest.approx(top[1], rel=0.03)


def test_gradient_flow_sharpens_past_the_edge_where_gd_stops(at_edge):
    gf = eos.gradient_flow(TINY.replace(lr=EDGE_LR))
    edge = 2 / EDGE_LR
    assert not gf.diverged and np.isfinite(gf.sharpness).all()
    np.testing.assert_allclose(gf.time, EDGE_LR * at_edge.eig_steps)
    # before the edge GD tracks the flow; after it the flow keeps sharpening
    np.testing.assert_allclose(gf.loss[1], at_edge.loss[at_edge.eig_steps[1]], rtol=0.05)
    assert gf.sharpness[-1] > 1.3 * edge > 1.2 * _late(at_edge.sharpness).mean()
    assert np.all(np.diff(gf.loss) <= 1e-7)  # a gradient flow never increases the loss


def test_central_flow_holds_sharpness_at_the_edge():
    cf = eos.central_flow(TINY.replace(lr=EDGE_LR))
    edge = 2 / EDGE_LR
    assert np.isfinite(cf.edge_time)
    on = (cf.time > cf.edge_time) & np.isfinite(cf.sharpness)
    assert on.sum() >= 2
    np.testing.assert_allclose(cf.sharpness[on], edge, rtol=0.03)
    ok = np.isfinite(cf.loss)
    assert np.all(np.diff(cf.loss[ok]) <= 1e-7)  # the central flow's loss falls monotonically
    assert np.all(cf.predicted_loss[ok] >= cf.loss[ok] - 1e-7)  # GD's average sits above L(w)
    assert np.all(cf.sigma2[ok & (cf.time < cf.edge_time)] == 0)
    if cf.stop_reason:  # stopped when the second eigenvalue reached the edge
        last = np.nonzero(ok)[0][-1]
        assert cf.eigenvalues[last, 1] >= 0.9 * edge


def test_sgd_records_batch_sharpness_and_sits_below_full_batch(at_edge):
    r = eos.run(TINY.replace(lr=EDGE_LR, batch_size=16))
    assert r.batch_sharpness.shape == r.sharpness.shape and np.isfinite(r.batch_sharpness).all()
    assert len(at_edge.batch_sharpness) == 0  # full batch: empty
    assert eos.late_mean(r.sharpness) < 0.9 * eos.late_mean(at_edge.sharpness)


def test_divergence_is_a_result_with_full_length_arrays():
    r = eos.run(TINY.replace(lr=8.0))
    assert r.diverged and 0 <= r.diverged_step < TINY.steps
    assert r.loss.shape == (TINY.steps + 1,) and np.isnan(r.loss[-1])
    assert np.isnan(eos.summarize(r)["edge_ratio"])


def test_batched_path_equals_run_on_a_stable_config(small_lr):
    cfg = TINY.replace(lr=SMALL_LR)
    out = jax.jit(eos.batched(cfg))(eos._hyper(cfg))
    r = eos.from_arrays(cfg, jax.tree.map(np.asarray, out))
    np.testing.assert_allclose(r.loss, small_lr.loss, rtol=1e-4)
    np.testing.assert_allclose(r.sharpness, small_lr.sharpness, rtol=1e-3)
    assert set(eos.summarize(r)) == {"edge_ratio", "full_batch_ratio", "final_loss"}
    assert sweep.traced_fields(cfg) == ["lr", "init_scale", "seed"]


def test_config_validation():
    with pytest.raises(ConfigError):
        eos.Config(n_train=100, batch_size=200)
    with pytest.raises(ConfigError):
        eos.Config(dataset="teacher", loss="ce")
    assert eos.Config().cost_flops() > 0
    for over in eos.PRESETS.values():
        eos.Config(**over)


def test_engine_does_not_import_streamlit():
    code = "import engine.eos, engine.catapult, engine.central_flow, sys; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_warm_start_vector_is_unit_and_near_previous_top():
    vecs = jnp.eye(3, 50)
    v = eos.warm_start(vecs, jax.random.PRNGKey(0))
    assert abs(float(v @ vecs[0])) > 0.7
