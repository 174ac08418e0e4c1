"""CURVE key files: making a robot's key directory, and reading it with its secrets checked.

``robo-orch keys generate DIR`` lays a directory out like this (pyzmq's
certificate format, :func:`zmq.auth.create_certificates`)::

    DIR/server.key              the robot's public key (every client needs a copy)
    DIR/server.key_secret       its secret key: whoever holds it can serve the robot's topics
    DIR/clients/NAME.key        a client admitted with full access (the robot's own
    DIR/clients/NAME.key_secret   processes connect as ``robot``; a laptop as ``laptop``)
    DIR/readonly/NAME.key       a client admitted read-only: it may watch (topics,
    DIR/readonly/NAME.key_secret  status, parameter reads) but not change anything

A process that binds a ``tcp://`` endpoint (a publisher, the loop's control
endpoint) serves it with the server key pair and admits exactly the public keys
in ``clients/`` and ``readonly/`` (see :mod:`robo_orch.bus.curve`); a process that
connects presents one client key pair and checks the server's public key.

Secret key files must be readable by their owner alone: a secret file whose mode
grants anything to the group or to others is refused (:class:`KeyFileError`, one
line saying ``chmod 600``).  Files are made under a umask of 0077, so a secret is
never readable by others, not even for an instant.

This module imports zmq only when it makes keys (``zmq.curve_keypair``).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from robo_orch.errors import RoboOrchError

SERVER = "server"
#: full-access clients, and read-only ones, in a key directory
CLIENTS_DIR = "clients"
READONLY_DIR = "readonly"
#: the client key the robot's own processes connect with, made by every ``generate``
ROBOT_CLIENT = "robot"
PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
#: what to do about a tcp endpoint without keys (in config errors and bus errors)
NO_KEYS_HINT = ("make keys with `robo-orch keys generate DIR` and set bus.keys = DIR (or "
                "bus.insecure = true on a network you trust)")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_Z85 = re.compile(rb"^[0-9A-Za-z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")


class KeyFileError(RoboOrchError, PermissionError):
    """A CURVE key file or directory that is missing, malformed or readable by others."""

    exit_status = 2


@dataclass(frozen=True)
class ClientKey:
    """An admitted client: its name and whether it may change anything."""

    name: str
    read_only: bool

    @property
    def user_id(self) -> str:
        """The ZAP User-Id its connections carry: ``rw:NAME`` or ``ro:NAME``."""
        return f"{'ro' if self.read_only else 'rw'}:{self.name}"


@dataclass(frozen=True)
class CurveKeys:
    """The CURVE keys of one process (z85 text as bytes, as pyzmq takes them).

    ``server_secret`` is None where the process may not serve (a laptop's copy);
    ``client_public``/``client_secret`` are None where it does not connect.
    ``admitted`` maps each admitted client's public key to its :class:`ClientKey`.
    ``directory`` and ``client_name`` say where they came from (a child process
    reloads them from there: secrets never travel on a command line).
    """

    server_public: bytes
    server_secret: bytes | None = field(default=None, repr=False)
    client_public: bytes | None = None
    client_secret: bytes | None = field(default=None, repr=False)
    admitted: dict[bytes, ClientKey] = field(default_factory=dict)
    directory: str = ""
    client_name: str = ""

    def describe(self) -> str:
        """``keys DIR, client NAME`` for messages."""
        who = f", client {self.client_name}" if self.client_name else ""
        return f"keys {self.directory or '(in memory)'}{who}"


def may_change(user_id: str) -> bool:
    """Whether a connection with this ZAP User-Id may change the robot (a full-access key)."""
    return user_id.startswith("rw:")


def check_name(name: str) -> str:
    """``name`` if it can name a key file; :class:`KeyFileError` otherwise."""
    if not _NAME.match(name or ""):
        raise KeyFileError(f"bad key name {name!r}: use letters, digits, '_', '-' and '.' "
                           "(at most 64 characters, starting with a letter or digit)")
    return name


def check_secret_file(path: str) -> None:
    """Refuse a secret key file that is not a regular file readable by its owner alone."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise KeyFileError(f"secret key file {path} does not exist") from None
    except OSError as err:
        raise KeyFileError(f"secret key file {path}: {err.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"secret key file {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise KeyFileError(f"secret key file {path} is mode {mode:04o}: others could read it; "
                           f"run `chmod 600 {path}`")
    uid = os.geteuid()
    if uid != 0 and st.st_uid != uid:
        raise KeyFileError(f"secret key file {path} is owned by uid {st.st_uid}, not by this "
                           f"user (uid {uid})")


def read_key_file(path: str, *, secret: bool) -> tuple[bytes, bytes | None]:
    """(public, secret) of a pyzmq certificate file; a secret file's mode is checked first."""
    if secret:
        check_secret_file(path)
    public = secret_key = None
    try:
        with open(path, "rb") as fh:
            for line in fh:
                line = line.strip()
                if line.startswith(b"public-key"):
                    public = line.split(b"=", 1)[1].strip(b" \t'\"")
                elif line.startswith(b"secret-key"):
                    secret_key = line.split(b"=", 1)[1].strip(b" \t'\"")
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except OSError as err:
        raise KeyFileError(f"key file {path}: {err.strerror}") from None
    if public is None or not _Z85.match(public):
        raise KeyFileError(f"{path} is not a CURVE key file (no valid public-key line)")
    if secret and (secret_key is None or not _Z85.match(secret_key)):
        raise KeyFileError(f"{path} holds no valid secret key (a .key_secret file made by "
                           "`robo-orch keys generate`)")
    return public, secret_key if secret else None


def _pairs(directory: str, sub: str) -> dict[str, str]:
    """name -> path of the public key files in ``directory/sub``."""
    folder = os.path.join(directory, sub)
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise KeyFileError(f"key directory {folder}: {err.strerror}") from None
    return {n[:-len(PUBLIC_SUFFIX)]: os.path.join(folder, n) for n in names
            if n.endswith(PUBLIC_SUFFIX)}


def admitted_clients(directory: str) -> dict[bytes, ClientKey]:
    """The public keys in ``clients/`` (full access) and ``readonly/`` (read-only)."""
    out: dict[bytes, ClientKey] = {}
    names: dict[str, str] = {}
    for sub, read_only in ((CLIENTS_DIR, False), (READONLY_DIR, True)):
        for name, path in _pairs(directory, sub).items():
            if name in names:
                raise KeyFileError(f"client {name!r} is in both {CLIENTS_DIR}/ and "
                                   f"{READONLY_DIR}/ of {directory}: keep one")
            names[name] = sub
            public, _ = read_key_file(path, secret=False)
            out[public] = ClientKey(name, read_only)
    return out


def client_secret_path(directory: str, name: str) -> str:
    """``directory/clients/NAME.key_secret`` or ``readonly/NAME.key_secret``, whichever exists.

    ``name`` may also be the path of a ``.key_secret`` file.
    """
    if name.endswith(SECRET_SUFFIX) and os.path.exists(name):
        return name
    check_name(name)
    for sub in (CLIENTS_DIR, READONLY_DIR):
        path = os.path.join(directory, sub, name + SECRET_SUFFIX)
        if os.path.exists(path):
            return path
    have = client_names(directory)
    raise KeyFileError(f"no client key {name!r} in {directory} (have: "
                       f"{', '.join(have) or 'none'}); add one with `robo-orch keys generate "
                       f"{directory} --client {name}`")


def client_names(directory: str) -> list[str]:
    """Names of the client secrets present in ``directory`` (full access first)."""
    out = []
    for sub in (CLIENTS_DIR, READONLY_DIR):
        folder = os.path.join(directory, sub)
        with contextlib.suppress(OSError):
            out += sorted(n[:-len(SECRET_SUFFIX)] for n in os.listdir(folder)
                          if n.endswith(SECRET_SUFFIX))
    return out


def load_keys(directory: str, client: str | None = None) -> CurveKeys:
    """The keys of a process from a key directory (see the module docstring).

    ``client``: the name (or ``.key_secret`` path) of the client key this process
    connects with; None: only one client secret is present there (a laptop's
    copy), or none is needed.  The server secret is read when present.
    """
    directory = os.path.abspath(os.path.expanduser(directory))
    if not os.path.isdir(directory):
        raise KeyFileError(f"no key directory {directory}: make one with `robo-orch keys "
                           f"generate {directory}`")
    server_public, _ = read_key_file(os.path.join(directory, SERVER + PUBLIC_SUFFIX),
                                     secret=False)
    secret_path = os.path.join(directory, SERVER + SECRET_SUFFIX)
    server_secret = None
    if os.path.exists(secret_path):
        public, server_secret = read_key_file(secret_path, secret=True)
        if public != server_public:
            raise KeyFileError(f"{secret_path} does not belong to "
                               f"{os.path.join(directory, SERVER + PUBLIC_SUFFIX)}")
    if client is None:
        names = client_names(directory)
        if len(names) > 1:
            raise KeyFileError(f"{directory} holds several client keys ({', '.join(names)}): "
                               "say which one (--key NAME, or bus.client_key)")
        client = names[0] if names else None
    client_public = client_secret = None
    if client is not None:
        path = client_secret_path(directory, client)
        client_public, client_secret = read_key_file(path, secret=True)
        client = os.path.basename(path)[:-len(SECRET_SUFFIX)]
    return CurveKeys(server_public=server_public, server_secret=server_secret,
                     client_public=client_public, client_secret=client_secret,
                     admitted=admitted_clients(directory), directory=directory,
                     client_name=client or "")


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _make_pair(folder: str, name: str) -> tuple[str, str]:
    """Write ``folder/NAME.key`` (0644) and ``NAME.key_secret`` (0600) with a new key pair."""
    import zmq.auth

    with _private_umask():
        public, secret = zmq.auth.create_certificates(folder, name)
    os.chmod(secret, 0o600)
    os.chmod(public, 0o644)
    return public, secret


def generate_keys(directory: str, clients: tuple[str, ...] = (),
                  readonly: tuple[str, ...] = ()) -> list[tuple[str, bool]]:
    """Make the server pair and each client pair that ``directory`` does not have yet.

    The ``robot`` client is always among ``clients``.  Existing keys are kept, never
    overwritten.  Returns ``(path of a secret file, made now)`` per key.
    """
    for name in (*clients, *readonly):
        check_name(name)
    clients = tuple(dict.fromkeys((ROBOT_CLIENT, *clients)))
    both = set(clients) & set(readonly)
    if both:
        raise KeyFileError(f"{', '.join(sorted(both))}: a client is either full access or "
                           "read-only, not both")
    directory = os.path.abspath(os.path.expanduser(directory))
    with _private_umask():
        os.makedirs(directory, mode=0o700, exist_ok=True)
    existing = {c.name: c.read_only for c in admitted_clients(directory).values()}
    for name in clients:
        if existing.get(name) is True:
            raise KeyFileError(f"{name!r} is a read-only client in {directory} already")
    for name in readonly:
        if existing.get(name) is False:
            raise KeyFileError(f"{name!r} is a full-access client in {directory} already")
    out = []
    wanted = [(directory, SERVER)] + [(os.path.join(directory, CLIENTS_DIR), n) for n in clients] \
        + [(os.path.join(directory, READONLY_DIR), n) for n in readonly]
    for folder, name in wanted:
        with _private_umask():
            os.makedirs(folder, mode=0o700, exist_ok=True)
        secret = os.path.join(folder, name + SECRET_SUFFIX)
        public = os.path.join(folder, name + PUBLIC_SUFFIX)
        if os.path.exists(secret) or os.path.exists(public):
            out.append((secret, False))
            continue
        out.append((_make_pair(folder, name)[1], True))
    return out


def security_kwargs(options: dict) -> dict:
    """``ZmqBus`` keyword arguments from :meth:`ZmqBus.security_options` of another process."""
    if options.get("keys"):
        return {"curve": load_keys(options["keys"], options.get("client") or None)}
    return {"insecure": bool(options.get("insecure"))}
