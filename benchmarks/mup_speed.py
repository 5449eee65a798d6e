"""Hyperparameter transfer lab: the page's default sweeps, cold and warm.

Cold: empty result cache and empty JAX compilation cache (a throwaway cache folder), both
parametrizations of the default width x lr sweep (5 widths x 12 learning rates x 2 seeds),
then both coordinate checks. Warm: the same calls again (cells from the disk cache), and the
whole-result lookup the page does first. Prints wall time, process CPU time (user + system:
on a shared machine wall time also counts other processes) and the load average.
"""

import os
import sys
import tempfile
import time

os.environ["LML_CACHE_DIR"] = tempfile.mkdtemp(prefix="lml-mup-bench-")

import numpy as np  # noqa: E402

from engine import cache, mup  # noqa: E402


def _page_key(cfg) -> str:
    """The key under which the page (ui.run.call) keeps a whole sweep."""
    return cache.make_key("mup.lr_sweep", cfg.key() + "{}")


def timed(label: str, fn):
    t0, c0 = time.perf_counter(), os.times()
    out = fn()
    wall, c1 = time.perf_counter() - t0, os.times()
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    print(f"{label:<58s} wall {wall:7.2f} s   cpu {cpu:7.2f} s", flush=True)
    return out, wall


def main() -> None:
    import jax

    cfg = mup.Config()
    print(
        f"jax {jax.__version__}, backend {jax.default_backend()}, {len(jax.devices())} device(s), "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"default sweep: widths {[int(w) for w in cfg.widths]}, {cfg.n_lrs} lrs, {cfg.n_seeds} seeds, "
        f"{cfg.steps} {cfg.optimizer} steps of batch {cfg.batch_size}, depth {cfg.depth}; "
        f"{2 * mup.sweep_cost_flops(cfg) / 1e9:,.0f} GFLOP for SP + muP if no run diverged"
    )
    calls = []
    total_cold = 0.0
    for p in ("standard", "mup"):
        c = cfg.replace(parametrization=p)
        r, w = timed(f"cold lr_sweep {p}", lambda c=c: mup.lr_sweep(c, progress=lambda f, s: calls.append(f)))
        total_cold += w
        cache.store(_page_key(c), r)
        print(f"    best log2 lr per width: {[int(v) for v in np.log2(r.best_lr)]}, diverged cells {r.diverged.sum()}")
    print(f"{'cold: both sweeps':<58s} wall {total_cold:7.2f} s   ({len(calls)} progress reports)")
    for p in ("standard", "mup"):
        timed(f"cold coord_check {p}", lambda p=p: mup.coord_check(cfg.replace(parametrization=p)))
    warm = 0.0
    for p in ("standard", "mup"):
        _, w = timed(
            f"warm lr_sweep {p} (cells from the disk cache)", lambda p=p: mup.lr_sweep(cfg.replace(parametrization=p))
        )
        warm += w
    print(f"{'warm: both sweeps from cells':<58s} wall {warm:7.2f} s")
    _, w = timed(
        "warm page load: both whole-sweep lookups",
        lambda: [cache.lookup(_page_key(cfg.replace(parametrization=p))) for p in ("standard", "mup")],
    )
    print(f"cold/warm ratio (cells): {total_cold / max(warm, 1e-9):,.0f}x")


if __name__ == "__main__":
    sys.exit(main())
