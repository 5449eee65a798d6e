"""Kernels and alignment metrics: NTK against a dense Jacobian, CKA/kNN invariances and null levels."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine import kernels, nets


@pytest.fixture(scope="module")
def feats():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20)) @ rng.normal(size=(20, 20))  # anisotropic features
    Q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    Y = rng.normal(size=(300, 40))  # independent of X
    return X, Q, Y


def test_cka_invariant_to_rotation_and_scale(feats):
    X, Q, _ = feats
    assert abs(kernels.linear_cka(X, 3.7 * X @ Q) - 1.0) < 1e-6
    assert abs(kernels.linear_cka(X, 3.7 * X @ Q, unbiased=True) - 1.0) < 1e-6
    assert abs(kernels.linear_cka(X, X @ Q + 5.0) - 1.0) < 1e-6  # column means are removed
    # ...but not to a general invertible map
    M = np.diag(np.linspace(0.1, 10, 20))
    assert kernels.linear_cka(X, X @ M) < 0.95


def test_cka_matches_hsic_trace_formula(feats):
    X, _, Y = feats
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = X @ X.T, Y @ Y.T

    def hsic(K, L):
        return np.trace(K @ H @ L @ H)

    expected = hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))
    np.testing.assert_allclose(kernels.linear_cka(X, Y), expected, rtol=1e-10)
    # the Gram-form branch (more features than examples) gives the same value
    Xw = np.concatenate([X, X[:, :1] * np.arange(300)[None, :]], axis=1)[:, :320]
    Kw = Xw @ Xw.T
    expected_w = hsic(Kw, L) / np.sqrt(hsic(Kw, Kw) * hsic(L, L))
    np.testing.assert_allclose(kernels.linear_cka(Xw, Y), expected_w, rtol=1e-10)


def test_unbiased_cka_near_zero_for_independent_features():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(100, 200)), rng.normal(size=(100, 200))
    assert kernels.linear_cka(X, Y) > 0.5  # the biased estimator inflates with width
    assert abs(kernels.linear_cka(X, Y, unbiased=True)) < 0.05


def test_independent_features_score_near_their_null(feats):
    X, _, Y = feats
    n, k = X.shape[0], 10
    m = kernels.mutual_knn(X, Y, k=k)
    assert abs(m - k / (n - 1)) < 0.015
    mean, std = kernels.permutation_null(kernels.linear_cka, X, Y, n_perm=10, seed=0)
    assert std > 0
    assert abs(kernels.linear_cka(X, Y) - mean) < 5 * std + 0.005
    knn_mean, _ = kernels.permutation_null(kernels.mutual_knn, X, Y, n_perm=5)
    assert abs(knn_mean - k / (n - 1)) < 0.015


def test_mutual_knn_invariances(feats):
    X, Q, Y = feats
    assert kernels.mutual_knn(X, 2.5 * X @ Q) == 1.0
    assert kernels.mutual_knn(jnp.asarray(X, jnp.float32), X) > 0.99  # jax float32 input accepted
    assert kernels.mutual_knn(X, X, k=5, clip_quantile=0.95) == 1.0
    # related but different representations score between chance and 1
    part = kernels.mutual_knn(X, X[:, :10])
    assert 10 / 299 + 0.05 < part < 1.0


@pytest.fixture(scope="module")
def small_net():
    spec = nets.MLP(d_in=3, width=16, depth=2, d_out=2, activation="tanh")
    params = nets.init(jax.random.PRNGKey(0), spec)
    x = jax.random.normal(jax.random.PRNGKey(1), (37, 3))
    return (lambda p, xb: nets.apply(p, xb, spec)), params, x


def test_ntk_gram_equals_dense_jacobian(small_net, monkeypatch):
    apply_fn, params, x = small_net
    n = x.shape[0]
    jac = jax.jacrev(apply_fn)(params, x)  # leaves (n, d_out, *shape)
    J = np.concatenate([np.asarray(leaf, np.float64).reshape(n, 2, -1) for leaf in jax.tree_util.tree_leaves(jac)], -1)
    expected = np.einsum("iop,jop->ij", J, J)
    tol = 1e-5 * np.abs(expected).max()
    K = jax.jit(lambda p, x: kernels.ntk_gram(apply_fn, p, x))(params, x)
    np.testing.assert_allclose(np.asarray(K), expected, atol=tol)
    chunked = jax.jit(lambda p, x: kernels.ntk_gram(apply_fn, p, x, chunk=8))(params, x)  # 5 blocks, 1 padded
    np.testing.assert_allclose(np.asarray(chunked), expected, atol=tol)
    monkeypatch.setattr(kernels, "_BLOCK_FLOATS", 16 * 2 * 500)  # memory cap forces 16-row blocks
    capped = jax.jit(lambda p, x: kernels.ntk_gram(apply_fn, p, x))(params, x)
    np.testing.assert_allclose(np.asarray(capped), expected, atol=tol)


def test_top_eig_and_kernel_distance():
    rng = np.random.default_rng(2)
    F = rng.normal(size=(30, 50))
    K = F @ F.T
    assert kernels.top_eig(K) == pytest.approx(np.linalg.eigvalsh(K)[-1], rel=1e-12)
    assert float(kernels.top_eig(jnp.asarray(K, jnp.float32))) == pytest.approx(np.linalg.eigvalsh(K)[-1], rel=1e-5)
    assert abs(kernels.kernel_distance(K, 3.0 * K)) < 1e-12
    assert abs(float(kernels.kernel_distance(jnp.asarray(K), 3.0 * jnp.asarray(K)))) < 1e-6
    other = np.eye(K.shape[0])
    assert 0.0 < kernels.kernel_distance(K, other) <= 1.0


def test_relative_weight_change():
    rng = np.random.default_rng(3)
    p0 = [{"w": rng.normal(size=(3, 8)), "b": np.zeros(8)}, {"w": rng.normal(size=(8, 1)), "b": np.zeros(1)}]
    p1 = [{"w": 1.1 * layer["w"], "b": layer["b"] + 100.0} for layer in p0]  # biases are not weights
    assert kernels.relative_weight_change(p0, p1) == pytest.approx(0.1, rel=1e-6)
    plain0 = (jnp.ones((2, 2)), jnp.ones(3))
    plain1 = (jnp.ones((2, 2)), jnp.zeros(3))
    assert kernels.relative_weight_change(plain0, plain1) == pytest.approx(np.sqrt(3 / 7))
