"""A holonomic base (mecanum or omni wheels): commanded with (vx, vy, w) in the body frame.

* command ``body_velocity_command`` (vx, vy, w); odometry ``body_odometry``;
* simulator :class:`robo_orch.sim.omni.OmniSimulator` (the model of
  :func:`robo_orch.sim.holonomic.step_holonomic`: the same first-order lag on
  each body component; wheel limit ``|vx| + |vy| + k |w|``, ``k = (wheel_base +
  axle_distance) / 2``);
* estimator: the EKF for (x, y, yaw, vx, w) plus the lateral filter of
  :mod:`robo_orch.core.lateral` (world slot ``VY``);
* safety: :func:`robo_orch.core.safety_holonomic.safety_holonomic` with
  :func:`~robo_orch.core.safety_holonomic.pack_limits_holonomic`;
* behaviors read ``BASE_KIND == BASE_HOLONOMIC`` and may propose ``out[OUT_VY]``
  (``go_to_goal`` drives straight at its target while turning toward it; the DWA of
  ``avoid_obstacles`` samples (vx, vy, w); ``recover`` backs off or sidesteps
  toward the most open side).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from robo_orch.core import safety_holonomic as sh
from robo_orch.core import world as W
from robo_orch.kinematics.base import Kinematics

if TYPE_CHECKING:
    from robo_orch.config.sections import SafetyConfig


class Holonomic(Kinematics):
    """Four mecanum (or three or four omni) wheels: moves in any direction while turning."""

    kind = "holonomic"
    base_kind = W.BASE_HOLONOMIC
    command_type = "body_velocity_command"
    odometry_type = "body_odometry"
    odometry_adapter = "body_velocity"
    lateral = True
    simulator = "robo_orch.sim.omni:OmniSimulator"
    serial_devices = False

    @property
    def track(self) -> float:
        # the (v, w) <-> virtual wheel conversion the EKF's odometry update uses
        return float(self.robot.wheel_base)

    def pack_limits(self, safety: SafetyConfig) -> np.ndarray:
        return self.with_footprint(sh.pack_limits_holonomic(safety, self.robot))

    def safety_kernel(self):
        return sh.safety_holonomic

    def mem_size(self, max_scan: int) -> int:
        """Length of the safety kernel's ``mem``."""
        size = getattr(sh, "mem_size", None)
        base = 8 + 3 * max_scan if size is None else max(size(max_scan), 8 + 3 * max_scan)
        return base + self.footprint_scratch(max_scan)
