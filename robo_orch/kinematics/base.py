"""The kinematics seam: one class per kind of base, registered by name.

``robot.kinematics`` names the base (``diff_drive``, ``skid_steer``, ``holonomic``,
an entry point of the ``robo_orch.kinematics`` group or ``module:Class``);
:func:`kinematics_for` loads it through :mod:`robo_orch.registry`.  One
:class:`Kinematics` serves every part of robo_orch that depends on how the base
moves:

* **the simulator**: :attr:`Kinematics.simulator` names the simulator class
  (``"module:Class"``, loaded by :func:`robo_orch.sim.simulator.make_simulator`),
  which owns the physics step and publishes :attr:`Kinematics.odometry_type`;
* **the estimator**: the ``odom`` input runs through the input adapter
  :attr:`Kinematics.odometry_adapter` (unless the config names another), which turns
  :attr:`Kinematics.odometry_type` into the velocity the EKF fuses; wheel odometry is
  turned into a yaw rate with :attr:`Kinematics.track` (a skid-steer base's effective
  track); a base with :attr:`Kinematics.lateral` also estimates
  the lateral speed (``robo_orch.core.lateral``, world slot ``VY``);
* **arbitration and the behaviors**: the world slot ``BASE_KIND`` holds
  :attr:`Kinematics.base_kind`, so one compiled kernel serves every base (a
  holonomic base's kernels may propose ``out[OUT_VY]``);
* **the safety kernel and its limits**: :meth:`Kinematics.pack_limits` and
  :meth:`Kinematics.safety_kernel`; a base with ``lateral`` gets the kernel with
  the lateral component ``(state, scan, limits, pvx, pvy, pw, mem, cmd)``, the
  others ``(state, scan, limits, pv, pw, mem, cmd)``;
* **the command message**: :attr:`Kinematics.command_type`, whose float64 fields
  are the safety kernel's ``cmd`` in order.

Compiled parts stay in ``robo_orch.core`` (numba only) and ``robo_orch.sim``; this
package is plain Python glue above them.

**A car-like (Ackermann) base, later**, is three additions and nothing more:

1. a kinematics: a subclass of :class:`Kinematics` (``base_kind`` a new
   ``BASE_*`` code, ``command_type`` e.g. ``(v, steering angle)`` or ``(v, w)``
   with ``|w| <= v tan(max_steer) / wheelbase``, ``track`` for the rear wheels'
   odometry, ``pack_limits`` / ``safety_kernel`` with the curvature limit, and
   ``simulator`` naming a bicycle-model simulator class), registered under a name;
2. a footprint for its rectangle (safety, the DWA and the simulator's contact test);
3. a planner: a behavior that proposes only feasible curvatures (e.g. a
   Reeds-Shepp or lattice planner), named in ``[behaviors]``.

The loop, the bus, the arbitration and the config loader need no change.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from robo_orch import registry
from robo_orch.core import safety_steps  # (not core.safety: its import compiles a kernel)

if TYPE_CHECKING:
    from robo_orch.config.sections import RobotConfig, SafetyConfig


class Kinematics(abc.ABC):
    """How one kind of base moves, is commanded, estimated and kept safe."""

    #: registry name (the word ``robot.kinematics`` holds)
    kind: ClassVar[str]
    #: kinematics are configured by the ``[robot]`` section, not a table of their own
    Params: ClassVar[None] = None
    #: the world's ``BASE_KIND`` code (``robo_orch.core.world.BASE_*``)
    base_kind: ClassVar[int]
    #: message type of the command the loop publishes (float64 fields = ``cmd`` in order)
    command_type: ClassVar[str] = "velocity_command"
    #: message type of the odometry the ``odom`` input carries
    odometry_type: ClassVar[str] = "wheel_odometry"
    #: input adapter of the ``odom`` input (``fuses = "velocity"``, consumes
    #: :attr:`odometry_type`; built with ``track`` when its parameters have one)
    odometry_adapter: ClassVar[str] = "wheel_speeds"
    #: True: proposals, commands and the estimate have a lateral speed (vy)
    lateral: ClassVar[bool] = False
    #: "module:Class" of the simulator of this base (built by ``make_simulator``)
    simulator: ClassVar[str] = "robo_orch.sim.simulator:Simulator"
    #: the emulated serial devices (``--devices serial``) can stand in for this base
    serial_devices: ClassVar[bool] = True

    def __init__(self, robot: RobotConfig) -> None:
        self.robot = robot

    @property
    @abc.abstractmethod
    def track(self) -> float:
        """Wheel base of the (v, w) <-> wheel speed conversions, m."""

    @abc.abstractmethod
    def pack_limits(self, safety: SafetyConfig) -> np.ndarray:
        """The ``limits`` array of :meth:`safety_kernel`."""

    @abc.abstractmethod
    def safety_kernel(self) -> Any:
        """The compiled safety kernel (see the module docstring for its two signatures)."""

    def mem_size(self, max_scan: int) -> int:
        """Length of the safety kernel's ``mem`` with room for ``max_scan`` points (and
        the scratch of a footprint of several circles)."""
        return safety_steps.mem_size(max_scan) + self.footprint_scratch(max_scan)

    def footprint_scratch(self, max_scan: int) -> int:
        """Extra ``mem`` a polygon footprint's check needs (3 per point; 0 for a circle)."""
        return 3 * max_scan if getattr(self.robot, "footprint", ()) else 0

    def with_footprint(self, limits: np.ndarray) -> np.ndarray:
        """``limits`` with the footprint's circles appended (a circle: unchanged)."""
        circles = getattr(self.robot, "circles", None)
        if circles is None or not getattr(self.robot, "footprint", ()):
            return limits
        from robo_orch.core.footprint_stop import footprint_limits_polygon

        return footprint_limits_polygon(limits, circles()[0], self.robot.footprint)

    @property
    def command_len(self) -> int:
        """Components of the command: 2 (v, w) or 3 (vx, vy, w)."""
        return 3 if self.lateral else 2


def kinematics_for(robot: RobotConfig) -> Kinematics:
    """The :class:`Kinematics` named by ``robot.kinematics``, built for ``robot``."""
    cls = registry.load(registry.KINEMATICS, robot.kinematics)
    return cls(robot)
