"""The stopping rollouts for a footprint covered by several circles.

A polygon footprint reaches the kernels as circles ``(ox, oy, r)`` in the body
frame whose union contains it (:func:`robo_orch.footprint.circle_cover`); the
safety kernels find them in ``limits`` after their own layout
(:func:`footprint_limits`: ``limits[L] = n``, then ``ox, oy, r`` per circle, then
the polygon itself: ``m``, then ``x, y`` per vertex; ``n = 0`` or a short array:
the circle of ``state[ROBOT_RADIUS]``, checked by the unchanged one-circle code).

**Reduction to the one-circle rollout.**  Circle ``i``'s centre is the body point
``o``: at time ``t`` it is at ``C(t) = P(t) + R(theta(t)) o``, with ``P`` the
reference point's path and ``theta`` the heading, whichever the base (the
differential-drive and the holonomic rollouts model ``P`` and ``theta``; this
module adds no model).  Let ``D(t) = P(t) + R(theta_0) o``: the reference path
moved by a fixed vector, that is the rollout started at ``C(0)`` with the same
heading and speeds.  Then ``|C(t) - D(t)| = 2 |o| |sin((theta(t) - theta_0) / 2)|
<= rho := 2 |o| sin(min(Theta, pi) / 2)`` where ``Theta`` bounds the heading
change of the whole rollout.  The yaw rate follows its commands through the lag
``tau``: ``w(t) = w_0 exp(-t / tau) + (kernel * c)(t)`` with a positive kernel of
unit integral, so ``int |w| <= |w_0| tau + int |c|``; the braking plan holds
``cw`` for one tick and then steps it toward zero by ``yaw_accel dt`` per tick, so
``int |c| = dt sum_{k=0..K} (a - k d)`` with ``a = |cw|``, ``d = yaw_accel dt``,
``K = floor(a / d)``: :func:`heading_bound`.  The one-circle rollout run from
``C(0)`` with radius ``r + rho`` and threshold ``r + margin + rho`` proves ``|D(t)
- q| >= r + rho`` for the points it does not exempt, hence ``|C(t) - q| >= r``.
Each circle is checked against the points with their own ``d_now = |C(0) - q|``
(written to ``scratch``), and the command passes only if every circle passes.
The lowest clearance returned is the least over the circles of the rollout's own
and, for the points within ``r + margin + rho`` now, of their clearance now less
``rho``: a circle that swings while its centre's rollout stands (a turn in place)
has no piece to measure.

**Points inside the cover.**  The one-circle rollout exempts from the contact rule
the points already inside its radius (a round robot touching them is in contact
already).  The cover reaches beyond the polygon, so a point inside a circle (or
within its pad: ``|C(0) - q| < r + rho``) may be clear of the robot; it is judged
against the polygon instead: every body point ``b`` moves at most ``|P(t) - P(0)|
+ 2 |b| sin(Theta / 2)``, so no point of the polygon comes within the sweep
``S = reach + 2 R sin(min(Theta, pi) / 2)`` (``reach`` the rollout's own bound of
``|P(t) - P(0)|`` with its model error, ``R`` the polygon's circumscribed radius)
of where it started.  A point farther than ``S`` from the polygon now can never be
touched and is dropped from the check; a nearer one fails the command.  So a
command passes only if no point reaches the polygon: **the invariant holds for the
exact polygon**, whether or not points sit in the cover's overshoot.

For one circle at the origin ``rho = 0`` and the reduction is the identity.  A
polygon whose cover is one circle at the origin (a square, a near-square) still
reaches the kernels as that circle and its polygon: the one-circle path would check
``state[ROBOT_RADIUS]``, the polygon's inscribed radius, and miss its corners.

The look-ahead (early slowing, not the invariant) steps every circle along the
command's arc with the body's heading: :func:`blocked_step_fp`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from robo_orch.core.stopping import (
    CHECKED,
    SLOWED,
    STOPPING,
    UNSAFE,
    check_stop,
    padded_clearance_now,
    reach,
)
from robo_orch.core.stopping_holonomic import check_stop_holonomic, reach_holonomic

_TOL = 1e-9  #: rounding allowance of the sweep, m

MAX_CIRCLES = 12  #: the most circles a footprint passes to the kernels
MAX_VERTICES = 64  #: the most vertices of a footprint polygon
_FAR = 1e300  #: the ``d_now`` of a point the polygon provably never reaches (skipped)
_BISECT = 8


def footprint_limits(limits: np.ndarray, circles) -> np.ndarray:
    """``limits`` with the footprint's circles appended (none: ``limits`` as they are).

    A single circle at the origin is appended too: a polygon's cover circle is its
    circumscribed one, larger than ``state[ROBOT_RADIUS]`` (the inscribed radius, which
    the one-circle path would check: a square's corners reach 41% beyond it).
    """
    circles = list(circles)
    if not circles:
        return limits
    if len(circles) > MAX_CIRCLES:
        raise ValueError(f"at most {MAX_CIRCLES} circles, got {len(circles)}")
    extra = np.zeros(1 + 3 * len(circles), dtype=np.float64)
    extra[0] = len(circles)
    for i, (ox, oy, r) in enumerate(circles):
        extra[1 + 3 * i:4 + 3 * i] = (ox, oy, r)
    return np.concatenate([limits, extra])


@numba.njit(cache=True)
def n_circles(limits, base_len):
    """Circles appended to ``limits`` after ``base_len`` (0: the one-circle path; -1:
    malformed)."""
    if limits.shape[0] <= base_len:
        return 0
    n = limits[base_len]
    if not (n >= 0.0 and n <= MAX_CIRCLES) or n != math.floor(n):
        return -1
    k = int(n)
    if limits.shape[0] < base_len + 1 + 3 * k:
        return -1
    for i in range(k):
        o = base_len + 1 + 3 * i
        if not (math.isfinite(limits[o] + limits[o + 1]) and limits[o + 2] > 0.0
                and math.isfinite(limits[o + 2])):
            return -1
    return k


def footprint_limits_polygon(limits: np.ndarray, circles, polygon) -> np.ndarray:
    """:func:`footprint_limits` with the polygon's vertices after the circles."""
    out = footprint_limits(limits, circles)
    if out is limits:
        return limits
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if poly.shape[0] > MAX_VERTICES:
        raise ValueError(f"at most {MAX_VERTICES} footprint vertices, got {poly.shape[0]}")
    return np.concatenate([out, [float(poly.shape[0])], poly.ravel()])


@numba.njit(cache=True)
def n_vertices(limits, base_len, nc):
    """Vertices of the polygon after the circles (-1: malformed)."""
    at = base_len + 1 + 3 * nc
    if limits.shape[0] <= at:
        return -1
    m = limits[at]
    if not (m >= 3.0 and m <= MAX_VERTICES) or m != math.floor(m):
        return -1
    k = int(m)
    if limits.shape[0] < at + 1 + 2 * k:
        return -1
    for i in range(2 * k):
        if not math.isfinite(limits[at + 1 + i]):
            return -1
    return k


@numba.njit(cache=True)
def polygon_distance(qx, qy, poly, m, x0, y0, yaw0):
    """Distance from ``(qx, qy)`` to the body-frame polygon ``poly`` (``x, y`` per vertex)
    placed at the pose, 0 inside it, m."""
    c = math.cos(yaw0)
    s = math.sin(yaw0)
    # the point in the body frame
    dx = qx - x0
    dy = qy - y0
    bx = c * dx + s * dy
    by = -s * dx + c * dy
    inside = False
    best = np.inf
    for i in range(m):
        k = (i + 1) % m
        ax = poly[2 * i]
        ay = poly[2 * i + 1]
        ex = poly[2 * k] - ax
        ey = poly[2 * k + 1] - ay
        if (ay > by) != (poly[2 * k + 1] > by) and bx < ax + (by - ay) * ex / ey:
            inside = not inside
        ll = ex * ex + ey * ey
        t = 0.0 if ll == 0.0 else min(max(((bx - ax) * ex + (by - ay) * ey) / ll, 0.0), 1.0)
        best = min(best, math.hypot(bx - ax - t * ex, by - ay - t * ey))
    return 0.0 if inside else best


@numba.njit(cache=True)
def polygon_radius(poly, m):
    """Circumscribed radius of the body-frame polygon about the origin, m."""
    r = 0.0
    for i in range(m):
        r = max(r, math.hypot(poly[2 * i], poly[2 * i + 1]))
    return r


@numba.njit(cache=True)
def bounding_radius(fp, nc):
    """Radius of the circle about the origin containing every circle, m."""
    b = 0.0
    for i in range(nc):
        b = max(b, math.hypot(fp[3 * i], fp[3 * i + 1]) + fp[3 * i + 2])
    return b


@numba.njit(cache=True)
def clearance_fp(scan, n_points, px, py, yaw, fp, nc, nearest):
    """Lowest surface distance of the circles to the first ``n_points`` scan points, m;
    ``nearest`` is the nearest point's distance from ``(px, py)``: points farther than
    it plus twice the circles' bounding radius cannot be the nearest to any circle."""
    c = math.cos(yaw)
    s = math.sin(yaw)
    cut = nearest + 2.0 * bounding_radius(fp, nc)
    cut2 = cut * cut
    low = np.inf
    for j in range(n_points):
        qx = scan[j, 0]
        qy = scan[j, 1]
        if (qx - px) * (qx - px) + (qy - py) * (qy - py) > cut2:
            continue
        for i in range(nc):
            cx = px + c * fp[3 * i] - s * fp[3 * i + 1]
            cy = py + s * fp[3 * i] + c * fp[3 * i + 1]
            low = min(low, math.hypot(cx - qx, cy - qy) - fp[3 * i + 2])
    return low


@numba.njit(cache=True)
def heading_bound(w0, cw, dt, tau, yaw_accel):
    """Upper bound of the heading change of a rollout from yaw rate ``w0`` under the
    command ``cw`` and its braking plan, rad (see the module docstring)."""
    a = abs(cw)
    d = yaw_accel * dt
    total = abs(w0) * tau
    if a > 0.0:
        k = math.floor(a / d)
        total += dt * ((k + 1.0) * a - d * k * (k + 1.0) / 2.0)
    return total


@numba.njit(cache=True, inline="always")
def _pad(ox, oy, theta):
    return 2.0 * math.hypot(ox, oy) * math.sin(0.5 * min(theta, math.pi))


@numba.njit(cache=True, inline="always")
def _swung_now(scratch, n, r, rho, margin):
    """:func:`~robo_orch.core.stopping.padded_clearance_now` of a circle that swings by
    ``rho`` (``inf`` when it does not)."""
    return padded_clearance_now(scratch, n, r + rho, r + margin + rho) if rho > 0.0 else np.inf


@numba.njit(cache=True)
def _circle_points(pts, n, scratch, cx0, cy0, r, rho, poly, m, x0, y0, yaw0, sweep):
    """Copy the points with their distance from ``(cx0, cy0)``; a point within ``r +
    rho`` of it is dropped when farther than ``sweep`` from the polygon, else False is
    returned (see the module docstring)."""
    for j in range(n):
        d = math.hypot(pts[j, 0] - cx0, pts[j, 1] - cy0)
        scratch[j, 0] = pts[j, 0]
        scratch[j, 1] = pts[j, 1]
        scratch[j, 2] = d
        if d < r + rho:
            if polygon_distance(pts[j, 0], pts[j, 1], poly, m, x0, y0, yaw0) <= sweep:
                return False
            scratch[j, 2] = _FAR
    return True


@numba.njit(cache=True)
def check_stop_fp(pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, v0, w0, cv, cw, dt, tau,
                  decel, yaw_accel, margin):
    """:func:`robo_orch.core.stopping.check_stop` for every circle of ``fp``; returns
    ``(ok, lowest, pad)`` (the lowest over the circles, the largest pad)."""
    theta = heading_bound(w0, cw, dt, tau, yaw_accel)
    sweep = (reach(v0, w0, cv, cw, dt, tau, decel, yaw_accel)
             + 2.0 * polygon_radius(poly, m) * math.sin(0.5 * min(theta, math.pi)) + _TOL)
    c = math.cos(yaw0)
    s = math.sin(yaw0)
    lowest = np.inf
    pad = 0.0
    for i in range(nc):
        ox = fp[3 * i]
        oy = fp[3 * i + 1]
        r = fp[3 * i + 2]
        rho = _pad(ox, oy, theta)
        cx0 = x0 + c * ox - s * oy
        cy0 = y0 + s * ox + c * oy
        if not _circle_points(pts, n, scratch, cx0, cy0, r, rho, poly, m, x0, y0, yaw0, sweep):
            return False, -rho, rho
        ok, low, err = check_stop(scratch, n, cx0, cy0, yaw0, v0, w0, cv, cw, dt, tau, decel,
                                  yaw_accel, r + rho, r + margin + rho)
        lowest = min(lowest, low, _swung_now(scratch, n, r, rho, margin))
        pad = max(pad, err + rho)
        if not ok:
            return False, lowest, pad
    return True, lowest, pad


@numba.njit(cache=True)
def check_stop_holonomic_fp(pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux, uy, w0, cx,
                            cy, cw, dt, tau, decel, yaw_accel, margin):
    """:func:`robo_orch.core.stopping_holonomic.check_stop_holonomic` for every circle of
    ``fp``; returns ``(ok, lowest, pad)``."""
    theta = heading_bound(w0, cw, dt, tau, yaw_accel)
    sweep = (reach_holonomic(ux, uy, w0, math.hypot(cx, cy), abs(cw), dt, tau, decel, yaw_accel)
             + 2.0 * polygon_radius(poly, m) * math.sin(0.5 * min(theta, math.pi)) + _TOL)
    c = math.cos(yaw0)
    s = math.sin(yaw0)
    lowest = np.inf
    pad = 0.0
    for i in range(nc):
        ox = fp[3 * i]
        oy = fp[3 * i + 1]
        r = fp[3 * i + 2]
        rho = _pad(ox, oy, theta)
        cx0 = x0 + c * ox - s * oy
        cy0 = y0 + s * ox + c * oy
        if not _circle_points(pts, n, scratch, cx0, cy0, r, rho, poly, m, x0, y0, yaw0, sweep):
            return False, -rho, rho
        ok, low, err = check_stop_holonomic(scratch, n, cx0, cy0, yaw0, ux, uy, w0, cx, cy, cw,
                                            dt, tau, decel, yaw_accel, r + rho,
                                            r + margin + rho)
        lowest = min(lowest, low, _swung_now(scratch, n, r, rho, margin))
        pad = max(pad, err + rho)
        if not ok:
            return False, lowest, pad
    return True, lowest, pad


@numba.njit(cache=True)
def _check(holo, pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux, uy, w0, cx, cy, cw, dt,
           tau, decel, yaw_accel, margin):
    if holo:
        return check_stop_holonomic_fp(pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux, uy,
                                       w0, cx, cy, cw, dt, tau, decel, yaw_accel, margin)
    return check_stop_fp(pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux, w0, cx, cw, dt,
                         tau, decel, yaw_accel, margin)


@numba.njit(cache=True)
def safe_command_fp(holo, pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux, uy, w0, cx, cy,
                    cw, bx, by, bw, kx, ky, kw, dt, tau, decel, yaw_accel, margin):
    """:func:`robo_orch.core.stopping_holonomic.safe_command_holonomic`'s choice (the
    command, the bisection toward the braking floor, the last plan's next step, a turn
    in place, zero) checked with every circle and the polygon; ``holo`` False: a (v, w)
    base (``uy``, ``cy``, ``by``, ``ky`` unused, 0).  Returns ``(vx, vy, w, outcome,
    lowest, pad, rollouts)``."""
    ok, low, pad = _check(holo, pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux, uy, w0, cx,
                          cy, cw, dt, tau, decel, yaw_accel, margin)
    if ok:
        return cx, cy, cw, CHECKED, low, pad, 1
    rollouts = 2
    ok, low, pad = _check(holo, pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux, uy, w0, bx,
                          by, bw, dt, tau, decel, yaw_accel, margin)
    if ok:
        lo = 0.0
        hi = 1.0
        for _ in range(_BISECT):
            mid = 0.5 * (lo + hi)
            ok2, low2, pad2 = _check(holo, pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux,
                                     uy, w0, bx + mid * (cx - bx), by + mid * (cy - by),
                                     bw + mid * (cw - bw), dt, tau, decel, yaw_accel, margin)
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
            ok2, low2, pad2 = _check(holo, pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux,
                                     uy, w0, 0.0, 0.0, cw, dt, tau, decel, yaw_accel, margin)
            rollouts += 1
            if ok2:
                return 0.0, 0.0, cw, STOPPING, low2, pad2, rollouts
        return bx, by, bw, STOPPING, low, pad, rollouts
    if kx != bx or ky != by or kw != bw:
        ok, low, pad = _check(holo, pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux, uy, w0,
                              kx, ky, kw, dt, tau, decel, yaw_accel, margin)
        rollouts += 1
        if ok:
            return kx, ky, kw, STOPPING, low, pad, rollouts
    if cw != 0.0:
        ok, low, pad = _check(holo, pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux, uy, w0,
                              0.0, 0.0, cw, dt, tau, decel, yaw_accel, margin)
        rollouts += 1
        if ok:
            return 0.0, 0.0, cw, STOPPING, low, pad, rollouts
    ok, low, pad = _check(holo, pts, n, scratch, fp, nc, poly, m, x0, y0, yaw0, ux, uy, w0, 0.0,
                          0.0, 0.0, dt, tau, decel, yaw_accel, margin)
    return 0.0, 0.0, 0.0, STOPPING if ok else UNSAFE, low, pad, rollouts + 1


@numba.njit(cache=True)
def blocked_step_fp(near, n, fp, nc, x0, y0, yaw0, travel, speed, w, margin, n_steps, horizon,
                    mem, steps_slot):
    """First blocked look-ahead step (1-based) of the footprint along the arc of the
    reference point (``speed`` along the body direction ``travel`` rad from the heading,
    yaw rate ``w``), or 0: a step is blocked when a point is closer than ``r + margin``
    to a circle and no farther than it is now (the one-circle rule, per circle)."""
    h = horizon / n_steps
    c0 = math.cos(yaw0)
    s0 = math.sin(yaw0)
    for k in range(1, n_steps + 1):
        t = k * h
        wt = w * t
        chord = speed * t if abs(wt) < 1e-9 else 2.0 * speed * math.sin(0.5 * wt) / w
        heading = yaw0 + travel + 0.5 * wt
        px = x0 + chord * math.cos(heading)
        py = y0 + chord * math.sin(heading)
        c = math.cos(yaw0 + wt)
        s = math.sin(yaw0 + wt)
        mem[steps_slot] = k
        for i in range(nc):
            ox = fp[3 * i]
            oy = fp[3 * i + 1]
            thr = fp[3 * i + 2] + margin
            qx = px + c * ox - s * oy
            qy = py + s * ox + c * oy
            ax = x0 + c0 * ox - s0 * oy
            ay = y0 + s0 * ox + c0 * oy
            for j in range(n):
                d2 = (qx - near[j, 0]) ** 2 + (qy - near[j, 1]) ** 2
                if d2 < thr * thr:
                    d_now2 = (ax - near[j, 0]) ** 2 + (ay - near[j, 1]) ** 2
                    if d2 <= d_now2:
                        return k
    return 0
