"""What a subscription hands out and what it counts: received messages and counters."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from robo_orch.messages import DECODE_REASONS, Header

#: why a subscription refuses a message: the decode reasons, plus ``oversize``
#: (a frame above the subscription's ``max_bytes``; memory bus -- ZeroMQ drops the
#: connection instead, counted in ``disconnects``)
REJECT_REASONS = (*DECODE_REASONS, "oversize")
#: publisher ids whose sequence numbers a subscription follows (least recently heard
#: evicted first); a topic has a handful of publishers, a flood of ids cannot grow it
MAX_PUBLISHERS = 64


class Received(NamedTuple):
    """One received message: read-only views plus the receiver's clock time."""

    header: Header
    fixed: np.ndarray  #: structured, shape (), read-only
    var: np.ndarray | None  #: structured, shape (count,), read-only; None if no var part
    recv_ns: int  #: receiver clock time of the poll that took it from the transport


class TopicCounters:
    """What one subscription received, and everything it discarded and why.

    ``seq_gaps`` counts missing sequence numbers per (publisher id, incarnation);
    messages a ZeroMQ publisher drops at its high-water mark, and messages this
    subscription dropped undecoded, show up here too.  A new incarnation of a
    publisher id counts in ``restarts`` and starts a new sequence.  A sequence
    number not above the last one of the same incarnation (a duplicate, or a
    publisher restarted without a new incarnation) counts in ``out_of_order``; the
    message is still delivered and becomes the new baseline.  Sequence numbers are
    followed for at most ``max_publishers`` publisher ids; beyond that the least
    recently heard one is forgotten (counted in ``publishers_evicted``) and, if it
    speaks again, starts a new baseline.  ``age_s`` uses the receiver's clock
    (arrival), which is comparable with ``now_ns`` even when the publisher's clock
    is another machine's.
    """

    __slots__ = ("topic", "received", "malformed", "malformed_by_reason", "seq_gaps",
                 "out_of_order", "restarts", "dropped", "superseded", "truncated",
                 "disconnects", "publishers_evicted", "last_stamp_ns", "last_recv_ns",
                 "_last_seq", "_capacity")

    def __init__(self, topic: str, max_publishers: int = MAX_PUBLISHERS) -> None:
        if int(max_publishers) < 1:
            raise ValueError(f"max_publishers must be >= 1, got {max_publishers}")
        self.topic = topic
        self.received = 0  #: valid messages
        self.malformed = 0  #: invalid messages, all reasons
        self.malformed_by_reason = dict.fromkeys(REJECT_REASONS, 0)
        self.seq_gaps = 0  #: sequence numbers never seen
        self.out_of_order = 0
        self.restarts = 0  #: new incarnations of a known publisher id
        #: overflow of the queue or of the transport inbox, and messages beyond a
        #: poll's bound, discarded undecoded
        self.dropped = 0
        self.superseded = 0  #: replaced before being read (latest QoS, or by latest())
        self.truncated = 0  #: copy_into calls that did not fit all var elements
        #: connections to a publisher that ZeroMQ dropped: on a frame above max_bytes
        #: (the bus connects again), or because the publisher closed its socket
        self.disconnects = 0
        self.publishers_evicted = 0  #: publisher ids forgotten to keep the table bounded
        self.last_stamp_ns: int | None = None
        self.last_recv_ns: int | None = None
        # publisher id -> (incarnation, last seq), least recently heard first
        self._last_seq: dict[int, tuple[int, int]] = {}
        self._capacity = int(max_publishers)

    @property
    def publishers(self) -> int:
        """Publisher ids whose sequence numbers are followed now (at most ``max_publishers``)."""
        return len(self._last_seq)

    def age_s(self, now_ns: int) -> float:
        """Seconds since the newest message arrived (inf if none yet)."""
        if self.last_recv_ns is None:
            return math.inf
        return (now_ns - self.last_recv_ns) * 1e-9

    def as_dict(self) -> dict[str, object]:
        """A plain snapshot, for summaries and logs."""
        out = {name: getattr(self, name) for name in self.__slots__ if name[0] != "_"}
        out["malformed_by_reason"] = dict(self.malformed_by_reason)
        return out

    def _accept(self, header: Header, recv_ns: int) -> None:
        key = header.publisher_id
        table = self._last_seq
        last = table.get(key)
        seq = header.seq
        if last is not None:
            incarnation, last_seq = last
            if header.incarnation != incarnation:
                self.restarts += 1
            elif seq > last_seq + 1:
                self.seq_gaps += seq - last_seq - 1
            elif seq <= last_seq:
                self.out_of_order += 1
            if len(table) > 1:
                del table[key]  # re-inserted below as the most recently heard
        elif len(table) >= self._capacity:
            del table[next(iter(table))]
            self.publishers_evicted += 1
        table[key] = (header.incarnation, seq)
        self.received += 1
        self.last_stamp_ns = header.stamp_ns
        self.last_recv_ns = recv_ns

    def _reject(self, reason: str) -> None:
        self.malformed += 1
        self.malformed_by_reason[reason] += 1

    def __repr__(self) -> str:
        return f"TopicCounters({self.as_dict()})"


def copy_into(received: Received, fixed_out: np.ndarray, var_out: np.ndarray | None,
              counters: TopicCounters | None = None) -> int:
    """Copy a message into preallocated writable arrays; return the var elements copied.

    ``fixed_out`` has the message's dtype and one element; ``var_out`` is a 1-D
    array of the var dtype (or None to skip).  If ``var_out`` is too small the
    rest is cut off and, when given, ``counters.truncated`` is incremented.
    """
    # element and byte copies: structured slice assignment is several times slower
    fixed_out[0 if fixed_out.ndim else ()] = received.fixed
    var = received.var
    if var is None or var_out is None:
        return 0
    n = var.shape[0]
    if n > var_out.shape[0]:
        n = var_out.shape[0]
        if counters is not None:
            counters.truncated += 1
    if (n and var_out.dtype == var.dtype and var_out.flags.c_contiguous
            and var.flags.c_contiguous):
        nbytes = n * var.itemsize
        var_out.view(np.uint8)[:nbytes] = var.view(np.uint8)[:nbytes]
    elif n:
        var_out[:n] = var[:n]
    return n
