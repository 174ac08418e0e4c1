"""fault_proposal: a faulty planner, for the fault campaign (``robo-orch faults``).

Not a built-in: the campaign adds it to a scenario's config by module path
(``kind = "robo_orch.behaviors.fault_proposal:FaultProposal"``), disabled, at a
priority above every planner, and enables it for the length of a fault through
the planner's enable mask.  While enabled it wins arbitration with:

* ``mode = 0`` (random): a new proposal every ``hold_ticks`` ticks, forward speed
  uniform in ``[-speed, speed]`` and yaw rate in ``[-yaw_rate, yaw_rate]``, with
  a ``nan_share`` of non-finite proposals (NaN or +-inf);
* ``mode = 1`` (at obstacles): full ``speed`` straight at the nearest scan point
  (turning toward it first when it is more than 0.5 rad off the heading).

The safety layer must keep the robot out of contact either way.  The random
stream is a splitmix64 of ``seed`` and the loop time at which the behavior was
enabled, so a run is deterministic and every injection draws differently.
Diagnostics: ``out[2]`` mode, ``out[3]`` proposals drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba

from robo_orch.behavior import Behavior, param_index
from robo_orch.core.world import OUT_V, OUT_W, SCAN_COUNT, YAW, T, X, Y, kernel_signature
from robo_orch.schema import option


@dataclass(frozen=True)
class Params:
    """Tunables of :class:`FaultProposal`."""

    mode: int = option(0, ge=0, le=1, doc="0: random proposals, 1: straight at the nearest "
                                            "obstacle", live=True)
    speed: float = option(1.2, gt=0, le=20, doc="largest forward speed proposed, m/s", live=True)
    yaw_rate: float = option(3.0, gt=0, le=50, doc="largest yaw rate proposed, rad/s", live=True)
    hold_ticks: int = option(5, ge=1, le=1000, doc="random mode: ticks each proposal is held",
                             live=True)
    nan_share: float = option(0.1, ge=0, le=1, doc="random mode: share of non-finite proposals",
                              live=True)
    seed: int = option(0, ge=0, le=2**31 - 1, doc="seed of the random proposals", live=True)


_P = param_index(Params)
P_MODE, P_SPEED, P_YAW_RATE = _P["mode"], _P["speed"], _P["yaw_rate"]
P_HOLD, P_NAN, P_SEED = _P["hold_ticks"], _P["nan_share"], _P["seed"]
# state: [0] 1 once seeded, [1] splitmix64 state (as float bits), [2] ticks, [3] v, [4] w
S_SEEDED, S_RNG, S_TICKS, S_V, S_W = 0, 1, 2, 3, 4


@numba.njit("uint64(uint64)", cache=True)
def _mix(z):
    z = (z ^ (z >> numba.uint64(30))) * numba.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> numba.uint64(27))) * numba.uint64(0x94D049BB133111EB)
    return z ^ (z >> numba.uint64(31))


@numba.njit("float64(float64[::1])", cache=True)
def _uniform(state):
    """The next uniform [0, 1) draw of the splitmix64 stream kept in ``state[S_RNG]``."""
    s = numba.uint64(state[S_RNG]) + numba.uint64(0x9E3779B97F4A7C15)
    s &= numba.uint64(0xFFFFFFFFFFFFF)  # 52 bits: stored exactly in a float64
    state[S_RNG] = float(s)
    return float(_mix(s) >> numba.uint64(11)) / 9007199254740992.0


@numba.njit(kernel_signature(), cache=True)
def step(world, idx, params, state, out):
    """Propose a faulty command (see the module docstring); always active."""
    ws = world[0]
    scan = world[1]
    if state[S_SEEDED] == 0.0:
        state[S_SEEDED] = 1.0
        state[S_RNG] = float((int(params[P_SEED]) * 1_000_003 + int(ws[T] * 1000.0))
                             & 0xFFFFFFFFFFFFF)
    speed = params[P_SPEED]
    if params[P_MODE] == 0.0:
        if state[S_TICKS] % params[P_HOLD] == 0.0:
            state[S_V] = speed * (2.0 * _uniform(state) - 1.0)
            state[S_W] = params[P_YAW_RATE] * (2.0 * _uniform(state) - 1.0)
            if _uniform(state) < params[P_NAN]:
                pick = _uniform(state)
                state[S_V] = math.nan if pick < 0.5 else (math.inf if pick < 0.75 else -math.inf)
        out[OUT_V] = state[S_V]
        out[OUT_W] = state[S_W]
    else:
        n = min(int(ws[SCAN_COUNT]), scan.shape[0])
        best, bx, by = math.inf, 0.0, 0.0
        for j in range(n):
            d = math.hypot(scan[j, 0] - ws[X], scan[j, 1] - ws[Y])
            if d < best:
                best, bx, by = d, scan[j, 0], scan[j, 1]
        if n == 0:
            out[OUT_V] = speed
            out[OUT_W] = 0.0
        else:
            err = math.atan2(by - ws[Y], bx - ws[X]) - ws[YAW]
            err = math.atan2(math.sin(err), math.cos(err))
            out[OUT_W] = min(max(4.0 * err, -params[P_YAW_RATE]), params[P_YAW_RATE])
            out[OUT_V] = speed if abs(err) < 0.5 else 0.0
    state[S_TICKS] += 1.0
    out[2] = params[P_MODE]
    out[3] = state[S_TICKS]
    return 1.0


class FaultProposal(Behavior):
    """A planner gone wrong: random or obstacle-seeking proposals (fault campaign only)."""

    kind = "fault_proposal"
    Params = Params
    kernel = step
    reads = ("t", "x", "y", "yaw", "scan_count", "scan")
    state_size = 5
    blendable = False
    reset_on_new_path = False
