"""SIGINT and SIGTERM during a run: a clean stop, and the exit status that says it was a stop.

``robo-orch sim`` and ``robo-orch run`` exit 130 after SIGINT and 143 after
SIGTERM (128 + the signal number, as a shell reports a process killed by it), so
a supervisor or a script can tell an interrupted run from a failed mission (1)
or a fault (3).  While the loop runs, a signal asks it to stop after the current
tick (the loop then sends its zero command); before the loop has started (while
kernels compile, say) it raises :class:`Interrupted`, which unwinds the start-up
through its ``finally`` blocks.
"""

from __future__ import annotations

import signal
import threading
from types import TracebackType

from robo_orch.errors import RoboOrchError

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(RoboOrchError):
    """A run stopped by SIGINT or SIGTERM before its loop started."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_status = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name} before the loop started")


class StopSignals:
    """Installs SIGINT/SIGTERM handlers for the duration of a ``with`` block.

    :meth:`attach` hands over the loop; from then on a signal stops it and is
    remembered in :attr:`signum`.  The previous handlers come back on exit.
    Python delivers signals to the main thread only: in another thread (a Dask
    worker runs missions on its own threads) the block installs nothing, and the
    signals stay the host process's to handle.
    """

    def __init__(self) -> None:
        #: the signal that stopped the run, or None
        self.signum: int | None = None
        self._loop = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def attach(self, loop) -> None:
        """From now on a signal stops ``loop`` (anything with ``stop()``) after its tick."""
        self._loop = loop
        if self.signum is not None:
            loop.stop()

    def _handle(self, signum: int, frame) -> None:
        if self.signum is not None:
            return  # already stopping: let the clean-up finish
        self.signum = signum
        if self._loop is None:
            raise Interrupted(signum)
        self._loop.stop()

    @property
    def exit_status(self) -> int | None:
        """128 + the signal number after a signal, else None."""
        return None if self.signum is None else 128 + self.signum
