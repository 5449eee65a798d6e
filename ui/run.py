"""Cached runs with live progress, shared across sessions, bounded by the CPU cores.

A run is a job in a process-wide pool (``st.cache_resource``): it keeps going into the cache
when its page reruns or the user leaves, and a second session asking for the same config
watches the same job's progress. At most ``LML_WORKERS`` (default: CPU cores) heavy jobs run
at once; the rest are shown as queued. Across processes, ``engine.cache.memo`` makes
identical requests compute once.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import streamlit as st

from engine import cache, labs

DEFAULT_MAX_GFLOP = float(os.environ.get("LML_MAX_GFLOP", "2000"))


class Job:
    """One computation: state in {"queued", "running", "done", "error"}, live fraction and partial."""

    def __init__(self, key: str, label: str):
        self.key, self.label = key, label
        self.state = "queued"
        self.fraction = 0.0
        self.partial: Any = None
        self.version = 0  # bumped at every progress report
        self.result: Any = None
        self.error: str | None = None
        self.submitted = time.time()
        self.started: float | None = None
        self.finished: float | None = None

    def progress(self, fraction: float, partial: Any = None) -> None:
        self.fraction = float(fraction)
        if partial is not None:
            self.partial = partial
        self.version += 1


class JobManager:
    """Process-wide job pool: deduplicates identical keys, bounds concurrent work."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lml-job")
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()

    def submit(self, key: str, fn: Callable[[Callable], Any], label: str = "") -> Job:
        with self.lock:
            job = self.jobs.get(key)
            if job is not None and job.state in ("queued", "running"):
                return job
            job = Job(key, label)
            self.jobs[key] = job
            self._gc()

        def work():
            job.state, job.started = "running", time.time()
            try:
                job.result = fn(job.progress)
                job.state = "done"
            except Exception as e:  # shown on the page, never a traceback
                job.error = f"{type(e).__name__}: {e}"
                job.state = "error"
                traceback.print_exc()
            finally:
                job.finished = time.time()

        self.pool.submit(work)
        return job

    def _gc(self) -> None:
        done = [k for k, j in self.jobs.items() if j.state in ("done", "error")]
        for k in done[: max(0, len(done) - 200)]:
            del self.jobs[k]

    def stats(self) -> dict:
        with self.lock:
            states = [j.state for j in self.jobs.values()]
        return {"running": states.count("running"), "queued": states.count("queued"), "workers": self.workers}

    def ahead_of(self, job: Job) -> int:
        with self.lock:
            return sum(1 for j in self.jobs.values() if j.state == "queued" and j.submitted < job.submitted)


_draw_ids = itertools.count()


def chart(container, fig, key: str | None = None, **kw):
    """Draw a plotly figure into a placeholder. Without ``key`` each call gets a fresh id, so live
    redraws of equal-looking figures never collide; pass a stable key for a final, clickable chart
    (``on_select="rerun"``) and read its selection from the return value."""
    return container.plotly_chart(fig, key=key or f"lml-live-{next(_draw_ids)}", width="stretch", **kw)


@st.cache_resource
def manager() -> JobManager:
    return JobManager(int(os.environ.get("LML_WORKERS", os.cpu_count() or 1)))


def too_expensive(cfg) -> str | None:
    """A message if cfg's estimated cost is above the app's cap (``LML_MAX_GFLOP``), else None."""
    gflop = cfg.cost_flops() / 1e9
    if gflop > DEFAULT_MAX_GFLOP:
        return (
            f"This setting needs about {gflop:,.0f} GFLOP, above this server's limit of "
            f"{DEFAULT_MAX_GFLOP:,.0f} GFLOP per run. Lower the width, steps or data size "
            "(or run it from the command line: `python -m engine sweep ...`)."
        )
    return None


def live(
    key: str,
    compute: Callable[[Callable], Any],
    draw: Callable[[Any], None] | None = None,
    *,
    label: str = "Computing",
    poll: float = 0.3,
) -> Any:
    """Run ``compute(progress)`` once through the cache under ``key`` and draw it live.

    draw(partial_or_final) is called with each new partial result and the final one. Returns
    the result, or None (with a message on the page) on error.
    """
    hit = cache.lookup(key)
    if hit is not None:
        if draw:
            draw(hit)
        return hit
    mgr = manager()
    job = mgr.submit(key, lambda cb: cache.memo(key, lambda: compute(cb)), label=label)
    bar = st.progress(0.0, text=f"{label}: starting...")
    seen = -1
    while job.state in ("queued", "running"):
        if job.state == "queued":
            bar.progress(
                0.0,
                text=f"{label}: queued ({mgr.ahead_of(job)} ahead, "
                f"{mgr.workers} computation(s) at a time on this server)",
            )
        else:
            if job.version != seen and job.partial is not None and draw:
                seen = job.version
                draw(job.partial)
            el = time.time() - (job.started or time.time())
            bar.progress(min(job.fraction, 1.0), text=f"{label}: {100 * job.fraction:.0f}% ({el:.0f} s)")
        time.sleep(poll)
    bar.empty()
    if job.state == "error":
        st.error(f"{label} failed: {job.error}")
        return None
    if draw and not (job.result is job.partial and seen == job.version):  # final not yet drawn
        draw(job.result)
    return job.result


def run_lab(cfg, draw: Callable[[Any], None] | None = None, *, label: str = "Training") -> Any:
    """``engine.<lab>.run(cfg)`` cached and live; refuses configs above the cost cap."""
    msg = too_expensive(cfg)
    if msg:
        st.error(msg)
        return None
    mod = labs.of_config(cfg)
    return live(cache.key_for(cfg), lambda cb: mod.run(cfg, progress=cb), draw, label=label)


def call(
    name: str,
    cfg,
    fn: Callable,
    draw: Callable[[Any], None] | None = None,
    *,
    label: str = "Computing",
    extra: dict | None = None,
) -> Any:
    """A lab's other entry point ``fn(cfg, progress=cb)`` (e.g. a sweep), cached under ``name``."""
    msg = too_expensive(cfg)
    if msg:
        st.error(msg)
        return None
    return live(cache.call_key(name, cfg, extra), lambda cb: fn(cfg, progress=cb), draw, label=label)


def sweep(
    lab: str, base_cfg, x: tuple, y: tuple, draw: Callable[[Any], None] | None = None, *, label: str = "Phase diagram"
) -> Any:
    """``engine.sweep.sweep`` live: cells fill as blocks finish; each cell cached on its own."""
    from engine import sweep as sw

    xs, ys = list(x[1]), list(y[1])
    n = len(xs) * len(ys)
    gflop = base_cfg.cost_flops() * n / 1e9
    if gflop > DEFAULT_MAX_GFLOP * 4:
        st.error(
            f"This phase diagram needs about {gflop:,.0f} GFLOP, above this server's limit. "
            "Use fewer cells or a smaller network, or run it from the command line."
        )
        return None
    key = cache.sweep_key(lab, base_cfg, (x[0], xs), (y[0], ys))
    return live(key, lambda cb: sw.sweep(lab, base_cfg, (x[0], xs), (y[0], ys), progress=cb), draw, label=label)
