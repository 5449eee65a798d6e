"""Kernels and representation similarity (THEORY.md sections 2, 3 and 6).

- :func:`ntk_gram`: empirical neural tangent kernel K[i, j] = sum_o <df_o(x_i)/dw, df_o(x_j)/dw>,
  built block by block so the Jacobian is never held whole (a width-1024 MLP on 500 points
  fits in memory). Jit-able.
- :func:`top_eig`, :func:`kernel_distance`: how large the kernel is and how far it moved
  (lazy training keeps the distance near 0).
- :func:`linear_cka` (biased and unbiased), :func:`mutual_knn` (Huh et al. 2024),
  :func:`permutation_null`: representation alignment scores and their chance level, in
  float64 numpy.
- :func:`relative_weight_change`: ||w1 - w0|| / ||w0||, the lazy/rich order parameter.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

_BLOCK_FLOATS = 2**25  # ~128 MiB of float32 per Jacobian block


def _jac_block(apply_fn: Callable, params, xb: jax.Array):
    """Per-example Jacobians of the block: pytree with leaves (b, d_out, *leaf.shape)."""

    def f(p, xi):
        return apply_fn(p, xi[None])[0]

    return jax.vmap(jax.jacrev(f), in_axes=(None, 0))(params, xb)


def _contract(ja, jb) -> jax.Array:
    """sum over outputs and parameters of two Jacobian blocks -> (b, b)."""
    blocks = [
        jnp.einsum("ap,bp->ab", a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1))
        for a, b in zip(jax.tree_util.tree_leaves(ja), jax.tree_util.tree_leaves(jb))
    ]
    return sum(blocks[1:], blocks[0])


def ntk_gram(apply_fn: Callable, params, x: jax.Array, chunk: int = 128) -> jax.Array:
    """Empirical NTK Gram matrix, contracted over outputs.

    Args:
      apply_fn: (params, x (n, d_in)) -> (n, d_out).
      params: pytree; x: (n, d_in).
      chunk: examples per Jacobian block (lowered automatically so one block of
        chunk * d_out * P floats stays under ~128 MiB).

    Returns:
      K (n, n) float32, K[i, j] = sum_o <d f_o(x_i)/dw, d f_o(x_j)/dw>. The NTK of the mean
      loss (1/2m) sum ||f - y||^2 is K / m. Cost ~ n^2 d_out P multiply-adds; the block
      Jacobians are recomputed per block pair, which adds only ~6/chunk to that.
    """
    n = x.shape[0]
    n_params = sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))
    d_out = jax.eval_shape(lambda p, xi: apply_fn(p, xi), params, x[:1]).shape[-1]
    b = max(1, min(int(chunk), n, _BLOCK_FLOATS // max(1, d_out * n_params)))
    nb = -(-n // b)
    if nb == 1:
        j = _jac_block(apply_fn, params, x)
        return _contract(j, j)
    xp = jnp.concatenate([x, jnp.zeros((nb * b - n,) + x.shape[1:], x.dtype)]) if nb * b > n else x
    xb = xp.reshape((nb, b) + x.shape[1:])
    ii, jj = np.triu_indices(nb)

    def pair(ij):
        i, j = ij
        return _contract(_jac_block(apply_fn, params, xb[i]), _jac_block(apply_fn, params, xb[j]))

    blocks = jax.lax.map(pair, (jnp.asarray(ii), jnp.asarray(jj)))  # (n_pairs, b, b)
    grid = jnp.zeros((nb, nb, b, b), blocks.dtype).at[ii, jj].set(blocks)
    grid = grid.at[jj, ii].set(jnp.swapaxes(blocks, 1, 2))
    return grid.transpose(0, 2, 1, 3).reshape(nb * b, nb * b)[:n, :n]


def top_eig(K) -> float | jax.Array:
    """Largest eigenvalue of a symmetric matrix (Python float for numpy input, jax scalar otherwise)."""
    if isinstance(K, np.ndarray):
        K = np.asarray(K, np.float64)
        return float(np.linalg.eigvalsh(0.5 * (K + K.T))[-1])
    return jnp.linalg.eigvalsh(0.5 * (K + K.T))[-1]


def kernel_distance(K0, K1) -> float | jax.Array:
    """1 - <K0, K1>_F / (||K0||_F ||K1||_F): 0 for proportional kernels (Fort et al. 2020)."""
    if isinstance(K0, np.ndarray) and isinstance(K1, np.ndarray):
        a, b = np.asarray(K0, np.float64), np.asarray(K1, np.float64)
        return float(1.0 - np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return 1.0 - jnp.sum(K0 * K1) / (jnp.linalg.norm(K0) * jnp.linalg.norm(K1))


def as_float64(X) -> np.ndarray:
    """(n, ...) array as float64 (n, features): the metrics compute in double precision."""
    X = np.asarray(X, np.float64)
    return X.reshape(X.shape[0], -1)


def hsic_unbiased(K: np.ndarray, L: np.ndarray) -> float:
    """Song et al. (2012) unbiased HSIC estimator of two n x n kernel matrices (n > 3)."""
    n = K.shape[0]
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    one_k, one_l = K.sum(1), L.sum(1)
    term = np.sum(K * L) + one_k.sum() * one_l.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * one_k @ one_l
    return float(term / (n * (n - 3)))


def linear_cka(X, Y, unbiased: bool = False) -> float:
    """Linear CKA of representations X (n, p) and Y (n, q) of the same n inputs.

    Biased: center columns, ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) (Kornblith et al. 2019);
    1 for Y = c X Q (Q orthogonal, c > 0). Unbiased: the same ratio with Song et al.'s
    unbiased HSIC on linear kernels (near 0 for independent features, can be slightly
    negative; needs n > 3). Float64; returns a Python float (NaN if a representation is
    constant over the inputs).
    """
    X, Y = as_float64(X), as_float64(Y)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y need the same number of rows, got {X.shape[0]} and {Y.shape[0]}")
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    n, p, q = X.shape[0], X.shape[1], Y.shape[1]
    if unbiased:
        if n < 4:
            raise ValueError("unbiased CKA needs at least 4 examples")
        K, L = X @ X.T, Y @ Y.T
        xy, xx, yy = hsic_unbiased(K, L), hsic_unbiased(K, K), hsic_unbiased(L, L)
        denom = np.sqrt(max(xx, 0.0) * max(yy, 0.0))
        return float(xy / denom) if denom > 0 else float("nan")
    if max(p, q) <= n:  # feature-space form: cheaper when features are few
        xy = np.sum((Y.T @ X) ** 2)
        xx, yy = np.linalg.norm(X.T @ X), np.linalg.norm(Y.T @ Y)
    else:  # Gram form, same value: ||Y^T X||_F^2 = <XX^T, YY^T>_F
        K, L = X @ X.T, Y @ Y.T
        xy, xx, yy = np.sum(K * L), np.linalg.norm(K), np.linalg.norm(L)
    denom = xx * yy
    return float(xy / denom) if denom > 0 else float("nan")


def clip_abs_quantile(X: np.ndarray, q: float) -> np.ndarray:
    """Clip |values| at their q-quantile (Huh et al.'s code clips at 0.95 before normalising)."""
    t = np.quantile(np.abs(X), q)
    return np.clip(X, -t, t)


def knn_mask(X: np.ndarray, k: int) -> np.ndarray:
    """Boolean (n, n): row i marks the k nearest neighbours of i by inner product of unit rows."""
    Xn = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-300)
    S = Xn @ Xn.T
    np.fill_diagonal(S, -np.inf)
    idx = np.argsort(-S, axis=1, kind="stable")[:, :k]
    mask = np.zeros(S.shape, bool)
    np.put_along_axis(mask, idx, True, axis=1)
    return mask


def mutual_knn(X, Y, k: int = 10, clip_quantile: float | None = None) -> float:
    """Mutual k-nearest-neighbour alignment (Huh et al. 2024), in [0, 1].

    Rows are L2-normalised; N_k(i) = the k nearest neighbours of example i by inner product,
    excluding i; the score is the mean over i of |N_kX(i) & N_kY(i)| / k. Chance level for
    independent features is k / (n - 1). ``clip_quantile`` (e.g. 0.95) first clips |values|
    at that quantile of each representation, as the authors' code does (breaks rotation
    invariance, so off by default). Float64; returns a Python float.
    """
    X, Y = as_float64(X), as_float64(Y)
    n = X.shape[0]
    if Y.shape[0] != n:
        raise ValueError(f"X and Y need the same number of rows, got {n} and {Y.shape[0]}")
    if not 1 <= k <= n - 1:
        raise ValueError(f"k={k} must be between 1 and n - 1 = {n - 1}")
    if clip_quantile is not None:
        if not 0.0 < clip_quantile <= 1.0:
            raise ValueError(f"clip_quantile={clip_quantile} must be in (0, 1]")
        X, Y = clip_abs_quantile(X, clip_quantile), clip_abs_quantile(Y, clip_quantile)
    overlap = (knn_mask(X, k) & knn_mask(Y, k)).sum(1)
    return float(np.mean(overlap / k))


def permutation_null(metric: Callable, X, Y, n_perm: int = 10, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of ``metric(X, Y[perm])`` over random row permutations: the chance level."""
    X, Y = np.asarray(X), np.asarray(Y)
    rng = np.random.default_rng(seed)
    vals = [metric(X, Y[rng.permutation(Y.shape[0])]) for _ in range(n_perm)]
    return float(np.mean(vals)), float(np.std(vals))


def relative_weight_change(params0, params1) -> float:
    """||w1 - w0|| / ||w0|| over all weight matrices (leaves named "w"; all leaves if none are)."""

    def weights(tree):
        leaves = jax.tree_util.tree_leaves_with_path(tree)
        named = [leaf for path, leaf in leaves if path and getattr(path[-1], "key", None) == "w"]
        return named if named else [leaf for _, leaf in leaves]

    w0, w1 = weights(params0), weights(params1)
    num = sum(np.sum((np.asarray(b, np.float64) - np.asarray(a, np.float64)) ** 2) for a, b in zip(w0, w1))
    den = sum(np.sum(np.asarray(a, np.float64) ** 2) for a in w0)
    return float(np.sqrt(num / den))
