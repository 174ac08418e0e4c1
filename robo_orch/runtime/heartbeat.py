"""The loop's heartbeat to systemd: READY=1, WATCHDOG=1 while ticks complete, STOPPING=1.

A thread beside the loop reads the loop's tick counter (:class:`TickStats`) and
never touches the tick itself:

* ``READY=1`` once the first tick has completed (a ``Type=notify`` unit is
  "started" only then, so ``systemctl start`` waits for a loop that really runs);
* ``WATCHDOG=1`` every quarter of systemd's ``WatchdogSec``, but only while the
  newest tick completed at most ``stall_periods`` periods ago (and at least
  ``min_stall_s``).  A stall (a VM paused for a second, a burst of swapping)
  withholds the pings only while it lasts; they resume with the next tick, so
  systemd restarts the controller only when ticks stopped for about
  ``WatchdogSec``.  A loop stuck inside compiled code holds the GIL, so this
  thread stops too: no pings, and systemd restarts it;
* ``STOPPING=1`` from :meth:`stop`, on the way out.

Without ``NOTIFY_SOCKET`` it sends nothing and starts no thread.
"""

from __future__ import annotations

import threading
import time

from robo_orch.runtime.stats import TickStats
from robo_orch.sdnotify import Notifier, watchdog_interval_s

#: a tick older than this many periods withholds the watchdog ping
STALL_PERIODS = 10


class Heartbeat:
    """Tells systemd that the loop is ready and alive (see the module docstring)."""

    def __init__(self, stats: TickStats, period_s: float, *, notifier: Notifier | None = None,
                 watchdog_s: float | None = None, stall_periods: int = STALL_PERIODS,
                 min_stall_s: float = 0.5, check_s: float = 0.05) -> None:
        self.stats = stats
        self.notifier = notifier if notifier is not None else Notifier()
        #: systemd's watchdog timeout (None: no watchdog, READY and STOPPING only)
        self.watchdog_s = watchdog_interval_s() if watchdog_s is None else watchdog_s
        self.stall_s = max(stall_periods * period_s, min_stall_s)
        self.check_s = check_s
        #: pings sent, and stalls that withheld them (ticks stopped for over ``stall_s``)
        self.pings = 0
        self.withheld = 0
        self.ready_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        """Start the thread (nothing to do without a notify socket)."""
        if self.notifier.active and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sd-notify", daemon=True)
            self._thread.start()
        return self

    def stop(self, status: str = "") -> None:
        """End the thread and send ``STOPPING=1``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self.notifier.stopping(status)
        self.notifier.close()

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        seen, progress_at = self.stats.ticks, time.monotonic()
        interval = self.watchdog_s / 4 if self.watchdog_s else None
        last_ping, stalled = 0.0, False
        while not self._stop.wait(self.check_s):
            now = time.monotonic()
            ticks = self.stats.ticks
            if ticks != seen:
                seen, progress_at = ticks, now
            if self.ready_at is None:
                if ticks > 0:
                    self.ready_at = now
                    self.notifier.ready("loop running")
                continue
            if now - progress_at > self.stall_s:
                self.withheld += not stalled  # one count per stall
                stalled = True
                continue
            stalled = False
            if interval is not None and now - last_ping >= interval:
                self.notifier.watchdog()
                self.pings += 1
                last_ping = now
