"""One simulated ``joints`` command space on the bus: a device that takes
``joint_command`` and reports ``joint_state``.

:class:`JointsNode` owns a :class:`~robo_orch.sim.joints.JointsModel` for one
``[commands.NAME]`` space of kind ``joints``.  Each step it applies the newest
command (one with another joint count or mode is refused and counted), advances
the model and publishes the measured joints on the space's ``state_topic``,
stamped with the simulator's time.  The actuator side repeats two stops: the
deadman (a command older than ``safety.deadman_s`` is replaced by a hold:
velocity zero, position where the joints are) and the simulator's e-stop latch
(engaged: the same hold, and commands are dropped until it is released; after a
release the joints hold until a new command arrives).

The device's hard stops are the configured range widened by
:data:`HARD_STOP_MARGIN_S` x ``max_velocity`` (room for its lag; the safety kernel
keeps the command inside the configured range), and its own speed limit is
:data:`DEVICE_SPEED_FACTOR` x ``max_velocity``.
"""

from __future__ import annotations

import numpy as np

from robo_orch.bus import Bus, QoS
from robo_orch.messages import JOINT_COMMAND, JOINT_STATE, new_fixed, new_var
from robo_orch.sim.joints import H_LEN, H_MAX, H_MAX_VEL, H_MIN, JointsModel

HARD_STOP_MARGIN_S = 0.1  #: hard stops this many seconds of max_velocity beyond the range
DEVICE_SPEED_FACTOR = 1.25  #: the device's own speed limit over the configured one
DEFAULT_TAU = 0.02  #: velocity lag of the simulated joints, s
DEFAULT_GAIN = 10.0  #: position loop gain, 1/s (critically damped with tau at 1/(4 tau))


def hard_limits(space) -> np.ndarray:
    """The device's ``hard`` array (stops and speed limit) for a joints space's config."""
    hard = np.zeros((len(space.joints), H_LEN))
    for i, j in enumerate(space.joints):
        margin = HARD_STOP_MARGIN_S * j.max_velocity
        hard[i, H_MIN] = j.min - margin
        hard[i, H_MAX] = j.max + margin
        hard[i, H_MAX_VEL] = DEVICE_SPEED_FACTOR * j.max_velocity
    return hard


class JointsNode:
    """A simulated joints device on the bus (see the module docstring)."""

    def __init__(self, name: str, space, bus: Bus, *, seed: int = 0, deadman_s: float = 0.5,
                 hwm: int | None = None, tau: float = DEFAULT_TAU, gain: float = DEFAULT_GAIN,
                 noise_std: float = 0.0, start: np.ndarray | None = None) -> None:
        self.name = name
        self.space = space
        self.n = len(space.joints)
        self.mode = space.mode_number
        if start is None:  # zero, or the end of the range nearest to it
            start = np.clip(0.0, [j.min for j in space.joints], [j.max for j in space.joints])
        self.model = JointsModel(hard_limits(space), tau=tau, gain=gain, noise_std=noise_std,
                                 seed=seed, start=start)
        self.deadman_ns = round(deadman_s * 1e9)
        self.cmd_sub = bus.subscribe(space.topic, JOINT_COMMAND, QoS.latest(), hwm=hwm)
        self.state_pub = bus.publisher(space.state_topic, JOINT_STATE, frame_id=name[:16],
                                       hwm=hwm)
        self._cmd_pos = self.model.pos.copy()  # hold where it starts until commanded
        self._cmd_vel = np.zeros(self.n)
        self._cmd_ns: int | None = None
        self._state = new_fixed(JOINT_STATE)
        self._joints = new_var(JOINT_STATE, self.n)
        self._meas_pos = np.zeros(self.n)
        self._meas_vel = np.zeros(self.n)
        self.refused = 0  #: commands refused (joint count or mode differ from the config)
        self.deadman_stops = 0  #: times the deadman replaced a command by a hold
        self._estopped = False

    def receive(self, now_ns: int, *, estop: bool = False) -> None:
        """Take the newest command; hold if the last one is older than the deadman, or
        while ``estop`` (the simulator's latch) is engaged."""
        if estop:
            if self.cmd_sub.poll():
                self.cmd_sub.latest()  # dropped: a command sent while e-stopped never runs
            if not self._estopped:
                self._estopped = True
                self._hold()
            return
        self._estopped = False
        if self.cmd_sub.poll():
            msg = self.cmd_sub.latest()
            if msg is not None:
                if msg.header.count != self.n or int(msg.fixed["mode"]) != self.mode:
                    self.refused += 1
                else:
                    np.copyto(self._cmd_pos, msg.var["position"])
                    np.copyto(self._cmd_vel, msg.var["velocity"])
                    self._cmd_ns = now_ns
        if self._cmd_ns is not None and now_ns - self._cmd_ns > self.deadman_ns:
            self._hold()
            self.deadman_stops += 1

    def _hold(self) -> None:
        self._cmd_ns = None
        self._cmd_vel[:] = 0.0
        np.copyto(self._cmd_pos, self.model.pos)

    def step(self, dt_s: float, now_ns: int, *, estop: bool = False) -> None:
        """Receive, advance the joints by ``dt_s`` and publish their state."""
        self.receive(now_ns, estop=estop)
        self.model.step(self._cmd_pos, self._cmd_vel, self.mode, dt_s)
        self.publish(now_ns)

    def publish(self, now_ns: int) -> None:
        """Publish the measured joints (``joint_state``)."""
        self.model.measure(self._meas_pos, self._meas_vel)
        self._joints["position"] = self._meas_pos
        self._joints["velocity"] = self._meas_vel
        self.state_pub.publish(self._state, self._joints, stamp_ns=now_ns)


def joints_nodes(config, bus: Bus, seed: int) -> list[JointsNode]:
    """A :class:`JointsNode` for each ``joints`` command space of ``config``."""
    nodes = []
    for i, (name, space) in enumerate(config.commands.items()):
        if space.kind == "joints":
            nodes.append(JointsNode(name, space, bus, seed=seed + 1000 * (i + 1),
                                    deadman_s=config.safety.deadman_s, hwm=config.bus.hwm))
    return nodes
