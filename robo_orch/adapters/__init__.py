"""Built-in input adapters (:mod:`robo_orch.adapter`), found by name through the registry
(group ``robo_orch.adapters``); the runtime never imports them by module path.

* :mod:`~robo_orch.adapters.wheel_speeds`, :mod:`~robo_orch.adapters.body_velocity`: the
  ``odom`` input's odometry (a wheeled base's, a holonomic base's), as the base's
  velocity for the estimator;
* :mod:`~robo_orch.adapters.imu_gyro`: the ``imu`` input's gyro rate and orientation, as
  a yaw rate and a heading for the estimator;
* :mod:`~robo_orch.adapters.gps_fix`: the ``gps`` input's position fixes, as a position of
  the robot's centre for the estimator;
* :mod:`~robo_orch.adapters.laser_points`: the ``scan`` input's scans, as the world's scan
  points and distance field.
"""
