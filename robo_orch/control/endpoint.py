"""The loop's control endpoint: its operations, and the actuators' e-stop confirmations.

:func:`attach` gives a real-time :class:`~robo_orch.runtime.controller.Controller` a
:class:`LoopControl`: a :class:`~robo_orch.control.server.ControlServer` with
the operations below, plus an :class:`EstopFeedback` that listens to every
actuator driver's report of its own e-stop latch.  The controller calls
:meth:`LoopControl.serve` at the start of each tick's sense phase.  With a
``remote`` address (``bus.control_endpoint`` or ``bus.tcp_base``) a second server
on tcp shares the operation table: the bus makes it a CURVE server, and its
``may_mutate`` hook (:func:`~robo_orch.control.server.curve_may_mutate`) lets
only full-access client keys run mutating operations.

Operations (``mutating`` ones are refused to read-only clients):

* ``ping``: ``{"pong": true, "tick": N, "pid": P}``, answered from the tick;
* ``status``: :meth:`Controller.health` (loop counters, safety state, inputs,
  this endpoint's counters, the drivers' e-stop reports, and under ``tcp`` the
  bus's CURVE handshakes admitted and refused);
* ``endpoints``: every topic published in the loop's run directory, with its
  endpoint, type layout and publisher (how remote ``robo-orch topics`` finds them);
* ``estop`` (mutating), args ``engage`` (default true) and ``timeout_s`` (default
  2, at most 10): latches or releases the e-stop in this tick's sense phase and
  publishes the new state on the e-stop topic at once.  The reply comes once a
  tick whose command obeys it has completed and every actuator driver has
  reported the same latch state after the request; if a driver does not within
  ``timeout_s`` the reply is the error ``not_confirmed`` with the same result.
  The loop goes on ticking meanwhile: a waiting reply is checked each tick.
* ``param.list``, ``param.get`` and ``param.set`` (mutating): live parameter changes,
  :mod:`robo_orch.control.params`.
"""

from __future__ import annotations

import os
from typing import Any

from robo_orch.bus import Bus, QoS
from robo_orch.control import protocol as P
from robo_orch.control.server import (
    ControlServer,
    Operation,
    Outcome,
    Request,
    curve_may_mutate,
)

#: the longest an ``estop`` request may wait for the drivers, s
MAX_TIMEOUT_S = 10.0
DEFAULT_TIMEOUT_S = 2.0


def estop_feedback_topics(config) -> dict[str, str]:
    """``{driver name: topic}`` of the configured drivers that report their e-stop latch."""
    out = {}
    for name, cfg in config.drivers.items():
        topic = cfg.cls.estop_status_topic(cfg.params)
        if topic:
            out[name] = topic
    return out


class EstopFeedback:
    """The e-stop latch each actuator driver last reported (``motor_status.estop``)."""

    def __init__(self, bus: Bus, topics: dict[str, str]) -> None:
        self.subs = {name: bus.subscribe(topic, "motor_status", QoS.latest())
                     for name, topic in topics.items()}
        #: name -> (latched, received at ns) of the newest report
        self.last: dict[str, tuple[bool, int]] = {}

    def poll(self) -> None:
        """Take the newest reports (every tick, so their arrival times are exact)."""
        for name, sub in self.subs.items():
            if sub.poll():
                msg = sub.latest()
                if msg is not None:
                    self.last[name] = (bool(msg.fixed["estop"]), msg.recv_ns)

    def confirmation(self, name: str, engage: bool, since_ns: int) -> dict[str, Any]:
        """Whether driver ``name`` reported latch ``engage`` at or after ``since_ns``."""
        latched, at = self.last.get(name, (None, None))
        ok = latched is not None and latched == engage and at >= since_ns
        return {"confirmed": ok, "estop": latched,
                "after_ms": round((at - since_ns) * 1e-6, 3) if ok else None}

    def health(self, now_ns: int) -> dict[str, Any]:
        """Each driver's last report: its latch and how old the report is."""
        out = {}
        for name in self.subs:
            latched, at = self.last.get(name, (None, None))
            out[name] = {"estop": latched,
                         "age_s": None if at is None else round((now_ns - at) * 1e-9, 3)}
        return out


class EstopPending:
    """An ``estop`` reply waiting for its completed tick and the drivers' confirmations."""

    def __init__(self, controller, feedback: EstopFeedback, request: Request, engage: bool,
                 tick: int, timeout_s: float) -> None:
        self.controller = controller
        self.feedback = feedback
        self.engage = engage
        self.tick = tick
        # reports count from the moment the new state was published (set_estop has run)
        self.since_ns = controller.bus.clock.now_ns()
        self.deadline_ns = self.since_ns + int(timeout_s * 1e9)

    def result(self, now_ns: int) -> dict[str, Any]:
        """What is known now (the reply's ``result``)."""
        ctl = self.controller
        cmd = ctl.planner.cmd
        return {"estop": self.engage, "tick": self.tick,
                "applied": ctl.completed_tick >= self.tick,
                "command": [float(cmd[0]), float(cmd[1])],
                "drivers": {name: self.feedback.confirmation(name, self.engage, self.since_ns)
                            for name in self.feedback.subs},
                "elapsed_ms": round(max(now_ns - self.since_ns, 0) * 1e-6, 3)}

    def poll(self, now_ns: int) -> Outcome | None:
        """The outcome, once the tick and every driver confirmed or the deadline passed."""
        ctl = self.controller
        if ctl.estop_latched != self.engage:
            return Outcome(self.result(now_ns), ("superseded", "another request changed the "
                                                 "e-stop before this one was confirmed"))
        result = self.result(now_ns)
        missing = [n for n, d in result["drivers"].items() if not d["confirmed"]]
        if result["applied"] and not missing:
            return Outcome(result)
        if now_ns < self.deadline_ns:
            return None
        word = "latched" if self.engage else "released"
        if not result["applied"]:
            return Outcome(result, ("internal", f"no tick completed since tick {self.tick} "
                                    "applied the request"))
        return Outcome(result, ("not_confirmed", f"the loop {word} the e-stop at tick "
                                f"{self.tick}, but {', '.join(missing)} did not report it "
                                f"within {(self.deadline_ns - self.since_ns) * 1e-9:g} s"))


class LoopControl:
    """The control endpoint of one controller: served from its sense phase."""

    def __init__(self, controller, server: ControlServer, feedback: EstopFeedback,
                 remote: ControlServer | None = None) -> None:
        self.controller = controller
        self.server = server
        #: the tcp endpoint for remote tools (CURVE; shares the operation table), or None
        self.remote = remote
        self.feedback = feedback
        for op in (Operation("ping", self._ping, mutating=False, doc="liveness, from the tick"),
                   Operation("status", self._status, mutating=False,
                             doc="the loop's health (Controller.health)"),
                   Operation("estop", self._estop, mutating=True,
                             doc="engage (engage=true) or release the latched e-stop; "
                                 "answers once applied and confirmed by the drivers")):
            server.register(op)
        server.register(Operation("endpoints", self._endpoints, mutating=False,
                                  doc="every topic in the run directory: endpoint and type"))
        from robo_orch.control.params import attach as attach_params

        attach_params(self)
        controller.add_health("control", self._health)
        tcp_health = getattr(server.bus, "tcp_health", None)
        if tcp_health is not None:
            controller.add_health("tcp", tcp_health)

    @property
    def endpoint(self) -> str:
        """The bound address (``ipc://.../control.sock``)."""
        return self.server.endpoint

    def serve(self, now_ns: int) -> None:
        """Take the drivers' reports, then answer requests (called in the sense phase)."""
        self.feedback.poll()
        self.server.serve(now_ns)
        if self.remote is not None:
            self.remote.serve(now_ns)

    def _ping(self, request: Request) -> dict[str, Any]:
        return {"pong": True, "tick": self.controller.tick, "pid": os.getpid()}

    def _status(self, request: Request) -> dict[str, Any]:
        return self.controller.health()

    def _endpoints(self, request: Request) -> dict[str, Any]:
        from robo_orch.bus.discovery import read_run_dir

        topics = {}
        for proc in read_run_dir(self.server.bus.run_dir):
            for topic, entry in proc.topics.items():
                topics[topic] = {**entry, "publisher": {
                    "id": proc.publisher_id, "incarnation": proc.incarnation, "pid": proc.pid,
                    "name": proc.name}}
        return {"topics": topics}

    def _estop(self, request: Request) -> EstopPending:
        args = request.args
        engage = args.get("engage", True)
        timeout_s = args.get("timeout_s", DEFAULT_TIMEOUT_S)
        if not isinstance(engage, bool):
            raise P.ProtocolError("bad_args", "'engage' must be true or false")
        if (not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool)
                or not 0 <= timeout_s <= MAX_TIMEOUT_S):
            raise P.ProtocolError("bad_args", f"'timeout_s' must be a number of seconds "
                                              f"from 0 to {MAX_TIMEOUT_S:g}")
        tick = self.controller.set_estop(engage)
        return EstopPending(self.controller, self.feedback, request, engage, tick,
                            float(timeout_s))

    def _health(self) -> dict[str, Any]:
        out = {"endpoint": self.server.endpoint, "pending": self.server.pending,
               **self.server.counters.as_dict(),
               "drivers": self.feedback.health(self.controller.now_ns)}
        if self.remote is not None:
            out["remote"] = {"endpoint": self.remote.endpoint, "pending": self.remote.pending,
                             **self.remote.counters.as_dict()}
        return out

    def close(self) -> None:
        """Close the sockets."""
        self.server.close()
        if self.remote is not None:
            self.remote.close()


def attach(controller, bus, drivers: dict[str, str] | None = None, *,
           address: str | None = None, remote: str | None = None) -> LoopControl:
    """Bind the control endpoint of ``controller`` on ``bus`` (a ZeroMQ bus).

    ``drivers``: ``{name: topic}`` of the actuator drivers whose e-stop reports an
    ``estop`` request waits for (:func:`estop_feedback_topics`); only drivers that
    actually run belong here.  ``remote``: a tcp address where remote tools reach the
    same operations over CURVE (read-only client keys may not run mutating ones).
    """
    server = ControlServer(bus, address=address)
    remote_server = None
    if remote:
        try:
            remote_server = ControlServer(bus, address=remote, may_mutate=curve_may_mutate,
                                          service=None, operations=server.operations)
        except BaseException:
            server.close()
            raise
        server.advertise["remote"] = remote_server.endpoint
    control = LoopControl(controller, server, EstopFeedback(bus, drivers or {}), remote_server)
    controller.control = control
    return control
