"""``--dask``: the runner on a real dask.distributed cluster gives the local numbers;
workers of another build are refused, another CPU model flagged."""

from __future__ import annotations

import json
import sys

import pytest

from robo_orch.cli import main as cli
from robo_orch.missions import cluster as C


def test_fingerprint_says_build_versions_and_cpu():
    fp = C.fingerprint()
    assert set(fp) == {*C.MUST_MATCH, "cpu"} and len(fp["build"]) == 16
    assert fp["build"] == C.build_hash(), "stable within a process"


def test_another_build_is_refused_another_cpu_flagged():
    here = C.fingerprint()
    workers = {"tcp://a:1": dict(here), "tcp://b:1": {**here, "build": "0" * 16},
               "tcp://c:1": {**here, "cpu": "Some Other CPU"},
               "tcp://d:1": {**here, "numba": "0.1"}}
    refuse, flag = C.compare(here, workers)
    assert [r.split(":")[1] for r in refuse] == ["//b", "//d"]
    assert "build 0000000000000000" in refuse[0] and "numba 0.1" in refuse[1]
    assert flag == [f"tcp://c:1: CPU 'Some Other CPU' (here {here['cpu']!r})"]


def test_a_task_on_a_worker_of_another_build_reports_instead_of_running():
    from robo_orch.missions.instance import Instance

    out = C.checked_execute(Instance(config="cluttered"), {**C.fingerprint(), "build": "x"})
    assert not out.ok and out.error.startswith("ClusterMismatch: this worker's build")


def test_without_distributed_the_option_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)
    rc = cli.main(["scenarios", "cluttered", "--seeds", "1", "--dask", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "pip install 'robo-orch[cluster]'" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_a_local_cluster_gives_the_local_runners_numbers(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", scheduler_port=0,
                                  dashboard_address=None) as cluster:
        argv = ["scenarios", "cluttered", "maze", "--seeds", "2", "-q"]
        assert cli.main([*argv, "--dask", cluster.scheduler_address,
                         "--json", str(tmp_path / "dask.json")]) == 0
        assert cli.main([*argv, "--jobs", "1", "--json", str(tmp_path / "local.json")]) == 0
        # a sweep and a study on the cluster too
        assert cli.main(["sweep", "cluttered", "--param", "go_to_goal.max_speed=0.6,0.7",
                         "--seeds", "1", "-q", "--dask", cluster.scheduler_address]) == 0
        assert cli.main(["tune", "cluttered", "--param", "go_to_goal.max_speed=0.7:0.8",
                         "--trials", "1", "--seeds", "2", "--holdout-seeds", "0", "-q",
                         "--study", str(tmp_path / "s.journal"),
                         "--dask", cluster.scheduler_address]) == 0
    out = capsys.readouterr().out
    assert "vs first set" in out and "dask: 2 workers" not in out, "-q: no cluster line"
    assert "trial 0 (1/1, ETA" in out and "mean over 2 (2/2 ok" in out, "0.6: out of range"

    def runs(name):
        doc = json.loads((tmp_path / name).read_text())
        return {(r["scenario"], r["seed"]): r for row in doc["scenarios"]
                for r in row["run_results"]}

    remote, local = runs("dask.json"), runs("local.json")
    assert len(remote) == 4 and remote.keys() == local.keys()
    for key, r in remote.items():
        for field in ("trace_sha256", "time_to_goal_s", "path_length_m", "min_clearance_m",
                      "success"):
            assert r[field] == local[key][field], (key, field)
