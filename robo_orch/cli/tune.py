"""``robo-orch tune``: tune config keys with Optuna over scenarios and seeds, check the
winner on held-out seeds, write it as a small TOML file that extends the original.

The study is :mod:`robo_orch.missions.tune`.  Exit status 0 when a trial beat the
baseline on the tuning seeds (and, with held-out seeds, was not worse there), 1 when
none did, 2 usage (Optuna missing: the line names the extra to install), 130 Ctrl-C
(the same command resumes the study).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from robo_orch.cli.output import write_output
from robo_orch.cli.sweep import add_runner_options, make_runner


def add_parser(sub) -> None:
    """Register ``tune``."""
    p = sub.add_parser("tune", help="tune config keys with Optuna over scenarios and seeds; "
                       "check the winner on held-out seeds")
    p.add_argument("names", nargs="+", metavar="SCENARIO",
                   help="scenario files or shipped scenario names")
    p.add_argument("--param", action="append", default=[], metavar="KEY=LO:HI[:log|:int]",
                   help="a key and its range (repeatable; KEY may start with a behavior's "
                   "name, e.g. avoid_obstacles.max_speed=0.3:0.8)")
    p.add_argument("--objective", default="time_to_goal", choices=("time_to_goal", "path_ratio"),
                   help="mean over the instances, lower is better; a failed run counts as "
                   "the time limit + 30 s (path ratio: 3.0) (default time_to_goal)")
    p.add_argument("--trials", type=int, default=30, metavar="N",
                   help="trials in the study, resumed ones included (default 30)")
    p.add_argument("--seeds", type=int, default=5, metavar="S",
                   help="tuning seeds per scenario: 1..S (default 5)")
    p.add_argument("--holdout-seeds", type=int, default=10, metavar="H",
                   help="held-out seeds S+1..S+H the winner is checked on (default 10; 0: none)")
    p.add_argument("--out", metavar="FILE", help="write the winner: a TOML file that extends "
                   "the original and holds only the changed keys")
    p.add_argument("--robot", metavar="CONFIG", help="tune this config (your robot) on the "
                   "scenarios' worlds, missions and criteria")
    p.add_argument("--sampler", default="tpe", choices=("tpe", "gp"),
                   help="tpe (default) or gp (small continuous budgets; needs PyTorch)")
    p.add_argument("--sampler-seed", type=int, default=0, metavar="N",
                   help="the sampler's seed (default 0)")
    p.add_argument("--study", metavar="FILE", help="the study's journal file: a rerun with the "
                   "same file resumes it (default: OUT.journal, or robo-orch-tune.journal)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key in every run, baseline included (repeatable)")
    p.add_argument("--show-trial", type=int, metavar="N", help="print the `robo-orch sim` "
                   "command of each instance trial N ran, with its value, and exit (the "
                   "same options name the study)")
    add_runner_options(p)
    p.add_argument("--plot", metavar="FILE", help="write the optimisation history as a PNG "
                   "(and the parameter importances beside it, FILE_importances.png)")
    p.set_defaults(func=run_tune)


def run_tune(args: argparse.Namespace) -> int:
    """Run ``tune``: 0 a better config found, 1 none."""
    from robo_orch.config import load_config
    from robo_orch.errors import UsageError
    from robo_orch.missions import tune as TU
    from robo_orch.missions import tune_space as T

    TU.import_optuna()
    if args.trials < 1 or args.seeds < 1 or args.holdout_seeds < 0:
        raise UsageError("--trials and --seeds must be at least 1, --holdout-seeds at least 0")
    study_path = args.study or (f"{args.out}.journal" if args.out else "robo-orch-tune.journal")
    names = list(args.names)
    if args.robot:
        load_config(args.robot, with_behaviors=False)  # a bad robot file fails here, once
        folder = Path(study_path).parent / f"{Path(study_path).stem}.worlds"
        names = T.robot_worlds(args.robot, names, folder)
    overrides = tuple(args.set)
    raw = load_config(names[0], overrides, with_behaviors=False).raw
    dims = T.parse_dims(args.param, raw)
    seeds = list(range(1, args.seeds + 1))
    holdout = list(range(args.seeds + 1, args.seeds + 1 + args.holdout_seeds))
    setup = TU.Setup(scenarios=names, dims=dims, objective=args.objective, seeds=seeds,
                     overrides=overrides, sampler=args.sampler, sampler_seed=args.sampler_seed)
    if args.show_trial is not None:
        return _show_trial(setup, study_path, args.show_trial)
    print(f"tuning {', '.join(d.spec() for d in dims)} on {len(names)} scenarios x "
          f"{len(seeds)} seeds, {args.trials} trials; study in {study_path}", flush=True)
    with make_runner(args, len(names) * len(seeds)) as runner:
        tuner = TU.Tuner(setup, runner, study_path, say=lambda s: print(s, flush=True))
        try:
            tuner.run(args.trials)
        except KeyboardInterrupt:
            print(f"interrupted: the study is in {study_path}; the same command resumes it",
                  file=sys.stderr)
            raise
        return _report(args, tuner, runner, holdout, study_path)


def _report(args, tuner, runner, holdout: list[int], study_path: str) -> int:
    from robo_orch.config import load_config
    from robo_orch.missions import sweep as S
    from robo_orch.missions import tune_space as T

    setup, base = tuner.setup, tuner.baseline()
    pruned = sum(bool(t.user_attrs.get("pruned")) for t in tuner.study.trials)
    best = tuner.winner()
    unit = " s" if setup.objective == "time_to_goal" else ""
    print(f"{tuner.trials_done()} trials ({pruned} pruned: partial means, never chosen); "
          f"baseline {setup.objective} {base['mean']:.3f}{unit} over "
          f"{len(setup.instances())} instances")
    if args.plot:
        _plot(tuner, args.plot)
    if best is None or best.value >= base["mean"]:
        print("no full trial that kept the constraints (0 contacts, success rate not below "
              "the baseline's) beat the baseline: the defaults stand; nothing written")
        return 1
    params = best.user_attrs["run_params"]
    gain = 100 * (best.value - base["mean"]) / base["mean"]
    print(f"best: trial {best.number} {_fmt(params)}: {best.value:.3f}{unit} "
          f"({gain:+.1f}% on the tuning seeds)")
    path, seed = tuner.worst_instance(best)
    print("reproduce its worst instance: " + T.sim_command(
        path, seed, (*setup.overrides, *T.overrides_of(params))))
    comment = [f"robo-orch tune {datetime.date.today()}: {', '.join(map(_name, setup.scenarios))}, "
               f"objective {setup.objective}, trial {best.number} of {tuner.trials_done()}",
               f"tuning seeds 1-{len(setup.seeds)}: {base['mean']:.3f} -> {best.value:.3f}{unit} "
               f"({gain:+.1f}%)"]
    status = 0
    if holdout:
        sets = [S.ParamSet("default"), S.ParamSet("tuned", T.overrides_of(params))]
        result = S.run_sweep(setup.scenarios, sets, holdout, runner=runner,
                             overrides=setup.overrides, what="held-out check",
                             progress=None if args.quiet else sys.stderr)
        print(f"held-out seeds {holdout[0]}-{holdout[-1]} (paired, same instances):")
        print(S.format_table(result))
        m0, m1, cmp = result.metrics(0), result.metrics(1), result.comparison(1)
        held = _held_text(m0, m1, cmp)
        print(f"held-out: {held}")
        comment.append(f"held-out seeds {holdout[0]}-{holdout[-1]}: {held}")
        key = "time_to_goal_s" if setup.objective == "time_to_goal" else "path_ratio"
        worse = (m1["success_rate"] < m0["success_rate"] or m1["contacts"] > m0["contacts"]
                 or (m1[key] or 0.0) > (m0[key] or 0.0))
        status = 1 if worse else 0
        where = " ".join(setup.scenarios) if args.robot else " ".join(args.names)
        comment.append(f"check: robo-orch sweep {where} --set-file "
                       f"{Path(args.out).name if args.out else 'FILE'} --seeds {len(holdout)} "
                       f"--first-seed {holdout[0]}")
    if args.out:
        target = T.extends_target(list(args.names), args.robot, args.out)
        write_output(args.out, T.tuned_toml(target, params, comment))
        load_config(args.out)  # what `robo-orch check` loads
        print(f"tuned config written to {args.out} (extends {target}; "
              f"robo-orch check {args.out} accepts it)")
    return status


def _show_trial(setup, study_path: str, number: int) -> int:
    """``--show-trial N``: the sim command of every instance trial N ran."""
    from robo_orch.errors import UsageError
    from robo_orch.missions import tune as TU
    from robo_orch.missions import tune_space as T

    optuna = TU.import_optuna()
    if not Path(study_path).exists():
        raise UsageError(f"--study {study_path}: no such study file")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(study_path))
    study = optuna.load_study(study_name=TU.STUDY_NAME, storage=storage)
    if study.user_attrs.get("setup") != setup.signature():
        raise UsageError(f"--study {study_path}: holds a study of another setup")
    trial = next((t for t in study.trials if t.number == number), None)
    if trial is None or "run_params" not in trial.user_attrs:
        raise UsageError(f"--show-trial {number}: the study has no finished trial {number}")
    attrs = trial.user_attrs
    tag = " (baseline)" if attrs.get("baseline") else (
        " PRUNED: a partial mean" if attrs.get("pruned") else "")
    print(f"trial {number}{tag}: {_fmt(attrs['run_params'])}: {setup.objective} "
          f"{trial.value:.3f} over {attrs['instances_run']} instances")
    overrides = (*setup.overrides, *T.overrides_of(attrs["run_params"]))
    ids = setup.ids()
    for step, (path, seed) in enumerate(setup.instances()):
        if step in trial.intermediate_values:
            print(f"{ids[step]}: {trial.intermediate_values[step]:.3f}  "
                  + T.sim_command(path, seed, overrides))
    return 0


def _held_text(m0: dict, m1: dict, cmp: dict) -> str:
    t0, t1 = m0["time_to_goal_s"], m1["time_to_goal_s"]
    time_text = "-" if t0 is None or t1 is None else \
        f"time to goal {t0:.2f} -> {t1:.2f} s ({100 * (t1 - t0) / t0:+.1f}%)"
    return (f"{time_text}, success {m0['successes']}/{m0['runs']} -> "
            f"{m1['successes']}/{m1['runs']}, contacts {m0['contacts']} -> {m1['contacts']}; "
            f"{cmp['verdict']}")


def _name(path: str) -> str:
    return Path(path).stem


def _fmt(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _plot(tuner, out: str) -> None:
    from robo_orch.missions.tune_plot import plot_history, plot_importances

    plot_history(tuner.study, out, tuner.setup.objective, tuner.baseline()["mean"])
    print(f"history written to {out}")
    imp = str(Path(out).with_name(Path(out).stem + "_importances" + (Path(out).suffix or ".png")))
    if plot_importances(tuner.study, imp):
        print(f"importances written to {imp}")
    else:
        print("no importances plot: too few full trials, or all with the same value")
