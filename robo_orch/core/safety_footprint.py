"""The safety layer of a robot with a polygon footprint (``robot.footprint``).

:func:`safety_footprint` has the signature, steps and flags of
:func:`robo_orch.core.safety.safety` (see that module), with steps 5 and 6
checked for every circle covering the footprint and against the polygon
(:mod:`robo_orch.core.footprint_stop`); limits without a footprint are checked as
the round robot's.  A module of its own so that a round robot's start does not
compile the footprint's checks (and this one's does not compile the round kernel).
"""

from __future__ import annotations

import numba

from robo_orch.core.safety_steps import SAFETY_SIG, run_steps


@numba.njit(SAFETY_SIG, cache=True, error_model="numpy")
def safety_footprint(state, scan, limits, proposal_v, proposal_w, mem, cmd_out):
    """Turn the proposal into the command (``cmd_out``, ``state[CMD_V/W]``); return flags."""
    return run_steps(state, scan, limits, proposal_v, proposal_w, mem, cmd_out, True)
