"""Default lazy-vs-rich phase diagram (8 widths x 8 alphas): cold and warm wall time.

Run: ``python benchmarks/lazy_rich_speed.py``. Each measurement runs in a fresh process on a
fresh temporary cache folder:
1. cold: empty result cache and empty JAX compilation cache (the first diagram on a new server);
2. cold results, warm compiles: the result cache emptied, the compilation cache kept (any later
   cold diagram with the same shapes, e.g. after a code update);
3. warm: the whole diagram read back from the disk cache in a new process, as a page does.
Prints one line per measurement (seconds, and ratios to the 60 s / 1 s targets).
"""

from __future__ import annotations

import os
import time

import phases

TARGET_COLD, TARGET_WARM = 60.0, 1.0


def _child(phase: str) -> None:
    import numpy as np

    from engine import backend_info, cache, lazy_rich, sweep

    cfg = lazy_rich.diagram_base(lazy_rich.Config())
    widths, alphas = lazy_rich.default_grid()
    x, y = ("width", widths), ("alpha", alphas)
    key = cache.sweep_key("lazy_rich", cfg, x, y)
    if phase == "warm":
        t0 = time.perf_counter()
        sr = cache.lookup(key)
        dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        sweep.sweep("lazy_rich", cfg, x, y)  # cell by cell, as a diagram with one new cell would
        dt_cells = time.perf_counter() - t0
        print(
            f"warm: {dt:.3f} s whole diagram from the disk cache ({int(sr.done.sum())} cells), {dt_cells:.3f} s "
            f"cell by cell; {dt / TARGET_WARM:.2f} of the {TARGET_WARM:g} s target"
        )
        return
    info = backend_info()
    first = []
    t0 = time.perf_counter()

    def progress(frac, sr):
        if sr.done.any() and not first:
            first.append(time.perf_counter() - t0)

    sr = sweep.sweep("lazy_rich", cfg, x, y, progress=progress)
    dt = time.perf_counter() - t0
    cache.store(key, sr)
    label = "cold" if phase == "cold" else "cold results, warm compile cache"
    print(
        f"{label}: {dt:.1f} s for {sr.done.sum()} cells on {info['backend']} x{info['n_devices']} "
        f"({os.cpu_count()} cores); first cells after {first[0] if first else float('nan'):.1f} s; "
        f"{dt / TARGET_COLD:.2f} of the {TARGET_COLD:g} s target; diverged cells {int(sr.diverged.sum())}; "
        f"weight change {np.nanmin(sr.metrics['weight_change']):.3g} .. {np.nanmax(sr.metrics['weight_change']):.3g}"
    )


if __name__ == "__main__":
    phases.main(__file__, _child, "lml-bench-lazy-")
