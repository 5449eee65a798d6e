"""Representation alignment: metric invariances and oracles, the zoo, and the phenomenon on a small zoo."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import ortho_group

from engine import alignment as al
from engine import kernels, zoo
from engine.config import ConfigError

SMALL = dict(zoo="small", n_seeds=2, steps=100, n_probe=150, n_snapshots=4, n_boot=300)


def _hsic_direct(X, Y):
    """Biased HSIC of linear kernels, tr(K H L H) / (n - 1)^2, from its textbook definition."""
    n = len(X)
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(X @ X.T @ H @ Y @ Y.T @ H) / (n - 1) ** 2


def _hsic_unbiased_direct(X, Y):
    """Song et al. 2012, eq. (5), term by term with explicit sums."""
    n = len(X)
    K, L = X @ X.T, Y @ Y.T
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    a = np.trace(K @ L)
    b = K.sum() * L.sum() / ((n - 1) * (n - 2))
    c = 2.0 / (n - 2) * np.ones(n) @ K @ L @ np.ones(n)
    return (a + b - c) / (n * (n - 3))


@pytest.fixture(scope="module")
def reps():
    rng = np.random.default_rng(0)
    n = 120
    z = rng.standard_normal((n, 6))
    X = np.tanh(z @ rng.standard_normal((6, 30)))  # two nonlinear views of one latent
    Y = np.maximum(z @ rng.standard_normal((6, 20)), 0) + 0.3 * rng.standard_normal((n, 20))
    return X, Y


def test_the_one_implementation_is_reexported():
    assert al.linear_cka is kernels.linear_cka and al.mutual_knn is kernels.mutual_knn


def test_rotated_and_scaled_copies_score_one(reps):
    X, _ = reps
    Q = ortho_group.rvs(X.shape[1], random_state=1)
    Xr = 3.7 * X @ Q
    assert al.linear_cka(X, Xr) == pytest.approx(1.0, abs=1e-10)
    assert al.linear_cka(X, Xr, unbiased=True) == pytest.approx(1.0, abs=1e-10)
    assert al.mutual_knn(X, Xr, k=10) == 1.0
    for m in al.METRICS:
        sim = al.pairwise(m, [X, Xr])[0]
        np.testing.assert_allclose(sim, 1.0, atol=1e-10)
    # ... but not a general invertible map: CKA is not affine invariant
    A = np.random.default_rng(2).standard_normal((30, 30)) + np.diag(np.linspace(0.1, 10, 30))
    assert al.linear_cka(X, X @ A) < 0.95


def test_cka_equals_the_hsic_formulas(reps):
    X, Y = reps
    direct = _hsic_direct(X, Y) / np.sqrt(_hsic_direct(X, X) * _hsic_direct(Y, Y))
    assert al.linear_cka(X, Y) == pytest.approx(direct, rel=1e-10)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    u = _hsic_unbiased_direct(Xc, Yc) / np.sqrt(_hsic_unbiased_direct(Xc, Xc) * _hsic_unbiased_direct(Yc, Yc))
    assert al.linear_cka(X, Y, unbiased=True) == pytest.approx(u, rel=1e-9)
    assert al.pairwise("cka", [X, Y])[0][0, 1] == pytest.approx(direct, rel=1e-10)
    assert al.pairwise("cka_unbiased", [X], [Y])[0][0, 0] == pytest.approx(u, rel=1e-9)


def test_pairwise_matrices_and_nulls_equal_the_pairwise_functions(reps):
    X, Y = reps
    Z = np.random.default_rng(3).standard_normal((len(X), 8))
    rs = [X, Y, Z]
    perms = al._perms(len(X), 3, seed=0)
    for m, f in (
        ("cka", al.linear_cka),
        ("cka_unbiased", lambda a, b: al.linear_cka(a, b, unbiased=True)),
        ("knn", lambda a, b: al.mutual_knn(a, b, k=7, clip_quantile=0.95)),
    ):
        sim, null, std = al.pairwise(m, rs, k=7, clip=True, perms=perms)
        for i in range(3):
            for j in range(3):
                assert sim[i, j] == pytest.approx(f(rs[i], rs[j]), abs=1e-12)
                vals = [f(rs[min(i, j)], rs[max(i, j)][p]) for p in perms]  # null permutes the later one
                assert null[i, j] == pytest.approx(np.mean(vals), abs=1e-12)
                assert std[i, j] == pytest.approx(np.std(vals), abs=1e-12)


def test_independent_random_features_score_near_the_null():
    rng = np.random.default_rng(4)
    n, k = 300, 10
    X, Y = rng.standard_normal((n, 40)), rng.standard_normal((n, 40))
    perms = al._perms(n, 20, seed=1)
    for m in al.METRICS:
        sim, null, std = al.pairwise(m, [X], [Y], k=k, perms=perms)
        assert abs(sim[0, 0] - null[0, 0]) < 4 * std[0, 0] + 1e-3, m
    knn = al.pairwise("knn", [X], [Y], k=k, perms=perms)
    assert knn[0][0, 0] == pytest.approx(k / (n - 1), abs=0.02)  # chance level
    assert abs(al.pairwise("cka_unbiased", [X], [Y])[0][0, 0]) < 0.02
    # the biased score is not near 0 for independent features: the reason for the null
    assert al.linear_cka(X, Y) > 0.05


def test_conv_matches_lax_convolution():
    rng = np.random.default_rng(5)
    z = jnp.asarray(rng.standard_normal((3, 8, 8, 4)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((3, 3, 4, 6)), jnp.float32)
    for stride in (1, 2):
        ref = jax.lax.conv_general_dilated(
            z, w, (stride, stride), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        np.testing.assert_allclose(zoo.conv3x3(z, w, stride), ref, rtol=1e-5, atol=1e-5)


def test_seeds_trained_together_equal_seeds_trained_alone():
    cfg = al.Config(**SMALL)
    ds = al._dataset(cfg)
    arch = zoo.Arch("MLP", 8, 1)
    both = zoo.train_group(arch, [0, 1], 0, ds, steps=20, lr=3e-3, n_probe=50, n_snapshots=3)
    alone = zoo.train_group(arch, [1], 0, ds, steps=20, lr=3e-3, n_probe=50, n_snapshots=3)
    np.testing.assert_allclose(both["reps"][0][1], alone["reps"][0][0], rtol=1e-4, atol=1e-4)
    assert not np.allclose(both["reps"][0][0], both["reps"][0][1])


def test_config_validation():
    with pytest.raises(ConfigError, match="n_probe"):
        al.Config(n_train=1400, n_probe=500)
    with pytest.raises(ConfigError, match="model_a"):
        al.Config(zoo="small", model_a=40)
    with pytest.raises(ConfigError, match="k="):
        al.Config(n_probe=50, k=60)
    assert len(zoo.model_list("mixed", 2, True)) >= 12


@pytest.fixture(scope="module")
def small():
    seen = []
    res = al.run(al.Config(**SMALL), progress=lambda f, r: seen.append((f, r)))
    return res, seen


def test_small_zoo_result_shapes_and_live_progress(small):
    r, seen = small
    M = len(zoo.model_list("small", 2, True))
    assert r.done == M == len(r.models) == len(r.accuracy)
    for m in al.METRICS:
        assert r.sim(m).shape == r.null(m).shape == (M, M)
        np.testing.assert_allclose(r.sim(m), r.sim(m).T, atol=1e-12)
    np.testing.assert_allclose(np.diag(r.cka), 1.0, atol=1e-9)
    assert list(r.group) == sorted(r.group, key=["MLP", "Conv", "MLP (untrained)", "Conv (untrained)"].index)
    fr = [f for f, _ in seen]
    assert fr == sorted(fr) and fr[-1] == 1.0
    partial_done = [p.done for _, p in seen if p is not None]
    assert partial_done[0] < M and partial_done[-1] == M  # models appear as their architecture finishes
    assert r.layer_cka.shape == (len(r.layers_a), len(r.layers_b)) and r.layers_a[0] == "input"
    assert r.layer_cka[0, 0] == pytest.approx(1.0)  # the same probe inputs
    assert not r.diverged


def test_trained_models_align_far_above_the_null(small):
    r, _ = small
    good = np.flatnonzero(r.trained & (r.accuracy > 0.9))
    assert len(good) >= 4
    block = np.ix_(good, good)
    off = ~np.eye(len(good), dtype=bool)
    for m in al.METRICS:
        assert np.all(r.sim(m)[block][off] > r.null(m)[block][off] + 0.15), m
    assert r.null_knn[block][off].mean() == pytest.approx(r.k / (150 - 1), abs=0.01)


def test_alignment_rises_with_accuracy_across_the_zoo(small):
    r, _ = small
    assert r.accuracy[r.trained].max() > 0.9 and r.accuracy[~r.trained].max() < 0.3
    for mi, m in enumerate(al.METRICS):
        # the models' mean alignment to the others (untrained included) grows with accuracy
        rho, lo, hi = al.spearman_bootstrap(r.accuracy, r.align_mean[mi], 300)
        assert rho == pytest.approx(r.rho[mi, 0])
        assert rho > 0.3, m
        assert r.rho[mi, 1] > 0.3 and lo <= rho <= hi, m


def test_alignment_to_the_best_model_rises_during_training(small):
    r, _ = small
    others = [i for i, m in enumerate(r.snap_models) if m != r.best]
    acc = r.snap_accuracy.mean(1)
    assert acc[-1] > acc[0] + 0.5
    for mi, m in enumerate(al.METRICS):
        curve = r.snap_best[mi][:, others].mean(1)
        assert curve[-1] > curve[0] + 0.05, m
        assert np.all(curve > r.snap_best_null[mi] + 0.1), m


def test_new_k_reuses_the_trained_zoo(small):
    r, _ = small
    r2 = al.run(al.Config(**SMALL, k=20, model_a=0, model_b=1))
    np.testing.assert_array_equal(r2.accuracy, r.accuracy)  # the cached zoo
    np.testing.assert_array_equal(r2.cka, r.cka)
    assert not np.allclose(r2.knn, r.knn)
    assert (r2.model_a, r2.model_b) == (0, 1)
    s = al.summarize(r2)
    assert set(s) >= {"rho_cka", "rho_knn", "mean_accuracy"}
