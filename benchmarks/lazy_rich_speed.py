"""Default lazy-vs-rich phase diagram: cold (empty result cache) and warm (from cache) wall time.

Run: ``python benchmarks/lazy_rich_speed.py`` (uses a fresh temporary cache folder unless
LML_CACHE_DIR is set; add ``--no-compile-cache`` to also start from a cold JAX compile cache).
Prints one line per measurement.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

if "LML_CACHE_DIR" not in os.environ:
    os.environ["LML_CACHE_DIR"] = tempfile.mkdtemp(prefix="lml-bench-lazy-")
if "--no-compile-cache" in sys.argv:
    os.environ["LML_COMPILE_CACHE"] = "0"

import numpy as np  # noqa: E402

from engine import backend_info, lazy_rich, sweep  # noqa: E402


def main() -> None:
    info = backend_info()
    cfg = lazy_rich.Config()
    widths, alphas = lazy_rich.default_grid()
    n = len(widths) * len(alphas)
    print(f"backend {info['backend']} x{info['n_devices']} devices; grid {len(widths)} widths x {len(alphas)} alphas")
    fills = []
    t0 = time.perf_counter()

    def progress(frac, sr):
        fills.append((time.perf_counter() - t0, int(sr.done.sum())))

    sr = sweep.sweep("lazy_rich", cfg, ("width", widths), ("alpha", alphas), progress=progress)
    cold = time.perf_counter() - t0
    first = next((t for t, k in fills if k > 0), float("nan"))
    print(f"cold: {cold:.1f} s for {n} cells ({cold / n:.2f} s/cell); first cells drawn after {first:.1f} s")
    t0 = time.perf_counter()
    sweep.sweep("lazy_rich", cfg, ("width", widths), ("alpha", alphas))
    warm = time.perf_counter() - t0
    print(f"warm: {warm:.3f} s (from cache); cold/warm = {cold / warm:.0f}x")
    div = int(sr.diverged.sum())
    wc = sr.metrics["weight_change"]
    print(f"diverged cells: {div}; weight change range {np.nanmin(wc):.3g} .. {np.nanmax(wc):.3g}")


if __name__ == "__main__":
    main()
