"""Grid sweeps: the one contract behind every lab's phase diagram.

``sweep(lab, base_cfg, x=(field, values), y=(field, values))`` returns a :class:`SweepResult`
with grid axes first. Each cell is the Config ``base_cfg.replace(x_field=xv, y_field=yv)``,
cached under its own key, so a diagram fills live, a clicked cell opens instantly in the
single-run view and overlapping diagrams reuse cells.

Missing cells are grouped by their static fields (those that change array shapes: width,
depth, n, batch size ...). Within a group the traced fields (lr, init scale, alpha, seed ...)
are batched into one compiled program through the lab's ``batched`` function, spread over
all ``jax.local_devices()`` with ``shard_map``; inside a device the cells run as ``lax.map``
on CPU (measured faster than vmap on these CPUs) and ``vmap`` on accelerators. Labs without
``batched`` run cell by cell. ``progress(fraction, partial)`` is called after every block.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from engine import cache, labs


class SweepResult(NamedTuple):
    """x_field, y_field: names; x_values (nx,), y_values (ny,); metrics: name -> (nx, ny)
    float arrays (mean over seeds of the runs that did not diverge; NaN where not computed or
    diverged); diverged (nx, ny) bool (every seed diverged); done (nx, ny) bool; diverged_step
    (nx, ny) int (-1 if none; first seed's); spread: name -> (nx, ny) standard deviation over
    seeds (zeros for one seed); seeds (ns,) the seeds averaged (empty: the base config's seed)."""

    x_field: str
    x_values: np.ndarray
    y_field: str
    y_values: np.ndarray
    metrics: dict
    diverged: np.ndarray
    done: np.ndarray
    diverged_step: np.ndarray
    spread: dict | None = None
    seeds: np.ndarray | None = None


def traced_fields(cfg) -> list[str]:
    return [n for n, m in cfg.fields_meta().items() if m.get("traced")]


def grid_configs(base_cfg, x, y) -> list[list]:
    """cfgs[i][j] = base.replace(x=x_i, y=y_j); ConfigError for any invalid value."""
    (xf, xs), (yf, ys) = x, y
    return [[base_cfg.replace(**{xf: xv, yf: yv}) for yv in ys] for xv in xs]


def _static_key(cfg, traced: list[str]) -> str:
    d = cfg.to_dict()
    for f in traced:
        d.pop(f, None)
    return repr(sorted(d.items()))


def default_strategy() -> str:
    import jax

    return "map" if jax.default_backend() == "cpu" else "vmap"


_COMPILED: dict = {}


def _compiled(lab_mod, cfg, traced: list[str], inner: str, n_dev: int, per_dev: int):
    """jit(shard_map over devices of lax.map / vmap over cells) for one static group."""
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    k = (lab_mod.__name__, _static_key(cfg, traced), inner, n_dev, per_dev)
    if k in _COMPILED:
        return _COMPILED[k]
    f = lab_mod.batched(cfg)
    batch = (lambda h: jax.lax.map(f, h)) if inner == "map" else jax.vmap(f)
    if n_dev > 1:
        mesh = jax.make_mesh((n_dev,), ("d",), devices=jax.local_devices()[:n_dev])
        fn = jax.jit(jax.shard_map(batch, mesh=mesh, in_specs=P("d"), out_specs=P("d"), check_vma=False))
        sharding = NamedSharding(mesh, P("d"))
    else:
        fn, sharding = jax.jit(batch), None
    _COMPILED[k] = (fn, sharding)
    return fn, sharding


def _hyper_arrays(cfgs: list, traced: list[str]) -> dict:
    out = {}
    for f in traced:
        vals = [getattr(c, f) for c in cfgs]
        out[f] = np.asarray(
            vals, np.int32 if isinstance(vals[0], int) and not isinstance(vals[0], bool) else np.float32
        )
    return out


def run_cells(
    lab_mod,
    cfgs: list,
    *,
    strategy: str | None = None,
    devices: int | None = None,
    block: int | None = None,
    on_block: Callable[[list, list], None] | None = None,
) -> list:
    """Compute Results for cfgs (no cache), batched by static group; calls on_block(cfgs, results)."""
    import jax

    strategy = strategy or default_strategy()
    if strategy == "loop" or not hasattr(lab_mod, "batched"):
        out = []
        for c in cfgs:
            r = lab_mod.run(c)
            out.append(r)
            if on_block:
                on_block([c], [r])
        return out
    traced = traced_fields(cfgs[0])
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(cfgs):
        groups.setdefault(_static_key(c, traced), []).append(i)
    n_dev = devices or (len(jax.local_devices()) if strategy in ("map", "vmap") else 1)
    results: list = [None] * len(cfgs)
    for idx in groups.values():
        nd = max(1, min(n_dev, len(idx)))
        per_dev = block or max(1, math.ceil(len(idx) / nd / min(4, math.ceil(len(idx) / nd))))
        fn, sharding = _compiled(lab_mod, cfgs[idx[0]], traced, strategy, nd, per_dev)
        size = nd * per_dev
        for s in range(0, len(idx), size):
            part = idx[s : s + size]
            padded = part + [part[-1]] * (size - len(part))
            h = _hyper_arrays([cfgs[i] for i in padded], traced)
            if sharding is not None:
                h = jax.device_put(h, sharding)
            out = jax.tree.map(np.asarray, fn(h))
            block_cfgs, block_res = [], []
            for j, i in enumerate(part):
                cell = jax.tree.map(lambda a, j=j: a[j], out)
                results[i] = lab_mod.from_arrays(cfgs[i], cell)
                block_cfgs.append(cfgs[i])
                block_res.append(results[i])
            if on_block:
                on_block(block_cfgs, block_res)
    return results


def sweep(
    lab,
    base_cfg,
    x: tuple,
    y: tuple,
    progress: Callable | None = None,
    *,
    seeds: Sequence[int] | None = None,
    strategy: str | None = None,
    use_cache: bool = True,
) -> SweepResult:
    """Phase diagram over two Config fields; see the module docstring.

    lab: a lab name or module; x, y: (field, values); seeds: run every cell for each seed and
    report the mean (``metrics``) and standard deviation (``spread``) over seeds. strategy:
    "map" | "vmap" | "loop" (default: map on CPU, vmap on accelerators).
    progress(fraction, partial SweepResult) after every block of cells.
    """
    lab_mod = labs.get(lab) if isinstance(lab, str) else lab
    (xf, xs), (yf, ys) = x, y
    xs, ys = list(xs), list(ys)
    seed_list = list(seeds) if seeds else [None]
    grid = grid_configs(base_cfg, (xf, xs), (yf, ys))
    nx, ny, ns = len(xs), len(ys), len(seed_list)
    cells = {}
    for i in range(nx):
        for j in range(ny):
            for k, sd in enumerate(seed_list):
                cells[(i, j, k)] = grid[i][j] if sd is None else grid[i][j].replace(seed=int(sd))
    pos = {id(c): ijk for ijk, c in cells.items()}
    values: dict[str, np.ndarray] = {}
    div = np.zeros((nx, ny, ns), bool)
    done = np.zeros((nx, ny, ns), bool)
    div_step = np.full((nx, ny, ns), -1, int)

    def put(c, r):
        ijk = pos[id(c)]
        for name, v in lab_mod.summarize(r).items():
            values.setdefault(name, np.full((nx, ny, ns), np.nan))[ijk] = v
        div[ijk] = bool(r.diverged)
        div_step[ijk] = int(getattr(r, "diverged_step", -1)) if r.diverged else -1
        done[ijk] = True

    def snapshot():
        mean, std = {}, {}
        for name, v in values.items():
            ok = np.where(div, np.nan, v)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean[name] = np.nanmean(ok, axis=2)
                std[name] = np.nanstd(ok, axis=2)
        cell_done = done.all(axis=2)
        return SweepResult(
            xf,
            np.asarray(xs),
            yf,
            np.asarray(ys),
            mean,
            div.all(axis=2) & cell_done,
            cell_done,
            div_step[..., 0].copy(),
            std,
            np.asarray(seeds if seeds else [], int),
        )

    missing = []
    for c in cells.values():
        r = cache.lookup(cache.key_for(c)) if use_cache else None
        if r is None:
            missing.append(c)
        else:
            put(c, r)
    if progress and not missing:
        progress(1.0, snapshot())

    def on_block(bc, br):
        for c, r in zip(bc, br):
            if use_cache:
                cache.store(cache.key_for(c), r)
            put(c, r)
        if progress:
            progress(done.mean(), snapshot())

    if missing:
        if progress:
            progress(done.mean(), snapshot())
        run_cells(lab_mod, missing, strategy=strategy, on_block=on_block)
    return snapshot()
