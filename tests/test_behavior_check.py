"""robo_orch.testing.check_behavior on every built-in behavior, and on behaviors that
break the contract (it must fail on each, naming the check)."""

from __future__ import annotations

import pytest

from robo_orch import registry
from robo_orch.testing import check_behavior
from robo_orch.testing.behavior_check import BehaviorCheckError

BUILTINS = [*registry.names(registry.BEHAVIORS),
            "robo_orch.behaviors.fault_proposal:FaultProposal"]  # the fault campaign's


@pytest.fixture
def plugins(monkeypatch):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).with_name("plugins")))
    import layout_plugins

    return layout_plugins


@pytest.mark.parametrize("name", BUILTINS)
def test_every_built_in_behavior_passes(name):
    cls = registry.load(registry.BEHAVIORS, name)
    assert check_behavior(cls) == ["convention", "params", "declarations", "signature", "runs"]


def test_plugins_with_user_names_pass(plugins):
    assert check_behavior(plugins.Tally)[-1] == "runs"
    assert check_behavior(plugins.Peak)[-1] == "runs"
    # a reader of another behavior's names is checked beside its provider
    assert check_behavior(plugins.Gauge, others=[plugins.Tally])[-1] == "runs"


@pytest.mark.parametrize("cls_name, others, problem", [
    ("Gauge", [], "gauge: declarations: gauge ("),
    ("Listener", ["Silent"], "listener: declarations: listener ("),
    ("Sneaky", [], "sneaky: runs: on a fresh world the kernel wrote target_x without "
                   "declaring it in writes"),
    ("Lazy", [], "lazy: signature: compiled for [], expected exactly"),
])
def test_a_broken_behavior_fails_the_check_it_breaks(plugins, cls_name, others, problem):
    with pytest.raises(BehaviorCheckError) as info:
        check_behavior(getattr(plugins, cls_name), others=[getattr(plugins, o) for o in others])
    assert str(info.value).startswith(problem), str(info.value)


def test_a_parameter_that_accepts_anything_fails(plugins):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Loose:
        anything: object = None

    class LooseTally(plugins.Tally):
        kind = "loose"
        Params = Loose

        @classmethod
        def parse_params(cls, table, *, source, prefix):
            return Loose(**table)

        @classmethod
        def pack_params(cls, params):
            return plugins.Tally.pack_params(plugins.TallyParams())

    with pytest.raises(BehaviorCheckError, match="loose: params: 'anything' = 'not a number' "
                                                 "was accepted"):
        check_behavior(LooseTally)
