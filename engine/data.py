"""Seeded datasets as numpy float32 arrays (train and test splits).

All loaders return a :class:`Dataset`; the same arguments give the same arrays.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    """x_train (n, d), y_train (n, k), x_test (n_test, d), y_test (n_test, k); float32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


DATASETS = ("teacher", "digits", "powerlaw", "sparse")


@functools.lru_cache(maxsize=1)
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float64), d.target.astype(np.int64)


def digits(n_train: int = 1000, n_test: int = 500, seed: int = 0, shuffle: bool = True) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images): 64 standardized pixels, one-hot 10 classes.

    Pixels are standardized with training-set statistics. A pixel that is constant over the
    training images carries no information for the model and is set to zero in every split:
    dividing by a guarded std (std + eps) would turn its rare ink in a test image into a value
    of ~1000 that swamps every distance. ``shuffle=False`` takes the first n_train examples in
    the file's order (the edge-of-stability reference setting).
    """
    x, t = _digits_raw()
    n_total = len(x)
    if n_train < 1 or n_train + 1 > n_total:
        raise ValueError(f"n_train={n_train} must be between 1 and {n_total - 1} for digits")
    order = np.random.default_rng(seed).permutation(n_total) if shuffle else np.arange(n_total)
    tr, te = order[:n_train], order[n_train:][:n_test]
    mu, sd = x[tr].mean(0), x[tr].std(0)
    live = sd > 1e-8
    xs = np.where(live, (x - mu) / np.where(live, sd, 1.0), 0.0).astype(np.float32)
    onehot = np.eye(10, dtype=np.float32)[t]
    return Dataset(xs[tr], onehot[tr], xs[te], onehot[te])


def digits_labels(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Integer class labels of a one-hot dataset (train, test)."""
    return ds.y_train.argmax(1), ds.y_test.argmax(1)


def teacher_student(
    n_train: int = 512,
    n_test: int = 512,
    d_in: int = 16,
    d_out: int = 1,
    teacher_width: int = 32,
    noise: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """x ~ N(0, I_d); y = a random one-hidden-layer tanh teacher, scaled to unit variance, + noise."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((d_in, teacher_width)) / np.sqrt(d_in)
    w2 = rng.standard_normal((teacher_width, d_out)) / np.sqrt(teacher_width)
    x = rng.standard_normal((n_train + n_test, d_in))
    y = np.tanh(2.0 * x @ w1) @ w2
    y = y / (y[:n_train].std() + 1e-12)
    y = y + noise * rng.standard_normal(y.shape)
    x, y = x.astype(np.float32), y.astype(np.float32)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def power_law_features(
    n_train: int = 512,
    n_test: int = 1024,
    d: int = 256,
    spectrum_exponent: float = 1.5,
    target_exponent: float = 0.5,
    noise: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """Gaussian features with a power-law spectrum (THEORY.md section 4, (b, r) convention).

    x ~ N(0, diag(lambda)), lambda_k = k^-b (b = spectrum_exponent); target y = x . w* with
    lambda_k w*_k^2 = k^-(1 + b r) (r = target_exponent), plus Gaussian label noise.
    """
    b, r = spectrum_exponent, target_exponent
    k = np.arange(1, d + 1, dtype=np.float64)
    lam = k**-b
    w = np.sqrt(k ** -(1.0 + b * r) / lam)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_train + n_test, d))
    x = z * np.sqrt(lam)
    y = (x @ w)[:, None] + noise * rng.standard_normal((n_train + n_test, 1))
    x, y = x.astype(np.float32), y.astype(np.float32)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def sparse_regression(
    n_train: int = 40, n_test: int = 500, d: int = 100, k: int = 5, noise: float = 0.0, seed: int = 0
) -> tuple[Dataset, np.ndarray]:
    """X ~ N(0, 1) entries, beta* k-sparse with +-1 entries; y = X beta* + noise.

    Returns (dataset, beta_star (d,)). Underdetermined when n_train < d.
    """
    rng = np.random.default_rng(seed)
    beta = np.zeros(d)
    support = rng.choice(d, size=k, replace=False)
    beta[support] = rng.choice([-1.0, 1.0], size=k)
    x = rng.standard_normal((n_train + n_test, d))
    y = x @ beta
    y[:n_train] += noise * rng.standard_normal(n_train)
    x, y = x.astype(np.float32), y[:, None].astype(np.float32)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:]), beta.astype(np.float32)
