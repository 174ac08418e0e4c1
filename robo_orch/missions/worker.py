"""The worker side of the warm-worker runner: one instance in, one outcome out.

:func:`execute` is the function every worker process (or the runner's own process,
or a Dask worker) calls: a plain importable function taking an
:class:`~robo_orch.missions.runner.Instance` and returning an
:class:`~robo_orch.missions.runner.Outcome`, both small picklable records.  It
never raises: an exception in the job is caught and reported in the outcome.

A worker stays alive across instances, so what a run needs but does not change is
kept here, per process, and reused:

* loaded configs, per (file, its modification time, overrides, layout seed);
* shortest possible path lengths, per resolved world, start, waypoints, radius
  and tolerance (one Dijkstra per world, not per run);
* which kernels are compiled: :meth:`Controller.warmup` runs once per set of
  behavior kinds, not once per run (it only compiles; it changes no state).

Nothing else is carried from one run to the next: every run builds its simulator,
bus, controller and planner afresh, so a run in a warm worker is bit-identical to
``robo-orch sim CONFIG --lockstep --seed S`` in a new process (the tests check it).

A *job* is what a worker does with an instance: a function ``job(instance) -> value``
named in :data:`JOBS` or as ``"module:function"``.  It loads its config with
:func:`config_for` and runs missions with :func:`run`, which counts the simulated
time the runner reports.
"""

from __future__ import annotations

import copy
import importlib
import os
import time
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robo_orch.config import Config
    from robo_orch.missions.instance import Instance, Outcome
    from robo_orch.missions.session import MissionResult

#: built-in jobs: name -> "module:function"
JOBS: dict[str, str] = {
    "mission": "robo_orch.missions.worker:mission_job",
    "scenario": "robo_orch.missions.scenarios:scenario_job",
    "faults": "robo_orch.missions.faults:faults_job",
}
#: configs kept per worker (each is a few hundred kB at most)
_MAX_CONFIGS = 64

_configs: OrderedDict[tuple, Config] = OrderedDict()
_shortest: dict[tuple, float] = {}
_warmed: set[tuple] = set()
_jobs: dict[str, Any] = {}
_sim_s = 0.0


def execute(instance: Instance) -> Outcome:
    """Run one instance's job here; the outcome carries its value or its error."""
    from robo_orch.missions.instance import Outcome

    global _sim_s
    _sim_s = 0.0
    t0 = time.perf_counter()
    try:
        value = job_function(instance.job)(instance)
        error = None
    except Exception as err:  # one bad instance must not take the others down
        value = None
        error = f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=-8)}"
    return Outcome(instance=instance, value=value, error=error,
                   wall_s=time.perf_counter() - t0, sim_s=_sim_s, worker=os.getpid())


def job_function(name: str) -> Any:
    """The function of a job name (:data:`JOBS`) or ``"module:function"``."""
    fn = _jobs.get(name)
    if fn is None:
        target = JOBS.get(name, name)
        module, sep, attr = target.partition(":")
        if not sep:
            raise ValueError(f"unknown job {name!r}: use one of {', '.join(sorted(JOBS))} "
                             "or 'module:function'")
        fn = _jobs[name] = getattr(importlib.import_module(module), attr)
    return fn


def clear_caches() -> None:
    """Forget every cached config, shortest path and warmed behavior set (benchmarks)."""
    _configs.clear()
    _shortest.clear()
    _warmed.clear()


def preload() -> None:
    """Import and load the lockstep simulator and the loop's kernels (a worker's start)."""
    from robo_orch import registry
    from robo_orch.missions import session  # noqa: F401  (the loop, the controller)

    registry.load(registry.SIM_BACKENDS, "lockstep")


# --- what a job calls ------------------------------------------------------------------

def overrides_for(instance: Instance) -> tuple[str, ...]:
    """The instance's overrides, plus ``sim.seed`` when its layout follows its seed."""
    seed = (f"sim.seed={instance.seed}",) if instance.layout_from_seed else ()
    return (*instance.overrides, *seed)


def config_for(instance: Instance) -> Config:
    """The instance's validated config (cached in this process; do not modify it)."""
    from robo_orch.config import Config, load_config
    from robo_orch.config.load import apply_overrides, build_config

    overrides = overrides_for(instance)
    src = instance.config
    if isinstance(src, Config):
        if not overrides:
            return src
        raw = copy.deepcopy(src.raw)
        apply_overrides(raw, overrides)
        return build_config(raw, source=src.source, base_dir=Path(src.source).parent)
    try:
        stamp = os.stat(src).st_mtime_ns if src is not None else 0
    except OSError:
        stamp = 0  # a shipped scenario's name
    key = (src, stamp, overrides)
    config = _configs.get(key)
    if config is None:
        config = _configs[key] = load_config(src, overrides)
        if len(_configs) > _MAX_CONFIGS:
            _configs.popitem(last=False)
    else:
        _configs.move_to_end(key)
    return config


def shortest(config: Config) -> float:
    """The shortest possible path of a config's mission (cached per world in this process)."""
    from robo_orch.missions.report import shortest_path_length

    m = config.mission
    world = config.world.resolve(config.sim.seed, m.start[:2])
    key = (world, tuple(m.start), tuple(map(tuple, m.waypoints)), config.robot.radius,
           m.goal_tolerance)
    length = _shortest.get(key)
    if length is None:
        length = _shortest[key] = shortest_path_length(world, m.start, m.waypoints,
                                                       config.robot.radius, m.goal_tolerance)
    return length


def run(config: Config, seed: int, **kwargs: Any) -> MissionResult:
    """One lockstep mission (``run_mission``'s keywords), counted in the outcome's sim time.

    Compiles (or loads) kernels only the first time this process meets the
    config's set of behaviors.
    """
    from robo_orch.missions.session import run_mission

    global _sim_s
    kinds = tuple(sorted(f"{b.cls.__module__}:{b.cls.__qualname__}" for b in config.behaviors))
    warm = kinds in _warmed
    result = run_mission(config, backend="lockstep", seed=seed, warmup=not warm, **kwargs)
    if result.signal is not None:  # Ctrl-C ended the mission: end the whole run
        raise KeyboardInterrupt
    _warmed.add(kinds)
    _sim_s += result.truth.sim_time_s
    return result


def mission_job(instance: Instance) -> dict[str, Any]:
    """The plain mission: its JSON summary (``robo-orch sim --summary``), with the
    shortest path and ``path_ratio``."""
    from robo_orch.missions.report import summarize

    config = config_for(instance)
    result = run(config, instance.seed)
    return summarize(result, shortest(config))
