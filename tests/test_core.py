"""Engine core: configs, nets, training, divergence, purity of the engine package."""

import dataclasses
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine import data, nets, playground, train
from engine.config import ConfigError, parse_value


def test_engine_never_imports_streamlit_or_plotly():
    code = (
        "import sys, engine, engine.playground, engine.sweep; "
        "assert 'streamlit' not in sys.modules and 'plotly' not in sys.modules, 'UI module imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_config_validation_names_field_value_and_range():
    with pytest.raises(ConfigError, match=r"width=0 .*between 1 and 4096"):
        playground.Config(width=0)
    with pytest.raises(ConfigError, match="activation='sigmoid'"):
        playground.Config(activation="sigmoid")
    with pytest.raises(ConfigError, match="must be an integer"):
        playground.Config(steps=2.5)
    with pytest.raises(ConfigError, match="finite"):
        playground.Config(lr=float("nan"))
    with pytest.raises(ConfigError, match="larger than n_train"):
        playground.Config(batch_size=600, n_train=512)
    with pytest.raises(ConfigError, match="not a valid int"):
        parse_value(playground.Config, "width", "abc")
    assert parse_value(playground.Config, "batch_size", "none") is None
    cfg = playground.Config(width=64.0)  # an integral float is accepted and normalised
    assert cfg.width == 64 and isinstance(cfg.width, int)


def test_config_round_trip_and_canonical_key():
    cfg = playground.Config(width=32, lr=0.1)
    assert playground.Config.from_dict(cfg.to_dict()) == cfg
    assert cfg.key() == playground.Config(lr=0.1, width=32).key()
    assert cfg.key() != playground.Config(lr=0.2, width=32).key()
    with pytest.raises(ConfigError, match="unknown field"):
        playground.Config.from_dict({"widht": 3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.width = 3


@pytest.mark.parametrize("param", ["standard", "ntk", "mup"])
def test_output_scale_is_order_one_at_init(param):
    # Each parametrization keeps hidden activations O(1) at init: pre-activation std ~ 1
    spec = nets.MLP(64, 512, 2, 1, "tanh", param, base_width=512)
    x = jax.random.normal(jax.random.PRNGKey(1), (256, 64))
    p = nets.init(jax.random.PRNGKey(0), spec)
    _, pre = nets.apply(p, x, spec, return_preacts=True)
    assert 0.6 < float(jnp.std(pre[0])) < 1.4
    assert 0.3 < float(jnp.std(pre[1])) < 1.4


def test_mup_readout_and_lr_scales_follow_width_mult():
    spec = nets.MLP(8, 256, 2, 1, "relu", "mup", base_width=64)  # width_mult = 4
    sgd, adam = nets.lr_scales(spec, "sgd"), nets.lr_scales(spec, "adam")
    assert [layer["w"] for layer in sgd] == [4.0, 1.0, 4.0]
    assert [layer["w"] for layer in adam] == [1.0, 0.25, 1.0]
    assert nets._multipliers(spec)[-1] == pytest.approx(0.25)
    assert all(
        v == 1.0
        for layer in nets.lr_scales(dataclasses.replace(spec, parametrization="standard"), "sgd")
        for v in layer.values()
    )


def test_gd_step_matches_manual_update():
    ds = data.teacher_student(32, 8, d_in=4)
    spec = nets.MLP(4, 8, 1, 1)
    p = nets.init(jax.random.PRNGKey(0), spec)
    loss = train.mse(lambda q, x: nets.apply(q, x, spec))
    res = train.train(loss, p, train.make_optimizer("gd", 0.1), ds.x_train, ds.y_train, steps=1)
    g = jax.grad(loss)(p, ds.x_train, ds.y_train)
    manual = jax.tree.map(lambda a, b: a - 0.1 * b, p, g)
    assert jax.tree.all(jax.tree.map(lambda a, b: jnp.allclose(a, b, atol=1e-6), res.params, manual))
    assert res.loss[0] == pytest.approx(float(loss(p, ds.x_train, ds.y_train)), rel=1e-6)


def test_chunked_training_equals_one_scan_and_reports_progress():
    ds = data.teacher_student(64, 8, d_in=4)
    spec = nets.MLP(4, 16, 1, 1)
    p = nets.init(jax.random.PRNGKey(0), spec)
    loss = train.mse(lambda q, x: nets.apply(q, x, spec))
    opt = train.make_optimizer("momentum", 0.05)
    seen = []
    res = train.train(
        loss, p, opt, ds.x_train, ds.y_train, steps=50, chunk=7, progress=lambda f, r: seen.append((f, len(r.loss)))
    )
    pure = train.train_pure(loss, p, opt, ds.x_train, ds.y_train, steps=50)
    np.testing.assert_allclose(res.loss, np.asarray(pure["loss"]), rtol=1e-5)
    assert seen[-1][0] == 1.0 and len(seen) == 8 and seen[0][1] < seen[-1][1]


def test_sgd_without_replacement_visits_every_example_once_per_epoch():
    x = jnp.arange(12.0)[:, None]
    y = jnp.zeros((12, 1))
    seen = []

    def loss(p, xb, yb):
        return jnp.sum(p["w"] * xb) * 0.0 + jnp.sum(p["w"]) * 0.0

    # record the batches through a metrics-free run: reconstruct them from the step function's rule
    step, _ = train._make_step(loss, train.make_optimizer("sgd", 0.1), x, y, 4, False, 3, np.zeros(4, bool), None, 1e4)
    key = jax.random.PRNGKey(3)
    for t in range(3):
        epoch, pos = t // 3, t % 3
        perm = jax.random.permutation(jax.random.fold_in(key, epoch), 12)
        seen.extend(np.asarray(perm[pos * 4 : (pos + 1) * 4]).tolist())
    assert sorted(seen) == list(range(12))


def test_divergence_is_a_result_with_its_step():
    cfg = playground.Config(lr=20.0, steps=100, n_train=64, width=16)
    r = playground.run(cfg)
    assert r.diverged and 0 <= r.diverged_step < 100
    assert np.isnan(r.loss[-1]) and len(r.loss) == len(r.steps)
    ok = playground.run(cfg.replace(lr=0.01))
    assert not ok.diverged and ok.diverged_step == -1 and ok.loss[-1] < ok.loss[0]


def test_datasets_are_seeded_and_shaped():
    a, b = data.digits(100, 50, seed=1), data.digits(100, 50, seed=1)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert a.x_train.shape == (100, 64) and a.y_train.shape == (100, 10)
    assert np.allclose(a.x_train.mean(0), 0, atol=1e-5)
    sd = a.x_train.std(0)
    assert np.allclose(sd[sd > 0], 1, atol=1e-4)
    dead = sd == 0  # pixels constant on the training images are zero everywhere, never ~1/eps
    assert dead.any() and np.all(a.x_test[:, dead] == 0) and np.abs(a.x_test).max() < 50
    pl = data.power_law_features(256, 8, d=32, spectrum_exponent=2.0)
    assert pl.x_train.var(0)[0] > 10 * pl.x_train.var(0)[10]
    ds, beta = data.sparse_regression(20, 10, d=50, k=3)
    assert np.count_nonzero(beta) == 3 and np.allclose(ds.y_train[:, 0], ds.x_train @ beta, atol=1e-4)
