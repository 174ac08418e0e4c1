"""The declared world layout: placement, the same cached kernel under two layouts,
merge rules, validation at load (through ``robo-orch check``), and the first tick."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, write_config

from robo_orch.behaviors.avoid_obstacles import FOOTPRINT_LEN
from robo_orch.config import load_config
from robo_orch.core import world as W
from robo_orch.missions.session import run_mission

PLUGINS = Path(__file__).with_name("plugins")
#: the user buffer the demo's avoid_obstacles takes before the plugins' arrays: its
#: ``footprint`` array (the robot's footprint circles) and that array's length slot
DWA = FOOTPRINT_LEN + 1
PROBE = Path(__file__).with_name("first_tick_probe.py")
# the plugins are always imported as the module layout_plugins: numba's cache of a
# file imported under two module names (module:attr and file.py) does not load
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    p for p in (str(PLUGINS), os.environ.get("PYTHONPATH", "")) if p))

TALLY_GAUGE = """
    [behaviors.tally]
    kind = "{kind}Tally"
    priority = 3
    history = 5
    scale = 2.0

    [behaviors.gauge]
    kind = "{kind}Gauge"
    priority = 2
"""
SHIFTER = """
    [behaviors.shifter]
    kind = "{kind}Shifter"
    priority = 4
    value = 7.0
"""


def _config(tmp_path, *parts: str, kind: str = "layout_plugins:", name: str = "robot.toml"):
    text = 'extends = "demo"\n' + "".join(p.format(kind=kind) for p in parts)
    return write_config(tmp_path, text, name)


@pytest.fixture
def plugins_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))


def test_the_same_kernel_finds_its_names_under_two_layouts(tmp_path, plugins_importable):
    alone = load_config(_config(tmp_path, TALLY_GAUGE, name="a.toml"))
    shifted = load_config(_config(tmp_path, SHIFTER, TALLY_GAUGE, name="b.toml"))
    tally = [next(b.cls for b in c.behaviors if b.name == "tally") for c in (alone, shifted)]
    assert tally[0] is tally[1]  # one class, one compiled kernel
    kernel = tally[0].kernel
    # declaration order: scalars in state after the built-ins, arrays in user after a
    # length slot; the shifter declared first moves the tally's names
    assert alone.layout.idx["tally"].tolist() == [W.STATE_LEN, DWA + 1]
    assert alone.layout.idx["gauge"].tolist() == [W.STATE_LEN + 1, W.STATE_LEN, DWA + 1]
    assert shifted.layout.idx["shifter"].tolist() == [W.STATE_LEN, DWA + 1]
    assert shifted.layout.idx["tally"].tolist() == [W.STATE_LEN + 1, DWA + 5]
    assert shifted.layout.idx["gauge"].tolist() == [W.STATE_LEN + 2, W.STATE_LEN + 1,
                                                    DWA + 5]
    for config in (alone, shifted):
        ctl = run_mission(config, backend="lockstep", seed=1, duration_s=0.5).controller
        lay, world = config.layout, ctl.world
        level, hist, gauge = (lay.names[n] for n in ("tally_level", "tally_hist", "gauge_sum"))
        assert world.state.shape == (W.STATE_LEN + lay.n_scalars,)
        assert world.user.shape == (lay.user_len,)
        assert world.state[level.index] == ctl.planner.ticks > 0  # one run per tick
        assert world.user[hist.index - 1] == 5  # the length slot
        np.testing.assert_array_equal(world.user[hist.index:hist.index + 5],
                                      [2.0, 4.0, 6.0, 8.0, 10.0])
        # the gauge ran after the tally on the last tick (lower priority)
        assert world.state[gauge.index] == world.state[level.index] + 30.0
        if "shift_a" in lay.names:
            assert world.state[lay.names["shift_a"].index] == 7.0
            buf = lay.names["shift_buf"]
            np.testing.assert_array_equal(world.user[buf.index:buf.index + 3], [7.0] * 3)
    assert len(kernel.overloads) == 1  # neither layout compiled anything new


def test_writers_with_a_merge_rule_combine_every_tick(tmp_path, plugins_importable):
    # "max" resets the scalar to -inf before each plan phase: with two negative
    # values the maximum is the larger, not a zero left from the start
    config = load_config(_config(tmp_path, *(f"""
        [behaviors.peak_{k}]
        kind = "{{kind}}Peak"
        priority = {k + 1}
        value = {v}
    """ for k, v in enumerate((-7.0, -3.0)))))
    assert config.layout.names["peak"].merge == "max"
    assert config.layout.names["peak"].writers == ["peak_0", "peak_1"]
    ctl = run_mission(config, backend="lockstep", seed=1, duration_s=0.3).controller
    assert ctl.world.state[config.layout.names["peak"].index] == -3.0


def test_a_demo_run_with_plugins_that_propose_nothing_drives_the_same(tmp_path,
                                                                      plugins_importable):
    # user scalars and arrays change nothing of the built-in part of the world
    base = run_mission(load_config(None), backend="lockstep", seed=1, duration_s=2.0)
    plugged = run_mission(load_config(_config(tmp_path, SHIFTER, TALLY_GAUGE)),
                          backend="lockstep", seed=1, duration_s=2.0)
    assert np.array_equal(base.controller.trace.array(), plugged.controller.trace.array())


BAD = {
    "missing provider": ("""
        [behaviors.silent]
        kind = "{kind}Silent"
        priority = 3

        [behaviors.listener]
        kind = "{kind}Listener"
        priority = 2
    """, "behaviors.listener: listener (", "reads 'quiet' but no behavior or input adapter "
         "writes it (declared by silent)"),
    "two writers": ("""
        [behaviors.greedy_a]
        kind = "{kind}Greedy"
        priority = 3

        [behaviors.greedy_b]
        kind = "{kind}Greedy"
        priority = 2
    """, "behaviors.greedy_b: greedy (", "writes 'greedy', also written by behaviors.greedy_a:"
         " one writer per name, unless every writer declares the same merge rule"),
    "unknown name": (TALLY_GAUGE + """
        [behaviors.typo]
        kind = "{kind}Typo"
        priority = 1
    """, "behaviors.typo: typo (", "reads 'tally_levl': unknown name (did you mean "
         "'tally_level'?)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_refuses_a_bad_declaration_in_one_line(tmp_path, case):
    text, where, problem = BAD[case]
    path = _config(tmp_path, text)
    proc = cli("check", str(path), cwd=tmp_path, env=ENV)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"robo-orch: error: {path}: {where}"), lines[0]
    assert problem in lines[0], lines[0]
    assert "layout_plugins.py)" in lines[0]  # the class's file is named too


def test_check_prints_the_layout(tmp_path):
    path = _config(tmp_path, SHIFTER, TALLY_GAUGE)
    proc = cli("check", str(path), cwd=tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    layout = next(i for i, line in enumerate(lines) if line.startswith("layout "))
    assert "x=2" in lines[layout] and "goal_reached=10" in lines[layout]
    shown = " ".join(" ".join(line.split()) for line in lines[layout + 1:layout + 11])
    for fact in (f"scalar shift_a state[{W.STATE_LEN}] declared by shifter; written by shifter;"
                 " read by -",
                 f"array shift_buf user[{DWA + 1}:{DWA + 4}] (3 values) declared by shifter",
                 f"scalar tally_level state[{W.STATE_LEN + 1}] declared by tally; written by "
                 "tally; read by gauge",
                 f"array tally_hist user[{DWA + 5}:{DWA + 10}] (5 values) declared by tally; "
                 "written by tally; read by gauge",
                 f"idx of gauge: [{W.STATE_LEN + 2}, {W.STATE_LEN + 1}, {DWA + 5}]"):
        assert fact in shown, shown


def test_plugins_compile_nothing_on_the_first_tick(tmp_path):
    path = _config(tmp_path, SHIFTER, TALLY_GAUGE)
    proc = subprocess.run([sys.executable, str(PROBE), str(path)], capture_output=True,
                          text=True, timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["dispatchers"] > 10
    assert report["compiled_during_ticks"] == {}, report


def test_the_readme_layout_example_keeps_the_contract_and_runs(tmp_path):
    import re

    from robo_orch import registry
    from robo_orch.testing import check_behavior

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### The world layout: declared names", 1)[1].split("\n## ", 1)[0]
    module = re.search(r"```python\n(.+?)\n```", section, re.S).group(1)
    (tmp_path / "closest_seen.py").write_text(module + "\n")
    path = write_config(tmp_path, 'extends = "demo"\n\n[behaviors.closest]\n'
                                  'kind = "closest_seen.py"\npriority = 1\nhistory = 8\n')
    cls = registry.load(registry.BEHAVIORS, "closest_seen.py", base_dir=tmp_path)
    assert check_behavior(cls).ok
    config = load_config(path)
    ctl = run_mission(config, backend="lockstep", seed=1, duration_s=1.0).controller
    closest, hist = config.layout.names["closest"], config.layout.names["nearest_history"]
    ring = ctl.world.user[hist.index:hist.index + 8]
    assert hist.length == 8 and (ring > 0).all()  # more than 8 ticks ran
    assert 0 < ctl.world.state[closest.index] <= ring.min()


def _declaring(kind: str, **declarations):
    """A class with declarations only (build_layout reads nothing else)."""
    from dataclasses import dataclass

    from robo_orch.schema import option

    @dataclass(frozen=True)
    class Params:
        n: int = option(3, ge=1, doc="restart-only length")
        live_n: int = option(3, ge=1, doc="a live length", live=True)

    return type(kind.title(), (), {"kind": kind, "Params": Params, **declarations})


@pytest.mark.parametrize("decls, problem", [
    ([{"writes": ("peak",), "scalars": ("peak",), "merge": {"peak": "maxx"}}],
     "merge['peak'] = 'maxx': unknown rule (known: max, min, sum, latch) (did you mean 'max'?)"),
    ([{"writes": ("target_x",), "merge": {"target_x": "max"}}],
     "merge['target_x'] = 'max': a built-in name is never reset"),
    ([{"writes": ("x",), "merge": {"y": "latch"}}], "merge['y']: 'y' is not in writes"),
    ([{"arrays": {"buf": "live_n"}}], "arrays['buf'] is sized by 'live_n', a live parameter"),
    ([{"arrays": {"buf": "nn"}}], "arrays['buf'] = 'nn': no such parameter (did you mean 'n'?)"),
    ([{"scalars": ("nearest",)}], "'nearest' is a built-in name"),
    ([{"scalars": ("Peak",)}], "user name 'Peak' must be lower-case"),
    ([{"reads": "x"}], "reads must be a tuple of names, got 'x'"),
    ([{"scalars": ("both",)}, {"arrays": {"both": 2}}],
     "'both' is declared as an array here and as a scalar by a0"),
    ([{"arrays": {"buf": 2}}, {"arrays": {"buf": 4}}],
     "array 'buf' has length 4 here and 2 as declared by a0"),
    ([{"reads": ("targt_x",)}], "reads 'targt_x': unknown name (did you mean 'target_x'?)"),
])
def test_build_layout_refuses_bad_declarations(decls, problem):
    from types import SimpleNamespace

    from robo_orch.config.layout import build_layout
    from robo_orch.errors import ConfigError

    specs = []
    for k, d in enumerate(decls):
        cls = _declaring(f"a{k}", **d)
        specs.append(SimpleNamespace(name=f"a{k}", cls=cls, params=cls.Params()))
    with pytest.raises(ConfigError) as info:
        build_layout(specs, "robot.toml")
    err = info.value
    assert err.source == "robot.toml" and err.key == f"behaviors.a{len(decls) - 1}"
    assert problem in err.problem and "\n" not in str(err), err.problem


def test_a_planner_refuses_a_world_made_for_another_layout(tmp_path, plugins_importable):
    from robo_orch.runtime.controller import make_world
    from robo_orch.runtime.planner import Planner

    config = load_config(_config(tmp_path, TALLY_GAUGE))
    with pytest.raises(ValueError, match="not allocated for this layout"):
        Planner(config, make_world(load_config(None)))


_CACHED = r"""
import json, sys
from robo_orch.config import load_config
from robo_orch.missions.session import run_mission
import layout_plugins as lp

config = load_config(sys.argv[1])
ctl = run_mission(config, backend="lockstep", seed=1, duration_s=0.3).controller
level = config.layout.names["tally_level"].index
print(json.dumps({"misses": sum(len(f.stats.cache_misses) for f in (lp.tally_step, lp.gauge_step)),
                  "hits": sum(len(f.stats.cache_hits) for f in (lp.tally_step, lp.gauge_step)),
                  "idx": config.layout.idx["tally"].tolist(),
                  "level_is_ticks": ctl.world.state[level] == ctl.planner.ticks > 0}))
"""


def test_a_new_layout_loads_the_cached_kernels_and_compiles_nothing(tmp_path):
    # the first process may compile the plugins' kernels (and caches them); a second,
    # with another layout, loads the very same compiled code and indexes right
    reports = []
    for name, parts in (("a.toml", (TALLY_GAUGE,)), ("b.toml", (SHIFTER, TALLY_GAUGE))):
        path = _config(tmp_path, *parts, name=name)
        proc = subprocess.run([sys.executable, "-c", _CACHED, str(path)], capture_output=True,
                              text=True, timeout=300, env=ENV, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        reports.append(json.loads(proc.stdout.splitlines()[-1]))
    first, second = reports
    assert second["misses"] == 0 and second["hits"] == 2, second
    assert first["idx"] == [W.STATE_LEN, DWA + 1]
    assert second["idx"] == [W.STATE_LEN + 1, DWA + 5]
    assert first["level_is_ticks"] and second["level_is_ticks"]


def test_the_built_in_behaviors_declare_their_shared_writes():
    # recover and plan_path both write nav_status and replan_request, with one rule
    layout = load_config("navigation").layout
    assert layout.builtin_merge == {"nav_status": "latch", "replan_request": "latch"}
    assert layout.builtins["path"][1] == ["plan_path"]  # its service swaps paths in
    written = next(line for line in layout.describe() if "built-in names written" in line)
    assert f"nav_status={W.NAV_STATUS} by plan_path, recover (latch)" in written
    assert f"recoveries={W.RECOVERIES} by recover;" in written
