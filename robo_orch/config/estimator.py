"""The ``[estimator]`` section: the EKF's noise model and the checks on what it fuses.

Kept apart from :mod:`robo_orch.config.sections` (which it follows in every way) so
both stay small; :mod:`robo_orch.runtime.input_checks` and :mod:`robo_orch.runtime.estimate_health`
read the check and gate keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from robo_orch.errors import ConfigError
from robo_orch.schema import option


@dataclass(frozen=True)
class EstimatorConfig:
    """The EKF that fuses wheel odometry, the IMU and position fixes, and the checks on them."""

    odom_speed_std: float = option(0.02, gt=0, doc="odometry forward speed noise, m/s")
    odom_yaw_rate_std: float = option(0.05, gt=0, doc="odometry yaw rate noise, rad/s")
    imu_yaw_rate_std: float = option(0.01, gt=0, doc="IMU yaw rate noise, rad/s")
    accel_std: float = option(1.0, gt=0, doc="process noise: forward acceleration, m/s^2")
    yaw_accel_std: float = option(2.0, gt=0, doc="process noise: yaw acceleration, rad/s^2")
    gps_antenna: tuple[float, ...] = option([0.0, 0.0], length=2,
                                            doc="GPS antenna position on the robot [x, y], m "
                                                "(the fix is moved to the robot's centre)")
    imu_yaw: str = option("relative", choices=("off", "relative", "absolute"),
                          doc="fuse the IMU's own heading: 'relative' aligns it with the "
                              "estimate at its first reading (6-axis IMUs), 'absolute' takes it "
                              "as map heading (a calibrated magnetometer)")
    imu_yaw_std: float = option(0.02, gt=0, doc="IMU heading noise, rad")
    # --- input checks before fusion (see the README's "Input checks") ---
    position_std_min: float = option(0.001, gt=0, doc="a position fix whose std is below "
                                     "this is rejected (it would freeze the estimate), m")
    position_std_max: float = option(100.0, gt=0, le=1e6, doc="a position fix whose std is above "
                                     "this (or not finite) is rejected, m")
    wheel_speed_factor: float = option(2.0, ge=1, doc="a wheel speed above this times "
                                       "robot.max_wheel_speed is rejected")
    max_gyro_rate: float = option(35.0, gt=0, doc="a gyro rate above this is rejected, rad/s")
    quaternion_tolerance: float = option(0.05, gt=0, lt=1, doc="an IMU orientation "
                                         "quaternion whose norm is farther than this from 1 "
                                         "is rejected (all zeros = none reported)")
    max_stamp_lead_s: float = option(0.05, ge=0, le=60, doc="a message stamped on the loop's clock "
                                     "more than this after its arrival is rejected, s")
    position_gate: float = option(13.816, gt=0, doc="Mahalanobis gate for position fixes "
                                  "(chi-square, 2 dof; 13.816 = p 0.001); farther fixes are "
                                  "rejected")
    heading_gate: float = option(10.828, gt=0, doc="Mahalanobis gate for the IMU heading "
                                 "(chi-square, 1 dof; 10.828 = p 0.001)")
    relocalise_after: int = option(10, ge=0, doc="this many consecutive gated fixes that "
                                   "agree with each other re-initialise the position at the "
                                   "fixes (with a controlled stop until they agree); 0 = never")
    agree_updates: int = option(3, ge=1, doc="after a relocalisation or a non-finite "
                                "estimate: consecutive updates within the gate (and a new "
                                "scan) that end the controlled stop")

    def validate(self, source: str, prefix: str) -> None:
        if not self.position_std_min < self.position_std_max:
            raise ConfigError(source, f"{prefix}.position_std_max",
                              "must be above position_std_min")
