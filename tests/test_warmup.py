"""``robo-orch warmup`` fills the cache directory it is given; later runs load from it."""

from __future__ import annotations

import os

import pytest
from helpers import cli


@pytest.mark.slow
def test_warmup_fills_the_given_cache_dir(tmp_path):
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    proc = cli("--cache-dir", str(cache), "warmup", timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    index_files = list(cache.rglob("*.nbi"))
    assert len(index_files) >= 20, [p.name for p in index_files]
    # a second process loads from that cache instead of compiling: nothing is added
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    proc = cli("-q", "--cache-dir", str(cache), "sim", "--lockstep", "--duration", "0.5",
               timeout=600, env=env)
    assert proc.returncode in (0, 1), proc.stderr
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    assert set(after) == set(before)
