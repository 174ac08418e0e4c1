"""Real-time measures apply where permitted and fall back with one warning each."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def run_child(code: str) -> subprocess.CompletedProcess:
    # a child process: scheduling, memory locks and timer slack must not leak into pytest
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60)


def test_timer_slack_is_set_and_read_back():
    proc = run_child("""
        from robo_orch.rt import apply_realtime, timer_slack_ns
        before = timer_slack_ns()
        warnings = apply_realtime(timer_slack_ns=1)
        print(before, timer_slack_ns(), len(warnings))
    """)
    assert proc.returncode == 0, proc.stderr
    before, after, n_warnings = proc.stdout.split()
    if before != "None":  # /proc exposes it on this kernel
        assert (after, n_warnings) == ("1", "0")


def test_each_refused_measure_gives_exactly_one_warning():
    # an impossible CPU and priority are refused by any kernel, privileged or not
    proc = run_child("""
        import os
        from robo_orch.rt import apply_realtime
        warnings = apply_realtime(priority=1000, cpu=100000)
        print(len(warnings))
        print(os.sched_getscheduler(0) == os.SCHED_OTHER)
    """)
    assert proc.returncode == 0, proc.stderr
    count, still_normal = proc.stdout.split()
    assert count == "2" and still_normal == "True"
    assert proc.stderr.count("could not") == 2  # logged once each


def test_lock_memory_applies_or_warns_once():
    proc = run_child("""
        from robo_orch.rt import apply_realtime
        warnings = apply_realtime(lock_memory=True)
        locked = [l for l in open("/proc/self/status") if l.startswith("VmLck")]
        print(len(warnings), locked[0].split()[1] if locked else "?")
    """)
    assert proc.returncode == 0, proc.stderr
    n_warnings, locked_kib = proc.stdout.split()
    assert (n_warnings == "0" and locked_kib not in ("0", "?")) or n_warnings == "1"


# --- SCHED_FIFO permission check and ZeroMQ's I/O threads ---------------------------------

#: child-process prologue: set the rtprio limit to NEW_LIMIT and, as root, drop CAP_SYS_NICE
#: (which overrides the limit), so "not permitted" is reproducible on any machine
UNPRIVILEGED = """
    import ctypes, os, resource
    try:
        resource.setrlimit(resource.RLIMIT_RTPRIO, (NEW_LIMIT, NEW_LIMIT))
    except (ValueError, OSError):  # raising it needs CAP_SYS_RESOURCE
        print("cannot-set-limit")
        raise SystemExit(0)
    if os.geteuid() == 0:
        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]
        libc = ctypes.CDLL(None, use_errno=True)
        header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
        assert libc.capget(ctypes.byref(header), data) == 0
        nice = 1 << 23  # CAP_SYS_NICE
        data[0].effective &= ~nice
        data[0].permitted &= ~nice
        assert libc.capset(ctypes.byref(header), data) == 0
"""

#: child-process helper: {thread name: (policy, priority)} of ZeroMQ's threads, once started
ZMQ_THREADS = """
    import glob, time
    def zmq_threads():
        deadline = time.monotonic() + 5
        while True:
            out = {}
            for task in glob.glob("/proc/self/task/*"):
                tid = int(task.rsplit("/", 1)[1])
                with open(task + "/comm") as fh:
                    name = fh.read().strip()
                if name.startswith("ZMQbg"):  # named once they applied their parameters
                    out[name] = (os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority)
            if len(out) >= 2 or time.monotonic() > deadline:
                return out
            time.sleep(0.01)
"""


def unprivileged(limit: int) -> str:
    return UNPRIVILEGED.replace("NEW_LIMIT", str(limit))


def test_fifo_check_agrees_with_the_kernel_and_leaves_the_thread_as_it_was():
    proc = run_child("""
        import os
        from robo_orch.rt import fifo_permitted
        before = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
        answer = fifo_permitted(10)
        after = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
            kernel = True
        except OSError:
            kernel = False
        print(answer, kernel, before == after, fifo_permitted(0), fifo_permitted(1000))
    """)
    assert proc.returncode == 0, proc.stderr
    answer, kernel, restored, zero, too_high = proc.stdout.split()
    assert answer == kernel and restored == "True"
    assert zero == too_high == "False"  # 0 is "off"; 1000 is beyond every kernel's range


def test_fifo_check_follows_the_rtprio_limit_without_privilege():
    proc = run_child(unprivileged(0) + """
    from robo_orch.rt import fifo_permitted
    print(fifo_permitted(1), fifo_permitted(10))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]
    proc = run_child(unprivileged(20) + """
    from robo_orch.rt import fifo_permitted
    print(fifo_permitted(10), fifo_permitted(20), fifo_permitted(30))
    """)
    assert proc.returncode == 0, proc.stderr
    if proc.stdout.strip() == "cannot-set-limit":
        pytest.skip("raising the rtprio limit needs CAP_SYS_RESOURCE")
    assert proc.stdout.split() == ["True", "True", "False"]


def test_zmq_io_threads_get_the_loop_priority_when_permitted():
    proc = run_child(ZMQ_THREADS + """
    import os
    from robo_orch.bus.zmq_bus import ZmqBus
    from robo_orch.clock import WallClock
    from robo_orch.rt import fifo_permitted
    if not fifo_permitted(10):
        print("refused")
        raise SystemExit(0)
    bus = ZmqBus(WallClock(), publisher_id=1, realtime_priority=10)
    bus.subscribe("a/b", "imu")  # the first socket starts the threads
    threads = zmq_threads()
    print(bus.io_priority, os.sched_getscheduler(0) == os.SCHED_OTHER,
          sorted(threads.values()) == [(os.SCHED_FIFO, 10)] * len(threads), len(threads))
    bus.close()
    """)
    assert proc.returncode == 0, proc.stderr
    if proc.stdout.strip() == "refused":
        pytest.skip("SCHED_FIFO is not permitted here (the refused path is tested below)")
    io_priority, main_still_normal, all_fifo, n_threads = proc.stdout.split()
    assert (io_priority, main_still_normal, all_fifo) == ("10", "True", "True")
    assert int(n_threads) >= 2  # the I/O thread and the reaper


def test_zmq_io_threads_stay_normal_when_fifo_is_refused():
    # libzmq aborts the process when it cannot apply a policy: a clean exit and a
    # message delivered prove it was never asked
    proc = run_child(unprivileged(0) + ZMQ_THREADS + """
    import time
    from robo_orch.bus.zmq_bus import ZmqBus
    from robo_orch.clock import WallClock
    from robo_orch.messages import message_type, new_fixed
    bus = ZmqBus(WallClock(), publisher_id=1, realtime_priority=10)
    sub = bus.subscribe("a/b", "imu")
    pub = bus.publisher("a/b", "imu")
    threads = zmq_threads()
    got = False
    for _ in range(100):
        pub.publish(new_fixed(message_type("imu")))
        if sub.wait(0.05):
            got = True
            break
    print(bus.io_priority, got, all(p == os.SCHED_OTHER for p, _ in threads.values()),
          len(threads))
    bus.close()
    """)
    assert proc.returncode == 0, proc.stderr
    io_priority, delivered, all_normal, n_threads = proc.stdout.split()
    assert (io_priority, delivered, all_normal) == ("0", "True", "True")
    assert int(n_threads) >= 1


def test_io_thread_priority_is_refused_once_sockets_exist():
    from robo_orch.bus.zmq_bus import ZmqBus
    from robo_orch.clock import WallClock
    from robo_orch.errors import BusError

    bus = ZmqBus(WallClock(), publisher_id=1)
    try:
        bus.subscribe("a/b", "imu")
        with pytest.raises(BusError, match="before the first"):
            bus.set_io_thread_priority(10)
        assert bus.io_priority == 0
    finally:
        bus.close()
