"""The fixed-rate loop on a simulated clock: deadlines, overrun policies, GC in the slack."""

from __future__ import annotations

import gc
import weakref

import pytest

from robo_orch.clock import SimClock
from robo_orch.runtime.loop import FixedRateLoop

PERIOD = 10_000_000  # 10 ms


class Recorder:
    """Records each tick's index and start time; can make chosen ticks slow."""

    def __init__(self, clock: SimClock, slow: dict[int, int] | None = None, stop_at: int = 10**9):
        self.clock = clock
        self.slow = slow or {}
        self.stop_at = stop_at
        self.ticks: list[tuple[int, int]] = []
        self.order: list[str] = []

    def pre_tick(self, tick, now_ns):
        self.order.append("pre")

    def sense(self, tick, now_ns):
        self.order.append("sense")
        self.ticks.append((tick, now_ns))

    def plan(self, tick):
        self.order.append("plan")
        # a slow tick: simulated time passes while it computes
        self.clock.advance_ns(self.slow.get(len(self.ticks) - 1, 0))

    def act(self, tick):
        self.order.append("act")
        return len(self.ticks) < self.stop_at


def test_ticks_run_on_absolute_deadlines():
    clock = SimClock(start_ns=123)
    rec = Recorder(clock)
    stats = FixedRateLoop(clock, PERIOD).run(rec, max_ticks=50)
    assert [t for t, _ in rec.ticks] == list(range(50))
    assert [now for _, now in rec.ticks] == [123 + k * PERIOD for k in range(50)]
    assert stats.ticks == 50 and stats.overruns == 0 and stats.skipped == 0
    assert rec.order[:4] == ["pre", "sense", "plan", "act"]


def test_a_slow_tick_does_not_shift_later_deadlines():
    clock = SimClock()
    rec = Recorder(clock, slow={3: PERIOD // 2})  # half a period of work: no overrun
    FixedRateLoop(clock, PERIOD).run(rec, max_ticks=8)
    assert [now for _, now in rec.ticks] == [k * PERIOD for k in range(8)]


def test_skip_policy_moves_to_the_next_free_slot_and_counts():
    clock = SimClock()
    rec = Recorder(clock, slow={3: int(2.5 * PERIOD)})
    stats = FixedRateLoop(clock, PERIOD, overrun="skip").run(rec, max_ticks=8)
    indices = [t for t, _ in rec.ticks]
    # tick 3 ends at 5.5 periods: slot 4 passed entirely and is skipped; slot 5 runs
    # at once (half a period late), and slot 6 is on time again
    assert indices == [0, 1, 2, 3, 5, 6, 7, 8]
    starts = [now for _, now in rec.ticks]
    assert starts[4] == int(5.5 * PERIOD)
    assert starts[5] == 6 * PERIOD
    assert stats.overruns == 1
    assert stats.skipped == 1
    assert stats.stalls == 1


def test_catch_up_policy_runs_missed_ticks_back_to_back():
    clock = SimClock()
    rec = Recorder(clock, slow={3: int(2.5 * PERIOD)})
    stats = FixedRateLoop(clock, PERIOD, overrun="catch_up").run(rec, max_ticks=8)
    assert [t for t, _ in rec.ticks] == list(range(8))
    starts = [now for _, now in rec.ticks]
    assert starts[4] == starts[5] == int(5.5 * PERIOD)  # slots 4 and 5 run late, back to back
    assert starts[6] == 6 * PERIOD  # then the schedule is met again
    assert stats.skipped == 0 and stats.overruns >= 1


def test_act_returning_false_ends_the_run():
    clock = SimClock()
    rec = Recorder(clock, stop_at=5)
    stats = FixedRateLoop(clock, PERIOD).run(rec)
    assert stats.ticks == 5


def test_stop_request_ends_the_run_after_the_current_tick():
    clock = SimClock()
    loop = FixedRateLoop(clock, PERIOD)

    class Stopper(Recorder):
        def act(self, tick):
            if tick == 2:
                loop.stop()
            return True

    rec = Stopper(clock)
    stats = loop.run(rec, max_ticks=100)
    assert stats.ticks == 3


def test_lateness_and_period_error_are_zero_on_a_simulated_clock():
    clock = SimClock()
    stats = FixedRateLoop(clock, PERIOD).run(Recorder(clock), max_ticks=20)
    assert stats.lateness.max == 0
    assert stats.period_error.max == 0
    assert stats.tick.count == 20


class Node:
    """A reference cycle: only the cyclic collector can free it."""

    def __init__(self):
        self.me = self


def test_slack_gc_collects_cycles_without_automatic_collection():
    clock = SimClock()
    refs: list[weakref.ref] = []
    enabled_during: list[bool] = []

    class Garbage(Recorder):
        def plan(self, tick):
            enabled_during.append(gc.isenabled())
            for _ in range(50):  # 50 cycles per tick, 2500 over the run
                refs.append(weakref.ref(Node()))

    was_enabled = gc.isenabled()
    stats = FixedRateLoop(clock, PERIOD, gc_mode="slack").run(Garbage(clock), max_ticks=50)
    assert not any(enabled_during), "automatic collection must be off inside the loop"
    assert gc.isenabled() == was_enabled, "the collector's state is restored afterwards"
    assert stats.gc.count > 0, "collections ran in the slack and were measured"
    alive_after = sum(r() is not None for r in refs)
    assert alive_after < 800, f"{alive_after} cycles still alive: garbage is piling up"


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        FixedRateLoop(SimClock(), 0)
    with pytest.raises(ValueError):
        FixedRateLoop(SimClock(), PERIOD, overrun="pray")


def test_trigger_starts_a_tick_per_message_and_falls_back_when_silent():
    import threading
    import time

    from robo_orch.bus import MemoryBus, MemoryHub, QoS
    from robo_orch.clock import WallClock
    from robo_orch.messages import message_type, new_fixed

    clock, hub = WallClock(), MemoryHub()
    imu = message_type("imu")
    sub = MemoryBus(clock, publisher_id=1, hub=hub).subscribe("sensor/imu", imu, QoS.latest())
    pub = MemoryBus(clock, publisher_id=2, hub=hub).publisher("sensor/imu", imu)
    msg = new_fixed(imu)
    sent = threading.Event()

    def publish() -> None:
        for _ in range(20):
            pub.publish(msg)
            time.sleep(0.01)
        sent.set()

    class Consumer(Recorder):
        """Takes the trigger's message in sense, as the real sense phase does."""

        def __init__(self):
            super().__init__(SimClock())
            self.with_message = 0

        def sense(self, tick, now_ns):
            sub.poll()
            if sub.latest() is not None:
                self.with_message += 1

        def act(self, tick):
            return not (sent.is_set() and tick >= 40)

    handler = Consumer()
    thread = threading.Thread(target=publish)
    loop = FixedRateLoop(clock, 50_000_000, trigger=sub, trigger_timeout_ns=20_000_000,
                         gc_mode="default")
    thread.start()
    stats = loop.run(handler, max_ticks=200)
    thread.join()
    # every triggered tick found its message; every timed-out tick found none
    assert stats.triggered == handler.with_message
    assert 1 <= stats.triggered <= 20
    assert stats.trigger_timeouts >= 1
    assert stats.triggered + stats.trigger_timeouts == stats.ticks


def test_a_triggered_tick_longer_than_a_period_is_an_overrun():
    from robo_orch.bus import MemoryBus, MemoryHub, QoS
    from robo_orch.messages import message_type, new_fixed

    clock, hub, imu = SimClock(), MemoryHub(), message_type("imu")
    sub = MemoryBus(clock, publisher_id=1, hub=hub).subscribe("sensor/imu", imu, QoS.latest())
    MemoryBus(clock, publisher_id=2, hub=hub).publisher("sensor/imu", imu).publish(new_fixed(imu))
    # the message stays buffered (nothing consumes it): every tick starts on the trigger at once
    rec = Recorder(clock, slow={2: PERIOD + PERIOD // 2, 5: PERIOD // 2})
    stats = FixedRateLoop(clock, PERIOD, trigger=sub).run(rec, max_ticks=8)
    assert stats.triggered == 8 and stats.trigger_timeouts == 0
    assert stats.overruns == 1  # only the tick that computed for 1.5 periods
