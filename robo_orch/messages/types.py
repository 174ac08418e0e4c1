"""Message types and their registry.

A message type is a numpy structured dtype for the fixed part plus, optionally,
the dtype of one element of a variable-length part (a scan with N points).  Its
``layout_hash`` (a CRC-32 of its name and the names, formats and offsets of both
dtypes) goes into every header, so a reader built against another layout refuses
the data instead of misreading it.

Size limits: a type with a variable part declares ``max_count``, the most
elements a legitimate message carries (``laser_scan``:
:data:`~robo_orch.messages.builtin.MAX_SCAN_POINTS`; a type that declares none gets
:data:`DEFAULT_VAR_BYTES` worth of elements).  :attr:`MessageType.max_bytes` is the
largest legitimate frame (the payload at ``max_count``, the header, or a topic) plus
a quarter, at least 1 KiB (:func:`~robo_orch.messages.header.frame_limit`): the bus
refuses larger frames (ZeroMQ's ``MAXMSGSIZE`` on every subscription), and a
subscriber may pass its own limit.  The limit is not part of the wire layout.

The registry maps names and type ids to types: robo_orch's own
(:mod:`robo_orch.messages.builtin`) and, loaded on the first miss, those of installed
packages (entry-point group ``robo_orch.messages``, type ids from
:data:`PLUGIN_TYPE_IDS`).
"""

from __future__ import annotations

import difflib
import zlib
from importlib.metadata import entry_points

import numpy as np

from robo_orch.errors import MessageError
from robo_orch.messages.header import frame_limit
from robo_orch.registry import MESSAGES

#: the variable part's budget of a type that declares no ``max_count``, bytes
DEFAULT_VAR_BYTES = 1 << 20


def _describe(dtype: np.dtype | None, what: str) -> str:
    """Canonical text of a packed little-endian structured dtype (for the hash)."""
    if dtype is None:
        return "-"
    if dtype.names is None:
        raise MessageError(f"{what} must be a structured dtype, got {dtype}")
    parts = []
    size = 0
    for name in dtype.names:
        field, offset = dtype.fields[name][:2]
        base = field.base
        if base.names is not None or base.str[0] not in "<|":
            raise MessageError(
                f"{what} field {name!r}: use little-endian scalar or subarray formats "
                f"(e.g. '<f8', ('<f8', (3,))), got {field}")
        parts.append(f"{name}:{base.str}{list(field.shape)}@{offset}")
        size += field.itemsize
    if size != dtype.itemsize:
        raise MessageError(f"{what} must be packed (no padding): fields sum to {size} "
                           f"bytes but itemsize is {dtype.itemsize}")
    return ",".join(parts) + f";{dtype.itemsize}"


class MessageType:
    """One message type: name, uint16 id, fixed dtype, optional var element dtype.

    ``max_count`` (types with a var part only): the most elements a legitimate
    message has; it sets :attr:`max_bytes`.  Default: :data:`DEFAULT_VAR_BYTES`
    worth of elements.
    """

    __slots__ = ("name", "type_id", "dtype", "var_dtype", "layout_hash", "itemsize",
                 "var_itemsize", "max_count", "max_bytes")

    def __init__(self, name: str, type_id: int, dtype: np.dtype | list,
                 var_dtype: np.dtype | list | None = None, *,
                 max_count: int | None = None) -> None:
        if not 0 <= int(type_id) <= 0xFFFF:
            raise MessageError(f"type id of {name!r} must fit in uint16, got {type_id}")
        self.name = str(name)
        self.type_id = int(type_id)
        self.dtype = np.dtype(dtype)
        self.var_dtype = None if var_dtype is None else np.dtype(var_dtype)
        canon = (f"{self.name}|{_describe(self.dtype, name + ' dtype')}"
                 f"|{_describe(self.var_dtype, name + ' var_dtype')}")
        self.layout_hash = zlib.crc32(canon.encode("ascii")) & 0xFFFFFFFF
        self.itemsize = self.dtype.itemsize
        self.var_itemsize = 0 if self.var_dtype is None else self.var_dtype.itemsize
        if self.var_dtype is None:
            if max_count:
                raise MessageError(f"{name}: max_count needs a variable-length part")
            max_count = 0
        elif max_count is None:
            max_count = max(1, DEFAULT_VAR_BYTES // max(1, self.var_itemsize))
        elif int(max_count) < 1:
            raise MessageError(f"{name}: max_count must be >= 1, got {max_count}")
        #: most var elements of a legitimate message (0 without a var part)
        self.max_count = int(max_count)
        #: largest frame the bus accepts for this type, bytes (see the module docstring)
        self.max_bytes = frame_limit(self.itemsize + self.max_count * self.var_itemsize)

    def __repr__(self) -> str:
        return (f"MessageType({self.name!r}, id={self.type_id}, "
                f"hash=0x{self.layout_hash:08x})")


_BY_NAME: dict[str, MessageType] = {}
_BY_ID: dict[int, MessageType] = {}


def register(mtype: MessageType) -> MessageType:
    """Add a message type and return it.

    Re-registering the identical layout is a no-op that returns the type
    registered first (with its size limit).
    """
    for known in (_BY_NAME.get(mtype.name), _BY_ID.get(mtype.type_id)):
        if known is None:
            continue
        if (known.name, known.type_id, known.layout_hash) != (
                mtype.name, mtype.type_id, mtype.layout_hash):
            raise MessageError(f"cannot register {mtype!r}: clashes with {known!r}; "
                               "pick an unused name and type id")
        return known
    _BY_NAME[mtype.name] = mtype
    _BY_ID[mtype.type_id] = mtype
    return mtype


def _lookup(name_or_id: str | int) -> MessageType | None:
    return (_BY_NAME.get(name_or_id) if isinstance(name_or_id, str)
            else _BY_ID.get(int(name_or_id)))


def message_type(name_or_id: str | int | MessageType) -> MessageType:
    """Look a registered type up by name or type id (installed packages' types included)."""
    if isinstance(name_or_id, MessageType):
        return name_or_id
    found = _lookup(name_or_id)
    if found is None and not _plugins_loaded:
        load_plugin_types()
        found = _lookup(name_or_id)
    if found is None:
        hint = ""
        if isinstance(name_or_id, str):
            close = difflib.get_close_matches(name_or_id, list(_BY_NAME), n=1)
            if close:
                hint = f"; did you mean {close[0]!r}?"
        raise MessageError(f"unknown message type {name_or_id!r}{hint} "
                           f"(known: {', '.join(sorted(_BY_NAME))})")
    return found


def registered() -> tuple[MessageType, ...]:
    """All registered message types, by type id."""
    return tuple(_BY_ID[k] for k in sorted(_BY_ID))


def new_fixed(mtype: MessageType) -> np.ndarray:
    """A writable zeroed fixed part, shape (1,)."""
    return np.zeros(1, dtype=mtype.dtype)


def new_var(mtype: MessageType, n: int) -> np.ndarray:
    """A writable zeroed variable part of ``n`` elements."""
    if mtype.var_dtype is None:
        raise MessageError(f"{mtype.name} has no variable-length part")
    return np.zeros(int(n), dtype=mtype.var_dtype)


def fields_as_dict(fixed: np.ndarray, var: np.ndarray | None = None) -> dict[str, object]:
    """A message's fields as plain Python values (JSON-ready); padding is left out.

    The variable part, if any, becomes one list per field under ``"points"``.
    """
    rec = fixed.reshape(())
    out: dict[str, object] = {}
    for name in rec.dtype.names:
        if name == "pad":
            continue
        out[name] = rec[name].tolist()
    if var is not None:
        out["points"] = {name: var[name].tolist() for name in var.dtype.names if name != "pad"}
    return out


# --- types of installed packages -------------------------------------------------------

#: type ids below this are robo_orch's own; installed packages number their types from here
PLUGIN_TYPE_IDS = 1024
_plugins_loaded = False
_ORIGIN: dict[str, str] = {}  # plugin type name -> the entry point that gave it


def load_plugin_types(*, reload: bool = False) -> list[MessageType]:
    """Register the message types of installed packages and return them (once per process).

    Each entry point of the group ``robo_orch.messages`` names a :class:`MessageType` or a
    sequence of them (``battery = "my_robot.messages:BATTERY_STATE"``).  Their type ids
    must be at least :data:`PLUGIN_TYPE_IDS` and differ from every other type's; a clash
    or a broken entry point raises :class:`MessageError` naming the entry points.
    """
    global _plugins_loaded
    if _plugins_loaded and not reload:
        return []
    _plugins_loaded = True
    found: list[MessageType] = []
    for ep in sorted(entry_points(group=MESSAGES), key=lambda ep: (ep.name, ep.value)):
        where = f"entry point '{ep.name} = {ep.value}' (group {MESSAGES})"
        try:
            obj = ep.load()
        except Exception as err:  # a broken plugin must not look like a missing type
            raise MessageError(f"{where} failed to load: {err}") from err
        types = [obj] if isinstance(obj, MessageType) else obj
        if not (isinstance(types, (list, tuple))
                and all(isinstance(t, MessageType) for t in types)):
            raise MessageError(f"{where} is {obj!r}, not a MessageType or a list of them")
        for mtype in types:
            if mtype.type_id < PLUGIN_TYPE_IDS:
                raise MessageError(f"{where}: type id {mtype.type_id} of {mtype.name!r} is in "
                                   f"robo_orch's own range (0-{PLUGIN_TYPE_IDS - 1}); "
                                   f"number plugin types from {PLUGIN_TYPE_IDS}")
            known = [k for k in (_BY_NAME.get(mtype.name), _BY_ID.get(mtype.type_id))
                     if k is not None and k is not mtype]
            try:
                found.append(register(mtype))
            except MessageError as err:
                other = _ORIGIN.get(known[0].name, "robo_orch") if known else "robo_orch"
                raise MessageError(f"{where}: {err} (registered by {other})") from None
            _ORIGIN.setdefault(found[-1].name, where)
    return found
