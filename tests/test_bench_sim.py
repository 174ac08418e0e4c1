"""The mission benchmark, its tick breakdown, the kernel references and the suite's plot."""

from __future__ import annotations

import pytest
from pictures import cells, coloured, read_png

from robo_orch.bench.plot import plot_results
from robo_orch.bench.sim import bench_kernels, bench_mission, tick_breakdown


@pytest.fixture(scope="module")
def mission():
    return bench_mission(1)


def test_mission_wall_time_is_split_into_phases_and_loop(mission):
    assert mission["goal_reached"] and mission["realtime_factor"] > 0
    phases = mission["phase_mean_us"]
    assert set(phases) == {"backend", "sense", "plan", "act"}
    assert all(v > 0 for v in phases.values()), phases
    # the phases are timed inside the ticks the wall time spans: they never add up to
    # more than it, and the loop's own work between them is what remains
    assert 0 < mission["loop_overhead_us"] < mission["wall_per_tick_us"]
    assert 0 < mission["tick_p99_share_of_period"] < 1


def test_tick_breakdown_finds_the_kernels_and_the_messages(mission):
    b = tick_breakdown(mission["wall_per_tick_us"])
    # the scan pipeline's kernels (the scan input's adapter builds the field), the
    # simulator's physics and the DWA all ran
    costly = {"geometry.raycast", "laser_points.adapt", "simulator.physics_step",
              "avoid_obstacles.step"}
    assert costly <= set(b["kernels"]) and all(b["kernels"][k] > 0 for k in costly)
    # odometry, IMU, ground truth and the command every tick, a scan every fifth
    assert 4.0 < b["messages_encoded_per_tick"] < 4.5
    # all of them to subscribers of their own type on the in-process bus: none parsed
    assert b["headers_parsed_per_tick"] == 0


def test_kernels_agree_with_their_references():
    k = bench_kernels(5)
    assert all(entry["agrees"] for entry in k.values())
    assert 0 <= k["field"]["max_error_cells"] <= 0.5
    for entry in k.values():
        assert entry["numba"]["n"] == 5 and entry["python_over_numba_p50"] > 0


def test_plot_draws_every_section(tmp_path, mission):
    rate = {"period_error_us": {"p50": 1.0, "p99": 10.0, "max": 20.0}}
    timing = {"rates": {"100": {"sleep": rate, "loop": rate}, "1000": {"sleep": rate}}}
    part = {"p50_us": 100.0, "p99_us": 200.0, "max_us": 300.0, "n": 10}
    run = {"transport": part, "in_loop": part, "to_actuator": part, "end_to_end": part}
    e2e = {"sensor_rate_hz": 190.0, "ipc": {"floor": {"transport": part, "end_to_end": part},
                                            "triggered": run}}
    scaling = {"rays": [{"rays": 90, "tick_p50_us": 40.0, "tick_p99_us": 90.0,
                         "realtime_factor": 200.0}],
               "dwa": [{"rollouts": 25, "p50_us": 3.0, "p99_us": 4.0}],
               "behaviors": [{"behaviors": 2, "plan_p50_us": 5.0, "plan_p99_us": 7.0}]}
    results = {"mission": mission, "loop_timing": timing, "sensor_to_actuator": e2e,
               "scaling": scaling}
    plot_results(results, str(tmp_path / "bench.png"))
    img = read_png(tmp_path / "bench.png")
    assert img.shape[:2] == (900, 1600)  # 16 x 9 in at 100 dpi
    # six panels, two rows of three: scaling (3), timing, latency, the tick; each drew data
    assert [int(coloured(cell).sum() > 100) for cell in cells(img, 2, 3)] == [1] * 6
    # a section missing from the results leaves its panel, and only that one, empty
    del results["sensor_to_actuator"]
    plot_results(results, str(tmp_path / "partial.png"))
    partial = read_png(tmp_path / "partial.png")
    assert [int(coloured(cell).sum() > 100) for cell in cells(partial, 2, 3)] == \
        [1, 1, 1, 1, 0, 1]
