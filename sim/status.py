"""The simulator's own message type: ground-truth counters of a run."""

from __future__ import annotations

import numpy as np

from robo_orch.messages import MessageType, register

#: published by the simulator every step on ``sim/status``; ``latency_*`` is the
#: sensor-to-actuator latency of the commands it applied (see :class:`sim.node.SimNode`)
SIM_STATUS = register(MessageType(
    name="sim_status",
    type_id=100,
    dtype=np.dtype([("t", "<f8"), ("distance", "<f8"), ("min_clearance", "<f8"),
                    ("x", "<f8"), ("y", "<f8"), ("yaw", "<f8"),
                    ("latency_p50_us", "<f8"), ("latency_p99_us", "<f8"),
                    ("latency_max_us", "<f8"),
                    ("collisions", "<u4"), ("deadman_stops", "<u4")]),
))
