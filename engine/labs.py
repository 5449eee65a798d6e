"""Registry of labs and the protocol each lab module follows.

A lab module ``engine.<name>`` provides:
- ``Config``: a frozen dataclass deriving :class:`engine.config.ConfigBase` with ``LAB = name``;
  fields declared with :func:`engine.config.param` (``traced=True`` for fields that keep array
  shapes: a sweep batches them into one compiled program);
- ``Result``: a NamedTuple of numpy arrays (shapes in its docstring), with ``diverged``;
- ``run(cfg, progress=None) -> Result``; ``progress(fraction, partial_result)``;
- ``summarize(result) -> dict[str, float]``: the scalar order parameters a phase diagram
  can color by (first key = default);
- optionally ``batched(cfg) -> f(hyper: dict[str, jax.Array]) -> pytree`` (a pure function of
  the traced fields, for every config sharing ``cfg``'s other fields) and
  ``from_arrays(cfg, out) -> Result``: the fast path :func:`engine.sweep.sweep` uses;
- ``PRESETS``: name -> dict of Config overrides (the lecture's settings, as data);
- optionally ``DIAGRAMS``: name -> {"base": overrides, "x": (field, values), "y": (field, values)},
  the page's default phase diagrams (``python -m engine warm`` precomputes them);
- optionally ``CALLS``: names of other entry points ``f(cfg, progress=None)`` that the page calls
  through ``ui.run.call`` (warmed for every preset).
"""

from __future__ import annotations

import importlib
from types import ModuleType

LABS: dict[str, str] = {
    "playground": "engine.playground",
    "eos": "engine.eos",
    "catapult": "engine.catapult",
    "lazy_rich": "engine.lazy_rich",
    "diagonal": "engine.diagonal",
    "imbalance": "engine.imbalance",
    "scaling": "engine.scaling",
    "deep_linear": "engine.deep_linear",
    "mup": "engine.mup",
    "alignment": "engine.alignment",
}


def get(name: str) -> ModuleType:
    """The lab module for ``name``; ValueError naming the known labs otherwise."""
    if name not in LABS:
        raise ValueError(f"unknown lab {name!r}; labs are: {', '.join(available())}")
    try:
        return importlib.import_module(LABS[name])
    except ModuleNotFoundError as e:
        if e.name == LABS[name]:
            raise ValueError(f"lab {name!r} is not installed in this version") from None
        raise


def available() -> list[str]:
    """Names of the labs whose module exists."""
    out = []
    for name, mod in LABS.items():
        if importlib.util.find_spec(mod) is not None:
            out.append(name)
    return out


def of_config(cfg) -> ModuleType:
    return get(cfg.LAB)
