"""Speed of the edge-of-stability page's default computations (2-core CPU targets in the issue).

Each line is measured in a fresh process, so "cold" means what a new server sees:
- default single run, first ever (empty compilation and result caches: import + compile + run),
- default single run, cold with the compilation cache filled (empty result cache; target < 30 s),
  and the time to its first live progress report (the charts start filling then),
- default single run, warm (result cache hit, as the page's second visitor; target < 1 s),
- gradient flow and central flow overlays of the default run (compilation cached),
- the default phase diagram (lr x batch size, 60 cells), cold with an empty compilation cache
  (target < 90 s), and the time to its first filled block.
Run: ``.venv/bin/python benchmarks/eos_speed.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time


def child(what: str) -> None:
    t0 = time.perf_counter()
    from engine import cache, eos, sweep

    cfg = eos.Config()
    first: list[float] = []

    def mark(fraction, partial):
        if not first and fraction > 0:
            first.append(time.perf_counter() - t0)

    out: dict = {}
    if what == "run":
        r = cache.memo(cache.key_for(cfg), lambda: eos.run(cfg, progress=mark))
        out = {"wall": time.perf_counter() - t0, "first": first[0] if first else None}
        out["late_ratio"] = eos.late_mean(r.sharpness) * cfg.lr / 2
        t1 = time.perf_counter()
        cache.memo(cache.key_for(cfg), lambda: eos.run(cfg))
        out["warm_same_process"] = time.perf_counter() - t1
    elif what == "warm":
        r = cache.memo(cache.key_for(cfg), lambda: eos.run(cfg))
        out = {"wall": time.perf_counter() - t0}
    elif what in ("gradient_flow", "central_flow"):
        getattr(eos, what)(cfg)
        out = {"wall": time.perf_counter() - t0}
    elif what == "diagram":
        d = eos.DIAGRAMS["lr x batch size"]
        base = cfg.replace(**d["base"])
        sweep.sweep("eos", base, d["x"], d["y"], progress=mark)
        out = {"wall": time.perf_counter() - t0, "first": first[0] if first else None}
    print(json.dumps(out))


def measure(what: str, cache_dir: str) -> dict:
    env = dict(os.environ, LML_CACHE_DIR=cache_dir)
    res = subprocess.run([sys.executable, __file__, what], env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1:
        child(sys.argv[1])
        return
    with tempfile.TemporaryDirectory(prefix="eos-speed-") as a, tempfile.TemporaryDirectory(prefix="eos-d-") as b:
        first = measure("run", a)
        print(f"default_run_first_ever_s={first['wall']:.1f} (import + compile + run, empty caches)")
        # drop the results but keep the compilation cache
        import shutil

        shutil.rmtree(os.path.join(a, "results"), ignore_errors=True)
        cold = measure("run", a)
        print(
            f"default_run_cold_s={cold['wall']:.1f} (compilation cached; first live chart at {cold['first']:.1f} s; "
            f"late sharpness = {cold['late_ratio']:.2f} x 2/lr)"
        )
        warm = measure("warm", a)
        print(f"default_run_warm_s={warm['wall']:.2f} (new process, result cache hit, incl. imports)")
        print(f"default_run_warm_in_server_s={cold['warm_same_process']:.3f} (cache hit in a running server)")
        for what in ("gradient_flow", "central_flow"):
            measure(what, a)  # fill the compilation cache
            print(f"{what}_s={measure(what, a)['wall']:.1f} (compilation cached)")
        d = measure("diagram", b)
        print(f"phase_diagram_cold_s={d['wall']:.1f} (60 cells, empty caches; first block at {d['first']:.1f} s)")


if __name__ == "__main__":
    main()
