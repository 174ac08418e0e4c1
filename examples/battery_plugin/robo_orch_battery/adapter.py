"""``battery_charge``: the input adapter taking ``battery_state`` messages into the world.

Configured on an input of its own::

    [inputs.battery]
    topic = "sensor/battery"
    adapter = "battery_charge"
    max_age_s = 1.0

it writes two user scalars: ``battery_charge`` (the pack's state of charge, 0-1) and
``battery_known`` (1 once a reading was taken: before that the charge reads 0, which
is no reading, not an empty pack).  A reading whose charge lies beyond [0, 1] by more
than ``tolerance`` is rejected (``out_of_range``); non-finite values and bad stamps
are rejected by the framework before the kernel runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba

from robo_orch.adapter import ACCEPTED, OUT_OF_RANGE, InputAdapter, adapter_signature
from robo_orch.behavior import param_index
from robo_orch.schema import option


@dataclass(frozen=True)
class Params:
    """Parameters of :class:`BatteryCharge` (keys of its input's table)."""

    tolerance: float = option(0.05, ge=0, le=1,
                              doc="a charge beyond [0, 1] by more than this is rejected")


P_TOLERANCE = param_index(Params)["tolerance"]
F_CHARGE = 2  #: battery_state's fixed part: voltage, current, charge


@numba.njit(adapter_signature(), cache=True)
def adapt(world, idx, fixed, var, count, params, state):
    """Write the charge (clipped to [0, 1]) to ``battery_charge``; mark it known."""
    charge = fixed[F_CHARGE]
    tol = params[P_TOLERANCE]
    if charge < -tol or charge > 1.0 + tol:
        return OUT_OF_RANGE
    s = world[0]
    s[idx[0]] = min(max(charge, 0.0), 1.0)
    s[idx[1]] = 1.0
    return ACCEPTED


class BatteryCharge(InputAdapter):
    """``battery_state`` -> the user scalars ``battery_charge`` and ``battery_known``."""

    kind = "battery_charge"
    Params = Params
    kernel = adapt
    message = "battery_state"
    scalars = ("battery_charge", "battery_known")
    writes = ("battery_charge", "battery_known")
