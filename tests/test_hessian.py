"""Hessian engine: HVP and eigensolvers against dense oracles, and the GD stability threshold."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from engine import hessian, nets, train


@pytest.fixture(scope="module")
def tiny():
    """A 4-6-2 tanh MLP (44 parameters) on 24 random examples, with its dense Hessian."""
    spec = nets.MLP(d_in=4, width=6, depth=1, d_out=2, activation="tanh")
    params = nets.init(jax.random.PRNGKey(0), spec)
    kx, ky = jax.random.split(jax.random.PRNGKey(1))
    x = jax.random.normal(kx, (24, 4))
    y = jax.random.normal(ky, (24, 2))
    loss_xy = train.mse(lambda p, xb: nets.apply(p, xb, spec))
    loss = lambda p: loss_xy(p, x, y)  # noqa: E731
    flat, unravel = ravel_pytree(params)
    dense = np.asarray(jax.jit(jax.hessian(lambda w: loss(unravel(w))))(flat), np.float64)
    return dict(params=params, x=x, y=y, loss=loss, loss_xy=loss_xy, flat=flat, unravel=unravel, H=dense)


@pytest.fixture(scope="module")
def quad():
    """0.5 x^T A x with a random SPD A (dim 30) and its exact spectrum."""
    rng = np.random.default_rng(0)
    M = rng.normal(size=(30, 30))
    A = M @ M.T / 30 + 0.1 * np.eye(30)
    evals, evecs = np.linalg.eigh(A)
    Aj = jnp.asarray(A, jnp.float32)
    return dict(A=Aj, loss=lambda w: 0.5 * w @ (Aj @ w), evals=evals[::-1], evecs=evecs[:, ::-1].T)


def test_hvp_matches_dense_hessian(tiny):
    v = jax.random.normal(jax.random.PRNGKey(2), tiny["flat"].shape)
    expected = tiny["H"] @ np.asarray(v, np.float64)
    got = jax.jit(lambda p, v: ravel_pytree(hessian.hvp(tiny["loss"], p, tiny["unravel"](v)))[0])(tiny["params"], v)
    atol = 1e-5 * np.abs(expected).max()
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=atol)

    def flat(p, v):
        matvec, ravel, unravel = hessian.flat_matvec(tiny["loss"], p)
        return matvec(v), ravel(unravel(v))

    got, roundtrip = jax.jit(flat)(tiny["params"], v)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=atol)
    np.testing.assert_array_equal(np.asarray(roundtrip), np.asarray(v))


@pytest.mark.parametrize("k", [1, 3])
def test_top_eigs_of_quadratic(quad, k):
    w = jnp.ones(30)
    vals, vecs = jax.jit(lambda w: hessian.top_eigs(quad["loss"], w, k=k, iters=30))(w)
    np.testing.assert_allclose(np.asarray(vals), quad["evals"][:k], rtol=1e-4)
    overlaps = np.abs(np.sum(np.asarray(vecs, np.float64) * quad["evecs"][:k], axis=1))
    np.testing.assert_allclose(overlaps, 1.0, atol=1e-3)


def test_warm_start_converges_in_few_iterations(quad):
    fn = jax.jit(lambda w, v0: hessian.top_eigs(quad["loss"], w, iters=3, v0=v0))
    w = jnp.zeros(30)
    cold, _ = fn(w, jnp.ones(30))
    warm, _ = fn(w, jnp.asarray(quad["evecs"][0], jnp.float32))
    assert abs(float(warm[0]) - quad["evals"][0]) < 1e-5 * quad["evals"][0]
    assert abs(float(cold[0]) - quad["evals"][0]) > 1e3 * abs(float(warm[0]) - quad["evals"][0])


def test_lanczos_survives_invariant_subspace():
    """A start vector inside a 2-D eigenspace makes the Krylov space close after two steps."""
    A = jnp.diag(jnp.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5]))
    fn = jax.jit(lambda v0: hessian.lanczos(lambda v: A @ v, 6, k=4, iters=6, v0=v0))
    vals, vecs = fn(jnp.array([1.0, 1, 0, 0, 0, 0]))
    np.testing.assert_allclose(np.asarray(vals), [5.0, 4.0, 3.0, 2.0], rtol=1e-5)
    np.testing.assert_allclose(np.abs(np.asarray(vecs)[:, :4]), np.eye(4), atol=1e-4)


def test_gd_diverges_iff_lr_above_two_over_sharpness(quad):
    sharp = float(jax.jit(lambda w: hessian.top_eigs(quad["loss"], w, iters=30)[0][0])(jnp.zeros(30)))
    grad = jax.grad(quad["loss"])
    w0 = jnp.ones(30)

    @jax.jit
    def final_norm(lr):  # 600 GD steps
        return jnp.linalg.norm(jax.lax.fori_loop(0, 600, lambda _, w: w - lr * grad(w), w0))

    assert float(final_norm(0.98 * 2 / sharp)) < 1e-3 * float(jnp.linalg.norm(w0))
    assert float(final_norm(1.02 * 2 / sharp)) > 1e3 * float(jnp.linalg.norm(w0))


def test_top_eigs_of_mlp_loss_match_dense_eigh(tiny):
    exact = np.linalg.eigvalsh(tiny["H"])[::-1]

    def both(p):  # k=3 with a full Krylov space, and the default 20 iterations for the top one
        return hessian.top_eigs(tiny["loss"], p, k=3, iters=44), hessian.top_eigs(tiny["loss"], p)[0]

    (vals, vecs), top1 = jax.jit(both)(tiny["params"])
    np.testing.assert_allclose(np.asarray(vals), exact[:3], rtol=1e-3)
    np.testing.assert_allclose(float(top1[0]), exact[0], rtol=1e-3)
    # Ritz vectors are eigenvectors: H v = lambda v
    resid = tiny["H"] @ np.asarray(vecs[0], np.float64) - exact[0] * np.asarray(vecs[0], np.float64)
    assert np.linalg.norm(resid) < 1e-2 * exact[0]


def test_lobpcg_agrees_with_lanczos(tiny):
    def both(p):
        lz = hessian.top_eigs(tiny["loss"], p, k=2, iters=30)
        return lz, hessian.top_eigs(tiny["loss"], p, k=2, iters=200, method="lobpcg", v0=lz[1])

    (lz, _), (lo, vecs) = jax.jit(both)(tiny["params"])
    np.testing.assert_allclose(np.asarray(lo), np.asarray(lz), rtol=1e-3)
    np.testing.assert_allclose(np.asarray(lo), np.linalg.eigvalsh(tiny["H"])[::-1][:2], rtol=1e-3)
    assert vecs.shape == (2, tiny["flat"].size)


def test_top_eigs_vmaps_over_parameter_batches(quad):
    """Sweeps batch runs with vmap: a batch of losses c * 0.5 x^T A x gives c * max eig(A)."""
    scales = jnp.array([0.5, 1.0, 3.0])

    def sharp(c):
        return hessian.top_eigs(lambda w: c * quad["loss"](w), jnp.ones(30), iters=30)[0][0]

    got = jax.jit(jax.vmap(sharp))(scales)
    np.testing.assert_allclose(np.asarray(got), np.asarray(scales) * quad["evals"][0], rtol=1e-4)


def test_power_iteration(quad):
    val, vec = jax.jit(lambda v: hessian.power_iteration(lambda u: quad["A"] @ u, v, 500))(jnp.ones(30))
    np.testing.assert_allclose(float(val), quad["evals"][0], rtol=1e-3)


def test_batch_sharpness_full_batch_is_exact(tiny):
    g = np.asarray(jax.grad(lambda w: tiny["loss"](tiny["unravel"](w)))(tiny["flat"]), np.float64)
    exact = g @ tiny["H"] @ g / (g @ g)
    n = tiny["x"].shape[0]
    fn = jax.jit(lambda p, key: hessian.batch_sharpness(tiny["loss_xy"], p, tiny["x"], tiny["y"], n, 2, key))
    got = float(fn(tiny["params"], jax.random.PRNGKey(3)))
    np.testing.assert_allclose(got, exact, rtol=1e-4)
