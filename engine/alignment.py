"""Representation alignment: do different networks trained on the same data learn the same representation?

A zoo of MLPs (several widths, depths, activations, seeds) and small conv nets is trained on the
8x8 digits (engine.zoo); untrained copies serve as baselines. Every pair of models is compared
on a shared probe set of held-out digits with linear CKA (Kornblith et al. 2019), its unbiased
variant (Song et al. 2012 HSIC) and mutual k-nearest neighbours (Huh et al. 2024), each next to
a permutation null (rows of one representation shuffled). The Platonic representation
hypothesis predicts that models that fit the task better align more with each other.

The metrics live in :mod:`engine.kernels` (one implementation); this module re-exports them,
and :func:`engine.zoo.pairwise` composes their building blocks so that a zoo's all-pairs
matrices cost one Gram matrix / neighbour mask per representation instead of one per pair.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats

from engine import cache, data, zoo
from engine.config import ConfigBase, ConfigError, param
from engine.kernels import linear_cka, mutual_knn, permutation_null
from engine.zoo import ZOOS, _offdiag_mean, _perms, pairwise

__all__ = ["Config", "Result", "run", "summarize", "PRESETS", "ZOOS", "METRICS", "linear_cka", "mutual_knn"]
__all__ += ["permutation_null", "pairwise", "spearman_bootstrap"]

LAB = "alignment"
METRICS = ("cka", "cka_unbiased", "knn")
N_DIGITS = 1797


@dataclass(frozen=True)
class Config(ConfigBase):
    LAB = LAB
    zoo: str = param("mixed", choices=tuple(ZOOS), help="which architectures (see ZOOS)")
    n_seeds: int = param(2, lo=1, hi=4, help="trained seeds per architecture")
    untrained: bool = param(True, help="add an untrained network (a fresh seed) of every architecture as a baseline")
    steps: int = param(300, lo=10, hi=3000, help="full-batch Adam steps for every model")
    lr: float = param(3e-3, lo=1e-4, hi=0.3, log=True, traced=True, help="Adam learning rate")
    n_train: int = param(1000, lo=100, hi=1400, help="training digits (the rest are held out)")
    n_probe: int = param(500, lo=50, hi=1000, help="held-out digits on which representations are compared")
    layer: str = param("penultimate", choices=("first", "penultimate", "logits"), help="which layer of each model")
    k: int = param(10, lo=1, hi=100, help="neighbours in mutual k-NN (chance = k / (n_probe - 1))")
    clip: bool = param(False, help="clip |features| at their 0.95 quantile before mutual k-NN (as Huh et al.'s code)")
    n_perm: int = param(2, lo=1, hi=50, help="row permutations averaged in the null baseline")
    n_snapshots: int = param(5, lo=2, hi=10, help="training-time snapshots (log-spaced steps)")
    model_a: int = param(-1, lo=-1, hi=99, help="first model of the layer-by-layer view (-1: most accurate)")
    model_b: int = param(-1, lo=-1, hi=99, help="second model (-1: most accurate of another family)")
    n_boot: int = param(1000, lo=100, hi=20000, help="bootstrap resamples of the models for the interval on rho")
    seed: int = param(0, lo=0, hi=2**31 - 1, traced=True, help="seed of the zoo's inits and of the permutations")

    def validate(self):
        n_test = N_DIGITS - self.n_train
        if self.n_probe > n_test:
            raise ConfigError(f"n_probe={self.n_probe} exceeds the {n_test} held-out digits (n_train={self.n_train})")
        if self.k >= self.n_probe:
            raise ConfigError(f"k={self.k} must be below n_probe={self.n_probe}")
        n = len(zoo.model_list(self.zoo, self.n_seeds, self.untrained))
        for name in ("model_a", "model_b"):
            if getattr(self, name) >= n:
                raise ConfigError(f"{name}={getattr(self, name)} but this zoo has {n} models (0 to {n - 1})")

    def cost_flops(self) -> float:
        archs = ZOOS[self.zoo]
        n_test = N_DIGITS - self.n_train
        train_f = sum(3.0 * self.steps * self.n_seeds * a.forward_flops(self.n_train) for a in archs)
        feat_f = sum(self.n_snapshots * self.n_seeds * a.forward_flops(n_test) for a in archs)
        m = len(zoo.model_list(self.zoo, self.n_seeds, self.untrained))
        reps = m + len(archs) * self.n_seeds * self.n_snapshots
        # one Gram matrix per representation (<= 512 features), ~10 n^2 operations per pair and metric
        metric_f = (
            reps * 2.0 * self.n_probe**2 * 512 + (m * m / 2 * (1 + self.n_perm) + 2 * reps) * 30.0 * self.n_probe**2
        )
        return train_f + feat_f + metric_f


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


PRESETS = {
    "default zoo": {},
    "width sweep": {"zoo": "widths", "untrained": False},
    "MLP vs conv": {"zoo": "families", "untrained": False},
    "untrained vs trained": {"zoo": "families", "n_seeds": 1},
    "output layer": {"layer": "logits"},
    "first layer": {"layer": "first"},
    "mutual k-NN as Huh et al.": {"k": 10, "clip": True},
}

# ---------------------------------------------------------------- the claim


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


# ---------------------------------------------------------------- the experiment

_ZOO_FIELDS = ("zoo", "n_seeds", "steps", "lr", "n_train", "n_probe", "n_snapshots", "seed")
_STAGE_FIELDS = {"cka": ("layer", "untrained", "n_perm"), "cka_unbiased": ("layer", "untrained", "n_perm")}
_STAGE_FIELDS["knn"] = _STAGE_FIELDS["cka"] + ("k", "clip")


def _stage_key(name: str, cfg: Config) -> str:
    fields = _ZOO_FIELDS + _STAGE_FIELDS.get(name, ())
    return cache.make_key(f"{LAB}.{name}", json.dumps({f: getattr(cfg, f) for f in fields}, sort_keys=True))


def _dataset(cfg: Config) -> data.Dataset:
    """Digits: the zoo trains on the first ``n_train`` of a seeded split, the probe set is held out."""
    return data.digits(cfg.n_train, N_DIGITS - cfg.n_train, seed=0)


def _rep(cfg: Config, groups: list, spec: tuple, layer: int | str, snap: int = -1) -> np.ndarray:
    arch, seed, trained = spec
    layer = zoo.layer_index(arch, layer) if isinstance(layer, str) else layer
    g = groups[ZOOS[cfg.zoo].index(arch)]
    return g["reps"][layer][seed, snap] if trained else g["untrained_reps"][layer]


def _accuracy(cfg: Config, groups: list, spec: tuple) -> np.ndarray:
    arch, seed, trained = spec
    g = groups[ZOOS[cfg.zoo].index(arch)]
    return g["accuracy"][seed] if trained else np.array([g["untrained_accuracy"]])


def _best(specs: list, acc: np.ndarray) -> int:
    return max((m for m, s in enumerate(specs) if s[2]), key=lambda m: np.nan_to_num(acc[m], nan=-1.0), default=-1)


def _metric_stage(metric: str, cfg: Config, groups: list, specs: list) -> dict:
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


def _pick_pair(cfg: Config, specs: list, acc: np.ndarray) -> tuple[int, int]:
    order = sorted((m for m, s in enumerate(specs) if s[2]), key=lambda m: -np.nan_to_num(acc[m], nan=-1.0))
    a = order[0] if cfg.model_a < 0 else cfg.model_a
    if cfg.model_b >= 0:
        return a, cfg.model_b
    rest = [m for m in order if m != a and specs[m][0].family != specs[a][0].family]
    rest = rest or [m for m in order if m != a] or [a]
    return a, rest[0]


def _layer_view(cfg: Config, groups: list, spec_a: tuple, spec_b: tuple, probe: np.ndarray):
    def layers(spec):
        names = spec[0].layer_names()
        return ["input"] + names, [probe] + [_rep(cfg, groups, spec, i) for i in range(len(names))]

    (na, ra), (nb, rb) = layers(spec_a), layers(spec_b)
    return np.array(na), np.array(nb), pairwise("cka", ra, rb)[0]


def _assemble(cfg: Config, specs: list, groups: list, stages: dict | None, probe: np.ndarray) -> Result:
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


def run(cfg: Config, progress: Callable[[float, Result], None] | None = None) -> Result:
    """Train the zoo, compare every pair of models, and test alignment against accuracy.

    What it should look like: trained models of both families align far above the permutation
    null (penultimate-layer CKA ~0.4-0.8 against a null ~0.02; mutual k-NN ~0.2-0.5 against
    k/(n-1) ~0.02); narrow, inaccurate nets and untrained copies align less with the most
    accurate model, so alignment rises with held-out accuracy (Spearman rho > 0, ~0.9 at the
    default); during training each model's alignment to the best final model rises with its
    accuracy. Raw scores also depend on width, depth and layer (wide untrained nets look like
    their pixel input): read them against the null and the untrained baselines.

    Args:
      cfg: a :class:`Config`. The trained zoo is cached under its training fields only, and each
        metric under the fields it reads, so a new layer, k, clipping or pair retrains nothing.
      progress: ``progress(fraction, partial)`` while the zoo trains (partial: the finished models,
        their accuracy and linear CKA), then as the metrics finish (partial None).

    Returns:
      :class:`Result` (shapes in its docstring).

    References: Kornblith et al. 2019 (CKA, arXiv:1905.00414); Song et al. 2012 (unbiased HSIC,
    JMLR 13); Huh et al. 2024 (Platonic representation hypothesis, mutual k-NN, arXiv:2405.07987);
    Murphy, Zylberberg & Fyshe 2024 (biased CKA is high for random data: calibrate against shuffled
    controls, arXiv:2405.01012).
    """
    specs = zoo.model_list(cfg.zoo, cfg.n_seeds, cfg.untrained)
    ds = _dataset(cfg)
    probe, share = ds.x_test[: cfg.n_probe], 0.7

    last = {"n": -1, "partial": None}

    def on_train(fraction, groups):  # redraw the partial result only when a group has finished
        n = sum(g is not None for g in groups)
        if n != last["n"]:
            last["n"], last["partial"] = n, _assemble(cfg, specs, groups, None, probe)
        progress(share * fraction, last["partial"])

    def train():
        kw = {"steps": cfg.steps, "lr": cfg.lr, "n_probe": cfg.n_probe, "n_snapshots": cfg.n_snapshots}
        return zoo.train_zoo(ZOOS[cfg.zoo], cfg.n_seeds, cfg.seed, ds, progress=progress and on_train, **kw)

    groups = cache.memo(_stage_key("zoo", cfg), train)
    if progress is not None and last["n"] != len(groups):  # a trained zoo from the cache: draw it at once
        on_train(1.0, groups)
    done = []

    def stage(m):  # numpy releases the GIL in its large array operations: metrics run side by side
        out = cache.memo(_stage_key(m, cfg), lambda: _metric_stage(m, cfg, groups, specs))
        done.append(m)
        if progress is not None and len(done) < len(METRICS):
            progress(share + (1 - share) * len(done) / len(METRICS), None)
        return out

    with ThreadPoolExecutor(len(METRICS)) as pool:
        stages = dict(zip(METRICS, pool.map(stage, METRICS)))
    res = _assemble(cfg, specs, groups, stages, probe)
    if progress is not None:
        progress(1.0, res)
    return res


def summarize(r: Result) -> dict[str, float]:
    """Spearman rho of accuracy vs alignment to the best model, per metric; mean trained accuracy."""
    out = {f"rho_{m}": float(r.rho[i, 1]) for i, m in enumerate(METRICS)}
    out["mean_accuracy"] = float(np.nanmean(r.accuracy[r.trained])) if r.trained.any() else float("nan")
    return out
