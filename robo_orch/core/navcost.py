"""Passability and cost of planning-grid cells (numba), shared by the A* and the smoothing.

Cells and costs, from ``d`` (a cell centre's distance to the nearest obstacle,
see :mod:`robo_orch.core.grid`) and the cost parameters (:func:`cost_params`):
``lethal`` = robot radius + lethal margin, ``inflate`` = radius + inflation
margin, the weight ``w``, the cost range ``L`` and the margin penalty ``P``:

* a cell is *passable* when ``d >= lethal``; also the start and goal cells
  themselves, and cells within ``inflate + res`` of the start (goal) cell (centre
  to centre, squared in cells and rounded down: :func:`zone_cells2`) whose ``d``
  is at least ``min(lethal, d(start))`` (the robot radius): a robot squeezed
  against an obstacle must get away from it, and a waypoint need only be a
  robot radius from obstacles;
* the *cost factor* of a passable cell is ``1 + w (1 - (d - inflate) / L)^2``
  within ``L`` of the inflated boundary and 1 beyond it; inside the inflated
  zone it is ``(1 + w) (1 + P (inflate - d) / (inflate - lethal))``, so a path
  goes there only where it must (a narrow door), and ``(1 + w) (1 + P)`` in the
  cells passable only by the start or goal rule;
* moves go to the 8 neighbours; a diagonal move needs both cells it cuts past
  passable; a move costs its length times the mean cost factor of its two cells.

The rules are baked into a flat ``fcost`` array per search (the factor of each
cell, ``inf`` where impassable): :func:`cost_field` once per plan, then
:func:`open_zone` around a leg's start and goal (closed again after it);
:func:`leg_costs` does both for one search.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_FIELD_SIG = "void(float64[:, ::1], float64[::1], float64[::1])"
_ZONE_SIG = ("void(float64[:, ::1], float64[::1], int64, int64, float64, int64, boolean,"
             " float64[::1])")

# cost parameters: float64[COST_LEN], see cost_params
C_RES = 0
C_RADIUS = 1
C_LETHAL = 2
C_INFLATE = 3
C_WEIGHT = 4
C_RANGE = 5
C_PENALTY = 6
C_MARK = 7  #: marks count this much closer (see robo_orch.core.grid)
COST_LEN = 8


def cost_params(res: float, radius: float, lethal_margin: float, inflation_margin: float,
                cost_weight: float, cost_range: float, margin_penalty: float,
                mark_margin: float = 0.0) -> np.ndarray:
    """The cost parameter array the kernels take (see the module docstring)."""
    cp = np.zeros(COST_LEN, dtype=np.float64)
    cp[C_MARK] = mark_margin
    cp[C_RES], cp[C_RADIUS] = res, radius
    cp[C_LETHAL], cp[C_INFLATE] = radius + lethal_margin, radius + inflation_margin
    cp[C_WEIGHT], cp[C_RANGE], cp[C_PENALTY] = cost_weight, cost_range, margin_penalty
    return cp


@numba.njit(cache=True, inline="always")
def cost_factor(dv, cp):
    """Cost factor of a passable cell whose centre is ``dv`` from an obstacle."""
    inflate = cp[C_INFLATE]
    w = cp[C_WEIGHT]
    if dv >= inflate:
        c = (dv - inflate) / cp[C_RANGE]
        if c >= 1.0:
            return 1.0
        u = 1.0 - c
        return 1.0 + w * u * u
    span = inflate - cp[C_LETHAL]
    if dv < cp[C_LETHAL] or span <= 0.0:
        return (1.0 + w) * (1.0 + cp[C_PENALTY])
    return (1.0 + w) * (1.0 + cp[C_PENALTY] * (inflate - dv) / span)


@numba.njit(_FIELD_SIG, cache=True, nogil=True)
def cost_field(d, cp, fcost):
    """``fcost[j * nx + i]``: the cost factor of each cell by the plain rule, inf if blocked."""
    ny, nx = d.shape
    lethal = cp[C_LETHAL]
    for j in range(ny):
        for i in range(nx):
            dv = d[j, i]
            fcost[j * nx + i] = cost_factor(dv, cp) if dv >= lethal else math.inf


@numba.njit(_ZONE_SIG, cache=True, nogil=True)
def open_zone(d, cp, cj, ci, thr, zone2, close, fcost):
    """Around cell (cj, ci): cells at most ``sqrt(zone2)`` cells away with
    ``thr <= d < lethal`` become passable, and the cell itself whatever its
    ``d``; with ``close`` they become blocked again instead."""
    ny, nx = d.shape
    lethal = cp[C_LETHAL]
    k = int(math.sqrt(zone2))
    for j in range(max(cj - k, 0), min(cj + k + 1, ny)):
        for i in range(max(ci - k, 0), min(ci + k + 1, nx)):
            if (j - cj) * (j - cj) + (i - ci) * (i - ci) > zone2:
                continue
            dv = d[j, i]
            if dv >= lethal:
                continue
            if close:
                fcost[j * nx + i] = math.inf
            elif dv >= thr or (j == cj and i == ci):
                fcost[j * nx + i] = cost_factor(dv, cp)


@numba.njit("int64(float64[::1])", cache=True)
def zone_cells2(cp):
    """Squared radius, in cells, of the zones around start and goal (``inflate + res``)."""
    return int((cp[C_INFLATE] / cp[C_RES] + 1.0) ** 2 + 1e-6)


def leg_costs(d: np.ndarray, cp: np.ndarray, start: tuple[int, int], goal: tuple[int, int],
              fcost: np.ndarray) -> None:
    """Fill ``fcost`` for one search from cell ``start`` to ``goal``, as plan_route does."""
    cost_field(d, cp, fcost)
    zone2 = zone_cells2(cp)
    open_zone(d, cp, *start, min(cp[C_LETHAL], float(d[start])), zone2, False, fcost)
    open_zone(d, cp, *goal, cp[C_RADIUS], zone2, False, fcost)
