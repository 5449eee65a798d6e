"""Speed of the sharpness (top Hessian eigenvalue) on the edge-of-stability workload.

MLP 64-200-200-10 tanh on 1,000 digits, MSE loss (52,610 parameters). Prints, in ms per call:
- one gradient and one Hessian-vector product (the unit of cost),
- top eigenvalue by 20 (and 5) Lanczos iterations from a random start ("cold") and from
  the previous step's top eigenvector ("warm", as a training loop that tracks sharpness
  does), with each one's relative error against a converged reference (100 iterations),
- the first call of the jitted function (trace + compile + run).

Run: ``.venv/bin/python benchmarks/hessian_speed.py [--repeats 20]``.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import engine  # noqa: F401  (JAX configuration)
from engine import data, hessian, nets, train


def _ms(fn, *args, repeats: int) -> float:
    """Median wall time of one call in ms (the median resists other processes' load)."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()

    ds = data.digits(n_train=1000, shuffle=False)
    spec = nets.MLP(d_in=64, width=200, depth=2, d_out=10, activation="tanh")
    params = nets.init(jax.random.PRNGKey(0), spec)
    x, y = jnp.asarray(ds.x_train), jnp.asarray(ds.y_train)
    loss_xy = train.mse(lambda p, xb: nets.apply(p, xb, spec))
    # a few GD steps so the Hessian is not the one at init
    step = jax.jit(lambda p: jax.tree_util.tree_map(lambda w, g: w - 0.1 * g, p, jax.grad(loss_xy)(p, x, y)))
    for _ in range(50):
        params = step(params)
    n_params = spec.n_params()

    def loss(p):
        return loss_xy(p, x, y)

    grad = jax.jit(jax.grad(loss))
    v = jax.tree_util.tree_map(jnp.ones_like, params)
    hvp = jax.jit(lambda p, v: hessian.hvp(loss, p, v))
    ref_fn = jax.jit(lambda p: hessian.top_eigs(loss, p, iters=100))
    ref = float(ref_fn(params)[0][0])
    # warm start: the top eigenvector at the parameters one GD step earlier
    prev = jax.tree_util.tree_map(lambda w, g: w + 0.1 * g, params, grad(params))
    v_prev = ref_fn(prev)[1]

    g_ms = _ms(grad, params, repeats=args.repeats)
    h_ms = _ms(hvp, params, v, repeats=args.repeats)
    print(f"backend={jax.default_backend()} params={n_params} examples={x.shape[0]} sharpness={ref:.4f}")
    print(f"gradient_ms={g_ms:.2f} hvp_ms={h_ms:.2f} hvp/grad={h_ms / g_ms:.2f}")
    for iters in (args.iters, 5):
        cold = jax.jit(lambda p, iters=iters: hessian.top_eigs(loss, p, iters=iters))
        warm = jax.jit(lambda p, v0, iters=iters: hessian.top_eigs(loss, p, iters=iters, v0=v0))
        t = time.perf_counter()
        cold_val = float(cold(params)[0][0])
        first_ms = 1e3 * (time.perf_counter() - t)
        warm_val = float(warm(params, v_prev)[0][0])
        cold_ms = _ms(cold, params, repeats=args.repeats)
        warm_ms = _ms(warm, params, v_prev, repeats=args.repeats)
        print(f"lanczos_iters={iters} first_call_ms={first_ms:.0f} (trace + compile + run)")
        print(f"lanczos_iters={iters} top_eig_cold_ms={cold_ms:.1f} rel_err={abs(cold_val - ref) / ref:.1e}")
        print(f"lanczos_iters={iters} top_eig_warm_ms={warm_ms:.1f} rel_err={abs(warm_val - ref) / ref:.1e}")


if __name__ == "__main__":
    main()
