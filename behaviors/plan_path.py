"""plan_path: the global planner; its path feeds follow_path, go_to_goal and the local planner.

The work is done by a :class:`PlanPathService` (see
:class:`robo_orch.behavior.BehaviorService`), which owns an occupancy grid of
the configured world (:mod:`robo_orch.core.grid`) and plans on it
(:mod:`robo_orch.core.pathplan`: A* and line-of-sight smoothing) from the
robot through the mission waypoints not yet reached.  The path replaces
``world.path`` (each waypoint is a vertex; ``PATH_VERSION`` is incremented),
so mission progress, ``TARGET_X/Y`` and every path-following behavior use it.

The costs (a gentle gradient over ``cost_range`` beyond the inflation margin)
are tuned so the path keeps a margin without detouring: in a field of posts a
metre apart it goes through the gaps, not around the field.

Every tick, before the kernels, the service makes one compiled call
(:func:`robo_orch.core.navtrack.nav_update`) that

1. marks the newest scan into the grid (points the map does not explain,
   each kept to a few millimetres; a ray clears a mark when it passes through
   the mark's hit and is not running along a line of marks: see
   :func:`~robo_orch.core.grid.mark_scan`),
2. flags the path *blocked* when a newly marked cell lies within the lethal
   margin of the path still ahead, or within its inflation margin and closer
   than anything the plan knew there (see
   :func:`~robo_orch.core.navtrack.marks_block_path`),
3. advances the target past path vertices the robot has left behind (the
   closest of the next few segments; never past a mission waypoint, which must
   be reached within the goal tolerance), and
4. flags a *deviation* when the robot is farther than ``deviation_distance``
   from the path ahead.

A flag, a ``REPLAN_REQUEST`` from another kernel (the recover behavior), or
the optional period starts a replan on a worker thread (:func:`plan_route`
releases the GIL) from a snapshot of the marks; the path is swapped into the
world at the start of a later tick, so a plan never delays a tick.  In
lockstep runs (``deterministic``) the hand-over happens exactly one tick after
the request, waiting for the worker if needed, so runs stay bit-identical.

The first plan is made at start-up (or on the first tick the behavior is
enabled on), synchronously: a goal that cannot be
reached on the map (or lies in an obstacle, or off the grid) sets
``NAV_STATUS`` at once and the controller ends the mission with the reason.
Later failures (the way blocked by obstacles seen on the way) keep the old
path and retry every ``replan_interval``; ``max_plan_failures`` in a row end
the mission.  A start pose in collision on the map is refused with a
:class:`~robo_orch.errors.ConfigError`.

The kernel proposes nothing (activation 0) except a stop once ``NAV_STATUS``
is set.  Diagnostics: ``out[2]`` path version, ``out[3]`` path vertex count.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from robo_orch.behavior import Behavior, BehaviorService
from robo_orch.core import navcost as nc
from robo_orch.core import pathplan as pp
from robo_orch.core import world as W
from robo_orch.core.grid import OccupancyGrid
from robo_orch.core.navtrack import (
    TR_NEXT_WP,
    TR_SCAN_T,
    TR_START_X,
    TR_START_Y,
    TRACK_LEN,
    nav_update,
)
from robo_orch.errors import ConfigError
from robo_orch.footprint import footprint_spread
from robo_orch.schema import check_order, option


@dataclass(frozen=True)
class Params:
    """Tunables of :class:`PlanPath`."""

    resolution: float = option(0.1, gt=0, le=5, doc="planning grid cell size, m")
    lethal_margin: float = option(0.03, ge=0, le=5,
                                  doc="cells whose centre is closer than the robot radius plus "
                                      "this to an obstacle are blocked, m")
    inflation_margin: float = option(0.1, ge=0, le=5,
                                     doc="cells closer than the robot radius plus this are "
                                         "passed only where there is no other way (a narrow "
                                         "door), m")
    margin_penalty: float = option(4.0, ge=0, le=1000,
                                   doc="extra cost factor within the inflation margin, rising "
                                       "linearly from 0 at its edge to this at the lethal one")
    cost_range: float = option(0.15, gt=0, le=20,
                               doc="cells this close to the inflation margin cost more, m")
    cost_weight: float = option(1.0, ge=0, le=1000,
                                doc="extra cost factor at the edge of the inflation margin, "
                                    "falling quadratically to 0 at cost_range")
    use_map: bool = option(True, doc="put the world's walls, circles and polygons into the "
                                     "grid; false: only the bounds, the rest is seen by the "
                                     "lidar")
    mark_obstacles: bool = option(True, doc="mark lidar points the map does not explain "
                                            "into the grid")
    mark_margin: float = option(0.05, ge=0, le=5,
                                doc="marked points count this much closer, m (a lidar sees a "
                                    "surface only at scattered hits: the gaps must not look "
                                    "like ways through)")
    explain_distance: float = option(0.15, ge=0, le=5,
                                     doc="a lidar point this close to a map obstacle is "
                                         "that obstacle, m")
    mark_range: float = option(6.0, gt=0, le=100, doc="lidar points farther away are not "
                                                       "marked, m")
    clear_gap: float = option(0.5, ge=0, le=5, doc="rays clear marks up to this short of "
                                                    "their hit, m")
    clear_radius: float = option(0.03, ge=0, le=5,
                                 doc="a ray clears a mark only if it passes this close to the "
                                     "mark's hit, m")
    replan_on_blocked: bool = option(True, doc="replan when a new mark blocks the path")
    replan_on_deviation: bool = option(True, doc="replan when the robot leaves the path")
    deviation_distance: float = option(1.0, gt=0, le=100,
                                       doc="the robot has left the path this far from it, m")
    replan_interval: float = option(1.0, ge=0, le=600,
                                    doc="at most one triggered replan per this time, s")
    replan_period: float = option(0.0, ge=0, le=600,
                                  doc="also replan this often; 0 = only when triggered, s")
    max_plan_failures: int = option(5, ge=1, le=1000,
                                    doc="failed replans in a row (the way blocked by obstacles "
                                        "seen on the way) that end the mission")
    pad: float = option(2.0, ge=0, le=100,
                        doc="worlds without bounds: grid margin around the obstacles, start "
                            "and waypoints, m")
    max_cells: int = option(4_000_000, ge=16, le=100_000_000,
                            doc="refuse planning grids with more cells")

    def validate(self, source: str, prefix: str) -> None:
        """Cross-field checks."""
        check_order(self, source, prefix, "lethal_margin", "inflation_margin")


@numba.njit(W.kernel_signature(), cache=True)
def step(world, idx, params, state, out):
    """Propose nothing, or a stop once navigation has failed (``NAV_STATUS`` set)."""
    ws = world[0]
    out[W.OUT_V] = 0.0
    out[W.OUT_W] = 0.0
    out[2] = ws[W.PATH_VERSION]
    out[3] = ws[W.PATH_COUNT]
    return 1.0 if ws[W.NAV_STATUS] != 0.0 else 0.0


def _worker_loop(owner_ref: weakref.ref, wake: threading.Event) -> None:
    """The worker thread: run the owner's plan each time it is woken; end once it is gone.

    It holds the service only weakly, so a finished mission's planner is freed
    and its thread ends within a second.
    """
    while True:
        woken = wake.wait(timeout=1.0)
        owner = owner_ref()
        if owner is None:
            return
        if woken:
            wake.clear()
            owner._work()
        del owner


_NAV_CODES = {pp.NO_PATH: W.NAV_GOAL_UNREACHABLE, pp.GOAL_BLOCKED: W.NAV_GOAL_BLOCKED,
              pp.START_BLOCKED: W.NAV_START_BLOCKED, pp.TOO_LONG: W.NAV_PATH_TOO_LONG,
              pp.GOAL_OUTSIDE: W.NAV_GOAL_OUTSIDE}


class PlanPathService(BehaviorService):
    """Grid, planning buffers, the worker thread and the hand-over of plan_path."""

    def __init__(self, params: Params, config: Any, world: W.World, *, name: str,
                 deterministic: bool, enabled: bool = True) -> None:
        self.p = params
        self.world = world
        self.deterministic = deterministic
        s = world.state
        self.radius = float(config.robot.radius)
        # a polygon footprint (Nav2's footprint-aware costmap, orientation unaware): lethal
        # within its inscribed radius (robot.radius), the high cost of the inflated zone
        # out to its circumscribed radius plus the inflation margin
        spread = footprint_spread(config.robot)
        self.cp = nc.cost_params(params.resolution, self.radius, params.lethal_margin,
                                 params.inflation_margin + spread, params.cost_weight,
                                 params.cost_range, params.margin_penalty, params.mark_margin)
        inflate = self.radius + params.inflation_margin + spread
        self.dmax = inflate + params.cost_range + params.resolution
        self.wps = np.ascontiguousarray(config.mission.waypoints, dtype=np.float64).reshape(-1, 2)
        start = (float(s[W.X]), float(s[W.Y]))
        self.grid = OccupancyGrid(config.world, resolution=params.resolution, dmax=self.dmax,
                                  use_map=params.use_map,
                                  extra_points=(start, *map(tuple, self.wps)), pad=params.pad,
                                  max_cells=params.max_cells, source=config.source,
                                  key=f"behaviors.{name}.resolution")
        clear = self.grid.clearance(*start)
        if clear < self.radius:
            raise ConfigError(config.source, "mission.start",
                              f"start ({start[0]:g}, {start[1]:g}) is in collision on the "
                              f"planning map (or off it): {clear:.3f} m from an obstacle, less "
                              f"than the robot radius {self.radius:g} m")
        g = self.grid
        self.bufs = pp.alloc_buffers(g.nx * g.ny)
        self._bufs = pp.route_buffers(self.bufs)
        self.d = np.empty_like(g.map_d)  # the worker's combined layer
        #: the combined layer (map and marks) the current path was planned on; it and
        #: ``d`` swap when a path is delivered, so the worker never writes this one
        self.d_plan = g.map_d.copy()
        self.marks_snap = np.zeros_like(g.marks)
        self.out_path = np.zeros_like(world.path)
        self.out_rows = np.zeros(len(self.wps), dtype=np.int64)
        self.wp_rows = np.arange(len(self.wps), dtype=np.int64)  # the path is the waypoints
        self.track = np.zeros(TRACK_LEN, dtype=np.float64)
        self.track[TR_SCAN_T] = s[W.SCAN_T]
        self.new_cells = np.zeros(world.scan.shape[0], dtype=np.int64)
        p = params
        self._nav_scalars = (inflate, self.radius + p.lethal_margin, p.mark_margin,
                             float(p.mark_obstacles), p.explain_distance, p.mark_range,
                             p.clear_gap, p.clear_radius, float(p.replan_on_blocked),
                             p.deviation_distance if p.replan_on_deviation else 0.0)
        #: plans made, and failed replans in a row
        self.plans = 0
        self.failures = 0
        # the worker thread waits on _wake; _done / _finished say its plan is ready
        self._busy = False
        self._done = False
        self._error: Exception | None = None
        self._wake = threading.Event()
        self._finished = threading.Event()
        self._status = pp.OK
        self._req = (0, 0.0, 0.0, 0)  # tick, start x, start y, first waypoint
        self._last_t = -math.inf
        self._pending = False
        #: replan triggers seen, by nav_update flags (BLOCKED 1, DEVIATED 2, both 3)
        self.triggers: dict[int, int] = {}
        self._planned = False
        if enabled:  # else on the first tick it is enabled on
            self._first_plan()
        threading.Thread(target=_worker_loop, args=(weakref.ref(self), self._wake),
                         name="plan_path", daemon=True).start()

    def _first_plan(self) -> None:
        self._planned = True
        self._request(0, sync=True)
        self._last_t = -math.inf  # the first triggered replan need not wait

    # --- per tick -------------------------------------------------------------------
    def service(self, tick: int) -> None:
        """Hand a finished plan over, update marks and progress, start a replan if due."""
        s = self.world.state
        if not self._planned:
            self._first_plan()
        if s[W.NAV_STATUS] != 0.0 or s[W.GOAL_REACHED] != 0.0:
            return
        if self._busy:
            if self.deterministic:
                if tick > self._req[0]:
                    self._finished.wait()
                    self._deliver()
            elif self._done:
                self._deliver()
        g = self.grid
        flags = nav_update(s, self.world.path, self.world.scan, g.map_d, g.marks, self.d_plan,
                           g.x0, g.y0, g.res, *self._nav_scalars, self.track, self.new_cells,
                           g.mark_stats, self.wp_rows)
        if flags:
            self._pending = True  # kept until a replan starts, which may have to wait
            self.triggers[flags] = self.triggers.get(flags, 0) + 1
        if self._busy or s[W.NAV_STATUS] != 0.0:
            return
        since = s[W.T] - self._last_t
        period = self.p.replan_period
        if (s[W.REPLAN_REQUEST] != 0.0 or (self._pending and since >= self.p.replan_interval)
                or (period > 0 and since >= period)):
            s[W.REPLAN_REQUEST] = 0.0
            self._request(tick)

    # --- planning -----------------------------------------------------------------------
    def _request(self, tick: int, *, sync: bool = False) -> None:
        s = self.world.state
        np.copyto(self.marks_snap, self.grid.marks)
        self._req = (tick, float(s[W.X]), float(s[W.Y]), int(self.track[TR_NEXT_WP]))
        self._last_t = s[W.T]
        self._pending = False
        self._done = False
        self._finished.clear()
        if sync:
            self._work()
            self._deliver(initial=True)
        else:
            self._busy = True
            self._wake.set()

    def _work(self) -> None:
        _, sx, sy, first = self._req
        g = self.grid
        try:
            self._status = pp.plan_route(g.map_d, self.marks_snap, self.d, g.x0, g.y0, self.cp,
                                         self.dmax, sx, sy, self.wps, first, *self._bufs,
                                         self.out_path, self.out_rows)
        except Exception as err:  # raised again on the loop's thread by _deliver
            self._error = err
        finally:
            self._done = True
            self._finished.set()

    def _deliver(self, *, initial: bool = False) -> None:
        self._busy = False
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        self.plans += 1
        s, status = self.world.state, int(self._status)
        _, sx, sy, first = self._req
        if status == pp.OK:
            if not initial and int(self.track[TR_NEXT_WP]) != first:
                self._pending = True  # a waypoint was reached meanwhile: plan again at once
                self._last_t = -math.inf
                return
            self.failures = 0
            n = int(self.bufs["meta"][pp.M_COUNT])
            self.world.path[:n] = self.out_path[:n]
            self.d, self.d_plan = self.d_plan, self.d
            s[W.PATH_COUNT] = n
            s[W.TARGET_INDEX] = 0
            s[W.TARGET_X], s[W.TARGET_Y] = self.out_path[0]
            s[W.PATH_VERSION] += 1.0
            self.wp_rows[:] = self.out_rows
            self.track[TR_START_X], self.track[TR_START_Y] = sx, sy
            return
        self.failures += 1
        self._pending = True
        if initial or self.failures >= self.p.max_plan_failures:
            s[W.NAV_STATUS] = _NAV_CODES.get(status, W.NAV_GOAL_UNREACHABLE)
            self.reason = self._explain(status, initial)

    def _explain(self, status: int, initial: bool) -> str:
        _, sx, sy, _ = self._req
        k = int(self.bufs["meta"][pp.M_LEG])
        gx, gy = self.wps[k] if 0 <= k < len(self.wps) else (math.nan, math.nan)
        where = f"waypoint {k} ({gx:g}, {gy:g})"
        seen = "" if initial else (f" (after {self.failures} attempts: obstacles seen on the "
                                   "way block it)")
        if status == pp.NO_PATH:
            return (f"{where} unreachable: no collision-free path from ({sx:.2f}, {sy:.2f})"
                    f"{' on the map' if initial else ''}{seen}")
        if status == pp.GOAL_BLOCKED:
            return f"{where} is inside an obstacle{seen}"
        if status == pp.GOAL_OUTSIDE:
            return f"{where} is outside the planning grid"
        if status == pp.TOO_LONG:
            return f"the path to {where} needs more than {len(self.out_path)} vertices"
        return f"the robot ({sx:.2f}, {sy:.2f}) is outside the planning grid"


class PlanPath(Behavior):
    """Global planner on an occupancy grid of the world; see the module docstring."""

    kind = "plan_path"
    Params = Params
    kernel = step
    reads = ("t", "x", "y", "goal_reached", "scan_t", "scan_count", "path_count",
             "target_index", "replan_request", "nav_status", "path_version", "scan", "path")
    writes = ("path", "path_count", "target_index", "target_x", "target_y", "path_version",
              "nav_status", "replan_request")
    #: recover writes both too: each only sets them from 0 (this service clears the request)
    merge = {"nav_status": "latch", "replan_request": "latch"}
    state_size = 1
    blendable = False
    reset_on_new_path = False

    @classmethod
    def make_service(cls, params: Any, config: Any, world: W.World, *,
                     deterministic: bool = False) -> PlanPathService:
        """The grid, the first plan and the replanning machinery."""
        spec = next((b for b in config.behaviors if b.params is params), None)
        return PlanPathService(params, config, world, name=spec.name if spec else cls.kind,
                               deterministic=deterministic, enabled=spec.enabled if spec else True)
