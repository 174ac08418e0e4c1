"""The runner on a Dask cluster: instances run on ``dask.distributed`` workers.

``Runner(backend=DaskBackend("tcp://scheduler:8786"))`` runs each
:class:`~robo_orch.missions.instance.Instance` with ``client.submit`` and yields the
outcomes with ``distributed.as_completed``; the caller (a sweep, a tuning study) stays
in this process.  The same seeds give bit-identical numbers on the cluster and
locally for the same build, the same library versions and the same CPU model, so:

* every worker reports its :func:`fingerprint` when the backend starts: a worker of
  another build (robo_orch's version and a hash of its sources), Python, numpy or
  numba is refused (:class:`ClusterMismatch`, exit 2), one with another CPU model is
  flagged (its numbers may differ in the last bits);
* a task also checks its worker's build before it runs, so a worker that joined
  later with another build reports an error instead of numbers.

Dask executes pickled code: a scheduler must only be reachable by trusted clients
(TLS with ``distributed.Security``, or SSH tunnels; README, "Tuning").
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import platform
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from robo_orch.errors import RoboOrchError, RoboOrchWarning, UsageError
from robo_orch.missions.instance import Instance, Outcome
from robo_orch.missions.runner import Backend

INSTALL_HINT = "--dask needs dask.distributed: pip install 'robo-orch[cluster]'"
#: fingerprint fields that must match for a worker to be used
MUST_MATCH = ("robo_orch", "build", "python", "numpy", "numba")
_SOURCES = ("robo_orch", "robo_orch.behaviors", "robo_orch.sim", "robo_orch.drivers")


class ClusterMismatch(RoboOrchError):
    """A worker runs another build or library version than this process."""

    exit_status = 2


@functools.lru_cache(maxsize=1)
def build_hash() -> str:
    """A hash of robo_orch's installed sources (paths and contents, not times), so two
    machines with the same build agree."""
    digest = hashlib.blake2b(digest_size=8)
    for name in _SOURCES:
        folder = Path(importlib.import_module(name).__file__).parent
        for path in sorted(folder.rglob("*.py")):
            if name == "robo_orch" and path.relative_to(folder).parts[0] in (
                    "behaviors", "sim", "drivers"):
                continue  # an installed wheel nests them: counted under their own name
            digest.update(f"{name}/{path.relative_to(folder).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's word elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def fingerprint() -> dict[str, str]:
    """What decides whether this process computes the same bits as another."""
    import numba
    import numpy

    from robo_orch import __version__

    return {"robo_orch": __version__, "build": build_hash(),
            "python": platform.python_version(), "numpy": numpy.__version__,
            "numba": numba.__version__, "cpu": cpu_model()}


def compare(local: dict[str, str], workers: dict[str, dict[str, str]],
            ) -> tuple[list[str], list[str]]:
    """(refusals, flags): one line per worker whose fingerprint differs from ``local``."""
    refuse, flag = [], []
    for address, fp in sorted(workers.items()):
        bad = [f"{k} {fp.get(k)} (here {local[k]})" for k in MUST_MATCH if fp.get(k) != local[k]]
        if bad:
            refuse.append(f"{address}: {', '.join(bad)}")
        elif fp.get("cpu") != local["cpu"]:
            flag.append(f"{address}: CPU {fp.get('cpu')!r} (here {local['cpu']!r})")
    return refuse, flag


def checked_execute(instance: Instance, expected: dict[str, str]) -> Outcome:
    """A cluster task: run the instance if this worker's build matches ``expected``."""
    from robo_orch.missions import worker

    mine = fingerprint()
    bad = [k for k in MUST_MATCH if mine.get(k) != expected.get(k)]
    if bad:
        return Outcome(instance=instance, error="ClusterMismatch: this worker's "
                       + ", ".join(f"{k} {mine.get(k)} (client {expected.get(k)})" for k in bad))
    return worker.execute(instance)


class DaskBackend(Backend):
    """Runs instances on a Dask cluster; :attr:`slots` is its worker threads."""

    def __init__(self, address: str | None = None, *, client: Any = None,
                 stream: TextIO | None = None, timeout_s: float = 20.0) -> None:
        """Connect to the scheduler at ``address`` (or use ``client``); check the workers."""
        try:
            import distributed
        except ImportError:
            raise UsageError(INSTALL_HINT) from None
        self._own = client is None
        if client is None:
            try:
                client = distributed.Client(address, timeout=timeout_s)
            except (OSError, TimeoutError, ValueError) as err:
                raise UsageError(f"--dask {address}: cannot reach the scheduler: {err}") from None
        self.client, self.distributed = client, distributed
        self.local = fingerprint()
        workers = client.run(fingerprint)
        if not workers:
            self.close()
            raise UsageError(f"--dask {address}: the cluster has no workers")
        refuse, flag = compare(self.local, workers)
        if refuse:
            self.close()
            raise ClusterMismatch("workers of another build would not give the same numbers: "
                                  + "; ".join(refuse))
        for line in flag:
            warnings.warn(f"dask worker {line}: its numbers may differ in the last bits",
                          RoboOrchWarning, stacklevel=2)
        info = client.scheduler_info()["workers"]
        self.slots = sum(int(w.get("nthreads", 1)) for w in info.values()) or 1
        if stream is not None:
            print(f"dask: {len(workers)} workers, {self.slots} threads, build "
                  f"{self.local['build']}", file=stream)

    def outcomes(self, instances: list[Instance]) -> Iterator[Outcome]:
        submit = self.client.submit
        futures = {submit(checked_execute, inst, self.local, pure=False,
                          priority=len(instances) - n): inst
                   for n, inst in enumerate(instances)}
        try:
            for fut in self.distributed.as_completed(list(futures)):
                try:
                    yield fut.result()
                except Exception as err:  # the worker died or the task was lost
                    yield Outcome(instance=futures[fut], error=f"{type(err).__name__} on the "
                                  f"cluster: {err}")
        finally:  # left early (Ctrl-C, pruned): drop what has not run yet
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        if self._own and self.client is not None:
            self.client.close()
        self.client = None


__all__ = ["ClusterMismatch", "DaskBackend", "build_hash", "checked_execute", "compare",
           "cpu_model", "fingerprint"]
