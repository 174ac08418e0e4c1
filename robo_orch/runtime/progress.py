"""The one-line progress display while a mission runs."""

from __future__ import annotations

import time
from typing import TextIO

from robo_orch.core import world as W


class ProgressLine:
    """Rewrites one status line (on a terminal) or prints one every few seconds (in logs).

    Called from the act phase each tick; it does nothing unless its wall-clock
    interval has passed, so it costs a clock read per tick.
    """

    def __init__(self, stream: TextIO, interval_s: float | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval_ns = int((interval_s or (0.25 if self.tty else 2.0)) * 1e9)
        self._next = time.perf_counter_ns() + self.interval_ns
        self._shown = False
        self._tick_max = 0

    def __call__(self, controller) -> None:
        stats = controller.stats
        if stats is not None and stats.tick.count:
            last = stats.tick.last
            if last > self._tick_max:
                self._tick_max = last
        now = time.perf_counter_ns()
        if now < self._next:
            return
        self._next = now + self.interval_ns
        self._show(controller)
        self._tick_max = 0

    def _show(self, controller) -> None:
        s = controller.world.state
        n = int(s[W.PATH_COUNT])
        idx = min(int(s[W.TARGET_INDEX]) + 1, n)
        stale = " STALE" if s[W.STALE] else ""
        estop = " E-STOP" if s[W.ESTOP] else ""
        goal = controller.distance_to_goal
        text = (f"t {s[W.T]:7.2f} s | waypoint {idx}/{n} | goal {goal:6.2f} m"
                f" | v {s[W.CMD_V]:5.2f} m/s w {s[W.CMD_W]:5.2f} rad/s"
                f" | tick max {self._tick_max / 1e3:6.1f} us"
                f" | safety stops {len(controller.safety_stops)}{stale}{estop}")
        if self.tty:
            self.stream.write("\r" + text + "\033[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._shown = True

    def finish(self, controller) -> None:
        """Show the final state and end the line."""
        self._show(controller)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
