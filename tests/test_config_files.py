"""Files that cannot hang or crash the tools: every path a command reads, bad on purpose.

Each case runs the real command in a child process, which must exit 2 within seconds
with one line on stderr (no traceback): a file that is binary, not UTF-8, UTF-16,
nested too deeply or too large, or not a regular file at all (``/dev/zero``, a FIFO
nobody writes, a directory), named directly, through ``extends``, or as a recording.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest
from helpers import cli

from robo_orch.config import load_config
from robo_orch.errors import ConfigError

BIG = 9 * 1024 * 1024  #: larger than any config file may be
_MEMORY_CAP = 3 << 30  #: a command that reads /dev/zero forever fails instead of swapping


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_CAP, _MEMORY_CAP))


def _write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


# name -> (make the bad file in tmp_path, words the error names)
BAD_FILES = {
    "binary": (lambda d: _write(d / "bin.toml", b"\x00\x01\x02MCAP\xff\xfe" * 40),
               "binary"),
    "latin-1": (lambda d: _write(d / "latin.toml", "# caf\xe9\n[loop]\nrate_hz = 50\n"
                                 .encode("latin-1")), "not UTF-8"),
    "utf-16": (lambda d: _write(d / "u16.toml", "[loop]\nrate_hz = 50\n".encode("utf-16")),
               "UTF-16"),
    "deep array": (lambda d: _write(d / "deep.toml", "x = " + "[" * 5000 + "]" * 5000 + "\n"),
                   "nested"),
    "deep inline table": (lambda d: _write(d / "inline.toml",
                                           "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"),
                          "nested"),
    "too large": (lambda d: _write(d / "big.toml", b"#" * (BIG - 1) + b"\n"), "larger than"),
    "/dev/zero": (lambda d: Path("/dev/zero"), "not a regular file"),
    "fifo": (lambda d: _fifo(d / "fifo.toml"), "not a regular file"),
    "directory": (lambda d: _dir(d / "dir.toml"), "directory"),
}


def _one_error_line(proc, *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("robo-orch: error: ") and "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_config_file_exits_2_with_one_line(tmp_path, case):
    make, words = BAD_FILES[case]
    path = make(tmp_path)
    line = _one_error_line(cli("check", str(path), timeout=20, preexec_fn=_cap_memory), words)
    assert str(path) in line


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_named_by_extends_exits_2_with_one_line(tmp_path, case):
    make, words = BAD_FILES[case]
    base = make(tmp_path)
    top = _write(tmp_path / "top.toml", f'extends = "{base}"\n')
    line = _one_error_line(cli("check", str(top), timeout=20, preexec_fn=_cap_memory), words)
    assert str(base) in line


@pytest.mark.parametrize("case", ["fifo", "directory", "/dev/zero", "binary"])
@pytest.mark.parametrize("command", [["plot"], ["replay", "--rate", "0"]])
def test_a_bad_recording_exits_2_with_one_line(tmp_path, case, command):
    make, _ = BAD_FILES[case]
    path = make(tmp_path)
    if case == "directory":
        path = path.rename(tmp_path / "dir.mcap")
    line = _one_error_line(cli(*command, str(path), timeout=20, preexec_fn=_cap_memory))
    assert str(path) in line


def test_a_deeply_nested_override_exits_2_with_one_line():
    value = "[" * 5000 + "]" * 5000
    _one_error_line(cli("check", "--set", f"sim.lidar.rays={value}", timeout=20),
                    "sim.lidar.rays", "nested")


def test_a_deep_table_that_toml_accepts_is_refused_before_anything_walks_it(tmp_path):
    keys = ".".join(["k"] * 2000)  # dotted keys: the parser itself does not recurse
    path = _write(tmp_path / "dotted.toml", f"{keys} = 1\n")
    with pytest.raises(ConfigError, match="nested"):
        load_config(path)


def test_a_long_extends_chain_is_refused(tmp_path):
    _write(tmp_path / "c0.toml", 'extends = "demo"\n')
    for i in range(1, 40):
        _write(tmp_path / f"c{i}.toml", f'extends = "c{i - 1}.toml"\n')
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "c39.toml")
    assert info.value.key == "extends" and "chain" in info.value.problem
    assert load_config(tmp_path / "c10.toml").loop.rate_hz == 50  # a short chain is fine


def test_a_utf8_byte_order_mark_is_read_as_utf8(tmp_path):
    path = _write(tmp_path / "bom.toml", b"\xef\xbb\xbfextends = \"demo\"\n[loop]\nrate_hz = 40\n")
    assert load_config(path).loop.rate_hz == 40
