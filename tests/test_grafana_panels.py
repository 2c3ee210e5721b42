"""grafana_panels' shortcuts: builders run with grafanalib's validators off (and on again after), threshold
steps made once per set of levels, panels made as JSON from templates. With validators on, and with every panel
made through grafanalib, every example and fixture builds the same dashboards."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import attr
import pytest
from conftest import SKETCH
from grafanalib import core as g

from obsgen.model import resolve
from obsgen.render import grafana, grafana_overview
from obsgen.render import grafana_panels as gp
from obsgen.render.common import dump_json
from obsgen.render.grafana_normalize import Prepared, Template, panels
from obsgen.render.grafana_panels import (
    GREEN,
    LOKI,
    ORANGE,
    RED,
    Grid,
    Query,
    grafanalib_panels,
    steps,
    unvalidated,
)
from obsgen.spec import load_spec

ROOT = Path(__file__).parents[1]
SPECS = [*sorted((ROOT / "examples").glob("*.yaml")), SKETCH]
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "specs").glob("*.yaml"))


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


# --------------------------------------------------------------------------- templates


def _dashboards(path: Path) -> dict[str, str]:
    model = resolve(load_spec(path), path.name)
    return {**grafana.render(model), **grafana_overview.render(model)}


@pytest.mark.parametrize("path", SPECS + FIXTURES, ids=lambda p: p.name)
def test_every_spec_writes_the_same_bytes_from_templates_as_from_grafanalib(path: Path) -> None:
    fast = _dashboards(path)
    with grafanalib_panels():
        slow = _dashboards(path)
    assert fast.keys() == slow.keys()
    for name in fast:
        assert fast[name] == slow[name], name


LINKS = [{"url": "/d/x", "title": "Open", "targetBlank": True}]
BUILT = {  # each builder in each shape, with values that differ from its template's
    "timeseries": lambda: gp.timeseries("Rate", "Requests.", [Query("sum(rate(x[5m]))", "{{a}}"),
                                                               Query("up", "", instant=True)], "reqps"),
    "timeseries lines": lambda: gp.timeseries("Lag", "Lag.", [Query("lag")], "s", links=LINKS,
                                              thresholds=steps(GREEN, (Decimal("0.5"), ORANGE), (Decimal(2), RED))),
    "timeseries free axis": lambda: gp.timeseries("Avail", "Share.", [Query("1 - x")], "percentunit",
                                                  min_zero=False),
    "timeseries loki": lambda: gp.timeseries("Lines", "Lines.", [Query("sum(rate({a=\"b\"} [5m]))", "lines")],
                                             "short", datasource=LOKI),
    "stat": lambda: gp.stat("Up", "Up.", Query("sum(up)"), "percentunit", links=LINKS, no_value="",
                            thresholds=steps(RED, (Decimal(1), GREEN)),
                            mappings=[{"type": "value", "options": {"1": {"text": "up"}}}]),
    "stat plain": lambda: gp.stat("Up", "Up.", Query("sum(rate(x[1m]))", "legend"), "none"),
    "table": lambda: gp.table("Alerts", "Firing.", Query("ALERTS", instant=True),
                              transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}]),
    "table plain": lambda: gp.table("Alerts", "Firing.", Query("ALERTS")),
    "logs": lambda: gp.logs("Logs", "Lines.", '{service="a"} |= "$search"'),
    "row": lambda: gp.row("SLO a: 99% over 30d"),
}


@pytest.mark.parametrize("name", BUILT)
def test_a_builder_makes_from_its_template_what_grafanalib_makes(name: str) -> None:
    made = [BUILT[name](), BUILT[name]()]
    with grafanalib_panels():
        oracle = [BUILT[name](), BUILT[name]()]
    assert type(made[0]) is Prepared and type(oracle[0]) is not Prepared
    for one in (made, oracle):
        grid = Grid()
        grid.add(one[0], 7, 3)
        grid.add(one[1], 24)  # on a new line
    assert dump_json(panels(made, first_id=5, dashboard="p / D")) == \
        dump_json(panels(oracle, first_id=5, dashboard="p / D"))
    alone = BUILT[name]()  # never placed: no gridPos (a row cannot be left so)
    with grafanalib_panels():
        alone_oracle = BUILT[name]()
    if name == "row":
        for one in (alone, alone_oracle):
            with pytest.raises(KeyError, match="gridPos"):
                panels([one], first_id=1, dashboard="p / D")
    else:
        assert dump_json(panels([alone], first_id=1, dashboard="p / D")) == \
            dump_json(panels([alone_oracle], first_id=1, dashboard="p / D"))


def test_panels_of_one_template_share_no_mapping_that_holds_their_values() -> None:
    first = gp.stat("A", "a.", Query("a"), "s", thresholds=steps(RED, (Decimal(1), GREEN)), no_value="none")
    gp.stat("B", "b.", Query("b"), "bytes", no_value="never")
    [got] = panels([first], first_id=1, dashboard="p / D")
    defaults = got["fieldConfig"]["defaults"]
    assert (got["title"], defaults["unit"], defaults["noValue"]) == ("A", "s", "none")
    assert [s["color"] for s in defaults["thresholds"]["steps"]] == [RED, GREEN]
    assert got["targets"][0]["expr"] == "a"


def test_a_value_normalize_would_leave_out_is_made_through_grafanalib() -> None:
    # normalize drops a panel's empty keys: a template, which has them all, cannot make that panel
    assert type(gp.row("")) is g.RowPanel
    assert type(gp.stat("Up", "", Query("up"), "none")) is g.Stat
    assert gp._stat_template().panel(title="Up", description="", targets=[], unit="none", steps=[], links=[],
                                     no_value="", mappings=[]) is None


def test_a_template_refuses_a_slot_grafanalib_does_not_write() -> None:
    sample = g.Stat(title="T", description="D", dataSource=gp.PROM, format="none")
    with pytest.raises(KeyError, match="fieldConfig.defaults.nowhere"):
        Template(sample, {"title": ("title",), "x": ("fieldConfig", "defaults", "nowhere")})


def test_grafanalib_panels_is_left_as_it_was_found() -> None:
    with pytest.raises(RuntimeError), grafanalib_panels():
        assert type(gp.row("R")) is g.RowPanel
        raise RuntimeError("boom")
    assert type(gp.row("R")) is Prepared
