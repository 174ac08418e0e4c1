"""The README's promises: two set-up commands, CI runs the test one, the reference is current."""

from __future__ import annotations

import re
from pathlib import Path

from robo_orch.config.describe import config_reference_markdown

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
        "README config reference is stale: run " \
        "python -m robo_orch.config.describe --update README.md"


def test_readme_behavior_example_runs_in_a_mission(tmp_path):
    """The README's 'Writing a behavior' example, as written, plugs into a mission."""
    from robo_orch.config import load_config
    from robo_orch.missions.session import run_mission

    section = README.split("## Writing a behavior", 1)[1].split("\n## ", 1)[0]
    module = re.search(r"```python\n(.+?)\n```", section, re.S).group(1)
    table = re.search(r"```toml\n(.+?)\n```", section, re.S).group(1)
    (tmp_path / "wall_follow.py").write_text(module + "\n")
    (tmp_path / "robot.toml").write_text(f'extends = "demo"\n\n{table}\n')
    config = load_config(tmp_path / "robot.toml")
    spec = next(b for b in config.behaviors if b.name == "wall")
    assert spec.cls.kind == "wall_follow" and spec.params.distance == 0.8
    result = run_mission(config, backend="lockstep", duration_s=2.0)
    planner = result.controller.planner
    wall = planner.names.index("wall")
    assert planner.last_run[wall] > 0, "the user's behavior was scheduled"
    assert planner.activations[wall] == 1.0


def test_a_broken_behavior_file_is_a_one_line_config_error(tmp_path):
    from robo_orch.config import load_config
    from robo_orch.errors import ConfigError

    (tmp_path / "broken.py").write_text("import numba\nraise RuntimeError('bad\\nthing')\n")
    (tmp_path / "robot.toml").write_text('extends = "demo"\n[behaviors.b]\nkind = "broken.py"\n')
    try:
        load_config(tmp_path / "robot.toml")
    except ConfigError as err:
        assert "broken.py failed to import: bad thing" in str(err)
        assert "\n" not in str(err)
    else:
        raise AssertionError("a broken behavior file must be refused")
