"""``[commands.NAME]`` tables: command spaces beside the base's velocity command.

Each table declares one command space with its ``kind``; today the kind is
``joints`` (n joint positions or velocities with per-joint limits, for servos,
pan-tilt heads and grippers; enforced by :mod:`robo_orch.core.safety_joints`)::

    [commands.pan_tilt]
    kind = "joints"
    topic = "cmd/pan_tilt"
    state_topic = "sensor/pan_tilt"
    mode = "position"
    joints = [ { name = "pan", min = -2.6, max = 2.6, max_velocity = 2.0, max_accel = 8.0 },
               { name = "tilt", min = -0.5, max = 1.2, max_velocity = 1.5, max_accel = 6.0 } ]

A config without ``[commands]`` has no command spaces besides the base (named
``base``, which a ``[commands]`` table cannot use).  A behavior proposes for one
space (``Behavior.command_space``, or ``space = "..."`` in its table);
:func:`check_behavior_spaces` checks that the space exists and suits it.
:func:`check_command_topics` (run with the whole config) refuses a topic that is
used twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from robo_orch import schema
from robo_orch.errors import BusError, ConfigError
from robo_orch.messages import MAX_JOINTS
from robo_orch.schema import option

#: the modes of a joints space, by mode number (robo_orch.core.safety_joints.MODES)
JOINT_MODES = ("position", "velocity")


@dataclass(frozen=True)
class JointConfig:
    """One joint of a ``joints`` command space (an element of its ``joints`` list)."""

    name: str = option(doc="joint name, unique in its space")
    min: float = option(doc="lowest position the safety layer commands (rad or m); keep it "
                            "inside the hard stop by at least max_velocity times the "
                            "actuator's lag")
    max: float = option(doc="highest position the safety layer commands (rad or m), > min")
    max_velocity: float = option(gt=0, le=1e4, doc="speed limit of the command (rad/s or m/s)")
    max_accel: float = option(gt=0, le=1e6, doc="acceleration limit of the command, also the "
                                                "deceleration of a stale-input stop "
                                                "(rad/s^2 or m/s^2)")

    def validate(self, source: str, prefix: str) -> None:
        if not self.name.strip():
            raise ConfigError(source, f"{prefix}.name", "must not be empty")
        for key in ("min", "max"):
            if not math.isfinite(getattr(self, key)):
                raise ConfigError(source, f"{prefix}.{key}", f"must be finite, got "
                                  f"{getattr(self, key)!r}")
        schema.check_order(self, source, prefix, "min", "max", strict=True)


@dataclass(frozen=True)
class JointSpaceConfig:
    """A command space of kind ``joints``: n joint positions or velocities, each within
    its position, velocity and acceleration limits (``[commands.NAME]``)."""

    kind: str = option(choices=("joints",), doc="the kind of command space")
    topic: str = option(doc="topic its joint_command messages go out on")
    state_topic: str = option(doc="topic of its joint_state messages (the measured positions "
                                  "and velocities, in the order of joints)")
    joints: tuple[JointConfig, ...] = option(
        doc="the joints, in message order: [{ name, min, max, max_velocity, max_accel }, "
            f"...], 1 to {MAX_JOINTS}")
    mode: str = option("position", choices=JOINT_MODES,
                       doc="'position': proposals are target positions, reached on a "
                           "trapezoidal profile; 'velocity': proposals are velocities")
    max_age_s: float = option(0.5, gt=0, le=3600,
                              doc="joint_state older than this (or never received) is stale "
                                  "and brings the joints to a controlled stop")

    def validate(self, source: str, prefix: str) -> None:
        from robo_orch.bus.base import _check_topic  # local: keeps config light

        for key in ("topic", "state_topic"):
            try:
                _check_topic(getattr(self, key))
            except BusError as err:
                raise ConfigError(source, f"{prefix}.{key}", str(err)) from None
        if self.topic == self.state_topic:
            raise ConfigError(source, f"{prefix}.state_topic",
                              f"'{self.state_topic}' is also the command topic: use another")
        if not 1 <= len(self.joints) <= MAX_JOINTS:
            raise ConfigError(source, f"{prefix}.joints",
                              f"expected 1 to {MAX_JOINTS} joints, got {len(self.joints)}")
        seen: dict[str, int] = {}
        for i, joint in enumerate(self.joints):
            if joint.name in seen:
                raise ConfigError(source, f"{prefix}.joints[{i}].name",
                                  f"'{joint.name}' is also joints[{seen[joint.name]}]'s name: "
                                  "joint names must be unique")
            seen[joint.name] = i

    @property
    def mode_number(self) -> int:
        """The mode as the kernel and the messages number it."""
        return JOINT_MODES.index(self.mode)


#: command space kinds -> their section class
COMMAND_KINDS: dict[str, type] = {"joints": JointSpaceConfig}
#: the name of the base's own command space (its velocity command)
BASE_SPACE = "base"


def build_commands(table: Any, source: str) -> dict[str, Any]:
    """Every command space of a ``[commands]`` table, in file order (none when absent)."""
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError(source, "commands",
                          "expected a table with one sub-table per command space")
    out: dict[str, Any] = {}
    for name, entry in table.items():
        prefix = f"commands.{name}"
        if name == BASE_SPACE:
            raise ConfigError(source, prefix, f"'{BASE_SPACE}' is the base's own command "
                                              "space: give this one another name")
        if not isinstance(entry, Mapping):
            raise ConfigError(source, prefix, "expected a table with at least 'kind', 'topic' "
                                              "and 'state_topic'")
        kind = entry.get("kind")
        if not isinstance(kind, str):
            raise ConfigError(source, f"{prefix}.kind", "missing command space kind (known: "
                              f"{', '.join(COMMAND_KINDS)})")
        if kind not in COMMAND_KINDS:
            err = schema.unknown_key_error(source, f"{prefix}.kind", kind, list(COMMAND_KINDS))
            raise ConfigError(source, f"{prefix}.kind", f"unknown kind '{kind}' (known: "
                              f"{', '.join(COMMAND_KINDS)})"
                              f"{err.problem.removeprefix('unknown key')}")
        out[name] = schema.build(COMMAND_KINDS[kind], entry, source=source, prefix=prefix)
    return out


def check_behavior_spaces(behaviors: Sequence[Any], commands: Mapping[str, Any],
                          source: str) -> None:
    """Refuse a behavior whose command space does not exist or does not suit it.

    ``behaviors``: items with ``name``, ``cls`` and ``space`` (config order).  A base
    behavior (``cls.command_space == "base"``) proposes for the base only; a joints
    behavior for a ``joints`` space with the joints it declares (``cls.joints``, in
    order, when it declares any) and in the mode it declares (``cls.joint_mode``).
    """
    for b in behaviors:
        key = f"behaviors.{b.name}.space"
        space = b.space
        wants_base = getattr(b.cls, "command_space", BASE_SPACE) == BASE_SPACE
        kind = getattr(b.cls, "kind", b.cls.__name__)
        if space != BASE_SPACE and space not in commands:
            err = schema.unknown_key_error(source, key, space, [BASE_SPACE, *commands])
            raise ConfigError(source, key, f"no command space '{space}' (spaces: "
                              f"{', '.join([BASE_SPACE, *commands])})"
                              f"{err.problem.removeprefix('unknown key')}")
        if wants_base:
            if space != BASE_SPACE:
                raise ConfigError(source, key, f"'{kind}' proposes base velocities; it cannot "
                                  f"drive the {commands[space].kind} space '{space}'")
            continue
        if space == BASE_SPACE:
            raise ConfigError(source, key, f"'{kind}' proposes joint targets, not base "
                              "velocities: set space to one of its [commands.NAME] spaces"
                              + (f" ({', '.join(commands)})" if commands else " (none "
                                 "configured)"))
        target = commands[space]
        names = tuple(j.name for j in target.joints)
        declared = tuple(getattr(b.cls, "joints", ()) or ())
        if declared and declared != names:
            raise ConfigError(source, key, f"'{kind}' drives the joints ({', '.join(declared)})"
                              f" but commands.{space} has ({', '.join(names)}): a joints "
                              "behavior's joints are its space's, in order")
        mode = getattr(b.cls, "joint_mode", None)
        if mode is not None and mode != target.mode:
            raise ConfigError(source, key, f"'{kind}' proposes {mode}s but commands.{space} "
                              f"is in {target.mode} mode")


def check_command_topics(config: Any) -> None:
    """Refuse a command space topic that another part of the config uses: the base's
    command, e-stop and truth topics, an input, or another command space."""
    used = {config.topics.command: "topics.command", config.topics.estop: "topics.estop",
            config.topics.truth: "topics.truth"}
    for role, inp in config.inputs.items():
        used.setdefault(inp.topic, f"inputs.{role}.topic")
    for name, space in getattr(config, "commands", {}).items():
        for key in ("topic", "state_topic"):
            topic = getattr(space, key)
            here = f"commands.{name}.{key}"
            if topic in used:
                raise ConfigError(config.source, here, f"'{topic}' is already {used[topic]}: "
                                  "each command space needs topics of its own")
            used[topic] = here


def command_lines(config: Any) -> list[str]:
    """``robo-orch check``'s lines for the configured command spaces (none: no lines)."""
    spaces = getattr(config, "commands", {})
    if not spaces:
        return []
    lines = ["commands  (each with its own safety kernel)"]
    for name, space in spaces.items():
        lines.append(f"  {name:<12} {space.kind} ({space.mode}), {len(space.joints)} joint(s): "
                     f"{space.topic} (joint_command), state {space.state_topic} (joint_state, "
                     f"max_age={space.max_age_s:g} s)")
        for j in space.joints:
            lines.append(f"    {j.name:<10} [{j.min:g}, {j.max:g}], "
                         f"max_velocity={j.max_velocity:g}, max_accel={j.max_accel:g}")
    return lines
