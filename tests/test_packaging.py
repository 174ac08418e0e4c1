"""Packaging: the wheel installs exactly one top-level package, ``robo_orch``, with the
firmware and the configs inside it; an editable install maps the repository's
``drivers/``, ``behaviors/`` and ``sim/`` folders into it.

The wheel is built from a clean copy of the checkout (its tracked and its new,
not-ignored files): setuptools keeps stale files in ``build/lib``, so a build in
place could pass with files the repository no longer has.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: repository folder -> its place in the installed package (the one import name)
FOLDERS = {"robo_orch": "robo_orch", "drivers": "robo_orch/drivers",
           "behaviors": "robo_orch/behaviors", "sim": "robo_orch/sim"}


def repo_files() -> list[str]:
    """What a clone holds, plus files not yet added (but never ignored ones, like build/)."""
    proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          cwd=REPO, capture_output=True)
    if proc.returncode != 0:
        pytest.fail("the wheel is built from the checkout's files: `git ls-files` failed: "
                    + proc.stderr.decode(errors="replace").strip())
    names = [n for n in proc.stdout.decode().split("\0") if n]
    return sorted(n for n in names if os.path.lexists(REPO / n))


def installed_path(repo_path: str) -> str | None:
    """Where a repository file lands in the wheel, or None when it is outside the package."""
    top, _, rest = repo_path.partition("/")
    return f"{FOLDERS[top]}/{rest}" if top in FOLDERS and rest else None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """Build the wheel from a clean copy with the environment's setuptools (no network)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, out = tmp / "src", tmp / "dist"
    for name in repo_files():
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target, follow_symlinks=False)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--no-build-isolation", "--no-index", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, ("pip wheel failed (the test extra brings the setuptools it "
                                  "needs: pip install -e '.[test]')\n" + proc.stdout + proc.stderr)
    (path,) = out.glob("robo_orch-*.whl")
    with zipfile.ZipFile(path) as whl:
        yield whl


def dist_info(whl: zipfile.ZipFile) -> str:
    (name,) = {n.split("/")[0] for n in whl.namelist() if n.split("/")[0].endswith(".dist-info")}
    return name


def test_the_only_top_level_package_is_robo_orch(wheel):
    tops = {n.split("/")[0] for n in wheel.namelist()}
    assert tops == {"robo_orch", dist_info(wheel)}, sorted(tops)
    top_level = f"{dist_info(wheel)}/top_level.txt"
    if top_level in wheel.namelist():  # setuptools writes it; other backends may not
        assert wheel.read(top_level).decode().split() == ["robo_orch"]


def test_every_module_of_the_mapped_folders_is_inside(wheel):
    names = set(wheel.namelist())
    modules = [n for n in repo_files() if n.endswith(".py") and installed_path(n)]
    expected = {installed_path(n) for n in modules}
    # the explicit package list in pyproject.toml must name every package, mapped ones too
    for package in ("robo_orch/drivers", "robo_orch/behaviors", "robo_orch/sim",
                    "robo_orch/sim/emulators", "robo_orch/core", "robo_orch/cli"):
        assert f"{package}/__init__.py" in expected
    assert sorted(expected - names) == []
    assert not [n for n in names if n.startswith(("drivers/", "behaviors/", "sim/"))]


def test_firmware_and_configs_are_inside_with_their_content(wheel):
    names = set(wheel.namelist())
    firmware = [n for n in repo_files() if n.startswith("drivers/firmware/motor_bridge/")]
    data = [n for n in repo_files() if n.startswith("robo_orch/data/") and n.endswith(".toml")]
    suffixes = {Path(n).suffix for n in firmware}
    assert {".c", ".h", ".ino", ".md"} <= suffixes, firmware
    assert "robo_orch/data/demo.toml" in data
    assert len([n for n in data if n.startswith("robo_orch/data/scenarios/")]) >= 9
    for name in firmware + data:
        inside = installed_path(name)
        assert inside in names, inside
        assert wheel.read(inside) == (REPO / name).read_bytes(), inside


def defines(source: str, attr: str) -> bool:
    """Whether a module's source defines ``attr`` at its top level."""
    for node in ast.parse(source).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == attr:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == attr for t in targets):
            return True
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == attr
                                                    for a in node.names):
            return True
    return False


def test_entry_points_and_builtins_name_robo_orch_modules_in_the_wheel(wheel):
    from robo_orch import registry

    names = set(wheel.namelist())
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str
    parser.read_string(wheel.read(f"{dist_info(wheel)}/entry_points.txt").decode())
    targets = [(group, name, value) for group in parser.sections()
               for name, value in parser.items(group)]
    assert any(group == "console_scripts" and name == "robo-orch" for group, name, _ in targets)
    # the built-ins are the registry's own table (found without any package metadata)
    targets += [(group, name, value) for group, table in registry.BUILTINS.items()
                for name, value in table.items()]
    for group, name, value in targets:
        module, _, attr = value.strip().partition(":")
        assert module.split(".")[0] == "robo_orch", (group, name, value)
        base = module.replace(".", "/")
        path = next((p for p in (f"{base}.py", f"{base}/__init__.py") if p in names), None)
        assert path is not None, f"{group}: {name} = {value}: no {base}.py in the wheel"
        assert defines(wheel.read(path).decode(), attr), f"{group}: {name} = {value}"
    assert len(targets) >= 20


def test_an_editable_install_maps_the_folders_into_robo_orch(tmp_path):
    # in a fresh interpreter outside the checkout, so that only the install can resolve them
    code = """
import importlib.util, json
import robo_orch.behaviors, robo_orch.drivers, robo_orch.sim, robo_orch.sim.emulators
from robo_orch.drivers import nmea
print(json.dumps({"files": {m.__name__: m.__file__ for m in (
    robo_orch, robo_orch.behaviors, robo_orch.drivers, robo_orch.sim, robo_orch.sim.emulators,
    nmea)}, "top": {n: importlib.util.find_spec(n) is not None
                     for n in ("drivers", "behaviors", "sim")}}))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    files = {k: Path(v).resolve() for k, v in found["files"].items()}
    assert files["robo_orch"] == REPO / "robo_orch/__init__.py", \
        "robo_orch is not this checkout: install it with pip install -e '.[test]'"
    assert files["robo_orch.behaviors"] == REPO / "behaviors/__init__.py"
    assert files["robo_orch.drivers"] == REPO / "drivers/__init__.py"
    assert files["robo_orch.sim"] == REPO / "sim/__init__.py"
    assert files["robo_orch.sim.emulators"] == REPO / "sim/emulators/__init__.py"
    assert files["robo_orch.drivers.nmea"] == REPO / "drivers/nmea.py"
    assert found["top"] == {"drivers": False, "behaviors": False, "sim": False}
