"""Point numba's on-disk cache at a user-writable directory before numba is imported.

numba reads ``NUMBA_CACHE_DIR`` once, at import.  A read-only install (a system
package, a container image) would otherwise fail to cache, and every start would
recompile.  An explicit ``NUMBA_CACHE_DIR`` (or ``robo-orch --cache-dir``) wins.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """The per-user cache directory robo_orch uses for compiled kernels."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "robo_orch" / "numba"


def set_cache_dir(path: str | os.PathLike | None = None) -> None:
    """Choose numba's cache directory; must run before numba is imported."""
    if path is not None:
        os.environ["NUMBA_CACHE_DIR"] = str(path)
    elif "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = str(default_cache_dir())


set_cache_dir()
