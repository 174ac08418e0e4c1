"""Point numba's on-disk cache at a user-writable directory before numba is imported.

numba reads ``NUMBA_CACHE_DIR`` once, at import.  A read-only install (a system
package, a container image) would otherwise fail to cache, and every start would
recompile.  An explicit ``NUMBA_CACHE_DIR`` (or ``robo-orch --cache-dir``) wins;
the default is one directory per build of the sources (see
:func:`source_fingerprint`).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

_PACKAGES = ("robo_orch", "behaviors", "sim", "drivers")


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """A short hash of the installed sources' names, sizes and modification times.

    numba checks only the timestamp of the file that defines a cached function,
    not of the modules it inlines from (a behavior kernel inlines the field
    lookup), so after an upgrade a kernel could be loaded with stale inlined
    code.  Keying the cache directory by this fingerprint rules that out; it
    costs one ``stat`` per source file.
    """
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.blake2b(digest_size=6)
    for package in _PACKAGES:
        folder = root / package
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            st = path.stat()
            digest.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """The per-user cache directory robo_orch uses for compiled kernels."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "robo_orch" / "numba" / source_fingerprint()


#: in each default cache directory: which installation (source folder) made it
OWNER_FILE = "installation.txt"


def installation_root() -> str:
    """This installation's source folder: the key that tells its caches from others'."""
    return str(Path(__file__).resolve().parent.parent)


def mark_cache_dir(path: str | os.PathLike) -> None:
    """Write :data:`OWNER_FILE` into ``path`` (created) unless it is there; never raises.

    ``robo-orch warmup`` prunes only the directories marked with this installation's
    root: other installs on the machine (another venv, another clone, another user's
    ``XDG_CACHE_HOME``) keep their kernels.
    """
    owner = Path(path) / OWNER_FILE
    try:
        if owner.is_file():
            return
        owner.parent.mkdir(parents=True, exist_ok=True)
        owner.write_text(installation_root() + "\n")
    except OSError:
        pass  # a read-only cache: nothing to prune later either


def cache_owner(path: str | os.PathLike) -> str | None:
    """The installation root a cache directory is marked with (None: unmarked)."""
    try:
        return (Path(path) / OWNER_FILE).read_text().strip() or None
    except OSError:
        return None


def set_cache_dir(path: str | os.PathLike | None = None) -> None:
    """Choose numba's cache directory; must run before numba is imported."""
    if path is not None:
        os.environ["NUMBA_CACHE_DIR"] = str(path)
    elif "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = str(default_cache_dir())


def uses_default_cache() -> bool:
    """Whether numba's cache is this build's default directory (not one given)."""
    return os.environ.get("NUMBA_CACHE_DIR") == str(default_cache_dir())


set_cache_dir()
