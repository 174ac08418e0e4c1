"""Hosting a robot's processes: the driver host (:mod:`~robo_orch.hosting.driver_host`,
one driver per process), the supervisor that starts and restarts them
(:mod:`~robo_orch.hosting.supervisor`), and ``robo-orch run``
(:mod:`~robo_orch.hosting.robot`: the loop on hardware with its drivers)."""
