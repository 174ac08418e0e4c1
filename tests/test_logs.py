"""Log lines: timestamped and levelled on stderr, journald priorities, a rotated log file."""

from __future__ import annotations

import os
import re
import subprocess

from helpers import CLI, cli

from robo_orch import logs

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} "


def test_levels_come_from_the_words_of_a_line():
    assert logs.level_of("robo-orch: error: x.toml: loop.rate_hz: ...") == logs.logging.ERROR
    assert logs.level_of("robo-orch driver gps: error: port gone") == logs.logging.ERROR
    assert logs.level_of("robo-orch: warning: bus.insecure = true") == logs.logging.WARNING
    assert logs.level_of("robo-orch supervisor: driver lidar ready") == logs.logging.INFO


def test_lines_are_stamped_and_the_final_error_stays_as_it_is(tmp_path, capsys):
    import sys

    logs.setup("info")
    try:
        print("robo-orch supervisor: driver gps ready", file=sys.stderr)
        sys.stderr.write("robo-orch driver gps: warning: no fix ")  # a line in two writes
        sys.stderr.write("yet\n")
        logs.final_line("robo-orch: error: the end")
    finally:
        logs.teardown()
    lines = capsys.readouterr().err.splitlines()
    assert re.match(STAMP + r"INFO    robo-orch supervisor: driver gps ready$", lines[0])
    assert re.match(STAMP + r"WARNING robo-orch driver gps: warning: no fix yet$", lines[1])
    assert lines[2] == "robo-orch: error: the end"
    # a logged command's one-line errors, in a real process: as they always were
    proc = cli("driver", "nmea_gps", "--port", "/dev/does-not-exist")
    assert proc.returncode == 2 and proc.stderr.startswith("robo-orch: error: driver 'nmea_gps'")
    proc = cli("run", str(tmp_path / "missing.toml"))
    assert proc.returncode == 2
    assert proc.stderr == f"robo-orch: error: {tmp_path / 'missing.toml'}: file not found\n"


def test_journal_stream_gets_priority_prefixes_and_no_timestamps(tmp_path):
    log = tmp_path / "stderr"
    with open(log, "w") as fh:
        st = os.fstat(fh.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        subprocess.run([*CLI, "driver", "nmea_gps", "--port", "/dev/does-not-exist"],
                       stderr=fh, env=env, timeout=60, check=False)
        subprocess.run([*CLI, "run", str(tmp_path / "missing.toml")], stderr=fh, env=env,
                       timeout=60, check=False)
    lines = log.read_text().splitlines()
    assert lines[0].startswith("<3>robo-orch: error: driver 'nmea_gps'"), lines
    assert lines[1] == f"<3>robo-orch: error: {tmp_path / 'missing.toml'}: file not found"


def test_log_file_rotates_and_log_level_filters(tmp_path, capsys):
    path = tmp_path / "robo.log"
    logs.setup("warning", str(path), max_mb=0.001, backups=2)  # rotate every ~1 KiB
    try:
        import sys

        for i in range(60):
            print(f"robo-orch supervisor: line {i} " + "x" * 40, file=sys.stderr)
            print(f"robo-orch: warning: number {i}", file=sys.stderr)
        logs.final_line("robo-orch: error: the end")
    finally:
        logs.teardown()
    err = capsys.readouterr().err
    assert "supervisor" not in err  # INFO is below --log-level warning
    assert err.count("WARNING robo-orch: warning: number") == 60
    assert err.endswith("robo-orch: error: the end\n")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["robo.log", "robo.log.1", "robo.log.2"]  # two kept
    last = path.read_text().splitlines()[-1]
    assert re.match(STAMP + r"ERROR   robo-orch: error: the end$", last)
    assert all(p.stat().st_size <= 1100 for p in tmp_path.iterdir())


def test_log_options_go_before_or_after_the_command(tmp_path):
    for argv in (["--log-file", str(tmp_path / "a.log"), "check", "demo"],
                 ["check", "demo", "--log-file", str(tmp_path / "b.log")]):
        proc = cli(*argv)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a.log").exists() and (tmp_path / "b.log").exists()
    proc = cli("check", "demo", "--log-file", str(tmp_path / "no" / "such" / "x.log"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--log-file" in proc.stderr and "Traceback" not in proc.stderr
