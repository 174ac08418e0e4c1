"""The layer contract of pyproject.toml ([tool.importlinter]) holds, and the check can fail.

robo_orch.sim, .behaviors and .drivers live in the folders sim/, behaviors/ and
drivers/ (setuptools package-dir), so import-linter run in the clone would not see
them inside robo_orch.  These tests run ``lint-imports`` on a merged copy of the
package laid out as installed, check that its import graph holds the mapped
subpackages, and that a module written to break the contract breaks it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _lint_imports() -> str:
    script = Path(sys.executable).with_name("lint-imports")
    found = str(script) if script.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    return found


def _merged_copy(dest: Path) -> Path:
    """The package as installed (every package-dir folder inside robo_orch/), .py files only."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "firmware", "data")
    shutil.copytree(ROOT / "robo_orch", dest / "robo_orch", ignore=ignore)
    for package, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        target = dest.joinpath(*package.split("."))
        assert not target.exists(), f"{package} is both mapped and a folder of robo_orch/"
        shutil.copytree(ROOT / folder, target, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return _merged_copy(tmp_path_factory.mktemp("layers"))


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(cwd), COLUMNS="200")  # rich wraps at the width
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return _run(cwd, _lint_imports(), "--no-cache", "--no-logo")


def test_the_contract_holds(tree):
    result = _lint(tree)
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout


def test_the_check_sees_the_mapped_subpackages(tree):
    # the graph import-linter builds (grimp, run the same way) holds every module of
    # the mapped folders, and their imports into the framework
    probe = textwrap.dedent("""
        import grimp
        graph = grimp.build_graph("robo_orch", cache_dir=None)
        for name in sorted(graph.modules):
            print("module", name)
        for name in sorted(graph.find_modules_directly_imported_by("robo_orch.sim.lockstep")):
            print("lockstep imports", name)
    """)
    result = _run(tree, sys.executable, "-c", probe)
    assert result.returncode == 0, result.stderr
    modules = {line.split()[1] for line in result.stdout.splitlines()
               if line.startswith("module ")}
    for package, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        expected = {package + ("" if p.stem == "__init__" else "." + p.stem)
                    for p in (ROOT / folder).glob("*.py")}
        assert expected <= modules, f"{package}: missing {sorted(expected - modules)}"
    assert "robo_orch.sim.emulators.rplidar" in modules
    assert "lockstep imports robo_orch.backend" in result.stdout


CYCLES = """
import sys
import grimp

graph = grimp.build_graph("robo_orch", cache_dir=None)
modules = sorted(m for m in graph.modules if m.startswith("robo_orch"))
edges = {m: set() for m in modules}
for m in modules:
    for d in graph.find_modules_directly_imported_by(m):
        if d in edges:
            edges[m].add(d)
            # importing a.b.c runs a.b first: an edge to each enclosing package that
            # does not enclose the importer (Python runs those before the module)
            parts = d.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if parent in edges and parent != m and not m.startswith(parent + "."):
                    edges[m].add(parent)
index, low, stack, on, found = {}, {}, [], set(), []
sys.setrecursionlimit(10000)

def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in sorted(edges[v]):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        group = []
        while True:
            w = stack.pop()
            on.discard(w)
            group.append(w)
            if w == v:
                break
        if len(group) > 1:
            found.append(sorted(group))

for m in modules:
    if m not in index:
        visit(m)
print(len(modules), "modules")
for group in found:
    print("cycle:", " ".join(group))
"""


def test_no_import_cycles_between_modules(tree):
    # module by module (strongly connected groups of the import graph), imports inside
    # functions and under TYPE_CHECKING included; the acyclic_siblings contract works
    # on packages and does not see a cycle through a package's own __init__
    result = _run(tree, sys.executable, "-c", CYCLES)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[0]) > 100
    assert "cycle:" not in result.stdout, result.stdout


def test_lint_in_the_clone_does_not_pass_silently():
    # in the clone robo_orch.sim etc. are not inside robo_orch/: the layers contract
    # must report them missing rather than check a smaller package
    result = _lint(ROOT)
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert "Missing layer" in out and "does not exist" in out, out


VIOLATIONS = {
    # core importing config: a lower layer importing a higher one (TYPE_CHECKING counts)
    "robo_orch/core/_violation.py": """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from robo_orch.config import Config
    """,
    # the runtime importing a plugin by module path, inside a function
    "robo_orch/runtime/_violation.py": """
        def backend():
            from robo_orch.sim import lockstep
            return lockstep
    """,
    # a cycle between two sibling modules of the bus
    "robo_orch/bus/_cycle_a.py": "from robo_orch.bus import _cycle_b\n",
    "robo_orch/bus/_cycle_b.py": "from robo_orch.bus import _cycle_a\n",
    # a driver that would load numba into its process
    "robo_orch/drivers/_violation.py": "import numba\n",
}


def test_a_violation_is_caught(tmp_path):
    tree = _merged_copy(tmp_path)
    assert _lint(tree).returncode == 0  # the copy passes before the fixtures are added
    for name, text in VIOLATIONS.items():
        (tree / name).write_text(textwrap.dedent(text))
    result = _lint(tree)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, out + result.stderr
    assert "robo_orch.core is not allowed to import robo_orch.config" in out
    assert "robo_orch.core._violation -> robo_orch.config" in out
    assert "robo_orch.runtime._violation -> robo_orch.sim.lockstep" in out
    assert "No cycles are allowed in robo_orch.bus" in out
    assert "robo_orch.drivers._violation -> numba" in out
    for contract in ("layers", "acyclic", "core-bus-leaves", "runtime-plugins",
                     "drivers-no-numba"):
        assert contract_name(contract) + " BROKEN" in out, contract
    assert contract_name("plugins-seams") + " KEPT" in out


def contract_name(contract_id: str) -> str:
    """The name of a contract of pyproject.toml, by id."""
    for contract in PYPROJECT["tool"]["importlinter"]["contracts"]:
        if contract["id"] == contract_id:
            return contract["name"]
    raise KeyError(contract_id)
