"""The ``[world]`` section: bounds, obstacles, their random placement, and clearance.

:meth:`WorldConfig.resolve` places the random obstacles for a seed;
:func:`world_clearance` is the plain-Python distance from a point to the nearest
obstacle surface that config validation uses (the simulator has the compiled one).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from robo_orch.errors import ConfigError
from robo_orch.planar import point_in_polygon, segment_distance, wall_shapes
from robo_orch.schema import option

Point = tuple[float, float]


@dataclass(frozen=True)
class Circle:
    """A round obstacle."""

    center: Point = option(doc="centre (x, y), m")
    radius: float = option(gt=0, doc="radius, m")


@dataclass(frozen=True)
class Wall:
    """A straight wall: a segment, ``world.wall_thickness`` thick with round ends."""

    start: Point = option(doc="(x, y), m")
    end: Point = option(doc="(x, y), m")


@dataclass(frozen=True)
class Polygon:
    """A closed polygonal obstacle."""

    points: tuple[Point, ...] = option(doc="vertices [[x, y], ...] in order, m")

    def validate(self, source: str, prefix: str) -> None:
        if len(self.points) < 3:
            raise ConfigError(source, f"{prefix}.points", "a polygon needs at least 3 points")


@dataclass(frozen=True)
class MovingCircle:
    """A round obstacle moving at constant speed along a path (simulation only)."""

    radius: float = option(gt=0, doc="radius, m")
    path: tuple[Point, ...] = option(doc="[[x, y], ...], at least 2 points; the obstacle "
                                         "starts at the first")
    speed: float = option(gt=0, le=100, doc="speed along the path, m/s")
    mode: str = option("bounce", choices=("bounce", "loop", "once"),
                       doc="at the path end: 'bounce' back, 'loop' to the first point, or "
                           "stop there ('once')")
    delay_s: float = option(0.0, ge=0, le=86_400, doc="wait this long at the first point, s")

    def validate(self, source: str, prefix: str) -> None:
        if len(self.path) < 2:
            raise ConfigError(source, f"{prefix}.path", "a path needs at least 2 points")
        if not all(math.isfinite(v) for p in self.path for v in p):
            raise ConfigError(source, f"{prefix}.path", "points must be finite")
        if path_length(self.path) <= 0.0:
            raise ConfigError(source, f"{prefix}.path", "the path has zero length")


@dataclass(frozen=True)
class RandomObstacles:
    """Round obstacles placed at random, the layout fixed by ``sim.seed``.

    Every obstacle keeps ``min_gap`` of free space to every other surface, so with
    ``min_gap`` above the robot's diameter every layout leaves a way through.
    """

    count: int = option(0, ge=0, le=1000, doc="obstacles to place (fewer when they do not "
                                               "fit); 0 = none")
    region: tuple[float, ...] = option((), doc="[xmin, ymin, xmax, ymax] the obstacles lie "
                                               "in; empty = the bounds")
    radius: tuple[float, float] = option((0.3, 0.5), doc="[min, max] radius, m")
    min_gap: float = option(0.6, ge=0, doc="free space kept between an obstacle and any "
                                           "other surface, m")
    keep_clear: tuple[Point, ...] = option((), doc="points kept free of obstacles (the "
                                                   "goal, say); the start always is")
    clear_radius: float = option(1.0, ge=0, doc="free radius around the start and each "
                                                "keep_clear point, m")

    def validate(self, source: str, prefix: str) -> None:
        lo, hi = self.radius
        if not 0 < lo <= hi:
            raise ConfigError(source, f"{prefix}.radius", "need 0 < min <= max")
        if self.region and (len(self.region) != 4 or not (
                self.region[0] < self.region[2] and self.region[1] < self.region[3])):
            raise ConfigError(source, f"{prefix}.region", "expected [xmin, ymin, xmax, ymax] "
                              "with xmin < xmax and ymin < ymax")


@dataclass(frozen=True)
class WorldConfig:
    """The simulated world: an optional bounding box and obstacles."""

    bounds: tuple[float, ...] = option((), doc="[xmin, ymin, xmax, ymax]: walls around the "
                                               "world; empty = no outer walls")
    walls: tuple[Wall, ...] = option((), doc="wall segments")
    wall_thickness: float = option(0.1, ge=0.0, le=2.0,
                                   doc="thickness of every wall, m: a wall is a capsule "
                                       "around its segment (round ends), so the lidar sees a "
                                       "wall end-on; 0 = zero-thickness walls (invisible "
                                       "end-on)")
    circles: tuple[Circle, ...] = option((), doc="round obstacles")
    polygons: tuple[Polygon, ...] = option((), doc="polygonal obstacles")
    moving: tuple[MovingCircle, ...] = option((), doc="moving round obstacles (simulation "
                                                      "only; not part of any map)")
    random: RandomObstacles = option(RandomObstacles(), doc="round obstacles placed from "
                                                            "the seed")

    def validate(self, source: str, prefix: str) -> None:
        if self.bounds:
            if len(self.bounds) != 4:
                raise ConfigError(source, f"{prefix}.bounds", "expected [xmin, ymin, xmax, ymax]")
            xmin, ymin, xmax, ymax = self.bounds
            if not (xmin < xmax and ymin < ymax):
                raise ConfigError(source, f"{prefix}.bounds", "need xmin < xmax and ymin < ymax")
        if self.random.count and not (self.random.region or self.bounds):
            raise ConfigError(source, f"{prefix}.random.region", "random obstacles need a "
                              "region (or world bounds)")

    def resolve(self, seed: int, start: Point) -> WorldConfig:
        """This world with its random obstacles placed for ``seed``: plain circles only.

        The same (world, seed, start) always gives the same layout.  The simulator
        calls this with ``sim.seed`` and ``mission.start``; anything that needs the
        simulated obstacles (a map, a plot) must do the same.
        """
        if self.random.count == 0:
            return self
        placed = _place_random(self, int(seed), (float(start[0]), float(start[1])))
        return dataclasses.replace(self, circles=self.circles + placed,
                                   random=RandomObstacles())


def path_length(points: tuple[Point, ...]) -> float:
    """Length of a polyline, m."""
    return sum(math.dist(a, b) for a, b in zip(points, points[1:], strict=False))


def _place_random(world: WorldConfig, seed: int, start: Point) -> tuple[Circle, ...]:
    """Rejection sampling of the random obstacles (see :class:`RandomObstacles`)."""
    import numpy as np

    spec = world.random
    static = dataclasses.replace(world, random=RandomObstacles(), moving=())
    x0, y0, x1, y1 = spec.region or world.bounds
    keep = [start, *spec.keep_clear]
    # a moving obstacle's path is a surface too: keep the gap to its swept band
    sweeps = []
    for m in world.moving:
        pts = m.path + (m.path[:1] if m.mode == "loop" else ())
        sweeps += [(a, b, m.radius) for a, b in zip(pts, pts[1:], strict=False)]
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x6F62])))
    placed: list[Circle] = []
    gap = spec.min_gap
    for _ in range(spec.count * 200):
        if len(placed) == spec.count:
            break
        r = float(rng.uniform(spec.radius[0], spec.radius[1]))
        if x1 - x0 <= 2 * r or y1 - y0 <= 2 * r:
            continue
        cx = float(rng.uniform(x0 + r, x1 - r))
        cy = float(rng.uniform(y0 + r, y1 - r))
        if any(math.dist((cx, cy), k) < spec.clear_radius + r for k in keep):
            continue
        if world_clearance(static, cx, cy) < r + gap:
            continue
        if any(math.dist((cx, cy), c.center) < r + c.radius + gap for c in placed):
            continue
        if any(segment_distance(cx, cy, *a, *b) < r + rm + gap for a, b, rm in sweeps):
            continue
        placed.append(Circle(center=(cx, cy), radius=r))
    return tuple(placed)


def world_clearance(world: WorldConfig, x: float, y: float) -> float:
    """Distance from a point to the nearest obstacle surface of the configured world.

    A plain-Python check for validation; the simulator has the compiled version.
    """
    best = math.inf
    segments = []
    if world.bounds:
        x0, y0, x1, y1 = world.bounds
        corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        segments += list(zip(corners, corners[1:] + corners[:1], strict=True))
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            return 0.0
    wall_segments, caps = wall_shapes(world.walls, world.wall_thickness)
    segments += [((x1, y1), (x2, y2)) for x1, y1, x2, y2 in wall_segments]
    for poly in world.polygons:
        pts = list(poly.points)
        if point_in_polygon(x, y, pts):
            return 0.0
        segments += list(zip(pts, pts[1:] + pts[:1], strict=True))
    for (ax, ay), (bx, by) in segments:
        best = min(best, segment_distance(x, y, ax, ay, bx, by))
    for cx, cy, r in [*((*c.center, c.radius) for c in world.circles), *caps]:
        best = min(best, max(0.0, math.hypot(x - cx, y - cy) - r))
    return best
