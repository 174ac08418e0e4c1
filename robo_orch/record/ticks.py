"""Per-tick records the loop publishes while it is recorded: what each tick used and did.

Two message types travel on the bus like any other, so a recorder in another
thread or process (and later a live view) sees them:

* ``loop_tick`` on ``loop/tick``: the tick index and time, the estimated pose, the
  arbitrated and the safe command, safety flags, the winner, loop timing, and as
  its variable part one :data:`CONSUMED` entry per input message the tick used
  (role, publisher, incarnation, sequence number): what a re-run feeds it;
* ``behavior_tick`` on ``loop/behaviors``: per behavior, in planner order, its
  activation, its proposal and whether it ran this tick.

:class:`TickTap` fills and publishes both from :attr:`Controller.tap`, right after
the command went out.  It costs two encodes and two sends per tick and nothing
when recording is off (the controller's ``tap`` is None).
"""

from __future__ import annotations

import numpy as np

from robo_orch.core import world as W
from robo_orch.messages import MessageType, message_type, new_fixed, new_var, register

TICK_TOPIC = "loop/tick"
BEHAVIOR_TOPIC = "loop/behaviors"
#: roles whose consumed messages a tick record lists, by index; the e-stop is last
ROLES = ("odom", "imu", "scan", "gps", "estop")
ROLE_INDEX = {role: i for i, role in enumerate(ROLES)}

#: one input message a tick consumed
CONSUMED = np.dtype([("role", "<u2"), ("pad", "<u2"), ("publisher_id", "<u4"),
                     ("incarnation", "<u4"), ("pad2", "<u4"), ("seq", "<u8")])

LOOP_TICK = register(MessageType("loop_tick", 64, [
    ("tick", "<i8"), ("now_ns", "<i8"), ("t", "<f8"),
    ("x", "<f8"), ("y", "<f8"), ("yaw", "<f8"), ("v", "<f8"), ("w", "<f8"),
    ("cmd_v", "<f8"), ("cmd_w", "<f8"), ("arb_v", "<f8"), ("arb_w", "<f8"),
    ("cmd_seq", "<u8"), ("input_stamp_ns", "<i8"),
    ("flags", "<u4"), ("winner", "<i4"), ("target_index", "<i4"),
    ("goal_reached", "u1"), ("stale", "u1"), ("estop", "u1"), ("pad", "u1"),
    # timing: lateness of this tick; phases of the previous tick (this one is still running)
    ("lateness_ns", "<i8"), ("prev_backend_ns", "<i8"), ("prev_sense_ns", "<i8"),
    ("prev_plan_ns", "<i8"), ("prev_act_ns", "<i8"), ("overruns", "<u8"),
], CONSUMED))

BEHAVIOR_TICK = register(MessageType("behavior_tick", 65, [("tick", "<i8"), ("now_ns", "<i8")], [
    ("activation", "<f8"), ("proposal", "<f8", (W.OUT_LEN,)), ("ran", "u1"), ("enabled", "u1"),
    ("pad", "u1", (6,)),
]))


class TickTap:
    """Publishes a ``loop_tick`` and a ``behavior_tick`` record after each tick's command.

    Install with :meth:`attach`; the controller calls the tap from ``act``, and
    :meth:`before_tick` from ``pre_tick`` (timed as the backend phase, not as the
    tick).  Optional ``after`` runs at the end of each call (a recorder's wake-up),
    optional ``before`` at each tick's start (a recorder's back-pressure in lockstep).
    """

    def __init__(self, controller, after=None, before=None) -> None:
        bus = controller.bus
        self.tick_pub = bus.publisher(TICK_TOPIC, LOOP_TICK, frame_id="world")
        self.behavior_pub = bus.publisher(BEHAVIOR_TOPIC, BEHAVIOR_TICK)
        self.consumed: list = []
        self.after = after
        self.before = before
        self._tick = new_fixed(LOOP_TICK)
        self._entries = new_var(LOOP_TICK, 256)
        self._beh = new_fixed(BEHAVIOR_TICK)
        self._beh_rows = new_var(BEHAVIOR_TICK, len(controller.planner.names))

    def attach(self, controller) -> TickTap:
        """Make ``controller`` call this tap and log what its sense phase consumes."""
        controller.sensing.consumed = self.consumed
        controller.tap = self
        return self

    @staticmethod
    def detach(controller) -> None:
        """Stop tapping ``controller``."""
        controller.tap = None
        controller.sensing.consumed = None

    def before_tick(self) -> None:
        """Called by the controller at the start of each tick."""
        if self.before is not None:
            self.before()

    def __call__(self, controller, tick: int) -> None:
        s, planner, m = controller.world.state, controller.planner, self._tick
        now = controller.now_ns
        m["tick"], m["now_ns"], m["t"] = tick, now, s[W.T]
        m["x"], m["y"], m["yaw"], m["v"], m["w"] = s[W.X], s[W.Y], s[W.YAW], s[W.V], s[W.W]
        m["cmd_v"], m["cmd_w"] = planner.cmd[0], planner.cmd[1]
        m["arb_v"], m["arb_w"] = planner.arb_out[0], planner.arb_out[1]
        m["cmd_seq"] = controller.cmd_pub.sent
        m["input_stamp_ns"] = controller.sensing.input_stamp_ns
        m["flags"], m["winner"] = planner.flags, planner.winner
        m["target_index"] = int(s[W.TARGET_INDEX])
        m["goal_reached"], m["stale"], m["estop"] = (s[W.GOAL_REACHED] != 0, s[W.STALE] != 0,
                                                      s[W.ESTOP] != 0)
        st = controller.stats
        if st is not None:
            ph = st.phase
            m["lateness_ns"] = st.lateness.last
            m["prev_backend_ns"], m["prev_sense_ns"] = ph["backend"].last, ph["sense"].last
            m["prev_plan_ns"], m["prev_act_ns"] = ph["plan"].last, ph["act"].last
            m["overruns"] = st.overruns
        consumed = self.consumed
        n = len(consumed)
        entries = self._entries
        if n > len(entries):
            entries = self._entries = new_var(LOOP_TICK, 2 * n)
        for i in range(n):
            role, header = consumed[i]
            e = entries[i]
            e["role"] = ROLE_INDEX[role]
            e["publisher_id"], e["incarnation"], e["seq"] = (header.publisher_id,
                                                             header.incarnation, header.seq)
        consumed.clear()
        self.tick_pub.publish(m, entries[:n], stamp_ns=now)
        b, rows = self._beh, self._beh_rows
        b["tick"], b["now_ns"] = tick, now
        rows["activation"] = planner.activations
        rows["proposal"] = planner.proposals
        rows["ran"] = planner.last_run == tick
        rows["enabled"] = planner.enabled
        self.behavior_pub.publish(b, rows, stamp_ns=now)
        if self.after is not None:
            self.after()


def tick_types() -> tuple[MessageType, MessageType]:
    """The two record types (registered on import of this module)."""
    return message_type("loop_tick"), message_type("behavior_tick")
