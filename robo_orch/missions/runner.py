"""The warm-worker lockstep runner: many simulated missions on a pool of live workers.

``scenarios``, ``faults`` (and the sweeps and tuning built on them) describe each
run as an :class:`Instance` (config, overrides, seed, the job and its arguments)
and hand them to a :class:`Runner`; results come back as :class:`Outcome` records,
in the order they complete::

    with Runner(jobs=2) as runner:
        for outcome in runner.run(instances, progress=ProgressLine(sys.stderr, "sweep")):
            ...

* ``jobs=1`` runs every instance in this process; ``jobs=J`` starts ``J - 1`` worker
  processes once (spawned clean, tied to this process by :mod:`robo_orch.lifeline`
  so they die with it), runs instances in this process too, and keeps the workers
  for every later :meth:`Runner.run`: their kernels stay loaded and their caches
  warm (:mod:`robo_orch.missions.worker`).
* An exception in one instance is reported in its outcome (``error``), never
  raised here; a worker process that dies is replaced and only the instance it was
  running is reported failed.
* Instances are dispatched in descending ``cost`` (a hint: the longest first, so the
  pool does not end waiting for one long run).
* A run in a worker is bit-identical to ``robo-orch sim CONFIG --lockstep --seed S``
  (with ``--set sim.seed=S`` when the layout follows the seed).

Another backend needs only :meth:`Backend.outcomes`; the Dask cluster's
(:class:`robo_orch.missions.cluster.DaskBackend`) is ``client.submit(execute, instance)``
and ``distributed.as_completed``:
:func:`~robo_orch.missions.worker.execute` is a plain importable function, and
instances and outcomes are small picklable records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import multiprocessing.connection as mp_connection
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from robo_orch.missions import worker
from robo_orch.missions.instance import Instance, Outcome

#: the GIL switch interval while this process runs instances beside worker processes, s
DISPATCH_SWITCH_S = 0.0002


@dataclass
class RunStats:
    """Counts and throughput of one :meth:`Runner.run` so far."""

    total: int = 0
    done: int = 0
    failed: int = 0
    sim_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        """Wall time since the run began, s."""
        return time.perf_counter() - self.started

    @property
    def throughput(self) -> float:
        """Aggregate simulated seconds per wall second."""
        wall = self.elapsed_s
        return self.sim_s / wall if wall > 0 else 0.0

    def eta_s(self) -> float:
        """Estimated wall time to the end, s (nan before the first result)."""
        if not self.done:
            return math.nan
        return self.elapsed_s * (self.total - self.done) / self.done


class ProgressLine:
    """One status line on ``stream``: rewritten on a terminal, every few seconds in a log."""

    def __init__(self, stream: TextIO | None, what: str = "runner", noun: str = "runs",
                 describe: Callable[[Outcome], str] | None = None,
                 failed: Callable[[Outcome], bool] | None = None) -> None:
        """``describe(outcome)``: the "last:" text; ``failed(outcome)``: whether it counts
        as failed (default: its job raised)."""
        self.stream, self.what, self.noun, self.describe = stream, what, noun, describe
        self.is_failed = failed or (lambda o: not o.ok)
        self.failed = 0
        self.tty = stream is not None and stream.isatty()
        self._last = -math.inf

    def __call__(self, outcome: Outcome, stats: RunStats) -> None:
        self.failed += bool(self.is_failed(outcome))
        now = time.perf_counter()
        end = stats.done == stats.total
        if self.stream is None or (not self.tty and now - self._last < 5.0 and not end):
            return
        self._last = now
        eta = stats.eta_s()
        text = (f"{self.what}: {stats.done}/{stats.total} {self.noun}, {self.failed} failed, "
                f"{stats.elapsed_s:.1f} s, {stats.throughput:.0f}x real time"
                + ("" if end or math.isnan(eta) else f", ETA {eta:.0f} s"))
        if self.describe is not None:
            text += f" (last: {self.describe(outcome)})"
        self.stream.write(("\r" + text + "\033[K") if self.tty else text + "\n")
        if self.tty and end:
            self.stream.write("\n")
        self.stream.flush()


class Backend:
    """Where instances run: :meth:`outcomes` yields one :class:`Outcome` per instance, in
    the order they complete (another backend, a Dask cluster, implements just that)."""

    def outcomes(self, instances: list[Instance]) -> Iterator[Outcome]:
        """Run ``instances`` (already in dispatch order); yield each outcome when done."""
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Stop the workers."""


class InProcess(Backend):
    """``jobs=1``: every instance runs in this process, one after the other."""

    def outcomes(self, instances: list[Instance]) -> Iterator[Outcome]:
        for inst in instances:
            yield worker.execute(inst)


class _Worker:
    """One worker process and the instance it is running."""

    def __init__(self, ctx: Any, attach: tuple) -> None:
        from robo_orch import lifeline

        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, *attach), daemon=True,
                                name="robo_orch-runner")
        lifeline.start_process(self.proc)  # forked by a thread that lives as long as we do
        child.close()
        self.busy: Instance | None = None

    def stop(self) -> None:
        """End the process: at once when it is running an instance, else when it has read
        the end of its work."""
        if self.busy is None:
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.proc.join(timeout=5.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class ProcessPool(Backend):
    """``jobs`` warm workers: this process and ``jobs - 1`` worker processes (spawned
    clean, tied to this process by the lifeline), each running one instance at a time.

    This process runs instances between handing results over, so ``jobs`` processes
    compute (and one fewer starts).  A worker process that dies is replaced; only the
    instance it was running is reported failed.  ``local=False``: ``jobs`` worker
    processes, this one only dispatches.
    """

    def __init__(self, jobs: int, *, local: bool = True) -> None:
        from robo_orch import lifeline

        opts = lifeline.pool_options()
        self._attach = (opts["initializer"], opts["initargs"])
        self._ctx = multiprocessing.get_context("spawn")  # no inherited sockets or threads
        self.local = local
        self.workers = [_Worker(self._ctx, self._attach) for _ in range(jobs - local)]
        if local:
            worker.preload()

    def outcomes(self, instances: list[Instance]) -> Iterator[Outcome]:
        todo = deque(instances)
        lock = threading.Lock()
        done: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        stop = threading.Event()
        remote = threading.Thread(target=self._dispatch, args=(todo, lock, done, stop),
                                  daemon=True, name="robo_orch-runner-dispatch")
        remote.start()
        left = len(instances)
        # The dispatch thread needs the GIL to hand a worker its next instance, and this
        # thread, running one itself, gives it up only every switch interval (5 ms by
        # default): a worker process waited ~8% of a warm suite for it
        switch = sys.getswitchinterval()
        if self.workers and self.local:
            sys.setswitchinterval(min(switch, DISPATCH_SWITCH_S))
        try:
            while left:
                while not done.empty():
                    left -= 1
                    yield done.get()
                if not left:
                    break
                inst = None
                if self.local:
                    with lock:
                        inst = todo.popleft() if todo else None
                left -= 1
                yield worker.execute(inst) if inst is not None else done.get()
        finally:  # left early (an error, Ctrl-C, the caller stopped): no stale results later
            stop.set()
            remote.join()
            sys.setswitchinterval(switch)
            for k, w in enumerate(self.workers):
                if w.busy is not None:
                    w.stop()
                    self.workers[k] = _Worker(self._ctx, self._attach)

    def _dispatch(self, todo: deque, lock: threading.Lock, done: queue.SimpleQueue,
                  stop: threading.Event) -> None:
        """The worker processes' side of :meth:`outcomes`, on a thread of its own."""
        while not stop.is_set():
            for w in self.workers:
                if w.busy is None:
                    with lock:
                        w.busy = todo.popleft() if todo else None
                    if w.busy is not None:
                        w.conn.send(w.busy)
            busy = [w.conn for w in self.workers if w.busy is not None]
            if not busy:
                return
            ready = mp_connection.wait(busy, timeout=0.1)
            for k, w in enumerate(self.workers):
                if w.conn not in ready:
                    continue
                try:
                    outcome = w.conn.recv()
                except (EOFError, OSError):
                    inst, w.busy = w.busy, None
                    w.stop()
                    self.workers[k] = _Worker(self._ctx, self._attach)
                    outcome = Outcome(instance=inst, error="worker process died running this "
                                      f"instance (exit code {w.proc.exitcode})")
                w.busy = None
                done.put(outcome)

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        self.workers = []


def _worker_main(conn: Any, attach: Callable[..., None], attach_args: tuple) -> None:
    """A worker process: run the instances that come down ``conn`` until None comes."""
    attach(*attach_args)  # die with the parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    worker.preload()
    while True:
        try:
            instance = conn.recv()
        except EOFError:
            return
        if instance is None:
            return
        conn.send(worker.execute(instance))


class Runner:
    """Runs instances on warm workers and yields their outcomes as they complete."""

    def __init__(self, jobs: int | None = 1, *, local: bool = True,
                 backend: Backend | None = None) -> None:
        """``jobs`` processes compute (None: one per CPU); ``local=False`` keeps this
        process out of the computing (``jobs`` worker processes); ``backend`` replaces
        the local processes (a cluster's)."""
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.local = local
        self._backend = backend

    @property
    def backend(self) -> Backend:
        """The backend, started on first use (worker processes when ``jobs > 1``)."""
        if self._backend is None:
            self._backend = InProcess() if self.jobs == 1 and self.local else \
                ProcessPool(self.jobs, local=self.local)
        return self._backend

    def start(self) -> Runner:
        """Start the workers now (they load their kernels while the caller prepares)."""
        _ = self.backend
        return self

    def run(self, instances: Iterable[Instance],
            progress: Callable[[Outcome, RunStats], None] | None = None,
            stats: RunStats | None = None) -> Iterator[Outcome]:
        """Run every instance; yield each :class:`Outcome` as it completes.

        ``progress(outcome, stats)`` is called after each; ``stats`` (a fresh
        :class:`RunStats` by default) is updated in place.  The outcome's
        ``instance`` is the caller's own object.
        """
        todo = sorted(instances, key=lambda i: -i.cost)  # stable: equal costs keep order
        mine = {id(inst): inst for inst in todo}
        order = [id(inst) for inst in todo]
        stats = stats if stats is not None else RunStats()
        stats.total += len(todo)
        tagged = [dataclasses.replace(inst, tag=n) for n, inst in enumerate(todo)]
        for outcome in self.backend.outcomes(tagged):
            outcome.instance = mine[order[outcome.instance.tag]]
            stats.done += 1
            stats.failed += not outcome.ok
            stats.sim_s += outcome.sim_s
            if progress is not None:
                progress(outcome, stats)
            yield outcome

    def map(self, instances: Iterable[Instance],
            progress: Callable[[Outcome, RunStats], None] | None = None) -> list[Outcome]:
        """Run every instance; the outcomes in the order of ``instances``."""
        todo = list(instances)
        index = {id(inst): k for k, inst in enumerate(todo)}
        out: list[Outcome | None] = [None] * len(todo)
        for outcome in self.run(todo, progress):
            out[index[id(outcome.instance)]] = outcome
        return out  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the workers (also on leaving a ``with`` block)."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe_error(outcome: Outcome) -> str:
    """The first line of an outcome's error ('' when it succeeded)."""
    return "" if outcome.error is None else outcome.error.splitlines()[0]


__all__ = ["Backend", "InProcess", "Instance", "Outcome", "ProcessPool", "ProgressLine",
           "RunStats", "Runner", "describe_error"]

