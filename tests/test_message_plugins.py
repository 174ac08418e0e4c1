"""Message types from installed packages: the ``robo_orch.messages`` entry-point group.

Each test makes a real distribution on ``sys.path`` (a module and a ``.dist-info``
directory with its ``entry_points.txt``), which ``importlib.metadata`` finds the way
it finds an installed wheel.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from robo_orch import messages
from robo_orch.errors import MessageError
from robo_orch.messages import types as registry  # the registry's private state


def install(root: Path, dist: str, module: str, source: str, entries: dict[str, str]) -> None:
    """A distribution ``dist`` with one module and its ``robo_orch.messages`` entry points."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[robo_orch.messages]\n{lines}")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A fresh directory on sys.path; the plugin types it held are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before_name, before_id = dict(registry._BY_NAME), dict(registry._BY_ID)
    loaded = registry._plugins_loaded
    yield tmp_path
    for table, before in ((registry._BY_NAME, before_name), (registry._BY_ID, before_id)):
        table.clear()
        table.update(before)
    registry._ORIGIN.clear()
    registry._plugins_loaded = loaded
    for name in [m for m in sys.modules if m.startswith("plug_")]:
        del sys.modules[name]


BATTERY = """
    from robo_orch.messages import MessageType
    BATTERY = MessageType("test_battery", {tid}, [("voltage", "<f8"), ("current", "<f8")])
"""


def test_an_installed_type_is_found_by_name_and_id_and_round_trips(site):
    install(site, "plug_battery", "plug_battery", BATTERY.format(tid=1100),
            {"battery": "plug_battery:BATTERY"})
    messages.load_plugin_types(reload=True)
    mtype = messages.message_type("test_battery")
    assert messages.message_type(1100) is mtype
    rec = np.zeros((), dtype=mtype.dtype)
    rec["voltage"] = 11.7
    frames = messages.encode(mtype, "sensor/battery", rec, seq=1, stamp_ns=5)
    _, fixed, _ = messages.decode(frames, mtype)
    assert fixed["voltage"] == 11.7


def test_a_lookup_miss_loads_the_installed_types_once(site):
    install(site, "plug_lazy", "plug_lazy", BATTERY.format(tid=1101),
            {"battery": "plug_lazy:BATTERY"})
    registry._plugins_loaded = False  # as in a new process
    assert messages.message_type("test_battery").type_id == 1101


def test_a_type_id_in_robo_orchs_range_is_refused(site):
    install(site, "plug_low", "plug_low", BATTERY.format(tid=12), {"battery": "plug_low:BATTERY"})
    with pytest.raises(MessageError, match="robo_orch's own range.*from 1024"):
        messages.load_plugin_types(reload=True)


def test_two_packages_with_one_type_id_are_refused_naming_both(site):
    install(site, "plug_a", "plug_a", BATTERY.format(tid=1200), {"a": "plug_a:BATTERY"})
    install(site, "plug_b", "plug_b", """
        from robo_orch.messages import MessageType
        SONAR = MessageType("sonar_range", 1200, [("range", "<f8")])
    """, {"b": "plug_b:SONAR"})
    with pytest.raises(MessageError) as err:
        messages.load_plugin_types(reload=True)
    text = str(err.value)
    assert "b = plug_b:SONAR" in text and "a = plug_a:BATTERY" in text and "1200" in text


def test_a_name_taken_by_a_built_in_type_is_refused(site):
    install(site, "plug_imu", "plug_imu", """
        from robo_orch.messages import MessageType
        IMU = MessageType("imu", 1300, [("x", "<f8")])
    """, {"imu": "plug_imu:IMU"})
    with pytest.raises(MessageError, match="clashes with MessageType\\('imu', id=2.*robo_orch"):
        messages.load_plugin_types(reload=True)


def test_a_broken_entry_point_is_named(site):
    install(site, "plug_broken", "plug_broken", "raise RuntimeError('no')\n",
            {"x": "plug_broken:NOTHING"})
    with pytest.raises(MessageError, match="x = plug_broken:NOTHING.*failed to load"):
        messages.load_plugin_types(reload=True)


def test_an_entry_point_naming_something_else_is_refused(site):
    install(site, "plug_wrong", "plug_wrong", "THING = 3\n", {"y": "plug_wrong:THING"})
    with pytest.raises(MessageError, match="y = plug_wrong:THING.*not a MessageType"):
        messages.load_plugin_types(reload=True)
