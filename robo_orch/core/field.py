"""Scan points and the distance field the local planner reads (numba kernels).

``field[j, i]`` is the Euclidean distance from the centre of cell ``(j, i)``,
at odom ``(FIELD_X0 + i * res, FIELD_Y0 + j * res)``, to the nearest scan point,
capped at ``FIELD_CAP``.  Rows run along y, columns along x.

:func:`build_field` is a vector-propagation distance transform that carries the
*real* coordinates of each cell's nearest point, so distances are to the points,
not to cell centres:

1. seeding: every point inside the field is offered to the 3 x 3 block of
   cells around the cell it falls in; a point outside (but within the cap) to
   every cell of the border it faces that lies within the cap.  Each cell keeps
   the point nearest its centre.
2. four passes: rows upwards, then downwards, then (on a transposed copy)
   columns rightwards and leftwards; in each, a cell adopts the point of one of
   the three neighbouring cells of the previous row (column) if it is nearer.
   The inner loops carry no dependency, so they vectorise; all scratch is
   preallocated by :func:`alloc_field_scratch`.

Error bound.  Every value is the distance to a real scan point, so the field
never *under*-estimates: ``0 <= field - exact <= E``.  Cells whose nearest point
is within one cell size are exact (they were offered it directly).  Elsewhere
the propagation can miss the true nearest point when no chain of neighbouring
cells leads to it.  Over about 12 000 random fields (uniform points, lidar-like
outlines, clusters, wall segments; 1 to 2000 points; 30 to 80 cells a side;
0.05 to 0.1 m cells; caps 0.5 to 2 m) the worst case was 0.37 cell and the
median of the per-field maxima 0.02 cell (there is no proof of a bound: it is
measured); tests/test_field.py asserts ``E <= 0.5 * res``.

:func:`field_distance` interpolates bilinearly between cell centres, which
adds up to ``res / sqrt(2)`` of over-estimate right at a point
(the distance is a cone there, not bilinear): the planner's collision margin
must allow for it, and the safety layer checks against the raw points with
:func:`nearest_distance`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from robo_orch.core.world import FIELD_CAP, FIELD_RES, FIELD_VALID, FIELD_X0, FIELD_Y0

_SCAN_SIG = ("int64(float64[:], float64[:], int64, float64, float64, float64, float64,"
             " float64, float64[:, ::1])")
_BUILD_SIG = ("void(float64[:, ::1], int64, float64, float64, float64[::1], float64[:, ::1],"
              " float64[::1])")
_EMPTY = 1e30  #: coordinate of "no point yet": far, but finite so the passes stay branch-free
_DIST_SIG = "float64(float64[::1], float64[:, ::1], float64, float64)"
_NEAREST_SIG = "float64(float64[:, ::1], int64, float64, float64)"


def alloc_field_scratch(shape: tuple[int, int]) -> np.ndarray:
    """Preallocated scratch for :func:`build_field` on a field of ``shape`` (NY, NX).

    Holds, per cell, the squared distance and the nearest point found so far,
    in row-major and transposed padded planes.
    """
    ny, nx = (int(v) for v in shape)
    if ny < 1 or nx < 1:
        raise ValueError(f"field shape must be positive, got {shape}")
    return np.empty(3 * (ny * (nx + 2) + nx * (ny + 2)), dtype=np.float64)


@numba.njit(_SCAN_SIG, cache=True)
def scan_to_points(angles, ranges, count, x, y, yaw, range_min, range_max, out_points):
    """Polar scan (robot frame) -> odom-frame points in ``out_points``; returns how many.

    Rays with no return (range <= 0, non-finite, below ``range_min`` or above
    ``range_max``) are skipped.  At most ``len(out_points)`` points are written.
    """
    n = min(count, angles.shape[0], ranges.shape[0])
    cap = out_points.shape[0]
    written = 0
    for k in range(n):
        r = ranges[k]
        a = angles[k]
        if not (math.isfinite(r) and math.isfinite(a)):
            continue
        if r <= 0.0 or r < range_min or r > range_max:
            continue
        if written >= cap:
            break
        th = yaw + a
        out_points[written, 0] = x + r * math.cos(th)
        out_points[written, 1] = y + r * math.sin(th)
        written += 1
    return written


# A declared signature keeps ``backward`` a runtime value: specialised on a
# literal, LLVM hoists the aliasing check of the vectorised inner loop out of the
# row loop, where it always fails, and the pass runs scalar (twice as slow).
@numba.njit("void(float64[:, ::1], float64[:, ::1], float64[:, ::1], float64, float64, float64,"
            " boolean)", cache=True)
def _pass(d2, qa, qb, a0, b0, res, backward):
    """Propagate along the rows of padded planes (one pad column each side).

    Rows are visited in increasing order (decreasing if ``backward``); each cell
    takes the point of one of the three neighbouring cells of the previous row
    when that point is nearer to it.  The inner loop has no loop-carried
    dependency, so LLVM vectorises it.
    """
    ny = d2.shape[0]
    nx = d2.shape[1] - 2
    for step in range(1, ny):
        j = ny - 1 - step if backward else step
        sj = j + 1 if backward else j - 1
        cb = b0 + j * res
        drow = d2[j]
        arow = qa[j]
        brow = qb[j]
        sa = qa[sj]
        sb = qb[sj]
        for i in range(nx):
            ca = a0 + i * res
            best = drow[i + 1]
            ba = arow[i + 1]
            bb = brow[i + 1]
            for k in range(3):
                pa = sa[i + k]
                pb = sb[i + k]
                da = pa - ca
                db = pb - cb
                dd = da * da + db * db
                better = dd < best
                best = dd if better else best
                ba = pa if better else ba
                bb = pb if better else bb
            drow[i + 1] = best
            arow[i + 1] = ba
            brow[i + 1] = bb


@numba.njit(cache=True, inline="always")
def _offer(d2, qx, qy, j0, j1, i0, i1, x0, y0, res, px, py):
    """Cells [j0, j1) x [i0, i1) (unpadded indices) keep (px, py) where it is nearer."""
    for j in range(j0, j1):
        dy = py - (y0 + j * res)
        dy2 = dy * dy
        for i in range(i0, i1):
            dx = px - (x0 + i * res)
            dd = dx * dx + dy2
            if dd < d2[j, i + 1]:
                d2[j, i + 1] = dd
                qx[j, i + 1] = px
                qy[j, i + 1] = py


@numba.njit(_BUILD_SIG, cache=True)
def build_field(points, count, cx, cy, state, field, scratch):
    """Rebuild ``field`` centred on (cx, cy) from ``points[:count]`` (odom frame).

    Writes FIELD_X0/FIELD_Y0 and FIELD_VALID into ``state``; reads FIELD_RES and
    FIELD_CAP.  ``scratch`` comes from :func:`alloc_field_scratch` for this shape.
    """
    ny, nx = field.shape
    n = ny * (nx + 2)
    m = nx * (ny + 2)
    if scratch.shape[0] < 3 * (n + m):
        raise ValueError("build_field: scratch too small, use alloc_field_scratch(field.shape)")
    res = state[FIELD_RES]
    cap = state[FIELD_CAP]
    cap2 = cap * cap
    inv = 1.0 / res
    x0 = cx - 0.5 * (nx - 1) * res
    y0 = cy - 0.5 * (ny - 1) * res
    x1 = x0 + (nx - 1) * res
    y1 = y0 + (ny - 1) * res
    state[FIELD_X0] = x0
    state[FIELD_Y0] = y0
    # planes: squared distance and nearest point (x, y) per cell, padded by one
    # empty column each side; then the same transposed (rows along x)
    d2 = scratch[0:n].reshape((ny, nx + 2))
    qx = scratch[n:2 * n].reshape((ny, nx + 2))
    qy = scratch[2 * n:3 * n].reshape((ny, nx + 2))
    o = 3 * n
    td = scratch[o:o + m].reshape((nx, ny + 2))
    ty = scratch[o + m:o + 2 * m].reshape((nx, ny + 2))
    tx = scratch[o + 2 * m:o + 3 * m].reshape((nx, ny + 2))
    for j in range(ny):
        for i in range(nx + 2):
            d2[j, i] = np.inf
            qx[j, i] = _EMPTY
            qy[j, i] = _EMPTY
    for i in range(nx):
        ty[i, 0] = _EMPTY
        tx[i, 0] = _EMPTY
        ty[i, ny + 1] = _EMPTY
        tx[i, ny + 1] = _EMPTY

    for k in range(min(count, points.shape[0])):
        px = points[k, 0]
        py = points[k, 1]
        if not (math.isfinite(px) and math.isfinite(py)):
            continue
        ox = max(x0 - px, 0.0, px - x1)
        oy = max(y0 - py, 0.0, py - y1)
        if ox * ox + oy * oy >= cap2:
            continue  # at least the cap away from every cell centre
        if ox == 0.0 and oy == 0.0:
            # the 3 x 3 block around the point's cell, branch-free; at the left
            # and right edges this writes a pad column, which only makes the pad
            # hold a real point (a harmless extra candidate)
            ic = int((px - x0) * inv + 0.5)
            jc = int((py - y0) * inv + 0.5)
            for j in range(max(jc - 1, 0), min(jc + 2, ny)):
                dy = py - (y0 + j * res)
                dy2 = dy * dy
                drow = d2[j]
                xrow = qx[j]
                yrow = qy[j]
                for t in range(3):
                    dx = px - (x0 + (ic - 1 + t) * res)
                    dd = dx * dx + dy2
                    better = dd < drow[ic + t]
                    drow[ic + t] = dd if better else drow[ic + t]
                    xrow[ic + t] = px if better else xrow[ic + t]
                    yrow[ic + t] = py if better else yrow[ic + t]
            continue
        # Outside: its region can enter anywhere along the border it faces, so
        # offer it to every cell of that border within the cap.
        if ox > 0.0:
            ib = 0 if px < x0 else nx - 1
            r = math.sqrt(cap2 - ox * ox)
            j0 = max(int(math.ceil((py - r - y0) * inv)), 0)
            j1 = min(int(math.floor((py + r - y0) * inv)) + 1, ny)
            _offer(d2, qx, qy, j0, j1, ib, ib + 1, x0, y0, res, px, py)
        if oy > 0.0:
            jb = 0 if py < y0 else ny - 1
            r = math.sqrt(cap2 - oy * oy)
            i0 = max(int(math.ceil((px - r - x0) * inv)), 0)
            i1 = min(int(math.floor((px + r - x0) * inv)) + 1, nx)
            _offer(d2, qx, qy, jb, jb + 1, i0, i1, x0, y0, res, px, py)

    _pass(d2, qx, qy, x0, y0, res, False)  # upwards
    _pass(d2, qx, qy, x0, y0, res, True)  # downwards
    for i in range(nx):  # one plane at a time: fewer cache lines in flight
        for j in range(ny):
            td[i, j + 1] = d2[j, i + 1]
        for j in range(ny):
            ty[i, j + 1] = qy[j, i + 1]
        for j in range(ny):
            tx[i, j + 1] = qx[j, i + 1]
    _pass(td, ty, tx, y0, x0, res, False)  # rightwards
    _pass(td, ty, tx, y0, x0, res, True)  # leftwards
    for i in range(nx):
        for j in range(ny):
            dd = td[i, j + 1]
            field[j, i] = cap if dd >= cap2 else math.sqrt(dd)
    state[FIELD_VALID] = 1.0


@numba.njit(cache=True, inline="always")
def interp_field(field, x0, y0, inv_res, cap, x, y):
    """Bilinear field value at odom (x, y) given the field's origin and 1 / resolution.

    Inside the field's extent (cell centres +- half a cell) positions are clamped
    to the grid of centres; outside it the value is ``cap``.
    """
    ny, nx = field.shape
    fx = (x - x0) * inv_res
    fy = (y - y0) * inv_res
    if not (fx >= -0.5 and fx <= nx - 0.5 and fy >= -0.5 and fy <= ny - 0.5):
        return cap  # also catches NaN
    fx = min(max(fx, 0.0), nx - 1.0)
    fy = min(max(fy, 0.0), ny - 1.0)
    i = min(int(fx), nx - 2) if nx > 1 else 0
    j = min(int(fy), ny - 2) if ny > 1 else 0
    tx = fx - i
    ty = fy - j
    i1 = min(i + 1, nx - 1)
    j1 = min(j + 1, ny - 1)
    a = field[j, i] + tx * (field[j, i1] - field[j, i])
    b = field[j1, i] + tx * (field[j1, i1] - field[j1, i])
    return a + ty * (b - a)


@numba.njit("float64(float64[:, ::1], float64, float64, float64, float64, float64, float64)",
            cache=True)
def field_value(field, x0, y0, inv_res, cap, x, y):
    """:func:`interp_field`, compiled once and called, for callers off the hot path (each
    inlined copy costs its caller's compile ~0.2 s on an empty kernel cache; a rollout's
    inner loop inlines it)."""
    return interp_field(field, x0, y0, inv_res, cap, x, y)


@numba.njit(_DIST_SIG, cache=True, inline="always")
def field_distance(state, field, x, y):
    """Distance to the nearest scan point at odom (x, y), bilinear in the field.

    Returns FIELD_CAP outside the field and while no field has been built.
    """
    cap = state[FIELD_CAP]
    if state[FIELD_VALID] == 0.0:
        return cap
    return interp_field(field, state[FIELD_X0], state[FIELD_Y0], 1.0 / state[FIELD_RES],
                        cap, x, y)


@numba.njit(_NEAREST_SIG, cache=True)
def nearest_distance(points, count, x, y):
    """Brute-force distance from (x, y) to the nearest of ``points[:count]`` (inf if none)."""
    best = np.inf
    for k in range(min(count, points.shape[0])):
        dx = points[k, 0] - x
        dy = points[k, 1] - y
        d2 = dx * dx + dy * dy
        if d2 < best:
            best = d2
    return math.sqrt(best)
