"""robo_orch.testing.check_behavior on every built-in behavior, and on behaviors that
break the contract (it must fail on each, naming the check)."""

from __future__ import annotations

import pytest

from robo_orch import registry
from robo_orch.testing import CheckFailed, check_behavior

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
    report = check_behavior(cls)
    assert report.passed == ["convention", "params", "declarations", "signature", "runs",
                             "writes_declared", "no_compile", "layout_independent"]
    assert not report.skipped
    assert str(report) == f"check_behavior({cls.kind}): 8 of 8 checks passed"


def test_plugins_with_user_names_pass(plugins):
    assert check_behavior(plugins.Tally).ok
    assert check_behavior(plugins.Peak).ok
    # a reader of another behavior's names is checked beside its provider
    assert check_behavior(plugins.Gauge, others=[plugins.Tally]).ok


@pytest.mark.parametrize("cls_name, others, failed, problem", [
    ("Gauge", [], {"declarations"}, "reads 'tally_level': unknown name"),
    ("Listener", ["Silent"], {"declarations"}, "reads 'quiet' but no behavior or input "
                                               "adapter writes it"),
    ("Sneaky", [], {"writes_declared"}, "on a fresh world the kernel wrote target_x without "
                                        "declaring it in writes"),
    ("Lazy", [], {"signature", "no_compile"}, "compiled for [], expected exactly"),
    ("Frozen", [], {"layout_independent"}, "on a fresh world, with another behavior's names "
                                           "placed first, the kernel wrote into them"),
])
def test_a_broken_behavior_fails_the_check_it_breaks(plugins, cls_name, others, failed,
                                                     problem):
    cls = getattr(plugins, cls_name)
    with pytest.raises(CheckFailed) as info:
        check_behavior(cls, others=[getattr(plugins, o) for o in others])
    report = info.value.report
    assert set(report.failed) == failed, str(report)
    assert any(problem in text for text in report.failed.values()), str(report)
    assert str(info.value).startswith(f"check_behavior({cls.kind}): {len(failed)} of ")
    # the checks that need a layout are skipped, not failed, when there is none
    if "declarations" in failed:
        assert set(report.skipped) == {"runs", "writes_declared", "no_compile",
                                       "layout_independent"}


def test_a_parameter_that_accepts_anything_fails(plugins):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Loose:
        anything: object = None

    class LoosePeak(plugins.Peak):
        kind = "loose"
        Params = Loose

        @classmethod
        def parse_params(cls, table, *, source, prefix):
            return Loose(**table)

        @classmethod
        def pack_params(cls, params):
            return plugins.Tally.pack_params(plugins.TallyParams())

    report = check_behavior(LoosePeak, raise_on_failure=False)
    assert report.failed == {"params": "'anything' = 'not a number' was accepted"}
