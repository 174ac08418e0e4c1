"""``robo-orch sweep``: parameter sets on the same instances, paired statistics, keys that
change nothing."""

from __future__ import annotations

import json

import pytest

from robo_orch.cli import main as cli
from robo_orch.missions import paired
from robo_orch.missions import sweep as S


def run(success=True, t=10.0, sha="a", collisions=0):
    return {"success": success, "goal_reached": success, "time_to_goal_s": t if success else None,
            "trace_sha256": sha, "collisions": collisions, "safety_stops": 0,
            "min_clearance_m": 0.1, "path_ratio": 1.0 if success else None}


def test_mcnemar_counts_discordant_pairs_and_is_exact():
    out = paired.mcnemar_exact([True] * 10, [False] * 8 + [True] * 2)
    assert (out["lost"], out["won"]) == (8, 0)
    assert out["p"] == pytest.approx(2 * 0.5 ** 8, rel=1e-3)
    assert paired.mcnemar_exact([True, False], [True, False])["p"] == 1.0


def test_identical_runs_are_no_measurable_difference_without_a_test():
    base = [run(sha=str(k)) for k in range(6)]
    cmp = paired.compare(base, [dict(r) for r in base])
    assert cmp["identical_runs"] and cmp["no_difference"]
    assert cmp["time_to_goal"]["p"] is None, "the signed-rank test is undefined there"
    assert cmp["verdict"].startswith("no measurable difference")
    # different traces, same outcome: still no measurable difference
    other = [run(sha=f"x{k}") for k in range(6)]
    assert paired.compare(base, other)["no_difference"]


def test_faster_on_every_instance_is_a_signed_rank_result():
    base = [run(t=20.0 + k, sha=str(k)) for k in range(8)]
    other = [run(t=18.0 + k + 0.01 * k, sha=f"o{k}") for k in range(8)]
    other[3] = run(success=False, sha="fail")
    cmp = paired.compare(base, other)
    assert cmp["success"] == {"lost": 1, "won": 0, "p": 1.0}
    assert cmp["time_to_goal"]["pairs"] == 7, "only instances both completed"
    assert cmp["time_to_goal"]["median_diff"] < -1.9
    assert cmp["time_to_goal"]["p"] == pytest.approx(2 / 2 ** 7, rel=1e-3)
    assert "Wilcoxon" in cmp["verdict"] and "significant" in cmp["verdict"]


def test_set_metrics():
    m = paired.set_metrics([run(t=10.0), run(t=12.0, collisions=2), run(success=False)])
    assert (m["successes"], m["runs"], m["contacts"], m["runs_with_contact"]) == (2, 3, 2, 1)
    assert m["time_to_goal_s"] == 11.0 and m["time_to_goal_std_s"] == pytest.approx(1.4142, 1e-3)


def test_grid_keys_sets_and_files(tmp_path):
    raw = {"behaviors": {"go_to_goal": {"kind": "go_to_goal"}}, "safety": {}}
    grid = S.parse_grid(["go_to_goal.max_speed=0.6,0.8", "safety.max_speed=0.8,1.0"], raw)
    assert grid[0][0] == "behaviors.go_to_goal.max_speed" and grid[1][0] == "safety.max_speed"
    sets = S.grid_sets(grid)
    assert len(sets) == 4 and sets[0].overrides == ("behaviors.go_to_goal.max_speed=0.6",
                                                    "safety.max_speed=0.8")
    f = tmp_path / "tuned.toml"
    f.write_text('extends = "cluttered"\n[behaviors.go_to_goal]\nmax_speed = 0.75\n'
                 '[mission]\nwaypoints = [[1.0, 2.0]]\nname = "x"\n')
    fs = S.file_set(f)
    assert fs.name == "tuned" and set(fs.overrides) == {
        "behaviors.go_to_goal.max_speed=0.75", "mission.waypoints=[[1.0, 2.0]]",
        'mission.name="x"'}


@pytest.mark.parametrize("argv, problem", [
    (["sweep", "cluttered", "--param", "go_to_goal.max_speed"], "expected KEY=V1,V2"),
    (["sweep", "cluttered"], "give the sets to compare"),
    (["sweep", "cluttered", "--param", "go_to_goal.max_sped=0.6,0.7"], "unknown key"),
    (["sweep", "cluttered", "--param", "go_to_goal.max_speed=0.6"], "at least two sets"),
])
def test_bad_sweeps_are_one_line_usage_errors(argv, problem, capsys):
    assert cli.main([*argv, "--jobs", "1", "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert problem in err and len(err.strip().splitlines()) == 1


def test_sweep_compares_sets_and_flags_a_key_with_no_effect(tmp_path, capsys):
    """In the navigation stack go_to_goal (priority 10) outranks follow_path (5): its speed
    changes the runs, follow_path's changes nothing."""
    out = tmp_path / "sweep.json"
    rc = cli.main(["sweep", "cluttered", "--param", "go_to_goal.max_speed=0.6,0.8",
                   "--param", "follow_path.max_speed=0.6,0.8", "--seeds", "2", "--jobs", "1",
                   "-q", "--json", str(out), "--plot", str(tmp_path / "sweep.png")])
    text = capsys.readouterr().out
    assert rc == 0
    assert "no effect: behaviors.follow_path.max_speed" in text
    assert "no effect: behaviors.go_to_goal.max_speed" not in text
    doc = json.loads(out.read_text())
    assert doc["no_effect"] == ["behaviors.follow_path.max_speed"]
    names = [s["name"] for s in doc["sets"]]
    assert names[1] == "go_to_goal.max_speed=0.6 follow_path.max_speed=0.8"
    assert doc["sets"][1]["vs_first"]["identical_runs"]
    fast = doc["sets"][2]
    assert fast["metrics"]["success_rate"] == 1.0
    assert fast["metrics"]["time_to_goal_s"] < doc["sets"][0]["metrics"]["time_to_goal_s"]
    assert fast["vs_first"]["time_to_goal"]["median_diff"] < 0
    assert [(r["scenario"], r["seed"]) for r in fast["runs"]] == [("cluttered", 1),
                                                                  ("cluttered", 2)]
    assert (tmp_path / "sweep.png").stat().st_size > 10_000
