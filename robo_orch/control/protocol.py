"""The control protocol: small JSON requests and replies, versioned, with request ids.

A request is one JSON object::

    {"v": 1, "id": "3f2a9c", "op": "estop", "args": {"engage": true, "timeout_s": 2.0}}

and its reply echoes the version and the id::

    {"v": 1, "id": "3f2a9c", "ok": true, "result": {...}}
    {"v": 1, "id": "3f2a9c", "ok": false, "error": {"code": "not_confirmed", "message": "..."},
     "result": {...}}

``id`` is the client's (a string or an integer, at most :data:`MAX_ID_LEN`
characters); a reply to a request whose id could not be read carries ``null``.
A request is at most :data:`MAX_REQUEST_BYTES` bytes (the server's socket drops
a larger message and the peer with it).  Error codes are in :data:`ERROR_CODES`.

This module does no I/O and imports nothing heavy: the tools and the loop share it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from robo_orch.errors import RoboOrchError, UsageError

#: version of the request/reply format; a server answers other versions with "version"
PROTOCOL_VERSION = 1
#: largest request accepted, bytes (ZMQ_MAXMSGSIZE on the server's socket)
MAX_REQUEST_BYTES = 64 * 1024
MAX_ID_LEN = 64
#: the socket file of the loop's control endpoint, in its run directory
CONTROL_SOCKET = "control.sock"
#: the service name in discovery files
SERVICE = "control"

ERROR_CODES = {
    "malformed": "the request is not a JSON object with v, id and op",
    "version": "the request's protocol version is not the server's",
    "unknown_op": "no such operation",
    "bad_args": "the operation's arguments are missing or invalid",
    "forbidden": "this client may not run a mutating operation (read-only access)",
    "busy": "too many requests are waiting for an answer",
    "not_confirmed": "applied by the loop, but not confirmed by every actuator driver in time",
    "superseded": "another request changed the state before this one was confirmed",
    "internal": "the operation failed inside the loop (a bug)",
    "invalid": "a parameter value is invalid (the message is the config-file style line)",
    "restart_needed": "a parameter is restart-only: the loop must be restarted to change it",
}
#: error codes that mean the request was wrong, not the loop (exit status 2)
USAGE_CODES = ("invalid", "restart_needed", "bad_args")


class ProtocolError(RoboOrchError, ValueError):
    """A request or reply that breaks the protocol; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class NoRunFound(UsageError):
    """No running loop with a control endpoint was found (exit status 2)."""


class NoAnswer(RoboOrchError, TimeoutError):
    """The loop did not answer in time (exit status 3)."""


class RequestFailed(RoboOrchError):
    """The loop answered with an error.  ``reply`` is the whole reply.

    Exit status 4 when the loop applied the request but an actuator driver did not
    confirm it (``not_confirmed``), 2 for a request the loop refused as invalid
    (:data:`USAGE_CODES`: a bad or restart-only parameter), else 3.
    """

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        err = reply.get("error") or {}
        self.code = str(err.get("code", "internal"))
        self.exit_status = (4 if self.code == "not_confirmed" else
                            2 if self.code in USAGE_CODES else 3)
        super().__init__(str(err.get("message", "request failed")))


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as None and numpy scalars as Python ones."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
        if not isinstance(value, float):
            return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def dumps(obj: dict[str, Any]) -> bytes:
    """Compact strict JSON (NaN and infinity become null)."""
    return json.dumps(jsonable(obj), separators=(",", ":"), allow_nan=False).encode()


def request(op: str, args: dict[str, Any] | None, rid: str | int) -> bytes:
    """Encode one request."""
    return dumps({"v": PROTOCOL_VERSION, "id": rid, "op": op, "args": args or {}})


def parse_request(data: bytes) -> tuple[str | int, str, dict[str, Any]]:
    """``(id, op, args)`` of a request; :class:`ProtocolError` if it is not one."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("malformed", "the request is not JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError("malformed", "the request is not a JSON object")
    rid = obj.get("id")
    if not isinstance(rid, (str, int)) or isinstance(rid, bool) or len(str(rid)) > MAX_ID_LEN:
        raise ProtocolError("malformed", f"'id' must be a string or integer of at most "
                                         f"{MAX_ID_LEN} characters")
    if obj.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("version", f"protocol version {obj.get('v')!r} is not supported "
                                       f"(this loop speaks {PROTOCOL_VERSION})")
    op, args = obj.get("op"), obj.get("args", {})
    if not isinstance(op, str) or not op:
        raise ProtocolError("malformed", "'op' must be a non-empty string")
    if not isinstance(args, dict):
        raise ProtocolError("malformed", "'args' must be a JSON object")
    return rid, op, args


def request_id(data: bytes) -> str | int | None:
    """The id of a request that failed to parse, if it can be read at all (else None)."""
    try:
        rid = json.loads(data).get("id")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    ok = isinstance(rid, (str, int)) and not isinstance(rid, bool) and len(str(rid)) <= MAX_ID_LEN
    return rid if ok else None


def reply_ok(rid: str | int | None, result: dict[str, Any]) -> bytes:
    """Encode a successful reply."""
    return dumps({"v": PROTOCOL_VERSION, "id": rid, "ok": True, "result": result})


def reply_error(rid: str | int | None, code: str, message: str,
                result: dict[str, Any] | None = None) -> bytes:
    """Encode an error reply (``result``: what is known anyway, e.g. the loop's part)."""
    body: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": rid, "ok": False,
                            "error": {"code": code, "message": message}}
    if result is not None:
        body["result"] = result
    return dumps(body)
