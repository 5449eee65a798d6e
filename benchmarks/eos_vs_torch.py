"""engine.eos against a PyTorch loop written the way the public edge-of-stability code does it.

The workload (DESIGN.md): the first 1,000 digits, MLP 64-200-200-10 tanh, L = (1/2m) sum ||f - y||^2,
full-batch GD at lr 0.2 for 1,000 steps, the top-2 Hessian eigenvalues every 10 steps.

- JAX: ``engine.eos.run``; the sharpness is a warm-started 20-step Lanczos inside the compiled
  scan. Timed in a fresh process with an empty compilation cache, so compile time is included.
- PyTorch: an eager training loop; every 10 steps ``scipy.sparse.linalg.eigsh`` on a
  LinearOperator whose matvec is a double-backprop Hessian-vector product (as in
  locuslab/edge-of-stability ``src/utilities.py``), started cold each time. Same initial weights.

Prints both wall times and ``ratio=<torch/jax>`` last. ``--torch-steps N`` runs the reference
for N < 1000 steps and extrapolates its time linearly (said so in the output).
Run: ``.venv/bin/python benchmarks/eos_vs_torch.py [--torch-steps 1000]`` (torch from
requirements-bench.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

STEPS, EIG_EVERY, LR, K = 1000, 10, 0.2, 2


def jax_child() -> None:
    t0 = time.perf_counter()
    from engine import eos

    cfg = eos.Config(lr=LR, steps=STEPS, eig_every=EIG_EVERY, n_eigs=K, lanczos_iters=20)
    r = eos.run(cfg)
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    eos.run(cfg)  # same process, compiled: the run alone
    again = time.perf_counter() - t1
    print(json.dumps({"wall": wall, "again": again, "sharpness": r.sharpness.tolist(), "loss": float(r.loss[-1])}))


def torch_reference(steps: int) -> dict:
    import jax
    import numpy as np
    import torch
    from scipy.sparse.linalg import LinearOperator, eigsh

    from engine import eos, nets

    torch.set_num_threads(os.cpu_count() or 1)
    cfg = eos.Config(lr=LR, steps=STEPS, eig_every=EIG_EVERY, n_eigs=K)
    x_np, y_np = eos.dataset(cfg)
    x, y = torch.tensor(x_np), torch.tensor(y_np)
    # the same initial weights as engine.eos.run (seed 0)
    kw = jax.random.split(jax.random.PRNGKey(cfg.seed), 3)[0]
    params = nets.init(kw, eos._spec(cfg), cfg.init_scale)
    layers = []
    for i, p in enumerate(params):
        lin = torch.nn.Linear(*np.asarray(p["w"]).shape)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(np.asarray(p["w"]).T))
            lin.bias.copy_(torch.tensor(np.asarray(p["b"])))
        layers += [lin] + ([torch.nn.Tanh()] if i < len(params) - 1 else [])
    net = torch.nn.Sequential(*layers)
    n = len(x)

    def loss_fn():
        return 0.5 * ((net(x) - y) ** 2).sum() / n

    def hvp(v):
        loss = loss_fn()
        grads = torch.autograd.grad(loss, net.parameters(), create_graph=True)
        g = torch.nn.utils.parameters_to_vector(grads)
        hv = torch.autograd.grad(g @ v, net.parameters())
        return torch.nn.utils.parameters_to_vector(hv)

    dim = sum(p.numel() for p in net.parameters())

    def top_eigs():
        op = LinearOperator((dim, dim), matvec=lambda v: hvp(torch.tensor(v, dtype=torch.float32)).detach().numpy())
        return np.sort(eigsh(op, K)[0])[::-1]

    opt = torch.optim.SGD(net.parameters(), lr=LR)
    sharp = []
    t0 = time.perf_counter()
    for step in range(steps):
        if step % EIG_EVERY == 0:
            sharp.append(float(top_eigs()[0]))
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    if steps == STEPS:
        sharp.append(float(top_eigs()[0]))
    return {"wall": time.perf_counter() - t0, "sharpness": sharp, "loss": float(loss_fn().detach())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torch-steps", type=int, default=STEPS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        jax_child()
        return
    with tempfile.TemporaryDirectory(prefix="eos-bench-") as tmp:
        env = dict(os.environ, LML_CACHE_DIR=tmp)  # empty result and compilation caches
        out = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=True
        ).stdout
    j = json.loads(out.strip().splitlines()[-1])
    print(
        f"workload: digits 1000, MLP 64-200-200-10 tanh, MSE, lr {LR}, {STEPS} GD steps, top-{K} eigenvalues "
        f"every {EIG_EVERY} steps"
    )
    print(f"jax_wall_s={j['wall']:.1f} (fresh process, empty compile cache: import + compile + run)")
    print(f"jax_run_only_s={j['again']:.1f} (same program again, compiled)")
    t = torch_reference(args.torch_steps)
    torch_wall = t["wall"] * STEPS / args.torch_steps
    note = "" if args.torch_steps == STEPS else f" (ran {args.torch_steps} steps, extrapolated linearly to {STEPS})"
    print(f"torch_wall_s={torch_wall:.1f}{note}")
    m = min(len(t["sharpness"]), len(j["sharpness"]))
    js, ts = j["sharpness"][:m], t["sharpness"][:m]
    print(
        f"sharpness at step 0 / {EIG_EVERY * (m - 1)}: jax {js[0]:.3f} / {js[-1]:.3f}, torch {ts[0]:.3f} / {ts[-1]:.3f}"
    )
    print(f"ratio={torch_wall / j['wall']:.1f}")


if __name__ == "__main__":
    main()
