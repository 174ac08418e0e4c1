"""The safety layer: the last compiled step of every tick, proposal -> command.

:func:`safety` turns the arbitrated proposal into the command sent to the
actuators.  The command it sends is the command it checked.  In order:

1. **E-stop** (``state[ESTOP] != 0``, NaN included): zero command at once, no
   ramp, no check; flag :data:`ESTOP`.  (The latch and its reset live in Python.)
2. **Target**: the proposal; while ``state[STALE] != 0`` instead a controlled
   stop: the braking floor ``b`` of step 4 (the speeds one tick of ``max_decel``
   and ``max_yaw_accel`` closer to zero), flag :data:`STALE_STOP`.  A
   non-finite proposal is replaced by zero and flagged :data:`INVALID_INPUT`.
3. **Speed limits**, keeping the curvature (v and w scaled by one factor):
   forward ``max_speed``, reverse ``max_reverse``, yaw rate ``max_yaw_rate``,
   and each wheel ``|v +- w wheel_base / 2| <= max_wheel_speed`` (so the
   actuator never clamps a wheel, which would change the arc driven); flag
   :data:`SPEED_CLAMPED`.
4. **Acceleration ramps**: |v| grows by at most ``max_accel dt`` from the last
   command (``state[CMD_V]``; not from the estimate, or motor lag would slow
   every start).  |v| shrinks from the *smaller* of the last command and the
   estimated speed ``state[V]`` (taken in the last command's direction), by at
   most ``max_decel dt``, never below the target; a sign change brakes to zero
   first.  The same for w with ``max_yaw_accel`` and ``state[W]``.  Flag
   :data:`ACCEL_LIMITED`.  The speed limits are applied again (the last command
   may exceed new limits, and separate ramps can leave the wheel limit).
5. **Look-ahead** (early slowing): the ramped command's arc is stepped over
   ``collision_horizon_s`` (steps of about 0.05 s, at most 200) against the scan
   points near it.  A step is *blocked* when a point is closer than ``radius +
   margin`` to the robot centre and no farther than it is now (a point whose
   distance grows is being escaped from).  With ``free`` the path length before
   the first blocked step, the allowed speed ``u`` is the largest with
   ``u (dt + tau) + u^2 / (2 max_decel) <= free`` (one tick, the actuator lag
   ``robot.motor_time_constant``, then braking), and toward a blocked arc never
   more than ``|state[V]| + max_accel dt``.  Faster commands are scaled to it,
   keeping the curvature, but not below the braking floor ``b`` (below) (flag
   :data:`COLLISION_SLOW`; :data:`COLLISION_STOP` when ``u = 0``: standing, that
   is v = 0 with w kept).  Braking harder is left to the final check.
6. **Final check** (:mod:`robo_orch.core.stopping`): the command is rolled out
   as the robot will drive it - from the estimated (v, w) through the actuator
   lag, held for one tick, then braking at ``max_decel`` / ``max_yaw_accel`` to a
   stop - and checked continuously against the scan points a stop can reach:
   no closer than ``radius + margin`` (or, already inside it, than now less the
   coasting no command prevents), and never into contact counting the
   rollout's model error bound.  If it fails, :func:`~robo_orch.core.stopping.safe_command`
   sends the best checked alternative: on the segment from the *braking floor*
   ``b`` (each component one tick of its limit closer to zero from where step 4
   ramps down) to the command (8 bisection steps; :data:`COLLISION_SLOW` when
   the result moves, else :data:`COLLISION_STOP`; standing, a turn in place is
   preferred to ``b``); if ``b`` fails, the next step of the braking plan the
   last command was checked with, a turn in place (v = 0, w kept), or zero
   (:data:`COLLISION_STOP`).  Zero is sent even when its own rollout fails
   (nothing stops sooner): flag :data:`NO_SAFE_STOP`.  So the scan only reduces the
   command, but through the last plan's next step, which continues the last command
   where the ramp starts from an estimate that disagrees with it (reversing the
   motors while the robot still rolls forward): less than the last command, and
   flagged :data:`COLLISION_STOP`; and where the speed limits cut the ramped command
   below the braking floor (:data:`HARD_BRAKE`: the wheel limit scales v down with a
   new turn), the bisection from ``b`` sends a command between the two, which can be
   faster than the command, never than ``b`` (one tick of ``max_decel`` from where
   the robot goes).

Collisions are checked in the frame of the scan's points, moved only by
odometry since the scan (:func:`robo_orch.core.odoframe.scan_frame_pose`), so a
position or heading fix that jumps the estimate cannot move the obstacles.
:data:`HARD_BRAKE` is set whenever the command sent is below the braking floor
(it drops faster than ``max_decel`` / ``max_yaw_accel`` allow).

A polygon footprint (``robot.footprint``) reaches the kernel as circles covering
it and the polygon itself, appended to ``limits``
(:func:`robo_orch.core.footprint_stop.footprint_limits_polygon`); steps 5 and 6
then run per circle, and ``mem`` needs 3 more slots per point
(:mod:`robo_orch.core.footprint_stop` has the reduction and its proof).  That is
the kernel :func:`robo_orch.core.safety_footprint.safety_footprint`; :func:`safety`
here is the round robot's (``state[ROBOT_RADIUS]``), the code and numbers as
described here, and gives :data:`INVALID_INPUT` for limits that carry a footprint.
Both run :func:`robo_orch.core.safety_steps.run_steps`; they are two modules so
that a round robot's cold start does not compile the footprint's checks.

The result goes to ``cmd_out`` and ``state[CMD_V]``, ``state[CMD_W]``.  Arrays too
short (``mem`` needs :func:`mem_size` of the valid scan points), limits out of
range, a non-finite estimate (pose or speeds) or a loop period not positive give
a zero command and :data:`INVALID_INPUT`.

``mem`` receives diagnostics of the last call: ``MEM_FREE`` look-ahead free
distance (m, -1 when no step was blocked), ``MEM_ALLOWED`` its allowed speed
(inf when unlimited), ``MEM_CLEARANCE`` surface distance to the nearest scan
point now (inf without points), ``MEM_STEPS`` look-ahead steps evaluated,
``MEM_ROLLOUTS`` stopping rollouts run, ``MEM_PREDICTED`` the lowest surface
clearance the sent command's rollout guarantees among the points that came
within the margin of it (inf if none did), ``MEM_PAD`` that rollout's model
error bound (m).  The rest of ``mem`` is scratch for the nearby points.
"""

from __future__ import annotations

import numba

from robo_orch.core.safety_steps import (
    ACCEL_LIMITED,
    COLLISION_SLOW,
    COLLISION_STOP,
    ESTOP,
    FLAG_NAMES,
    HARD_BRAKE,
    INVALID_INPUT,
    L_HORIZON,
    L_LEN,
    L_MARGIN,
    L_MAX_ACCEL,
    L_MAX_DECEL,
    L_MAX_REVERSE,
    L_MAX_SPEED,
    L_MAX_WHEEL_SPEED,
    L_MAX_YAW_ACCEL,
    L_MAX_YAW_RATE,
    L_MOTOR_TAU,
    L_WHEEL_BASE,
    MEM_ALLOWED,
    MEM_CLEARANCE,
    MEM_FREE,
    MEM_LEN,
    MEM_PAD,
    MEM_PREDICTED,
    MEM_ROLLOUTS,
    MEM_STEPS,
    NO_SAFE_STOP,
    SAFETY_SIG,
    SPEED_CLAMPED,
    STALE_STOP,
    RobotLimits,
    SafetyLimits,
    mem_size,
    pack_limits,
    run_steps,
    tally_flags,
)

__all__ = ["ACCEL_LIMITED", "COLLISION_SLOW", "COLLISION_STOP", "ESTOP", "FLAG_NAMES", "HARD_BRAKE",
           "INVALID_INPUT", "L_HORIZON", "L_LEN", "L_MARGIN", "L_MAX_ACCEL",
           "L_MAX_DECEL", "L_MAX_REVERSE", "L_MAX_SPEED", "L_MAX_WHEEL_SPEED",
           "L_MAX_YAW_ACCEL", "L_MAX_YAW_RATE", "L_MOTOR_TAU", "L_WHEEL_BASE",
           "MEM_ALLOWED", "MEM_CLEARANCE", "MEM_FREE", "MEM_LEN", "MEM_PAD",
           "MEM_PREDICTED", "MEM_ROLLOUTS", "MEM_STEPS", "NO_SAFE_STOP", "RobotLimits",
           "SAFETY_SIG", "SPEED_CLAMPED", "STALE_STOP", "SafetyLimits", "mem_size",
           "pack_limits", "run_steps", "safety", "tally_flags"]


@numba.njit(SAFETY_SIG, cache=True, error_model="numpy")
def safety(state, scan, limits, proposal_v, proposal_w, mem, cmd_out):
    """Turn the proposal into the command (``cmd_out``, ``state[CMD_V/W]``); return flags.
    A round robot's (limits with a footprint: INVALID_INPUT, see the module docstring)."""
    return run_steps(state, scan, limits, proposal_v, proposal_w, mem, cmd_out, None)
