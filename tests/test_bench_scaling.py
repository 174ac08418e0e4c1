"""The scaling sweeps build what they claim to measure, and the plot is drawn."""

from __future__ import annotations

from pictures import TAB, cells, mask, read_png

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
    img = read_png(path)
    assert img.shape[:2] == (400, 1400)  # 14 x 4 in at 100 dpi
    # three panels side by side, each with its p50 and p99 curves (blue, orange);
    # the rays panel also the realtime factor (green)
    drawn = [{name for name in ("blue", "orange", "green") if mask(cell, TAB[name]).sum() > 50}
             for cell in cells(img, 1, 3)]
    assert drawn == [{"blue", "orange", "green"}, {"blue", "orange"}, {"blue", "orange"}]
