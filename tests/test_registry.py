"""The registry: built-ins without an install, entry points, ``.py`` plugins in every group,
the one plugin convention (``kind``, ``Params``), and the bus and clock factories."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import config_error, start_cli, stop

from robo_orch import registry
from robo_orch.bus import MemoryHub, QoS, make_bus
from robo_orch.clock import SimClock, WallClock, make_clock
from robo_orch.config import load_config
from robo_orch.errors import ConfigError, RegistryError

ROOT = Path(__file__).resolve().parents[1]
GROUPS = [registry.BEHAVIORS, registry.ADAPTERS, registry.DRIVERS, registry.SIM_BACKENDS,
          registry.BUSES, registry.CLOCKS, registry.BENCHMARKS]


# --- built-ins --------------------------------------------------------------------------


@pytest.mark.parametrize("group", GROUPS)
def test_every_builtin_loads_and_follows_the_convention(group):
    for name in registry.BUILTINS[group]:
        obj = registry.load(group, name)
        assert name in registry.names(group)
        if group == registry.BENCHMARKS:
            assert callable(obj)
            continue
        assert isinstance(obj, type) and issubclass(obj, registry.base_class(group))
        assert obj.kind == name
        params = obj.Params
        if group in (registry.BEHAVIORS, registry.ADAPTERS, registry.DRIVERS):
            assert dataclasses.is_dataclass(params)
        else:
            assert params is None


def test_builtins_are_found_without_distribution_metadata(tmp_path):
    # the package laid out as installed, imported with no site processing: no editable
    # finder, no robo_orch entry points; the registry's own table still finds everything
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "robo_orch", tmp_path / "robo_orch", ignore=ignore)
    for folder in ("sim", "behaviors", "drivers"):
        shutil.copytree(ROOT / folder, tmp_path / "robo_orch" / folder, ignore=ignore)
    site = [p for p in sys.path if p.endswith("site-packages")]
    probe = textwrap.dedent(f"""
        import importlib.util, sys
        sys.path[:0] = [{str(tmp_path)!r}]
        sys.path += {site!r}
        from importlib.metadata import entry_points
        import robo_orch
        from robo_orch import registry
        assert robo_orch.__file__.startswith({str(tmp_path)!r}), robo_orch.__file__
        for group, table in registry.BUILTINS.items():
            assert not list(entry_points(group=group)), group
            assert registry.names(group) == sorted(table), group
            for name, target in table.items():
                module = target.partition(":")[0]
                assert importlib.util.find_spec(module) is not None, target
                assert importlib.util.find_spec(module).origin.startswith({str(tmp_path)!r})
        # the ones that compile nothing, loaded for real
        for group in (registry.DRIVERS, registry.BUSES, registry.CLOCKS):
            for name in registry.BUILTINS[group]:
                assert registry.load(group, name).kind == name
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True,
                            text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.stdout.strip() == "ok", result.stderr


# --- entry points -------------------------------------------------------------------------


def _distribution(folder: Path, module: str, source: str, entry_points: str) -> None:
    """A real (if tiny) installed distribution: a module and its dist-info on sys.path."""
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    info = folder / "robo_orch_test_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: robo-orch-test-plugins\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_entry_points_add_names_and_cannot_replace_a_builtin(tmp_path):
    _distribution(tmp_path, "tick_clocks", """
        from robo_orch.clock import SimClock

        class TickClock(SimClock):
            kind = "tick"

        class FakeWall(SimClock):
            kind = "wall"
    """, """
        [robo_orch.clocks]
        tick = tick_clocks:TickClock
        wall = tick_clocks:FakeWall
    """)
    probe = textwrap.dedent("""
        from robo_orch import registry
        from robo_orch.clock import WallClock, make_clock
        print(type(make_clock("tick")).__name__)
        print(type(make_clock("wall")) is WallClock)
        print(registry.names(registry.CLOCKS))
        print(registry.shadowed(registry.CLOCKS))
        from robo_orch.config import load_config
        from robo_orch.config.describe import describe_config
        print(describe_config(load_config(None)).splitlines()[-1])
    """)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "TickClock"
    assert lines[1] == "True"  # the built-in wins the clash
    assert lines[2] == "['perf', 'sim', 'tick', 'wall']"
    assert lines[3] == "['wall = tick_clocks:FakeWall']"
    # `robo-orch check` says so
    assert lines[4] == ("ignored   entry point wall = tick_clocks:FakeWall in robo_orch.clocks: "
                        "the name is built in")


# --- plugins from .py files, every group --------------------------------------------------

DRIVER_FILE = """
    from dataclasses import dataclass

    from robo_orch.driver import Driver
    from robo_orch.schema import option


    @dataclass(frozen=True)
    class Params:
        topic: str = option("test/echo", doc="where the echoed byte counts go")


    class EchoDriver(Driver):
        '''Writes a byte every service period; publishes how many came back.'''

        kind = "echo"
        Params = Params

        def service(self, port, now_ns):
            port.write(b"x")

        def handle_bytes(self, data, stamp_ns):
            rec = self.record("estop", engage=min(255, len(data)))
            self.output(self.params.topic, "estop").publish(rec, stamp_ns=stamp_ns)
"""

BEHAVIOR_FILE = """
    from dataclasses import dataclass

    import numba

    from robo_orch.behavior import Behavior, param_index
    from robo_orch.core.world import OUT_V, OUT_W, kernel_signature
    from robo_orch.schema import option


    @dataclass(frozen=True)
    class Params:
        speed: float = option(0.1, gt=0, doc="m/s")


    P_SPEED = param_index(Params)["speed"]


    @numba.njit(kernel_signature(), cache=True)
    def step(world, idx, params, state, out):
        out[OUT_V] = params[P_SPEED]
        out[OUT_W] = 0.0
        return 0.5


    class Creep(Behavior):
        kind = "creep"
        Params = Params
        kernel = step
"""

FILES = {
    registry.BUSES: ("loop_bus.py", """
        from robo_orch.bus.memory import MemoryBus

        class LoopBus(MemoryBus):
            kind = "loop_bus"
    """, "LoopBus"),
    registry.CLOCKS: ("frozen_clock.py", """
        from robo_orch.clock import SimClock

        class FrozenClock(SimClock):
            kind = "frozen"
    """, "FrozenClock"),
    registry.SIM_BACKENDS: ("null_backend.py", """
        from robo_orch.backend import GroundTruth, SimBackend

        class NullBackend(SimBackend):
            kind = "null"
            def make_clock(self): ...
            def make_bus(self, clock): ...
            def start(self, bus): ...
            def truth(self): return GroundTruth()
            def stop(self): ...
    """, "NullBackend"),
    registry.DRIVERS: ("echo_driver.py", DRIVER_FILE, "EchoDriver"),
}


@pytest.mark.parametrize("group", sorted(FILES))
def test_a_plugin_loads_from_a_py_file_in_every_group(tmp_path, group):
    name, source, cls_name = FILES[group]
    (tmp_path / name).write_text(textwrap.dedent(source))
    cls = registry.load(group, name, base_dir=tmp_path)
    assert cls.__name__ == cls_name and issubclass(cls, registry.base_class(group))
    assert registry.load(group, f"{name}:{cls_name}", base_dir=tmp_path).__name__ == cls_name


def test_a_benchmark_loads_from_a_py_file_by_function_name(tmp_path):
    (tmp_path / "my_bench.py").write_text("def bench_it(quick):\n    return {'quick': quick}\n")
    fn = registry.load(registry.BENCHMARKS, "my_bench.py:bench_it", base_dir=tmp_path)
    assert fn(True) == {"quick": True}
    with pytest.raises(RegistryError, match="my_bench.py:function_name"):
        registry.load(registry.BENCHMARKS, "my_bench.py", base_dir=tmp_path)


def test_a_behavior_from_a_py_file_runs_in_a_mission(tmp_path):
    from robo_orch.missions.session import run_mission

    (tmp_path / "creep.py").write_text(textwrap.dedent(BEHAVIOR_FILE))
    (tmp_path / "robot.toml").write_text('extends = "demo"\n\n[behaviors.creep]\n'
                                         'kind = "creep.py"\npriority = 5\n')
    config = load_config(tmp_path / "robot.toml")
    spec = next(b for b in config.behaviors if b.name == "creep")
    assert spec.cls.kind == "creep" and spec.params.speed == 0.1
    planner = run_mission(config, backend="lockstep", duration_s=0.5).controller.planner
    assert planner.activations[planner.names.index("creep")] == 0.5


def test_a_driver_from_a_py_file_runs_in_its_own_process(tmp_path):
    # the driver named by file in the config: the config loads it, and the driver host
    # (a separate process re-reading the config) runs it on a loop:// port
    (tmp_path / "echo_driver.py").write_text(textwrap.dedent(DRIVER_FILE))
    config_path = tmp_path / "robot.toml"
    config_path.write_text('extends = "demo"\n\n[drivers.echo]\nkind = "echo_driver.py"\n'
                           'port = "loop://"\n')
    cfg = load_config(config_path).drivers["echo"]
    assert cfg.cls.__name__ == "EchoDriver" and cfg.params.topic == "test/echo"
    run_dir = tmp_path / "run"
    bus = make_bus("zmq", make_clock("wall"), publisher_id=1, run_dir=str(run_dir))
    sub = bus.subscribe("test/echo", "estop", QoS.latest())
    proc = subprocess.Popen([sys.executable, "-m", "robo_orch.hosting.driver_host", "--config",
                             str(config_path), "--name", "echo", "--run-dir", str(run_dir)],
                            stderr=subprocess.PIPE, text=True)
    try:
        got = None
        for _ in range(200):  # 20 s at most
            if sub.wait(0.1) and (got := sub.latest()) is not None:
                break
            assert proc.poll() is None, proc.stderr.read()
        assert got is not None, "no message from the driver process"
        assert got.fixed["engage"] >= 1  # loop:// gave the written bytes back
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        bus.close()
    assert proc.returncode == 0


def test_a_file_must_hold_exactly_one_plugin_class(tmp_path):
    (tmp_path / "two.py").write_text(textwrap.dedent("""
        from robo_orch.clock import SimClock

        class A(SimClock):
            kind = "a"

        class B(SimClock):
            kind = "b"
    """))
    with pytest.raises(RegistryError, match=r"exactly one Clock subclass, found 2"):
        registry.load(registry.CLOCKS, "two.py", base_dir=tmp_path)
    assert registry.load(registry.CLOCKS, "two.py:B", base_dir=tmp_path).kind == "b"


# --- the convention ---------------------------------------------------------------------


def test_a_plugin_with_the_old_attribute_names_is_refused_with_the_new_ones(tmp_path):
    old = BEHAVIOR_FILE.replace('kind = "creep"', 'name = "creep"').replace(
        "        Params = Params\n", "        params_class = Params\n")
    (tmp_path / "old.py").write_text(textwrap.dedent(old))
    with pytest.raises(RegistryError) as err:
        registry.load(registry.BEHAVIORS, "old.py", base_dir=tmp_path)
    assert "'name' is now 'kind'" in str(err.value)
    assert "'params_class' is now 'Params'" in str(err.value)


def test_a_driver_without_params_is_refused(tmp_path):
    (tmp_path / "bare.py").write_text(textwrap.dedent(DRIVER_FILE).replace(
        "    Params = Params\n", ""))
    (tmp_path / "robot.toml").write_text('extends = "demo"\n\n[drivers.bare]\n'
                                         'kind = "bare.py"\nport = "loop://"\n')
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "robot.toml")
    assert err.value.key == "drivers.bare.kind"
    assert "must set 'Params'" in err.value.problem


# --- factories ----------------------------------------------------------------------------


def test_make_clock_chooses_by_name():
    clock = make_clock("sim", start_ns=5)
    assert isinstance(clock, SimClock) and clock.now_ns() == 5
    assert isinstance(make_clock("wall"), WallClock)
    assert type(make_clock("perf")).kind == "perf"


@pytest.mark.parametrize("kind", ["memory", "zmq"])
def test_make_bus_chooses_by_name_and_a_peer_shares_its_network(kind, tmp_path):
    network = {"hub": MemoryHub()} if kind == "memory" else {"run_dir": str(tmp_path)}
    tx = make_bus(kind, make_clock("wall"), publisher_id=1, hwm=50, **network)
    rx = tx.peer(2)
    try:
        assert type(tx).kind == type(rx).kind == kind
        assert rx.publisher_id == 2 and rx.hwm == 50 and rx.clock is tx.clock
        sub = rx.subscribe("t", "estop", QoS.queue(100))
        pub = tx.publisher("t", "estop")
        for _ in range(100):  # zmq: until the subscription has connected
            pub.publish(_estop(7))
            if sub.wait(0.05):
                break
        sub.poll()
        got = sub.take()
        assert got and got[-1].fixed["engage"] == 7
    finally:
        tx.close()
        rx.close()


def _estop(engage: int):
    from robo_orch.messages import ESTOP, new_fixed

    rec = new_fixed(ESTOP)
    rec["engage"] = engage
    return rec


def test_factories_refuse_unknown_names_and_options():
    with pytest.raises(RegistryError, match=r"unknown bus backend 'zmqq'.*did you mean 'zmq'"):
        make_bus("zmqq", make_clock("sim"), publisher_id=1)
    with pytest.raises(RegistryError, match=r"bus backend 'memory': .*run_dir.*takes: clock, "
                                            r"publisher_id, incarnation, hwm, hub"):
        make_bus("memory", make_clock("sim"), publisher_id=1, run_dir="/tmp")
    with pytest.raises(RegistryError, match="unknown clock 'sundial'"):
        make_clock("sundial")


def test_a_driver_named_by_a_long_path_runs_alone_under_its_class_name(tmp_path):
    # the frame id was the path (over 16 bytes: every publish failed); now it is the kind
    folder = tmp_path / "a_rather_long_folder_name"
    folder.mkdir()
    (folder / "echo_driver.py").write_text(textwrap.dedent(DRIVER_FILE))
    proc = start_cli("driver", str(folder / "echo_driver.py"), "--port", "loop://", "--echo",
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.poll() is not None else "no output"
        assert json.loads(line)["frame_id"] == "echo"
    finally:
        stop(proc)


def test_a_driver_name_too_long_for_a_frame_id_is_refused_at_load(tmp_path):
    path = tmp_path / "robot.toml"
    path.write_text('extends = "demo"\n[drivers.front_left_wheel_encoder]\nkind = "nmea_gps"\n'
                    'port = "loop://"\n')
    err = config_error(path)
    assert err.key == "drivers.front_left_wheel_encoder.frame_id"
    assert "at most 16 bytes" in err.problem and "name is its frame id" in err.problem
    path.write_text('extends = "demo"\n[drivers.front_left_wheel_encoder]\nkind = "nmea_gps"\n'
                    'port = "loop://"\nframe_id = "wheel_fl"\n')
    assert load_config(path).drivers["front_left_wheel_encoder"].spec.frame_id == "wheel_fl"
