"""Speed of the deep linear networks lab's default run: first compile, cold (compile cached), warm.

"Cold" is a fresh Python process whose persistent JAX compilation cache already holds the
programs (the app's situation after its first visitor, or after ``python -m engine warm``);
"warm" is a second run in the same process. Targets: cold < 2 s, warm < 0.3 s on a 2-core
CPU. The process start and ``import engine`` (jax) are printed apart: the app pays them once.
Also timed: the balancedness comparison and both default phase diagrams (no result cache).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import engine
from engine import deep_linear as dl, sweep
import jax
jax.numpy.zeros(1).block_until_ready()
out = {"import_s": time.perf_counter() - t0}
cfg = dl.Config()
t = time.perf_counter(); r = dl.run(cfg); out["cold_s"] = time.perf_counter() - t
warm = []
for _ in range(5):
    t = time.perf_counter(); dl.run(cfg); warm.append(time.perf_counter() - t)
out["warm_s"] = min(warm)
out["steps"] = cfg.steps
out["max_dev"] = float(abs(r.mode_strengths - r.theory).max(axis=0).__truediv__(r.singular_values).max())
if "--extras" in sys.argv:
    t = time.perf_counter(); dl.balance_vs_lr(cfg); out["balance_s"] = time.perf_counter() - t
    for name in ("init scale x depth", "init scale x mode strength"):
        base, x, y = dl.diagram(cfg, name)
        t = time.perf_counter(); sweep.sweep(dl, base, x, y, use_cache=False)
        out[name] = (time.perf_counter() - t, len(x[1]) * len(y[1]), base.steps)
print("RESULT" + json.dumps(out))
"""


def child(env: dict, extras: bool = False) -> dict:
    args = [sys.executable, "-c", CHILD] + (["--extras"] if extras else [])
    p = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lml-bench-") as d:
        env = dict(os.environ, LML_CACHE_DIR=d)
        t = time.perf_counter()
        first = child(env, extras=True)  # empty compile cache: compiles everything
        first_wall = time.perf_counter() - t
        again = child(env, extras=True)  # same cache: the programs load from disk
    print(f"cpus={os.cpu_count()} load average={os.getloadavg()[0]:.1f}")
    print(
        f"default run ({first['steps']} GD steps, 6 modes, depth 2, width 16); theory within "
        f"{100 * first['max_dev']:.1f}% of s"
    )
    print(f"import engine + jax + first op: {again['import_s']:.2f} s (paid once per server process)")
    print(f"first ever (compiling): {first['cold_s']:.2f} s; process total {first_wall:.1f} s")
    print(f"cold (compile cached): {again['cold_s']:.2f} s (target < 2 s)")
    print(f"warm: {again['warm_s'] * 1000:.0f} ms (target < 300 ms)")
    print(f"balancedness at lr, lr/2, lr/4: {again['balance_s']:.2f} s (compile cached)")
    for name in ("init scale x depth", "init scale x mode strength"):
        s, cells, steps = again[name]
        print(
            f"phase diagram {name}: {cells} cells x {steps} steps in {s:.1f} s (compile cached; "
            f"first ever {first[name][0]:.1f} s)"
        )


if __name__ == "__main__":
    main()
