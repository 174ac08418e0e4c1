"""Live parameter changes applied to a running controller, between ticks, atomically.

A change is validated first (:func:`robo_orch.config.live.propose` or
:func:`~robo_orch.config.live.from_file`: the schema, the cross-field checks, the
live marks), then handed to :meth:`LiveParams.submit`, from the loop's thread
(the control endpoint) or another one (the ``--watch`` file watcher).  The
controller calls :meth:`LiveParams.apply_pending` at the start of each tick,
after the previous tick's command went out and its records were made, before
anything of the new tick runs: every change waiting then is applied there, each
one whole (all its keys), so no tick ever sees half a change or a change in the
middle.  Applying is copying: the new values go into the planner's existing
parameter and limit arrays (same shapes: restart-only keys are the ones that
would resize anything), the enable mask is set as ``Planner.set_enabled`` does
(re-enabling resets the behavior's state), and the controller's ``config``
becomes the new one.  Nothing is compiled or allocated beyond the change itself.

Each applied change gets the tick it took effect at (:attr:`Ticket.tick`), and
every listener (:attr:`LiveParams.listeners`: a recorder) is told, with that tick.
A change validated against a config that another change has replaced since is
validated again on the current one when it is applied (cheap), so concurrent
changes never undo each other.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from robo_orch.config import Config
from robo_orch.config import live as L
from robo_orch.errors import ConfigError


@dataclass
class Ticket:
    """One submitted change and what became of it."""

    change: L.LiveChange
    base: Config  #: the config it was validated against
    submitted_tick: int = -1  #: the tick in progress (or last completed) when submitted
    submitted_plans: int = 0  #: ticks planned so far when submitted
    tick: int = -1  #: the tick it took effect at (-1: not yet, or refused)
    #: ticks the loop ran between the submission and the change (1: the next tick ran with
    #: it; tick indices can jump further when an overrun skips slots)
    ticks_waited: int = -1
    error: ConfigError | None = None  #: refused when applied (validated again)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def changes(self) -> dict[str, Any]:
        """What the change set (key -> value)."""
        return self.change.changes


class LiveParams:
    """The live parameters of one controller: validation against its current config,
    submission from any thread, application between ticks."""

    def __init__(self, controller) -> None:
        self.controller = controller
        self._keys: dict[str, L.Key] | None = None
        self._queue: deque[Ticket] = deque()
        #: ``listener(tick, now_ns, change)`` for every applied change (loop thread)
        self.listeners: list[Callable[[int, int, L.LiveChange], None]] = []
        self.applied = 0  #: changes applied
        self.refused = 0  #: changes refused when applied (validated again)
        self.last_tick = -1  #: the tick the last change took effect at

    @property
    def config(self) -> Config:
        """The config the loop runs now."""
        return self.controller.config

    def keys(self) -> dict[str, L.Key]:
        """Every key of the running config with its value and mark (kept up to date)."""
        if self._keys is None:
            self._keys = L.flatten(self.controller.config)
        return self._keys

    def propose(self, changes: Mapping[str, Any], source: str = L.SET_SOURCE) -> L.LiveChange:
        """Validate ``changes`` against the running config (loop thread); raises ConfigError."""
        return L.propose(self.controller.config, changes, source=source, keys=self.keys())

    def submit(self, change: L.LiveChange, base: Config | None = None) -> Ticket:
        """Queue ``change`` (validated against ``base``, default the running config) for the
        next gap between ticks; safe from any thread."""
        ctl = self.controller
        ticket = Ticket(change, ctl.config if base is None else base, ctl.tick,
                        ctl.planner.ticks)
        self._queue.append(ticket)
        return ticket

    @property
    def pending(self) -> int:
        """Changes waiting for the next gap between ticks."""
        return len(self._queue)

    def apply_pending(self, tick: int, now_ns: int) -> None:
        """Apply every waiting change before ``tick`` runs (the controller's ``pre_tick``)."""
        queue = self._queue
        while queue:
            ticket = queue.popleft()
            change = ticket.change
            if ticket.base is not self.controller.config and change.changes:
                try:  # another change came first: validate this one on top of it
                    change = ticket.change = L.propose(
                        self.controller.config, change.changes, source=change.source,
                        keys=self.keys())
                except ConfigError as err:
                    ticket.error = err
                    self.refused += 1
                    ticket.done.set()
                    continue
            self._apply(change)
            ticket.tick = self.last_tick = tick
            ticket.ticks_waited = self.controller.planner.ticks - ticket.submitted_plans
            self.applied += 1
            for listener in self.listeners:
                listener(tick, now_ns, change)
            ticket.done.set()

    def _apply(self, change: L.LiveChange) -> None:
        ctl = self.controller
        planner = ctl.planner
        for name, values in change.params.items():
            planner.params_of(name)[:] = values
        if change.limits is not None:
            planner.limits[:] = change.limits
        for name, enabled in change.enabled.items():
            planner.set_enabled(name, enabled)
        ctl.config = change.config
        if self._keys is not None:
            for key, value in change.changes.items():
                self._keys[key] = L.Key(value, True)

    def health(self) -> dict[str, Any]:
        """Changes applied and refused, the last one's tick, changes waiting (JSON-ready)."""
        return {"applied": self.applied, "refused": self.refused, "last_tick": self.last_tick,
                "pending": self.pending}
