"""Each scaling-laws preset shows the phenomenon its name promises (engine level)."""

import dataclasses

import numpy as np
import pytest

from engine import scaling

# Shrunk for time: 150 steps instead of 400, fewer test points and records; the two presets
# with narrow nets also use 32 teacher directions instead of 128. The grids (widths x sizes) and
# the learning rate are the presets' own, so which resource limits the loss is the preset's:
# widths <= 8 stay far below 32 directions (model-limited); widths >= 24 with <= 64 examples
# of the 128-direction teacher are starved of data.
SHRINK = dict(steps=150, n_test=256, n_records=8)
NARROW = ("teacher (both limits)", "model-limited")


def preset(name: str) -> scaling.Config:
    cfg = scaling.Config.from_dict(scaling.PRESETS[name])
    over = {**SHRINK, "d_in": 32} if name in NARROW else SHRINK
    return dataclasses.replace(cfg, **over)


@pytest.fixture(scope="module")
def runs():
    return {name: scaling.run(preset(name)) for name in scaling.PRESETS}


def _spread(a, axis):
    """Relative change of log-loss along an axis, averaged over the other."""
    la = np.log(a)
    return float(np.mean(np.max(la, axis=axis) - np.min(la, axis=axis)))


def test_presets_are_valid(runs):
    assert {"teacher (both limits)", "model-limited", "data-limited", "digits"} <= set(scaling.PRESETS)
    for r in runs.values():
        assert r.done.all() and not r.diverged.any()


def test_teacher_loss_falls_with_both_n_and_d(runs):
    r = runs["teacher (both limits)"]
    big_d, big_n = r.loss[:, -1], r.loss[-1, :]
    assert big_d[-1] < 0.5 * big_d[0] and big_n[-1] < 0.5 * big_n[0]
    assert np.all(np.isfinite(r.fit)) and r.fit[2] > 0.1 and r.fit[4] > 0.1  # both fitted exponents


def test_model_limited_loss_depends_on_width_not_data(runs):
    r = runs["model-limited"]
    along_n, along_d = _spread(r.loss, 0), _spread(r.loss, 1)
    assert along_n > 4 * along_d, (along_n, along_d)
    assert np.all(r.loss[:, -1] < 1.6 * r.model_limit + 0.02)  # at the bottleneck floor


def test_data_limited_loss_depends_on_data_not_width(runs):
    r = runs["data-limited"]
    along_n, along_d = _spread(r.loss, 0), _spread(r.loss, 1)
    assert along_d > 2 * along_n, (along_n, along_d)
    assert np.all(np.diff(r.loss, axis=1) < 0)  # more data helps every width


def test_digits_loss_falls_with_data_and_size(runs):
    r = runs["digits"]
    assert r.loss[-1, -1] < 0.6 * r.loss[-1, 0]  # more data, the widest net
    assert r.loss[-1, -1] < 0.8 * r.loss[0, -1]  # more width, the most data
    assert np.all(np.isfinite(r.fit))
