"""Discovery files: which process publishes which topic where, and which run dirs are live.

Every :class:`~robo_orch.bus.zmq_bus.ZmqBus` that binds a topic keeps one small
JSON file in its run directory, ``run_dir/endpoints/<pid>-<start>-<n>.json``
(``<start>``: the process's start time, so a re-used pid never names it): the
process id and start time, a name for the process (its command, e.g.
``robo-orch sim`` or ``sim.realtime``), the bus's publisher id and incarnation,
and per topic the endpoint it bound and the message type's layout.  Services a process offers
besides topics (the loop's control endpoint) are listed under ``services``.  It
also keeps an index entry ``<base>/active/<pid>-<start>-<n>.json`` naming the run
directory, where ``<base>`` is the per-user directory of
:func:`robo_orch.rundir.user_base` (the same directory ``robo-orch run`` uses
for its sockets by default).  So ``robo-orch topics`` finds a simulation whose
run directory is a private temporary directory.  The base and its index are
private to the user (:mod:`robo_orch.rundir`); readers refuse an index someone
else could have written, since it tells tools where to send an e-stop.

Both files are removed when the bus closes.  A process that died without closing
(SIGKILL) leaves them behind; readers ignore and delete the entries whose process
is gone, judged by the name (pid and start time, so a re-used pid is not mistaken
for it; an exited process not yet waited for counts as gone), even when the file
was cut short or left as a ``.tmp``.

This module belongs to the bus (the ZeroMQ backend writes the files) and is
imported by the bus of every process, drivers included: it imports nothing heavy.
Tools read it through :mod:`robo_orch.introspect.endpoints`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from robo_orch import rundir
from robo_orch.rundir import ACTIVE_DIR, RunDirError, RunDirUnavailable

ENDPOINTS_DIR = "endpoints"
FILE_VERSION = 1

_counter = itertools.count()
_name_override: str | None = None
_warned = False


def runtime_base() -> str:
    """The per-user base directory (:func:`robo_orch.rundir.user_base`)."""
    return rundir.user_base()


def set_process_name(name: str | None) -> None:
    """Name this process in discovery files (default: derived from its command line)."""
    global _name_override
    _name_override = name


def process_name(argv: list[str] | None = None) -> str:
    """A short name of this process, e.g. ``robo-orch sim`` or ``sim.realtime``."""
    if _name_override and argv is None:
        return _name_override
    argv = list(sys.argv if argv is None else argv)
    if not argv or not argv[0]:
        return "python"
    base = os.path.basename(argv[0])
    if base.endswith(".py"):
        folder = os.path.dirname(os.path.abspath(argv[0]))
        parent = os.path.basename(folder)
        if base == "__main__.py":  # python -m package: name the package
            grand = os.path.basename(os.path.dirname(folder))
            base = f"{grand}.{parent}" if grand == "robo_orch" else parent
        else:
            base = f"{parent}.{base[:-3]}"
    parts = [base]
    if base in ("robo-orch", "robo_orch.cli", "cli.main", "robo_orch"):
        parts = ["robo-orch"]
        words = [a for a in argv[1:] if not a.startswith("-")]
        if words:
            parts.append(words[0])
    if "--name" in argv[:-1]:
        parts.append(argv[argv.index("--name") + 1])
    return " ".join(parts)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """The process's state letter and start time in clock ticks after boot (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    try:
        # the command name (field 2) may hold spaces and parentheses: split after its end
        fields = stat[stat.rindex(b")") + 2:].split()
        return fields[0].decode(), int(fields[19])
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks after boot (Linux), or None if unknown."""
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def pid_alive(pid: int, start: int | None = None) -> bool:
    """Whether ``pid`` runs, and (if ``start`` is given and knowable) is the same process.

    A process that has exited but not been waited for (a zombie) is not alive.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    except OSError:
        return False
    stat = _proc_stat(pid)
    if stat is None:  # gone meanwhile, or no /proc here (then nothing more is knowable)
        return not os.path.exists("/proc/self/stat")
    state, now = stat
    return state not in ("Z", "X") and (start is None or now == start)


def process_key(pid: int | None = None) -> str:
    """``<pid>-<start time>``: names a process; a re-used pid gets another key."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}-{proc_start_time(pid) or 0}"


def _key_of(name: str) -> tuple[int, int | None] | None:
    """(pid, start time) from an entry's name ``<pid>-<start>-<n>.json[.tmp]``.

    None for another name; start None for the names of older versions (``<pid>-<n>``).
    """
    parts = name.split(".", 1)[0].split("-")
    try:
        if len(parts) == 3:
            return int(parts[0]), int(parts[1]) or None
        if len(parts) == 2:
            return int(parts[0]), None
    except ValueError:
        pass
    return None


def layout_of(mtype) -> dict[str, Any]:
    """A message type's layout as JSON-ready data (name, id, hash, dtypes)."""
    return {"name": mtype.name, "type_id": mtype.type_id, "layout_hash": mtype.layout_hash,
            "dtype": mtype.dtype.descr,
            "var_dtype": None if mtype.var_dtype is None else mtype.var_dtype.descr}


def _write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    os.replace(tmp, path)  # readers never see half a file


class EndpointsFile:
    """The discovery file of one bus (see the module docstring); written on first bind."""

    def __init__(self, run_dir: str, publisher_id: int, incarnation: int) -> None:
        self.run_dir = os.path.abspath(run_dir)
        self.publisher_id = publisher_id
        self.incarnation = incarnation
        self.topics: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.pid = os.getpid()
        self.key = f"{process_key(self.pid)}-{next(_counter)}"
        self.path = os.path.join(self.run_dir, ENDPOINTS_DIR, self.key + ".json")
        self.index_path = os.path.join(runtime_base(), ACTIVE_DIR, self.key + ".json")
        self._written = False
        self._broken = False

    def add(self, topic: str, endpoint: str, mtype=None) -> None:
        """Record that this bus bound ``topic`` at ``endpoint`` (``mtype``: its type, if known)."""
        entry = self.topics.get(topic)
        layout = layout_of(mtype) if mtype is not None else (entry or {}).get("type")
        self.topics[topic] = {"endpoint": endpoint, "type": layout}
        self._write()

    def add_service(self, name: str, info: dict[str, Any]) -> None:
        """Record a service this process offers (``control``: the loop's endpoint)."""
        self.services[name] = dict(info)
        self._write()

    def remove(self, topic: str) -> None:
        """Forget ``topic`` (its publisher closed)."""
        if self.topics.pop(topic, None) is not None and self._written:
            self._write()

    def close(self) -> None:
        """Remove the file and the index entry (and the endpoints dir once empty)."""
        if not self._written:
            return
        self._written = False
        for path in (self.path, self.index_path):
            with contextlib.suppress(OSError):
                os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(self.path))

    def _write(self) -> None:
        if self._broken:
            return
        data = {"version": FILE_VERSION, "pid": self.pid, "start": proc_start_time(self.pid),
                "name": process_name(), "argv": sys.argv[:8], "run_dir": self.run_dir,
                "publisher_id": self.publisher_id, "incarnation": self.incarnation,
                "topics": self.topics, "services": self.services}
        if not self._written:
            try:  # the index only helps to find the run dir: its absence is not fatal
                rundir.ensure_user_base()
                _write_json(self.index_path, {k: data[k] for k in (
                    "version", "pid", "start", "name", "run_dir")} | {"file": self.path})
            except RunDirUnavailable as err:
                _warn(self.index_path, err)
            except RunDirError:
                raise  # someone else's index: never write into it
            except OSError as err:
                _warn(self.index_path, err)
        try:
            rundir.ensure_private_dir(os.path.dirname(self.path), "discovery directory")
            _write_json(self.path, data)
            self._written = True
        except RunDirUnavailable as err:
            self._broken = True
            _warn(self.path, err)
        except RunDirError:
            raise
        except OSError as err:
            self._broken = True  # discovery is a convenience: the bus works without it
            _warn(self.path, err)


def _warn(path: str, err: OSError) -> None:
    global _warned
    if not _warned:
        _warned = True
        print(f"robo-orch: warning: cannot write the discovery file {path} "
              f"({err.strerror or err}); `robo-orch topics` may not find this process",
              file=sys.stderr)


# --- reading ------------------------------------------------------------------------


@dataclass
class ProcessEntry:
    """One live process's discovery file."""

    pid: int
    name: str
    publisher_id: int
    incarnation: int
    run_dir: str
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: str = ""
    services: dict[str, dict[str, Any]] = field(default_factory=dict)


def _read_live(path: str) -> dict[str, Any] | None:
    """The JSON at ``path`` if its process is alive; deletes entries of dead processes.

    The name says whose entry it is (:func:`process_key`), so an entry of a dead
    process goes even when it cannot be read (cut short by a kill), a ``.tmp``
    left mid-write included; a ``.tmp`` of a live process is being written.
    """
    key = _key_of(os.path.basename(path))
    if key is not None and not pid_alive(*key):
        _unlink(path)
        return None
    if path.endswith(".tmp"):
        return None
    try:
        with open(path) as f:
            data = json.load(f)
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid_alive(pid, data.get("start")):
        return data
    _unlink(path)
    return None


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _entries(folder: str) -> list[str]:
    """The discovery entries in ``folder`` (``.json``, and ``.json.tmp`` left mid-write)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names if n.endswith((".json", ".json.tmp"))]


def read_run_dir(run_dir: str) -> list[ProcessEntry]:
    """The live processes that publish in ``run_dir``, by pid (stale entries are removed)."""
    folder = os.path.join(run_dir, ENDPOINTS_DIR)
    out = []
    for path in _entries(folder):
        data = _read_live(path)
        if data is None:
            continue
        out.append(ProcessEntry(pid=int(data["pid"]), name=str(data.get("name", "?")),
                                publisher_id=int(data.get("publisher_id", 0)),
                                incarnation=int(data.get("incarnation", 0)),
                                run_dir=str(data.get("run_dir", run_dir)),
                                topics=dict(data.get("topics") or {}),
                                path=path,
                                services=dict(data.get("services") or {})))
    return out


def active_run_dirs() -> list[str]:
    """Run directories of live processes, from the per-user index (newest first).

    Entries of dead processes are removed.  Raises
    :class:`~robo_orch.rundir.RunDirError` if the index is not private to this
    user (someone could point the tools at a run of their own).
    """
    base = runtime_base()
    if not os.path.lexists(base):
        return []
    rundir.check_private_dir(base, "per-user run directory")
    folder = os.path.join(base, ACTIVE_DIR)
    if not os.path.lexists(folder):
        return []
    rundir.check_private_dir(folder, "run index")
    found: list[tuple[float, str]] = []
    for path in _entries(folder):
        data = _read_live(path)
        if data is None or not os.path.isdir(str(data.get("run_dir", ""))):
            continue
        with contextlib.suppress(OSError):
            found.append((os.stat(path).st_mtime, str(data["run_dir"])))
    seen: dict[str, None] = {}
    for _, run_dir in sorted(found, reverse=True):
        seen.setdefault(run_dir)
    return list(seen)
