"""``check_parser``: the guarantees of :class:`robo_orch.driver.Parser`, on a plugin's parser.

A plugin author hands over a factory of fresh parsers and a few valid frames (or
messages and the protocol's encoder); the checker builds streams from them, damages
them with :mod:`robo_orch.testing.mutations` and checks, each check by name:

* ``valid_stream``: the frames, sent back to back, decode to one message per frame
  (or to ``expected``), with no rejection and no skipped byte;
* ``chunking``: a valid stream read whole, byte by byte and in random reads gives the
  same frames and the same counters (but ``frames``, the messages returned: a parser
  may group frames by read).  Damaged streams are not compared: a parser may decide
  on a frame by what follows it in the same read (WitMotion's packet confirmation);
* ``counters_grow``: no counter ever goes down, none disappears, and ``bytes_in``
  counts every byte fed;
* ``resync_prefix``, ``resync_between``, ``resync_truncated``: after random garbage
  before the first frame or between two frames, and after a frame cut short, the
  parser finds the next valid frame (``resync_loss`` frames may be lost, for
  protocols whose frame ends mark the boundary), counts the damage (a skipped byte
  or a rejection by reason) and makes up nothing.  A frame cut short may still
  decode (NMEA's sentence that lost only its line end): then nothing was damaged;
* ``random_bytes``: random bytes and damaged copies of the stream, in random reads,
  never raise (``fuzz_rounds`` rounds, seeded);
* ``round_trip`` (with ``messages`` and ``encoder``): every message, encoded and
  decoded, comes back the same (give messages the encoding represents exactly, such
  as decoded ones: an encoding may quantize values).

Frames are compared through ``keys`` (decoded messages -> one identity per frame;
default ``repr`` of each message), so a parser that returns several frames in one
message (RPLIDAR's runs of nodes) gives one key per frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from robo_orch.testing.check_report import CheckReport
from robo_orch.testing.mutations import KINDS, chunks, random_mutation

#: garbage lengths drawn for the resync checks, bytes
GARBAGE_BYTES = (8, 64)
_RESYNC_ROUNDS = 8  # garbage strings (and places) tried per resync check


def _default_keys(out: list) -> list:
    return [repr(m) for m in out]


def _counters(parser: Any) -> dict[str, int]:
    fn = getattr(parser, "counters", None)
    return dict(fn()) if callable(fn) else {}


def _damage(counters: dict[str, int]) -> int:
    """Skipped bytes plus rejected frames."""
    return sum(v for k, v in counters.items() if k == "skipped_bytes" or k.startswith("bad."))


class _Harness:
    """Decodes byte streams with fresh parsers and compares the frames found."""

    def __init__(self, factory: Callable[[], Any], keys: Callable[[list], list]) -> None:
        self.factory = factory
        self.keys = keys

    def decode(self, pieces: Iterable[bytes]) -> tuple[list, Any]:
        parser = self.factory()
        out: list = []
        for piece in pieces:
            out.extend(parser.feed(piece))
        return self.keys(out), parser

    def whole(self, data: bytes) -> tuple[list, Any]:
        return self.decode([data])


def _resync_problem(got: list, ref: list, i: int, cut: int, lost_max: int) -> str | None:
    """None if ``got`` is ``ref`` less the ``cut`` frames the damage destroyed (from frame
    ``i`` on) and at most ``lost_max`` more right next to them, with nothing made up."""
    known = set(ref)
    made_up = [k for k in got if k not in known]
    if made_up:
        return f"{len(made_up)} frame(s) never sent decoded, first {made_up[0]!r:.80}"
    p = min(i, _first_difference(got, ref))  # frames kept before the damage
    s = len(got) - p  # and after it
    lost = len(ref) - len(got) - cut
    if s < 0 or got[p:] != ref[len(ref) - s:] or not 0 <= lost <= lost_max:
        return (f"{len(got)} of the {len(ref) - cut} valid frames decoded, "
                f"{max(lost, 0)} lost next to the damage (at most {lost_max} may be)"
                if lost > lost_max else "the valid frames around the damage came out changed")
    return None


def check_parser(parser_factory: Callable[[], Any], frames: Sequence[bytes] | None = None, *,
                 messages: Sequence[Any] | None = None,
                 encoder: Callable[[Any], bytes] | None = None,
                 expected: Sequence[Any] | None = None,
                 keys: Callable[[list], list] | None = None, head: bytes = b"",
                 hold: int = 0, resync_loss: int = 0, relock: int = 0, seed: int = 0,
                 fuzz_rounds: int = 100,
                 raise_on_failure: bool = True) -> CheckReport:
    """Check a parser's guarantees (module docstring); the report, or :class:`CheckFailed`.

    ``parser_factory()`` returns a new parser ready for the stream; ``frames`` are
    valid frames in stream order (at least 4 + ``hold`` + ``resync_loss``, and 4 +
    ``relock``), or
    ``messages`` encoded by ``encoder``.
    ``head``: bytes a stream starts with once (a response descriptor), never damaged.
    ``hold``: frames a parser may hold back at the end of a stream until later bytes
    confirm them.  ``resync_loss``: valid frames damage may cost next to the frame it
    hits, before or after it (0: the next valid frame is always found; 1 for a
    protocol whose frames are closed by a delimiter, such as COBS, where garbage joins
    the next frame, or one that confirms a frame by the next frame's start).
    ``relock``: valid frames in a row a parser needs after damage before it trusts the
    stream again (RPLIDAR: ``RELOCK_NODES``); damage is placed with at least that many
    frames after it, as a continuous stream has.
    """
    if frames is None:
        if messages is None or encoder is None:
            raise TypeError("check_parser needs frames, or messages and an encoder")
        frames = [encoder(m) for m in messages]
    frames = [bytes(f) for f in frames]
    after = max(hold + resync_loss, relock)  # frames enough after damage to resync
    least = 4 + after
    if len(frames) < least:
        raise ValueError(f"check_parser needs at least {least} valid frames, got {len(frames)}")
    h = _Harness(parser_factory, keys or _default_keys)
    rng = np.random.default_rng(seed)
    stream = head + b"".join(frames)
    name = getattr(parser_factory, "__qualname__", None) or type(parser_factory()).__qualname__
    report = CheckReport(f"check_parser({name})")
    ref: list = []

    def garbage() -> bytes:
        return rng.integers(0, 256, int(rng.integers(*GARBAGE_BYTES)), dtype=np.uint8).tobytes()

    def valid_stream() -> str | None:
        got, parser = h.whole(stream)
        ref[:] = got
        if expected is not None:
            want = h.keys(list(expected))
            if got != want[:len(got)] or len(want) - len(got) > hold:
                return (f"decoded {len(got)} frames, not the {len(want)} expected (first "
                        f"difference at frame {_first_difference(got, want)})")
        elif not len(frames) - hold <= len(got) <= len(frames):
            return f"{len(frames)} valid frames decoded to {len(got)}"
        if _damage(_counters(parser)):
            return f"a valid stream counted as damaged: {_counters(parser)}"
        return None

    def chunking() -> str | None:
        base, parser = h.whole(stream)
        counters = _counters(parser)
        counters.pop("frames", None)
        ways = {"byte by byte": [stream[i:i + 1] for i in range(len(stream))]}
        for k, size in enumerate((3, 17, 256)):
            ways[f"random reads of 1 to {size} bytes"] = list(
                chunks(stream, np.random.default_rng(seed + k), size))
        for how, pieces in ways.items():
            got, parser = h.decode(pieces)
            if got != base:
                return (f"{how}: {len(got)} frames, whole: {len(base)} (first difference at "
                        f"frame {_first_difference(got, base)})")
            now = _counters(parser)
            now.pop("frames", None)
            if now != counters:
                return f"{how}: counters {now}, whole: {counters}"
        return None

    def counters_grow() -> str | None:
        data = random_mutation(stream, rng, "insert", lo=len(head)).data + garbage() + stream
        parser = parser_factory()
        before: dict[str, int] = {}
        fed = 0
        for piece in chunks(data, rng, 7):
            parser.feed(piece)
            fed += len(piece)
            now = _counters(parser)
            down = [f"{k} {v} -> {now.get(k)}" for k, v in before.items()
                    if now.get(k, -1) < v]
            if down:
                return f"counters went down or vanished: {', '.join(down)}"
            before = now
        if "bytes_in" in before and before["bytes_in"] != fed:
            return f"bytes_in {before['bytes_in']} after {fed} bytes fed"
        if not before:
            return "the parser has no counters() (derive from robo_orch.driver.Parser)"
        return None

    def resync(kind: str) -> Callable[[], str | None]:
        def check() -> str | None:
            clean_damage = _damage(_counters(h.whole(stream)[1]))
            body = frames
            for _ in range(_RESYNC_ROUNDS):
                i = int(rng.integers(1, len(body) - after - 1))
                if kind == "prefix":
                    i = 0
                    data = head + garbage() + b"".join(body)
                elif kind == "between":
                    data = head + b"".join(body[:i]) + garbage() + b"".join(body[i:])
                else:
                    cut = body[i][:int(rng.integers(1, max(2, len(body[i]))))]
                    data = head + b"".join(body[:i]) + cut + b"".join(body[i + 1:])
                got, parser = h.whole(data)
                problem = _resync_problem(got, ref, i, int(kind == "truncated"), resync_loss)
                kept = False
                if problem and kind == "truncated":  # only its end marker cut: kept whole
                    kept = _resync_problem(got, ref, i, 0, resync_loss) is None
                if problem and not kept:
                    return f"damage at frame {i}: {problem}"
                if not kept and _damage(_counters(parser)) <= clean_damage:
                    return (f"damage at frame {i} not counted (no skipped byte, no "
                            f"rejection): {_counters(parser)}")
            return None
        return check

    def random_bytes() -> str | None:
        for r in range(fuzz_rounds):
            if r % 2:
                data = random_mutation(stream, rng, KINDS[r // 2 % len(KINDS)], lo=len(head)).data
            else:
                data = rng.integers(0, 256, int(rng.integers(0, 512)), dtype=np.uint8).tobytes()
            try:
                _, parser = h.decode(chunks(data, rng, 64))
            except Exception as err:  # noqa: BLE001 -- the finding
                return (f"round {r} (seed {seed}) raised {type(err).__name__}: {err}; "
                        f"input {data[:48]!r}...")
            if getattr(parser, "bytes_in", len(data)) != len(data):
                return f"round {r}: bytes_in {parser.bytes_in} after {len(data)} bytes fed"
        return None

    def round_trip() -> str | None:
        assert messages is not None and encoder is not None
        out: list = []
        parser = parser_factory()
        out.extend(parser.feed(head))
        for m in messages:
            out.extend(parser.feed(encoder(m)))
        if not len(messages) - hold <= len(out) <= len(messages):
            return f"{len(messages)} encoded messages decoded to {len(out)}"
        got, want = h.keys(out), h.keys(list(messages))
        if got != want[:len(got)]:
            k = _first_difference(got, want)
            m = messages[k] if len(messages) == len(want) else k
            return f"message {k}: {m!r:.100} came back as {got[k]!r:.100}"
        return None

    report.run("valid_stream", valid_stream)
    report.run("chunking", chunking)
    report.run("counters_grow", counters_grow)
    for kind in ("prefix", "between", "truncated"):
        report.run(f"resync_{kind}", resync(kind))
    report.run("random_bytes", random_bytes)
    if messages is not None and encoder is not None:
        report.run("round_trip", round_trip)
    else:
        report.skipped["round_trip"] = "no messages and encoder given"
    return report.raise_if_failed() if raise_on_failure else report


def _first_difference(a: list, b: list) -> int:
    return next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))
