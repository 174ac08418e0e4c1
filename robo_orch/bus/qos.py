"""Quality of service of one subscription: keep the newest, or a bounded queue."""

from __future__ import annotations

import re
from dataclasses import dataclass

_QUEUE = re.compile(r"^queue[:(]\s*(\d+)\s*\)?$")


@dataclass(frozen=True)
class QoS:
    """``latest`` keeps only the newest message; ``queue`` keeps up to ``depth``.

    Whatever a subscription discards is counted: messages replaced under
    ``latest`` in ``superseded``, messages that overflow a queue in ``dropped``.
    """

    kind: str = "latest"
    depth: int = 1

    @classmethod
    def latest(cls) -> QoS:
        """Keep only the newest message."""
        return cls("latest", 1)

    @classmethod
    def queue(cls, depth: int) -> QoS:
        """Keep up to ``depth`` messages, oldest dropped (and counted) first."""
        if depth < 1:
            raise ValueError(f"queue depth must be >= 1, got {depth}")
        return cls("queue", depth)

    @classmethod
    def parse(cls, text: str) -> QoS:
        """Parse ``"latest"``, ``"queue:8"`` or ``"queue(8)"``."""
        text = text.strip()
        if text == "latest":
            return cls.latest()
        match = _QUEUE.match(text)
        if match:
            return cls.queue(int(match.group(1)))
        raise ValueError(f"expected 'latest' or 'queue:N', got {text!r}")

    def __str__(self) -> str:
        return "latest" if self.kind == "latest" else f"queue:{self.depth}"
