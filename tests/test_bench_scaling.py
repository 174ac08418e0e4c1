"""The scaling sweeps build what they claim to measure, and the plot is drawn."""

from __future__ import annotations

from robo_orch.bench.scaling import plot_scaling, scale_behaviors, scale_dwa, scale_rays


def test_sweeps_and_plot(tmp_path):
    rays = scale_rays((90, 180), 1.0)
    assert [r["rays"] for r in rays] == [90, 180]
    assert all(r["tick_p50_us"] > 0 and r["realtime_factor"] > 0 for r in rays)
    dwa = scale_dwa((5, 9), 5)
    assert [r["rollouts"] for r in dwa] == [25, 81]
    behaviors = scale_behaviors((1, 4), 5)
    assert [r["behaviors"] for r in behaviors] == [2, 5]  # the copies plus stop
    path = tmp_path / "scaling.png"
    plot_scaling({"rays": rays, "dwa": dwa, "behaviors": behaviors}, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
