"""Run directories: where a robot's ipc sockets and discovery files live, and who may use them.

A robot's processes meet in one run directory: the loop, the drivers and the
simulator bind their ZeroMQ ``ipc://`` sockets there, and each writes a
discovery file.  A per-user base directory, ``$XDG_RUNTIME_DIR/robo_orch-<uid>``
(or ``<tmp>/robo_orch-<uid>`` without ``XDG_RUNTIME_DIR``), holds the index of
live runs (``active/``) and is the default run directory of ``robo-orch run``.

Whoever can write into a run directory can replace its sockets and so steer
the robot, and the path under ``/tmp`` is predictable.  So every such
directory is created with mode 0700, and an existing one is checked with
``lstat`` before use:

* a symbolic link is refused (it could point anywhere);
* a directory owned by another user is refused;
* a directory writable by its group or by others is refused (read and search
  bits are allowed: the sockets in it are 0600, so others cannot connect, and the
  discovery files hold only process ids and topic names);
* a directory whose parent is writable by others without the sticky bit is
  refused (it could be renamed away and replaced).

A refusal is a :class:`RunDirError` (exit status 2): one line saying what is
wrong and what to do.  Socket files are created 0600 by binding under a umask of
0177 (:func:`private_files`), so no other user can connect even for an instant.

This is a leaf module (no numpy, no zmq): drivers and tools import it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile
from collections.abc import Iterator

from robo_orch.errors import RoboOrchError

#: the index of live runs, inside the per-user base directory
ACTIVE_DIR = "active"


class RunDirError(RoboOrchError, PermissionError):
    """A run directory (or socket) that may belong to someone else: refused."""

    exit_status = 2


class RunDirUnavailable(RunDirError):
    """A run directory that could not be created (a read-only or missing parent, say)."""


def user_base() -> str:
    """``$XDG_RUNTIME_DIR/robo_orch-<uid>`` (or ``<tmp>/robo_orch-<uid>``): the per-user place."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return os.path.join(base, f"robo_orch-{os.getuid()}")


def default_run_dir() -> str:
    """Where ``robo-orch run`` (and the bring-up tools) put a robot's sockets by default."""
    return user_base()


def _hint(path: str) -> str:
    return ("set bus.run_dir (or --run-dir) to a directory of your own, or XDG_RUNTIME_DIR "
            if path.startswith(tempfile.gettempdir()) else "choose a directory of your own ")


def check_private_dir(path: str, what: str = "run directory") -> None:
    """Refuse ``path`` unless it is a real directory of this user that no one else can write."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise RunDirError(f"{what} {path} does not exist") from None
    except OSError as err:
        raise RunDirError(f"{what} {path}: {err.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise RunDirError(f"{what} {path} is a symbolic link: refused (it could point anywhere); "
                          f"remove it, or {_hint(path)}")
    if not stat.S_ISDIR(st.st_mode):
        raise RunDirError(f"{what} {path} is not a directory; remove it, or {_hint(path)}")
    uid = os.geteuid()
    if st.st_uid != uid:
        raise RunDirError(f"{what} {path} is owned by uid {st.st_uid}, not by you (uid {uid}): "
                          f"someone else may have created it to steer your robot; {_hint(path)}"
                          "(or have it removed)")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        who = " and ".join(w for w, bit in (("its group", 0o020), ("others", 0o002)) if mode & bit)
        raise RunDirError(f"{what} {path} is writable by {who} (mode {mode:04o}): they could "
                          f"replace its sockets; `chmod 700 {path}` if you made it, else remove it")
    parent = os.path.dirname(os.path.abspath(path))
    with contextlib.suppress(OSError):
        pmode = os.stat(parent).st_mode
        if pmode & 0o022 and not pmode & stat.S_ISVTX:
            raise RunDirError(f"{what} {path} is in {parent}, which others can write without the "
                              f"sticky bit (mode {stat.S_IMODE(pmode):04o}): it could be replaced; "
                              f"{_hint(path)}")


def ensure_private_dir(path: str, what: str = "run directory") -> str:
    """Create ``path`` with mode 0700 (parents as needed), or check the existing one.

    Returns the absolute path; raises :class:`RunDirError` if it is not private.
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    try:
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o700, exist_ok=True)
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # whatever the umask said
    except FileExistsError:
        pass
    except OSError as err:
        raise RunDirUnavailable(f"cannot create {what} {path}: {err.strerror}") from None
    check_private_dir(path, what)
    return path


def ensure_user_base() -> str:
    """The per-user base directory and its ``active/`` index, created or checked."""
    base = ensure_private_dir(user_base(), "per-user run directory")
    ensure_private_dir(os.path.join(base, ACTIVE_DIR), "run index")
    return base


def ensure_run_dir(path: str | os.PathLike[str] | None) -> str:
    """A run directory for this process: ``path`` created or checked, or a new private one."""
    if path is None or str(path) == "":
        return make_temp_run_dir()
    return ensure_private_dir(os.fspath(path))


def make_temp_run_dir() -> str:
    """A new private run directory under the temp dir (``mkdtemp``: 0700, race-free)."""
    return tempfile.mkdtemp(prefix="robo_orch-")


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files and unix sockets created inside are 0600: umask 0177 for the duration.

    Meant for the instant of a ``bind()``: libzmq creates an ``ipc://`` socket file
    inside ``bind()``, in the calling thread, so the socket is never open to others.
    The umask is per process: a directory another thread made meanwhile would lack
    its search bit, so keep the block that short.
    """
    old = os.umask(0o177)
    try:
        yield
    finally:
        os.umask(old)


def socket_in_use(path: str) -> bool:
    """Whether a live process listens on the unix socket ``path`` (not just a stale file)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        return False
    finally:
        s.close()
    return True


def check_own_socket(path: str) -> None:
    """Refuse to talk to ``path`` unless it is a unix socket owned by this user."""
    try:
        st = os.lstat(path)
    except OSError as err:
        raise RunDirError(f"{path}: {err.strerror}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise RunDirError(f"{path} is not a socket: refused")
    if st.st_uid != os.geteuid():
        raise RunDirError(f"{path} is owned by uid {st.st_uid}, not by you (uid {os.geteuid()}): "
                          "refused (it may not be your robot)")
