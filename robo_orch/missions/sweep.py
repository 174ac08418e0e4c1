"""Parameter sweeps: every parameter set on the same (scenario, seed) instances.

A *parameter set* is a list of ``--set`` overrides with a name.  Sets come from a grid
(``--param KEY=V1,V2,...``, repeatable: the Cartesian product, first values first) and
from files (``--set-file F``: a TOML file whose keys, ``extends`` aside, become
overrides; a file ``robo-orch tune --out`` wrote is one).  The first set is the
reference: each other set is compared with it instance by instance
(:mod:`robo_orch.missions.paired`).  A grid parameter whose values gave bit-identical
runs on every instance, whatever the other parameters, is flagged as having no effect.

Keys are full config keys (``behaviors.follow_path.max_speed``) or start with a
behavior's name (``follow_path.max_speed``), which means the same.  The command is
``robo-orch sweep`` (:mod:`robo_orch.cli.sweep`).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from robo_orch.missions import paired
from robo_orch.missions.runner import Instance, Outcome, ProgressLine, Runner, describe_error
from robo_orch.missions.scenarios import scenario_name

#: a config's top-level tables: a key starting with anything else may be a behavior's
TOP_LEVEL = ("loop", "bus", "topics", "inputs", "safety", "robot", "estimator", "perception",
             "sim", "world", "mission", "success", "behaviors", "drivers", "record")


@dataclass(frozen=True)
class ParamSet:
    """One parameter set: its name and its overrides (``key=value`` strings)."""

    name: str
    overrides: tuple[str, ...] = ()
    #: grid values by key (empty for a set read from a file)
    values: Mapping[str, str] = field(default_factory=dict)


def full_key(key: str, raw: Mapping[str, Any]) -> str:
    """``key`` as a full config key: a leading behavior name gets ``behaviors.``."""
    first = key.split(".", 1)[0]
    if first not in TOP_LEVEL and first in (raw.get("behaviors") or {}):
        return f"behaviors.{key}"
    return key


def parse_grid(specs: Sequence[str], raw: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """``["KEY=V1,V2", ...]`` -> [(full key, [values])]; a bad spec is a UsageError."""
    from robo_orch.errors import UsageError

    grid: list[tuple[str, list[str]]] = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        vals = [v.strip() for v in values.split(",")]
        if not sep or not key.strip() or not all(vals):
            raise UsageError(f"--param {spec}: expected KEY=V1,V2,... (values separated by "
                             "commas)")
        key = full_key(key.strip(), raw)
        if any(k == key for k, _ in grid):
            raise UsageError(f"--param {spec}: {key} is given twice")
        grid.append((key, vals))
    return grid


def short_key(key: str) -> str:
    """The last two parts of a key (``follow_path.max_speed``)."""
    return ".".join(key.split(".")[-2:])


def grid_sets(grid: Sequence[tuple[str, list[str]]]) -> list[ParamSet]:
    """Every combination of the grid's values, the first values first."""
    if not grid:
        return []
    sets = []
    for combo in itertools.product(*(vals for _, vals in grid)):
        values = {k: v for (k, _), v in zip(grid, combo, strict=True)}
        sets.append(ParamSet(name=" ".join(f"{short_key(k)}={v}" for k, v in values.items()),
                             overrides=tuple(f"{k}={v}" for k, v in values.items()),
                             values=values))
    return sets


def toml_value(value: Any) -> str:
    """A Python value read from TOML, written back as a TOML value (for ``--set``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def flatten(raw: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """A TOML document's leaf keys as (dotted key, value); arrays are leaves."""
    out: list[tuple[str, Any]] = []
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(flatten(value, dotted + "."))
        else:
            out.append((dotted, value))
    return out


def file_set(path: str | Path) -> ParamSet:
    """A parameter set read from a TOML file: its keys (``extends`` aside) as overrides."""
    from robo_orch.config.source import read_toml
    from robo_orch.errors import ConfigError

    raw = read_toml(Path(path))
    raw.pop("extends", None)
    pairs = flatten(raw)
    if not pairs:
        raise ConfigError(str(path), "", "sets no key (a --set-file holds the keys it changes)")
    return ParamSet(name=Path(path).stem,
                    overrides=tuple(f"{k}={toml_value(v)}" for k, v in pairs))


@dataclass
class SweepResult:
    """What :func:`run_sweep` measured: per set its runs (instance order) and figures."""

    scenarios: list[str]
    seeds: list[int]
    sets: list[ParamSet]
    #: runs[set index]: records in instance order (scenario-major, then seed)
    runs: list[list[dict[str, Any]]]
    wall_s: float = 0.0

    def metrics(self, k: int, scenario: str | None = None) -> dict[str, Any]:
        """Set ``k``'s figures (over one scenario's runs when ``scenario`` is given)."""
        runs = [r for r in self.runs[k] if scenario is None or r["scenario"] == scenario]
        return paired.set_metrics(runs)

    def comparison(self, k: int) -> dict[str, Any] | None:
        """Set ``k`` against the first set, paired (None for the first set)."""
        return None if k == 0 else paired.compare(self.runs[0], self.runs[k])

    def no_effect(self) -> list[str]:
        """Grid keys whose values gave bit-identical runs on every instance."""
        keys = [k for k in (self.sets[0].values if self.sets else {})
                if len({s.values.get(k) for s in self.sets if s.values}) > 1]
        found = []
        for key in keys:
            groups: dict[tuple, list[int]] = {}
            for n, s in enumerate(self.sets):
                if s.values:
                    rest = tuple(sorted((k, v) for k, v in s.values.items() if k != key))
                    groups.setdefault(rest, []).append(n)
            if all(_identical([self.runs[n] for n in members]) for members in groups.values()):
                found.append(key)
        return found

    def to_json(self) -> dict[str, Any]:
        """Everything, JSON-ready (no paths)."""
        sets = []
        for k, s in enumerate(self.sets):
            sets.append({
                "name": s.name, "overrides": list(s.overrides), "metrics": self.metrics(k),
                "per_scenario": {name: self.metrics(k, name) for name in self.scenarios},
                "vs_first": self.comparison(k),
                "runs": [{key: v for key, v in r.items() if key != "xy"} for r in self.runs[k]],
            })
        return {"scenarios": self.scenarios, "seeds": self.seeds,
                "wall_time_s": round(self.wall_s, 2), "no_effect": self.no_effect(),
                "sets": sets}


def _identical(runs_per_set: list[list[dict[str, Any]]]) -> bool:
    first = runs_per_set[0]
    return all(a.get("trace_sha256") is not None and a.get("trace_sha256") == b.get("trace_sha256")
               for other in runs_per_set[1:] for a, b in zip(first, other, strict=True))


def fault_record(outcome: Outcome, scenario: str, seed: int) -> dict[str, Any]:
    """The record of a run that raised: failed, with the error as its reason."""
    return {"scenario": scenario, "seed": seed, "success": False, "goal_reached": False,
            "reasons": [f"fault: {describe_error(outcome)}"], "fault": True}


def run_sweep(paths: Sequence[str | Path], sets: Sequence[ParamSet], seeds: Sequence[int], *,
              runner: Runner, overrides: Sequence[str] = (), progress: TextIO | None = None,
              what: str = "sweep") -> SweepResult:
    """Run every set x scenario x seed on ``runner``; the runs of each set in one order.

    ``overrides`` apply to every set first.  Each (scenario, set) config is loaded here
    first, so a bad key fails at once (a one-line ConfigError).
    """
    import time

    from robo_orch.config import load_config

    t0 = time.perf_counter()
    tasks = [(str(p), s) for p in paths for s in seeds]
    limits = {}
    for p in paths:
        for ps in sets:
            cfg = load_config(p, (*overrides, *ps.overrides), with_behaviors=True)
            limits[str(p)] = cfg.mission.time_limit_s
    instances = [Instance(config=p, seed=s, overrides=(*overrides, *ps.overrides),
                          job="scenario", key=(k, p, s), cost=limits[p])
                 for k, ps in enumerate(sets) for p, s in tasks]
    bar = ProgressLine(progress, what, describe=lambda o: (
        f"{sets[o.instance.key[0]].name or 'default'} {scenario_name(o.instance.key[1])} "
        f"seed {o.instance.seed}" + ("" if o.ok else f": {describe_error(o)}")),
        failed=lambda o: not (o.ok and o.value["success"]))
    got: dict[tuple, dict[str, Any]] = {}
    for o in runner.run(instances, bar):
        k, p, s = o.instance.key
        got[o.instance.key] = o.value if o.ok else fault_record(o, scenario_name(p), s)
    runs = [[got[(k, p, s)] for p, s in tasks] for k in range(len(sets))]
    return SweepResult(scenarios=[scenario_name(p) for p in paths], seeds=list(seeds),
                       sets=list(sets), runs=runs, wall_s=time.perf_counter() - t0)


def format_table(result: SweepResult) -> str:
    """One line per set: its figures and its comparison with the first set."""
    head = ("set", "success", "time to goal", "path/shortest", "min clear", "contacts",
            "stops", "vs first set")
    lines = []
    for k, s in enumerate(result.sets):
        m = result.metrics(k)
        cmp = result.comparison(k)
        lines.append((
            s.name or "default", f"{m['successes']}/{m['runs']} {100 * m['success_rate']:.0f}%",
            _pm(m["time_to_goal_s"], m["time_to_goal_std_s"], "s", 1),
            _pm(m["path_ratio"], m["path_ratio_std"], "", 2),
            "-" if m["min_clearance_m"] is None else f"{m['min_clearance_m']:.3f} m",
            str(m["contacts"]), str(m["safety_stops"]),
            "(reference)" if cmp is None else cmp["verdict"]))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*line).rstrip() for line in [head, *lines])


def _pm(mean: float | None, std: float | None, unit: str, digits: int) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" + (f" {unit}" if unit else "")


def plot_sweep(result: SweepResult, out: str | Path) -> None:
    """Success rate and time to goal (each completed run a dot, the box its spread) per set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s.name or "default" for s in result.sets]
    fig, (ax_s, ax_t) = plt.subplots(1, 2, figsize=(max(8.0, 1.2 * len(names) + 5), 4.2))
    rates = [100 * result.metrics(k)["success_rate"] for k in range(len(names))]
    ax_s.bar(range(len(names)), rates, color="tab:green")
    ax_s.set_ylabel("success, %")
    ax_s.set_ylim(0, 105)
    times = [[r["time_to_goal_s"] for r in runs if r.get("goal_reached")
              and r.get("time_to_goal_s") is not None] for runs in result.runs]
    ax_t.boxplot([t or [math.nan] for t in times], positions=range(len(names)))
    for k, t in enumerate(times):
        ax_t.plot([k] * len(t), t, ".", color="tab:blue", alpha=0.5)
    ax_t.set_ylabel("time to goal, s")
    for ax in (ax_s, ax_t):
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    fig.suptitle(f"{', '.join(result.scenarios)}: {len(result.seeds)} seeds per scenario",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


__all__ = ["ParamSet", "SweepResult", "file_set", "flatten", "format_table", "full_key",
           "grid_sets", "parse_grid", "plot_sweep", "run_sweep", "short_key", "toml_value"]
