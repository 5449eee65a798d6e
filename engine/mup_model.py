"""Hyperparameter transfer: the network, data and initialization shared by the lr sweep
(:mod:`engine.mup`) and the coordinate check (:mod:`engine.mup_coord`).

Functions read a :class:`engine.mup.Config` by attribute only, so this module does not import it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from engine import data, nets

# fields that only describe the grid: reset in a sweep cell so cells are shared across grids
GRID_FIELDS = ("widths", "lr_log2_min", "lr_log2_max", "n_lrs", "coord_steps")


def spec(cfg, width: int | None = None) -> nets.MLP:
    """The MLP of ``cfg`` at ``width`` (default ``cfg.width``): digits 64 -> 10, teacher 16 -> 1."""
    d_in, d_out = (64, 10) if cfg.dataset == "digits" else (16, 1)
    return nets.MLP(
        d_in, int(width or cfg.width), cfg.depth, d_out, cfg.activation, cfg.parametrization, cfg.base_width
    )


def dataset(cfg) -> data.Dataset:
    """The training set: the first ``n_train`` digits, or a tanh teacher (16 inputs, width 32, 1 output)."""
    if cfg.dataset == "digits":
        return data.digits(cfg.n_train, 200, seed=0)
    return data.teacher_student(cfg.n_train, 200, d_in=16, d_out=1, teacher_width=32, seed=0)


def init_params(cfg, net: nets.MLP, key: jax.Array) -> list[dict]:
    """The initial weights (muP with ``zero_readout``: the readout layer starts at zero)."""
    params = nets.init(key, net)
    if cfg.zero_readout and cfg.parametrization == "mup":
        params[-1] = jax.tree.map(jnp.zeros_like, params[-1])
    return params


def static_key(cfg) -> str:
    """The fields that change the compiled program of one cell (not lr, seed, width or the grid)."""
    skip = ("lr", "seed", "width") + GRID_FIELDS
    return repr(sorted((k, v) for k, v in cfg.to_dict().items() if k not in skip))
