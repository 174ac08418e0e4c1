"""Tick statistics: a lockstep mission's series are sized by its time limit and keep every tick."""

from __future__ import annotations

import math

from robo_orch.runtime.stats import TickStats, mission_capacity


def test_a_missions_capacity_covers_its_time_limit_and_no_more_than_the_default():
    assert mission_capacity(120.0, 50.0) == 6016  # 6000 ticks, a margin of 16
    assert mission_capacity(0.1, 50.0) == 21
    for limit in (math.inf, math.nan, 1e9):
        assert mission_capacity(limit, 50.0) == TickStats.CAPACITY
    assert mission_capacity(2621.0, 50.0) == 131066  # 131,050 ticks, a margin of 16
    assert mission_capacity(2622.0, 50.0) == TickStats.CAPACITY  # (131,100 ticks)


def test_a_lockstep_mission_keeps_every_tick_in_series_its_time_limit_sizes():
    from robo_orch.config import load_config
    from robo_orch.missions.session import run_mission

    config = load_config(None, ("mission.time_limit_s=1.5",))
    result = run_mission(config, backend="lockstep")
    stats = result.stats
    assert result.controller.end_reason == "time limit"
    assert len(stats.tick.window()) == stats.ticks == stats.tick.count  # none overwritten
    for series in (stats.tick, stats.lateness, stats.period_error, *stats.phase.values()):
        assert series._cap == mission_capacity(1.5, config.loop.rate_hz) < TickStats.CAPACITY
    assert stats.summary()["tick_time_us"]["n"] == stats.ticks
