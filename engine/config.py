"""Frozen, validated experiment configs: the one contract every lab's ``Config`` follows.

A lab declares its fields with :func:`param`, which records the allowed range or choices
and a one-line help text in the dataclass field's metadata. ``ConfigBase.__post_init__``
checks every field (type, range, choices) and raises :class:`ConfigError` (a ValueError)
naming the field, the value and what is allowed. The same metadata drives the app's
sliders, URL parsing and the command line, so no range is written twice.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from typing import Any


class ConfigError(ValueError):
    """A config value is out of range or of the wrong type (message names field and range)."""


def param(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple | None = None,
    help: str = "",
    log: bool = False,
    traced: bool = False,
) -> Any:
    """A config field with its validation metadata.

    lo/hi: inclusive numeric range; choices: allowed values; log: a slider should be
    log-spaced; traced: the field keeps array shapes, so sweeps batch it in one compile.
    """
    meta = {"lo": lo, "hi": hi, "choices": choices, "help": help, "log": log, "traced": traced}
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults (configs are frozen and hashable)")
    return dataclasses.field(default=default, metadata=meta)


def _base_type(tp: Any) -> tuple[type, bool]:
    """(underlying type, optional?) of an annotation such as ``int | None``."""
    args = typing.get_args(tp)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return _base_type(rest[0])[0], True
    origin = typing.get_origin(tp)
    return (origin or tp), False


class ConfigBase:
    """Mixin for ``@dataclass(frozen=True)`` configs: validation, dict/JSON round trip."""

    LAB: typing.ClassVar[str] = "base"

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            tp, optional = _base_type(hints[f.name])
            object.__setattr__(self, f.name, _check(f, value, tp, optional))
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; labs override and raise ConfigError."""

    # ---- conversions ----
    def to_dict(self) -> dict:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def key(self) -> str:
        """Canonical JSON (sorted keys): the cache key's config part."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict, strict: bool = True):
        """Build from a dict (e.g. JSON or URL values); unknown keys raise if strict."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown and strict:
            raise ConfigError(f"unknown field(s) {sorted(unknown)} for {cls.__name__}; fields are {sorted(names)}")
        return cls(**{k: v for k, v in d.items() if k in names})

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @classmethod
    def fields_meta(cls) -> dict[str, dict]:
        """name -> metadata (lo, hi, choices, help, log, traced, default, type)."""
        hints = typing.get_type_hints(cls)
        out = {}
        for f in dataclasses.fields(cls):
            tp, optional = _base_type(hints[f.name])
            out[f.name] = dict(f.metadata, default=f.default, type=tp, optional=optional)
        return out

    def cost_flops(self) -> float:
        """Rough FLOP count of ``run(self)``; labs override (used by the app's cap)."""
        return 0.0


def parse_value(cls, name: str, text: str) -> Any:
    """Parse a string (URL or command line) into the field's type; ConfigError if not."""
    meta = cls.fields_meta()
    if name not in meta:
        raise ConfigError(f"unknown field {name!r} for {cls.__name__}; fields are {sorted(meta)}")
    m = meta[name]
    tp = m["type"]
    if m["optional"] and text.strip().lower() in ("", "none", "full"):
        return None
    try:
        if tp is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            v = float(text)
            if v != int(v):
                raise ValueError
            return int(v)
        if tp is float:
            return float(text)
        if tp is tuple:
            return tuple(float(t) for t in text.replace(";", ",").split(",") if t.strip())
        return text
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a valid {tp.__name__}") from None


def _allowed(m: dict) -> str:
    if m.get("choices") is not None:
        return "one of " + ", ".join(map(repr, m["choices"]))
    lo, hi = m.get("lo"), m.get("hi")
    return f"between {lo} and {hi}" if lo is not None or hi is not None else "any value"


def _check(f: dataclasses.Field, value: Any, tp: type, optional: bool) -> Any:
    m = f.metadata
    name = f.name
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} must be set ({_allowed(m)})")
    if tp is bool:
        if not isinstance(value, (bool,)):
            raise ConfigError(f"{name}={value!r} must be true or false")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ConfigError(f"{name}={value!r} must be an integer ({_allowed(m)})")
        value = int(value)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{name}={value!r} must be a finite number ({_allowed(m)})")
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}={value!r} must be text ({_allowed(m)})")
    elif tp is tuple:
        if not isinstance(value, (tuple, list)):
            raise ConfigError(f"{name}={value!r} must be a list of numbers")
        try:
            value = tuple(float(v) for v in value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={value!r} must be a list of numbers") from None
        if not all(math.isfinite(v) for v in value):
            raise ConfigError(f"{name}={value!r} must contain finite numbers")
    choices = m.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{name}={value!r} is not allowed: choose {_allowed(m)}")
    lo, hi = m.get("lo"), m.get("hi")
    vals = value if isinstance(value, tuple) else (value,)
    for v in vals:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                raise ConfigError(f"{name}={value!r} is out of range: must be {_allowed(m)}")
    return value


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v
