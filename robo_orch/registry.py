"""Implementations registered by name: behaviors, input adapters, drivers, kinematics,
simulator backends, buses, clocks.

The framework never imports ``drivers/``, ``behaviors/`` or ``sim/`` by module path:
config names an implementation (``kind = "go_to_goal"``, ``sim.backend = "lockstep"``)
and the registry finds it, importing its module only when it is chosen.

Where names come from, per group (python-can's ``BACKENDS`` pattern):

* :data:`BUILTINS`, a table in this module (name -> ``"module:attr"``), so a fresh
  clone finds every built-in without an install;
* the entry points of the group's name (``robo_orch.behaviors`` ...), so an
  installed package adds its own.  An entry point whose name is a built-in's is
  ignored: built-ins (``stop``, ``zmq``, ``motor_bridge`` ...) cannot be replaced by
  installing a package; :func:`shadowed` lists such entry points;
* ``module:attr``, or a ``.py`` file (relative to ``base_dir``, optionally
  ``file.py:attr``): for quick experiments.  A file without ``:attr`` must define
  exactly one subclass of the group's base class (:data:`BASES`).

Every plugin class follows one convention, whatever its group: ``kind`` is its
registry name (the word a config writes) and ``Params`` the dataclass of its own
parameters validated from config (None where the group is configured otherwise:
backends, buses and clocks).  :func:`load` refuses a class without them.

This is a leaf module: it imports no seam; base classes are named by string in
:data:`BASES` and imported only to load a ``.py`` plugin.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from robo_orch.errors import RegistryError

BEHAVIORS = "robo_orch.behaviors"
SIM_BACKENDS = "robo_orch.sim_backends"
BUSES = "robo_orch.buses"
CLOCKS = "robo_orch.clocks"
DRIVERS = "robo_orch.drivers"
#: message types of installed packages (see :func:`robo_orch.messages.load_plugin_types`)
MESSAGES = "robo_orch.messages"
KINEMATICS = "robo_orch.kinematics"
#: input adapters (:mod:`robo_orch.adapter`): a message type into world names
ADAPTERS = "robo_orch.adapters"
#: extra sections of ``robo-orch bench``: ``fn(quick: bool) -> dict`` printing its own table
BENCHMARKS = "robo_orch.benchmarks"

#: the built-in implementations of each group: name -> "module:attr"
BUILTINS: dict[str, dict[str, str]] = {
    BEHAVIORS: {
        "avoid_obstacles": "robo_orch.behaviors.avoid_obstacles:AvoidObstacles",
        "follow_path": "robo_orch.behaviors.follow_path:FollowPath",
        "go_to_goal": "robo_orch.behaviors.go_to_goal:GoToGoal",
        "plan_path": "robo_orch.behaviors.plan_path:PlanPath",
        "recover": "robo_orch.behaviors.recover:Recover",
        "stop": "robo_orch.behaviors.stop:Stop",
    },
    ADAPTERS: {
        "body_velocity": "robo_orch.adapters.body_velocity:BodyVelocity",
        "gps_fix": "robo_orch.adapters.gps_fix:GpsFix",
        "imu_gyro": "robo_orch.adapters.imu_gyro:ImuGyro",
        "laser_points": "robo_orch.adapters.laser_points:LaserPoints",
        "wheel_speeds": "robo_orch.adapters.wheel_speeds:WheelSpeeds",
    },
    DRIVERS: {
        "motor_bridge": "robo_orch.drivers.motor_bridge:MotorBridgeDriver",
        "nmea_gps": "robo_orch.drivers.nmea:NmeaGpsDriver",
        "rplidar": "robo_orch.drivers.rplidar:RplidarDriver",
        "witmotion_imu": "robo_orch.drivers.witmotion:WitmotionImuDriver",
    },
    KINEMATICS: {
        "diff_drive": "robo_orch.kinematics.wheeled:DiffDrive",
        "holonomic": "robo_orch.kinematics.holonomic:Holonomic",
        "skid_steer": "robo_orch.kinematics.wheeled:SkidSteer",
    },
    SIM_BACKENDS: {
        "lockstep": "robo_orch.sim.lockstep:LockstepBackend",
        "realtime": "robo_orch.sim.realtime:RealtimeBackend",
    },
    BUSES: {
        "memory": "robo_orch.bus.memory:MemoryBus",
        "zmq": "robo_orch.bus.zmq_bus:ZmqBus",
    },
    CLOCKS: {
        "perf": "robo_orch.clock:PerfClock",
        "sim": "robo_orch.clock:SimClock",
        "wall": "robo_orch.clock:WallClock",
    },
    BENCHMARKS: {
        "adapters": "robo_orch.bench.adapters:bench_adapters",
        "bases": "robo_orch.bench.bases:bench_section",
        "curve": "robo_orch.bench.curve:bench_curve",
        "devices": "robo_orch.bench.devices:bench_devices",
        "dwa": "robo_orch.bench.dwa:bench_section",
        "faults": "robo_orch.bench.faults:bench_faults",
        "flood": "robo_orch.bench.flood:bench_flood",
        "navigation": "robo_orch.bench.nav:bench_navigation",
        "orphans": "robo_orch.bench.orphans:bench_orphans",
        "params": "robo_orch.bench.params:bench_params",
        "parsers": "robo_orch.bench.fuzz:bench_fuzz",
        "recording": "robo_orch.bench.record:bench_recording",
        "runner": "robo_orch.bench.runner:bench_runner",
        "throughput": "robo_orch.bench.ab:bench_throughput",
    },
}

#: the base class of each group's plugins ("module:attr"); benchmarks are functions
BASES: dict[str, str] = {
    BEHAVIORS: "robo_orch.behavior:Behavior",
    ADAPTERS: "robo_orch.adapter:InputAdapter",
    DRIVERS: "robo_orch.driver:Driver",
    KINEMATICS: "robo_orch.kinematics.base:Kinematics",
    SIM_BACKENDS: "robo_orch.backend:SimBackend",
    BUSES: "robo_orch.bus.base:Bus",
    CLOCKS: "robo_orch.clock:Clock",
}

_GROUP_WORDS = {BEHAVIORS: "behavior", ADAPTERS: "input adapter",
                SIM_BACKENDS: "simulator backend", BUSES: "bus backend", CLOCKS: "clock",
                DRIVERS: "driver", KINEMATICS: "kinematics", BENCHMARKS: "benchmark"}
#: groups whose plugins are dataclass-configured from their own config table
_PARAMS_REQUIRED = (BEHAVIORS, DRIVERS, ADAPTERS)


def _plugin_entry_points(group: str) -> list[EntryPoint]:
    """The group's entry points, in a stable order."""
    return sorted(entry_points(group=group), key=lambda ep: (ep.name, ep.value))


def names(group: str) -> list[str]:
    """Registered names in a group (built-ins and entry points), sorted."""
    return sorted(set(BUILTINS.get(group, {})) | {ep.name for ep in entry_points(group=group)})


def shadowed(group: str) -> list[str]:
    """Entry points ignored because a built-in has their name (``name = module:attr``)."""
    builtins = BUILTINS.get(group, {})
    return [f"{ep.name} = {ep.value}" for ep in _plugin_entry_points(group)
            if ep.name in builtins and ep.value.replace(" ", "") != builtins[ep.name]]


def load(group: str, name: str, *, base_dir: Path | None = None) -> Any:
    """The object registered as ``name`` in ``group`` (see the module docstring).

    ``name`` may also be ``module:attr``, or a path to a ``.py`` file (relative to
    ``base_dir``), optionally ``file.py:attr``.
    """
    target = BUILTINS.get(group, {}).get(name)
    if target is not None:
        return _check(group, name, _import(group, name, target))
    for ep in _plugin_entry_points(group):
        if ep.name == name:
            try:
                obj = ep.load()
            except Exception as err:  # a broken plugin must not look like a missing one
                raise RegistryError(f"{_word(group)} '{name}' failed to load from {ep.value}: "
                                    f"{_one_line(err)}") from err
            return _check(group, name, obj)
    file, sep, attr = name.partition(".py:")
    if sep or name.endswith(".py"):
        return _check(group, name, _load_file(group, file + ".py" if sep else name, attr,
                                              base_dir))
    if ":" in name:
        return _check(group, name, _import(group, name, name))
    known = names(group)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise RegistryError(f"unknown {_word(group)} '{name}' (known: {', '.join(known) or 'none'})"
                        f"{hint}")


def create(group: str, name: str, *args: Any, **options: Any) -> Any:
    """An instance of the class registered as ``name``: ``cls(*args, **options)``.

    Options the class does not take are refused with a :class:`RegistryError`
    that lists the ones it takes (python-can's ``Bus(interface=..., **kwargs)``).
    """
    cls = load(group, name)
    try:
        inspect.signature(cls).bind(*args, **options)
    except TypeError as err:
        takes = [p for p in inspect.signature(cls).parameters if p not in ("self", "args")]
        raise RegistryError(f"{_word(group)} '{name}': {err} (it takes: "
                            f"{', '.join(takes) or 'nothing'})") from None
    return cls(*args, **options)


def _word(group: str) -> str:
    return _GROUP_WORDS.get(group, group)


def _import(group: str, name: str, target: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise RegistryError(f"cannot load {_word(group)} '{name}': {err}") from err
    except Exception as err:
        raise RegistryError(f"{_word(group)} '{name}' failed to load from {target}: "
                            f"{_one_line(err)}") from err
    try:
        return getattr(module, attr)
    except AttributeError:
        raise RegistryError(f"cannot load {_word(group)} '{name}': module {module_name} has "
                            f"no attribute '{attr}'") from None


def base_class(group: str) -> type | None:
    """The base class of a group's plugins (None for groups of functions)."""
    target = BASES.get(group)
    return None if target is None else _import(group, target, target)


def _load_file(group: str, name: str, attr: str, base_dir: Path | None) -> Any:
    path = Path(name)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise RegistryError(f"no such file: {path}")
    module_name = f"robo_orch_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RegistryError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # numba's cache needs the module importable by name
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise RegistryError(f"{path} failed to import: {_one_line(err)}") from err
    if attr:
        if not hasattr(module, attr):
            raise RegistryError(f"{path} defines no '{attr}'")
        return getattr(module, attr)
    base = base_class(group)
    if base is None:
        raise RegistryError(f"name the {_word(group)} in {path}: '{path.name}:function_name'")
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, base) and obj is not base
             and obj.__module__ == module_name]
    if len(found) != 1:
        raise RegistryError(f"{path} must define exactly one {base.__name__} subclass, "
                            f"found {len(found)} (or name it: '{path.name}:ClassName')")
    return found[0]


def _check(group: str, name: str, obj: Any) -> Any:
    """Refuse a plugin class that does not follow the convention (``kind``, ``Params``)."""
    if group not in BASES:
        return obj
    word = _word(group)
    base = base_class(group)
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise RegistryError(f"{word} '{name}' is {obj!r}, not a {base.__name__} subclass")
    renamed = [f"'{old}' is now '{new}'" for old, new in (("name", "kind"),
                                                           ("params_class", "Params"))
               if old in vars(obj) and new not in vars(obj)]
    if renamed:
        raise RegistryError(f"{word} '{name}' ({obj.__name__}) uses the old plugin attributes: "
                            f"{', '.join(renamed)}")
    if not isinstance(getattr(obj, "kind", None), str):
        raise RegistryError(f"{word} '{name}' ({obj.__name__}) must set 'kind', its registry "
                            "name")
    params = getattr(obj, "Params", None)
    if group in _PARAMS_REQUIRED and not dataclasses.is_dataclass(params):
        raise RegistryError(f"{word} '{name}' ({obj.__name__}) must set 'Params' to the "
                            "dataclass of its parameters")
    return obj


def _one_line(err: Exception, limit: int = 400) -> str:
    """An exception's message folded onto one line (numba's typing errors span many)."""
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."
