"""Pseudo-terminal links and the base class of device emulators."""

from __future__ import annotations

import contextlib
import errno
import os
import termios
import tty

import numpy as np

from robo_orch.config.sections import DeviceFaults


class PtyLink:
    """A pseudo-terminal in raw mode: the emulator holds the master end.

    A driver opens :attr:`path` like a serial device (``serial_for_url(path)``).
    The emulator keeps the slave end open too, so writes never fail while a
    driver is restarting; bytes written meanwhile wait in the terminal buffer
    (up to its size: beyond that they are dropped and counted, as a UART
    overruns).
    """

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave, termios.TCSANOW)
        os.set_blocking(self.master, False)
        #: the path a driver opens
        self.path = os.ttyname(self._slave)
        #: bytes that did not fit into the terminal buffer
        self.overrun_bytes = 0

    def write(self, data: bytes) -> int:
        """Send bytes towards the driver without blocking; returns how many went."""
        if not data or self.master < 0:
            return 0
        try:
            n = os.write(self.master, data)
        except BlockingIOError:
            n = 0
        except OSError as err:
            if err.errno != errno.EIO:
                raise
            n = 0
        self.overrun_bytes += len(data) - n
        return n

    def read(self, max_bytes: int = 65536) -> bytes:
        """Bytes the driver wrote since the last call (empty if none, or closed)."""
        if self.master < 0:
            return b""
        try:
            return os.read(self.master, max_bytes)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as err:
            if err.errno == errno.EIO:
                return b""
            raise

    def fileno(self) -> int:
        """The master's file descriptor, for ``select``/``zmq.Poller``."""
        return self.master

    def close(self) -> None:
        """Close both ends; the driver sees the device disappear.  Idempotent: a second
        close must not hit whatever file the same descriptor numbers name by then."""
        fds, self.master, self._slave = (self.master, self._slave), -1, -1
        for fd in fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


#: the faults an emulator injects (configured as ``[sim.faults.NAME]``)
Faults = DeviceFaults


class DeviceEmulator:
    """Base of the device emulators: fault injection and host-side input.

    Subclasses build frames with their protocol's encoder and pass every frame
    through :meth:`emit`, which applies the configured :class:`Faults` and
    collects the bytes; the owner sends :meth:`drain` to the link.  Bytes the
    host wrote arrive through :meth:`host_bytes`.
    """

    def __init__(self, faults: Faults | None = None, seed: int = 0) -> None:
        self.faults = faults or Faults()
        self.rng = np.random.default_rng(seed)
        self._out = bytearray()
        #: frames emitted, frames corrupted on purpose, garbage bytes inserted, bytes dropped
        self.emitted = 0
        self.corrupted = 0
        self.garbage_bytes = 0
        self.dropped_bytes = 0

    def set_faults(self, faults: Faults) -> None:
        """Change the injected faults at run time."""
        self.faults = faults

    def corrupt(self, frame: bytes) -> bytes:
        """A copy of ``frame`` whose integrity check fails; default: flip a bit of the last byte.

        Protocols whose check does not cover the whole frame override this.
        """
        out = bytearray(frame)
        out[-1] ^= 1 << int(self.rng.integers(8))
        return bytes(out)

    def emit(self, frame: bytes) -> None:
        """Queue one frame for the host, with faults applied."""
        f = self.faults
        if f.silent:
            return
        rng = self.rng
        if f.garbage_rate and rng.random() < f.garbage_rate:
            n = int(rng.integers(1, 16))
            self._out += rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            self.garbage_bytes += n
        if f.corrupt_rate and rng.random() < f.corrupt_rate:
            frame = self.corrupt(frame)
            self.corrupted += 1
        if f.drop_rate:
            keep = rng.random(len(frame)) >= f.drop_rate
            self.dropped_bytes += int(len(frame) - keep.sum())
            frame = bytes(np.frombuffer(frame, dtype=np.uint8)[keep])
        self._out += frame
        self.emitted += 1

    def drain(self) -> bytes:
        """The bytes queued since the last call."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def host_bytes(self, data: bytes) -> None:  # noqa: B027  (optional hook)
        """Bytes the host (the driver) wrote to the device; default: ignored."""
