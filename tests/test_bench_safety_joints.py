"""bench.safety_joints: the joints kernel's cost against the base kernel, one quick round."""

from __future__ import annotations

from robo_orch.bench import safety_joints as bench


def test_one_round_times_every_case_and_the_baseline():
    result = bench.run(repeats=1, rounds=1)
    assert set(result["median_us"]) == {"pan_tilt_position", "pan_tilt_velocity",
                                        "arm16_position", "arm16_velocity", "base_free"}
    assert all(us > 0 for us in result["median_us"].values())
    assert set(result["ratio_to_base_free"]) == set(result["median_us"]) - {"base_free"}


def test_the_inputs_follow_a_trajectory_within_the_limits():
    inputs = bench.joint_inputs(3, 0)
    assert len(inputs) == 300
    limits = inputs[0][0]
    for _, _pos, last_p, _, _ in inputs:
        assert (last_p >= limits[:, 0]).all() and (last_p <= limits[:, 1]).all()
    assert abs(inputs[-1][2]).max() > 0.1  # it moved
