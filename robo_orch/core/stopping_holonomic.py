"""The stopping rollout of a holonomic base, reduced rigorously to the differential-drive one.

:func:`check_stop_holonomic` answers the question of
:func:`robo_orch.core.stopping.check_stop` for a body-frame command
``c = (cx, cy)`` with yaw rate ``cw``: sent now and followed by its braking
plan, does the robot keep clear of every scan point?

**Model.**  Each body-frame velocity component follows its command through the
same first-order lag ``tau``: ``u' = (c - u) / tau``, ``w' = (cw - w) / tau``.
The braking plan keeps the command's direction: ``c`` is held for one tick, then
its magnitude drops by ``decel dt`` each tick (``cw`` toward zero by
``yaw_accel dt``), so ``c(t) = sigma(t) e`` with ``e = c / |c|`` fixed in the
body frame and ``sigma(t)`` exactly the differential-drive plan of the speed
``|c|``.  The footprint is a circle, so only the centre's path matters.

**Reduction.**  Write the body velocity in the body-fixed basis ``(e, e_perp)``:
``u = a e + p e_perp``.  Since ``c`` is parallel to ``e`` at all times,
``a' = (sigma - a) / tau`` (the differential-drive lag of a speed from ``a0 =
u0 . e`` under the plan ``sigma``) and ``p' = -p / tau``, so ``p(t) = p0
exp(-t / tau)``.  The heading ``theta(t)`` follows ``w`` exactly as in the
differential-drive rollout.  The centre moves by ``R(theta) u``, which splits into

* ``a(t) R(theta(t) + phi) (1, 0)`` with ``phi = atan2(cy, cx)``: exactly the
  velocity of the differential-drive rollout from heading ``yaw + phi``, speed
  ``a0``, yaw rate ``w0``, commands ``(|c|, cw)``; call its path ``D(t)``;
* ``p(t) R(theta(t) + phi) (0, 1)``, whose integral ``E(t)`` has
  ``|E(t)| <= |p0| int exp(-s / tau) ds <= |p0| tau =: pad`` for every ``t``.

So the true path is ``P(t) = D(t) + E(t)`` with ``|E| <= pad``.
:func:`~robo_orch.core.stopping.check_stop` run with ``radius + pad`` and
``thr + pad`` proves ``|D(t) - q| >= radius + pad`` (its own model error
included) for every point ``q`` it does not exempt, hence ``|P(t) - q| >=
radius``.  It exempts from the contact rule the points closer than its radius
now (already touching); so a point with ``radius <= d_now < radius + pad``,
which the padded check would exempt, fails the command here instead.

**Zero translation.**  For ``c = 0`` any direction is parallel to ``c``; ``e``
is taken along the current velocity ``u0`` (``p0 = 0``, no pad): the zero
command's and a turn in place's rollouts are exact reductions, and the coasting
no command can prevent (``|u0| tau``) is the rollout's own.

**Continuation.**  The next step of a checked plan keeps ``e``: one tick later
``a`` and ``p`` are the plan's own values, the new pad is ``pad exp(-dt/tau)``
and ``D`` has moved by ``E(dt)``, at most ``pad (1 - exp(-dt/tau))``: the
distance ``radius + pad`` the old check proved leaves ``radius`` plus the new
pad, so the continuation passes again (to rounding), as in the
differential-drive layer.

The returned pad is the rollout's error bound plus ``pad``; the lowest clearance
is already a lower bound of the true path's surface clearance, for every point
that comes within ``thr + pad`` of ``D`` (its measured pieces), and for every point
within ``thr + pad`` now: ``D`` starts where the robot is, so its clearance now less
``pad`` is taken too, which bounds a path that drifts across a command too small to
move ``D`` (a standing ``D`` has no piece to measure).
"""

from __future__ import annotations

import math

import numba

from robo_orch.core.stopping import (
    CHECKED,
    SLOWED,
    STOPPING,
    UNSAFE,
    check_stop,
    padded_clearance_now,
    reach,
)

_BISECT = 8  #: bisection steps of :func:`safe_command_holonomic`


@numba.njit(cache=True)
def check_stop_holonomic(pts, n, x0, y0, yaw0, ux, uy, w0, cx, cy, cw, dt, tau, decel,
                         yaw_accel, radius, thr):
    """Roll out the body-frame command ``(cx, cy, cw)`` from the velocity ``(ux, uy, w0)``
    and its braking plan; see the module docstring.

    Returns ``(ok, lowest, pad)`` as :func:`~robo_orch.core.stopping.check_stop`
    does, ``pad`` including the bound of the motion across the command's direction.
    """
    c = math.hypot(cx, cy)
    if c > 0.0:
        ex = cx / c
        ey = cy / c
        a0 = ux * ex + uy * ey
        pad = abs(uy * ex - ux * ey) * tau
    else:
        a0 = math.hypot(ux, uy)
        if a0 > 0.0:
            ex = ux / a0
            ey = uy / a0
        else:
            ex = 1.0
            ey = 0.0
        pad = 0.0
    near = math.inf
    if pad > 0.0:
        inner = radius + pad
        for j in range(n):
            d_now = pts[j, 2]
            if radius <= d_now < inner:
                return False, d_now - inner, pad
        near = padded_clearance_now(pts, n, inner, thr + pad)
    ok, low, err = check_stop(pts, n, x0, y0, yaw0 + math.atan2(ey, ex), a0, w0, c, cw, dt, tau,
                              decel, yaw_accel, radius + pad, thr + pad)
    return ok, min(low, near), err + pad


@numba.njit(cache=True)
def reach_holonomic(ux, uy, w0, c, cw, dt, tau, decel, yaw_accel):
    """Upper bound of how far from its start any point of :func:`check_stop_holonomic`'s
    padded path lies, for translation commands no longer than ``c`` and yaw rates no
    larger than ``cw``, m."""
    speed = math.hypot(ux, uy)
    return reach(speed, w0, c, cw, dt, tau, decel, yaw_accel) + speed * tau


@numba.njit(cache=True)
def safe_command_holonomic(pts, n, x0, y0, yaw0, ux, uy, w0, cx, cy, cw, bx, by, bw, kx, ky,
                           kw, dt, tau, decel, yaw_accel, radius, thr):
    """The command to send: ``(cx, cy, cw)`` if :func:`check_stop_holonomic` passes it,
    else the best checked one of, in turn: the segment from the braking floor
    ``(bx, by, bw)`` to it (bisection; with a zero floor translation a turn in place
    ``(0, 0, cw)`` is preferred to the floor), the next step ``(kx, ky, kw)`` of the
    braking plan the last command was checked with, a turn in place, zero (sent even
    if it fails).  :func:`robo_orch.core.stopping.safe_command` for three components.

    Returns ``(vx, vy, w, outcome, lowest, pad, rollouts)``.
    """
    ok, low, pad = check_stop_holonomic(pts, n, x0, y0, yaw0, ux, uy, w0, cx, cy, cw, dt, tau,
                                        decel, yaw_accel, radius, thr)
    if ok:
        return cx, cy, cw, CHECKED, low, pad, 1
    rollouts = 2
    ok, low, pad = check_stop_holonomic(pts, n, x0, y0, yaw0, ux, uy, w0, bx, by, bw, dt, tau,
                                        decel, yaw_accel, radius, thr)
    if ok:
        lo = 0.0
        hi = 1.0
        for _ in range(_BISECT):
            mid = 0.5 * (lo + hi)
            ok2, low2, pad2 = check_stop_holonomic(
                pts, n, x0, y0, yaw0, ux, uy, w0, bx + mid * (cx - bx), by + mid * (cy - by),
                bw + mid * (cw - bw), dt, tau, decel, yaw_accel, radius, thr)
            rollouts += 1
            if ok2:
                lo = mid
                low = low2
                pad = pad2
            else:
                hi = mid
        if lo > 0.0:
            return (bx + lo * (cx - bx), by + lo * (cy - by), bw + lo * (cw - bw), SLOWED, low,
                    pad, rollouts)
        if bx == 0.0 and by == 0.0 and cw != bw:
            ok2, low2, pad2 = check_stop_holonomic(pts, n, x0, y0, yaw0, ux, uy, w0, 0.0, 0.0,
                                                   cw, dt, tau, decel, yaw_accel, radius, thr)
            rollouts += 1
            if ok2:
                return 0.0, 0.0, cw, STOPPING, low2, pad2, rollouts
        return bx, by, bw, STOPPING, low, pad, rollouts
    if kx != bx or ky != by or kw != bw:
        ok, low, pad = check_stop_holonomic(pts, n, x0, y0, yaw0, ux, uy, w0, kx, ky, kw, dt,
                                            tau, decel, yaw_accel, radius, thr)
        rollouts += 1
        if ok:
            return kx, ky, kw, STOPPING, low, pad, rollouts
    if cw != 0.0:
        ok, low, pad = check_stop_holonomic(pts, n, x0, y0, yaw0, ux, uy, w0, 0.0, 0.0, cw, dt,
                                            tau, decel, yaw_accel, radius, thr)
        rollouts += 1
        if ok:
            return 0.0, 0.0, cw, STOPPING, low, pad, rollouts
    ok, low, pad = check_stop_holonomic(pts, n, x0, y0, yaw0, ux, uy, w0, 0.0, 0.0, 0.0, dt, tau,
                                        decel, yaw_accel, radius, thr)
    return 0.0, 0.0, 0.0, STOPPING if ok else UNSAFE, low, pad, rollouts + 1
