"""The fixed-rate loop: absolute deadlines, overrun policy, phase timing, GC in the slack.

Tick ``k`` is due at ``start + k * period``; the loop never sleeps "one period",
so a slow tick does not push every later tick back (no drift).  On a wall clock
it sleeps until ``spin`` before the deadline and busy-waits the rest, because the
OS wakes sleepers tens to hundreds of microseconds late.  On a simulated clock
the wait is a jump, so the same loop runs lockstep simulation as fast as the
machine allows.

Overrun policy, for a tick that starts a whole period or more late:

* ``skip`` (default): move on to the next free slot and count the slots skipped;
* ``catch_up``: run the late ticks back to back until the schedule is met again.

Triggered mode (as PX4 runs its estimator on each IMU sample): given a
``trigger`` (a subscription), a tick starts as soon as the trigger has a message,
so a sensor sample does not wait up to a period for the next slot.  When no
message comes within ``trigger_timeout_ns`` of the previous tick (default two
periods), the tick runs anyway, so a silent sensor degrades to a slower fixed
rate (and, through its ``max_age``, to a controlled stop) instead of freezing the
loop.  Triggered and timed-out ticks are counted.  The period stays the budget:
a triggered tick that computes for longer than a period counts as an overrun,
and garbage is collected only when the slack before the next expected message
(one period after the tick began) allows.

Garbage collection: with ``gc_mode = "slack"`` the objects made during start-up
are frozen (``gc.freeze``) and automatic collection is off; the loop runs the
collector itself after a tick, only when the slack before the next deadline is
larger than what a collection recently cost, and measures every pause.  A
collection that could not find slack for a long time is forced, and counted, so
an overloaded loop cannot leak.
"""

from __future__ import annotations

import gc
from typing import Protocol

from robo_orch.clock import Clock, make_clock
from robo_orch.runtime.stats import TickStats

_GC_THRESHOLDS = (700, 10, 10)  # CPython's defaults: when each generation is due
_GC_FORCE_FACTOR = 50  # force a young collection when this many times overdue


class TickHandler(Protocol):
    """What the loop drives each tick; each method is timed as a phase."""

    def pre_tick(self, tick: int, now_ns: int) -> None:
        """Backend work before sensing (lockstep: advance the simulator)."""

    def sense(self, tick: int, now_ns: int) -> None:
        """Take the latest inputs and estimate state."""

    def plan(self, tick: int) -> None:
        """Run the compiled planning core."""

    def act(self, tick: int) -> bool:
        """Publish commands; return False to end the run."""


class Trigger(Protocol):
    """What can start a tick: a subscription's ``wait`` (see :meth:`Subscription.wait`)."""

    def wait(self, timeout_s: float) -> bool:
        """True as soon as a message is buffered; False after ``timeout_s`` without one."""


class FixedRateLoop:
    """Runs a :class:`TickHandler` at a fixed rate on a :class:`Clock`."""

    def __init__(
        self,
        clock: Clock,
        period_ns: int,
        *,
        stopwatch: Clock | None = None,
        overrun: str = "skip",
        spin_ns: int = 200_000,
        gc_mode: str = "slack",
        stats: TickStats | None = None,
        collect_at_start: bool = True,
        trigger: Trigger | None = None,
        trigger_timeout_ns: int | None = None,
    ) -> None:
        if period_ns <= 0:
            raise ValueError("period must be positive")
        if overrun not in ("skip", "catch_up"):
            raise ValueError(f"unknown overrun policy {overrun!r}")
        self.clock = clock
        self.period_ns = int(period_ns)
        self.stopwatch = stopwatch or make_clock("perf")
        self.overrun = overrun
        self.spin_ns = int(spin_ns)
        self.gc_mode = gc_mode
        #: run a full collection before freezing (tens of ms after numba has compiled;
        #: worth it on a robot that runs for hours, not for short simulated runs)
        self.collect_at_start = collect_at_start
        #: with a trigger, a tick starts when it has a message (see the module docstring)
        self.trigger = trigger
        self.trigger_timeout_ns = int(trigger_timeout_ns or 2 * self.period_ns)
        self.stats = stats or TickStats()
        self.start_ns = 0
        self._stop = False
        self._gc_cost_ns = 50_000
        #: wall time the last run took, from its first tick to its end (stopwatch), ns
        self.elapsed_ns = 0

    def stop(self) -> None:
        """Ask the loop to end after the current tick (safe from a signal handler)."""
        self._stop = True

    def run(self, handler: TickHandler, *, max_ticks: int | None = None) -> TickStats:
        """Tick until ``handler.act`` returns False, :meth:`stop` or ``max_ticks``."""
        clock, period, st = self.clock, self.period_ns, self.stats
        # bound once: a lockstep tick is short enough that lookups per tick show
        read, now_ns, sleep_until = self.stopwatch.now_ns, clock.now_ns, clock.sleep_until_ns
        pre_tick, sense, plan, act = handler.pre_tick, handler.sense, handler.plan, handler.act
        add_backend, add_sense, add_plan, add_act = (st.phase[name].add for name in
                                                     ("backend", "sense", "plan", "act"))
        add_tick, add_late, add_error = st.tick.add, st.lateness.add, st.period_error.add
        trigger, spin = self.trigger, self.spin_ns
        slack_gc = self.gc_mode == "slack"
        gc_count, gc_due = gc.get_count, _GC_THRESHOLDS[0]
        was_enabled = gc.isenabled()
        if slack_gc:
            if self.collect_at_start:
                gc.collect()
            gc.freeze()
            gc.disable()
        self.start_ns = start = now_ns()
        begin = read()
        k = 0
        prev_start = None
        try:
            while not self._stop and (max_ticks is None or st.ticks < max_ticks):
                if trigger is not None:
                    now = self._wait_for_trigger(start if prev_start is None else prev_start)
                    late = 0
                else:
                    deadline = start + k * period
                    now = sleep_until(deadline, spin)
                    late = now - deadline
                if late >= period:
                    st.stalls += 1
                    if self.overrun == "skip":
                        missed = late // period
                        k += missed
                        st.skipped += missed
                        deadline = start + k * period
                        late = now - deadline
                add_late(late)
                if prev_start is not None:
                    add_error(abs(now - prev_start - period))
                prev_start = now
                t0 = read()
                pre_tick(k, now)
                t1 = read()
                sense(k, now)
                t2 = read()
                plan(k)
                t3 = read()
                keep_going = act(k)
                t4 = read()
                add_backend(t1 - t0)
                add_sense(t2 - t1)
                add_plan(t3 - t2)
                add_act(t4 - t3)
                add_tick(t4 - t1)
                st.ticks += 1
                k += 1
                # the next tick is due at the next slot, or (triggered) about a period
                # after this one began: the budget against which a tick overruns
                due = start + k * period if trigger is None else now + period
                if now_ns() > due:
                    st.overruns += 1
                if not keep_going:
                    break
                if slack_gc and gc_count()[0] >= gc_due:
                    self._collect_in_slack(due)
        finally:
            self.elapsed_ns = read() - begin
            if slack_gc:
                gc.unfreeze()
                if was_enabled:
                    gc.enable()
        return st

    def _wait_for_trigger(self, since_ns: int) -> int:
        """Wait for the trigger's next message, at most the timeout after ``since_ns``."""
        deadline = since_ns + self.trigger_timeout_ns
        remaining = deadline - self.clock.now_ns()
        if remaining > 0 and self.trigger.wait(remaining * 1e-9):
            self.stats.triggered += 1
            return self.clock.now_ns()
        self.stats.trigger_timeouts += 1
        return self.clock.sleep_until_ns(deadline, self.spin_ns)

    def _collect_in_slack(self, next_deadline: int) -> None:
        counts = gc.get_count()
        if counts[0] < _GC_THRESHOLDS[0]:
            return
        if counts[2] >= _GC_THRESHOLDS[2]:
            generation = 2
        else:
            generation = 1 if counts[1] >= _GC_THRESHOLDS[1] else 0
        slack = next_deadline - self.clock.now_ns()
        forced = counts[0] >= _GC_THRESHOLDS[0] * _GC_FORCE_FACTOR
        if slack < 2 * self._gc_cost_ns and not forced:
            return
        t0 = self.stopwatch.now_ns()
        gc.collect(generation)
        cost = self.stopwatch.now_ns() - t0
        self.stats.gc.add(cost)
        self.stats.gc_forced += forced and slack < 2 * self._gc_cost_ns
        # remember a pessimistic cost: the largest of the recent ones decays slowly
        self._gc_cost_ns = max(cost, (self._gc_cost_ns * 7) // 8, 20_000)
