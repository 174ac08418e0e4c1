"""The plugin example (examples/battery_plugin) proves the plugin contract: installed as its
own distribution with pip, it adds a message type and a serial driver that robo_orch finds
by name through entry points, and no module of robo_orch names it."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from helpers import start_cli, stop

from robo_orch import messages


def test_its_driver_runs_on_its_emulator_and_publishes_its_message_type(installed):
    emu = subprocess.Popen([sys.executable, "-m", "robo_orch_battery.emulator", "--rate", "20",
                            "--drain", "0.05"], env=installed, stdout=subprocess.PIPE, text=True)
    proc = None
    try:
        port = emu.stdout.readline().strip()
        assert port.startswith("/dev/")
        proc = start_cli("driver", "battery_monitor", "--port", port, "--echo", env=installed,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines, buf = [], b""
        deadline = time.monotonic() + 60
        fd = proc.stdout.fileno()
        while time.monotonic() < deadline and len(lines) < 5 and proc.poll() is None:
            if select.select([fd], [], [], 0.2)[0]:
                buf += os.read(fd, 65536)
            *done, buf = buf.split(b"\n")
            lines += [json.loads(x) for x in done if x.strip()]
        assert len(lines) >= 5, proc.stderr.read().decode() if proc.poll() is not None else ""
        assert {x["type"] for x in lines} == {"battery_state"}
        charge = [x["charge"] for x in lines]
        assert all(0.0 < c <= 1.0 for c in charge) and charge[-1] < charge[0]  # draining
        assert all(13.2 <= x["voltage"] <= 16.8 for x in lines)  # a 4S pack
    finally:
        if proc is not None:
            assert stop(proc) in (0, 130)
        stop(emu)


def test_its_message_type_is_registered_from_the_entry_point(installed):
    probe = ("from robo_orch.messages import message_type; t = message_type('battery_state'); "
             "print(t.type_id, message_type(t.type_id).name)")
    out = subprocess.run([sys.executable, "-c", probe], env=installed, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert out.split() == ["1024", "battery_state"]


def test_its_parser_resyncs_after_garbage_and_counts_what_it_drops(installed, monkeypatch):
    monkeypatch.syspath_prepend(installed["PYTHONPATH"].split(os.pathsep)[0])
    from robo_orch_battery.protocol import BatteryParser, _xor, encode_line

    good = [encode_line(14.8, 2.0, 0.5 + i / 100) for i in range(5)]
    bad = bytearray(good[2])
    bad[8] ^= 0x04  # a changed digit: the checksum fails
    huge = b"BAT,1e999,0,0"  # a well-formed line with an impossible voltage
    huge = b"$" + huge + b"*%02X\r\n" % _xor(huge)
    stream = good[0] + b"\x00\xff$BA" + good[1] + bytes(bad) + huge + good[3]
    parser = BatteryParser()
    out = [r for i in range(0, len(stream), 7) for r in parser.feed(stream[i:i + 7])]
    assert [r.charge for r in out] == [0.5, 0.51, 0.53]
    assert parser.bad == {"checksum": 1, "format": 1, "range": 1}
    assert parser.skipped_bytes >= 2


def test_no_module_of_robo_orch_names_it():
    root = Path(__file__).resolve().parents[1]
    for folder in ("robo_orch", "drivers", "behaviors", "sim"):
        for path in (root / folder).rglob("*.py"):
            assert "robo_orch_battery" not in path.read_text(), path


def test_it_passes_the_plugin_checkers(installed, monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(installed["PYTHONPATH"].split(os.pathsep)[0])
    monkeypatch.setenv("PYTHONPATH", installed["PYTHONPATH"])  # (the driver's own process)
    messages.load_plugin_types(reload=True)  # installed after this process looked
    from robo_orch_battery.emulator import BatteryEmulator
    from robo_orch_battery.protocol import BatteryParser, encode_line

    from robo_orch.testing import check_driver, check_parser

    frames = [encode_line(14.0 + i / 10, 1.5, 0.9 - i / 50) for i in range(12)]
    check_parser(BatteryParser, frames)
    emulator = BatteryEmulator(drain=0.02)
    sent = [0]

    def feed(t_s: float) -> None:  # a line every 50 ms
        while sent[0] < int(t_s * 20):
            emulator.step(0.05)
            sent[0] += 1

    report = check_driver("battery_monitor", emulator=emulator, feed=feed,
                          run_dir=str(tmp_path))
    assert report.passed == ["registered", "params", "messages", "no_numba", "publishes",
                             "stops"]
