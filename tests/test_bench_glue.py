"""The tick-glue benchmark, small: every message of its round trips arrives, the loop ticks."""

from __future__ import annotations

from robo_orch.bench import glue


def test_the_round_trips_deliver_every_message_and_the_loop_runs_every_tick(capsys):
    out = glue.bench_glue(rounds=2, batch=50)
    assert out["delivered"] == 2 * 50
    assert all(out[k] > 0 for k in ("message_round_trip_us", "publish_us", "empty_poll_us",
                                     "empty_loop_tick_us"))
    assert "a message through the memory bus" in capsys.readouterr().out
    idle = glue._Idle(7)
    assert [idle.act(k) for k in range(7)] == [True] * 6 + [False]
    assert glue.main(["--rounds", "1"]) == 0
