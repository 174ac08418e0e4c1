"""The fault campaign: seeded faults injected into lockstep missions, each reaction checked.

Run ``k`` of a scenario in a campaign with seed ``S`` is fixed by ``(S, k, scenario)``
alone (:func:`~robo_orch.missions.fault_kinds.run_seed`): its simulator seed, its
faults and their timing.  So ``robo-orch faults SCENARIO --seed S --only k`` replays
exactly that run, with exactly the same numbers.  Each run draws
:data:`FAULTS_PER_RUN` faults from the catalogue (:mod:`~robo_orch.missions.fault_kinds`)
and injects them one after the other, a random gap after the previous one has
settled (stopped and driven on again), for as long as the mission lasts.

The scenario's config gets :data:`CAMPAIGN_OVERRIDES`: an optional ``gps`` input
(poisoned fixes need a place to go; nothing else publishes there), the faulty
planner plugin twice (disabled; a fault enables it), and a longer time limit (the
stops take time).  The runs go through the warm-worker runner (job ``faults``).
"""

from __future__ import annotations

import math
import shlex
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robo_orch.missions import fault_kinds as fk
from robo_orch.missions.runner import Instance, Outcome, Runner, RunStats

FAULTS_PER_RUN = 8
_PLUGIN = "robo_orch.behaviors.fault_proposal:FaultProposal"
CAMPAIGN_OVERRIDES = (
    "inputs.gps.topic=sensor/gps", "inputs.gps.required=false",
    *(f"behaviors.fault_{name}.{key}={value}" for name, mode in (("random", 0),
                                                                  ("at_obstacle", 1))
      for key, value in (("kind", _PLUGIN), ("priority", 95), ("enabled", "false"),
                         ("mode", mode))),
    "mission.time_limit_s=150",
)


@dataclass(frozen=True)
class RunSpec:
    """What a ``faults`` job needs beside its instance: which run of which campaign."""

    campaign_seed: int
    index: int
    scenario: str  #: as given on the command line (a name or a path)
    faults: int = FAULTS_PER_RUN
    only: tuple[str, ...] = ()
    #: the user's ``--set`` overrides (after :data:`CAMPAIGN_OVERRIDES`)
    overrides: tuple[str, ...] = ()


def stem(scenario: str) -> str:
    """The scenario's name (a path's stem)."""
    return Path(scenario).stem


def sim_seed(campaign_seed: int, index: int, scenario: str) -> int:
    """The simulator seed of a run (noise and obstacle layout)."""
    state = fk.run_seed(campaign_seed, index, stem(scenario)).generate_state(1)[0]
    return int(state % (2**31 - 2)) + 1


def instance(spec: RunSpec) -> Instance:
    """The runner instance of one campaign run."""
    return Instance(config=spec.scenario, seed=sim_seed(spec.campaign_seed, spec.index,
                                                        spec.scenario),
                    overrides=(*CAMPAIGN_OVERRIDES, *spec.overrides), job="faults", args=spec,
                    key=(spec.scenario, spec.index))


def run_plan(config: Any, seed: int, plan: list[fk.Fault],
             rng: np.random.Generator | None = None, trace_rows: int | None = 4096,
             progress=None) -> tuple[Any, Any]:
    """One lockstep mission of ``config`` with ``plan``'s faults (a config with
    :data:`CAMPAIGN_OVERRIDES`); returns (its ``MissionResult``, the injector).

    ``progress(controller)`` also runs after every tick (after the injector's check)."""
    from robo_orch.missions import worker
    from robo_orch.missions.fault_inject import FaultInjector

    injector = FaultInjector(config, plan, rng or np.random.default_rng(0))
    observe = injector.observe
    if progress is not None:
        def observe(ctl: Any) -> None:
            injector.observe(ctl)
            progress(ctl)
    try:
        result = worker.run(config, seed, on_start=injector.attach, progress=observe,
                            trace_rows=trace_rows)
    finally:
        injector.close()
    return result, injector


def faults_job(inst: Instance) -> dict[str, Any]:
    """The runner's ``faults`` job: one mission with its faults; a JSON-ready record."""
    from robo_orch.missions import worker

    spec: RunSpec = inst.args
    config = worker.config_for(inst)
    ss = fk.run_seed(spec.campaign_seed, spec.index, stem(spec.scenario))
    plan_ss, inject_ss = ss.spawn(2)
    plan = fk.draw_plan(np.random.default_rng(plan_ss), config, spec.faults, spec.only)
    result, injector = run_plan(config, inst.seed, plan, np.random.default_rng(inject_ss))
    ctl, truth = result.controller, result.truth
    return {"scenario": spec.scenario, "index": spec.index, "sim_seed": inst.seed,
            "completed": ctl.goal_time_s is not None, "end_reason": ctl.end_reason,
            "sim_time_s": round(truth.sim_time_s, 6), "collisions": truth.collisions,
            "contacts_between": injector.between, "injections": injector.records}


def replay_command(spec: RunSpec) -> str:
    """The one command that replays a run alone."""
    parts = ["robo-orch", "faults", spec.scenario, "--seed", str(spec.campaign_seed),
             "--only", str(spec.index)]
    if spec.faults != FAULTS_PER_RUN:
        parts += ["--faults", str(spec.faults)]
    if spec.only:
        parts += ["--kinds", ",".join(spec.only)]
    for text in spec.overrides:
        parts += ["--set", text]
    return " ".join(shlex.quote(p) for p in parts)


def specs(scenarios: list[str], runs: int, seed: int, *, only_index: int | None = None,
          faults: int = FAULTS_PER_RUN, kinds: tuple[str, ...] = (),
          overrides: tuple[str, ...] = ()) -> list[RunSpec]:
    """Every run of a campaign (just run ``only_index`` of each scenario, if given)."""
    indices = [only_index] if only_index is not None else range(runs)
    return [RunSpec(seed, k, s, faults, kinds, tuple(overrides)) for s in scenarios
            for k in indices]


def run_campaign(run_specs: list[RunSpec], runner: Runner, progress=None
                 ) -> tuple[list[dict], list[Outcome], RunStats]:
    """Run every spec on ``runner``; (records of the runs that ran, failed outcomes, stats)."""
    stats = RunStats()
    records, errors = [], []
    for outcome in runner.run([instance(s) for s in run_specs], progress, stats):
        if outcome.ok:
            records.append({**outcome.value, "spec": outcome.instance.args})
        else:
            errors.append(outcome)
    records.sort(key=lambda r: (r["scenario"], r["index"]))
    return records, errors, stats


# --- the report ---------------------------------------------------------------------------

def _worst_p99(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return round(max(values), 4), round(float(np.percentile(values, 99)), 4)


def table_rows(records: list[dict]) -> list[dict[str, Any]]:
    """Per fault label: counts, stop timings (worst, p99), contacts, resumed, failed."""
    by_label: dict[str, list[dict]] = defaultdict(list)
    for run in records:
        for inj in run["injections"]:
            by_label[inj["label"]].append(inj)
    order = {lab: i for i, lab in enumerate(fk.labels())}
    rows = []
    for label in sorted(by_label, key=lambda lab: order.get(lab, 999)):
        injs = by_label[label]
        stops = [i["stop_s"] for i in injs if i["stop_s"] is not None]
        ages = [i["age_s"] for i in injs if i["age_s"] is not None]
        still = [i["standstill_s"] for i in injs if i["standstill_s"] is not None]
        resume = [i["resume_s"] for i in injs if i["resume_s"] is not None]
        expected = injs[0]["expected"]
        ended = [i for i in injs if i["t_end"] is not None]
        rows.append({
            "label": label, "expected": expected, "count": len(injs),
            "stop_start_s": _worst_p99(stops), "since_last_input_s": _worst_p99(ages),
            "bound_s": max((i["bound_s"] for i in injs if i["bound_s"] is not None),
                           default=None),
            "standstill_s": _worst_p99(still), "resume_s": _worst_p99(resume),
            "contacts": sum(i["contacts"] for i in injs),
            "moving_contacts": sum(i["moving_contacts"] for i in injs),
            "resumed": sum(i["t_motion"] is not None for i in ended), "ended": len(ended),
            "failed": sum(bool(i["problems"]) for i in injs),
        })
    return rows


def _fmt(pair: tuple[float | None, float | None], unit: str = "") -> str:
    worst, p99 = pair
    return "-" if worst is None else f"{worst:.3f} / {p99:.3f}{unit}"


def format_table(rows: list[dict[str, Any]]) -> str:
    """The campaign table as aligned text (times in s: worst / p99)."""
    head = ("fault", "expected", "n", "stop start", "since last input (bound)", "standstill",
            "contacts", "resumed", "failed")
    lines = []
    for r in rows:
        since = _fmt(r["since_last_input_s"])
        if r["bound_s"] is not None and since != "-":
            since += f" ({r['bound_s']:.3f})"
        lines.append((r["label"], r["expected"], str(r["count"]), _fmt(r["stop_start_s"]),
                      since, _fmt(r["standstill_s"]),
                      f"{r['contacts']}" + (f" (+{r['moving_contacts']} moving)"
                                            if r["moving_contacts"] else ""),
                      f"{r['resumed']}/{r['ended']}", str(r["failed"])))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*line).rstrip() for line in [head, *lines])


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The campaign table in Markdown (for the README)."""
    out = ["| fault | expected | n | stop start, s (worst / p99) | since last input, s "
           "(worst / p99, bound) | standstill, s (worst / p99) | contacts | resumed |",
           "|---|---|---:|---|---|---|---:|---:|"]
    for r in rows:
        since = _fmt(r["since_last_input_s"])
        if r["bound_s"] is not None and since != "-":
            since += f" ({r['bound_s']:.3f})"
        out.append(f"| {r['label']} | {r['expected']} | {r['count']} | "
                   f"{_fmt(r['stop_start_s'])} | {since} | {_fmt(r['standstill_s'])} | "
                   f"{r['contacts']} | {r['resumed']}/{r['ended']} |")
    return "\n".join(out)


def totals(records: list[dict], errors: list[Outcome], wall_s: float,
           sim_s: float) -> dict[str, Any]:
    """The campaign's headline figures and its targets."""
    injs = [i for r in records for i in r["injections"]]
    # a stop the mission's end cut short (its goal reached before the stop was due)
    # is neither in time nor late
    stale = [i for i in injs if i["expected"] == fk.CONTROLLED_STOP and not i.get("cut_short")]
    estop = [i for i in injs if i["expected"] == fk.LATCHED_STOP]
    # the faults that stop the robot and end: after each it must drive on
    recoverable = [i for i in injs if i["t_end"] is not None and i["expected"] in fk.STOPS]
    contacts = sum(i["contacts"] for i in injs) + sum(r["contacts_between"][0] for r in records)
    moving = sum(i["moving_contacts"] for i in injs) + \
        sum(r["contacts_between"][1] for r in records)
    failing = [(r, i) for r in records for i in r["injections"] if i["problems"]]
    return {
        "runs": len(records) + len(errors), "run_errors": len(errors),
        "injections": len(injs), "wall_time_s": round(wall_s, 2),
        "sim_time_s": round(sim_s, 1), "throughput": round(sim_s / wall_s, 1) if wall_s else 0,
        "injections_per_min": round(60 * len(injs) / wall_s, 0) if wall_s else 0,
        "contacts": contacts, "moving_obstacle_contacts": moving,
        "stale_within_bound": _share(stale, lambda i: i["age_s"] is not None
                                     and i["age_s"] <= i["bound_s"] + 1e-9),
        "estop_within_tick": _share(estop, lambda i: i["stop_s"] is not None
                                    and i["stop_s"] <= i["bound_s"] + 1e-9),
        "resumed": _share(recoverable, lambda i: i["t_motion"] is not None),
        "completed": _share(records, lambda r: r["completed"]),
        "short_runs": sum(len(r["injections"]) < 3 for r in records),
        "failed_injections": len(failing),
        "failed_runs": sorted({(r["scenario"], r["index"]) for r, _ in failing}
                              | {(r["scenario"], r["index"]) for r in records
                                 if not r["completed"]}),
    }


def headline(t: dict) -> str:
    """The campaign's figures against its targets, on one line."""
    def pct(x: float) -> str:
        return "-" if x != x else f"{100 * x:.4g}%"

    return (f"{t['injections']} injections in {t['runs']} runs, {t['wall_time_s']:.1f} s "
            f"({t['injections_per_min']:.0f}/min, {t['throughput']:.0f}x real time): "
            f"{t['contacts']} contacts (+{t['moving_obstacle_contacts']} with moving "
            f"obstacles); stale stops within max_age + 1 tick {pct(t['stale_within_bound'])}; "
            f"e-stop within 1 tick {pct(t['estop_within_tick'])}; resumed {pct(t['resumed'])}; "
            f"missions completed {pct(t['completed'])}; {t['failed_injections']} failed "
            "injections")


def _share(items: list, ok) -> float:
    return round(sum(1 for i in items if ok(i)) / len(items), 6) if items else math.nan


def describe_injection(i: dict[str, Any]) -> str:
    """One injection's numbers on one line (what a replay prints)."""
    parts = [f"t={i['t_fault']:.2f} s {i['label']}" + (f" ({i['variant']})" if i["variant"]
                                                       else ""), f"expect {i['expected']}"]
    for key, word in (("stop_s", "stop"), ("age_s", "since last input"),
                      ("standstill_s", "standstill"), ("resume_s", "motion after end")):
        if i[key] is not None:
            parts.append(f"{word} {i[key]:.3f} s")
    if i["contacts"] or i["moving_contacts"]:
        parts.append(f"contacts {i['contacts']} (+{i['moving_contacts']} moving)")
    if i["counted"] is not None:
        parts.append("counted" if i["counted"] else "NOT counted")
    if i.get("cut_short"):
        parts.append("cut short (the goal was reached before the stop was due)")
    parts.append("ok" if not i["problems"] else "FAILED: " + "; ".join(i["problems"]))
    return ", ".join(parts)
