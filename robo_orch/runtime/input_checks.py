"""Checks on every input message before it reaches the estimator, and what they rejected.

:class:`InputChecks` decides, per message and in a few comparisons, whether its
values may be fused, counts rejects per input and reason, and keeps the time of
each input's newest *accepted* message: only those keep an input fresh.

The odometry, IMU and position checks are made on the measurement the input's
adapter hands the estimator (:mod:`robo_orch.runtime.measured`), whichever adapter
that is; this class checks stamps and scan limits, and keeps the counts.

Reasons (:data:`REASONS` lists the scan's; an input through an input adapter, the
estimator's inputs included, has :func:`adapter_reasons`):

* ``non_finite``: a value the estimator would use is NaN or infinite;
* ``std_bounds``: a position fix's std outside ``[position_std_min, position_std_max]``;
* ``out_of_range``: a wheel speed above ``wheel_speed_factor * robot.max_wheel_speed``
  (for a measured velocity ``(v, w, vy)``: ``|v| + |w| track / 2`` or ``|vy|``), a gyro
  rate above ``max_gyro_rate``, or an adapter kernel's status saying so;
* ``quaternion``: an IMU orientation (when reported: not all zeros) whose norm is
  farther than ``quaternion_tolerance`` from 1;
* ``scan_limits``: a scan whose ``range_min``/``range_max`` are not finite or not
  ``0 <= range_min < range_max`` (single rays without a return are skipped, not counted);
* ``future_stamp``: stamped on the loop's clock more than ``max_stamp_lead_s`` after
  its arrival (which the subscription notes on the same clock);
* ``too_old``: stamped on the loop's clock more than the input's ``max_age_s`` before
  its arrival: data that late would be stale, and fused as if current it would
  poison the estimate (a 0.3 s late gyro in a turn left the heading 0.37 rad off);
* ``no_returns``: a scan with fewer valid rays than ``perception.min_scan_returns``
  (decided by the ``laser_points`` adapter, which converts the rays);
* ``gated``: outside the Mahalanobis gate (:mod:`robo_orch.runtime.estimate_health`).  For
  the IMU only its heading is left out: the message's yaw rate is still fused, so
  it still counts as accepted.

An input's age is measured from its newest accepted message's header stamp when
the stamp was made by the loop's clock (same clock id), else from its arrival.
"""

from __future__ import annotations

import math

from robo_orch.bus.counters import Received
from robo_orch.config import Config

REASONS: dict[str, tuple[str, ...]] = {
    "scan": ("scan_limits", "future_stamp", "too_old", "no_returns"),
}
#: the reasons of an input with an input adapter (:mod:`robo_orch.adapter`): non-finite
#: values and stamps checked here, ``out_of_range`` when its kernel returns that status
ADAPTER_REASONS = ("non_finite", "out_of_range", "future_stamp", "too_old")
#: what the check of each measurement an adapter hands the estimator can reject it for
MEASUREMENT_REASONS = {"velocity": ("out_of_range",), "yaw_rate": ("out_of_range", "gated"),
                       "position": ("std_bounds", "gated")}
_ORDER = ("non_finite", "std_bounds", "out_of_range", "quaternion", "scan_limits",
          "future_stamp", "too_old", "no_returns", "gated")


def adapter_reasons(cls: type) -> tuple[str, ...]:
    """The reject reasons of an input through adapter class ``cls``: non-finite values
    and stamps, its kernel's ``rejects``, and its measurement's checks (in the order of
    the built-in inputs' reasons, an adapter's own reasons last)."""
    names = {"non_finite", "future_stamp", "too_old", *cls.rejects,
             *MEASUREMENT_REASONS.get(getattr(cls, "fuses", ""), ())}
    return (tuple(r for r in _ORDER if r in names)
            + tuple(r for r in cls.rejects if r not in _ORDER))

_isfinite = math.isfinite


class InputChecks:
    """Plausibility checks and reject counters for the loop's inputs."""

    def __init__(self, config: Config, roles: list[str], clock_id: int,
                 reasons: dict[str, tuple[str, ...]] | None = None) -> None:
        est = config.estimator
        reasons = reasons or {}
        self.lead_ns = int(est.max_stamp_lead_s * 1e9)
        self.max_age_ns = {role: int(config.inputs[role].max_age_s * 1e9) for role in roles}
        self.clock_id = clock_id
        self.accepted = dict.fromkeys(roles, 0)
        self.rejected = {role: dict.fromkeys(
            reasons.get(role) or REASONS.get(role, ADAPTER_REASONS), 0)
                         for role in roles}
        #: per input: loop-clock time of its newest accepted message, ns (None: never)
        self.fresh_ns: dict[str, int | None] = dict.fromkeys(roles, None)

    # --- bookkeeping ------------------------------------------------------------------
    def reject(self, role: str, reason: str) -> bool:
        """Count a reject; returns False so a check can ``return self.reject(...)``."""
        counts = self.rejected[role]
        counts[reason] = counts.get(reason, 0) + 1
        return False

    def accept(self, role: str, msg: Received) -> None:
        """Count an accepted message and let it keep its input fresh."""
        self.accepted[role] += 1
        header = msg.header
        t = header.stamp_ns if header.clock_id == self.clock_id else msg.recv_ns
        last = self.fresh_ns[role]
        if last is None or t > last:
            self.fresh_ns[role] = t

    def _early(self, role: str, msg: Received) -> bool:
        """True (and counted) if the message is stamped, on the loop's clock, after its
        arrival (on the same clock: a tick that starts late cannot make it look early),
        or more than the input's max age before it (``too_old``)."""
        header = msg.header
        if header.clock_id == self.clock_id:
            lead = header.stamp_ns - msg.recv_ns
            if lead > self.lead_ns:
                self.rejected[role]["future_stamp"] += 1
                return True
            if -lead > self.max_age_ns[role]:
                self.rejected[role]["too_old"] += 1
                return True
        return False

    # --- per input ---------------------------------------------------------------------
    def scan(self, range_min: float, range_max: float, msg: Received) -> bool:
        """Scan limits finite and ordered (rays are checked one by one when converted)."""
        if not (_isfinite(range_min) and _isfinite(range_max)
                and 0.0 <= range_min < range_max):
            return self.reject("scan", "scan_limits")
        return not self._early("scan", msg)

    def adapted(self, role: str, finite: bool, msg: Received) -> bool:
        """An adapter input's message: its values finite (``finite``, from
        :meth:`robo_orch.adapter.MessageBuffers.finite`) and its stamp plausible; the
        adapter's kernel decides the rest."""
        if not finite:
            return self.reject(role, "non_finite")
        return not self._early(role, msg)

    def stale(self, role: str, now_ns: int, max_age_ns: int) -> bool:
        """True if the input never had an accepted message or the newest is too old."""
        t = self.fresh_ns[role]
        return t is None or now_ns - t > max_age_ns

    def as_dict(self) -> dict[str, dict]:
        """Per input: ``accepted`` and ``rejected`` (by reason) counts, JSON-ready."""
        return {role: {"accepted": self.accepted[role], "rejected": dict(self.rejected[role])}
                for role in self.accepted}
