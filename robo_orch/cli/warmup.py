"""``robo-orch warmup``: compile every kernel into numba's cache before deployment."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from robo_orch import _numba_env


def add_parser(sub) -> None:
    """Register ``warmup``."""
    sub.add_parser("warmup", help="compile and cache every kernel").set_defaults(func=run_warmup)


def run_warmup(args: argparse.Namespace) -> int:
    """Run ``warmup``."""
    return warmup_all(quiet=args.quiet)


def warmup_all(quiet: bool = False) -> int:
    """Load every registered behavior and backend, run each kernel once, prune old caches."""
    from robo_orch import registry

    t0 = time.perf_counter()
    from robo_orch.config import load_config
    from robo_orch.missions.session import run_mission

    for name in registry.names(registry.BEHAVIORS):
        registry.load(registry.BEHAVIORS, name)  # eager signatures compile at import
    config = load_config(None)
    # a one-second lockstep mission runs the sense, plan and act kernels and the
    # simulator's physics, sensor and ray-casting kernels
    run_mission(config, backend="lockstep", duration_s=1.0)
    if _numba_env.uses_default_cache():
        _numba_env.mark_cache_dir(os.environ["NUMBA_CACHE_DIR"])
    removed = prune_other_builds()
    if not quiet:
        print(f"kernels compiled and cached in {os.environ.get('NUMBA_CACHE_DIR')} "
              f"({time.perf_counter() - t0:.1f} s)")
        if removed:
            print(f"removed {len(removed)} cache directories of earlier builds of this "
                  "installation")
    return 0


def prune_other_builds() -> list[Path]:
    """Delete this installation's cache directories of its earlier builds (after upgrades).

    Only the default cache root is looked at, only when the current cache is in it,
    and only directories marked as made by this installation
    (:func:`robo_orch._numba_env.mark_cache_dir`) are removed: another install on
    the same machine shares the root (one directory per build of its sources) and
    keeps its kernels.  Unmarked directories (made before marking, or by hand) stay.
    """
    current = Path(os.environ.get("NUMBA_CACHE_DIR", ""))
    root = _numba_env.default_cache_dir().parent
    if current.parent != root or not root.is_dir():
        return []
    mine = _numba_env.installation_root()
    removed = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and folder != current and _numba_env.cache_owner(folder) == mine:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
