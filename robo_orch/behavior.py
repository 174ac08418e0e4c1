"""The behavior seam: what a behavior module provides to the planning core.

A behavior is a Python class (registered by name) wrapping one compiled kernel::

    step(world, idx, params, state, out) -> activation

compiled eagerly with :func:`robo_orch.core.world.kernel_signature` (permanent: it
never changes with the config, so numba's cache serves every config).

* ``world``  the tuple ``(state, scan, field, path, user)`` of world arrays (see
  :mod:`robo_orch.core.world`)
* ``idx``    int64 array: where this behavior's own declared names live (below)
* ``params`` float64 array packed from the behavior's validated parameter class
* ``state``  float64 array of ``state_size`` values that persists between runs
  (zeroed when the behavior is enabled or re-enabled)
* ``out``    float64[OUT_LEN]: the kernel writes its proposal (``OUT_V``, ``OUT_W``)
* returns its activation: 0 means "no proposal", up to 1 means "I want control"

Kernels do no I/O, allocate nothing and read parameters only from ``params``
(numba freezes module globals, so a global would ignore ``--set`` on a cache hit).

**Declarations.**  A behavior declares by name what it uses of the world, and the
config's layout (:mod:`robo_orch.config.layout`) places and checks it at load:

* ``reads`` / ``writes``: built-in state slots (the lower-case names of the
  constants of :mod:`robo_orch.core.world`: ``"x"``, ``"target_x"``,
  ``"nav_status"``), built-in arrays (``"scan"``, ``"field"``, ``"path"``) and user
  names (its own or another behavior's);
* ``scalars``: its own user scalars, placed in ``state`` after the built-in slots;
* ``arrays``: its own user arrays, name -> length (an int, or the name of an int
  parameter, restart-only), placed in the flat ``user`` buffer;
* ``merge``: for a name it writes together with other behaviors, the rule every
  writer declares (``"max"``, ``"min"``, ``"sum"``, ``"latch"``).

Built-in kernels index built-in slots by their constants (fixed indices).  A
user name's index is read only from ``idx`` (a module global would be frozen into
the cached kernel and point at the wrong slot under another config): ``idx[k]`` is
the index of the k-th name of :func:`robo_orch.config.layout.index_names` (its
scalars, its arrays, then the other user names it reads or writes, in
declaration order).  A scalar is ``state[idx[k]]``; an array is
``user[idx[k] : idx[k] + n]`` with ``n = int(user[idx[k] - 1])`` (the layout writes
each array's length in the slot before it).  Every read needs a provider, each
name one writer (or the same merge rule in every writer), and unknown names are
refused with a did-you-mean; :func:`robo_orch.testing.check_behavior` checks a
behavior against all of this.
**Command spaces.**  A behavior proposes for one command space: the base (the
default, ``command_space = "base"``) or a ``joints`` space (``[commands.NAME]``, see
:mod:`robo_orch.config.commands`).  A joints behavior sets ``command_space`` to the
name of the space it expects (a config may name another with ``space = "..."``);
its ``out`` row has ``max(OUT_LEN, n)`` values for a space of ``n`` joints, and
``out[j]`` is joint ``j``'s target position (position mode) or velocity (velocity
mode).  It may declare ``joints`` (the names it drives, which must be the space's,
in order) and ``joint_mode``; both are checked at load.  Each space arbitrates its
own behaviors (priorities and blending as for the base) and runs its own safety
kernel.

The Python side owns validation: ``Params`` is a dataclass declared with
:func:`robo_orch.schema.option` fields, all numeric or boolean, and
:meth:`Behavior.pack_params` turns it into the array in field order.

A behavior that needs Python-level resources beside its kernel (a planning
grid, a worker thread) returns a :class:`BehaviorService` from
:meth:`Behavior.make_service`; the planner calls its :meth:`~BehaviorService.service`
at the start of every plan phase, before any kernel runs, while the behavior
is enabled.  A service may replace ``world.path``; it then increments
``state[PATH_VERSION]``, and the planner zeroes the state of every behavior
whose class keeps ``reset_on_new_path`` true (their progress referred to the
old path's rows).
"""

from __future__ import annotations

import dataclasses
from abc import ABC
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from robo_orch import schema

if TYPE_CHECKING:
    from robo_orch.config import Config
    from robo_orch.core.world import World


class BehaviorService:
    """Optional Python-level companion of a behavior, run by the planner between ticks.

    ``service`` must be short and must not block: slow work belongs on a worker
    thread whose result is handed over on a later call.
    """

    #: why this service ended the mission ('' while it has not); shown as the end reason
    reason: str = ""

    def service(self, tick: int) -> None:  # noqa: B027 (optional hook)
        """Called at the start of the plan phase of every tick."""


class Behavior(schema.KernelPlugin, ABC):
    """Base class of every behavior; subclasses set the class attributes below."""

    # Params, state_size and the layout declarations (reads, writes, scalars, arrays,
    # merge) are robo_orch.schema.KernelPlugin's, shared with the other kind of plugin

    #: registry name, as written in config (``kind = "go_to_goal"``)
    kind: ClassVar[str]
    #: the compiled kernel, ``step(world, idx, params, state, out) -> activation``
    kernel: ClassVar[Callable[..., float]]
    #: may this behavior's proposal be blended with other blendable ones?
    blendable: ClassVar[bool] = False
    #: zero the state when a new path is loaded (``state[PATH_VERSION]`` changes)?
    reset_on_new_path: ClassVar[bool] = True
    #: the command space it proposes for: ``"base"`` (the base's velocity, ``out[OUT_V]``,
    #: ``out[OUT_W]``...) or, for a joints behavior, the ``[commands.NAME]`` space it
    #: expects by default (a config's ``space = "..."`` names another one)
    command_space: ClassVar[str] = "base"
    #: a joints behavior: the joints its ``out[j]`` drives, in the space's order (the
    #: space must have exactly these); ``()``: any joints (``out[j]`` is joint ``j``)
    joints: ClassVar[tuple[str, ...]] = ()
    #: a joints behavior: the space mode its proposals are for (``"position"``: targets,
    #: ``"velocity"``: velocities); None: either
    joint_mode: ClassVar[str | None] = None

    @classmethod
    def make_service(cls, params: Any, config: Config, world: World, *,
                     deterministic: bool = False) -> BehaviorService | None:
        """The behavior's :class:`BehaviorService`, or None (the default) if it needs none.

        ``deterministic`` asks for results that do not depend on wall-clock timing
        (lockstep simulation): hand-overs from worker threads happen on fixed ticks.
        """
        return None


def param_index(params: type) -> dict[str, int]:
    """Field name -> index in the packed parameter array of a ``Params`` dataclass."""
    return {f.name: i for i, f in enumerate(dataclasses.fields(params))}
