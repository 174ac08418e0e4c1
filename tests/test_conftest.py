"""The shared fixtures in tests/conftest.py do what the test modules rely on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_the_watchdog_marker_ends_a_hung_test_with_every_stack(tmp_path):
    (tmp_path / "test_hangs.py").write_text(textwrap.dedent("""
        import time
        import pytest

        pytestmark = pytest.mark.watchdog(1)

        def test_hangs():
            time.sleep(60)
    """))
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "conftest",
                           "-p", "no:cacheprovider", str(tmp_path / "test_hangs.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=50)
    assert proc.returncode != 0
    assert "Timeout (0:00:01)!" in proc.stderr and "test_hangs" in proc.stderr, proc.stderr
