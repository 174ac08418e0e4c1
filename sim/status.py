"""The simulator's own message type: ground-truth counters of a run."""

from __future__ import annotations

import numpy as np

from robo_orch.messages import MessageType, register

#: where the simulator publishes its status (both backends)
STATUS_TOPIC = "sim/status"
#: the simulator's bus inputs and the counters of each carried in its status
INPUT_COUNTERS = {"command": "cmd", "estop": "estop"}
_COUNTER_NAMES = ("received", "malformed", "dropped", "disconnects")

#: published by the simulator every step on ``sim/status``; ``latency_*`` is the
#: sensor-to-actuator latency of the commands it applied (see :class:`robo_orch.sim.node.SimNode`),
#: ``cmd_*`` and ``estop_*`` its input subscriptions' counters
SIM_STATUS = register(MessageType(
    name="sim_status",
    type_id=100,
    dtype=np.dtype([("t", "<f8"), ("distance", "<f8"), ("min_clearance", "<f8"),
                    ("x", "<f8"), ("y", "<f8"), ("yaw", "<f8"),
                    ("latency_p50_us", "<f8"), ("latency_p99_us", "<f8"),
                    ("latency_max_us", "<f8"),
                    ("collisions", "<u4"), ("deadman_stops", "<u4")]
                   + [(f"{prefix}_{name}", "<u4") for prefix in INPUT_COUNTERS.values()
                      for name in _COUNTER_NAMES]),
))


def fill_input_counters(status: np.ndarray, counters: dict[str, dict[str, int]]) -> None:
    """Write :func:`inputs_from_status`'s dict into a status message (saturating at 2**32-1)."""
    for role, prefix in INPUT_COUNTERS.items():
        for name in _COUNTER_NAMES:
            status[f"{prefix}_{name}"] = min(int(counters[role][name]), 0xFFFFFFFF)


def inputs_from_status(status: np.ndarray) -> dict[str, dict[str, int]]:
    """The simulator's input counters in a status message: {role: {counter: n}}."""
    return {role: {name: int(status[f"{prefix}_{name}"]) for name in _COUNTER_NAMES}
            for role, prefix in INPUT_COUNTERS.items()}
