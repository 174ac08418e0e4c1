"""The plan phase of one ``joints`` command space: its behaviors, their schedule, and
their arbitration.

A :class:`SpacePlan` holds the behaviors a config assigns to one joints space
(``space = "NAME"``, or their class's ``command_space``) with arrays of their own,
allocated once: a schedule (divisors, enable mask, staggered phases) apart from the
base's, so adding a space never moves the base's behaviors; proposals of
``max(OUT_LEN, n)`` columns for a space of ``n`` joints; and :attr:`out`, the
arbitrated proposal (:func:`robo_orch.core.arbitrate_joints.arbitrate_joints`).
The controller hands :attr:`out` to the space's
:class:`~robo_orch.runtime.joints.JointSpace` (safety kernel and publisher) in the
act phase, or holds the joints when :attr:`winner` is -1.  Behavior services
(:meth:`~robo_orch.behavior.Behavior.make_service`) and the state reset on a new
path (``reset_on_new_path``) work as for the base's behaviors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robo_orch.core import schedule as sched
from robo_orch.core import world as W
from robo_orch.core.arbitrate_joints import arbitrate_joints
from robo_orch.core.direct import contiguous, direct, require_contiguous

_schedule = direct(sched.schedule)
_arbitrate = direct(arbitrate_joints)


class SpacePlan:
    """One joints space's behaviors (``specs``, in descending priority) and arrays."""

    def __init__(self, name: str, n_joints: int, specs: Sequence, config, world: W.World, *,
                 deterministic: bool = False) -> None:
        layout = config.layout
        self.name = name
        self.n_joints = n_joints
        self.specs = list(specs)
        n = len(self.specs)
        self.names = [b.name for b in self.specs]
        self.params = [b.cls.pack_params(b.params) for b in self.specs]
        self.states = [b.cls.new_state(b.params) for b in self.specs]
        self.idx = [layout.idx[b.name] if layout is not None else np.zeros(0, dtype=np.int64)
                    for b in self.specs]
        kernels = [b.cls.kernel for b in self.specs]
        self._calls = [direct(k) if contiguous(ix, 1) and contiguous(p, 1) and contiguous(st, 1)
                       else k for k, ix, p, st in zip(kernels, self.idx, self.params,
                                                      self.states, strict=True)]
        self.divisors = np.array([b.divisor for b in self.specs], dtype=np.int64)
        self.enabled = np.array([b.enabled for b in self.specs], dtype=np.uint8)
        self.was_enabled = self.enabled.copy()
        self.last_run = np.zeros(n, dtype=np.int64)
        self.due = np.zeros(n, dtype=np.int64)
        self.reset = np.zeros(n, dtype=np.uint8)
        self.priorities = np.array([b.priority for b in self.specs], dtype=np.int64)
        self.blendable = np.array([b.blendable for b in self.specs], dtype=np.uint8)
        self.activations = np.zeros(n, dtype=np.float64)
        self.proposals = np.zeros((n, max(W.OUT_LEN, n_joints)), dtype=np.float64)
        self._rows = [self.proposals[i] for i in range(n)]
        #: the arbitrated proposal: out[j] for joint j (valid while winner >= 0)
        self.out = np.zeros(n_joints, dtype=np.float64)
        self.winner = -1
        self.services = []
        for i, b in enumerate(self.specs):
            svc = b.cls.make_service(b.params, config, world, deterministic=deterministic)
            if svc is not None:
                self.services.append((i, svc))
        self._path_resets = [i for i, b in enumerate(self.specs) if b.cls.reset_on_new_path]
        self._state = world.state
        self._path_version = float(world.state[W.PATH_VERSION])
        sched.stagger(self.divisors, self.last_run)
        require_contiguous(
            divisors=(self.divisors, 1), enabled=(self.enabled, 1),
            was_enabled=(self.was_enabled, 1), last_run=(self.last_run, 1), due=(self.due, 1),
            reset=(self.reset, 1), priorities=(self.priorities, 1),
            blendable=(self.blendable, 1), activations=(self.activations, 1),
            proposals=(self.proposals, 2), out=(self.out, 1))

    def plan(self, tick: int, arrays: tuple) -> int:
        """Run the due behaviors and arbitrate; the winner (-1: none, hold)."""
        for i, svc in self.services:
            if self.enabled[i]:
                svc.service(tick)
        version = self._state[W.PATH_VERSION]
        if version != self._path_version:  # a new path: their progress referred to the old
            self._path_version = float(version)
            for i in self._path_resets:
                self.states[i].fill(0.0)
        n_due = _schedule(tick, self.divisors, self.enabled, self.was_enabled, self.last_run,
                          self.due, self.reset)
        calls, idx, params, states, rows, acts = (self._calls, self.idx, self.params,
                                                  self.states, self._rows, self.activations)
        for j in range(n_due):
            i = self.due[j]
            if self.reset[i]:
                states[i].fill(0.0)
            acts[i] = calls[i](arrays, idx[i], params[i], states[i], rows[i])
        self.winner = _arbitrate(self.proposals, acts, self.enabled, self.priorities,
                                 self.blendable, self.out)
        return self.winner

    def set_enabled(self, i: int, enabled: bool) -> None:
        """Enable or disable behavior ``i`` (re-enabling resets its state)."""
        self.enabled[i] = 1 if enabled else 0
        if not enabled:
            self.activations[i] = 0.0


def space_plans(config, specs: Sequence, world: W.World, *,
                deterministic: bool = False) -> dict[str, SpacePlan]:
    """A :class:`SpacePlan` per joints space of ``config`` that has behaviors (``specs``:
    the config's behaviors in descending priority)."""
    out = {}
    for name, space in getattr(config, "commands", {}).items():
        mine = [b for b in specs if getattr(b, "space", "base") == name]
        if mine and space.kind == "joints":
            out[name] = SpacePlan(name, len(space.joints), mine, config, world,
                                  deterministic=deterministic)
    return out
