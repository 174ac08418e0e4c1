"""The stopping rollout: the path a command really drives, checked continuously.

:func:`check_stop` answers "if this command is sent now, can the robot still
stop without coming too close to any scan point?".  It rolls out what the robot
will do: from its estimated speeds ``(v0, w0)`` the command ``(cv, cw)`` is held
for one tick, then the command steps toward zero by ``decel * dt`` (v) and
``yaw_accel * dt`` (w) each tick, the braking plan the safety layer can always
follow on the next ticks.  The body follows each command through the actuator's
first-order lag (``tau``; the simulator's wheel model, in which v and w lag
alike while no wheel clamps): ``v(t) = c + (v_start - c) exp(-t / tau)``.

The path is cut into pieces (sub-steps of at most ``tau / 4``, split where v
changes sign).  For each piece the distance travelled ``S`` and the heading
change ``Phi`` are exact; the piece is drawn as the arc with that length and
turn (the simulator's own step) and every point's distance to that arc is
exact.  The arc is not quite the true path (the curvature varies while the
speeds settle); the gap is bounded rigorously: with ``A = w - cw`` and
``B = v - cv`` at the piece's start, the true heading differs from the arc's at
the same distance by at most ``k |A S - Phi B| / |S|`` with ``k = min(tau, h^2 / (8 tau))``,
so the true position is within ``E = k |A S - Phi B|`` of the arc (``E = 0``
from rest, without lag, or once the command is zero).  (Exactly, the heading gap
at time ``t`` of the piece is ``(h u(t) - t G) (A S - Phi B) / (h S)`` with
``u(t) = tau (1 - exp(-t / tau))`` and ``G = u(h)``; ``u`` is concave with
``|u''| <= 1 / tau``, which gives ``h^2 / (8 tau)``, and ``u <= tau``, which gives
``tau``, the smaller for a lag much shorter than a piece, which the capped number
of sub-steps cannot resolve.)  The bounds add up over the pieces.  After the last
braking step the motion is an exact decaying arc (``v tau`` long), checked as such.

Rule per scan point, with ``d_now`` its distance from the robot now, ``d`` its
distance from the arcs and ``lb`` the lower bound of its distance from the true
path (``d`` minus the accumulated error bound):

* ``d >= min(thr, d_now - coast)`` with ``thr = radius + margin``: no closer than
  the margin, or if the robot is inside the margin already, no closer than it
  is now, less the coasting no command can prevent (``coast = |v0| tau``, the
  length of the zero command's path): escaping is allowed;
* ``lb >= radius`` (no contact, rigorously), unless the point is inside the
  robot already.

Both allow 1 nm for rounding (a braking plan that ends exactly at the margin is
checked again on the next tick from a state computed another way).

Points are ``pts[j] = (x, y, d_now)``, in the frame of the pose given.
"""

from __future__ import annotations

import math

import numba

from robo_orch.core.geometry import segment_fraction

_MAX_TICKS = 4000  #: a braking plan longer than this many ticks is not verified
_MAX_SUB = 64
_TOL = 1e-9  #: rounding allowance of both rules, m
_BISECT = 8  #: bisection steps of :func:`safe_command`

# outcomes of safe_command
CHECKED = 0  #: the command passed as it was
SLOWED = 1  #: reduced toward the braking floor
STOPPING = 2  #: the braking floor, the last plan's next step, or a turn in place
UNSAFE = 3  #: zero, although its own rollout fails


@numba.njit(cache=True)
def _dist(ax, ay, bx, by):
    dx = bx - ax
    dy = by - ay
    return math.sqrt(dx * dx + dy * dy)


@numba.njit(cache=True)
def toward_zero(c, step):
    """``c`` moved toward zero by ``step``, stopping at zero."""
    if c > step:
        return c - step
    if c < -step:
        return c + step
    return 0.0


@numba.njit(cache=True)
def _to_arc(qx, qy, x, y, s, phi, xe, ye, cx, cy, r):
    """:func:`arc_distance` with the arc's centre ``(cx, cy)`` and signed radius ``r``
    worked out already (unused for a nearly straight or a long turn)."""
    a = abs(phi)
    if a > 3.0:
        return _dist(x, y, qx, qy) - abs(s)
    if a < 1e-7:
        dx = xe - x
        dy = ye - y
        t = segment_fraction(qx, qy, x, y, dx, dy)
        if t == 0.0:
            return _dist(x, y, qx, qy) - 0.125 * abs(s * phi)
        return _dist(x + t * dx, y + t * dy, qx, qy) - 0.125 * abs(s * phi)
    ax = x - cx
    ay = y - cy
    bx = xe - cx
    by = ye - cy
    ux = qx - cx
    uy = qy - cy
    c1 = ax * uy - ay * ux
    c2 = ux * by - uy * bx
    inside = (c1 >= 0.0 and c2 >= 0.0) if phi > 0.0 else (c1 <= 0.0 and c2 <= 0.0)
    if inside:
        return abs(math.sqrt(ux * ux + uy * uy) - abs(r))
    return min(_dist(x, y, qx, qy), _dist(xe, ye, qx, qy))


@numba.njit(cache=True)
def arc_distance(qx, qy, x, y, th, s, phi, xe, ye):
    """Distance from ``(qx, qy)`` to the arc that starts at ``(x, y)`` with heading
    ``th`` and runs a signed length ``s`` while turning ``phi`` to ``(xe, ye)``.

    Exact for ``|phi|`` up to pi; a nearly straight arc is measured as its chord
    minus a bound of its sagitta; a turn beyond 3 rad falls back to the distance
    from the start minus ``|s|`` (a lower bound).
    """
    r = s / phi if phi != 0.0 else 0.0
    return _to_arc(qx, qy, x, y, s, phi, xe, ye, x - r * math.sin(th), y + r * math.cos(th), r)


@numba.njit(cache=True)
def _piece(pts, n, x, y, th, s, phi, err, length, radius, thr, slack, lowest):
    """Check one arc piece against every point; returns (ok, lowest lb - radius, end pose)."""
    half = 0.5 * phi
    sinc = 1.0 - half * half / 6.0 if abs(half) < 1e-6 else math.sin(half) / half
    chord = s * sinc
    xe = x + chord * math.cos(th + half)
    ye = y + chord * math.sin(th + half)
    ok = True
    if s != 0.0:
        r = s / phi if phi != 0.0 else 0.0
        cx = x - r * math.sin(th)
        cy = y + r * math.cos(th)
        # every point of the piece (and of the true path, within err) lies within
        # ``spread`` of the chord's midpoint
        mx = 0.5 * (x + xe)
        my = 0.5 * (y + ye)
        spread = 0.5 * abs(s) + 0.125 * abs(s * phi) + err
        clear2 = (thr + spread) * (thr + spread)
        reach = length + abs(s) + err
        for j in range(n):
            d_now = pts[j, 2]
            if d_now - reach >= thr:
                continue  # no point of this piece comes within thr of it
            qx = pts[j, 0]
            qy = pts[j, 1]
            if (qx - mx) * (qx - mx) + (qy - my) * (qy - my) >= clear2:
                continue
            d = _to_arc(qx, qy, x, y, s, phi, xe, ye, cx, cy, r)
            lb = d - err
            if lb - radius < lowest:
                lowest = lb - radius
            if d < min(thr, d_now - slack) - _TOL or (lb < radius - _TOL and radius <= d_now):
                ok = False
                break
    return ok, lowest, xe, ye


@numba.njit(cache=True, inline="always")
def padded_clearance_now(pts, n, inner, outer):
    """The least ``d_now - inner`` of the points with ``d_now < outer`` (``inf`` if none).

    For a reduction that checks a path ``D`` padded to ``inner = radius + pad`` (the
    holonomic drift, an offset circle's swing): ``D`` starts where the robot is, so this
    bounds the true clearance even where ``D`` stands and :func:`check_stop` measures no
    piece."""
    low = math.inf
    for j in range(n):
        d = pts[j, 2]
        if d < outer:
            low = min(low, d - inner)
    return low


@numba.njit(cache=True)
def check_stop(pts, n, x0, y0, yaw0, v0, w0, cv, cw, dt, tau, decel, yaw_accel, radius, thr):
    """Roll out command ``(cv, cw)`` and its braking plan; see the module docstring.

    Returns ``(ok, lowest, pad)``: whether every point keeps its rule, the lowest
    lower bound of the surface clearance seen (``inf`` if no point came near), and
    the final bound of the model error, m.
    """
    lowest = math.inf
    slack = abs(v0) * tau  # coast: what no command can prevent
    n_sub = 1
    w_big = max(abs(w0), abs(cw))
    if tau > 0.0:
        n_sub = int(math.ceil(dt / (0.25 * tau)))
    n_sub = max(n_sub, int(math.ceil(w_big * dt)))  # at most 1 rad per piece
    n_sub = min(max(n_sub, 1), _MAX_SUB)
    h = dt / n_sub
    g_h = 0.0
    big_g_h = 0.0
    if tau > 0.0:
        g_h = math.exp(-h / tau)
        big_g_h = tau * (1.0 - g_h)
    x = x0
    y = y0
    th = yaw0
    v = v0
    w = w0
    c_v = cv
    c_w = cw
    err = 0.0
    length = 0.0
    dv = decel * dt
    dw = yaw_accel * dt
    stopped = False
    for _ in range(_MAX_TICKS):
        for _sub in range(n_sub):
            left = h
            while left > 0.0:
                piece = left
                crossing = False
                if tau > 0.0 and v * c_v < 0.0:
                    t0 = -tau * math.log(-c_v / (v - c_v))  # v crosses zero here
                    if t0 < left:
                        piece = t0
                        crossing = True
                g = g_h
                big_g = big_g_h
                if piece != h and tau > 0.0:
                    g = math.exp(-piece / tau)
                    big_g = tau * (1.0 - g)
                a = v - c_v
                b = w - c_w
                s = c_v * piece + a * big_g
                phi = c_w * piece + b * big_g
                e = 0.0
                if tau > 0.0:
                    e = min(tau, piece * piece / (8.0 * tau)) * abs(b * s - phi * a)
                ok, lowest, x, y = _piece(pts, n, x, y, th, s, phi, err + e, length, radius,
                                          thr, slack, lowest)
                if not ok:
                    return False, lowest, err + e
                err += e
                length += abs(s)
                th += phi
                v = 0.0 if crossing else c_v + a * g
                w = c_w + b * g
                left -= piece
                if crossing:
                    continue
                left = 0.0
        c_v = toward_zero(c_v, dv)
        c_w = toward_zero(c_w, dw)
        if c_v == 0.0 and c_w == 0.0:
            stopped = True
            break
    if not stopped:
        return False, lowest, err
    # the commands are zero: v and w decay alike, an exact arc v tau long
    if tau > 0.0 and v != 0.0:
        s = v * tau
        phi = w * tau
        m = max(1, min(int(math.ceil(abs(phi))), _MAX_SUB))
        for _ in range(m):
            ok, lowest, x, y = _piece(pts, n, x, y, th, s / m, phi / m, err, length, radius,
                                      thr, slack, lowest)
            if not ok:
                return False, lowest, err
            length += abs(s / m)
            th += phi / m
    return True, lowest, err


@numba.njit(cache=True)
def reach(v0, w0, cv, cw, dt, tau, decel, yaw_accel):
    """Upper bound of how far from its start any point of :func:`check_stop`'s path
    (plus its error bound) lies, for commands no larger than ``(cv, cw)``, m."""
    vm = max(abs(v0), abs(cv))
    wm = max(abs(w0), abs(cw))
    ticks_v = 1.0 + math.ceil(abs(cv) / (decel * dt))
    ticks = max(ticks_v, 1.0 + math.ceil(abs(cw) / (yaw_accel * dt)))
    pad = 0.0
    if tau > 0.0:
        h = min(dt, 0.25 * tau)
        pad = (ticks * dt + tau) * h * h * wm * vm / (2.0 * tau)
    return vm * (ticks_v * dt + tau) + pad


@numba.njit(cache=True)
def safe_command(pts, n, x0, y0, yaw0, v0, w0, cv, cw, bv, bw, kv, kw, dt, tau, decel,
                 yaw_accel, radius, thr):
    """The command to send: ``(cv, cw)`` if :func:`check_stop` passes it, else the best
    checked one of, in turn: the segment from the braking floor ``(bv, bw)`` to it
    (bisection; standing, a turn in place ``(0, cw)`` is preferred to the floor), the
    next step ``(kv, kw)`` of the braking plan the last command was checked with, a
    turn in place, zero (sent even if it fails).  Every one but the plan's next step is
    within ``(cv, cw)`` component by component; that one continues the last command (a
    turn the robot has not yet taken up, say), is itself a decrease from it, and is
    tried only when the braking floor fails.

    Returns ``(v, w, outcome, lowest, pad, rollouts)``; ``outcome`` is
    :data:`CHECKED`, :data:`SLOWED`, :data:`STOPPING` or :data:`UNSAFE`.
    """
    ok, low, pad = check_stop(pts, n, x0, y0, yaw0, v0, w0, cv, cw, dt, tau, decel, yaw_accel,
                              radius, thr)
    if ok:
        return cv, cw, CHECKED, low, pad, 1
    rollouts = 2
    ok, low, pad = check_stop(pts, n, x0, y0, yaw0, v0, w0, bv, bw, dt, tau, decel, yaw_accel,
                              radius, thr)
    if ok:
        lo = 0.0
        hi = 1.0
        for _ in range(_BISECT):
            mid = 0.5 * (lo + hi)
            ok2, low2, pad2 = check_stop(pts, n, x0, y0, yaw0, v0, w0, bv + mid * (cv - bv),
                                         bw + mid * (cw - bw), dt, tau, decel, yaw_accel,
                                         radius, thr)
            rollouts += 1
            if ok2:
                lo = mid
                low = low2
                pad = pad2
            else:
                hi = mid
        if lo > 0.0:
            return bv + lo * (cv - bv), bw + lo * (cw - bw), SLOWED, low, pad, rollouts
        if bv == 0.0 and cw != bw:
            ok2, low2, pad2 = check_stop(pts, n, x0, y0, yaw0, v0, w0, 0.0, cw, dt, tau, decel,
                                         yaw_accel, radius, thr)
            rollouts += 1
            if ok2:
                return 0.0, cw, STOPPING, low2, pad2, rollouts
        return bv, bw, STOPPING, low, pad, rollouts
    if kv != bv or kw != bw:
        ok, low, pad = check_stop(pts, n, x0, y0, yaw0, v0, w0, kv, kw, dt, tau, decel,
                                  yaw_accel, radius, thr)
        rollouts += 1
        if ok:
            return kv, kw, STOPPING, low, pad, rollouts
    if cw != 0.0:
        ok, low, pad = check_stop(pts, n, x0, y0, yaw0, v0, w0, 0.0, cw, dt, tau, decel,
                                  yaw_accel, radius, thr)
        rollouts += 1
        if ok:
            return 0.0, cw, STOPPING, low, pad, rollouts
    ok, low, pad = check_stop(pts, n, x0, y0, yaw0, v0, w0, 0.0, 0.0, dt, tau, decel, yaw_accel,
                              radius, thr)
    return 0.0, 0.0, STOPPING if ok else UNSAFE, low, pad, rollouts + 1
