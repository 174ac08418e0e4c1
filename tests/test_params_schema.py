"""Live and restart-only keys, and live changes validated like a config file (no loop)."""

from __future__ import annotations

import numpy as np
import pytest

from robo_orch.config import live as L
from robo_orch.config import load_config
from robo_orch.errors import ConfigError


@pytest.fixture(scope="module")
def demo():
    return load_config(None)


def test_marks_in_the_schema(demo):
    keys = L.flatten(demo)
    assert keys["safety.max_decel"].live and keys["safety.collision_horizon_s"].live
    assert keys["behaviors.go_to_goal.k_heading"].live
    assert keys["behaviors.go_to_goal.enabled"].live
    # resizes state, changes structure, or another process repeats it: restart-only
    for key in ("behaviors.avoid_obstacles.w_samples", "loop.rate_hz", "sim.lidar.rays",
                "safety.max_speed", "behaviors.go_to_goal.priority", "robot.radius",
                "safety.deadman_s"):
        assert not keys[key].live, key
    assert keys["loop.rate_hz"].value == demo.loop.rate_hz


def test_propose_returns_the_new_arrays(demo):
    change = L.propose(demo, {"safety.max_decel": 2.5, "behaviors.go_to_goal.k_heading": 3.0,
                              "behaviors.follow_path.enabled": False})
    assert change.config.safety.max_decel == 2.5
    assert change.limits is not None and 2.5 in change.limits
    spec = next(b for b in change.config.behaviors if b.name == "go_to_goal")
    assert np.array_equal(change.params["go_to_goal"], spec.cls.pack_params(spec.params))
    assert spec.params.k_heading == 3.0
    assert change.enabled == {"follow_path": False}
    assert change.changes["behaviors.go_to_goal.k_heading"] == 3.0
    assert demo.safety.max_decel != 2.5  # the running config is untouched


@pytest.mark.parametrize(("changes", "line"), [
    ({"safety.max_decel": -1}, "param set: safety.max_decel: must be > 0, got -1"),
    ({"safety.max_decel": "fast"}, "param set: safety.max_decel: expected a number, got 'fast'"),
    ({"safety.max_decel": 0.3}, "param set: safety.collision_horizon_s: 1.5 s is shorter than "
                                "the stopping time"),
    ({"behaviors.go_to_goal.min_speed": 5.0}, "param set: behaviors.go_to_goal.min_speed: "
                                              "must be <= max_speed"),
    ({"safety.max_sped": 1.0}, "param set: safety.max_sped: unknown key (did you mean "
                               "'safety.max_speed'?)"),
    ({"loop.rate_hz": 10.0, "sim.lidar.rays": 90}, "param set: loop.rate_hz, sim.lidar.rays: "
                                                   "are restart-only: restart needed"),
    ({"safety": 1}, "param set: safety: is a table"),
])
def test_refusals_are_config_file_lines(demo, changes, line):
    with pytest.raises(ConfigError) as err:
        L.propose(demo, changes)
    assert str(err.value).startswith(line)
    assert "\n" not in str(err.value)


def test_several_keys_are_checked_together(demo):
    # each alone breaks the stopping check or not; together they are fine
    change = L.propose(demo, {"safety.max_decel": 0.6, "safety.collision_horizon_s": 3.0})
    assert change.config.safety.collision_horizon_s == 3.0


def test_from_file(demo, tmp_path):
    path = tmp_path / "tuned.toml"
    path.write_text('extends = "demo"\n[safety]\nmax_decel = 3.0\n'
                    '[behaviors.go_to_goal]\nk_heading = 1.5\n')
    change = L.from_file(demo, path)
    assert change.changes == {"safety.max_decel": 3.0, "behaviors.go_to_goal.k_heading": 1.5}
    assert list(change.params) == ["go_to_goal"]
    path.write_text('extends = "demo"\n[loop]\nrate_hz = 20.0\n')
    with pytest.raises(L.RestartNeeded, match=r"tuned.toml: loop.rate_hz: is restart-only: "
                                             "restart needed"):
        L.from_file(demo, path)
    path.write_text('extends = "demo"\n[safety]\nmax_decel = -3.0\n')
    with pytest.raises(ConfigError, match=r"tuned.toml: safety.max_decel: must be > 0"):
        L.from_file(demo, path)
    path.write_text('extends = "demo"\n')
    assert L.from_file(demo, path).changes == {}


def test_parse_value():
    assert L.parse_value("0.5") == 0.5
    assert L.parse_value("false") is False
    assert L.parse_value("abc") == "abc"
