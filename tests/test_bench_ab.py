"""bench.ab: the scripts it runs in each checkout, run here in this one."""

from __future__ import annotations

import sys
from pathlib import Path

from robo_orch.bench import ab
from robo_orch.config import load_config, shipped_scenarios
from robo_orch.missions.session import run_mission

REPO = Path(__file__).resolve().parents[1]


def test_the_per_scenario_script_times_each_scenarios_lockstep_ticks():
    """The script a checkout runs for ``--per-scenario`` reports, per scenario, the ticks of
    the seed-1 lockstep mission (the same as a run here) and a positive time a tick."""
    out = ab._side(sys.executable, REPO, ab._PER_SCENARIO, "open_field,u_trap", "1")
    assert set(out) == {"open_field", "u_trap"}
    paths = {p.stem: p for p in shipped_scenarios()}
    for name, row in out.items():
        run = run_mission(load_config(paths[name]), backend="lockstep", seed=1)
        assert row["ticks"] == run.stats.ticks
        assert row["us_per_tick"] > 0.0
