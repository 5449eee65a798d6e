"""Hyperparameter transfer: the width x learning-rate sweep's result and its analysis (pure numpy).

Re-exported by :mod:`engine.mup`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SweepResult(NamedTuple):
    """Width x learning-rate sweep (grid axes first).

    widths (W,); lrs (L,) learning rates at base width; loss (W, L) mean final training loss
    over seeds (NaN where diverged or not yet computed); loss_std (W, L) std over seeds;
    diverged (W, L) bool (any seed diverged); done (W, L) bool; best_lr (W,) grid argmin of loss
    per width (NaN if none); best_index (W,) int (-1 if none); parametrization, optimizer: str;
    diverged_step (W, L) int, first divergence step over seeds (-1 if none); seed_best_lr
    (W, n_seeds): the argmin of each seed's own loss curve (NaN if none), its spread is the
    uncertainty of best_lr (None in results built without it).
    """

    widths: np.ndarray
    lrs: np.ndarray
    loss: np.ndarray
    loss_std: np.ndarray
    diverged: np.ndarray
    done: np.ndarray
    best_lr: np.ndarray
    best_index: np.ndarray
    parametrization: str
    optimizer: str
    diverged_step: np.ndarray
    seed_best_lr: np.ndarray | None = None


def best_lr(lrs: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid argmin of loss (W, L) along lrs: (best_lr (W,) NaN where no finite loss, index (W,) -1)."""
    loss = np.asarray(loss, float)
    ok = np.isfinite(loss).any(axis=1)
    idx = np.where(ok, np.argmin(np.where(np.isfinite(loss), loss, np.inf), axis=1), -1)
    return np.where(ok, np.asarray(lrs)[np.maximum(idx, 0)], np.nan), idx


def stability_edge(sr: SweepResult) -> tuple[np.ndarray, np.ndarray]:
    """Per width: the largest learning rate that did not diverge (W,) and the stable/divergent
    boundary, the log2 midpoint between it and the next grid value (W,); NaN where the grid has
    no stable value or no divergence above it."""
    lrs, out_lr, out_b = np.asarray(sr.lrs), [], []
    for d, done in zip(np.asarray(sr.diverged), np.asarray(sr.done)):
        ok = np.flatnonzero(done & ~d)
        i = ok.max() if ok.size else -1
        out_lr.append(lrs[i] if i >= 0 else np.nan)
        out_b.append(np.sqrt(lrs[i] * lrs[i + 1]) if 0 <= i < len(lrs) - 1 and d[i + 1] else np.nan)
    return np.asarray(out_lr), np.asarray(out_b)


def transferred_loss(sr: SweepResult) -> np.ndarray:
    """Loss at every width with the learning rate tuned at the narrowest width (W,) (NaN where
    that run diverged): zero-shot transfer works when it matches each width's own best loss."""
    j = int(sr.best_index[0])
    return np.asarray(sr.loss)[:, j] if j >= 0 else np.full(len(sr.widths), np.nan)
