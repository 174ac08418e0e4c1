"""The warm-worker runner: outcomes as they complete, errors reported per instance, dead
workers replaced, and runs in warm workers bit-identical to a fresh ``robo-orch sim``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from helpers import CLI

from robo_orch.missions.report import WALL_CLOCK_FIELDS
from robo_orch.missions.runner import DISPATCH_SWITCH_S, Instance, Runner

#: summary fields that differ between identical runs besides the wall clock
VOLATILE = {*WALL_CLOCK_FIELDS, "config"}


def same(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in VOLATILE}


def die(instance: Instance) -> None:
    """A job whose worker process dies (as a crash in compiled code would end it)."""
    os._exit(3)


def switch_interval(instance: Instance) -> tuple[int, float]:
    """A job: the process it ran in and that process's GIL switch interval."""
    time.sleep(0.02)
    return os.getpid(), sys.getswitchinterval()


def fresh_sim(tmp_path, name: str, seed: int) -> dict:
    """The summary of ``robo-orch sim NAME --lockstep --seed S --set sim.seed=S`` in a new
    process."""
    out = tmp_path / f"{name}-{seed}.json"
    subprocess.run([*CLI, "sim", name, "--lockstep", "--seed", str(seed), "--set",
                    f"sim.seed={seed}", "--summary", str(out), "--quiet"], check=False,
                   capture_output=True, timeout=120)
    return json.loads(out.read_text())


@pytest.mark.slow
def test_runs_in_warm_workers_are_bit_identical_to_a_fresh_sim(tmp_path):
    # the same worker runs several worlds in turn (caches, kernels, a planner thread
    # from the run before): none of it may leak into the next run
    plan = [("cluttered_random", 5), ("maze", 3), ("doorway", 2), ("cluttered_random", 6),
            ("maze", 3), ("cluttered_random", 5)]
    instances = [Instance(config=name, seed=seed, key=(name, seed)) for name, seed in plan]
    with Runner(jobs=2) as runner:
        outcomes = runner.map(instances)
        again = runner.map(instances[:2])  # the same warm workers, a second batch
    assert all(o.ok for o in outcomes + again), [o.error for o in outcomes + again]
    # two processes computed: this one and one worker process
    assert len({o.worker for o in outcomes}) == 2 and os.getpid() in {o.worker for o in outcomes}
    by_key = {}
    for o in outcomes + again:
        by_key.setdefault(o.instance.key, []).append(same(o.value))
    for key, summaries in by_key.items():
        assert all(s == summaries[0] for s in summaries), f"{key}: runs differ"
    for name, seed in (("cluttered_random", 5), ("maze", 3)):
        fresh = same(fresh_sim(tmp_path, name, seed))
        warm = dict(by_key[(name, seed)][0])
        assert warm.pop("shortest_path_m") > 0 and warm.pop("path_ratio") >= 1.0
        del fresh["shortest_path_m"], fresh["path_ratio"]  # sim does not compute them
        assert fresh == warm
    assert by_key[("cluttered_random", 5)][0]["trace_sha256"] != \
        by_key[("cluttered_random", 6)][0]["trace_sha256"]


def test_an_exception_in_one_instance_is_reported_and_the_others_run():
    instances = [Instance(config="doorway", seed=1, overrides=("mission.time_limit_s=2",)),
                 Instance(config="doorway", seed=1, overrides=("safety.no_such_key=1",)),
                 Instance(config="no_such_scenario", seed=1)]
    seen = []
    outcomes = Runner(jobs=1).map(instances, progress=lambda o, s: seen.append(s.done))
    assert outcomes[0].ok and outcomes[0].value["sim_time_s"] == pytest.approx(2.0, abs=0.03)
    assert outcomes[0].sim_s == outcomes[0].value["sim_time_s"]
    assert outcomes[1].error.startswith("ConfigError: ") and "safety.no_such_key" in \
        outcomes[1].error
    assert not outcomes[2].ok
    assert seen == [1, 2, 3]


def test_this_process_hands_work_out_promptly_while_it_runs_some_and_then_restores_the_gil():
    """With worker processes beside it, this process runs instances with a short GIL
    switch interval (its dispatch thread hands a worker its next instance within it;
    at the default 5 ms a worker waited ~8% of a warm suite), and restores the interval."""
    before = sys.getswitchinterval()
    with Runner(jobs=2) as runner:
        outcomes = runner.map([Instance(job="test_runner:switch_interval", key=k)
                               for k in range(12)])
    assert all(o.ok for o in outcomes)
    here = [o.value[1] for o in outcomes if o.value[0] == os.getpid()]
    there = [o.value[1] for o in outcomes if o.value[0] != os.getpid()]
    assert here and there, "both processes ran instances"
    assert here == pytest.approx([DISPATCH_SWITCH_S] * len(here)) and before > DISPATCH_SWITCH_S
    assert set(there) == {before}  # a worker process keeps the default
    assert sys.getswitchinterval() == before


@pytest.mark.slow
def test_a_worker_that_dies_is_replaced_and_its_instance_reported():
    instances = [Instance(config="doorway", seed=1, overrides=("mission.time_limit_s=1",),
                          key="before"),
                 Instance(job="test_runner:die", key="dies"),
                 Instance(config="doorway", seed=2, overrides=("mission.time_limit_s=1",),
                          key="after")]
    with Runner(jobs=2, local=False) as runner:  # two worker processes, none of it here
        outcomes = {o.instance.key: o for o in runner.run(instances)}
        later = runner.map([instances[0]])[0]  # the pool works after the restart
    assert outcomes["dies"].error.startswith("worker process died")
    assert outcomes["before"].ok and outcomes["after"].ok and later.ok
    assert same(later.value) == same(outcomes["before"].value)
