"""Command line for researchers and operators; fills the same cache the app reads.

    python -m engine info
    python -m engine run LAB [--preset NAME] [--set FIELD=VALUE ...]
    python -m engine sweep LAB --x FIELD=v1,v2,... --y FIELD=v1,v2,... [--set FIELD=VALUE ...]
                                [--csv FILE] [--json FILE] [--distributed]
    python -m engine warm [--lab NAME ...]

``sweep`` runs a phase diagram on every device JAX sees (cells sharded over local devices; with
``--distributed`` it first calls ``jax.distributed.initialize()``, configured by the usual
environment variables, so each host of a multi-host job computes its own share of the rows).
``warm`` computes every preset, every default phase diagram (a lab's ``DIAGRAMS``) and every extra
entry point the pages call (a lab's ``CALLS``) into the cache, so the first student sees results at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from engine import cache, labs, sweep
from engine.config import ConfigError, parse_value


def _bar(prefix: str):
    t0 = time.time()

    def show(fraction: float, *_):
        n = int(30 * fraction)
        sys.stderr.write(f"\r{prefix} [{'#' * n}{'.' * (30 - n)}] {100 * fraction:5.1f}% {time.time() - t0:6.1f} s")
        sys.stderr.flush()
        if fraction >= 1.0:
            sys.stderr.write("\n")

    return show


def _parse_sets(cls, items: list[str]) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected FIELD=VALUE")
        k, v = item.split("=", 1)
        out[k] = parse_value(cls, k, v)
    return out


def _parse_axis(cls, text: str) -> tuple[str, list]:
    if "=" not in text:
        raise ConfigError(f"{text!r}: expected FIELD=v1,v2,...")
    k, vs = text.split("=", 1)
    if cls.fields_meta().get(k, {}).get("type") is tuple:
        raise ConfigError(f"{k} is a list field and cannot be a sweep axis")
    values = [parse_value(cls, k, v) for v in vs.split(",") if v.strip()]
    if not values:
        raise ConfigError(f"{k}: give at least one value")
    return k, values


def _base_config(mod, preset: str | None, sets: list[str]):
    over = {}
    if preset:
        presets = getattr(mod, "PRESETS", {})
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r}; presets are: {', '.join(presets) or 'none'}")
        over.update(presets[preset])
    over.update(_parse_sets(mod.Config, sets))
    return mod.Config.from_dict(over)


def cmd_info(_args) -> int:
    from engine import backend

    print(json.dumps({**backend.info(), "labs": labs.available(), "cache": cache.stats()}, indent=1))
    return 0


def cmd_run(args) -> int:
    mod = labs.get(args.lab)
    cfg = _base_config(mod, args.preset, args.set)
    res = cache.memo(cache.key_for(cfg), lambda: mod.run(cfg, progress=_bar(args.lab)))
    print(json.dumps({"config": cfg.to_dict(), "summary": mod.summarize(res)}, indent=1, default=float))
    return 0


def _sweep_rows_for_this_host(xs: list) -> list:
    import jax

    n, i = jax.process_count(), jax.process_index()
    return xs[i::n]


def cmd_sweep(args) -> int:
    mod = labs.get(args.lab)
    if args.distributed:
        import jax

        jax.distributed.initialize()
    base = _base_config(mod, args.preset, args.set)
    x, y = _parse_axis(mod.Config, args.x), _parse_axis(mod.Config, args.y)
    xs = _sweep_rows_for_this_host(x[1]) if args.distributed else x[1]
    sr = sweep.sweep(args.lab, base, (x[0], xs), y, progress=_bar(f"{args.lab} {len(xs)}x{len(y[1])}"))
    if not args.distributed:
        cache.store(cache.sweep_key(args.lab, base, x, y), sr)
    rows = []
    for i, xv in enumerate(sr.x_values):
        for j, yv in enumerate(sr.y_values):
            row = {sr.x_field: _py(xv), sr.y_field: _py(yv), "diverged": bool(sr.diverged[i, j])}
            row.update({k: _py(v[i, j]) for k, v in sr.metrics.items()})
            rows.append(row)
    if args.csv:
        cols = list(rows[0])
        with open(args.csv, "w") as f:
            f.write(",".join(cols) + "\n")
            for r in rows:
                f.write(",".join("" if r[c] is None else str(r[c]) for c in cols) + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"lab": args.lab, "base_config": base.to_dict(), "x": sr.x_field, "y": sr.y_field, "cells": rows},
                f,
                indent=1,
            )
    n_div = int(sr.diverged.sum())
    print(f"{args.lab}: {sr.diverged.size} cells ({n_div} diverged) in the cache at {cache.stats()['path']}")
    return 0


def _py(v):
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and not np.isfinite(v) else v


def warm_lab(name: str, log=print) -> list[dict]:
    """Compute a lab's presets, default diagrams and page entry points into the cache."""
    mod = labs.get(name)
    done = []
    presets = {"defaults": {}, **getattr(mod, "PRESETS", {})}
    for pname, over in presets.items():
        cfg = mod.Config.from_dict(over)
        t = time.time()
        hit = cache.lookup(cache.key_for(cfg)) is not None
        cache.memo(cache.key_for(cfg), lambda cfg=cfg, pname=pname: mod.run(cfg, progress=_bar(f"{name}/{pname}")))
        for call in getattr(mod, "CALLS", ()):
            fn = getattr(mod, call)
            cache.memo(
                cache.call_key(call, cfg),
                lambda fn=fn, cfg=cfg, label=f"{name}/{pname}/{call}": fn(cfg, progress=_bar(label)),
            )
        done.append({"lab": name, "item": f"preset {pname}", "seconds": time.time() - t, "cached": hit})
        log(f"  {name}: preset {pname!r} {'(already cached)' if hit else ''} {time.time() - t:.1f} s")
    for dname, d in getattr(mod, "DIAGRAMS", {}).items():
        base = mod.Config.from_dict(d.get("base", {}))
        key = cache.sweep_key(name, base, d["x"], d["y"])
        t = time.time()
        hit = cache.lookup(key) is not None
        cache.memo(
            key,
            lambda base=base, d=d, dname=dname: sweep.sweep(
                name, base, d["x"], d["y"], progress=_bar(f"{name}/{dname}")
            ),
        )
        done.append({"lab": name, "item": f"diagram {dname}", "seconds": time.time() - t, "cached": hit})
        log(f"  {name}: diagram {dname!r} {'(already cached)' if hit else ''} {time.time() - t:.1f} s")
    return done


def cmd_warm(args) -> int:
    names = args.lab or labs.available()
    t0 = time.time()
    before = cache.stats()
    items = []
    for name in names:
        print(f"warming {name}")
        items += warm_lab(name)
    after = cache.stats()
    new = sum(1 for i in items if not i["cached"])
    print(
        f"warm: {len(items)} items ({new} computed, {len(items) - new} already cached) in {time.time() - t0:.1f} s; "
        f"cache {after['entries']} entries, {after['bytes'] / 2**20:.1f} MiB "
        f"(+{(after['bytes'] - before['bytes']) / 2**20:.1f} MiB) at {after['path']}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m engine", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info", help="backend, devices, labs, cache").set_defaults(fn=cmd_info)
    r = sub.add_parser("run", help="one cached run")
    r.add_argument("lab")
    r.add_argument("--preset")
    r.add_argument("--set", action="append", metavar="FIELD=VALUE")
    r.set_defaults(fn=cmd_run)
    s = sub.add_parser("sweep", help="a phase diagram into the cache")
    s.add_argument("lab")
    s.add_argument("--x", required=True, metavar="FIELD=v1,v2,...")
    s.add_argument("--y", required=True, metavar="FIELD=v1,v2,...")
    s.add_argument("--set", action="append", metavar="FIELD=VALUE")
    s.add_argument("--preset")
    s.add_argument("--csv")
    s.add_argument("--json")
    s.add_argument("--distributed", action="store_true", help="multi-host: jax.distributed.initialize() first")
    s.set_defaults(fn=cmd_sweep)
    w = sub.add_parser("warm", help="compute every preset and default diagram into the cache")
    w.add_argument("--lab", action="append")
    w.set_defaults(fn=cmd_warm)
    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
