"""Where robo_orch installs: 64-bit x86_64 and aarch64; 32-bit ARM refused with the reason;
the live view is an extra (tests/test_live.py checks the message when it is missing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from robo_orch import platforms

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("machine", "bits"), [("x86_64", 64), ("aarch64", 64)])
def test_supported_platforms_pass(machine, bits):
    assert platforms.unsupported(machine, bits) is None


@pytest.mark.parametrize(("machine", "bits"), [("armv7l", 32), ("armv6l", 32), ("aarch64", 32),
                                               ("i686", 32)])
def test_32_bit_is_refused_with_the_reason(machine, bits):
    why = platforms.unsupported(machine, bits)
    assert why is not None and "numba" in why and "wheels" in why
    if machine.startswith("arm") or machine == "aarch64":
        assert "Raspberry Pi OS 64-bit" in why


def test_import_and_install_refuse_a_32_bit_arm_python(tmp_path):
    """platform.machine() made to say armv7l: the import and setup.py stop in one line."""
    fake = tmp_path / "sitecustomize.py"
    fake.write_text("import platform\nplatform.machine = lambda: 'armv7l'\n")
    env = {"PYTHONPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", "import robo_orch"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert "ImportError: robo_orch does not run on 32-bit ARM (armv7l" in proc.stderr
    proc = subprocess.run([sys.executable, "setup.py", "--name"], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("robo-orch: cannot install: robo_orch does not run on 32-bit")


def test_the_live_view_is_an_extra_and_tests_install_it():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("foxglove") for d in project["dependencies"])
    assert any(d.startswith("foxglove-sdk") for d in project["optional-dependencies"]["live"])
    assert any(d.startswith("foxglove-sdk") for d in project["optional-dependencies"]["test"])
