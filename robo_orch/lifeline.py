"""Child processes that die with their parent, even when the parent is SIGKILLed.

Parent side: start every long-lived child with :func:`popen` (a
``ProcessPoolExecutor`` takes :func:`pool_options`).  Child side: install the
stop path with :func:`on_terminate`, then call :func:`attach`, first thing.
When the parent dies the child gets SIGTERM, so it runs its normal stop path
(the motor driver commands zero); a child still alive ``grace_s`` after the
parent's death is killed.  Three mechanisms, because none is enough alone:

1. ``PR_SET_PDEATHSIG`` (Linux): the kernel sends SIGTERM when the parent dies.
   It follows the *thread* that forked the child, not the process, so
   :func:`popen` forks every child from one long-lived spawner thread (daemon,
   it ends only with the process): a driver restarted by the supervisor's watcher
   thread is not stopped when that thread ends.
2. It is armed in the child, after the fork and the interpreter's start-up: a
   parent that died before that is caught by comparing ``os.getppid()`` with the
   parent's pid, passed in ``ROBO_ORCH_LIFELINE``.
3. A pipe whose write end only the parent holds (it is not inheritable, a child
   gets only the read end through ``pass_fds``, and a fork of the parent closes
   its copy at once, so no sibling keeps it open): a daemon thread in the child
   reads it, and its end of file says the parent is gone, on any system.  It
   starts the ``grace_s`` count-down, and sends the SIGTERM itself where
   ``PR_SET_PDEATHSIG`` is not available (only one SIGTERM: a second one could
   arrive while the interpreter ends, when its default action kills).

The parent's log reader dies with it: before the SIGTERM, a child's stdout and
stderr that are pipes nobody reads any more are pointed at ``/dev/null``
(:func:`mute_broken_output`), so a last log line cannot turn a stop into a crash.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

#: ``<parent pid>:<read fd>``, set by :func:`popen`, read (and removed) by :func:`attach`
ENV = "ROBO_ORCH_LIFELINE"
#: after the parent's death and the SIGTERM, a child still alive this long is killed
GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1

_lock = threading.Lock()
_pipe: tuple[int, int] | None = None  # (read, write): this process's lifeline to its children
_jobs: queue.SimpleQueue | None = None
_spawner: threading.Thread | None = None
_pool_conn: Any = None


# --- parent side --------------------------------------------------------------------


def _read_end() -> int:
    global _pipe
    with _lock:
        if _pipe is None:
            _pipe = os.pipe()  # both ends non-inheritable: only pass_fds hands one out
        return _pipe[0]


def _on_spawner(fn, *args, **kwargs):
    """Run ``fn`` on the spawner thread, which lives as long as the process."""
    global _jobs, _spawner
    if threading.current_thread() is _spawner:
        return fn(*args, **kwargs)
    with _lock:
        if _spawner is None:
            _jobs = queue.SimpleQueue()
            _spawner = threading.Thread(target=_serve, args=(_jobs,), daemon=True,
                                        name="robo_orch-spawner")
            _spawner.start()
        jobs = _jobs
    done: Future = Future()
    jobs.put((done, fn, args, kwargs))
    return done.result()


def _serve(jobs: queue.SimpleQueue) -> None:
    while True:
        done, fn, args, kwargs = jobs.get()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as err:  # handed to the caller
            done.set_exception(err)


def popen(args: Sequence[str], *, env: dict[str, str] | None = None,
          pass_fds: Sequence[int] = (), **kwargs: Any) -> subprocess.Popen:
    """:class:`subprocess.Popen` for a child that dies with this process.

    Takes Popen's arguments (``close_fds`` stays True, no ``preexec_fn``).  The
    child must call :func:`attach`; until it does, it is not tied to this process.
    """
    if not kwargs.get("close_fds", True) or kwargs.get("preexec_fn") is not None:
        raise ValueError("lifeline.popen: close_fds=False would hand the lifeline's write end "
                         "to the child, and a preexec_fn closes its read end (at-fork handler)")
    read_fd = _read_end()
    env = dict(os.environ if env is None else env)
    env[ENV] = f"{os.getpid()}:{read_fd}"
    # children run ``python -m robo_orch...``, which puts the current directory first on
    # sys.path: in a source checkout they would import its robo_orch/ instead of the
    # installed package this process runs (Python 3.11+ honours this; for 3.10 see
    # robo_orch/__init__.py)
    env.setdefault("PYTHONSAFEPATH", "1")
    return _on_spawner(subprocess.Popen, args, env=env, pass_fds=(*pass_fds, read_fd),
                       **kwargs)


def start_process(process: Any) -> None:
    """Start a ``multiprocessing.Process`` from the spawner thread, so that the kernel's
    parent-death signal follows this process, not the thread that asked (the process
    must call :func:`attach` or take :func:`pool_options`' ``initializer``)."""
    _on_spawner(process.start)


def pool_options() -> dict[str, Any]:
    """``initializer`` and ``initargs`` for a ``ProcessPoolExecutor`` whose workers die with us.

    For the ``spawn`` and ``fork`` start methods (a ``forkserver`` would be the
    workers' parent).  Workers are started by the thread that submits work, so
    submit from a thread that outlives the pool (``with`` on the main thread).
    """
    from multiprocessing.connection import Connection

    global _pool_conn
    read_fd = _read_end()
    with _lock:
        if _pool_conn is None:  # the read end, picklable into a spawned worker
            _pool_conn = Connection(os.dup(read_fd), writable=False)
        return {"initializer": _attach_worker, "initargs": (os.getpid(), _pool_conn)}


def _attach_worker(parent_pid: int, conn) -> None:
    global _pool_conn
    _pool_conn = conn  # kept: collected, it would close the descriptor being watched
    _attach(parent_pid, conn.fileno(), GRACE_S)


def _after_fork_in_child() -> None:
    # a forked copy of a parent must not hold the lifeline's write end (nor use its
    # spawner, a thread that did not survive the fork): its children get a new one
    global _pipe, _jobs, _spawner, _pool_conn, _lock
    if _pipe is not None:
        for fd in _pipe:
            with contextlib.suppress(OSError):
                os.close(fd)
    _pipe = _jobs = _spawner = _pool_conn = None
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --- child side ---------------------------------------------------------------------


def attach(*, grace_s: float = GRACE_S) -> bool:
    """Tie this process to the parent that started it with :func:`popen`.

    Call it first thing (install the SIGTERM handler, the stop path, before it if
    the process has one).  When the parent dies, or is dead already, this process
    gets SIGTERM, and is killed ``grace_s`` later if still alive.  False (and
    nothing done) when this process was not started by :func:`popen`.
    """
    spec = os.environ.pop(ENV, None)  # not for our own children
    try:
        parent_s, fd_s = (spec or "").split(":")
        parent, fd = int(parent_s), int(fd_s)
    except ValueError:
        return False
    _attach(parent, fd, grace_s)
    return True


def _attach(parent: int, fd: int, grace_s: float) -> None:
    armed = _set_pdeathsig(signal.SIGTERM)
    if not _is_pipe(fd):
        fd = -1
    if os.getppid() != parent:  # it died before the kernel could tell us: act now
        _parent_gone(grace_s, terminate=True)
    elif fd >= 0:
        # with PR_SET_PDEATHSIG armed the kernel sends the SIGTERM: a second one could
        # arrive while the stop path ends the interpreter, whose default action kills
        threading.Thread(target=_watch, args=(fd, grace_s, not armed), daemon=True,
                         name="robo_orch-lifeline").start()


def on_terminate(stop: Callable[[], Any]) -> None:
    """Make ``stop`` this process's SIGTERM handler, run on the first SIGTERM only.

    Later SIGTERMs are ignored: the kernel sends the parent-death signal again each
    time a dying multi-threaded parent hands the child on to its next thread, and
    one arriving while the interpreter ends (after Python put the default action
    back) would kill the process on its way out.  ``stop`` must be safe to call
    from a signal handler (set a flag; no locks).
    """
    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop()

    signal.signal(signal.SIGTERM, handler)


def _set_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _is_pipe(fd: int) -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False


def _watch(fd: int, grace_s: float, terminate: bool) -> None:
    while True:
        try:
            if not os.read(fd, 512):  # nobody writes: only the end of file comes
                break
        except OSError:
            return  # the descriptor went bad: PR_SET_PDEATHSIG remains
    _parent_gone(grace_s, terminate)


def _parent_gone(grace_s: float, terminate: bool) -> None:
    mute_broken_output()
    threading.Thread(target=_kill_after, args=(grace_s,), daemon=True,
                     name="robo_orch-lifeline-grace").start()
    if terminate:
        os.kill(os.getpid(), signal.SIGTERM)


def _kill_after(grace_s: float) -> None:
    time.sleep(grace_s)
    with contextlib.suppress(OSError):
        os.write(2, f"robo-orch: pid {os.getpid()}: the parent process is gone and this one "
                    f"did not stop within {grace_s:g} s of SIGTERM; killing it\n".encode())
    os.kill(os.getpid(), signal.SIGKILL)


def mute_broken_output() -> None:
    """Point stdout and stderr at ``/dev/null`` where they are pipes nobody reads any more."""
    for fd in (1, 2):
        if _reader_gone(fd):
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, fd)
            finally:
                os.close(null)


def _reader_gone(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)) or not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(fd, 0)  # errors and hang-ups are always reported
    return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
