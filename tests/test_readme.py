"""The README's promises: two set-up commands, CI runs the test one, the reference is current."""

from __future__ import annotations

import re
from pathlib import Path

from robo_orch.describe import config_reference_markdown

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_quick_start_has_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert "robo-orch sim" in commands[0] and "pip install ." in commands[0]
    assert "pytest" in commands[1] and "[test]" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci/run").read_text().splitlines()
    assert quick_start_commands()[1] in ci


def test_config_reference_is_generated_from_the_code():
    start, end = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"
    current = README.split(start, 1)[1].split(end, 1)[0].strip()
    assert current == config_reference_markdown().strip(), \
        "README config reference is stale: run python -m robo_orch.describe --update README.md"
