"""Human-readable description of a validated config (``robo-orch check``)."""

from __future__ import annotations

import dataclasses

from robo_orch.config import INPUT_ROLES, Config
from robo_orch.config.inputs import BUILTIN_ADAPTERS


def _fields(obj) -> str:
    return ", ".join(f"{f.name}={getattr(obj, f.name)!r}" for f in dataclasses.fields(obj))


def describe_config(config: Config) -> str:
    """What would run with this config, one fact per line."""
    c = config
    lines = [f"config {c.source}: OK",
             f"loop      {c.loop.rate_hz:g} Hz, overrun={c.loop.overrun}, "
             f"spin={c.loop.spin_us:g} us, realtime_priority={c.loop.realtime_priority}, "
             f"cpu={c.loop.cpu}, gc={c.loop.gc_mode}",
             f"bus       {c.bus.backend} (hwm {c.bus.hwm}); simulator backend {c.sim.backend},"
             f" seed {c.sim.seed}",
             f"base      {c.robot.kinematics}",
             "inputs"]
    from robo_orch import registry

    kin = registry.load(registry.KINEMATICS, c.robot.kinematics)  # its message types
    adapters = {spec.input: spec.cls for spec in c.adapters}
    for role, inp in c.inputs.items():
        req = "required" if inp.required else "optional"
        if role in adapters:
            mtype = adapters[role].message
        else:
            mtype = kin.odometry_type if role == "odom" else INPUT_ROLES.get(role, "?")
        builtin = kin.odometry_adapter if role == "odom" else BUILTIN_ADAPTERS.get(role, "")
        via = f", adapter {inp.adapter or builtin}" if inp.adapter or builtin else ""
        lines.append(f"  {role:<6} {inp.topic:<14} {mtype:<15} qos={inp.qos:<9}"
                     f" max_age={inp.max_age_s:g} s ({req}{via})")
    lines.append(f"outputs   {c.topics.command} ({kin.command_type}), e-stop on "
                 f"{c.topics.estop}")
    from robo_orch.config.commands import command_lines

    lines += command_lines(c)  # command spaces besides the base, if any
    from robo_orch.config.network import network_lines

    lines += network_lines(c)  # tcp endpoints and keys, if any
    lines.append("behaviors (highest priority first)")
    for b in sorted(c.behaviors, key=lambda b: -b.priority):
        state = "enabled" if b.enabled else "disabled"
        rate = c.loop.rate_hz / b.divisor
        blend = "blendable" if b.blendable else "exclusive"
        space = getattr(b, "space", "base")
        where = "" if space == "base" else f", for commands.{space}"
        lines.append(f"  {b.name:<16} kind={b.cls.kind:<16} priority={b.priority:<4}"
                     f" every {b.divisor} tick(s) ({rate:g} Hz), {blend}, {state}{where}")
        lines.append(f"    {_fields(b.params)}")
    if c.layout is not None:
        lines += c.layout.describe()  # where each declared name lives
    lines.append(f"safety    {_fields(c.safety)}")
    lines.append(f"robot     {_fields(c.robot)}")
    if c.robot.footprint:
        from robo_orch.footprint import circumscribed_radius

        circles, over = c.robot.circles()
        lines.append(f"footprint polygon of {len(c.robot.footprint)} vertices, inscribed radius"
                     f" {c.robot.radius:.3f} m, circumscribed"
                     f" {circumscribed_radius(list(c.robot.footprint)):.3f} m; covered by"
                     f" {len(circles)} circles (overshoot {over:.3f} m): "
                     + ", ".join(f"({x:.3f}, {y:.3f}) r {r:.3f}" for x, y, r in circles))
    w = c.world
    lines.append(f"world     bounds={list(w.bounds) or 'none'}, {len(w.walls)} walls,"
                 f" {len(w.circles)} circles, {len(w.polygons)} polygons")
    m = c.mission
    lines.append(f"mission   start={list(m.start)}, {len(m.waypoints)} waypoints, goal"
                 f" {list(m.waypoints[-1])}, tolerance {m.goal_tolerance:g} m,"
                 f" time limit {m.time_limit_s:g} s")
    lines.append(f"success   {_fields(c.success)}")
    from robo_orch import registry

    for group in registry.BUILTINS:
        for entry in registry.shadowed(group):
            lines.append(f"ignored   entry point {entry} in {group}: the name is built in")
    return "\n".join(lines)


def config_reference_markdown() -> str:
    """The README's config reference, generated from the schema's docs."""
    from robo_orch import schema
    from robo_orch.config import TopicsConfig, world
    from robo_orch.config import sections as sec
    from robo_orch.config.estimator import EstimatorConfig
    from robo_orch.driver import DriverSpec

    sections = [("[loop]", sec.LoopConfig), ("[bus]", sec.BusConfig), ("[topics]", TopicsConfig),
                ("[inputs.odom], [inputs.imu], [inputs.scan], [inputs.gps], [inputs.NAME]",
                 sec.InputConfig),
                ("[safety]", sec.SafetyConfig), ("[robot]", sec.RobotConfig),
                ("[estimator]", EstimatorConfig), ("[perception]", sec.PerceptionConfig),
                ("[sim]", sec.SimConfig), ("[sim.lidar]", sec.LidarConfig),
                ("[world]", world.WorldConfig), ("[[world.walls]]", world.Wall),
                ("[[world.circles]]", world.Circle), ("[[world.polygons]]", world.Polygon),
                ("[[world.moving]]", world.MovingCircle), ("[world.random]", world.RandomObstacles),
                ("[sim.faults.NAME]", sec.DeviceFaults), ("[mission]", sec.MissionConfig),
                ("[success]", sec.SuccessConfig), ("[behaviors.NAME]", sec.BehaviorEntry)]
    from robo_orch import registry

    for name in registry.names(registry.BEHAVIORS):
        behavior = registry.load(registry.BEHAVIORS, name)
        sections.append((f'[behaviors.NAME] with kind = "{name}"', behavior.Params))
    from robo_orch.config.commands import JointConfig, JointSpaceConfig

    sections += [('[commands.NAME] with kind = "joints"', JointSpaceConfig),
                 ("joints = [{...}] (each joint of a joints space)", JointConfig)]
    sections.append(("[drivers.NAME] (every driver)", DriverSpec))
    for name in registry.names(registry.DRIVERS):
        driver = registry.load(registry.DRIVERS, name)
        sections.append((f'[drivers.NAME] with kind = "{name}"', driver.Params))
    out = []
    for title, cls in sections:
        out.append(f"#### `{title}`\n")
        out.append("| key | type | default | meaning |")
        out.append("| --- | --- | --- | --- |")
        for name, typ, default, doc in schema.describe(cls):
            if dataclasses.is_dataclass(default):
                default = "(table)"
            out.append(f"| `{name}` | {typ} | `{default!r}` | {doc} |")
        out.append("")
    return "\n".join(out)


def update_readme(path: str) -> None:
    """Rewrite the config reference between the README's markers."""
    from pathlib import Path

    start, end = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"
    text = Path(path).read_text()
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    Path(path).write_text(head + start + config_reference_markdown().rstrip() + "\n" + end + tail)


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--update":
        update_readme(sys.argv[2])
    else:
        print(config_reference_markdown())
