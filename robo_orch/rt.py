"""Optional real-time measures: SCHED_FIFO, CPU pinning, locked memory, timer slack.

Each needs privileges or a kernel feature a machine may lack; each falls back
with a single warning and the loop runs anyway.

* SCHED_FIFO priority: the loop preempts ordinary processes.
* CPU pinning: the loop stays on one core (and its caches).
* ``mlockall``: every page of the process stays in RAM, so no tick waits for a
  page to come back from swap.
* Timer slack of 1 ns (``prctl(PR_SET_TIMERSLACK)``): the kernel may otherwise
  delay a sleeper's wake-up by its default 50 us slack to batch timers.

A leaf module (the standard library only): the loop's process applies these, and
the ZeroMQ bus asks :func:`fifo_permitted` before giving its I/O threads the
loop's priority.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

_MCL_CURRENT, _MCL_FUTURE = 1, 2
_PR_SET_TIMERSLACK = 29


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


def apply_realtime(priority: int = 0, cpu: int = -1, lock_memory: bool = False,
                   timer_slack_ns: int = 0) -> list[str]:
    """Apply what is configured; returns the warnings issued (empty when all applied)."""
    warnings: list[str] = []
    if cpu >= 0:
        try:
            os.sched_setaffinity(0, {cpu})
        except (OSError, AttributeError, ValueError) as err:
            warnings.append(f"could not pin the loop to CPU {cpu} ({err}); running unpinned")
    if priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except (OSError, AttributeError) as err:
            warnings.append(f"could not set SCHED_FIFO priority {priority} ({err}); running "
                            "with normal priority (grant CAP_SYS_NICE or an rtprio limit)")
    libc = _libc() if (lock_memory or timer_slack_ns > 0) else None
    if lock_memory and (libc is None or libc.mlockall(_MCL_CURRENT | _MCL_FUTURE) != 0):
        err = os.strerror(ctypes.get_errno()) if libc else "no C library found"
        warnings.append(f"could not lock memory ({err}); pages may be swapped out "
                        "(grant CAP_IPC_LOCK or raise the memlock limit)")
    if timer_slack_ns > 0 and (libc is None or libc.prctl(
            _PR_SET_TIMERSLACK, ctypes.c_ulong(timer_slack_ns), 0, 0, 0) != 0):
        err = os.strerror(ctypes.get_errno()) if libc else "no C library found"
        warnings.append(f"could not set the timer slack to {timer_slack_ns} ns ({err})")
    for text in warnings:
        log.warning(text)
    return warnings


def fifo_permitted(priority: int) -> bool:
    """Whether the calling thread may run under SCHED_FIFO at ``priority``.

    Tried for real (``sched_setscheduler``) and then restored, because only the
    kernel knows: root without CAP_SYS_NICE, an ``rtprio`` limit below
    ``priority``, or a container without real-time runtime all refuse.
    """
    if priority <= 0 or not hasattr(os, "SCHED_FIFO"):
        return False
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    except OSError:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError:
        return False
    try:
        os.sched_setscheduler(0, policy, param)
    except OSError as err:  # not expected: giving up real-time priority is always allowed
        log.warning("could not restore the scheduling policy after a check (%s)", err)
    return True


def timer_slack_ns() -> int | None:
    """This thread's timer slack, from /proc (None where unavailable)."""
    try:
        with open(f"/proc/self/task/{os.getpid()}/timerslack_ns") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return None
