"""Wheeled bases commanded with (v, w): differential drive and skid steer.

A skid-steer base is a differential drive whose wheels slip sideways when it
turns: the instantaneous centre of rotation of each side lies outside the wheels,
modelled by ``robot.skid_factor`` >= 1, so the yaw rate is ``(v_right - v_left) /
(skid_factor * wheel_base)``.  Everything that converts between wheel speeds and
(v, w) (the simulator, the estimator's odometry, the safety kernel's wheel limit)
uses that effective track; the rest is the differential drive's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from robo_orch.core import safety_steps as saf
from robo_orch.core import world as W
from robo_orch.kinematics.base import Kinematics

if TYPE_CHECKING:
    from robo_orch.config.sections import SafetyConfig


class _Wheels(NamedTuple):
    """What :func:`robo_orch.core.safety.pack_limits` reads of the robot."""

    wheel_base: float
    max_wheel_speed: float
    motor_time_constant: float


class DiffDrive(Kinematics):
    """Two driven wheels on one axle (plus casters): (v, w), no slip."""

    kind = "diff_drive"
    base_kind = W.BASE_DIFF_DRIVE

    @property
    def track(self) -> float:
        return float(self.robot.wheel_base)

    def pack_limits(self, safety: SafetyConfig) -> np.ndarray:
        r = self.robot
        return self.with_footprint(saf.pack_limits(safety, _Wheels(
            self.track, r.max_wheel_speed, r.motor_time_constant)))

    def safety_kernel(self):
        # imported here: each import compiles its kernel, and a robot needs one of them
        if self.robot.footprint:
            from robo_orch.core.safety_footprint import safety_footprint

            return safety_footprint
        from robo_orch.core.safety import safety

        return safety


class SkidSteer(DiffDrive):
    """Four or six wheels (or tracks), each side driven together: (v, w), sideways slip."""

    kind = "skid_steer"
    base_kind = W.BASE_SKID_STEER

    @property
    def track(self) -> float:
        return float(self.robot.skid_factor) * float(self.robot.wheel_base)
