"""Presentation mode for lecturers (``?present=1``): larger type, sidebar collapsed, only the
figures and the sliders that matter. The flag sticks for the browser session across pages
(Streamlit clears the URL on a page switch) until ``?present=0`` or the sidebar toggle."""

from __future__ import annotations

import streamlit as st

KEY = "lml_present"
_CSS = """
<style>
html { font-size: 20px !important; }
h1 { font-size: 2.6rem !important; }
[data-testid="stMainBlockContainer"], .block-container { padding-top: 1.5rem; max-width: 100%; }
[data-testid="stCaptionContainer"] { font-size: 1.0rem; }
</style>
"""


def read_flag() -> bool:
    """Update the session's flag from the URL (call before ``st.set_page_config``); return it."""
    raw = st.query_params.get("present")
    if raw is not None:
        st.session_state[KEY] = raw.lower() in ("1", "true", "yes", "on")
    return bool(st.session_state.get(KEY, False))


def active() -> bool:
    return bool(st.session_state.get(KEY, False))


def apply() -> None:
    """Inject the presentation CSS and keep ``present=1`` in the shareable link."""
    if active():
        st.markdown(_CSS, unsafe_allow_html=True)
        st.query_params["present"] = "1"


def toggle() -> None:
    """Sidebar switch for presentation mode."""

    def flip():
        st.session_state[KEY] = st.session_state["lml_present_toggle"]
        if st.session_state[KEY]:
            st.query_params["present"] = "1"
        elif "present" in st.query_params:
            del st.query_params["present"]

    st.sidebar.toggle(
        "Presentation mode",
        value=active(),
        key="lml_present_toggle",
        on_change=flip,
        help="Larger type, sidebar collapsed, only the main figures and sliders. Link flag: ?present=1",
    )


def explain(markdown: str) -> None:
    """Page prose: shown normally, folded into an expander in presentation mode."""
    ensure_app_shell()
    if active():
        with st.expander("About this lab"):
            st.markdown(markdown)
    else:
        st.markdown(markdown)


APP_FLAG = "lml_app_shell"


def ensure_app_shell() -> None:
    """Rerun once if this page was started without ``app.py`` around it.

    On the very first script run of a server process, Streamlit still treats ``pages/`` as an
    old-style pages folder and runs a deep-linked page file on its own (no page config, no
    navigation) until ``app.py`` has called ``st.navigation`` once. Switch it off, as
    ``st.navigation`` does, and rerun once: ``app.py`` then serves the deep link.
    Pages opened directly (``streamlit run pages/x.py``, AppTest) are left alone.
    """
    if st.session_state.get(APP_FLAG):
        return
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    main = getattr(getattr(ctx, "pages_manager", None), "main_script_path", "") or ""
    if str(main).endswith("app.py"):
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False  # what app.py's st.navigation would have set
        st.session_state[APP_FLAG] = True  # guard: at most one rerun
        st.rerun()
