"""Automatic tuning: an Optuna study over (scenario, seed) instances, run on the runner.

* The study lives in this process (ask/tell) and in a journal file
  (``JournalFileBackend``): Ctrl-C, then the same command again, resumes it; a trial
  that was running when it stopped is marked failed and asked again.
* Each trial runs its parameter set on the tuning instances, in a shuffled order of
  their own (seeded by the trial number), a batch of ``jobs`` at a time; each
  instance's value is reported under its stable id (its index in scenario x seed
  order), so Optuna's ``WilcoxonPruner`` compares the trial with the best one on the
  instances both ran and prunes a trial that is significantly worse.  A pruned trial's
  value is its partial mean: it is tagged ``pruned`` and never chosen as the winner.
* A run's value: ``time_to_goal`` is the time to goal of a run that met its criteria,
  else the scenario's time limit plus :data:`FAIL_PENALTY_S`; ``path_ratio`` is the
  driven path over the shortest one, else :data:`FAILED_PATH_RATIO`.
* Constraints (``Trial.set_constraint``; TPE and GP use them): no contact on any run,
  and a success rate not
  below the baseline's (the unchanged config on the same instances, run first and
  kept with the study; when it lies in the searched ranges it is trial 0 too).

The command is ``robo-orch tune`` (:mod:`robo_orch.cli.tune`); the ranges, the tuned
file and the reproducing command are :mod:`robo_orch.missions.tune_space`.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from robo_orch.errors import ConfigError, UsageError
from robo_orch.missions import tune_space as T
from robo_orch.missions.runner import Instance, Runner
from robo_orch.missions.scenarios import scenario_name
from robo_orch.missions.sweep import fault_record

#: a failed run's time to goal: the scenario's time limit plus this, s
FAIL_PENALTY_S = 30.0
#: a failed run's path ratio
FAILED_PATH_RATIO = 3.0
OBJECTIVES = ("time_to_goal", "path_ratio")
STUDY_NAME = "robo-orch-tune"
#: the constraints' names in the study (each value <= 0 when kept)
CONSTRAINTS = ("contacts", "success_rate_below_baseline")
INSTALL_HINT = "robo-orch tune needs Optuna: pip install 'robo-orch[tune]'"


def import_optuna() -> Any:
    """Optuna, quiet; a clear one-line UsageError naming the extra when it is missing."""
    try:
        import optuna
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # the best trial may be a pruned one, without every instance: compared where both ran
    warnings.filterwarnings("ignore", message="WilcoxonPruner finds steps")
    return optuna


def run_value(objective: str, record: dict[str, Any], time_limit_s: float) -> float:
    """One run's value for the objective (lower is better; a failed run is penalised)."""
    ok = bool(record.get("success"))
    if objective == "time_to_goal":
        return float(record["time_to_goal_s"]) if ok else time_limit_s + FAIL_PENALTY_S
    if objective == "path_ratio":
        ratio = record.get("path_ratio")
        return float(ratio) if ok and ratio is not None else FAILED_PATH_RATIO
    raise UsageError(f"--objective {objective}: use one of {', '.join(OBJECTIVES)}")


@dataclass
class Evaluation:
    """One parameter set's runs on the tuning instances (all, or up to its pruning)."""

    values: dict[int, float] = field(default_factory=dict)
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    pruned: bool = False

    @property
    def mean(self) -> float:
        """Mean value over the instances run."""
        return sum(self.values.values()) / len(self.values) if self.values else float("nan")

    @property
    def success_rate(self) -> float:
        """Share of the instances run that met their criteria."""
        return (sum(bool(r.get("success")) for r in self.records.values()) / len(self.records)
                if self.records else 0.0)

    @property
    def contacts(self) -> int:
        """Contacts over the instances run."""
        return sum(int(r.get("collisions") or 0) for r in self.records.values())


@dataclass
class Setup:
    """What is tuned, on what: recorded with the study so a rerun resumes the same one."""

    scenarios: list[str]
    dims: list[T.Dim]
    objective: str
    seeds: list[int]
    overrides: tuple[str, ...] = ()
    sampler: str = "tpe"
    sampler_seed: int = 0

    def instances(self) -> list[tuple[str, int]]:
        """The tuning instances in stable-id order: scenario-major, then seed."""
        return [(p, s) for p in self.scenarios for s in self.seeds]

    def ids(self) -> list[str]:
        """Each instance's stable id, ``scenario/seed``."""
        return [f"{scenario_name(p)}/{s}" for p, s in self.instances()]

    def signature(self) -> dict[str, Any]:
        """What must match for a study file to be resumed."""
        return {"scenarios": [str(s) for s in self.scenarios],
                "params": [d.spec() for d in self.dims], "objective": self.objective,
                "seeds": self.seeds, "overrides": list(self.overrides),
                "sampler": self.sampler}


class Tuner:
    """The study, its baseline and its trials; missions run on ``runner``."""

    def __init__(self, setup: Setup, runner: Runner, study_path: str,
                 say: Callable[[str], None] = print, batch: int | None = None) -> None:
        from robo_orch.config import load_config

        self.setup, self.runner, self.say = setup, runner, say
        self.optuna = import_optuna()
        self.configs = {p: load_config(p, setup.overrides) for p in setup.scenarios}
        first = self.configs[setup.scenarios[0]]
        self.defaults = {d.key: T.current_value(first, d.key) for d in setup.dims}
        for p, cfg in self.configs.items():  # every key must load in every scenario
            for d in setup.dims:  # both ends of each range must be valid values
                T.current_value(cfg, d.key)
                for end in (d.lo, d.hi):
                    try:
                        load_config(p, (*setup.overrides, *T.overrides_of(
                            {d.key: T.rounded(d, end)})), with_behaviors=True)
                    except ConfigError as err:
                        raise UsageError(f"--param {d.spec()}: {_num(end)} is not a valid "
                                         f"value: {err.problem}") from None
        self.batch = batch or getattr(runner.backend, "slots", None) or runner.jobs
        self.study = self._open(study_path)

    # --- the study ---------------------------------------------------------------------

    def _sampler(self, n_before: int) -> Any:
        optuna, s = self.optuna, self.setup
        seed = s.sampler_seed + n_before  # a resumed study does not redraw the same points
        if s.sampler == "gp":
            try:
                import torch  # noqa: F401  (the GP sampler's own dependency)
            except ImportError:
                raise UsageError("--sampler gp needs PyTorch: pip install torch "
                                 "(or use the default --sampler tpe)") from None
            return optuna.samplers.GPSampler(seed=seed, deterministic_objective=True)
        if s.sampler != "tpe":
            raise UsageError(f"--sampler {s.sampler}: use tpe or gp")
        return optuna.samplers.TPESampler(seed=seed,
                                          n_startup_trials=min(10, max(3, len(s.dims) * 3)))

    def _open(self, path: str) -> Any:
        optuna = self.optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(path))
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        n_before = 0
        if STUDY_NAME in names:
            old = optuna.load_study(study_name=STUDY_NAME, storage=storage)
            if old.user_attrs.get("setup") != self.setup.signature():
                raise UsageError(f"--study {path}: holds a study of another setup "
                                 f"({old.user_attrs.get('setup')}); use another file or "
                                 "delete it")
            n_before = len(old.trials)
        study = optuna.create_study(study_name=STUDY_NAME, storage=storage, direction="minimize",
                                    sampler=self._sampler(n_before),
                                    pruner=optuna.pruners.WilcoxonPruner(p_threshold=0.1),
                                    load_if_exists=True)
        study.set_user_attr("setup", self.setup.signature())
        for t in study.trials:  # stopped mid-trial: that trial again
            if t.state == optuna.trial.TrialState.RUNNING:
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)
                study.enqueue_trial(t.params)
                self.say(f"trial {t.number} was interrupted: asked again")
        return study

    def trials_done(self) -> int:
        """Finished trials, the baseline's aside."""
        done = self.optuna.trial.TrialState.COMPLETE
        return sum(t.state == done and not t.user_attrs.get("baseline")
                   for t in self.study.trials)

    # --- running -------------------------------------------------------------------------

    def evaluate(self, params: dict[str, Any], trial: Any = None) -> Evaluation:
        """Run ``params`` on the tuning instances (shuffled by trial, pruned when asked)."""
        tasks = self.setup.instances()
        order = list(range(len(tasks)))
        if trial is not None:
            random.Random(trial.number).shuffle(order)
        overrides = (*self.setup.overrides, *T.overrides_of(params))
        ev = Evaluation()
        for start in range(0, len(order), self.batch):
            chunk = order[start:start + self.batch]
            todo = [Instance(config=tasks[i][0], seed=tasks[i][1], overrides=overrides,
                             job="scenario", key=i,
                             cost=self.configs[tasks[i][0]].mission.time_limit_s)
                    for i in chunk]
            for o in self.runner.run(todo):
                i = o.instance.key
                path, seed = tasks[i]
                rec = o.value if o.ok else fault_record(o, scenario_name(path), seed)
                ev.records[i] = rec
                ev.values[i] = run_value(self.setup.objective, rec,
                                         self.configs[path].mission.time_limit_s)
            if trial is not None:
                for i in chunk:
                    trial.report(ev.values[i], step=i)
                if len(ev.values) < len(order) and trial.should_prune():
                    ev.pruned = True
                    break
        return ev

    def baseline(self) -> dict[str, Any]:
        """The unchanged config on the tuning instances (run once, kept with the study)."""
        got = self.study.user_attrs.get("baseline")
        if got is not None:
            return got
        t0 = time.perf_counter()
        ev = self.evaluate({})
        got = {"mean": ev.mean, "success_rate": ev.success_rate, "contacts": ev.contacts,
               "values": {str(i): v for i, v in ev.values.items()},
               "params": self.defaults}
        self.study.set_user_attr("baseline", got)
        self.say(f"baseline {_fmt_params(self.defaults)}: {self._value_text(ev)} "
                 f"({time.perf_counter() - t0:.1f} s)")
        if all(d.contains(self.defaults[d.key]) for d in self.setup.dims):
            self.study.add_trial(self.optuna.trial.create_trial(
                params=dict(self.defaults),
                distributions={d.key: d.distribution() for d in self.setup.dims},
                value=ev.mean, intermediate_values=dict(ev.values),
                user_attrs=self._attrs(ev, self.defaults, got, baseline=True),
                constraints=dict(zip(CONSTRAINTS, _constraint_values(ev, got), strict=True))))
        return got

    def _attrs(self, ev: Evaluation, params: dict[str, Any], base: dict[str, Any], *,
               baseline: bool = False) -> dict[str, Any]:
        return {"baseline": baseline,
                "pruned": ev.pruned, "instances_run": len(ev.values),
                "success_rate": ev.success_rate, "contacts": ev.contacts,
                "run_params": params,
                "constraints": _constraint_values(ev, base)}

    def run(self, trials: int) -> None:
        """Ask and run trials until ``trials`` have finished (counting earlier runs')."""
        base = self.baseline()
        started = time.perf_counter()
        first = self.trials_done()
        while self.trials_done() < trials:
            trial = self.study.ask({d.key: d.distribution() for d in self.setup.dims})
            params = {d.key: T.rounded(d, trial.params[d.key]) for d in self.setup.dims}
            ev = self.evaluate(params, trial)
            attrs = self._attrs(ev, params, base)
            for k, v in attrs.items():
                trial.set_user_attr(k, v)
            for k, v in zip(CONSTRAINTS, attrs["constraints"], strict=True):
                trial.set_constraint(k, v)
            self.study.tell(trial, ev.mean)
            n = self.trials_done()
            eta = (time.perf_counter() - started) / max(1, n - first) * (trials - n)
            feasible = "" if _feasible(attrs) else ", infeasible: " + ", ".join(_why(attrs))
            tag = (f" PRUNED after {len(ev.values)}/{len(self.setup.instances())} instances "
                   "(partial mean)" if ev.pruned else "")
            self.say(f"trial {trial.number} ({n}/{trials}, ETA {eta:.0f} s): "
                     f"{_fmt_params(params)}: {self._value_text(ev)}{tag}{feasible}")

    def _value_text(self, ev: Evaluation) -> str:
        unit = " s" if self.setup.objective == "time_to_goal" else ""
        ok = sum(bool(r.get("success")) for r in ev.records.values())
        return (f"{self.setup.objective} {ev.mean:.3f}{unit} mean over {len(ev.values)} "
                f"({ok}/{len(ev.records)} ok, {ev.contacts} contacts)")

    def winner(self) -> Any | None:
        """The best full, feasible trial that is not the baseline (None when none is)."""
        done = self.optuna.trial.TrialState.COMPLETE
        full = [t for t in self.study.trials if t.state == done and not t.user_attrs.get("pruned")
                and not t.user_attrs.get("baseline") and _feasible(t.user_attrs)]
        return min(full, key=lambda t: t.value) if full else None

    def worst_instance(self, trial: Any) -> tuple[str, int]:
        """The instance on which a trial did worst (for the reproducing command)."""
        step = max(trial.intermediate_values, key=lambda s: trial.intermediate_values[s])
        return self.setup.instances()[int(step)]


def _constraint_values(ev: Evaluation, base: dict[str, Any]) -> list[float]:
    """Optuna's convention: each value <= 0 when satisfied."""
    return [float(ev.contacts), float(base["success_rate"] - ev.success_rate)]


def _feasible(attrs: dict[str, Any]) -> bool:
    return all(c <= 1e-9 for c in attrs.get("constraints", [0.0, 0.0]))


def _why(attrs: dict[str, Any]) -> list[str]:
    contacts, success = attrs["constraints"]
    return ([f"{int(contacts)} contacts"] if contacts > 0 else []) + (
        [f"success {100 * attrs['success_rate']:.0f}% below the baseline's"]
        if success > 1e-9 else [])


def _num(v: float) -> str:
    return f"{v:g}"


def _fmt_params(params: dict[str, Any]) -> str:
    from robo_orch.missions.sweep import short_key

    return " ".join(f"{short_key(k)}={v}" for k, v in params.items())


__all__ = ["FAILED_PATH_RATIO", "FAIL_PENALTY_S", "INSTALL_HINT", "OBJECTIVES", "Evaluation",
           "Setup", "Tuner", "import_optuna", "run_value"]
