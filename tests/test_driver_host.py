"""The driver host when its device vanishes (a USB adapter unplugged, the emulator gone)."""

from __future__ import annotations

import io
import os
import textwrap

from robo_orch.bus import MemoryBus
from robo_orch.clock import WallClock
from robo_orch.config.drivers import build_driver
from robo_orch.hosting.driver_host import DriverHost

DRAINING_DRIVER = """
    from dataclasses import dataclass

    from robo_orch.driver import Driver


    @dataclass(frozen=True)
    class Params:
        '''None.'''


    class DrainingDriver(Driver):
        '''Drains its input when it stops (as a driver that flushes or resets buffers).'''

        kind = "draining"
        Params = Params

        def handle_bytes(self, data, stamp_ns):
            pass

        def stop(self, port):
            port.reset_input_buffer()
"""


def test_a_device_gone_before_the_stop_is_said_and_the_host_still_stops_cleanly(tmp_path):
    """pyserial raises termios.error (no OSError) from reset_input_buffer() and flush() on
    a vanished pty or adapter: the host says so in one line and exits 0, as stopping."""
    (tmp_path / "draining.py").write_text(textwrap.dedent(DRAINING_DRIVER))
    master, slave = os.openpty()
    port = os.ttyname(slave)
    cfg = build_driver("dev", {"kind": "./draining.py", "port": port}, source="test",
                       base_dir=tmp_path)
    bus = MemoryBus(WallClock(), publisher_id=10)
    log = io.StringIO()
    host = DriverHost("dev", cfg, bus, log=log)
    try:
        host.open()
        os.close(master)  # the device's end goes away
        master = -1
        host.stop()
        assert host.run() == 0
        assert "could not stop the device cleanly: [Errno 5]" in log.getvalue(), log.getvalue()
    finally:
        bus.close()
        os.close(slave)
        if master >= 0:
            os.close(master)


UNPLUGGED_DRIVER = """
    import os
    from dataclasses import dataclass

    from robo_orch.driver import Driver


    @dataclass(frozen=True)
    class Params:
        \"\"\"The device's end of the pty, closed while the driver sets it up.\"\"\"

        device_fd: int = -1


    class UnpluggedDriver(Driver):
        \"\"\"Loses its device in start(), between writing and draining.\"\"\"

        kind = "unplugged"
        Params = Params

        def start(self, port):
            port.write(b"hello")
            os.close(self.params.device_fd)  # unplugged
            port.flush()

        def handle_bytes(self, data, stamp_ns):
            pass
"""


def test_a_device_gone_while_it_is_set_up_is_a_one_line_start_up_error(tmp_path):
    """A vanished device in start(): a DeviceError (exit status 2, one line), not a
    traceback, and the port closed."""
    import pytest

    from robo_orch.hosting.driver_host import DeviceError

    (tmp_path / "unplugged.py").write_text(textwrap.dedent(UNPLUGGED_DRIVER))
    master, slave = os.openpty()
    cfg = build_driver("dev", {"kind": "./unplugged.py", "port": os.ttyname(slave),
                               "device_fd": master}, source="test", base_dir=tmp_path)
    bus = MemoryBus(WallClock(), publisher_id=10)
    host = DriverHost("dev", cfg, bus, log=io.StringIO())
    try:
        with pytest.raises(DeviceError, match=r"failed while setting the device up: \[Errno 5\]") \
                as err:
            host.open()
        assert err.value.exit_status == 2 and host.port is None
    finally:
        bus.close()
        os.close(slave)
