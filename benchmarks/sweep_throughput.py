"""Throughput of engine.sweep vs the machine's matmul, in one run.

Workload (the foundation's reference): an 8x8 grid (learning rate x init scale) of full-batch GD
trainings of an MLP 16->256->1 (tanh), 512 samples, 500 steps. FLOPs are counted as
6 * n * (weights) per step (forward 2nP, backward 4nP). The reference is a 2048x2048 float32
matmul (2 n^3 FLOPs) on the same backend. Prints GFLOP/s of each and, last, ``ratio=<sweep/matmul>``
for the compiled (warm) sweep; cold (with compile) and the naive single-device vmap are printed too.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

import engine  # configures host devices before JAX creates them
from engine import nets, playground, sweep


def matmul_gflops(n: int = 2048, reps: int = 20) -> float:
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            out = f(a)
        out.block_until_ready()
        best = min(best, (time.perf_counter() - t) / reps)
    return 2 * n**3 / best / 1e9


def main() -> None:
    base = playground.Config(
        dataset="teacher", n_train=512, d_in=16, width=256, depth=1, activation="tanh", steps=500, n_records=10
    )
    lrs = list(np.geomspace(0.01, 0.3, 8))
    scales = list(np.geomspace(0.5, 2.0, 8))
    spec = nets.MLP(16, 256, 1, 1)
    flops = 64 * base.steps * 3 * spec.forward_flops(base.n_train)
    print(f"backend={jax.default_backend()} devices={len(jax.devices())} jax={jax.__version__}")
    print(f"workload: 8x8 grid, MLP 16-256-1 tanh, 512 samples, 500 GD steps; {flops / 1e9:.1f} GFLOP counted")

    def timed(strategy, devices=None):
        cfgs = [base.replace(lr=float(a), init_scale=float(s)) for a in lrs for s in scales]
        t = time.perf_counter()
        sweep.run_cells(playground, cfgs, strategy=strategy, devices=devices)
        return time.perf_counter() - t

    cold = timed("map")
    warm = min(timed("map") for _ in range(2))
    naive_cold = timed("vmap", devices=1)
    naive = timed("vmap", devices=1)
    mm = matmul_gflops()
    print(
        f"engine.sweep ({sweep.default_strategy()}, sharded over {len(jax.local_devices())} device(s)): "
        f"cold {cold:.2f} s = {flops / cold / 1e9:.1f} GFLOP/s; warm {warm:.2f} s = {flops / warm / 1e9:.1f} GFLOP/s"
    )
    print(f"naive one-device vmap: cold {naive_cold:.2f} s; warm {naive:.2f} s = {flops / naive / 1e9:.1f} GFLOP/s")
    print(f"matmul 2048x2048 float32: {mm:.1f} GFLOP/s")
    print(f"cold ratio (incl. compile)={flops / cold / 1e9 / mm:.2f}; naive vmap ratio={flops / naive / 1e9 / mm:.2f}")
    print(f"ratio={flops / warm / 1e9 / mm:.2f}")


if __name__ == "__main__":
    assert engine.__version__
    main()
