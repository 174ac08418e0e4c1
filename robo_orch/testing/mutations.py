"""Damage a valid byte stream the way a serial link does, for fuzzing a parser.

Three kinds of damage keep every byte a device sent intact but put them in the
wrong place, which is what a parser's framing (not its checksum) must survive:

* ``splice``: the stream is cut and continues somewhere else -- in another
  stream, or in the same one (bytes lost when the cut goes forwards, bytes
  replayed when it goes back);
* ``insert``: foreign bytes (line noise, another device) appear at one point;
* ``duplicate``: a run of bytes is received twice in a row.

Bit flips are not among them: a protocol without a checksum cannot detect
them, and one with a checksum is tested with them separately.

Each function is pure (positions are arguments, so a property test can draw
them and shrink them); :func:`random_mutation` draws the positions from a
numpy generator for benchmarks.  A :class:`Mutation` says which bytes of each
source stream survived intact (:attr:`Mutation.kept`), so a harness can tell
the frames a parser still had to find from the ones the damage destroyed
(:func:`intact`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

#: the kinds of damage, in the order :func:`random_mutation` knows them
KINDS = ("splice", "insert", "duplicate")


class Mutation(NamedTuple):
    """A damaged stream and what of its sources it still holds."""

    kind: str
    data: bytes  #: the damaged stream
    #: (source, start, end): byte ranges copied unbroken from a source, in stream
    #: order; source 0 is the stream mutated, 1 the stream spliced in
    kept: tuple[tuple[int, int, int], ...]


def splice(a: bytes, i: int, b: bytes, j: int) -> Mutation:
    """``a`` up to byte ``i``, then ``b`` from byte ``j`` (``b`` may be ``a`` itself)."""
    i = min(max(i, 0), len(a))
    j = min(max(j, 0), len(b))
    src = 0 if b is a else 1
    return Mutation("splice", a[:i] + b[j:], ((0, 0, i), (src, j, len(b))))


def insert(a: bytes, i: int, junk: bytes) -> Mutation:
    """``junk`` inserted into ``a`` before byte ``i``."""
    i = min(max(i, 0), len(a))
    return Mutation("insert", a[:i] + bytes(junk) + a[i:], ((0, 0, i), (0, i, len(a))))


def duplicate(a: bytes, i: int, length: int) -> Mutation:
    """The ``length`` bytes of ``a`` from byte ``i`` received twice in a row."""
    i = min(max(i, 0), len(a))
    e = min(i + max(length, 0), len(a))
    return Mutation("duplicate", a[:e] + a[i:], ((0, 0, e), (0, i, len(a))))


def random_mutation(a: bytes, rng: np.random.Generator, kind: str,
                    others: Sequence[bytes] = (), max_len: int = 64,
                    lo: int = 0, hi: int | None = None) -> Mutation:
    """One mutation of ``kind`` at random, between bytes ``lo`` and ``hi`` of ``a``.

    ``splice`` continues in ``a`` itself or in one of ``others`` (equally often),
    at any byte; ``insert`` adds 1 to ``max_len`` random bytes; ``duplicate``
    repeats 1 to ``max_len`` bytes.
    """
    hi = len(a) if hi is None else min(hi, len(a))
    i = int(rng.integers(lo, max(lo, hi) + 1))
    if kind == "splice":
        pool = (a, *others)
        b = pool[int(rng.integers(len(pool)))]
        return splice(a, i, b, int(rng.integers(0, len(b) + 1)))
    n = int(rng.integers(1, max_len + 1))
    if kind == "insert":
        return insert(a, i, rng.integers(0, 256, n, dtype=np.uint8).tobytes())
    if kind == "duplicate":
        return duplicate(a, i, n)
    raise ValueError(f"unknown mutation kind {kind!r}; known: {', '.join(KINDS)}")


def intact(spans: Sequence[tuple[int, int]], mutation: Mutation,
           source: int = 0) -> list[int]:
    """Indices of the frames of ``source`` (byte ``spans``, in order) that a mutation kept
    whole.  A frame kept twice (duplicated) is listed twice."""
    out: list[int] = []
    for src, start, end in mutation.kept:
        if src != source:
            continue
        out.extend(k for k, (s, e) in enumerate(spans) if start <= s and e <= end)
    return out


def chunks(data: bytes, rng: np.random.Generator, max_size: int = 256) -> Iterator[bytes]:
    """``data`` cut into reads of 1 to ``max_size`` bytes, as a serial port returns them."""
    pos = 0
    while pos < len(data):
        n = int(rng.integers(1, max_size + 1))
        yield data[pos:pos + n]
        pos += n
