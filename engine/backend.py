"""One place that configures JAX for the engine (called on ``import engine``)."""

from __future__ import annotations

import os
import sys

_DONE = False


def cache_dir() -> str:
    """Root of the on-disk cache: ``$LML_CACHE_DIR`` or ``./cache``."""
    return os.path.abspath(os.environ.get("LML_CACHE_DIR", "cache"))


def _backends_started() -> bool:
    """True once JAX has created its devices (XLA_FLAGS is read then, not at import)."""
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge._backends)
    except (ImportError, AttributeError):
        return True


def setup() -> None:
    """Configure XLA/JAX once. Host devices must be set before JAX creates its devices."""
    global _DONE
    if _DONE:
        return
    _DONE = True
    if not _backends_started():
        flags = os.environ.get("XLA_FLAGS", "")
        # One host device per core lets sweeps shard cells over cores (measured faster
        # than one device with intra-op threads). LML_HOST_DEVICES overrides; 1 disables.
        if "xla_force_host_platform_device_count" not in flags:
            n = int(os.environ.get("LML_HOST_DEVICES", min(os.cpu_count() or 1, 8)))
            if n > 1:
                os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
        if os.environ.get("LML_PLATFORM"):  # e.g. LML_PLATFORM=cpu to force CPU on a GPU host
            os.environ.setdefault("JAX_PLATFORMS", os.environ["LML_PLATFORM"])
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
    if os.environ.get("LML_COMPILE_CACHE", "1") != "0":
        path = os.path.join(cache_dir(), "jax_compile")
        try:
            os.makedirs(path, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", path)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        except OSError:  # read-only location: run without the persistent compile cache
            pass


def info() -> dict:
    """Backend, devices and cache location, for the home page and the CLI."""
    import jax

    devs = jax.devices()
    return {
        "backend": jax.default_backend(),
        "devices": [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in devs],
        "n_devices": len(devs),
        "cache_dir": cache_dir(),
        "jax_version": jax.__version__,
    }


def backend_name() -> str:
    import jax

    return jax.default_backend()
