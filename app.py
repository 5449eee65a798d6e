"""Learning Mechanics Lab: the entry point (``streamlit run app.py``).

Builds the navigation from the files in ``pages/`` (``N_Title_words.py``, ordered by N) and
serves the home page: what the app is for, the strands of learning mechanics with their labs,
the version, the JAX backend and the cache.
"""

from __future__ import annotations

import os
import pathlib

import streamlit as st

ROOT = pathlib.Path(__file__).parent
from ui import present  # noqa: E402

st.set_page_config(
    page_title="Learning Mechanics Lab",
    page_icon=":material/science:",
    layout="wide",
    initial_sidebar_state="collapsed" if present.read_flag() else "auto",
)

# strand, page file stem, what you see there
STRANDS = [
    (
        "Solvable settings",
        "1_Deep_linear_networks",
        "stage-like learning of singular modes, with the Saxe closed form drawn over the simulation",
    ),
    (
        "Tractable limits",
        "2_Lazy_vs_rich",
        "the width x output-scale phase diagram of feature learning and its alpha*sqrt(width) boundary",
    ),
    (
        "Empirical laws",
        "3_Edge_of_stability",
        "sharpness rising to 2/lr and hovering there; gradient flow and central flow; catapults",
    ),
    (
        "Empirical laws",
        "4_Scaling_laws",
        "loss vs size, data and compute; power-law fits with intervals; solvable random-feature theory",
    ),
    (
        "Hyperparameter theory",
        "5_Hyperparameter_transfer",
        "the best learning rate stays put across width under muP and drifts under standard parametrization",
    ),
    (
        "Universality",
        "6_Representation_alignment",
        "do different networks learn the same representation? CKA and mutual k-NN with a null baseline",
    ),
]


def page_title(path: pathlib.Path) -> str:
    stem = path.stem
    return stem.split("_", 1)[1].replace("_", " ") if "_" in stem and stem.split("_", 1)[0].isdigit() else stem


def lab_pages() -> list[pathlib.Path]:
    return sorted((ROOT / "pages").glob("[0-9]*_*.py"), key=lambda p: int(p.stem.split("_", 1)[0]))


def home() -> None:
    import engine
    from engine import cache
    from ui import run

    st.title("Learning Mechanics Lab")
    st.markdown(
        "Touch the emerging science of deep learning. Each lab trains small networks with a JAX engine "
        "and draws **the experiment and the theory's prediction on the same axes**, live while it trains, "
        "and as phase diagrams over two hyperparameters. Every view is a shareable link, every figure's "
        "data downloads, and every run reproduces from Python.\n\n"
        "The labs follow the five strands of *learning mechanics* (Simon et al. 2026, "
        "[There Will Be a Scientific Theory of Deep Learning](https://arxiv.org/abs/2604.21691)):"
    )
    present = {p.stem: p for p in lab_pages()}
    for strand, stem, what in STRANDS:
        if stem in present:
            c1, c2 = st.columns([1, 3])
            c1.page_link(str(present[stem].relative_to(ROOT)), label=page_title(present[stem]))
            c2.markdown(f"**{strand}**: {what}.")
    other = [p for s, p in present.items() if s not in {x[1] for x in STRANDS}]
    for p in other:
        st.page_link(str(p.relative_to(ROOT)), label=page_title(p))
    st.divider()
    info = engine.backend_info()
    stats = cache.stats()
    q = run.manager().stats()
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Version", engine.__version__)
    c2.metric("JAX backend", f"{info['backend']} x{info['n_devices']}")
    c3.metric("Cached results", f"{stats['entries']} ({stats['bytes'] / 2**20:.1f} MiB)")
    c4.metric("Running / queued", f"{q['running']} / {q['queued']}")
    st.caption(f"JAX {info['jax_version']}; devices: {', '.join(info['devices'])}; cache at `{stats['path']}`.")
    st.markdown(
        "**Conventions in every lab** (unless the page says otherwise): an MLP's *depth* is its number of "
        "hidden layers; standard parametrization draws weights with variance 1/fan_in; the loss is "
        "L = (1/2m) sum_i ||f(x_i) - y_i||^2 over m examples; time is lr x steps."
    )
    if os.environ.get("LML_ALLOW_CLEAR_CACHE") == "1":
        with st.expander("Operator"):
            if st.button("Clear the result cache"):
                cache.clear()
                st.success("Cache cleared.")


st.session_state[present.APP_FLAG] = True
present.apply()
present.toggle()
pages = [st.Page(home, title="Home", icon=":material/home:", default=True)]
pages += [st.Page(str(p.relative_to(ROOT)), title=page_title(p)) for p in lab_pages()]
st.navigation(pages).run()
