"""Default representation-alignment zoo: cold and warm wall time, and the cost of a new control value.

Run: ``python benchmarks/alignment_speed.py``. Each measurement runs in a fresh process on a fresh
temporary cache folder:
1. cold: empty result cache and empty JAX compilation cache (the first visit on a new server):
   train the 21-model default zoo, compare every pair with three metrics and their nulls;
2. cold results, warm compiles: the result cache emptied, the compilation cache kept;
3. warm: the whole Result read back from the disk cache in a new process, as a page does; then
   a new k (mutual k-NN only is recomputed) and a new layer (all metrics, no training).
Prints one line per measurement (seconds, and ratios to the 90 s / 1 s targets).
"""

from __future__ import annotations

import os
import time

import phases

TARGET_COLD, TARGET_WARM = 90.0, 1.0


def _child(phase: str) -> None:
    import numpy as np

    from engine import alignment, backend_info, cache

    cfg = alignment.Config()
    key = cache.key_for(cfg)
    if phase == "warm":
        if cache.lookup(key) is None:  # an engine source file changed since the cold phase (new cache version)
            print("(engine sources changed during the benchmark: recomputing before the warm read)")
            cache.cached_run(cfg, alignment.run)
        t0 = time.perf_counter()
        r = cache.lookup(key)
        dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        cache.cached_run(cfg.replace(k=20), alignment.run)
        dt_k = time.perf_counter() - t0
        t0 = time.perf_counter()
        cache.cached_run(cfg.replace(layer="logits"), alignment.run)
        dt_layer = time.perf_counter() - t0
        print(
            f"warm: {dt:.3f} s for the whole Result from the disk cache ({len(r.models)} models); "
            f"{dt / TARGET_WARM:.2f} of the {TARGET_WARM:g} s target. New k: {dt_k:.1f} s; "
            f"new layer: {dt_layer:.1f} s (the trained zoo is reused)"
        )
        return
    info = backend_info()
    marks = {}
    t0 = time.perf_counter()

    def progress(frac, partial):
        if partial is not None and partial.done and "first" not in marks:
            marks["first"] = time.perf_counter() - t0
        if frac >= 0.7 and "trained" not in marks:
            marks["trained"] = time.perf_counter() - t0

    r = cache.cached_run(cfg, alignment.run, progress)
    dt = time.perf_counter() - t0
    label = "cold" if phase == "cold" else "cold results, warm compile cache"
    print(
        f"{label}: {dt:.1f} s for {len(r.models)} models on {info['backend']} x{info['n_devices']} "
        f"({os.cpu_count()} cores); first models shown after {marks.get('first', float('nan')):.1f} s, zoo trained "
        f"after {marks.get('trained', float('nan')):.1f} s; {dt / TARGET_COLD:.2f} of the {TARGET_COLD:g} s target; "
        f"Spearman rho (CKA to the best model) {r.rho[0, 1]:.2f} [{r.rho_ci[0, 1, 0]:.2f}, {r.rho_ci[0, 1, 1]:.2f}]; "
        f"accuracy {np.nanmin(r.accuracy[r.trained]):.2f} .. {np.nanmax(r.accuracy):.2f}"
    )


if __name__ == "__main__":
    phases.main(__file__, _child, "lml-bench-alignment-")
