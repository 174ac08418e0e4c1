"""Inject one run's faults through the real seams, and measure the reaction to each.

:class:`FaultInjector` joins a lockstep mission at three places, none of them a
patched function:

* the loop's control hook (``controller.control.serve(now_ns)``, run at the start
  of every sense phase, where the real-time loop serves its control endpoint): it
  starts and ends faults there, engages and releases the e-stop, holds the clock
  (an overrun), enables the faulty planner plugin through the planner's enable
  mask, and publishes bad, malformed and oversized messages on the run's memory bus
  from a publisher of its own;
* the simulator node's gates (:attr:`SimNode.sensor_gate`, :attr:`SimNode.command_gate`):
  a sensor's messages lost or delayed, commands lost on their way to the actuator;
* the loop's per-tick callback (``progress``), after each command is published: it
  reads the safety flags, the ground truth and the counters, and times the reaction.

Times are loop times (s since the first tick).  A robot is at a *standstill* when
its true speed is below :data:`STILL_V` and its yaw rate below :data:`STILL_W`; it
*moves* above :data:`MOVE_V` or :data:`MOVE_W`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from robo_orch.core import safety_steps as saf  # (flags and limits; no kernel compiled)
from robo_orch.core import world as W
from robo_orch.kinematics import kinematics_for
from robo_orch.messages import HEADER, encode, message_type, new_fixed, new_var
from robo_orch.missions import fault_kinds as fk

STILL_V, STILL_W = 0.005, 0.01  #: standstill: true |v| (m/s) and |w| (rad/s) below these
MOVE_V, MOVE_W = 0.02, 0.05  #: moving: true |v| or |w| above these
SETTLE_S = 0.3  #: after a fault without a stop: watch this long before the next one
RESUME_TIMEOUT_S = 10.0  #: a stop not followed by motion this long after the fault: not resumed
FAULT_PUBLISHER_ID = 66  #: the injector's own publisher id on the bus
#: message type per input; ``odom``: the base's (``Kinematics.odometry_type``), set per config
_TYPES = {"odom": "wheel_odometry", "imu": "imu", "scan": "laser_scan", "gps": "position_fix"}
_STOP_FLAGS = saf.STALE_STOP | saf.ESTOP | saf.INVALID_INPUT
_FLAG_OF = {fk.CONTROLLED_STOP: saf.STALE_STOP, fk.LATCHED_STOP: saf.ESTOP}


class FaultInjector:
    """Runs a plan of :class:`~robo_orch.missions.fault_kinds.Fault` s in one mission."""

    def __init__(self, config: Any, plan: list[fk.Fault], rng: np.random.Generator) -> None:
        self.config = config
        self.plan = list(plan)
        self.rng = rng
        self.dt = 1.0 / config.loop.rate_hz
        self._types = {**_TYPES, "odom": kinematics_for(config.robot).odometry_type}
        self.records: list[dict[str, Any]] = []
        #: contacts outside any fault's window: [static, with a moving obstacle]
        self.between = [0, 0]
        self.ctl = None
        self.node = None
        self.sim = None
        self.bus = None
        self._pubs: dict[str, Any] = {}
        self._t0_ns: int | None = None
        self._next_at = plan[0].gap_s + 0.5 if plan else math.inf
        self._fault: fk.Fault | None = None
        self._rec: dict[str, Any] | None = None
        self._active = False
        self._end_at = 0.0
        self._last_pub: dict[str, float] = {}  # input -> loop time of its last delivered message
        self._pub_now: dict[str, int] = {}  # input -> now_ns of its last delivered message
        self._held: list[tuple[float, str, Any, Any, int]] = []  # delayed messages
        self._last_cmd_t = 0.0  # simulator time the last delivered command arrived
        self._collisions = 0
        self._t_tick = 0.0  # loop time of the last observed tick
        self._deadman = 0
        self._sent = 0  # bad messages sent / messages dropped by the active fault
        self._snap: Any = None
        self._slowed = False

    # --- seams ----------------------------------------------------------------------
    def attach(self, controller: Any) -> None:
        """``on_start``: become the loop's control hook and open the injector's own bus."""
        self.ctl = controller
        controller.control = self
        self.bus = controller.bus.peer(FAULT_PUBLISHER_ID)

    def serve(self, now_ns: int) -> None:
        """Start of every sense phase: start, drive and end faults."""
        if self._t0_ns is None:
            self._t0_ns = now_ns
            backend = self.ctl.backend
            self.node, self.sim = backend.node, backend.sim
            self.node.sensor_gate = self._sensor_gate
            self.node.command_gate = self._command_gate
            self._collisions = self.sim.collisions
        t = (now_ns - self._t0_ns) * 1e-9
        if self._active:
            if t >= self._end_at - 1e-9:
                self._finish(t, now_ns)
            else:
                self._during(t, now_ns)
        elif self._fault is None and t >= self._next_at and self.plan \
                and self.ctl.world.state[W.GOAL_REACHED] == 0.0:
            self._begin(self.plan.pop(0), t, now_ns)

    def _sensor_gate(self, role: str, fixed: Any, var: Any, now_ns: int) -> bool:
        f = self._fault
        if self._active and f.target == role:
            t = (now_ns - self._t0_ns) * 1e-9
            if f.kind == "silent":
                self._sent += 1
                return False
            if f.kind == "blind":
                var["range"] = 0.0  # the node refills its buffer before every scan
                self._sent += 1
                return True
            if f.kind == "stale_burst":
                self._held.append((t + f.param, role, fixed.copy(),
                                   None if var is None else var.copy(), now_ns))
                self._release(t)
                return False
        self._last_pub[role] = 0.0 if self._t0_ns is None else (now_ns - self._t0_ns) * 1e-9
        self._pub_now[role] = now_ns
        return True

    def _lose(self, frames: list[bytes]) -> bool:
        if self._sent < self._fault.param:
            self._sent += 1
            return True
        return False

    def _command_gate(self, now_ns: int) -> bool:
        if self._active and self._fault.kind == "drop_command":
            self._sent += 1
            return False
        self._last_cmd_t = self.sim.t
        return True

    def _release(self, t: float, everything: bool = False) -> None:
        """Deliver delayed messages that are due (all of them at the end: the burst)."""
        while self._held and (everything or self._held[0][0] <= t + 1e-9):
            _, role, fixed, var, stamp = self._held.pop(0)
            self.node.publishers[role].publish(fixed, var, stamp_ns=stamp)

    # --- a fault's life -------------------------------------------------------------
    def _begin(self, f: fk.Fault, t: float, now_ns: int) -> None:
        ctl = self.ctl
        self._fault, self._active, self._sent = f, True, 0
        self._deadman = self.sim.deadman_stops
        self._slowed = False
        self._end_at = t + f.duration_s
        self._rec = rec = {
            "label": f.label, "kind": f.kind, "target": f.target, "variant": f.variant,
            "expected": f.expected, "t_fault": round(t, 6), "duration_s": f.duration_s,
            "param": f.param, "t_last": None, "t_stop": None, "t_still": None, "t_end": None,
            "t_motion": None, "stop_s": None, "age_s": None, "bound_s": None,
            "standstill_s": None, "resume_s": None, "contacts": 0, "moving_contacts": 0,
            "unexpected_stop": False, "held": True, "counted": None, "sent": 0,
            "moving_at_fault": self._moving(), "problems": []}
        if f.kind in ("silent", "stale_burst", "blind"):
            rec["t_last"] = self._last_pub.get(f.target, 0.0)
            rec["bound_s"] = self.config.inputs[f.target].max_age_s + self.dt
        elif f.kind == "drop_command":
            rec["bound_s"] = self.config.safety.deadman_s + self.dt
        elif f.kind == "estop":
            rec["bound_s"] = self.dt
            ctl.engage_estop()
        elif f.kind == "planner":
            ctl.planner.set_enabled(f"fault_{f.variant}", True)
        elif f.kind == "overrun":
            st = ctl.stats
            self._snap = (st.overruns, st.skipped)
            ctl.bus.clock.advance_ns(int(round(f.param * self.dt * 1e9)))  # the tick takes k
        if f.kind in ("bad_value", "malformed", "oversized", "drop"):
            self._snap = self._counts(f)
            self._during(t, now_ns)
        if f.kind == "drop":  # the bus loses the next messages (their numbers are used)
            self.ctl.bus.hub.set_loss(self.config.inputs[f.target].topic, self._lose)

    def _during(self, t: float, now_ns: int) -> None:
        f = self._fault
        if f.kind == "stale_burst":
            self._release(t)
        elif f.kind in ("bad_value", "malformed", "oversized"):
            tick = round(t / self.dt)
            if f.target == "gps":
                due = tick % max(1, round(0.2 / self.dt)) == 0 and self._sent < f.param
            else:  # every other tick, and never where a good scan came (it would hide it)
                due = tick % 2 == 0 and not (f.target == "scan"
                                             and self._pub_now.get("scan") == now_ns)
            if due:
                self._send_bad(f, now_ns)
                self._sent += 1

    def _finish(self, t: float, now_ns: int) -> None:
        f, rec = self._fault, self._rec
        self._active = False
        rec["t_end"] = round(t, 6)
        rec["sent"] = self._sent
        if f.kind == "stale_burst":
            self._release(t, everything=True)
        elif f.kind == "estop":
            self.ctl.reset_estop()
        elif f.kind == "planner":
            self.ctl.planner.set_enabled(f"fault_{f.variant}", False)
        elif f.kind == "drop":
            self.ctl.bus.hub.set_loss(self.config.inputs[f.target].topic, None)

    def observe(self, ctl: Any) -> None:
        """After every tick's command: contacts, and the reaction to the current fault."""
        sim = self.sim
        if sim is None:
            return
        rec = self._rec
        if sim.collisions != self._collisions:
            self._collisions = sim.collisions
            moving = self._near_mover()
            if rec is None:
                self.between[moving] += 1
            else:
                rec["moving_contacts" if moving else "contacts"] += 1
        t = self._t_tick = float(ctl.world.state[W.T])
        if rec is None:
            return
        f, flags = self._fault, ctl.planner.flags
        expected = f.expected
        if rec["t_stop"] is None:
            if expected == fk.ACTUATOR_STOP:
                if sim.deadman_stops != self._deadman:
                    rec["t_stop"] = round(sim.t - self.dt, 6)  # the step it started in
                    rec["t_last"] = round(self._last_cmd_t, 6)
            elif expected in _FLAG_OF and flags & _FLAG_OF[expected]:
                rec["t_stop"] = round(t, 6)
        elif expected == fk.LATCHED_STOP and self._active and not flags & saf.ESTOP:
            rec["held"] = False
        if expected not in fk.STOPS and expected != fk.KEPT_SAFE and flags & _STOP_FLAGS:
            rec["unexpected_stop"] = True
        still = abs(sim.v) < STILL_V and abs(sim.w) < STILL_W
        if rec["t_stop"] is not None and rec["t_still"] is None and still:
            rec["t_still"] = round(t, 6)
        if self._active:
            return
        # after a stop, motion counts once the robot had slowed below the motion
        # thresholds (before that it is still braking)
        moving = self._moving()
        if rec["t_stop"] is not None and not moving:
            self._slowed = True
        if rec["t_motion"] is None and moving and (self._slowed or expected not in fk.STOPS
                                                   or rec["t_stop"] is None):
            rec["t_motion"] = round(t, 6)
        since = t - rec["t_end"]
        waiting = expected in fk.STOPS and rec["t_motion"] is None
        if (since >= SETTLE_S and not waiting) or since >= RESUME_TIMEOUT_S:
            self._settle(t)

    def _settle(self, t: float) -> None:
        f, rec = self._fault, self._rec
        if f.kind in ("bad_value", "malformed", "oversized", "drop"):
            got = np.subtract(self._counts(f), self._snap)
            rec["counted"] = bool(got[0] == rec["sent"])
        elif f.kind == "overrun":
            st = self.ctl.stats
            rec["counted"] = bool(st.overruns - self._snap[0] >= 1
                                  and st.skipped - self._snap[1] == f.param - 1)
        judge(rec)
        self.records.append(rec)
        self._fault = self._rec = None
        self._next_at = t + (self.plan[0].gap_s if self.plan else 0.0)

    def close(self) -> None:
        """At the end of the run: a fault still open is judged as it stands."""
        if self._rec is not None:
            if self._active:
                self._rec["t_end"] = None
            judge(self._rec, ended=True, t_ended=self._t_tick)
            self.records.append(self._rec)
            self._rec = None
        if self.bus is not None:
            self.bus.close()

    # --- helpers ----------------------------------------------------------------------
    def _moving(self) -> bool:
        sim = self.sim
        return abs(sim.v) > MOVE_V or abs(sim.w) > MOVE_W

    def _near_mover(self) -> bool:
        wm = self.sim.world_map
        if not wm.n_movers:
            return False
        x, y = self.sim.state[0], self.sim.state[1]
        c = wm.circles[wm.first_mover:]
        gap = np.hypot(c[:, 0] - x, c[:, 1] - y) - c[:, 2] - self.sim.radius
        return bool(gap.min() < 0.05)

    def _counts(self, f: fk.Fault) -> tuple[int]:
        """The counter a fault of this kind must raise by exactly what it sent."""
        sub = self.ctl.sensing.subs[f.target]
        if f.kind == "bad_value":
            return (sum(self.ctl.sensing.checks.rejected[f.target].values()),)
        if f.kind == "drop":
            return (sub.counters.seq_gaps,)
        return (sub.counters.malformed,)

    def _publisher(self, role: str) -> Any:
        pub = self._pubs.get(role)
        if pub is None:
            topic = self.config.inputs[role].topic
            pub = self._pubs[role] = self.bus.publisher(topic, message_type(self._types[role]))
        return pub

    def _send_bad(self, f: fk.Fault, now_ns: int) -> None:
        role = f.target
        mtype = message_type(self._types[role])
        fixed, var, stamp = new_fixed(mtype), None, now_ns
        if role == "scan":
            var = new_var(mtype, 90)
            var["angle"] = np.linspace(-math.pi, math.pi, 90, endpoint=False)
            var["range"] = 0.3  # a phantom wall all around: harmful if it were taken
            fixed["range_min"], fixed["range_max"] = 0.05, 8.0
        if f.kind == "bad_value":
            v = f.variant
            if v == "future":
                stamp = now_ns + 10_000_000_000
            elif role == "odom":
                # the first speed of the base's odometry (v_left, or vx of body_odometry)
                fixed[fixed.dtype.names[0]] = {"nan": math.nan, "inf": math.inf,
                                               "absurd": 1e3}[v]
            elif role == "imu":
                if v == "quaternion":
                    fixed["orientation"] = (0.0, 0.0, 0.0, 2.0)
                else:
                    fixed["gyro"] = (0.0, 0.0, math.nan if v == "nan" else 1e3)
            elif role == "scan":
                fixed["range_min"], fixed["range_max"] = ((math.nan, 8.0) if v == "nan_limits"
                                                          else (5.0, 1.0))
            else:  # gps: the fix
                x, y, _ = self.sim.pose
                if v == "50m":
                    a = self._gps_heading(now_ns)
                    fixed["x"], fixed["y"], fixed["std"] = x + 50 * math.cos(a), \
                        y + 50 * math.sin(a), 0.5
                else:
                    fixed["x"], fixed["y"] = (math.nan, y) if v == "nan" else (x, y)
                    fixed["std"] = math.inf if v == "std_inf" else 0.5
            self._publisher(role).publish(fixed, var, stamp_ns=stamp)
            return
        topic = self.config.inputs[role].topic
        frames = encode(mtype, topic, fixed, var, seq=self._sent + 1, stamp_ns=now_ns,
                        publisher_id=FAULT_PUBLISHER_ID, clock_id=self.bus.clock.clock_id)
        if f.kind == "oversized":
            limit = self.config.inputs[role].max_bytes or mtype.max_bytes
            frames[2] = bytes(limit + 1)
        elif f.variant == "garbage":
            frames[1] = self.rng.bytes(HEADER.size)
            frames[1] = bytes([255]) + frames[1][1:]  # never a valid format version
        elif f.variant == "short_header":
            frames[1] = frames[1][: HEADER.size // 2]
        elif f.variant == "layout":
            head = bytearray(frames[1])
            head[4:8] = bytes(b ^ 0xFF for b in head[4:8])  # the layout hash
            frames[1] = bytes(head)
        else:  # short_payload
            frames[2] = frames[2][:-1]
        self.bus.send_raw(topic, frames)

    def _gps_heading(self, now_ns: int) -> float:
        """One direction per injection (its fixes agree with each other, as a wrong but
        consistent receiver's would)."""
        if self._rec.get("gps_heading") is None:
            self._rec["gps_heading"] = float(self.rng.uniform(-math.pi, math.pi))
        return self._rec["gps_heading"]


def judge(rec: dict[str, Any], ended: bool = False, t_ended: float | None = None) -> None:
    """Derive the timings of a finished injection and list what failed its reaction.

    ``ended``: the mission ended (at ``t_ended``, s) while the injection was open; a
    stop whose deadline had not come yet is then ``cut_short``, not missing.
    """
    p = rec["problems"]
    t_fault, t_stop, t_end = rec["t_fault"], rec["t_stop"], rec["t_end"]
    if t_stop is not None:
        rec["stop_s"] = round(t_stop - t_fault, 6)
        if rec["t_last"] is not None:
            rec["age_s"] = round(t_stop - rec["t_last"], 6)
    if rec["t_still"] is not None:
        rec["standstill_s"] = round(rec["t_still"] - t_fault, 6)
    if rec["t_motion"] is not None and t_end is not None:
        rec["resume_s"] = round(rec["t_motion"] - t_end, 6)
    expected = rec["expected"]
    if expected in fk.STOPS:
        start = rec["t_last"] if rec["t_last"] is not None else t_fault
        if t_stop is None and ended and t_ended is not None and \
                t_ended < start + rec["bound_s"] - 1e-9:
            rec["cut_short"] = True  # the goal was reached before the stop was due
        elif t_stop is None:
            p.append("no stop")
        else:
            late = rec["age_s"] if rec["age_s"] is not None else rec["stop_s"]
            if late > rec["bound_s"] + 1e-9:
                p.append(f"stop started {late:.3f} s after the "
                         f"{'last fresh input' if rec['age_s'] is not None else 'fault'} "
                         f"> {rec['bound_s']:.3f} s")
        if not rec["held"]:
            p.append("e-stop released before the reset")
        if rec["t_motion"] is None and not ended:
            p.append(f"no motion within {RESUME_TIMEOUT_S:g} s of the fault's end")
    elif rec["unexpected_stop"]:
        p.append("a stop where none was expected")
    if rec["counted"] is False:
        p.append(f"counters do not show the {rec['sent']} messages")
    if rec["contacts"]:
        p.append(f"{rec['contacts']} contact(s) with a static obstacle")
