"""Hessian spectra of training losses, matrix-free (THEORY.md section 3).

Everything works on Hessian-vector products (forward-over-reverse: one jvp of the
gradient, about the cost of two gradients) and never forms the Hessian, so it scales to
nets with millions of parameters. Eigensolvers take a ``matvec`` on flat vectors:

- :func:`lanczos`: k-step Lanczos with full reorthogonalisation; pure and jit-able with
  static ``dim``/``k``/``iters``; warm-starts from a previous eigenvector.
- :func:`lobpcg_top`: block LOBPCG from ``jax.experimental.sparse.linalg`` with a tolerance.
- :func:`power_iteration`: the simplest estimate (largest |eigenvalue|).
- :func:`top_eigs`: top-k Hessian eigenpairs of ``loss_fn`` at ``params`` (the sharpness
  S = eigvals[0]).
- :func:`batch_sharpness`: E_B[g_B^T H_B g_B / ||g_B||^2] over random minibatches, the
  quantity SGD drives to about 2/lr (edge of stochastic stability).

All functions are pure: wrap them in ``jax.jit`` with the loss closed over, e.g.
``jax.jit(lambda p, v: top_eigs(lambda q: loss(q, x, y), p, v0=v))``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

Matvec = Callable[[jax.Array], jax.Array]


def hvp(loss_fn: Callable, params, v):
    """Hessian-vector product H(params) v of the scalar ``loss_fn(params)``; v is a pytree like params."""
    return jax.jvp(jax.grad(loss_fn), (params,), (v,))[1]


def flat_matvec(loss_fn: Callable, params) -> tuple[Matvec, Callable, Callable]:
    """``(matvec, ravel_fn, unravel_fn)``: the Hessian as a map on flat (P,) vectors.

    The gradient is linearised once (``jax.linearize``), so each product reuses the
    forward pass instead of recomputing it. ``ravel_fn(tree) -> (P,)`` and
    ``unravel_fn((P,)) -> tree`` convert between pytrees and flat vectors.
    """
    flat, unravel = ravel_pytree(params)

    def grad_flat(w):
        return ravel_pytree(jax.grad(loss_fn)(unravel(w)))[0]

    _, matvec = jax.linearize(grad_flat, flat)
    return matvec, (lambda tree: ravel_pytree(tree)[0]), unravel


def _orthogonalise(w: jax.Array, basis: jax.Array) -> jax.Array:
    """Remove the span of the rows of ``basis`` from w (classical Gram-Schmidt, twice)."""
    w = w - basis.T @ (basis @ w)
    return w - basis.T @ (basis @ w)


def _start_vector(v0, dim: int, key, dtype) -> jax.Array:
    """Unit start vector: ``v0`` (rows summed when 2-D) or a random one when v0 is None or zero."""
    rnd = jax.random.normal(key, (dim,), dtype)
    if v0 is None:
        v = rnd
    else:
        v0 = jnp.asarray(v0, dtype)
        v = v0.reshape(-1, dim).sum(0)
        v = jnp.where(jnp.linalg.norm(v) > 0, v, rnd)
    return v / jnp.linalg.norm(v)


def lanczos(
    matvec: Matvec,
    dim: int,
    k: int = 1,
    iters: int = 20,
    v0: jax.Array | None = None,
    key: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Top-k eigenpairs of a symmetric operator by Lanczos with full reorthogonalisation.

    Args:
      matvec: (dim,) -> (dim,) symmetric linear map (e.g. from :func:`flat_matvec`).
      dim, k, iters: static ints; ``iters`` Krylov steps (clipped to ``dim``), k <= iters.
      v0: optional warm start, (dim,) or (j, dim) (rows summed), e.g. the last eigenvector.
      key: PRNG key for the random start and for restarts after an invariant subspace
        is found (default ``PRNGKey(0)``: results are deterministic).

    Returns:
      eigvals (k,) descending, eigvecs (k, dim) unit Ritz vectors. Converges fastest for
      well separated top eigenvalues: on the digits MLP (benchmarks/hessian_speed.py) 20
      iterations from a random start give the top one to ~1e-7 relative, 5 give 5e-2, and
      5 warm-started from the previous step's eigenvector give ~2e-7.
    """
    m = min(int(iters), int(dim))
    if not 1 <= k <= m:
        raise ValueError(f"need 1 <= k <= min(iters, dim); got k={k}, iters={iters}, dim={dim}")
    key = jax.random.PRNGKey(0) if key is None else key
    dtype = jnp.result_type(v0) if v0 is not None else jnp.float32
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.float32
    v = _start_vector(v0, dim, jax.random.fold_in(key, 0), dtype)
    basis = jnp.zeros((m + 1, dim), dtype).at[0].set(v)  # row m is scratch
    alphas = jnp.zeros((m,), dtype)
    betas = jnp.zeros((m,), dtype)  # betas[j] couples v_j and v_{j+1}

    def step(j, carry):
        basis, alphas, betas = carry
        vj = basis[j]
        w = matvec(vj).astype(dtype)
        scale = jnp.linalg.norm(w)
        alpha = jnp.vdot(vj, w)
        w = _orthogonalise(w, basis)  # full reorthogonalisation (includes v_j and v_{j-1})
        beta = jnp.linalg.norm(w)
        # Invariant subspace reached (beta ~ 0): continue from a fresh orthogonal direction,
        # with a zero coupling so the tridiagonal matrix stays an exact projection.
        broke = beta <= 1e-6 * jnp.maximum(scale, jnp.finfo(dtype).tiny)

        def restart(_):
            fresh = jax.random.normal(jax.random.fold_in(key, j + 1), (dim,), dtype)
            fresh = _orthogonalise(fresh, basis)
            return fresh / jnp.linalg.norm(fresh)

        nxt = jax.lax.cond(broke, restart, lambda _: w / beta, None)
        beta = jnp.where(broke, 0.0, beta)
        basis = basis.at[j + 1].set(nxt)
        return basis, alphas.at[j].set(alpha), betas.at[j].set(beta)

    basis, alphas, betas = jax.lax.fori_loop(0, m, step, (basis, alphas, betas))
    tri = jnp.diag(alphas) + jnp.diag(betas[: m - 1], 1) + jnp.diag(betas[: m - 1], -1)
    evals, evecs = jnp.linalg.eigh(tri)
    order = jnp.argsort(-evals)[:k]
    ritz = evecs[:, order].T @ basis[:m]  # (k, dim)
    ritz = ritz / jnp.linalg.norm(ritz, axis=1, keepdims=True)
    return evals[order], ritz


def lobpcg_top(
    matvec: Matvec, x0: jax.Array, iters: int = 100, tol: float | None = None
) -> tuple[jax.Array, jax.Array]:
    """Top-k eigenpairs by LOBPCG (``jax.experimental.sparse.linalg.lobpcg_standard``).

    Args:
      matvec: (dim,) -> (dim,) symmetric linear map (vmapped over the k block columns).
      x0: (dim, k) linearly independent start block (need 5k < dim); warm-start with the
        previous eigenvectors transposed.
      iters: maximum iterations; tol: residual tolerance (None = float epsilon, see jax docs).

    Returns:
      eigvals (k,) descending, eigvecs (k, dim).
    """
    from jax.experimental.sparse.linalg import lobpcg_standard

    block = jax.vmap(matvec, in_axes=1, out_axes=1)
    theta, u, _ = lobpcg_standard(block, x0, m=iters, tol=tol)
    order = jnp.argsort(-theta)
    return theta[order], u[:, order].T


def power_iteration(matvec: Matvec, v0: jax.Array, iters: int) -> tuple[jax.Array, jax.Array]:
    """Power iteration: (Rayleigh quotient, unit vector) of the largest-|eigenvalue| direction."""
    v = v0 / jnp.linalg.norm(v0)

    def body(_, v):
        w = matvec(v)
        return w / jnp.linalg.norm(w)

    v = jax.lax.fori_loop(0, iters, body, v)
    return jnp.vdot(v, matvec(v)), v


def top_eigs(
    loss_fn: Callable,
    params,
    k: int = 1,
    iters: int = 20,
    v0: jax.Array | None = None,
    method: str = "lanczos",
    key: jax.Array | None = None,
    tol: float | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Top-k eigenvalues of the Hessian of ``loss_fn`` (scalar function of the pytree params).

    Args:
      loss_fn: params -> scalar (data closed over); params: pytree of float arrays.
      k, iters: static ints. method: "lanczos" (iters Krylov steps) or "lobpcg" (at most
        ``iters`` block iterations, early exit at ``tol``; needs 5k < P).
      v0: warm start, (P,) or (k, P) flat vectors, e.g. the eigvecs of the previous step.
      key: PRNG key for random starts (default ``PRNGKey(0)``).

    Returns:
      eigvals (k,) descending (eigvals[0] is the sharpness), eigvecs (k, P) flat unit vectors
      (``flat_matvec(loss_fn, params)[2]`` turns them back into pytrees).
    """
    matvec, _, _ = flat_matvec(loss_fn, params)
    dim = sum(x.size for x in jax.tree_util.tree_leaves(params))
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
    key = jax.random.PRNGKey(0) if key is None else key
    if method == "lanczos":
        start = None if v0 is None else jnp.asarray(v0, dtype)
        return lanczos(matvec, dim, k=k, iters=iters, v0=start, key=key)
    if method == "lobpcg":
        if not 0 < 5 * k < dim:
            raise ValueError(f"lobpcg needs 0 < 5k < P; got k={k}, P={dim}")
        x0 = jax.random.normal(key, (dim, k), dtype)
        if v0 is not None:
            v0 = jnp.asarray(v0, dtype).reshape(-1, dim)[:k]
            x0 = x0.at[:, : v0.shape[0]].set(v0.T)
        return lobpcg_top(matvec, x0, iters=iters, tol=tol)
    raise ValueError(f"method={method!r}: choose 'lanczos' or 'lobpcg'")


def batch_sharpness(
    loss_fn_xy: Callable,
    params,
    x: jax.Array,
    y: jax.Array,
    batch_size: int,
    n_batches: int,
    key: jax.Array,
) -> jax.Array:
    """Batch sharpness E_B[g_B^T H_B g_B / ||g_B||^2] (THEORY.md section 3).

    Each of ``n_batches`` minibatches B draws ``batch_size`` distinct examples uniformly;
    g_B and H_B are the gradient and Hessian of ``loss_fn_xy(params, x[B], y[B])``. Under
    SGD this settles near 2/lr while the full-batch top eigenvalue stays below it.
    ``batch_size`` and ``n_batches`` are static. Returns a scalar.
    """
    n = x.shape[0]

    def one(k):
        idx = jax.random.permutation(k, n)[:batch_size]
        xb, yb = x[idx], y[idx]

        def f(p):
            return loss_fn_xy(p, xb, yb)

        g, hess = jax.linearize(jax.grad(f), params)  # g_B and v -> H_B v sharing one forward pass
        hg = hess(g)
        gf, hgf = ravel_pytree(g)[0], ravel_pytree(hg)[0]
        return jnp.vdot(gf, hgf) / jnp.vdot(gf, gf)

    return jnp.mean(jax.lax.map(one, jax.random.split(key, n_batches)))
