"""Slow, obviously correct references of the field and behavior kernels.

Pure Python with the ``math`` module and plain loops, written for reading, not
speed: the tests compare every compiled kernel against these on random worlds.
``dwa_numpy`` is the same DWA vectorised with plain numpy; ``robo-orch bench``
reports how the compiled kernel compares with it.

The step functions take the same arguments as the kernels
(``world, idx, params, state, out``) and return the activation.  Diagnostics that
depend on how a kernel searches (``out[3]`` of avoid_obstacles: rollouts
simulated) are not reproduced; here ``out[3]`` is the number of admissible
samples.
"""

from __future__ import annotations

import math

import numpy as np

from robo_orch.behaviors import avoid_obstacles as ao
from robo_orch.behaviors import follow_path as fp
from robo_orch.behaviors import go_to_goal as gg
from robo_orch.behaviors import stop as st
from robo_orch.core import world as wd


def scan_to_points(angles, ranges, count, x, y, yaw, range_min, range_max, out_points) -> int:
    """Reference of :func:`robo_orch.core.field.scan_to_points`."""
    written = 0
    for k in range(min(count, len(angles), len(ranges))):
        r, a = float(ranges[k]), float(angles[k])
        if not (math.isfinite(r) and math.isfinite(a)) or r <= 0 or r < range_min or r > range_max:
            continue
        if written >= len(out_points):
            break
        out_points[written, 0] = x + r * math.cos(yaw + a)
        out_points[written, 1] = y + r * math.sin(yaw + a)
        written += 1
    return written


def nearest_distance(points, count, x, y) -> float:
    """Distance from (x, y) to the nearest of ``points[:count]`` (inf if none)."""
    return min((math.hypot(points[k, 0] - x, points[k, 1] - y) for k in range(count)),
               default=math.inf)


def build_field(points, count, cx, cy, state, field) -> None:
    """Brute force: every cell's distance to every point (same layout as the kernel)."""
    ny, nx = field.shape
    res, cap = state[wd.FIELD_RES], state[wd.FIELD_CAP]
    x0 = cx - 0.5 * (nx - 1) * res
    y0 = cy - 0.5 * (ny - 1) * res
    pts = [(float(points[k, 0]), float(points[k, 1])) for k in range(count)
           if math.isfinite(points[k, 0]) and math.isfinite(points[k, 1])]
    for j in range(ny):
        for i in range(nx):
            cx_i, cy_j = x0 + i * res, y0 + j * res
            d = min((math.hypot(px - cx_i, py - cy_j) for px, py in pts), default=cap)
            field[j, i] = min(d, cap)
    state[wd.FIELD_X0] = x0
    state[wd.FIELD_Y0] = y0
    state[wd.FIELD_VALID] = 1.0


def field_distance(state, field, x, y) -> float:
    """Bilinear field value at (x, y); FIELD_CAP outside the field or before the first build."""
    cap = state[wd.FIELD_CAP]
    if state[wd.FIELD_VALID] == 0.0:
        return cap
    ny, nx = field.shape
    fx = (x - state[wd.FIELD_X0]) * (1.0 / state[wd.FIELD_RES])
    fy = (y - state[wd.FIELD_Y0]) * (1.0 / state[wd.FIELD_RES])
    if not (-0.5 <= fx <= nx - 0.5 and -0.5 <= fy <= ny - 0.5):
        return cap
    fx = min(max(fx, 0.0), nx - 1.0)
    fy = min(max(fy, 0.0), ny - 1.0)
    i = min(int(fx), nx - 2) if nx > 1 else 0
    j = min(int(fy), ny - 2) if ny > 1 else 0
    tx, ty = fx - i, fy - j
    i1, j1 = min(i + 1, nx - 1), min(j + 1, ny - 1)
    bottom = field[j, i] + tx * (field[j, i1] - field[j, i])
    top = field[j1, i] + tx * (field[j1, i1] - field[j1, i])
    return bottom + ty * (top - bottom)


def _bearing(state, px, py) -> float:
    """Angle of (px, py) seen from the robot, relative to its heading, in (-pi, pi]."""
    a = math.atan2(py - state[wd.Y], px - state[wd.X]) - state[wd.YAW]
    return math.atan2(math.sin(a), math.cos(a))


def go_to_goal_step(world, idx, params, state, out) -> float:
    """Reference of :func:`robo_orch.behaviors.go_to_goal.step`."""
    ws, _, _, path, _ = world
    out[wd.OUT_V] = out[wd.OUT_W] = 0.0
    n = int(ws[wd.PATH_COUNT])
    if n <= 0 or ws[wd.GOAL_REACHED] != 0.0:
        return 0.0
    err = _bearing(ws, ws[wd.TARGET_X], ws[wd.TARGET_Y])
    w_max = params[gg.P_MAX_YAW_RATE]
    w = max(-w_max, min(w_max, params[gg.P_K_HEADING] * err))
    d_goal = math.hypot(path[n - 1, 0] - ws[wd.X], path[n - 1, 1] - ws[wd.Y])
    v = params[gg.P_MAX_SPEED] * min(1.0, d_goal / params[gg.P_SLOW_RADIUS]
                                     if params[gg.P_SLOW_RADIUS] > 0 else 1.0)
    v = max(v, params[gg.P_MIN_SPEED])
    limit = params[gg.P_ROTATE_THRESHOLD]
    v = 0.0 if abs(err) >= limit else v * (1.0 - abs(err) / limit)
    out[wd.OUT_V], out[wd.OUT_W] = v, w
    out[2] = err
    out[3] = math.hypot(ws[wd.TARGET_X] - ws[wd.X], ws[wd.TARGET_Y] - ws[wd.Y])
    return 1.0


def stop_step(world, idx, params, state, out) -> float:
    """Reference of :func:`robo_orch.behaviors.stop.step`."""
    ws = world[0]
    out[wd.OUT_V] = out[wd.OUT_W] = 0.0
    on_goal = params[st.P_ON_GOAL] != 0.0 and ws[wd.GOAL_REACHED] >= 0.5
    return 1.0 if ws[wd.ESTOP] >= 0.5 or on_goal else 0.0


def _closest_on_segment(ax, ay, bx, by, x, y):
    """(t, distance) of the point of segment a-b closest to (x, y)."""
    sx, sy = bx - ax, by - ay
    len2 = sx * sx + sy * sy
    t = 0.0 if len2 == 0 else max(0.0, min(1.0, ((x - ax) * sx + (y - ay) * sy) / len2))
    return t, math.hypot(ax + t * sx - x, ay + t * sy - y)


def follow_path_step(world, idx, params, state, out) -> float:
    """Reference of :func:`robo_orch.behaviors.follow_path.step` (same state layout)."""
    ws, _, _, path, _ = world
    out[wd.OUT_V] = out[wd.OUT_W] = 0.0
    n = int(ws[wd.PATH_COUNT])
    if n <= 0:
        return 0.0
    x, y = ws[wd.X], ws[wd.Y]
    if state[fp.S_INIT] == 0.0:
        first = max(0, min(int(ws[wd.TARGET_INDEX]), n - 1))
        state[fp.S_INIT], state[fp.S_START_X], state[fp.S_START_Y] = 1.0, x, y
        state[fp.S_FIRST] = state[fp.S_SEGMENT] = first
    first = min(int(state[fp.S_FIRST]), n - 1)
    seg = min(max(int(state[fp.S_SEGMENT]), first), n - 1)
    vertices = [(state[fp.S_START_X], state[fp.S_START_Y])] + [
        (path[k, 0], path[k, 1]) for k in range(first, n)]

    def segment(j):  # path row j ends the segment; its start vertex
        return vertices[j - first], vertices[j - first + 1]

    end = vertices[-1]
    d_end = math.hypot(end[0] - x, end[1] - y)
    if d_end <= ws[wd.GOAL_TOLERANCE]:
        state[fp.S_SEGMENT] = seg
        return 0.0
    best = (math.inf, 0.0, seg)  # (distance, t, segment)
    travelled = 0.0
    for j in range(seg, n):
        a, b = segment(j)
        t, d = _closest_on_segment(a[0], a[1], b[0], b[1], x, y)
        if d < best[0]:
            best = (d, t, j)
        travelled += math.hypot(b[0] - a[0], b[1] - a[1])
        if travelled > params[fp.P_SEARCH_DISTANCE]:
            break
    cross, t, seg = best
    state[fp.S_SEGMENT] = seg
    a, b = segment(seg)
    p = (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
    remaining, look = params[fp.P_LOOKAHEAD], end
    for j in range(seg, n):
        b = segment(j)[1]
        d = math.hypot(b[0] - p[0], b[1] - p[1])
        if d >= remaining:
            look = (p[0] + remaining / d * (b[0] - p[0]), p[1] + remaining / d * (b[1] - p[1]))
            break
        remaining -= d
        p = b
    # the lookahead point in the robot frame, by rotating with the heading
    dist = math.hypot(look[0] - x, look[1] - y)
    alpha = _bearing(ws, look[0], look[1]) if dist > 0 else 0.0
    lx, ly = dist * math.cos(alpha), dist * math.sin(alpha)
    v = params[fp.P_MAX_SPEED]
    if d_end < params[fp.P_SLOW_RADIUS]:
        v *= d_end / params[fp.P_SLOW_RADIUS]
    v = max(v, params[fp.P_MIN_SPEED])
    w_max, w = params[fp.P_MAX_YAW_RATE], 0.0
    if abs(alpha) > params[fp.P_ROTATE_THRESHOLD]:
        v, w = 0.0, math.copysign(w_max, alpha)
    elif lx * lx + ly * ly > 1e-12:
        curvature = 2.0 * ly / (lx * lx + ly * ly)
        w = v * curvature
        if abs(w) > w_max:
            w = math.copysign(w_max, w)
            v = w_max / abs(curvature)
    out[wd.OUT_V], out[wd.OUT_W] = v, w
    out[2], out[3] = seg, cross
    return 1.0


def _speeds(lo, hi, n, v_max):
    """n evenly spaced speeds from lo to hi, those within 1e-9 v_max of 0 exactly 0."""
    if n < 2:
        return [lo]
    vs = [min(lo + (hi - lo) * k / (n - 1), hi) for k in range(n)]
    return [0.0 if abs(v) < 1e-9 * v_max else v for v in vs]


def dwa_window(ws, params):
    """The sampled forward speeds and yaw rates of the dynamic window (lists)."""
    win = params[ao.P_WINDOW_S]
    v_max, w_max = params[ao.P_MAX_SPEED], params[ao.P_MAX_YAW_RATE]
    dv, dw = params[ao.P_MAX_ACCEL] * win, params[ao.P_MAX_YAW_ACCEL] * win
    v_lo, v_hi = (min(max(ws[wd.V] + d, 0.0), v_max) for d in (-dv, dv))
    w_lo, w_hi = (min(max(ws[wd.W] + d, -w_max), w_max) for d in (-dw, dw))
    nv, nw = int(params[ao.P_V_SAMPLES]), int(params[ao.P_W_SAMPLES])
    vs = _speeds(v_lo, v_hi, nv, v_max)
    wss = [min(w_lo + (w_hi - w_lo) * k / (nw - 1), w_hi) for k in range(nw)]
    return vs, wss


def dwa_lateral(ws, params):
    """The sampled lateral speeds: [0.0] unless the base is holonomic."""
    n = max(int(params[ao.P_VY_SAMPLES]), 1) if ws[wd.BASE_KIND] == wd.BASE_HOLONOMIC else 1
    if n < 2:
        return [0.0]
    v_max, dv = params[ao.P_MAX_SPEED], params[ao.P_MAX_ACCEL] * params[ao.P_WINDOW_S]
    lo, hi = (min(max(ws[wd.VY] + d, -v_max), v_max) for d in (-dv, dv))
    return _speeds(lo, hi, n, v_max)


def dwa_reverse(ws, params):
    """The sampled reverse speeds (all < 0), empty when ``max_reverse`` is 0."""
    rev = params[ao.P_MAX_REVERSE]
    dv = params[ao.P_MAX_ACCEL] * params[ao.P_WINDOW_S]
    lo, hi = max(ws[wd.V] - dv, -rev), min(ws[wd.V] + dv, 0.0)
    if rev <= 0.0 or lo >= hi:
        return []
    return [v for v in _speeds(lo, hi, int(params[ao.P_V_SAMPLES]), params[ao.P_MAX_SPEED])
            if v < 0.0]


def _dwa_rollout(ws, field, v, vy, w, steps, dt):
    """Final pose and lowest clearance of one constant (v, vy, w) rollout."""
    x, y, lowest = ws[wd.X], ws[wd.Y], math.inf
    for k in range(steps):
        heading = ws[wd.YAW] + k * w * dt
        c, s = math.cos(heading), math.sin(heading)
        x += v * dt * c - vy * dt * s
        y += v * dt * s + vy * dt * c
        lowest = min(lowest, field_distance(ws, field, x, y) - ws[wd.ROBOT_RADIUS])
    return x, y, ws[wd.YAW] + steps * w * dt, lowest


def _alignment(ws, x, y, heading) -> float:
    gx, gy = ws[wd.TARGET_X] - x, ws[wd.TARGET_Y] - y
    dist = math.hypot(gx, gy)
    return (math.cos(heading) * gx + math.sin(heading) * gy) / dist if dist > 1e-9 else 1.0


def _dwa_activation(ws, field, params) -> float:
    if ws[wd.GOAL_REACHED] != 0.0 or ws[wd.PATH_COUNT] < 1 or ws[wd.FIELD_VALID] == 0.0:
        return 0.0
    d = field_distance(ws, field, ws[wd.X], ws[wd.Y])
    radius = ws[wd.ROBOT_RADIUS]  # the activation distances are from the robot's surface
    a_range = params[ao.P_ACTIVATION_CLEARANCE] + radius
    a_full = params[ao.P_FULL_ACTIVATION_CLEARANCE] + radius
    if d >= ws[wd.FIELD_CAP] or d >= a_range:
        return 0.0
    return min((a_range - d) / (a_range - a_full), 1.0)


def dwa_scores(world, params) -> np.ndarray:
    """Score of every (w, vy, v) sample, shape (w_samples, vy_samples * v_samples) (vy
    outer; one vy, 0, on a wheeled base); -inf if it collides or is not sampled."""
    ws, _, field, _, _ = world
    vs, wss = dwa_window(ws, params)
    vys = dwa_lateral(ws, params)
    steps, dt = int(params[ao.P_STEPS]), params[ao.P_ROLLOUT_DT]
    v_max = params[ao.P_MAX_SPEED]
    scores = np.full((len(wss), len(vys) * len(vs)), -np.inf)
    d0 = math.hypot(ws[wd.TARGET_X] - ws[wd.X], ws[wd.TARGET_Y] - ws[wd.Y])
    for iw, w in enumerate(wss):
        for ivy, vy in enumerate(vys):
            for iv, v in enumerate(vs):
                if (v == 0.0 and vy == 0.0) or v * v + vy * vy > v_max * v_max:
                    continue  # standing still is never chosen; nor beyond max_speed
                x, y, heading, lowest = _dwa_rollout(ws, field, v, vy, w, steps, dt)
                if lowest < params[ao.P_COLLISION_MARGIN]:
                    continue
                progress = (d0 - math.hypot(ws[wd.TARGET_X] - x, ws[wd.TARGET_Y] - y)) \
                    / (v_max * steps * dt)
                scores[iw, ivy * len(vs) + iv] = (
                    params[ao.P_HEADING_WEIGHT] * _alignment(ws, x, y, heading)
                    + params[ao.P_PROGRESS_WEIGHT] * progress
                    + params[ao.P_CLEARANCE_WEIGHT] * min(lowest, params[ao.P_CLEARANCE_CAP])
                    + params[ao.P_SPEED_WEIGHT] * v)
    return scores


def dwa_reverse_scores(world, params) -> np.ndarray:
    """Score of every reverse sample, shape (w_samples, vy_samples * reverse speeds)."""
    ws, _, field, _, _ = world
    _, wss = dwa_window(ws, params)
    vys, rvs = dwa_lateral(ws, params), dwa_reverse(ws, params)
    steps, dt = int(params[ao.P_STEPS]), params[ao.P_ROLLOUT_DT]
    scores = np.full((len(wss), len(vys) * len(rvs)), -np.inf)
    here = field_distance(ws, field, ws[wd.X], ws[wd.Y]) - ws[wd.ROBOT_RADIUS]
    margin = min(params[ao.P_COLLISION_MARGIN], here)  # backing out of the margin
    for iw, w in enumerate(wss):
        for ivy, vy in enumerate(vys):
            for iv, v in enumerate(rvs):
                if v * v + vy * vy > params[ao.P_MAX_SPEED] ** 2:
                    continue  # not beyond max_speed overall
                x, y, heading, lowest = _dwa_rollout(ws, field, v, vy, w, steps, dt)
                if lowest < margin:
                    continue
                room = field_distance(ws, field, x, y) - ws[wd.ROBOT_RADIUS]
                scores[iw, ivy * len(rvs) + iv] = (
                    params[ao.P_HEADING_WEIGHT] * _alignment(ws, x, y, heading)
                    + params[ao.P_CLEARANCE_WEIGHT] * min(room, params[ao.P_CLEARANCE_CAP]))
    return scores


def _dwa_finish(ws, field, params, scores, out) -> None:
    """Write the best sample (first in (w, v) order) or the recovery turn into ``out``."""
    vs, wss = dwa_window(ws, params)
    vys = dwa_lateral(ws, params)
    out[3] = float(np.isfinite(scores).sum())
    for speeds, table in ((vs, scores), (dwa_reverse(ws, params), None)):
        if table is None:  # boxed in: the reverse samples
            if not speeds:
                break
            table = dwa_reverse_scores((ws, None, field, None, None), params)
        if np.isfinite(table).any():
            k = int(np.argmax(table))  # first maximum in (w, vy, v) order
            iw, rest = divmod(k, table.shape[1])
            out[wd.OUT_V], out[wd.OUT_W] = speeds[rest % len(speeds)], wss[iw]
            out[wd.OUT_VY] = vys[rest // len(speeds)]
            out[2] = table.flat[k]
            return
    x, y, yaw = ws[wd.X], ws[wd.Y], ws[wd.YAW]
    r = params[ao.P_PROBE_CLEARANCE] + ws[wd.ROBOT_RADIUS]
    left = sum(field_distance(ws, field, x + r * math.cos(yaw + a), y + r * math.sin(yaw + a))
               for a in (math.pi / 2, math.pi / 4))
    right = sum(field_distance(ws, field, x + r * math.cos(yaw - a), y + r * math.sin(yaw - a))
                for a in (math.pi / 2, math.pi / 4))
    rate = min(params[ao.P_RECOVERY_YAW_RATE], params[ao.P_MAX_YAW_RATE])
    out[wd.OUT_W] = rate if left >= right else -rate


def _dwa(world, params, out, scores) -> float:
    """The DWA's activation, and its command in ``out`` from ``scores(world, params)``."""
    ws, _, field, _, _ = world
    out[:] = 0.0
    activation = _dwa_activation(ws, field, params)
    if activation == 0.0:
        return 0.0
    _dwa_finish(ws, field, params, scores(world, params), out)
    return activation


def avoid_obstacles_step(world, idx, params, state, out) -> float:
    """Reference of :func:`robo_orch.behaviors.avoid_obstacles.step`: every sample rolled out."""
    return _dwa(world, params, out, dwa_scores)


def _interp_numpy(ws, field, x, y):
    """Vectorised :func:`field_distance` over arrays of positions."""
    cap = ws[wd.FIELD_CAP]
    ny, nx = field.shape
    fx = (x - ws[wd.FIELD_X0]) * (1.0 / ws[wd.FIELD_RES])
    fy = (y - ws[wd.FIELD_Y0]) * (1.0 / ws[wd.FIELD_RES])
    inside = (fx >= -0.5) & (fx <= nx - 0.5) & (fy >= -0.5) & (fy <= ny - 0.5)
    fx = np.clip(fx, 0.0, nx - 1.0)
    fy = np.clip(fy, 0.0, ny - 1.0)
    i = np.minimum(fx.astype(np.int64), max(nx - 2, 0))
    j = np.minimum(fy.astype(np.int64), max(ny - 2, 0))
    tx, ty = fx - i, fy - j
    i1, j1 = np.minimum(i + 1, nx - 1), np.minimum(j + 1, ny - 1)
    bottom = field[j, i] + tx * (field[j, i1] - field[j, i])
    top = field[j1, i] + tx * (field[j1, i1] - field[j1, i])
    return np.where(inside, bottom + ty * (top - bottom), cap)


def dwa_numpy(world, idx, params, state, out) -> float:
    """The DWA vectorised with plain numpy over all samples (no pruning); the forward
    (v, w) window of a wheeled base only."""
    return _dwa(world, params, out, _dwa_scores_numpy)


def _dwa_scores_numpy(world, params) -> np.ndarray:
    """:func:`dwa_scores` vectorised over all samples."""
    ws, _, field, _, _ = world
    vs, wss = dwa_window(ws, params)
    v = np.asarray(vs)[None, :]
    w = np.asarray(wss)[:, None]
    steps, dt = int(params[ao.P_STEPS]), params[ao.P_ROLLOUT_DT]
    x = np.full((len(wss), len(vs)), ws[wd.X])
    y = np.full_like(x, ws[wd.Y])
    lowest = np.full_like(x, np.inf)
    for k in range(steps):
        heading = ws[wd.YAW] + k * w * dt
        x = x + v * dt * np.cos(heading)
        y = y + v * dt * np.sin(heading)
        lowest = np.minimum(lowest, _interp_numpy(ws, field, x, y) - ws[wd.ROBOT_RADIUS])
    heading = ws[wd.YAW] + steps * w * dt
    gx, gy = ws[wd.TARGET_X] - x, ws[wd.TARGET_Y] - y
    dist = np.hypot(gx, gy)
    safe = np.where(dist > 1e-9, dist, 1.0)
    align = np.where(dist > 1e-9, (np.cos(heading) * gx + np.sin(heading) * gy) / safe, 1.0)
    d0 = math.hypot(ws[wd.TARGET_X] - ws[wd.X], ws[wd.TARGET_Y] - ws[wd.Y])
    progress = (d0 - dist) / (params[ao.P_MAX_SPEED] * steps * dt)
    scores = (params[ao.P_HEADING_WEIGHT] * align + params[ao.P_PROGRESS_WEIGHT] * progress
              + params[ao.P_CLEARANCE_WEIGHT] * np.minimum(lowest, params[ao.P_CLEARANCE_CAP])
              + params[ao.P_SPEED_WEIGHT] * v)
    return np.where((lowest < params[ao.P_COLLISION_MARGIN]) | (v <= 0.0), -np.inf, scores)
