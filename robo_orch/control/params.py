"""The control endpoint's parameter operations: ``param.list``, ``param.get``, ``param.set``.

Registered on a :class:`~robo_orch.control.endpoint.LoopControl` by :func:`attach`
(the endpoint does it for every real-time loop).  Values travel as JSON; the loop
validates them (:meth:`robo_orch.runtime.params.LiveParams.propose`: the config
schema, the cross-field checks, the live marks) while serving the request, in
the sense phase, and applies a valid change at the start of the next tick.

* ``param.list`` (args ``live``: only live keys): every key of the running config,
  ``{"keys": {key: {"value": v, "live": bool}}, "tick": N}``;
* ``param.get`` (args ``keys``: a list): the same for those keys; an unknown key is
  the error ``invalid`` with the config-file style line;
* ``param.set`` (mutating; args ``changes``: ``{key: value}``): all keys together.
  Refused at once with ``invalid`` (a value the config file would refuse, the
  line as ``robo-orch check`` prints it) or ``restart_needed`` (restart-only keys,
  named).  Otherwise answered once applied: ``{"tick": T, "requested_tick": R,
  "ticks_waited": W, "changes": {...}}``, where ``T`` is the tick that first ran with
  the change, ``R`` the tick that served the request and ``W`` the ticks the loop
  ran from the request to the change: 1 when the very next tick ran with it (then
  ``T == R + 1`` unless an overrun skipped slots in between).

A read-only CURVE client key may list and get, not set (``forbidden``: the
server's ``may_mutate`` hook).
"""

from __future__ import annotations

from typing import Any

from robo_orch.config.live import RestartNeeded
from robo_orch.control import protocol as P
from robo_orch.control.server import Operation, Outcome, Request
from robo_orch.errors import ConfigError

#: the longest a ``param.set`` reply waits for its tick, s (a stalled loop answers this)
APPLY_TIMEOUT_S = 5.0


class ParamPending:
    """A ``param.set`` reply waiting for the tick that applies the change."""

    def __init__(self, ticket, request: Request) -> None:
        self.ticket = ticket
        self.requested_tick = ticket.submitted_tick
        self.deadline_ns = request.received_ns + int(APPLY_TIMEOUT_S * 1e9)

    def poll(self, now_ns: int) -> Outcome | None:
        """The outcome once the change was applied (or refused when applied)."""
        t = self.ticket
        if t.error is not None:
            return Outcome({}, _error(t.error))
        if t.tick >= 0:
            return Outcome({"tick": t.tick, "requested_tick": self.requested_tick,
                            "ticks_waited": t.ticks_waited, "changes": t.changes})
        if now_ns >= self.deadline_ns:
            return Outcome({}, ("internal", f"the change was not applied within "
                                            f"{APPLY_TIMEOUT_S:g} s"))
        return None


def _error(err: ConfigError) -> tuple[str, str]:
    return ("restart_needed" if isinstance(err, RestartNeeded) else "invalid", str(err))


class ParamOps:
    """The parameter operations of one controller's control endpoint."""

    def __init__(self, controller) -> None:
        self.live = controller.live

    def operations(self) -> list[Operation]:
        """The three operations, for ``ControlServer.register``."""
        return [Operation("param.list", self._list, mutating=False,
                          doc="every config key with its value and whether it is live"),
                Operation("param.get", self._get, mutating=False,
                          doc="the values of the given keys"),
                Operation("param.set", self._set, mutating=True,
                          doc="change live keys together; answers with the tick it took "
                              "effect at")]

    def _list(self, request: Request) -> dict[str, Any]:
        only_live = request.args.get("live", False)
        if not isinstance(only_live, bool):
            raise P.ProtocolError("bad_args", "'live' must be true or false")
        keys = self.live.keys()
        return {"tick": self.live.controller.tick,
                "keys": {k: {"value": v.value, "live": v.live} for k, v in keys.items()
                         if v.live or not only_live}}

    def _get(self, request: Request) -> dict[str, Any] | Outcome:
        names = request.args.get("keys")
        if not isinstance(names, list) or not names or not all(isinstance(n, str)
                                                               for n in names):
            raise P.ProtocolError("bad_args", "'keys' must be a non-empty list of key names")
        from robo_orch.config.live import find_key

        keys = self.live.keys()
        try:
            found = {n: find_key(keys, n, "param get") for n in names}
        except ConfigError as err:
            return Outcome({}, _error(err))
        return {"tick": self.live.controller.tick,
                "keys": {n: {"value": k.value, "live": k.live} for n, k in found.items()}}

    def _set(self, request: Request) -> ParamPending | Outcome:
        changes = request.args.get("changes")
        if not isinstance(changes, dict) or not changes:
            raise P.ProtocolError("bad_args", "'changes' must be a non-empty object of "
                                              "key: value")
        try:
            change = self.live.propose(changes)
        except ConfigError as err:
            return Outcome({}, _error(err))
        return ParamPending(self.live.submit(change), request)


def attach(control) -> ParamOps:
    """Register the parameter operations on ``control`` (a ``LoopControl``)."""
    ops = ParamOps(control.controller)
    ops.live.keys()  # listing every key takes ~0.5 ms: before the first tick, not in one
    for op in ops.operations():
        control.server.register(op)
    return ops
