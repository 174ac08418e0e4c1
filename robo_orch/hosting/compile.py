"""Cold start: compile the kernels a run needs in two processes when numba's cache is empty.

numba compiles a kernel when its module is imported (fixed signatures) and caches
it on disk; with an empty cache (the first start, and every start after an
install or upgrade) that is most of the start-up, one kernel after another.  Before
``sim`` or ``run`` starts, :func:`precompile` checks the cache for the modules the
run will import (only those: the config's behaviors, the simulator only for
``sim``; grid and A* only when ``plan_path`` is configured).  If any is
missing, one helper process (``python -m robo_orch.hosting.compile``) compiles the
second half of the import order into the cache while this process compiles the
first half; then the run imports everything from the cache.  One progress line
says so: ``compiling kernels (n/N)...``.

The two halves end within a few tenths of a second of each other in a cold start
of the demo (``split`` gives each half's CPU time alone, where each compiles what
the other would have cached for it), and neither needs the other's kernels: this
process takes the distance field, the safety layer (the round robot's kernel, a
polygon footprint's or a holonomic base's for such a robot, with the stopping
rollouts, ramps and odometry frame it calls), the scan input's adapter and the path
follower (:data:`HERE`); the helper takes the estimator (with a holonomic base's
lateral-speed filter and a GPS's position fixes only for robots that have them),
scheduling and the mission kernel, the finiteness check, the odometry and IMU inputs'
adapters, arbitration, the simulator (a holonomic base's too, and the moving
obstacles' kernel only for a world that has them) and the config's other behaviors.
Nothing in one share may import a module of the other (each would compile it again,
at the same time): the simulator, for one, does not import the safety kernels.
``ROBO_ORCH_COMPILE_JOBS=1`` (or a single CPU) compiles everything here, one after
another, as before.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from robo_orch import lifeline

JOBS_ENV = "ROBO_ORCH_COMPILE_JOBS"
#: compiled here, in this order (the order the run imports them)
SAFETY_ROUND = "robo_orch.core.safety"
SAFETY_FOOTPRINT = "robo_orch.core.safety_footprint"  # (a robot with robot.footprint)
MAIN_SHARE = ("robo_orch.core.field", SAFETY_ROUND, "robo_orch.adapters.laser_points")
#: compiled by the helper (behaviors and the simulator are added per run); the
#: behaviors come last, when this process has cached the distance field they use
HELPER_SHARE = ("robo_orch.core.estimator", "robo_orch.core.schedule",
                "robo_orch.core.mission", "robo_orch.core.finite",
                "robo_orch.adapters.wheel_speeds", "robo_orch.adapters.imu_gyro",
                "robo_orch.core.arbitrate")
# (the last six balance the shares, though the helper starts ~0.3 s later: with
# arbitration here the demo's cold compile ended 0.6-0.7 s sooner, python -m
# robo_orch.bench.process shares, two runs each way in turn)
#: the estimator's kernels for position fixes, by the helper after the estimator, only
#: for a robot with a ``gps`` input or an input whose adapter is ``gps_fix``
FIXES = "robo_orch.core.estimator_fix"
SIMULATOR = ("robo_orch.sim.simulator",)
#: a world's moving obstacles (the helper, after the simulator)
MOVERS = "robo_orch.sim.movers"
#: by ``robot.kinematics``, where a base differs from a wheeled one: (its safety kernel's
#: module, for this process; its estimator's, for the helper after the estimator; its
#: simulator's, for the helper, after SIMULATOR).  A plugin's kinematics compiles its own
#: kernels in the command.
BASES = {"holonomic": ("robo_orch.core.safety_holonomic", ("robo_orch.core.lateral",),
                       ("robo_orch.sim.omni",))}
#: built-in behaviors compiled here, after this process's share, to even the shares: the
#: path follower (in a cold start of the demo the helper, which also starts later, finished
#: ~1.5 s after this process with every behavior; ~0.3 s before it with only the DWA;
#: the small ones compile faster after the DWA, whose callees they share)
HERE = frozenset({"follow_path"})
#: the kernel modules the demo does not load, for ``warmup`` without a config: other
#: robots' safety kernels and the joint space's (this process, after its share: they call
#: its kernels) and simulators (the helper, after the simulator they import)
OTHER_ROBOTS = (SAFETY_FOOTPRINT, "robo_orch.core.safety_holonomic",
                "robo_orch.core.safety_joints")
OTHER_SIMULATORS = ("robo_orch.sim.omni", "robo_orch.sim.footprint", "robo_orch.sim.joints",
                    MOVERS)
#: the estimator's and arbitration's modules the demo does not load (the helper, where
#: arbitration compiles, before the simulators)
OTHER_ESTIMATORS = ("robo_orch.core.lateral", FIXES, "robo_orch.core.arbitrate_joints")


def jobs() -> int:
    """Processes that compile at once: ``$ROBO_ORCH_COMPILE_JOBS``, else 2 (1 on one CPU)."""
    try:
        return max(1, int(os.environ[JOBS_ENV]))
    except (KeyError, ValueError):
        return 2 if len(os.sched_getaffinity(0)) > 1 else 1


def _cached(module: str, cache_dir: Path) -> bool:
    """Whether numba's cache holds an index of ``module`` (its file's stem)."""
    stem = module.rsplit(".", 1)[1]
    return any(cache_dir.rglob(f"{stem}.*.nbi"))


def _raw_config(config_path: str | None, overrides: tuple[str, ...]) -> dict:
    """The config's raw tables, overrides applied (not validated)."""
    from robo_orch.config import embedded_config_path
    from robo_orch.config.source import apply_overrides, read_with_extends

    path = Path(config_path) if config_path else embedded_config_path("demo")
    if not path.exists() and path.suffix == "" and "/" not in str(path):
        path = embedded_config_path(str(path))
    raw = read_with_extends(path)
    apply_overrides(raw, overrides)
    return raw


def _robot(raw: dict) -> dict:
    robot = raw.get("robot")
    return robot if isinstance(robot, dict) else {}


def main_share(raw: dict) -> list[str]:
    """:data:`MAIN_SHARE` for the config's robot: the safety kernel of its base
    (:data:`BASES`), or of a polygon footprint, instead of the round robot's."""
    robot = _robot(raw)
    base = BASES.get(robot.get("kinematics"))
    safety = (base[0] if base else SAFETY_FOOTPRINT if robot.get("footprint")
              else SAFETY_ROUND)
    return [safety if m == SAFETY_ROUND else m for m in MAIN_SHARE]


def simulator_modules(raw: dict) -> list[str]:
    """:data:`SIMULATOR`, the simulator of the config's base (:data:`BASES`) and
    :data:`MOVERS` for a world with moving obstacles."""
    base = BASES.get(_robot(raw).get("kinematics"))
    world = raw.get("world")
    moving = isinstance(world, dict) and bool(world.get("moving"))
    return [*SIMULATOR, *(base[2] if base else ()), *((MOVERS,) if moving else ())]


def estimator_modules(raw: dict) -> list[str]:
    """The estimator's modules beyond :data:`HELPER_SHARE` that the config needs: a base's
    (:data:`BASES`), and :data:`FIXES` for a position input."""
    base = BASES.get(_robot(raw).get("kinematics"))
    inputs = raw.get("inputs")
    inputs = inputs if isinstance(inputs, dict) else {}
    fixes = "gps" in inputs or any(isinstance(t, dict) and t.get("adapter") == "gps_fix"
                                   for t in inputs.values())
    return [*(base[1] if base else ()), *((FIXES,) if fixes else ())]


def shares(raw: dict, *, simulator: bool) -> tuple[list[str], list[str]]:
    """(this process's share, the helper's) for a config's raw tables; the behaviors in
    the helper's, except those of :data:`HERE`."""
    behaviors = behavior_modules(raw)
    here = [b for b in behaviors if b.split(":", 1)[1] in HERE]
    return ([*main_share(raw), *here],
            [*HELPER_SHARE, *estimator_modules(raw), *(simulator_modules(raw) if simulator else ()),
             *(b for b in behaviors if b not in here)])


def everything() -> tuple[list[str], list[str]]:
    """Every built-in kernel module in two shares: the demo's, with :data:`OTHER_ROBOTS`
    here and :data:`OTHER_ESTIMATORS`, :data:`OTHER_SIMULATORS` and the other built-in
    behaviors in the helper."""
    from robo_orch import registry

    mine, helper = shares(_raw_config(None, ()), simulator=True)
    behaviors = [f"behavior:{kind}" for kind in sorted(registry.BUILTINS[registry.BEHAVIORS])]
    taken = {*mine, *helper}
    return ([*mine, *(m for m in OTHER_ROBOTS if m not in taken)],
            [*helper, *(m for m in (*OTHER_ESTIMATORS, *OTHER_SIMULATORS, *behaviors)
                        if m not in taken)])


def behavior_modules(raw: dict) -> list[str]:
    """``behavior:KIND`` for each built-in behavior the config names (its raw tables)."""
    from robo_orch import registry

    tables = raw.get("behaviors", {})
    kinds = {t.get("kind", name) for name, t in tables.items() if isinstance(t, dict)}
    builtins = registry.BUILTINS[registry.BEHAVIORS]
    # a plugin's kernel compiles in this process, when the config loads it
    return [f"behavior:{kind}" for kind in sorted(k for k in kinds if k in builtins)]


def precompile(config_path: str | None, overrides: tuple[str, ...], *, simulator: bool,
               quiet: bool = False) -> float | None:
    """Compile the run's kernels in parallel if the cache lacks them; seconds taken (or None).

    A config error is left to the command itself (it reports it in its usual line).
    The config's own kernels (plugins) and those compiled lazily on the first call
    still compile afterwards, in the command.
    """
    if jobs() < 2:
        return None
    try:
        mine, helper_share = shares(_raw_config(config_path, overrides), simulator=simulator)
    except Exception:  # a config error: the command reports it in its own words
        return None
    return compile_shares(mine, helper_share, quiet)


def compile_shares(mine: list[str], helper_share: list[str], quiet: bool = False) -> float | None:
    """Compile ``mine`` here while a helper process compiles ``helper_share``, if the cache
    lacks any of them (one after another here with one job); seconds taken, or None."""
    cache = Path(os.environ.get("NUMBA_CACHE_DIR", ""))
    if all(_cached(m, cache) for m in (*mine, *helper_share) if not m.startswith("behavior:")):
        return None
    t0 = time.perf_counter()
    progress = _Progress(len(mine) + len(helper_share), quiet)
    if jobs() < 2:
        for item in (*mine, *helper_share):
            _compile(item)
            progress.step()
    else:
        _compile_with_helper(mine, helper_share, progress)
    took = time.perf_counter() - t0
    progress.done(took)
    return took


def _compile_with_helper(mine: list[str], helper_share: list[str], progress: _Progress) -> None:
    """``mine`` here, ``helper_share`` in a helper process at the same time."""
    helper = lifeline.popen([sys.executable, "-m", "robo_orch.hosting.compile", *helper_share],
                            stdout=subprocess.PIPE, text=True)  # dies with this process
    reader = threading.Thread(target=progress.follow, args=(helper.stdout,), daemon=True)
    reader.start()
    try:
        for item in mine:
            _compile(item)
            progress.step()
        helper.wait()
        reader.join(5.0)
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait()


class _Progress:
    """``compiling kernels (n/N)...``: rewritten on a terminal, two lines in a log."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.n, self.quiet = total, 0, quiet
        self.tty = sys.stderr.isatty()
        self._lock = threading.Lock()
        self._show(first=True)

    def _show(self, first: bool = False) -> None:
        if self.quiet or not (self.tty or first):
            return
        text = (f"robo-orch: compiling kernels ({self.n}/{self.total})... (empty kernel cache: "
                "the first start after an install or upgrade)")
        sys.stderr.write(("\r" + text + "\033[K") if self.tty else text + "\n")
        sys.stderr.flush()

    def step(self) -> None:
        with self._lock:
            self.n += 1
            self._show()

    def follow(self, stream) -> None:
        for line in stream:
            if line.startswith("compiled "):
                self.step()

    def done(self, seconds: float) -> None:
        if self.quiet:
            return
        end = "\r" if self.tty else ""
        sys.stderr.write(f"{end}robo-orch: compiled {self.n}/{self.total} kernel modules in "
                         f"{seconds:.1f} s" + ("\033[K\n" if self.tty else "\n"))
        sys.stderr.flush()


def _compile(item: str) -> None:
    if item.startswith("behavior:"):
        from robo_orch import registry

        registry.load(registry.BEHAVIORS, item.split(":", 1)[1])
    else:
        importlib.import_module(item)


def main(argv: list[str] | None = None) -> int:
    """The helper: import (and so compile into the cache) each module named."""
    parser = argparse.ArgumentParser(prog="python -m robo_orch.hosting.compile")
    parser.add_argument("items", nargs="+", help="module names, or behavior:KIND")
    args = parser.parse_args(argv)
    lifeline.attach()
    from robo_orch import _numba_env  # noqa: F401  (the cache directory, before numba)

    for item in args.items:
        t0 = time.process_time()
        _compile(item)
        print(f"compiled {item} {time.process_time() - t0:.2f}", flush=True)  # CPU seconds
    return 0


if __name__ == "__main__":
    status = main()
    # the cache files are written: skip the interpreter's teardown (numba's takes ~0.6 s,
    # and the run waits for this process to end)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
