"""Built-in input adapters (:mod:`robo_orch.adapter`), found by name through the registry
(group ``robo_orch.adapters``); the runtime never imports them by module path.

* :mod:`~robo_orch.adapters.gps_fix`: the ``gps`` input's position fixes, as a position of
  the robot's centre for the estimator;
* :mod:`~robo_orch.adapters.laser_points`: the ``scan`` input's scans, as the world's scan
  points and distance field.
"""
