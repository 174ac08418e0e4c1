"""Load a TOML config into validated, typed objects.

``load_config(path, overrides)`` reads the file (or the embedded demo mission when
``path`` is None; :mod:`robo_orch.config.source`), applies ``--set key=value``
overrides, validates every section (:mod:`robo_orch.config.sections`) and every
behavior's own parameters, and checks the pieces against each other (waypoints
clear of obstacles, known names).  Any problem raises :class:`ConfigError` naming
the file, the dotted key and what is wrong; an override's error names the ``--set``
argument instead of the file.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robo_orch import registry, schema
from robo_orch.config.commands import (
    build_commands,
    check_behavior_spaces,
    check_command_topics,
)
from robo_orch.config.estimator import EstimatorConfig
from robo_orch.config.inputs import AdapterSpec, build_adapters, build_inputs
from robo_orch.config.layout import build_layout
from robo_orch.config.sections import (
    BehaviorEntry,
    BusConfig,
    InputConfig,
    LoopConfig,
    MissionConfig,
    PerceptionConfig,
    RobotConfig,
    SafetyConfig,
    SimConfig,
    SuccessConfig,
)
from robo_orch.config.source import apply_overrides, embedded_config_path, read_with_extends
from robo_orch.config.world import WorldConfig, world_clearance
from robo_orch.errors import ConfigError, RegistryError

_BEHAVIOR_KEYS = ("kind", "priority", "divisor", "enabled", "blendable", "space")


@dataclass(frozen=True)
class TopicsConfig:
    """Topics the loop publishes and listens to besides its inputs."""

    command: str = schema.option("cmd/velocity", doc="velocity commands to the actuators")
    estop: str = schema.option("cmd/estop", doc="e-stop engage/reset requests")
    truth: str = schema.option("sim/truth", doc="simulator ground truth (simulation only)")


@dataclass(frozen=True)
class BehaviorSpec:
    """One configured behavior: its class, scheduling and validated parameters."""

    name: str
    cls: type
    priority: int
    divisor: int
    enabled: bool
    blendable: bool
    params: Any
    #: the command space it proposes for: "base" or a ``[commands.NAME]``
    space: str = "base"


@dataclass(frozen=True)
class Config:
    """A whole validated configuration."""

    source: str
    loop: LoopConfig
    bus: BusConfig
    topics: TopicsConfig
    inputs: dict[str, InputConfig]
    safety: SafetyConfig
    robot: RobotConfig
    estimator: EstimatorConfig
    perception: PerceptionConfig
    sim: SimConfig
    world: WorldConfig
    mission: MissionConfig
    success: SuccessConfig
    behaviors: tuple[BehaviorSpec, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)
    #: hardware drivers (``[drivers.NAME]``), in file order
    drivers: dict[str, Any] = field(default_factory=dict)
    #: command spaces besides the base (``[commands.NAME]``), in file order
    commands: dict[str, Any] = field(default_factory=dict)
    #: where the behaviors' declared names live (:mod:`robo_orch.config.layout`);
    #: None when the config was loaded without behaviors
    layout: Any = field(default=None, repr=False, compare=False)
    #: the inputs with an input adapter, in file order (empty when loaded without
    #: behaviors: the adapters' kernels are not loaded then either)
    adapters: tuple[AdapterSpec, ...] = ()

    @property
    def joint_spaces(self) -> dict[str, Any]:
        """The ``joints`` command spaces (servos, a pan-tilt), by name, in file order."""
        return {name: space for name, space in self.commands.items() if space.kind == "joints"}


_SECTIONS: dict[str, type] = {
    "loop": LoopConfig, "bus": BusConfig, "topics": TopicsConfig, "safety": SafetyConfig,
    "robot": RobotConfig, "estimator": EstimatorConfig, "perception": PerceptionConfig,
    "sim": SimConfig, "world": WorldConfig, "mission": MissionConfig, "success": SuccessConfig,
}
_TOP_KEYS = [*_SECTIONS, "inputs", "behaviors", "drivers", "commands"]


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (), *,
                with_behaviors: bool = True) -> Config:
    """Read, override and validate a config file (None: the embedded demo mission).

    ``with_behaviors=False`` skips loading the behavior classes (and compiling their
    kernels): for processes that only simulate, like the realtime simulator.
    """
    if path is None:
        path = embedded_config_path("demo")
    path = Path(path)
    if not path.exists() and path.suffix == "" and "/" not in str(path):
        path = embedded_config_path(str(path))
    raw = read_with_extends(path)
    applied = apply_overrides(raw, overrides)
    try:
        return build_config(raw, source=str(path), base_dir=path.parent,
                            with_behaviors=with_behaviors)
    except ConfigError as err:
        for key, text in applied.items():
            if err.key == key or err.key.startswith(key + ".") or err.key.startswith(key + "["):
                raise ConfigError(f"--set {text}", err.key, err.problem) from None
        raise


def build_config(raw: Mapping[str, Any], *, source: str, base_dir: Path | None = None,
                 with_behaviors: bool = True) -> Config:
    """Validate an already parsed TOML document."""
    for key in raw:
        if key not in _TOP_KEYS:
            raise schema.unknown_key_error(source, key, key, _TOP_KEYS)
    perception = raw.get("perception")
    if isinstance(perception, Mapping):
        refuse_centre_keys(perception, PerceptionConfig.CENTRE_KEYS, source, "perception",
                           _raw_radius(raw))
    sections = {name: schema.build(cls, raw.get(name, {}), source=source, prefix=name)
                for name, cls in _SECTIONS.items()}
    inputs, adapter_tables = build_inputs(raw.get("inputs"), source)
    if sections["robot"].footprint:  # the radius of a polygon footprint: its inscribed one
        from robo_orch.footprint import inscribed_radius

        sections["robot"] = dataclasses.replace(
            sections["robot"], radius=inscribed_radius(list(sections["robot"].footprint)))
    radius = sections["robot"].radius
    behaviors = (_build_behaviors(raw.get("behaviors"), source, base_dir, radius)
                 if with_behaviors else ())
    from robo_orch.config.drivers import build_drivers  # local: keeps the import graph small

    drivers = build_drivers(raw.get("drivers"), source, base_dir)
    commands = build_commands(raw.get("commands"), source)
    check_behavior_spaces(behaviors, commands, source)
    adapters = (build_adapters(inputs, adapter_tables, source, base_dir)
                if with_behaviors else ())
    layout = build_layout([*adapters, *behaviors], source) if with_behaviors else None
    config = Config(source=source, inputs=inputs, behaviors=behaviors,
                    raw=copy.deepcopy(dict(raw)), drivers=drivers, commands=commands,
                    layout=layout, adapters=adapters, **sections)
    check_config(config)
    return config


def check_config(config: Config, *, live: bool = False) -> None:
    """The cross-field checks of a whole config (names, trigger, stopping distance,
    placements, blind motion, command space topics, network): a config file and a live
    change pass the same.

    ``live=True`` (a live change, :mod:`robo_orch.config.live`) runs only the checks
    that read a live key (the stopping distance: ``safety.max_decel`` and
    ``safety.collision_horizon_s``); the others read restart-only keys alone
    (backend names, trigger, mission and world, ``inputs.*.required`` and
    ``safety.allow_blind``, ``[bus]``), which a live change cannot alter, and which
    passed when the run started.  Looking the backend names up scans every installed
    package's entry points (milliseconds): too slow between two ticks.
    """
    if live:
        _check_stopping(config)
        return
    _check_names(config)
    _check_trigger(config)
    _check_stopping(config)
    _check_placements(config)
    _check_blind(config)
    check_command_topics(config)
    from robo_orch.config.network import check_network  # local: keeps the import graph small

    check_network(config)


def _build_behaviors(table: Any, source: str, base_dir: Path | None,
                     radius: float) -> tuple[BehaviorSpec, ...]:
    if table is None:
        raise ConfigError(source, "behaviors", "at least one behavior is required")
    if not isinstance(table, Mapping) or not table:
        raise ConfigError(source, "behaviors", "expected a table with one sub-table per behavior")
    specs = []
    for name, entry in table.items():
        prefix = f"behaviors.{name}"
        if not isinstance(entry, Mapping):
            raise ConfigError(source, prefix, "expected a table")
        kind = entry.get("kind", name)
        if not isinstance(kind, str):
            raise ConfigError(source, f"{prefix}.kind", f"expected a string, got {kind!r}")
        try:
            cls = registry.load(registry.BEHAVIORS, kind, base_dir=base_dir)
        except RegistryError as err:
            raise ConfigError(source, f"{prefix}.kind", str(err)) from None
        own = {k: v for k, v in entry.items() if k in _BEHAVIOR_KEYS}
        own.setdefault("kind", kind)
        sched = schema.build(BehaviorEntry, own, source=source, prefix=prefix)
        params_table = {k: v for k, v in entry.items() if k not in _BEHAVIOR_KEYS}
        refuse_centre_keys(params_table, getattr(cls.Params, "CENTRE_KEYS", {}), source,
                           prefix, radius)
        params = cls.parse_params(params_table, source=source, prefix=prefix)
        blendable = cls.blendable if sched.blendable is None else sched.blendable
        specs.append(BehaviorSpec(name=name, cls=cls, priority=sched.priority,
                                  divisor=sched.divisor, enabled=sched.enabled,
                                  blendable=blendable, params=params,
                                  space=sched.space or getattr(cls, "command_space", "base")))
    return tuple(specs)


def _check_names(config: Config) -> None:
    for group, key, value in ((registry.SIM_BACKENDS, "sim.backend", config.sim.backend),
                              (registry.BUSES, "bus.backend", config.bus.backend)):
        known = registry.names(group)
        if value not in known:
            err = schema.unknown_key_error(config.source, key, value, known)
            raise ConfigError(config.source, key, f"unknown name '{value}' (known: "
                              f"{', '.join(known)}){err.problem.removeprefix('unknown key')}")


def _check_trigger(config: Config) -> None:
    trigger = config.loop.trigger
    if trigger and trigger not in config.inputs:
        err = schema.unknown_key_error(config.source, "loop.trigger", trigger,
                                       list(config.inputs))
        raise ConfigError(config.source, "loop.trigger", f"no input named '{trigger}' "
                          f"(inputs: {', '.join(config.inputs)})"
                          f"{err.problem.removeprefix('unknown key')}")


#: inputs without which the robot would move blind: obstacles, and its own motion
BLIND_ROLES = ("scan", "odom")


def _check_blind(config: Config) -> None:
    """Refuse motion without a required scan and required odometry, unless allowed."""
    if config.safety.allow_blind:
        return
    for role in BLIND_ROLES:
        inp = config.inputs.get(role)
        if inp is None or not inp.required:
            what = "obstacle" if role == "scan" else "odometry"
            raise ConfigError(config.source, f"inputs.{role}.required",
                              f"the robot would move without a required {what} input: set "
                              f"inputs.{role}.required = true, or safety.allow_blind = true "
                              "to drive blind on purpose")


def blind_warning(config: Config) -> str | None:
    """The one line to print at every start of a config that allows blind motion."""
    if not config.safety.allow_blind:
        return None
    missing = [r for r in BLIND_ROLES if r not in config.inputs or not config.inputs[r].required]
    what = (f"inputs {', '.join(missing)} not required" if missing
            else "no stop is guaranteed if they are lost")
    return (f"robo-orch: warning: safety.allow_blind = true in {config.source}: the robot may "
            f"move without seeing obstacles or its own motion ({what})")
def speed_warnings(config: Config) -> list[str]:
    """A line for each actuator driver whose wheel speed limit is below the speeds the
    loop may command (``safety.max_speed``, ``robot.max_wheel_speed``)."""
    lines = []
    for name, drv in config.drivers.items():
        limit = getattr(drv.params, "max_wheel_speed", None)
        if not drv.cls.actuator or not isinstance(limit, (int, float)):
            continue
        above = [(key, value) for key, value in (
            ("safety.max_speed", config.safety.max_speed),
            ("robot.max_wheel_speed", config.robot.max_wheel_speed)) if value > limit]
        if above:
            lines.append(
                f"robo-orch: warning: drivers.{name}.max_wheel_speed is {limit:g} m/s, below "
                + " and ".join(f"{key} {value:g} m/s" for key, value in above)
                + f" in {config.source}: the motor driver clamps what the safety layer "
                "allowed (the robot is slower than configured and a clamped turn drives "
                f"another arc); set {' and '.join(k for k, _ in above)} to at most {limit:g}")
    return lines


def start_warnings(config: Config) -> list[str]:
    """The lines to print at every start (and ``check``): blind motion, speeds the motor
    driver cannot reach."""
    blind = blind_warning(config)
    return ([blind] if blind else []) + speed_warnings(config)


def refuse_centre_keys(table: Mapping[str, Any], renamed: Mapping[str, str], source: str,
                       prefix: str, radius: float) -> None:
    """Refuse a key that was measured from the robot centre and is now measured from its
    surface under a new name (``renamed``: old -> new), with the converted value."""
    for old, new in renamed.items():
        if old not in table:
            continue
        value = table[old]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            use = f"{new} = {value - radius:g}"
        else:
            use = new
        raise ConfigError(source, f"{prefix}.{old}",
                          f"renamed: it was measured from the robot centre; use {use} "
                          f"(measured from the robot's surface; robot.radius is {radius:g})")


def _raw_radius(raw: Mapping[str, Any]) -> float:
    """robot.radius as written (for hints before the robot section is validated)."""
    robot = raw.get("robot")
    value = robot.get("radius") if isinstance(robot, Mapping) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return RobotConfig().radius


def stopping_time(config: Config) -> float:
    """Time the robot needs to stop from its top speed, s: the longer of max_speed and
    max_reverse at max_decel, plus one loop period and the motor lag."""
    s = config.safety
    return (max(s.max_speed, s.max_reverse) / s.max_decel + 1.0 / config.loop.rate_hz
            + config.robot.motor_time_constant)


def _check_stopping(config: Config) -> None:
    """Refuse a collision horizon shorter than the stopping time."""
    need = stopping_time(config)
    horizon = config.safety.collision_horizon_s
    if not horizon >= need:
        fix = "raise safety.max_decel"  # the stopping time is too long for any horizon
        if need * 100.0 < 1e300:
            fix = f"set it to at least {math.ceil(need * 100.0 - 1e-6) / 100.0:g}"
        raise ConfigError(config.source, "safety.collision_horizon_s",
                          f"{horizon:g} s is shorter than the stopping time {need:.4g} s "
                          f"(max(max_speed, max_reverse) / max_decel + one loop period + "
                          f"robot.motor_time_constant); {fix}")


def _check_placements(config: Config) -> None:
    """Refuse a start pose or a waypoint inside (or too close to) an obstacle."""
    radius = config.robot.radius
    points = [("mission.start", config.mission.start[:2])]
    points += [(f"mission.waypoints[{i}]", p) for i, p in enumerate(config.mission.waypoints)]
    for key, (x, y) in points:
        gap = world_clearance(config.world, x, y)
        if gap < radius:
            raise ConfigError(config.source, key, f"({x:g}, {y:g}) is {max(gap, 0.0):.2f} m "
                              f"from an obstacle, closer than the robot radius {radius:g} m")
