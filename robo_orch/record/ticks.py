"""Per-tick records the loop publishes while it is recorded: what each tick used and did.

Two message types, recorded (and, with a live view, published on the bus) like
any other:

* ``loop_tick`` on ``loop/tick``: the tick index and time, the estimated pose, the
  arbitrated and the safe command, safety flags, the winner, loop timing, and as
  its variable part one :data:`CONSUMED` entry per input message the tick used
  (role, publisher, incarnation, sequence number): what a re-run feeds it;
* ``behavior_tick`` on ``loop/behaviors``: per behavior, in planner order, its
  activation, its proposal, the last tick it ran and whether it is enabled.

:class:`TickTap` fills both from :attr:`Controller.tap`, right after the command
went out, and hands them to a recorder and/or publishes them.  It costs a few
tens of microseconds per tick (``robo_orch.bench.record`` measures it) and
nothing when recording is off (the controller's ``tap`` is None).
"""

from __future__ import annotations

import functools
import operator
import struct

import numpy as np

from robo_orch.core import world as W
from robo_orch.errors import BusError, MessageError
from robo_orch.messages import FORMAT_VERSION, HEADER, MessageType, message_type, register
from robo_orch.record.structs import struct_layout

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

# ``last_run``: the tick the behavior last ran (it ran this tick if equal to ``tick``)
BEHAVIOR_TICK = register(MessageType("behavior_tick", 65, [("tick", "<i8"), ("now_ns", "<i8")], [
    ("activation", "<f8"), ("proposal", "<f8", (W.OUT_LEN,)), ("last_run", "<i8"),
    ("enabled", "u1"), ("pad", "u1", (7,)),
]))


class TickTap:
    """Makes a ``loop_tick`` and a ``behavior_tick`` record for each tick.

    Install with :meth:`attach`; the controller calls the tap at the end of ``act``
    (it notes the tick) and :meth:`before_tick` from ``pre_tick`` (timed as the
    backend phase, not as the tick), where the previous tick's records are made;
    :meth:`flush` makes the last one.  Optional ``after`` runs at the end of each
    ``act``, optional ``before`` at each tick's start after the records (a lockstep
    recorder hands the previous tick's messages to its writer process there; a
    live view notes that a tick runs).

    Each record goes to ``sink(index, header, payload)`` (a recorder; index 0 is
    the tick record, 1 the behavior record; ``payload`` is a view, valid during the
    call) and, with ``publish``, on the bus (a live view, ``robo-orch topics``).
    Publishing costs more than making the records: a ZeroMQ send wakes the
    context's I/O thread, 20-150 us on a busy machine, so a recorder alone does not.

    Making the records allocates nothing but the two headers: the fields are copied
    into preallocated buffers with a few ``struct.pack_into``, ``np.take`` and
    array copies into views made once.
    """

    def __init__(self, controller, after=None, before=None, *, publish: bool = True,
                 sink=None) -> None:
        bus = controller.bus
        self.bus = bus
        # declared (bound, listed for discovery) even when only a sink gets the records
        self.tick_pub = bus.publisher(TICK_TOPIC, LOOP_TICK, frame_id="world")
        self.behavior_pub = bus.publisher(BEHAVIOR_TOPIC, BEHAVIOR_TICK)
        self.publish = publish  #: also send the records on the bus
        self.sink = sink  #: ``sink(index, header, payload)`` or None
        self.sent = 0  #: records of each kind made so far (= the last sequence number)
        self.consumed: list = []
        self.after = after
        self.before = before
        self._controller = controller
        self._pending: tuple[int, int, int] | None = None  # tick, now, command seq
        self._timing = _NO_TIMING
        st = controller.stats
        self._series = None if st is None else (st.lateness, *(st.phase[p] for p in (
            "backend", "sense", "plan", "act")))
        planner, fields = controller.planner, LOOP_TICK.dtype.fields
        head = functools.partial(HEADER.pack, FORMAT_VERSION, bus.clock.clock_id)
        self._tick_head = functools.partial(head, LOOP_TICK.type_id, LOOP_TICK.layout_hash,
                                            bus.publisher_id, bus.incarnation)
        self._beh_head = functools.partial(head, BEHAVIOR_TICK.type_id,
                                           BEHAVIOR_TICK.layout_hash, bus.publisher_id,
                                           bus.incarnation)
        # tick record: [tick, now][t x y yaw v w][cmd_v cmd_w arb_v arb_w][cmd_seq ...]
        if [n for n in LOOP_TICK.dtype.names] != _TICK_ORDER:
            raise MessageError("loop_tick fields changed: update TickTap's field order")
        self._pose_idx = np.array([W.T, W.X, W.Y, W.YAW, W.V, W.W], dtype=np.intp)
        self._grow_entries(64)
        tail = LOOP_TICK.dtype.names[_TICK_ORDER.index("cmd_seq"):]
        fmt, _ = struct_layout(np.dtype([(n, LOOP_TICK.dtype.fields[n][0]) for n in tail]))
        self._pack_tail = struct.Struct(fmt.replace("BBBB", "???B")).pack_into
        self._tail_at = fields["cmd_seq"][1]
        self._state4 = operator.itemgetter(W.TARGET_INDEX, W.GOAL_REACHED, W.STALE, W.ESTOP)
        # a holonomic base's cmd is (vx, vy, w): the record keeps vx and w
        self._cmd_src = planner.cmd[::2] if len(planner.cmd) == 3 else planner.cmd
        self._arb_src = planner.arb_out[:2]
        # behavior record: [tick, now] + one row per behavior
        n = len(planner.names)
        self._beh_buf = bytearray(BEHAVIOR_TICK.itemsize + n * BEHAVIOR_TICK.var_itemsize)
        self._beh_mv = memoryview(self._beh_buf)
        self._beh_count = n
        rows = np.frombuffer(self._beh_buf, BEHAVIOR_TICK.var_dtype, n, BEHAVIOR_TICK.itemsize)
        self._act, self._prop = rows["activation"], rows["proposal"]
        self._last_run, self._enabled = rows["last_run"], rows["enabled"]
        self._planner_rows = (planner.activations, planner.proposals, planner.last_run,
                              planner.enabled)

    def _grow_entries(self, n: int) -> None:
        """(Re)allocate the tick record's buffer with room for ``n`` consumed entries."""
        buf = self._tick_buf = bytearray(LOOP_TICK.itemsize + n * CONSUMED.itemsize)
        self._tick_mv = memoryview(buf)
        self._entry_room = n
        at = LOOP_TICK.dtype.fields["t"][1]
        self._pose = np.frombuffer(buf, np.float64, 6, at)
        self._cmd_dst = np.frombuffer(buf, np.float64, 2, at + 48)
        self._arb_dst = np.frombuffer(buf, np.float64, 2, at + 64)

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
        """Called by the controller at the start of each tick (its backend phase).

        Makes the previous tick's records, then notes this tick's lateness and the
        previous tick's phase times (what this tick's record will carry).
        """
        if self._pending is not None:
            self._emit()
        if self._series is not None:
            late, backend, sense, plan, act = self._series
            self._timing = (late.last, backend.last, sense.last, plan.last, act.last,
                            self._controller.stats.overruns)
        if self.before is not None:
            self.before()

    def __call__(self, controller, tick: int) -> None:
        """Called at the end of ``act``: note the tick; its records are made later.

        The command has gone out; the records are made at the start of the next tick
        (or by :meth:`flush`), from state nothing changes in between.  Made here,
        they would run while the ZeroMQ I/O thread woken by the command send takes
        the loop's core, and end the tick 100 us or more later on a busy machine.
        """
        self._pending = (tick, controller.now_ns, controller.cmd_pub.sent)
        if self.after is not None:
            self.after()

    def flush(self) -> None:
        """Make the last tick's records (after the loop ended)."""
        if self._pending is not None:
            self._emit()

    def _emit(self) -> None:
        tick, now, cmd_seq = self._pending
        self._pending = None
        controller = self._controller
        s, planner = controller.world.state, controller.planner
        consumed = self.consumed
        n = len(consumed)
        if n > self._entry_room:
            self._grow_entries(2 * n)
        buf = self._tick_buf
        _TWO_I64.pack_into(buf, 0, tick, now)
        np.take(s, self._pose_idx, out=self._pose)
        self._cmd_dst[:] = self._cmd_src
        self._arb_dst[:] = self._arb_src
        target, goal, stale, estop = self._state4(s)
        self._pack_tail(buf, self._tail_at, cmd_seq, controller.sensing.input_stamp_ns,
                        planner.flags, planner.winner, int(target), goal, stale, estop, 0,
                        *self._timing)
        pack, at = _ENTRY.pack_into, LOOP_TICK.itemsize
        for i in range(n):
            role, h = consumed[i]  # h: a Header; 4, 5, 6 = publisher id, incarnation, seq
            pack(buf, at + i * _ENTRY_SIZE, ROLE_INDEX[role], 0, h[4], h[5], 0, h[6])
        consumed.clear()
        beh = self._beh_buf
        _TWO_I64.pack_into(beh, 0, tick, now)
        acts, props, last_run, enabled = self._planner_rows
        self._act[:] = acts
        self._prop[:] = props
        self._last_run[:] = last_run
        self._enabled[:] = enabled
        seq = self.sent = self.sent + 1
        tick_head = self._tick_head(seq, now, n, b"world")
        tick_payload = self._tick_mv[:at + n * _ENTRY_SIZE]
        beh_head = self._beh_head(seq, now, self._beh_count, b"")
        sink = self.sink
        if sink is not None:
            sink(0, tick_head, tick_payload)
            sink(1, beh_head, self._beh_mv)
        if self.publish:
            send = self.bus.send_raw
            try:
                send(TICK_TOPIC, [_TICK_B, tick_head, bytes(tick_payload)])
                send(BEHAVIOR_TOPIC, [_BEHAVIOR_B, beh_head, bytes(beh)])
            except BusError:  # flushed after the run closed the bus: the sink has it
                pass


_TICK_ORDER = ["tick", "now_ns", "t", "x", "y", "yaw", "v", "w", "cmd_v", "cmd_w", "arb_v",
               "arb_w", "cmd_seq", "input_stamp_ns", "flags", "winner", "target_index",
               "goal_reached", "stale", "estop", "pad", "lateness_ns", "prev_backend_ns",
               "prev_sense_ns", "prev_plan_ns", "prev_act_ns", "overruns"]
_NO_TIMING = (0, 0, 0, 0, 0, 0)
_TICK_B, _BEHAVIOR_B = TICK_TOPIC.encode(), BEHAVIOR_TOPIC.encode()
_TWO_I64 = struct.Struct("<qq")
_ENTRY = struct.Struct("<HHIIIQ")
_ENTRY_SIZE = CONSUMED.itemsize


def tick_types() -> tuple[MessageType, MessageType]:
    """The two record types (registered on import of this module)."""
    return message_type("loop_tick"), message_type("behavior_tick")
