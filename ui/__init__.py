"""Streamlit + plotly helpers for the lab pages. Never imports jax; calls the engine through ``ui.run``."""
