"""Parameters shared by the behaviors that drive toward a goal (``go_to_goal``,
``follow_path``): cruise limits and the slow-down near the goal."""

from __future__ import annotations

from dataclasses import dataclass

from robo_orch.schema import check_order, option


@dataclass(frozen=True)
class ApproachParams:
    """Cruise speed and yaw rate, and how the approach slows near the goal."""

    max_speed: float = option(0.6, gt=0, le=10, doc="cruise speed, m/s", live=True)
    max_yaw_rate: float = option(1.5, gt=0, le=20, doc="yaw rate limit, rad/s", live=True)
    slow_radius: float = option(0.8, ge=0, le=20,
                                doc="slow down within this distance of the goal (the last "
                                    "waypoint, or the path's end), m", live=True)
    min_speed: float = option(0.05, ge=0, le=10,
                              doc="speed floor while slowing down near the goal, m/s", live=True)

    def validate(self, source: str, prefix: str) -> None:
        """Cross-field checks."""
        check_order(self, source, prefix, "min_speed", "max_speed")
