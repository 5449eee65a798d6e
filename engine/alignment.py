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
The Result and its assembly live in :mod:`engine.alignment_result`; every public name is
importable from here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from engine import cache, data, zoo
from engine.alignment_result import METRICS, Result, _assemble, _metric_stage, spearman_bootstrap
from engine.config import ConfigBase, ConfigError, param
from engine.kernels import linear_cka, mutual_knn, permutation_null
from engine.zoo import ZOOS, _offdiag_mean, _perms, pairwise  # noqa: F401 (re-exported helpers)

__all__ = ["Config", "Result", "run", "summarize", "PRESETS", "ZOOS", "METRICS", "linear_cka", "mutual_knn"]
__all__ += ["permutation_null", "pairwise", "spearman_bootstrap"]

LAB = "alignment"
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


PRESETS = {
    "default zoo": {},
    "width sweep": {"zoo": "widths", "untrained": False},
    "MLP vs conv": {"zoo": "families", "untrained": False},
    "untrained vs trained": {"zoo": "families", "n_seeds": 1},
    "output layer": {"layer": "logits"},
    "first layer": {"layer": "first"},
    "mutual k-NN as Huh et al.": {"k": 10, "clip": True},
}

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
