"""What ``robo-orch tune`` searches and what it writes: parameter ranges, their current
values, the tuned TOML file, and the command that reproduces one trial's run.

The search itself is :mod:`robo_orch.missions.tune`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robo_orch.errors import UsageError
from robo_orch.missions.sweep import full_key, toml_value


@dataclass(frozen=True)
class Dim:
    """One searched key: ``KEY=LO:HI[:log|:int]``."""

    key: str
    lo: float
    hi: float
    log: bool = False
    integer: bool = False

    def spec(self) -> str:
        """Back to the command-line form (stored with the study, to recognise it)."""
        tail = (":log" if self.log else "") + (":int" if self.integer else "")
        return f"{self.key}={_num(self.lo)}:{_num(self.hi)}{tail}"

    def distribution(self) -> Any:
        """The Optuna distribution of this range."""
        import optuna

        if self.integer:
            return optuna.distributions.IntDistribution(int(self.lo), int(self.hi), log=self.log)
        return optuna.distributions.FloatDistribution(self.lo, self.hi, log=self.log)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in the range (and is an integer for an ``:int`` key)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return self.lo <= value <= self.hi and (not self.integer or float(value).is_integer())


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


def parse_dims(specs: Sequence[str], raw: Mapping[str, Any]) -> list[Dim]:
    """``["KEY=LO:HI[:log|:int]", ...]`` -> dims; a bad spec is a one-line UsageError."""
    dims: list[Dim] = []
    for spec in specs:
        key, sep, rng = spec.partition("=")
        parts = rng.split(":")
        flags = parts[2:]
        try:
            lo, hi = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            lo = hi = float("nan")
        if (not sep or not key.strip() or lo != lo or hi != hi or not lo < hi
                or any(f not in ("log", "int") for f in flags)):
            raise UsageError(f"--param {spec}: expected KEY=LO:HI, KEY=LO:HI:log or "
                             "KEY=LO:HI:int with LO < HI")
        if "log" in flags and lo <= 0:
            raise UsageError(f"--param {spec}: a log range needs LO > 0")
        integer = "int" in flags
        if integer and not (lo.is_integer() and hi.is_integer()):
            raise UsageError(f"--param {spec}: an :int range needs whole-number bounds")
        dim = Dim(full_key(key.strip(), raw), lo, hi, log="log" in flags, integer=integer)
        if any(d.key == dim.key for d in dims):
            raise UsageError(f"--param {spec}: {dim.key} is given twice")
        dims.append(dim)
    if not dims:
        raise UsageError("give the keys to tune: --param KEY=LO:HI[:log|:int]")
    return dims


def current_value(config: Any, key: str) -> Any:
    """The value a loaded config has for a full key (its default when the file omits it)."""
    parts = key.split(".")
    if parts[0] == "behaviors" and len(parts) == 3:
        for spec in config.behaviors:
            if spec.name == parts[1]:
                if parts[2] in ("priority", "divisor"):
                    return getattr(spec, parts[2])
                if not hasattr(spec.params, parts[2]):
                    raise UsageError(f"--param {key}: behavior {parts[1]!r} has no key "
                                     f"{parts[2]!r}")
                return getattr(spec.params, parts[2])
        raise UsageError(f"--param {key}: the config has no behavior {parts[1]!r}")
    node = config
    for part in parts:
        node = node.get(part) if isinstance(node, Mapping) else getattr(node, part, None)
        if node is None:
            raise UsageError(f"--param {key}: no such key in {config.source}")
    return node


def rounded(dim: Dim, value: float) -> int | float:
    """A sampled value as it is run and written: integers whole, floats to 4 digits."""
    return int(round(value)) if dim.integer else float(f"{value:.4g}")


def overrides_of(params: Mapping[str, Any]) -> tuple[str, ...]:
    """``{key: value}`` -> ``("key=value", ...)`` in key order given."""
    return tuple(f"{k}={toml_value(v)}" for k, v in params.items())


def sim_command(config: str, seed: int, overrides: Sequence[str]) -> str:
    """The one ``robo-orch sim`` command that reruns an instance exactly."""
    import shlex

    sets = " ".join(f"--set {shlex.quote(o)}" for o in (*overrides, f"sim.seed={seed}"))
    return f"robo-orch sim {shlex.quote(str(config))} --lockstep --seed {seed} {sets}"


def extends_target(scenarios: Sequence[str], robot: str | None, out: str | Path) -> str:
    """What the tuned file ``extends``: the robot config, the one scenario, or (several
    shipped scenarios) their shared base ``navigation``; a file by its path relative to
    the tuned file, a shipped config by name."""
    def ref(name: str) -> str:
        if Path(name).exists():
            return os.path.relpath(Path(name).resolve(), Path(out).resolve().parent)
        return name

    if robot is not None:
        return ref(robot)
    if len(scenarios) == 1:
        return ref(scenarios[0])
    if not any(Path(s).exists() for s in scenarios):
        return "navigation"
    return ref(scenarios[0])


def robot_worlds(robot: str, scenarios: Sequence[str], folder: Path) -> list[str]:
    """For ``--robot``: one file per scenario in ``folder`` that ``extends`` the robot's
    config and holds the scenario's ``world``, ``mission`` and ``success`` tables (so a
    trial's run is reproducible with ``robo-orch sim FILE``)."""
    from robo_orch.config.source import embedded_config_path, read_with_extends

    folder.mkdir(parents=True, exist_ok=True)
    base = os.path.relpath(Path(robot).resolve(), folder.resolve())
    out = []
    for name in scenarios:
        src = Path(name) if Path(name).exists() else embedded_config_path(name)
        raw = read_with_extends(src)
        path = folder / f"{Path(name).stem}.toml"
        lines = [f"# {Path(name).stem}'s world, mission and criteria for {robot} "
                 "(written by robo-orch tune --robot)",
                 f"extends = {toml_value(base)}"]
        for table in ("world", "mission", "success"):
            lines.append(f"\n[{table}]")
            lines.extend(f"{k} = {toml_value(v)}" for k, v in (raw.get(table) or {}).items())
        path.write_text("\n".join(lines) + "\n")
        out.append(str(path))
    return out


def tuned_toml(extends: str, params: Mapping[str, Any], comment: Sequence[str]) -> str:
    """The tuned file: a comment, ``extends`` and only the changed keys, by table."""
    tables: dict[str, list[tuple[str, Any]]] = {}
    for key, value in params.items():
        table, _, leaf = key.rpartition(".")
        tables.setdefault(table, []).append((leaf, value))
    lines = [f"# {c}" if c else "#" for c in comment]
    lines.append(f"extends = {toml_value(extends)}")
    for table, items in tables.items():
        lines.append("")
        if table:
            lines.append(f"[{table}]")
        lines.extend(f"{leaf} = {toml_value(v)}" for leaf, v in items)
    return "\n".join(lines) + "\n"


__all__ = ["Dim", "current_value", "extends_target", "overrides_of", "parse_dims",
           "robot_worlds", "rounded", "sim_command", "tuned_toml"]
