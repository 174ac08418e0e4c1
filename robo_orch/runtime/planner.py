"""The plan phase: schedule due behaviors, run their kernels, arbitrate, apply safety.

Everything here is preallocated at construction; :meth:`Planner.plan` is a short,
fixed sequence of compiled calls (``schedule``, each due behavior's kernel,
``arbitrate``, ``safety``) glued by a few lines of Python that create no objects.
Behaviors are held in descending priority order, so the schedule's ascending
index order is also priority order.

The planner's own arrays (``names``, ``proposals``...) are the base's behaviors;
the behaviors of each ``joints`` command space are planned after the base's by a
:class:`~robo_orch.runtime.space_plan.SpacePlan` of their own (:attr:`Planner.spaces`),
whose arbitrated proposal the controller hands to the space's safety kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from robo_orch.config import BehaviorSpec, Config
from robo_orch.core import arbitrate as arb
from robo_orch.core import safety_steps as saf  # (flags and limits; no kernel compiled)
from robo_orch.core import schedule as sched
from robo_orch.core import world as W
from robo_orch.core.direct import contiguous, direct, require_contiguous
from robo_orch.kinematics import kinematics_for

if TYPE_CHECKING:
    from robo_orch.runtime.space_plan import SpacePlan

# every tick's scheduling, arbitration and safety kernels, past the dispatcher
# (robo_orch.core.direct): their arrays are the Planner's own and the world's
_schedule = direct(sched.schedule)
_arbitrate = direct(arb.arbitrate)
_tally_flags = direct(saf.tally_flags)


class Planner:
    """The compiled planning core with its arrays and the configured behaviors."""

    def __init__(self, config: Config, world: W.World, *, deterministic: bool = False) -> None:
        self.world = world
        ordered: list[BehaviorSpec] = sorted(config.behaviors, key=lambda b: -b.priority)
        specs = [b for b in ordered if getattr(b, "space", "base") == "base"]
        self.specs = specs
        #: the joints spaces' behaviors, planned after the base's, by space name
        self.spaces: dict[str, SpacePlan] = {}
        if getattr(config, "commands", None) and config.joint_spaces:
            # (imported only then: the import compiles the joints' arbitration)
            from robo_orch.runtime.space_plan import space_plans

            self.spaces = space_plans(config, ordered, world, deterministic=deterministic)
        self._space_list = list(self.spaces.values())
        n = len(specs)
        self.names = [b.name for b in specs]
        self.kernels = [b.cls.kernel for b in specs]
        self.params = [b.cls.pack_params(b.params) for b in specs]
        self.states = [b.cls.new_state(b.params) for b in specs]
        # each behavior's index array (robo_orch.config.layout); the world was made for it
        layout = config.layout
        if layout is not None:
            layout.check_world(world)
        self.idx = [layout.idx[b.name] if layout is not None else np.zeros(0, dtype=np.int64)
                    for b in specs]
        #: merged user names reset at the start of every plan phase: (view, value)
        self._resets = layout.resets(world) if layout is not None else []
        self.divisors = np.array([b.divisor for b in specs], dtype=np.int64)
        self.enabled = np.array([b.enabled for b in specs], dtype=np.uint8)
        self.was_enabled = np.zeros(n, dtype=np.uint8)
        self.last_run = np.zeros(n, dtype=np.int64)
        self.due = np.zeros(n, dtype=np.int64)
        self.reset = np.zeros(n, dtype=np.uint8)
        self.priorities = np.array([b.priority for b in specs], dtype=np.int64)
        self.blendable = np.array([b.blendable for b in specs], dtype=np.uint8)
        self.activations = np.zeros(n, dtype=np.float64)
        self.proposals = np.zeros((n, W.OUT_LEN), dtype=np.float64)
        self._rows = [self.proposals[i] for i in range(n)]
        # the behavior kernels as plan() calls them: past the dispatcher when compiled
        # eagerly and their own arrays are contiguous (robo_orch.core.direct)
        self._calls = [direct(k) if contiguous(ix, 1) and contiguous(p, 1) and contiguous(st, 1)
                       else k for k, ix, p, st in zip(self.kernels, self.idx, self.params,
                                                      self.states, strict=True)]
        kin = kinematics_for(config.robot)
        #: the base commands a lateral speed: arb_out[4] is vy, cmd is (vx, vy, w)
        self.lateral = kin.lateral
        self.arb_out = np.zeros(5 if kin.lateral else 4, dtype=np.float64)
        self.limits = kin.pack_limits(config.safety)
        self.mem = np.zeros(kin.mem_size(world.scan.shape[0]), dtype=np.float64)
        self.cmd = np.zeros(kin.command_len, dtype=np.float64)
        self._safety = direct(kin.safety_kernel())
        self.flags = 0
        #: ticks on which each safety flag was set (saf.FLAG_NAMES order)
        self.flag_counts = np.zeros(len(saf.FLAG_NAMES), dtype=np.int64)
        self.ticks = 0
        self.winner = -1
        # Python-level companions (see robo_orch.behavior.BehaviorService), with the
        # behaviors whose state a new path resets
        self.services = []
        for i, b in enumerate(specs):
            svc = b.cls.make_service(b.params, config, world, deterministic=deterministic)
            if svc is not None:
                self.services.append((i, svc))
        self._path_resets = [i for i, b in enumerate(specs) if b.cls.reset_on_new_path]
        self._path_version = float(world.state[W.PATH_VERSION])
        sched.stagger(self.divisors, self.last_run)
        # enabled from the start: their state is fresh, so they keep the staggered phase
        self.was_enabled[:] = self.enabled
        require_contiguous(
            divisors=(self.divisors, 1), enabled=(self.enabled, 1),
            was_enabled=(self.was_enabled, 1), last_run=(self.last_run, 1), due=(self.due, 1),
            reset=(self.reset, 1), priorities=(self.priorities, 1),
            blendable=(self.blendable, 1), activations=(self.activations, 1),
            proposals=(self.proposals, 2), arb_out=(self.arb_out, 1), limits=(self.limits, 1),
            mem=(self.mem, 1), cmd=(self.cmd, 1), flag_counts=(self.flag_counts, 1),
            state=(world.state, 1), scan=(world.scan, 2), field=(world.field, 2),
            path=(world.path, 2), user=(world.user, 1))

    def plan(self, tick: int) -> None:
        """Run one planning step; the command ends up in :attr:`cmd`."""
        arrays = self.world.arrays
        if self._resets:
            for view, value in self._resets:
                view.fill(value)
        if self.services:
            self._run_services(tick)
        n_due = _schedule(tick, self.divisors, self.enabled, self.was_enabled, self.last_run,
                          self.due, self.reset)
        kernels, idx, params, states, rows, acts = (self._calls, self.idx, self.params,
                                                    self.states, self._rows, self.activations)
        for j in range(n_due):
            i = self.due[j]
            if self.reset[i]:
                states[i].fill(0.0)
            acts[i] = kernels[i](arrays, idx[i], params[i], states[i], rows[i])
        self.winner = _arbitrate(self.proposals, acts, self.enabled, self.priorities,
                                 self.blendable, self.arb_out)
        a = self.arb_out
        if self.lateral:  # (vx, vy, w)
            self.flags = self._safety(self.world.state, self.world.scan, self.limits, a[0],
                                      a[4], a[1], self.mem, self.cmd)
        else:
            self.flags = self._safety(self.world.state, self.world.scan, self.limits, a[0],
                                      a[1], self.mem, self.cmd)
        _tally_flags(self.flags, self.flag_counts)
        for space in self._space_list:
            space.plan(tick, arrays)
        self.ticks += 1

    def _run_services(self, tick: int) -> None:
        for i, svc in self.services:
            if self.enabled[i]:
                svc.service(tick)
        version = self.world.state[W.PATH_VERSION]
        if version != self._path_version:
            self._path_version = float(version)
            for i in self._path_resets:
                self.states[i].fill(0.0)

    def safety_counters(self) -> dict[str, int]:
        """Ticks planned and, per safety flag, the ticks it was set on (JSON-ready)."""
        out = {"ticks": self.ticks}
        out.update({name: int(n) for name, n in zip(saf.FLAG_NAMES, self.flag_counts,
                                                     strict=True)})
        return out

    def failure_reason(self) -> str:
        """The first service's reason for ending the mission ('' if none gave one)."""
        return next((svc.reason for _, svc in self.services if svc.reason), "")

    def params_of(self, name: str) -> np.ndarray:
        """The packed parameter array of a behavior (of the base or of a joints space)."""
        if name in self.names:
            return self.params[self.names.index(name)]
        for space in self._space_list:
            if name in space.names:
                return space.params[space.names.index(name)]
        raise KeyError(name)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a behavior by name (re-enabling resets its state)."""
        for space in self._space_list:
            if name in space.names:
                space.set_enabled(space.names.index(name), enabled)
                return
        self.enabled[self.names.index(name)] = 1 if enabled else 0
        if not enabled:
            self.activations[self.names.index(name)] = 0.0
