"""``--watch``: the config file as the tuning surface of a running loop.

:class:`ConfigWatcher` polls the config file's modification time and size (no
extra dependency; :data:`POLL_S` apart) on a thread of its own.  When they change
and then hold still for one more poll (an editor's save has finished), it loads
the file as the run loaded it at start (same ``--set`` overrides), validates it
completely, and compares it with what runs now
(:func:`robo_orch.config.live.from_file`):

* only live keys changed: they are submitted as one change and applied together
  between two ticks; one line says which keys and the tick;
* a restart-only key changed (a structural change): nothing changes; one line names
  the keys and says a restart is needed;
* the file does not validate: nothing changes; one line says why (the same line
  ``robo-orch check`` prints).

Loading happens on the watcher's thread, never in a tick; only the validated
change crosses to the loop (:meth:`~robo_orch.runtime.params.LiveParams.submit`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from robo_orch.config import live as L
from robo_orch.errors import ConfigError

#: seconds between two looks at the file
POLL_S = 0.25
#: the longest the watcher waits for the loop to apply a change, s
APPLY_WAIT_S = 5.0


class ConfigWatcher:
    """Reloads ``path`` when it is saved and applies its changed live keys (module doc)."""

    def __init__(self, path: str | Path, overrides: Sequence[str], live, *,
                 out=None, poll_s: float = POLL_S) -> None:
        self.path = Path(path)
        self.overrides = tuple(overrides)
        self.live = live
        self.out = sys.stderr if out is None else out
        self.poll_s = poll_s
        self.reloads = 0  #: saves seen
        self.applied = 0  #: saves whose changes were applied
        self.refused = 0  #: saves refused (invalid, or restart needed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = self._signature()

    def _signature(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def start(self) -> ConfigWatcher:
        """Start watching (a daemon thread)."""
        self._thread = threading.Thread(target=self._run, name="robo_orch-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _say(self, text: str) -> None:
        print(f"robo-orch: watch: {text}", file=self.out, flush=True)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            now = self._signature()
            if now == self._seen or now is None:
                continue
            if self._stop.wait(self.poll_s) or self._signature() != now:
                continue  # still being written: look again at the next poll
            self._seen = now
            self.reload()

    def reload(self) -> None:
        """Load the file now and apply its changed live keys (or say why not)."""
        self.reloads += 1
        base = self.live.config
        try:
            change = L.from_file(base, self.path, self.overrides)
        except ConfigError as err:
            self.refused += 1
            self._say(f"{err}; nothing changed")
            return
        if not change.changes:
            self._say(f"{self.path}: saved, no key changed")
            return
        ticket = self.live.submit(change, base)
        what = ", ".join(f"{k} = {v!r}" for k, v in change.changes.items())
        if not ticket.done.wait(APPLY_WAIT_S):
            self.refused += 1
            self._say(f"{self.path}: {what}: not applied within {APPLY_WAIT_S:g} s (is the "
                      "loop stalled?)")
            return
        if ticket.error is not None:
            self.refused += 1
            self._say(f"{ticket.error}; nothing changed")
            return
        self.applied += 1
        self._say(f"{self.path}: {what}: in effect from tick {ticket.tick}")


@contextlib.contextmanager
def watching(path: str | Path | None, overrides: Sequence[str],
             on_start: Callable | None = None, *, out=None) -> Iterator[Callable | None]:
    """Yield ``on_start`` extended to start a :class:`ConfigWatcher` on the controller
    (``path`` None: ``on_start`` unchanged); the watcher stops on exit."""
    if path is None:
        yield on_start
        return
    watchers: list[ConfigWatcher] = []

    def start(controller) -> None:
        if on_start is not None:
            on_start(controller)
        watchers.append(ConfigWatcher(path, overrides, controller.live, out=out).start())

    try:
        yield start
    finally:
        for w in watchers:
            w.stop()
