"""Refuse 32-bit ARM before pip resolves the dependencies (numba has no wheels there).

Everything else about the package is in pyproject.toml; this file only runs the
platform check of robo_orch/platforms.py (loaded by path: nothing is installed yet).
"""

import importlib.util
import sys
from pathlib import Path

from setuptools import setup

_spec = importlib.util.spec_from_file_location(
    "_robo_orch_platforms", Path(__file__).resolve().parent / "robo_orch" / "platforms.py")
_platforms = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_platforms)
_why = _platforms.unsupported()
if _why:
    sys.exit(f"robo-orch: cannot install: {_why}")

setup()
