"""The estimate's health: the gating rule, non-finite recovery, and the controlled stop they hold.

:class:`EstimateHealth` is plain Python called by the sense phase a few times per
tick; it owns no arrays (the EKF kernels do the numbers) and decides:

* **Gated fixes.** A position fix outside the Mahalanobis gate is not fused.  A
  run of ``relocalise_after`` consecutive gated fixes that agree with each other
  (the difference of two successive innovations within the same gate, for the
  two fixes' combined variance) means the robot really is where the fixes say:
  the position is re-initialised at the last fix (variance: its std squared),
  one warning line is printed, and a controlled stop holds until the estimate
  agrees again (below).  A run of gated fixes that do not agree with each other
  is never fused; one warning line when it reaches the same length.  Any fused
  fix ends a run.  ``relocalise_after = 0``: never re-initialise (the warning
  comes after 10 gated fixes).
* **Gated headings.** Not fused; after the same number in a row, one warning
  line, and in ``imu_yaw = "relative"`` mode the IMU heading is aligned to the
  estimate again (its zero is arbitrary); in ``absolute`` mode nothing more.
* **Non-finite estimate.** When a guard finds the state or covariance not finite
  (the caller has restored the last finite snapshot with widened variances),
  one warning line per episode, and a controlled stop holds.
* **Agreement.** A hold ends when ``agree_updates`` consecutive measurement
  updates passed the chi-square gate of their degrees of freedom (after a
  relocalisation: position fixes only) and a scan was taken after the event,
  so the obstacles the safety layer sees were placed with the new estimate.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from robo_orch.config import Config

#: gated fixes (or headings) in a row before the warning when relocalisation is off
WARN_AFTER_DEFAULT = 10
#: events kept for the summary (the counts go on beyond)
MAX_EVENTS = 100


class EstimateHealth:
    """Decisions on gated measurements and non-finite estimates; the hold they cause."""

    def __init__(self, config: Config, stream: TextIO | None = None) -> None:
        est = config.estimator
        self.position_gate = est.position_gate
        self.heading_gate = est.heading_gate
        self.relocalise_after = est.relocalise_after
        self.warn_after = est.relocalise_after or WARN_AFTER_DEFAULT
        self.agree_updates = est.agree_updates
        self.stream = stream
        #: the one-line warnings printed so far (also on stderr)
        self.warnings: list[str] = []
        self.non_finite = 0  #: guard trips (several in one episode count each)
        self.relocalisations = 0
        self.events: list[dict[str, Any]] = []
        self.holding = False
        self._hold_role: str | None = None  # None: any input's updates count
        self._agreed = 0
        self._scan_seen = False
        self._episode: dict[str, Any] | None = None
        # gated position fixes in a row, and how many of them agree with each other
        self._gated_run = 0
        self._consistent_run = 0
        self._prev = (0.0, 0.0, 0.0)  # innovation x, y and variance of the last gated fix
        self._heading_run = 0

    def _warn(self, text: str) -> None:
        line = f"robo-orch: warning: {text}"
        if len(self.warnings) < MAX_EVENTS:
            self.warnings.append(line)
        print(line, file=self.stream or sys.stderr, flush=True)

    def _hold(self, kind: str, t: float, role: str | None, **details: Any) -> None:
        self.holding = True
        self._hold_role = role
        self._agreed = 0
        self._scan_seen = False
        self._episode = {"kind": kind, "t": round(t, 6), "until": None, **details}
        if len(self.events) < MAX_EVENTS:
            self.events.append(self._episode)

    # --- reports from the sense phase ------------------------------------------------
    def estimate_not_finite(self, t: float) -> None:
        """A guard found a non-finite estimate and restored the last finite one."""
        self.non_finite += 1
        if self.holding and self._episode is not None and self._episode["kind"] == "non_finite":
            self._agreed = 0  # the same episode goes on
            return
        self._warn(f"estimate turned non-finite at t = {t:.3f} s: restored the last finite "
                   "state with widened uncertainty; controlled stop until fresh data agrees")
        self._hold("non_finite", t, None)

    def fix_accepted(self) -> None:
        """A position fix within the gate was fused."""
        self._gated_run = 0
        self._consistent_run = 0
        self.update(True, "gps")

    def fix_gated(self, ex: float, ey: float, var: float, t: float) -> bool:
        """A fix outside the gate (innovation ``ex, ey``, variance ``var``).

        Returns True when the position must be re-initialised at this fix.
        """
        self._gated_run += 1
        px, py, pvar = self._prev
        dx, dy = ex - px, ey - py
        agrees = self._consistent_run > 0 and \
            dx * dx + dy * dy <= self.position_gate * (var + pvar)
        self._consistent_run = self._consistent_run + 1 if agrees else 1
        self._prev = (ex, ey, var)
        if self.holding and self._hold_role == "gps":
            self._agreed = 0
        if self.relocalise_after and self._consistent_run >= self.relocalise_after:
            self.relocalisations += 1
            offset = (ex * ex + ey * ey) ** 0.5
            self._warn(f"gps: {self._consistent_run} consecutive position fixes {offset:.2f} m "
                       "from the estimate, agreeing with each other: relocalised to the fixes "
                       f"at t = {t:.3f} s; controlled stop until the fixes agree")
            self._hold("relocalised", t, "gps", offset_m=round(offset, 6))
            self._gated_run = 0
            self._consistent_run = 0
            return True
        if self._gated_run == self.warn_after:
            self._warn(f"gps: {self._gated_run} consecutive position fixes outside the gate "
                       f"at t = {t:.3f} s: not fused (the estimate runs without them)")
        return False

    def heading_accepted(self) -> None:
        """An IMU heading within the gate was fused."""
        self._heading_run = 0
        self.update(True, "imu")

    def heading_gated(self, t: float) -> bool:
        """An IMU heading outside the gate; True when it is time to re-align a relative IMU."""
        self._heading_run += 1
        if self._heading_run == self.warn_after:
            self._warn(f"imu: {self._heading_run} consecutive headings outside the gate at "
                       f"t = {t:.3f} s: not fused")
            return True
        return False

    def update(self, agrees: bool, role: str) -> None:
        """A measurement update (``agrees``: within its gate) while a hold may be on."""
        if not self.holding or (self._hold_role is not None and role != self._hold_role):
            return
        self._agreed = self._agreed + 1 if agrees else 0

    def scan_taken(self) -> None:
        """A scan was placed with the current estimate."""
        self._scan_seen = True

    def check_release(self, t: float) -> bool:
        """End the hold once the estimate agrees; returns whether it still holds."""
        if self.holding and self._scan_seen and self._agreed >= self.agree_updates:
            self.holding = False
            if self._episode is not None:
                self._episode["until"] = round(t, 6)
            self._episode = None
        return self.holding

    def as_dict(self) -> dict[str, Any]:
        """Counts, events (kind, start ``t``, release ``until``) and the hold, JSON-ready."""
        return {"non_finite": self.non_finite,
                "relocalisations": self.relocalisations,
                "holding": self.holding,
                "events": [dict(e) for e in self.events]}
