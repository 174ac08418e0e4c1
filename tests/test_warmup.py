"""``robo-orch warmup`` fills the cache directory it is given; later runs load from it."""

from __future__ import annotations

import os
import subprocess
import sys

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
    # and the kernels of robots other than the demo's (which loads none of these)
    for stem in ("safety_footprint", "safety_holonomic", "safety_joints", "footprint"):
        assert list(cache.rglob(f"{stem}.*.nbi")), stem
    # a second process loads from that cache instead of compiling: nothing is added
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    proc = cli("-q", "--cache-dir", str(cache), "sim", "--lockstep", "--duration", "0.5",
               timeout=600, env=env)
    assert proc.returncode in (0, 1), proc.stderr
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    assert set(after) == set(before)


def test_warmup_prunes_only_this_installations_old_caches(tmp_path, monkeypatch):
    """Two other installs share the cache root: their directories stay."""
    from robo_orch import _numba_env
    from robo_orch.cli.warmup import prune_other_builds

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    current = _numba_env.default_cache_dir()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(current))
    root = current.parent
    mine = _numba_env.installation_root()
    made = {"current": (current, mine), "old_build": (root / "0123456789ab", mine),
            "other_venv": (root / "ba9876543210", "/opt/robot/venv/lib/python3.11/site-packages"),
            "other_clone": (root / "aaaaaaaaaaaa", "/home/pi/robo_orch"),
            "unmarked": (root / "bbbbbbbbbbbb", None)}
    for folder, owner in made.values():
        folder.mkdir(parents=True)
        (folder / "kernel.nbi").write_bytes(b"x")
        if owner is not None:
            (folder / _numba_env.OWNER_FILE).write_text(owner + "\n")
    removed = prune_other_builds()
    assert removed == [made["old_build"][0]]
    left = {p.name for p in root.iterdir()}
    assert left == {made[k][0].name for k in ("current", "other_venv", "other_clone", "unmarked")}


def test_a_command_marks_the_default_cache_as_this_installations(tmp_path):
    from robo_orch import _numba_env

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    # any command marks it (`ports` compiles nothing: the mark is not the compiler's)
    assert cli("ports", env=env).returncode == 0
    (owner,) = tmp_path.glob(f"robo_orch/numba/*/{_numba_env.OWNER_FILE}")
    assert owner.read_text().strip() == _numba_env.installation_root()
    # a cache directory given explicitly is the user's own business: not marked
    given = tmp_path / "given"
    given.mkdir()
    assert cli("--cache-dir", str(given), "ports", env=env).returncode == 0
    assert not (given / _numba_env.OWNER_FILE).exists()


@pytest.mark.slow
def test_a_cold_start_compiles_in_two_processes_and_says_so_once(tmp_path):
    """Empty cache: one progress line, both halves in the cache; then a warm start is silent."""
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["ROBO_ORCH_COMPILE_JOBS"] = "2"
    # (a global option after the command: it still sets the cache before numba loads)
    argv = ("sim", "--lockstep", "--duration", "0.2", "--cache-dir", str(cache))
    proc = cli(*argv, timeout=900, env=env)
    assert proc.returncode == 1, proc.stderr  # 0.2 s: the goal is not reached
    compiling = [line for line in proc.stderr.splitlines() if "compiling kernels" in line]
    assert len(compiling) == 1 and "(0/" in compiling[0], proc.stderr
    (done,) = [line for line in proc.stderr.splitlines() if "kernel modules in" in line]
    n, total = done.split("compiled ")[1].split(" ")[0].split("/")
    assert n == total and int(total) >= 8  # field, safety here; the rest and 4 behaviors
    for stem in ("safety", "estimator", "simulator", "avoid_obstacles"):
        assert list(cache.rglob(f"{stem}.*.nbi")), stem
    # the demo plans no paths (no A*), has no GPS (no position fixes), does not move
    # sideways (no lateral speed filter) and has no moving obstacles
    for stem in ("pathplan", "estimator_fix", "lateral", "movers"):
        assert not list(cache.rglob(f"{stem}.*.nbi")), stem
    again = cli(*argv, timeout=900, env=env)
    assert again.returncode == 1 and "compiling kernels" not in again.stderr


@pytest.mark.slow
def test_warmup_of_a_config_compiles_what_run_needs_and_no_simulator(tmp_path):
    import shutil

    from robo_orch.config import embedded_config_path

    shutil.copy(embedded_config_path("demo"), tmp_path / "demo.toml")
    config = shutil.copy(embedded_config_path("robot"), tmp_path / "robot.toml")
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    proc = cli("--cache-dir", str(cache), "warmup", str(config), timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr
    for stem in ("safety", "estimator", "estimator_fix", "field", "avoid_obstacles",
                 "follow_path"):  # (estimator_fix: this robot has a GPS)
        assert list(cache.rglob(f"{stem}.*.nbi")), stem
    for stem in ("simulator", "sensors", "pathplan", "grid", "lateral"):  # not for `run` here
        assert not list(cache.rglob(f"{stem}.*.nbi")), stem


def test_the_compile_share_takes_the_safety_kernel_of_the_configured_robot():
    """A round robot's start compiles the round kernel, a footprint's the footprint's (each
    import compiles one; compiling both would cost the other's seconds)."""
    from robo_orch.hosting import compile as kernels

    round_share = kernels.main_share({"robot": {"radius": 0.2}})
    rect = kernels.main_share({"robot": {"footprint": [[0.3, 0.2], [-0.3, 0.2], [-0.3, -0.2]]}})
    assert kernels.SAFETY_ROUND in round_share and kernels.SAFETY_FOOTPRINT not in round_share
    assert kernels.SAFETY_FOOTPRINT in rect and kernels.SAFETY_ROUND not in rect
    assert kernels.main_share({}) == list(kernels.MAIN_SHARE)
    holonomic = {"robot": {"kinematics": "holonomic", "footprint": [[0.3, 0.2], [-0.3, 0.2],
                                                                   [-0.3, -0.2]]}}
    share = kernels.main_share(holonomic)  # its kernel checks footprints itself
    assert "robo_orch.core.safety_holonomic" in share and kernels.SAFETY_ROUND not in share
    assert kernels.SAFETY_FOOTPRINT not in share
    assert kernels.simulator_modules(holonomic) == ["robo_orch.sim.simulator", "robo_orch.sim.omni"]
    assert kernels.simulator_modules({}) == ["robo_orch.sim.simulator"]
    assert kernels.simulator_modules({"world": {"moving": [{"radius": 0.3}]}}) \
        == ["robo_orch.sim.simulator", kernels.MOVERS]  # (only a world with moving obstacles)
    assert kernels.behavior_modules({"behaviors": {"avoid": {"kind": "avoid_obstacles"},
                                                   "mine": {"kind": "a_plugin"}}}) \
        == ["behavior:avoid_obstacles"]  # a plugin compiles in the command


def test_the_helper_compiles_the_estimators_extras_only_for_a_robot_that_has_them():
    """A holonomic base's lateral speed filter, a GPS's position-fix kernels: each only for
    a config that uses it (compiling them for every robot cost a cold start ~0.8 s)."""
    from robo_orch.hosting import compile as kernels

    assert kernels.estimator_modules({}) == []
    assert kernels.estimator_modules({"robot": {"kinematics": "holonomic"}}) \
        == ["robo_orch.core.lateral"]
    assert kernels.estimator_modules({"inputs": {"gps": {"topic": "sensor/gps"}}}) \
        == [kernels.FIXES]
    assert kernels.estimator_modules({"inputs": {"rtk": {"adapter": "gps_fix"}}}) \
        == [kernels.FIXES]
    _, demo = kernels.shares(kernels._raw_config(None, ()), simulator=True)
    assert kernels.FIXES not in demo and "robo_orch.core.lateral" not in demo
    _, robot = kernels.shares(kernels._raw_config("robot", ()), simulator=False)
    assert robot.index(kernels.FIXES) > robot.index("robo_orch.core.estimator")


def test_every_kernel_module_is_in_one_share_once():
    """`warmup` without a config: every built-in behavior, the other robots' safety kernels
    and simulators, none twice (two processes compiling one module waste its seconds)."""
    from robo_orch import registry
    from robo_orch.hosting import compile as kernels

    mine, helper = kernels.everything()
    both = [*mine, *helper]
    assert len(both) == len(set(both))
    assert {f"behavior:{k}" for k in registry.BUILTINS[registry.BEHAVIORS]} <= set(both)
    assert {*kernels.OTHER_ROBOTS, *kernels.OTHER_ESTIMATORS, *kernels.OTHER_SIMULATORS} \
        <= set(both)
    assert "behavior:follow_path" in mine  # (kernels.HERE: it evens the shares)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_compile_shares_fills_the_cache_in_one_process_or_two(tmp_path, jobs):
    code = ("from robo_orch.hosting import compile as k; "
            "print(k.compile_shares(['robo_orch.core.finite'], ['robo_orch.core.schedule']))")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), ROBO_ORCH_COMPILE_JOBS=jobs)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) > 0.0
    for stem in ("finite", "schedule"):
        assert list(tmp_path.rglob(f"{stem}.*.nbi")), stem
    assert proc.stderr.count("compiled 2/2 kernel modules") == 1
    # all cached: nothing to do
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=300, cwd=tmp_path)
    assert again.stdout.strip() == "None" and again.stderr == ""
