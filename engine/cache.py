"""Disk cache of experiment results, shared by the app, the command line and scripts.

Key = sha256 of (lab name, canonical JSON of the Config with sorted keys, engine version,
JAX backend). The engine version is a hash of the engine's own source files, so a code
change never serves a stale result. Identical concurrent requests compute once, across
threads and processes: the first caller takes a lock entry (kept alive by a heartbeat,
so a lock whose holder died expires within ``LOCK_TTL`` seconds), the others wait for the
result. Bounded size with least-recently-used eviction. An entry that cannot be read is
dropped and recomputed, never raised.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import diskcache

from engine.backend import backend_name, cache_dir

LOCK_TTL = 30.0  # seconds a lock survives without a heartbeat from its holder
_HEARTBEAT = 5.0
_caches: dict[str, diskcache.Cache] = {}
_guard = threading.Lock()


def engine_version() -> str:
    """Hash of every engine source file (changes whenever the engine's code changes)."""
    h = hashlib.sha256()
    root = pathlib.Path(__file__).parent
    for p in sorted(root.glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


_VERSION = engine_version()


def get_cache() -> diskcache.Cache:
    """The process-wide diskcache at ``$LML_CACHE_DIR/results`` (size cap ``$LML_CACHE_GB``, default 2)."""
    path = os.path.join(cache_dir(), "results")
    with _guard:
        if path not in _caches:
            limit = int(float(os.environ.get("LML_CACHE_GB", "2")) * 2**30)
            _caches[path] = diskcache.Cache(path, size_limit=limit, eviction_policy="least-recently-used", timeout=60)
        return _caches[path]


def make_key(lab: str, config_json: str) -> str:
    raw = f"{lab}|{config_json}|{_VERSION}|{backend_name()}"
    return hashlib.sha256(raw.encode()).hexdigest()


def key_for(cfg) -> str:
    """Cache key of a lab Config (its LAB name and canonical JSON)."""
    return make_key(cfg.LAB, cfg.key())


def call_key(name: str, cfg, extra: dict | None = None) -> str:
    """Key of a lab's other entry point ``name`` (e.g. ``"lr_sweep"``) called on ``cfg``."""
    return make_key(f"{cfg.LAB}.{name}", cfg.key() + json.dumps(extra or {}, sort_keys=True, default=str))


def sweep_key(lab: str, base_cfg, x: tuple, y: tuple) -> str:
    """Key of a whole phase diagram (its cells are also cached one by one under ``key_for``).

    The base config's own values of the two axis fields do not matter (every cell replaces
    them), so they are left out: the same diagram has one key whatever the single-run setting
    it was opened from.
    """
    base = {k: v for k, v in base_cfg.to_dict().items() if k not in (x[0], y[0])}
    xs, ys = [_plain(v) for v in x[1]], [_plain(v) for v in y[1]]
    return make_key(f"{lab}.sweep", json.dumps([base, x[0], xs, y[0], ys], sort_keys=True))


def _plain(v):
    return v.item() if hasattr(v, "item") else v


_MISSING = object()


def lookup(key: str) -> Any:
    """The cached value, or ``None``; an unreadable entry is deleted (and so recomputed)."""
    c = get_cache()
    try:
        v = c.get(key, default=_MISSING, retry=True)
    except Exception:  # corrupt pickle, truncated file, incompatible class: drop it
        with contextlib.suppress(Exception):
            c.delete(key, retry=True)
        return None
    return None if v is _MISSING else v


def store(key: str, value: Any) -> None:
    get_cache().set(key, value, retry=True)


@contextlib.contextmanager
def _held_lock(c: diskcache.Cache, lock_key: str, token: str):
    stop = threading.Event()

    def beat():
        while not stop.wait(_HEARTBEAT):
            if c.get(lock_key, retry=True) == token:
                c.touch(lock_key, expire=LOCK_TTL, retry=True)

    t = threading.Thread(target=beat, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        if c.get(lock_key, retry=True) == token:
            c.delete(lock_key, retry=True)


def memo(key: str, compute: Callable[[], Any], *, poll: float = 0.1, on_wait: Callable[[], None] | None = None) -> Any:
    """Return the cached value for ``key``, computing it once (across processes) if absent."""
    c = get_cache()
    lock_key = "lock:" + key
    token = f"{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex}"
    while True:
        v = lookup(key)
        if v is not None:
            return v
        if c.add(lock_key, token, expire=LOCK_TTL, retry=True):
            with _held_lock(c, lock_key, token):
                v = lookup(key)  # someone may have finished between our lookup and the lock
                if v is not None:
                    return v
                t0 = time.time()
                v = compute()
                store(key, v)
                _log_compute(key, time.time() - t0)
                return v
        if on_wait is not None:
            on_wait()
        time.sleep(poll)


def _log_compute(key: str, seconds: float) -> None:
    """Append "key seconds pid" to ``$LML_LOG_COMPUTE`` (operators and the load test count computations)."""
    path = os.environ.get("LML_LOG_COMPUTE")
    if path:
        with open(path, "a") as f:
            f.write(f"{key} {seconds:.3f} {os.getpid()}\n")


def is_computing(key: str) -> bool:
    """True while some process holds the computation lock for ``key``."""
    return get_cache().get("lock:" + key, retry=True) is not None


def cached_run(cfg, run: Callable, progress: Callable | None = None) -> Any:
    """``run(cfg, progress)`` through the cache under ``cfg``'s key."""
    return memo(key_for(cfg), lambda: run(cfg, progress) if progress else run(cfg))


def stats() -> dict:
    """Number of entries and bytes on disk (for the home page and ``make warm``)."""
    c = get_cache()
    return {"entries": len(c), "bytes": c.volume(), "path": c.directory}


def clear() -> None:
    """Remove every cached result (an operator action)."""
    get_cache().clear(retry=True)
