"""grafana_panels' shortcuts: builders run with grafanalib's validators off (and on again after), and threshold
steps made once per set of levels. With validators on, every example builds the same dashboards."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import attr
import pytest
from conftest import SKETCH
from grafanalib import core as g

from obsgen.model import resolve
from obsgen.render import grafana, grafana_overview
from obsgen.render.grafana_panels import GREEN, ORANGE, RED, steps, unvalidated
from obsgen.spec import load_spec

ROOT = Path(__file__).parents[1]
SPECS = [*sorted((ROOT / "examples").glob("*.yaml")), SKETCH]


def test_a_builder_runs_without_validators_and_restores_them() -> None:
    seen = []

    @unvalidated
    def build(fail: bool) -> g.Threshold:
        seen.append(attr.validators.get_disabled())
        if fail:
            raise RuntimeError("boom")
        return g.Threshold(GREEN, "not an int", 0.0)  # the validator of `index` would refuse it

    assert build(False).index == "not an int"
    with pytest.raises(RuntimeError):
        build(True)
    assert seen == [True, True]
    assert attr.validators.get_disabled() is False
    with pytest.raises(TypeError):  # outside a builder they check again
        g.Threshold(GREEN, "not an int", 0.0)
    attr.validators.set_disabled(True)
    try:
        build(False)
        assert attr.validators.get_disabled() is True  # the state it found, not "on"
    finally:
        attr.validators.set_disabled(False)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_example_builds_the_same_with_validators_on(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = resolve(load_spec(path), path.name)
    fast = {**grafana.render(model), **grafana_overview.render(model)}
    monkeypatch.setattr(attr.validators, "set_disabled", lambda disabled: None)  # the builders cannot turn them off
    checked = {**grafana.render(model), **grafana_overview.render(model)}
    assert checked == fast


def test_steps_are_made_once_and_handed_out_as_new_lists() -> None:
    levels = ((Decimal("0.5"), ORANGE), (Decimal(1), GREEN))
    first = steps(RED, *levels)
    assert [(t.color, t.index, t.value) for t in first] == [(RED, 0, 0.0), (ORANGE, 1, 0.5), (GREEN, 2, 1.0)]
    first.append(g.Threshold(RED, 3, 2.0))
    again = steps(RED, *levels)
    assert len(again) == 3 and again is not first and again[1] is first[1]


def test_steps_of_an_unhashable_level_fail_as_they_did_uncached() -> None:
    with pytest.raises(ValueError, match="signaling NaN"):  # float()'s refusal, not the cache's TypeError
        steps(GREEN, (Decimal("sNaN"), RED))
