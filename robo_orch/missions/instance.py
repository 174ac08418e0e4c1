"""What the warm-worker runner passes between processes: an :class:`Instance` to run and
the :class:`Outcome` that comes back.  Both are small picklable records (a Dask
cluster can carry them too); :mod:`robo_orch.missions.runner` and
:mod:`robo_orch.missions.worker` share them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Instance:
    """One run to do.  Small and picklable: it crosses to a worker process.

    ``config``: a file path, a shipped scenario's name, a loaded ``Config``, or None
    (the demo).  ``seed`` seeds every noise source and, with ``layout_from_seed``,
    the obstacle layout (``sim.seed``).  ``job`` names what the worker does
    (:data:`~robo_orch.missions.worker.JOBS`, or ``"module:function"``), ``args`` its
    own arguments; ``key`` is the caller's label, handed back untouched.
    """

    config: Any = None
    seed: int = 1
    overrides: tuple[str, ...] = ()
    job: str = "mission"
    args: Any = None
    key: Any = None
    layout_from_seed: bool = True
    #: expected cost (any unit): larger ones are dispatched first
    cost: float = 0.0
    #: the runner's own number for the instance (set by :meth:`Runner.run`)
    tag: int = -1


@dataclass
class Outcome:
    """What came back from one instance: its job's value, or the error it raised."""

    instance: Instance
    value: Any = None
    #: ``"TypeName: message"`` and the traceback's last lines, None on success
    error: str | None = None
    wall_s: float = 0.0
    #: simulated seconds the job's missions covered
    sim_s: float = 0.0
    #: pid of the process that ran it
    worker: int = 0

    @property
    def ok(self) -> bool:
        """True when the job returned a value."""
        return self.error is None
