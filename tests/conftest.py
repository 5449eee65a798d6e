"""Test setup: strict JAX on CPU with two host devices, and a throwaway cache folder.

Set before jax is imported (pytest imports conftest first). ``LML_TEST_PLATFORM=gpu`` runs
the same engine tests on a GPU.
"""

import os
import tempfile

os.environ.setdefault("LML_CACHE_DIR", tempfile.mkdtemp(prefix="lml-test-cache-"))
os.environ["JAX_PLATFORMS"] = os.environ.get("LML_TEST_PLATFORM", "cpu")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

import engine  # noqa: E402,F401  (configures precision and the compile cache)
