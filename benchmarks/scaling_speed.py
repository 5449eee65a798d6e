"""Default scaling-laws sweep: cold and warm wall time, and the page's theory panels.

Run: ``python benchmarks/scaling_speed.py`` (a fresh temporary cache folder, so the JAX
compile cache is cold too, unless LML_CACHE_DIR is set). Prints one line per measurement:
- cold: the whole default sweep (6 widths x 6 dataset sizes, 400 steps, fits included) with
  empty result and compile caches, the time to the first live update and the update count;
- warm: the same Config as the app reads it (one cache lookup), and a re-run of ``run``
  (every cell from the cache, fits redone);
- the random-features panel and the eigenlearning panel (first call, then a new ridge).
"""

from __future__ import annotations

import os
import tempfile
import time

if "LML_CACHE_DIR" not in os.environ:
    os.environ["LML_CACHE_DIR"] = tempfile.mkdtemp(prefix="lml-bench-scaling-")

from engine import backend_info, cache, eigenlearning, rf, scaling  # noqa: E402


def main() -> None:
    info = backend_info()
    cfg = scaling.Config()
    n = len(cfg.widths) * len(cfg.sizes)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"backend {info['backend']} x{info['n_devices']} devices, {os.cpu_count()} cores, load {load:.1f}; "
        f"default sweep {len(cfg.widths)} widths x {len(cfg.sizes)} sizes = {n} runs of {cfg.steps} steps, "
        f"{cfg.cost_flops() / 1e9:.0f} GFLOP computed"
    )
    updates = []
    t0 = time.perf_counter()
    res = cache.memo(
        cache.key_for(cfg), lambda: scaling.run(cfg, lambda f, r: updates.append(time.perf_counter() - t0))
    )
    cold = time.perf_counter() - t0
    print(
        f"cold: {cold:.1f} s (empty result and compile caches); first live update after {updates[1]:.1f} s, "
        f"{len(updates)} updates"
    )
    t0 = time.perf_counter()
    cache.memo(cache.key_for(cfg), lambda: None)
    warm = time.perf_counter() - t0
    print(f"warm (app path, one cache lookup): {1e3 * warm:.1f} ms; cold/warm = {cold / warm:.0f}x")
    t0 = time.perf_counter()
    scaling.run(cfg)
    print(f"warm run() (36 cells from the cache, fits redone): {time.perf_counter() - t0:.2f} s")
    a, b = res.fit[2], res.fit[4]
    (a_lo, a_hi), (b_lo, b_hi) = res.fit_ci[2], res.fit_ci[4]
    print(
        f"fit: a = {a:.2f} [{a_lo:.2f}, {a_hi:.2f}], b = {b:.2f} [{b_lo:.2f}, {b_hi:.2f}]; "
        f"bottleneck prediction b r = {cfg.spectrum_exponent * cfg.target_exponent:.2f}"
    )
    t0 = time.perf_counter()
    rf.solvable(rf.TheoryConfig())
    print(f"random-features panel (simulation + theory + fits): {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    eigenlearning.digits_curves(eigenlearning.EigenConfig())
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    eigenlearning.digits_curves(eigenlearning.EigenConfig(ridge=0.1))
    print(
        f"eigenlearning panel: first {first:.2f} s (kernel spectrum of 1,797 digits), "
        f"new ridge {time.perf_counter() - t0:.2f} s"
    )


if __name__ == "__main__":
    main()
