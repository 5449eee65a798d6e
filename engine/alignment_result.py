"""Representation alignment: the Result of a compared zoo and how it is assembled from the trained
zoo (:func:`engine.zoo.train_zoo`) and the metric stages (pure numpy + scipy).

Functions read an :class:`engine.alignment.Config` by attribute only. Re-exported by
:mod:`engine.alignment`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats

from engine import zoo
from engine.zoo import ZOOS, _offdiag_mean, _perms, pairwise

METRICS = ("cka", "cka_unbiased", "knn")


class Result(NamedTuple):
    """One zoo compared at ``layer``: M models, S snapshots, Mt trained models; metric axes in METRICS order.

    models (M,) names; family (M,) "MLP" / "Conv"; group (M,) family label that orders and bands
    the heatmaps ("MLP", "Conv", "MLP (untrained)", ...); trained (M,) bool; accuracy (M,) on the
    held-out digits; model_diverged (M,) bool.
    cka, cka_unbiased, knn (M, M): similarity of every pair; null_cka, null_cka_unbiased, null_knn
    (M, M): its mean over ``n_perm`` row permutations of one model; null_std (3, M, M).
    best: index of the most accurate trained model; align_mean (3, M): mean similarity to the
    other models; align_best (3, M): similarity to the best model (NaN for itself);
    rho (3, 2): Spearman rho of accuracy vs (align_mean, align_best); rho_ci (3, 2, 2): its
    bootstrap 95% interval (models resampled).
    model_a, model_b: the pair of the layer-by-layer view; layers_a (La,), layers_b (Lb,): layer
    names, "input" first; layer_cka (La, Lb): linear CKA of every layer pair.
    snap_steps (S,): training steps of the snapshots; snap_models (Mt,): indices into models;
    snap_accuracy (S, Mt); snap_best (3, S, Mt): similarity of each trained model's snapshot to
    the best model's final representation; snap_best_null (3, S): its null (one permutation),
    averaged over the models other than the best.
    layer, k, clip: the settings compared; done: finished models (< M in a live partial result,
    where only ``cka`` is filled); diverged: any model diverged; diverged_step: first such step or -1.
    """

    models: np.ndarray
    family: np.ndarray
    group: np.ndarray
    trained: np.ndarray
    accuracy: np.ndarray
    model_diverged: np.ndarray
    cka: np.ndarray
    cka_unbiased: np.ndarray
    knn: np.ndarray
    null_cka: np.ndarray
    null_cka_unbiased: np.ndarray
    null_knn: np.ndarray
    null_std: np.ndarray
    best: int
    align_mean: np.ndarray
    align_best: np.ndarray
    rho: np.ndarray
    rho_ci: np.ndarray
    model_a: int
    model_b: int
    layers_a: np.ndarray
    layers_b: np.ndarray
    layer_cka: np.ndarray
    snap_steps: np.ndarray
    snap_models: np.ndarray
    snap_accuracy: np.ndarray
    snap_best: np.ndarray
    snap_best_null: np.ndarray
    layer: str
    k: int
    clip: bool
    done: int
    diverged: bool
    diverged_step: int

    def sim(self, metric: str) -> np.ndarray:
        return getattr(self, metric)

    def null(self, metric: str) -> np.ndarray:
        return getattr(self, "null_" + metric)


def spearman_bootstrap(x, y, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Spearman rho over the finite (x, y) pairs and its percentile-bootstrap 95% interval (pairs resampled)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3:
        return float("nan"), float("nan"), float("nan")
    rho = float(stats.spearmanr(x, y).statistic)
    idx = np.random.default_rng([seed, 11]).integers(0, len(x), (n_boot, len(x)))
    rx, ry = stats.rankdata(x[idx], axis=1), stats.rankdata(y[idx], axis=1)
    rx, ry = rx - rx.mean(1, keepdims=True), ry - ry.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        boots = (rx * ry).sum(1) / np.sqrt((rx**2).sum(1) * (ry**2).sum(1))
    if not np.isfinite(boots).any():
        return rho, float("nan"), float("nan")
    lo, hi = np.nanpercentile(boots, [2.5, 97.5])
    return rho, float(lo), float(hi)


# ---------------------------------------------------------------- assembling a Result


def _rep(cfg, groups: list, spec: tuple, layer: int | str, snap: int = -1) -> np.ndarray:
    arch, seed, trained = spec
    layer = zoo.layer_index(arch, layer) if isinstance(layer, str) else layer
    g = groups[ZOOS[cfg.zoo].index(arch)]
    return g["reps"][layer][seed, snap] if trained else g["untrained_reps"][layer]


def _accuracy(cfg, groups: list, spec: tuple) -> np.ndarray:
    arch, seed, trained = spec
    g = groups[ZOOS[cfg.zoo].index(arch)]
    return g["accuracy"][seed] if trained else np.array([g["untrained_accuracy"]])


def _best(specs: list, acc: np.ndarray) -> int:
    return max((m for m, s in enumerate(specs) if s[2]), key=lambda m: np.nan_to_num(acc[m], nan=-1.0), default=-1)


def _metric_stage(metric: str, cfg, groups: list, specs: list) -> dict:
    """The zoo's matrices for one metric at cfg.layer, and the trained models' at every snapshot."""
    kw = {"k": cfg.k, "clip": cfg.clip}
    perms = _perms(cfg.n_probe, cfg.n_perm, cfg.seed)
    final = [_rep(cfg, groups, s, cfg.layer) for s in specs]
    sim, null, std = pairwise(metric, final, perms=perms, **kw)
    tidx = [m for m, s in enumerate(specs) if s[2]]
    best = _best(specs, np.array([_accuracy(cfg, groups, s)[-1] for s in specs]))
    others = [i for i, m in enumerate(tidx) if m != best]
    n_snap = len(groups[0]["steps"])
    out = {"snap_best": np.full((n_snap, len(tidx)), np.nan), "snap_best_null": np.full(n_snap, np.nan)}
    for s in range(n_snap):
        reps = [_rep(cfg, groups, specs[m], cfg.layer, s) for m in tidx]
        b, bn, _ = pairwise(metric, reps, [final[best]], perms=perms[:1], **kw)
        out["snap_best"][s] = b[:, 0]
        out["snap_best_null"][s] = np.mean(bn[others, 0]) if others else np.nan
    return {"sim": sim, "null": null, "std": std, **out}


def _pick_pair(cfg, specs: list, acc: np.ndarray) -> tuple[int, int]:
    order = sorted((m for m, s in enumerate(specs) if s[2]), key=lambda m: -np.nan_to_num(acc[m], nan=-1.0))
    a = order[0] if cfg.model_a < 0 else cfg.model_a
    if cfg.model_b >= 0:
        return a, cfg.model_b
    rest = [m for m in order if m != a and specs[m][0].family != specs[a][0].family]
    rest = rest or [m for m in order if m != a] or [a]
    return a, rest[0]


def _layer_view(cfg, groups: list, spec_a: tuple, spec_b: tuple, probe: np.ndarray):
    def layers(spec):
        names = spec[0].layer_names()
        return ["input"] + names, [probe] + [_rep(cfg, groups, spec, i) for i in range(len(names))]

    (na, ra), (nb, rb) = layers(spec_a), layers(spec_b)
    return np.array(na), np.array(nb), pairwise("cka", ra, rb)[0]


def _assemble(cfg, specs: list, groups: list, stages: dict | None, probe: np.ndarray) -> Result:
    """A Result for the models whose architecture is trained; ``stages`` None: a live partial (CKA only)."""
    archs = ZOOS[cfg.zoo]
    sp = [s for s in specs if groups[archs.index(s[0])] is not None]
    M, nan = len(sp), np.full((len(sp), len(sp)), np.nan)
    acc = np.array([_accuracy(cfg, groups, s)[-1] for s in sp], np.float64)
    trained = np.array([s[2] for s in sp], bool)
    g_of = [groups[archs.index(s[0])] for s in sp]
    div = np.array([g["diverged"] and s[2] for g, s in zip(g_of, sp)], bool)
    div_steps = [g["diverged_step"] for g, d in zip(g_of, div) if d]
    if stages is None:
        stages = {m: {"sim": nan, "null": nan, "std": nan} for m in METRICS}
        stages["cka"] = {**stages["cka"], "sim": pairwise("cka", [_rep(cfg, groups, s, cfg.layer) for s in sp])[0]}
    sims = np.stack([stages[m]["sim"] for m in METRICS]) if M else np.zeros((3, 0, 0))
    best = _best(sp, acc)
    align_mean = _offdiag_mean(sims, axis_rows=True)
    align_best = sims[:, :, best].copy() if best >= 0 else np.full((3, M), np.nan)
    if best >= 0:
        align_best[:, best] = np.nan
    rho, rho_ci = np.full((3, 2), np.nan), np.full((3, 2, 2), np.nan)
    tidx = np.flatnonzero(trained)
    snap = {"snap_steps": np.zeros(0, int), "snap_accuracy": np.zeros((0, len(tidx)))}
    snap |= {"snap_best": np.zeros((3, 0, len(tidx))), "snap_best_null": np.zeros((3, 0))}
    pair = {"model_a": -1, "model_b": -1, "layers_a": np.array([], str), "layers_b": np.array([], str)}
    pair["layer_cka"] = np.zeros((0, 0))
    if M == len(specs) and "snap_best" in stages["cka"]:  # complete
        for mi in range(3):
            for ci, al in enumerate((align_mean[mi], align_best[mi])):
                r, lo, hi = spearman_bootstrap(acc, al, cfg.n_boot, cfg.seed)
                rho[mi, ci], rho_ci[mi, ci] = r, (lo, hi)
        a, b = _pick_pair(cfg, specs, acc)
        pair = dict(zip(("layers_a", "layers_b", "layer_cka"), _layer_view(cfg, groups, specs[a], specs[b], probe)))
        pair |= {"model_a": a, "model_b": b}
        snap = {k: np.stack([stages[m][k] for m in METRICS]) for k in ("snap_best", "snap_best_null")}
        snap["snap_steps"] = np.asarray(groups[0]["steps"])
        snap["snap_accuracy"] = np.stack([_accuracy(cfg, groups, specs[m]) for m in tidx], axis=1)
    return Result(
        models=np.array([zoo.model_name(*s) for s in sp], str),
        family=np.array([s[0].family for s in sp], str),
        group=np.array([s[0].family + ("" if s[2] else " (untrained)") for s in sp], str),
        trained=trained,
        accuracy=acc,
        model_diverged=div,
        **{m: stages[m]["sim"] for m in METRICS},
        **{"null_" + m: stages[m]["null"] for m in METRICS},
        null_std=np.stack([stages[m]["std"] for m in METRICS]) if M else np.zeros((3, 0, 0)),
        best=best,
        align_mean=align_mean,
        align_best=align_best,
        rho=rho,
        rho_ci=rho_ci,
        **pair,
        snap_models=tidx,
        **snap,
        layer=cfg.layer,
        k=cfg.k,
        clip=cfg.clip,
        done=M,
        diverged=bool(div.any()),
        diverged_step=int(min(div_steps)) if div_steps else -1,
    )
