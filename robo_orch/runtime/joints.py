"""One ``joints`` command space at run time: its arrays, its state input, its safety
kernel and its command output.

:class:`JointSpace` owns everything one ``[commands.NAME]`` space of kind
``joints`` needs each tick, allocated once:

* :meth:`sense` takes the newest ``joint_state`` from the space's ``state_topic``
  into ``measured_pos`` / ``measured_vel`` (a message with another joint count is
  refused and counted in ``refused``);
* the caller writes the tick's proposal into ``proposal`` (targets in position
  mode, velocities in velocity mode; :meth:`hold` proposes standing still);
* :meth:`act` runs :func:`~robo_orch.core.safety_joints.safety_joints` on it
  (stale when no state arrived within ``max_age_s``) and publishes the result as
  ``joint_command`` on the space's ``topic``, with the kernel's flags.

Until the first ``joint_state`` arrives the space publishes nothing (it does not
know where the joints are, so any position command could move them); the device's
own deadman holds them.  The first state starts the command there, at rest.
"""

from __future__ import annotations

import numpy as np

from robo_orch.bus import Bus, QoS
from robo_orch.core.direct import direct, require_contiguous
from robo_orch.core.safety_joints import (
    FLAG_NAMES,
    MODE_POSITION,
    STALE_STOP,
    pack_joint_limits,
    safety_joints,
)
from robo_orch.core.safety_steps import tally_flags
from robo_orch.messages import JOINT_COMMAND, JOINT_STATE, new_fixed, new_var

# past the dispatcher (robo_orch.core.direct): every array is the JointSpace's own
_safety_joints = direct(safety_joints)
_tally_flags = direct(tally_flags)


class JointSpace:
    """A joints command space on the bus (see the module docstring).

    ``space`` is its config (:class:`robo_orch.config.commands.JointSpaceConfig`),
    ``dt`` the loop period, s.
    """

    def __init__(self, name: str, space, bus: Bus, *, dt: float,
                 hwm: int | None = None) -> None:
        self.name = name
        self.space = space
        self.n = len(space.joints)
        self.mode = space.mode_number
        self.dt = float(dt)
        self.max_age_ns = round(space.max_age_s * 1e9)
        self.limits = pack_joint_limits(space.joints)
        self.measured_pos = np.zeros(self.n)
        self.measured_vel = np.zeros(self.n)
        #: the last command sent (and the kernel's memory: where the next one continues)
        self.cmd_pos = np.zeros(self.n)
        self.cmd_vel = np.zeros(self.n)
        #: the tick's proposal, written by the caller before :meth:`act`
        self.proposal = np.zeros(self.n)
        #: safety flag counts, by bit (``FLAG_NAMES``)
        self.flag_counts = np.zeros(len(FLAG_NAMES), dtype=np.int64)
        self.refused = 0  #: joint_state messages with another joint count
        self.started = False  #: a joint_state has arrived; commands are being sent
        self._state_ns: int | None = None
        self.state_sub = bus.subscribe(space.state_topic, JOINT_STATE, QoS.latest(), hwm=hwm)
        self.pub = bus.publisher(space.topic, JOINT_COMMAND, frame_id=name[:16], hwm=hwm)
        self._fixed = new_fixed(JOINT_COMMAND)
        self._fixed["mode"] = self.mode
        self._var = new_var(JOINT_COMMAND, self.n)
        require_contiguous(limits=(self.limits, 2), measured_pos=(self.measured_pos, 1),
                           cmd_pos=(self.cmd_pos, 1), cmd_vel=(self.cmd_vel, 1),
                           proposal=(self.proposal, 1), flag_counts=(self.flag_counts, 1))
        self.hold()

    @property
    def joint_names(self) -> tuple[str, ...]:
        """The joints' names, in array and message order."""
        return tuple(j.name for j in self.space.joints)

    def hold(self) -> None:
        """Propose standing still: the last commanded positions, or zero velocity."""
        if self.mode == MODE_POSITION:
            np.copyto(self.proposal, self.cmd_pos)
        else:
            self.proposal[:] = 0.0

    def sense(self, now_ns: int) -> bool:
        """Take the newest joint_state (True if one came)."""
        if not self.state_sub.poll():
            return False
        msg = self.state_sub.latest()
        if msg is None:
            return False
        if msg.header.count != self.n:
            self.refused += 1
            return False
        np.copyto(self.measured_pos, msg.var["position"])
        np.copyto(self.measured_vel, msg.var["velocity"])
        self._state_ns = msg.recv_ns
        if not self.started:
            self.started = True
            np.copyto(self.cmd_pos, np.clip(self.measured_pos, self.limits[:, 0],
                                            self.limits[:, 1]))
            self.cmd_vel[:] = 0.0
            self.hold()
        return True

    def stale(self, now_ns: int) -> bool:
        """No joint_state yet, or the newest is older than ``max_age_s``."""
        return self._state_ns is None or now_ns - self._state_ns > self.max_age_ns

    def act(self, now_ns: int, *, estop: bool = False, stale: bool = False) -> int:
        """Run the safety kernel on ``proposal`` and publish the command; its flags.

        ``stale``: another input the proposal depends on is stale (the loop's required
        inputs): a controlled stop, as when the joint_state itself is stale.
        Before the first joint_state: nothing is published, and the flags are
        :data:`~robo_orch.core.safety_joints.STALE_STOP`.
        """
        if not self.started:
            _tally_flags(STALE_STOP, self.flag_counts)
            return STALE_STOP
        flags = _safety_joints(self.limits, self.measured_pos, self.cmd_pos, self.cmd_vel,
                              self.proposal, self.mode, 1.0 if estop else 0.0,
                              1.0 if stale or self.stale(now_ns) else 0.0, self.dt, self.cmd_pos,
                              self.cmd_vel)
        _tally_flags(flags, self.flag_counts)
        self._fixed["flags"] = flags
        self._var["position"] = self.cmd_pos
        self._var["velocity"] = self.cmd_vel
        self.pub.publish(self._fixed, self._var, stamp_ns=now_ns)
        return flags

    def counters(self) -> dict:
        """Commands sent, refused states, and the ticks per safety flag (JSON-ready)."""
        return {"started": self.started, "sent": int(self.pub.sent), "refused": self.refused,
                "flag_ticks": {name: int(n) for name, n in zip(FLAG_NAMES, self.flag_counts,
                                                               strict=True)}}

    def tick(self, now_ns: int, *, estop: bool = False) -> int:
        """:meth:`sense` then :meth:`act`: one tick of the space; its flags."""
        self.sense(now_ns)
        return self.act(now_ns, estop=estop)


def joint_spaces(config, bus: Bus) -> dict[str, JointSpace]:
    """A :class:`JointSpace` for each ``joints`` command space of ``config``."""
    dt = 1.0 / config.loop.rate_hz
    return {name: JointSpace(name, space, bus, dt=dt, hwm=config.bus.hwm)
            for name, space in config.joint_spaces.items()}
