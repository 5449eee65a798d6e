"""Run a benchmark's phases (cold, cold results with a warm compile cache, warm) in fresh processes.

Each phase is ``python <script> --child <phase>`` with one throwaway ``LML_CACHE_DIR``: "cold" starts
from empty result and compile caches, "recompute" deletes the results but keeps JAX's compile cache,
"warm" reads everything back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Callable


def main(script: str, child: Callable[[str], None], prefix: str) -> None:
    """Entry point for a phased benchmark script (``child(phase)`` runs one phase)."""
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    root = tempfile.mkdtemp(prefix=prefix)
    env = dict(os.environ, LML_CACHE_DIR=root)
    try:
        for phase in ("cold", "recompute", "warm"):
            if phase == "recompute":
                shutil.rmtree(os.path.join(root, "results"), ignore_errors=True)
            subprocess.run([sys.executable, script, "--child", phase], env=env, check=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
