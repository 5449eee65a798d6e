"""Learning Mechanics Lab engine: pure JAX + numpy experiments behind a disk cache.

Importing ``engine`` configures JAX once for the whole process (see ``engine.backend``):
full float32 matmul precision (so CPU and GPU agree), the persistent compilation cache
under the cache folder, and on CPU one host device per core (sweeps shard over them).
It never imports streamlit or plotly.
"""

from engine import backend as _backend

_backend.setup()

from engine.config import ConfigBase, ConfigError, param  # noqa: E402

__all__ = ["ConfigBase", "ConfigError", "param", "backend_info", "__version__"]
__version__ = "0.1.0"


def backend_info() -> dict:
    """Backend name, device list and compilation-cache folder of this process."""
    return _backend.info()
