"""Sidebar controls built from a lab Config's field metadata, synced with the URL.

Every widget's value is written to ``st.query_params`` so a view is a shareable link. A bad
or out-of-range URL value shows a warning and falls back to the default (never a traceback).
``?preset=NAME`` applies one of the lab's presets.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import streamlit as st

from engine.config import ConfigError, parse_value

_NICE = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
_PENDING = "__lml_pending"
_HIDDEN = "__lml_preset_hidden"  # a preset's fields that have no widget on the page


def log_grid(lo: float, hi: float, integer: bool = False) -> list:
    """Readable log-spaced values in [lo, hi]: 1-1.5-2-3-5-7 per decade (ints: 1-2-3-4-6-8 x 2^k)."""
    if integer:
        out, k = set(), 0
        while 2**k <= hi:
            for m in (2**k, 3 * 2 ** max(k - 1, 0)):
                if lo <= m <= hi:
                    out.add(int(m))
            k += 1
        out.update(v for v in (int(lo), int(hi)) if v >= 1)
        return sorted(out)
    lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    vals = {float(f"{m * 10.0**e:.6g}") for e in range(lo_e, hi_e + 1) for m in _NICE}
    return sorted(v for v in vals if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9))


def fmt(v: Any) -> str:
    if v is None:
        return "full"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, tuple):
        return ", ".join(f"{x:g}" for x in v)
    return str(v)


def _url_value(cls, name: str, meta: dict, prefix: str = ""):
    raw = st.query_params.get(prefix + name)
    if raw is None:
        return None, False
    try:
        v = parse_value(cls, name, raw)
        cls.from_dict({**_defaults(cls), name: v})  # range / type / cross-field check
        return v, True
    except (ConfigError, TypeError, ValueError) as e:
        st.warning(f"Ignored `{prefix}{name}={raw}` from the link: {e}. Using the default {fmt(meta['default'])}.")
        return None, False


def _defaults(cls) -> dict:
    return {f.name: f.default for f in dataclasses.fields(cls)}


def _widget(name: str, meta: dict, value, key: str, label: str, limits: tuple | None):
    """One widget whose state lives in ``st.session_state[key]`` (already set to ``value``)."""
    help_ = meta.get("help") or None
    tp, lo, hi = meta["type"], meta.get("lo"), meta.get("hi")
    if limits is not None:
        lo, hi = limits
    if meta.get("choices") is not None:
        ch = list(meta["choices"])
        if value not in ch:
            st.session_state[key] = ch[0]
        return st.selectbox(label, ch, key=key, help=help_)
    if tp is bool:
        return st.checkbox(label, key=key, help=help_)
    if tp is tuple:
        if not isinstance(value, str):
            st.session_state[key] = fmt(value)
        text = st.text_input(label, key=key, help=(help_ or "") + " (comma separated)")
        try:
            return parse_value_tuple(text)
        except ValueError:
            st.warning(f"{label}: could not read {text!r}; using {fmt(meta['default'])}")
            return meta["default"]
    if meta.get("optional"):
        opts = [None] + sorted(set(log_grid(lo or 1, hi or 1024, integer=True)) | ({value} - {None}))
        return st.select_slider(label, opts, key=key, format_func=fmt, help=help_)
    if meta.get("log") and lo and hi:
        opts = sorted(set(log_grid(lo, hi, integer=(tp is int))) | {value})
        return st.select_slider(label, opts, key=key, format_func=fmt, help=help_)
    if tp is int:
        lo_i, hi_i = int(lo if lo is not None else 0), int(hi if hi is not None else 100)
        st.session_state[key] = min(max(int(value), lo_i), hi_i)
        return st.slider(label, lo_i, hi_i, key=key, help=help_)
    lo_f, hi_f = float(lo if lo is not None else 0.0), float(hi if hi is not None else 1.0)
    st.session_state[key] = min(max(float(value), lo_f), hi_f)
    step = float(f"{(hi_f - lo_f) / 100:.1g}") or None
    return st.slider(label, lo_f, hi_f, step=step, key=key, help=help_)


def parse_value_tuple(text: str) -> tuple:
    vals = tuple(float(t) for t in text.replace(";", ",").split(",") if t.strip())
    if not vals:
        raise ValueError("empty")
    return vals


def _apply_preset(cls, prefix: str, fields: list[str], overrides: dict, skip: set = frozenset()) -> None:
    d = {**_defaults(cls), **overrides}
    for f in fields:
        if f not in skip:
            st.session_state[prefix + f] = d[f]
    st.session_state[prefix + _HIDDEN] = {k: v for k, v in overrides.items() if k not in fields}


def sidebar(
    cls,
    fields: list[str],
    *,
    prefix: str = "",
    presets: dict | None = None,
    labels: dict | None = None,
    limits: dict | None = None,
    fixed: dict | None = None,
    container=None,
    present: list[str] | None = None,
):
    """Widgets for ``fields`` of Config ``cls`` (in the sidebar); returns a validated Config.

    presets: name -> overrides (buttons + ``?preset=NAME``); labels: field -> label;
    limits: field -> (lo, hi) narrower than the Config's range for the slider;
    fixed: field -> value not shown as a widget; present: the fields that keep a widget in
    presentation mode (the others keep their current value, hidden).
    With a ``prefix`` the section's link names are prefixed too (``?dg_alpha=...``,
    ``?dg_preset=...``), so two sections with the same field names share a page.
    """
    from ui import present as _present

    _present.ensure_app_shell()
    meta = cls.fields_meta()
    labels, limits, fixed = labels or {}, limits or {}, dict(fixed or {})
    for k, v in st.session_state.pop(_PENDING, {}).items():  # values loaded by load() before a rerun
        st.session_state[k] = v
    if present is not None and _present.active():
        fixed = {**{f: _current(cls, prefix, f) for f in fields if f not in present}, **fixed}
        fields = [f for f in fields if f in present]
    box = container or st.sidebar
    with box:
        _preset_row(cls, prefix, fields, presets or {})
        values = {}
        for f in fields:
            m = meta[f]
            key = prefix + f
            if key not in st.session_state:
                v, ok = _url_value(cls, f, m, prefix)
                st.session_state[key] = v if ok else m["default"]
            label = labels.get(f, f.replace("_", " "))
            values[f] = _widget(f, m, st.session_state[key], key, label, limits.get(f))
    hidden = st.session_state.get(prefix + _HIDDEN, {})
    try:
        cfg = cls.from_dict({**_defaults(cls), **hidden, **fixed, **values})
    except ConfigError as e:
        st.warning(f"These settings do not fit together: {e}. Showing the defaults instead.")
        cfg = cls.from_dict({**_defaults(cls), **fixed})
    _write_url(cls, cfg, fields, prefix)
    return cfg


def _current(cls, prefix: str, name: str):
    """A field's value from the session, else the URL, else its default (for hidden widgets)."""
    meta = cls.fields_meta()[name]
    if prefix + name in st.session_state:
        v = st.session_state[prefix + name]
        return parse_value_tuple(v) if meta["type"] is tuple and isinstance(v, str) else v
    raw = st.query_params.get(prefix + name)
    if raw is not None:
        try:
            return parse_value(cls, name, raw)
        except ConfigError:
            pass
    return meta["default"]


def _preset_row(cls, prefix: str, fields: list[str], presets: dict) -> None:
    """Preset buttons (and ``?preset=NAME``) and the reset button.

    A preset from the link sets every field the link does not set itself, so a shared link
    ``?preset=X&lr=0.1`` reproduces the preset with that one change. Preset fields without a
    widget on the page are kept in the session and applied to the Config (see ``sidebar``).
    """
    url_preset = st.query_params.get(prefix + "preset")
    marker = prefix + "__preset_applied"
    if url_preset and st.session_state.get(marker) != url_preset:
        if url_preset in presets:
            explicit = {f for f in fields if prefix + f in st.query_params}
            _apply_preset(cls, prefix, fields, presets[url_preset], skip=explicit)
        else:
            st.warning(f"Unknown preset `{url_preset}`; presets are: {', '.join(presets) or 'none'}.")
        st.session_state[marker] = url_preset
    if presets:
        st.markdown("**Presets**")
        n_cols = 2 if max(len(n) for n in presets) <= 14 else 1  # long names get a row each (no truncation)
        cols = st.columns(n_cols)
        for i, (name, ov) in enumerate(presets.items()):
            if cols[i % n_cols].button(name, key=f"{prefix}preset_{i}", width="stretch"):
                _apply_preset(cls, prefix, fields, ov)
                st.session_state[marker] = name
                st.query_params.clear()
                st.query_params[prefix + "preset"] = name
                st.rerun()
    if st.button("Reset to defaults", key=prefix + "reset", width="stretch"):
        _apply_preset(cls, prefix, fields, {})
        st.session_state[marker] = None
        st.query_params.clear()
        st.rerun()


def _write_url(cls, cfg, fields: list[str], prefix: str = "") -> None:
    meta = cls.fields_meta()
    for f in fields:
        v, name = getattr(cfg, f), prefix + f  # a prefixed section keeps its own link names
        if v == meta[f]["default"]:
            if name in st.query_params:
                del st.query_params[name]
        else:
            s = "none" if v is None else (",".join(f"{x:g}" for x in v) if isinstance(v, tuple) else str(v))
            if st.query_params.get(name) != s:
                st.query_params[name] = s


def choice(label: str, options: list, *, key: str, default=None, help: str | None = None, container=None):
    """A selectbox synced with ``?key=...`` (for page-level switches that are not Config fields)."""
    box = container or st.sidebar
    default = options[0] if default is None else default
    if key not in st.session_state:
        raw = st.query_params.get(key)
        if raw is not None and raw not in [str(o) for o in options]:
            st.warning(f"Ignored `{key}={raw}` from the link: choose one of {', '.join(map(str, options))}.")
        st.session_state[key] = next((o for o in options if str(o) == raw), default)
    v = box.selectbox(label, options, key=key, help=help)
    if v == default:
        if key in st.query_params:
            del st.query_params[key]
    else:
        st.query_params[key] = str(v)
    return v


def load(values: dict, prefix: str = "") -> None:
    """Load field values into the sidebar widgets (e.g. a clicked phase-diagram cell) and rerun."""
    st.session_state[_PENDING] = {prefix + k: v for k, v in values.items()}
    st.rerun()
