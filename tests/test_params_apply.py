"""Live changes applied to a lockstep run: between ticks, whole, at the tick they say."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from robo_orch.behavior import param_index
from robo_orch.config import load_config
from robo_orch.errors import ConfigError
from robo_orch.missions.session import run_mission


def _run(changes_at: dict[int, dict], seen: list, *, duration_s: float = 3.0):
    """A short lockstep demo run that submits ``changes_at[tick]`` during ``tick``'s act."""
    config = load_config(None, ["mission.time_limit_s=60"])
    tickets = []

    def progress(ctl):
        planner = ctl.planner
        i = planner.names.index("go_to_goal")
        k = param_index(planner.specs[i].cls.Params)["k_heading"]
        seen.append((ctl.completed_tick, float(planner.params[i][k]),
                     float(planner.limits[4]), int(planner.enabled[planner.names.index(
                         "follow_path")]), ctl.live.pending, float(planner.cmd[0])))
        change = changes_at.get(ctl.completed_tick)
        if change is not None:
            tickets.append(ctl.live.submit(ctl.live.propose(change)))

    result = run_mission(config, backend="lockstep", duration_s=duration_s, progress=progress)
    return result, tickets


def test_a_change_takes_effect_at_the_next_tick_whole():
    seen = []
    change = {"behaviors.go_to_goal.k_heading": 3.5, "safety.max_decel": 2.5,
              "behaviors.follow_path.enabled": False}
    _, tickets = _run({40: change}, seen)
    (ticket,) = tickets
    assert ticket.done.is_set() and ticket.error is None
    assert ticket.submitted_tick == 40 and ticket.tick == 41
    by_tick = {t: tuple(rest) for t, *rest in seen}
    before, after = by_tick[40], by_tick[41]
    # all three keys at once, between tick 40 and tick 41, never earlier
    assert before[:3] == (2.0, 2.0, 1) and after[:3] == (3.5, 2.5, 0)
    assert all(by_tick[t][:3] == before[:3] for t in range(40))
    assert all(by_tick[t][:3] == after[:3] for t in range(41, max(by_tick) + 1))


def test_a_change_changes_the_commands():
    base, changed = [], []
    _run({}, base, duration_s=2.0)
    _run({20: {"behaviors.go_to_goal.max_speed": 0.3,
               "behaviors.follow_path.max_speed": 0.3}}, changed, duration_s=2.0)
    cmd0, cmd1 = np.array([s[-1] for s in base]), np.array([s[-1] for s in changed])
    assert np.array_equal(cmd0[:21], cmd1[:21])  # identical up to the change
    assert not np.array_equal(cmd0, cmd1)


def test_a_stale_change_is_validated_again_on_the_new_config():
    config = load_config(None)
    from robo_orch.bus import MemoryHub, make_bus
    from robo_orch.clock import make_clock
    from robo_orch.runtime.controller import Controller

    bus = make_bus("memory", make_clock("sim"), publisher_id=1, hub=MemoryHub())
    try:
        ctl = Controller(config, bus)
        first = ctl.live.propose({"safety.max_decel": 0.5, "safety.collision_horizon_s": 3.0})
        second = ctl.live.propose({"safety.collision_horizon_s": 1.5})  # fine on its own
        t1, t2 = ctl.live.submit(first), ctl.live.submit(second)
        ctl.pre_tick(0, 0)
        assert t1.tick == 0 and t2.tick == -1 and t2.done.is_set()
        assert "shorter than the stopping time" in str(t2.error)
        assert ctl.config.safety.collision_horizon_s == 3.0
        with pytest.raises(ConfigError):
            ctl.live.propose({"safety.max_decel": 0.0})
    finally:
        bus.close()


def test_submit_from_another_thread():
    config = load_config(None)
    from robo_orch.bus import MemoryHub, make_bus
    from robo_orch.clock import make_clock
    from robo_orch.runtime.controller import Controller

    bus = make_bus("memory", make_clock("sim"), publisher_id=1, hub=MemoryHub())
    try:
        ctl = Controller(config, bus)
        change = ctl.live.propose({"behaviors.go_to_goal.k_heading": 1.0})
        box = []
        th = threading.Thread(target=lambda: box.append(ctl.live.submit(change)))
        th.start()
        th.join()
        assert not box[0].done.is_set()
        ctl.pre_tick(7, 0)
        assert box[0].done.wait(1) and box[0].tick == 7
    finally:
        bus.close()


def test_recorded_changes_rerun_bit_exactly_at_their_ticks(tmp_path):
    from robo_orch.record.reader import open_recording
    from robo_orch.record.replay import rerun
    from robo_orch.record.writer import Recorder, RecordOptions

    rec = Recorder(RecordOptions(str(tmp_path / "tuned.mcap")))
    change = {"behaviors.go_to_goal.max_speed": 0.3, "behaviors.follow_path.max_speed": 0.3,
              "safety.max_accel": 0.5}

    def progress(ctl):
        if ctl.completed_tick == 50:
            ctl.live.submit(ctl.live.propose(change))

    run_mission(load_config(None), backend="lockstep", duration_s=3.0, on_start=rec.attach,
                progress=progress)
    result = rec.close()
    assert result.raw["loop/params"] == 1 and result.lost["loop/params"] == 0
    recording = open_recording(result.files[0])
    (shown,) = [m for _, m in recording.foxglove("/loop/params")]  # what Foxglove shows
    assert shown["tick"] == 51 and shown["source"] == "param set"
    assert {c["key"]: c["value"] for c in shown["changes"]} == {
        "behaviors.go_to_goal.max_speed": "0.3", "behaviors.follow_path.max_speed": "0.3",
        "safety.max_accel": "0.5"}
    report = rerun(recording, load_config(None))
    assert not report.diverged and report.param_changes == 1
    assert "1 live parameter changes applied at their recorded ticks" in report.text()
    without = rerun(recording, load_config(None), params=False)
    assert int(without.ticks[without.first_divergence]) == 51  # the change mattered, there
