"""grafana_normalize's one-pass conversion writes what the straightforward one did: grafanalib's whole
JSON as sorted plain data first, then the fixes on copies (the code it replaced, kept here as the oracle),
for every dashboard and overview part of the examples and the sketch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SKETCH

from obsgen.model import Model, resolve
from obsgen.render import grafana, grafana_overview
from obsgen.render import grafana_normalize as gn
from obsgen.render.grafana_normalize import (
    _DASHBOARD_DROP,
    _PANEL_DROP,
    _RATE_RANGE,
    _TARGET_DROP,
    DATASOURCE_TYPES,
    DATASOURCE_VARIABLE,
    SCHEMA_VERSION,
    UNIT_PANEL_TYPES,
)
from obsgen.render.grafana_panels import PROM, Query, grafanalib_panels, stat, timeseries
from obsgen.spec import load_spec

ROOT = Path(__file__).parents[1]
SPECS = [*sorted((ROOT / "examples").glob("*.yaml")), SKETCH]
_OLD_LEAVES = frozenset({str, int, float, bool, type(None)})

# --------------------------------------------------------------------------- the oracle


def _old_to_json(dashboard: Any) -> dict[str, Any]:
    """A grafanalib Dashboard as plain data with every mapping's keys sorted: what its DashboardEncoder
    would write, without the encode-and-parse round trip (which dominated rendering a thousand services)."""
    data: dict[str, Any] = _old_plain(dashboard)
    return data


_OLD_LEAVES = frozenset({str, int, float, bool, type(None)})


def _old_plain(obj: Any) -> Any:
    # Hot: a thousand services are two million nodes, so leaves are tested by exact type, not recursed into.
    kind = type(obj)
    if kind is dict:  # sorting the keys alone is quicker than sorting (key, value) pairs
        out = {}
        for k in sorted(obj):
            v = obj[k]
            out[k] = v if type(v) in _OLD_LEAVES else _old_plain(v)
        return out
    if kind is list or kind is tuple:
        return [v if type(v) in _OLD_LEAVES else _old_plain(v) for v in obj]
    if kind in _OLD_LEAVES:
        return obj
    to_json_data = getattr(obj, "to_json_data", None)
    if to_json_data is not None:
        return _old_plain(to_json_data())
    raise TypeError(f"grafanalib produced {kind.__name__}, which has no JSON form")


def _old_sorted(data: dict[str, Any]) -> dict[str, Any]:
    """The mapping with its keys in order again, after `normalize` added some (children are sorted)."""
    return dict(sorted(data.items()))


def _old_normalize(data: dict[str, Any], *, uid: str, project: str, tags: list[str]) -> dict[str, Any]:
    for key in _DASHBOARD_DROP:
        data.pop(key, None)
    prefix = f"{project} / "
    if not data["title"].startswith(prefix):
        data["title"] = prefix + data["title"]
    data.update(uid=uid, id=None, schemaVersion=SCHEMA_VERSION, editable=False, graphTooltip=1,
                tags=sorted(set(tags) | set(data.get("tags") or [])), version=1)
    data["timepicker"] = {"refresh_intervals": data["timepicker"]["refresh_intervals"]}
    data["templating"]["list"] = _old_variables(data["templating"]["list"])
    ids = iter(range(1, 1_000_000))
    data["panels"] = [_old_panel(p, ids, data["title"]) for p in data["panels"]]
    return _old_sorted(data)


def _old_ref(datasource: str) -> dict[str, str]:
    return {"type": DATASOURCE_TYPES[datasource], "uid": datasource}


def _old_variables(variables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [_old_sorted(DATASOURCE_VARIABLE)]
    for var in variables:
        if var["name"] == "datasource":
            continue
        var = {k: v for k, v in var.items() if v is not None and k not in ("useTags", "tagsQuery", "tagValuesQuery")}
        if isinstance(var.get("datasource"), str):
            var["datasource"] = _old_ref(var["datasource"])
        if var.get("includeAll") and var["current"].get("value") is None:
            var["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
        if var["type"] != "interval":
            for key in ("auto", "auto_min", "auto_count"):
                var.pop(key, None)
        out.append(_old_sorted(var))
    return out


def _old_panel(panel: dict[str, Any], ids: Any, dashboard: str) -> dict[str, Any]:
    for key in _PANEL_DROP:
        panel.pop(key, None)
    panel = {k: v for k, v in panel.items() if v is not None and v != ""}
    panel["id"] = next(ids)
    if panel["type"] == "row":
        row = {k: panel[k] for k in ("type", "title", "collapsed", "gridPos", "id")}
        return _old_sorted({**row, "panels": [_old_panel(p, ids, dashboard) for p in panel.get("panels", [])]})
    datasource = panel.get("datasource")
    if isinstance(datasource, str):
        panel["datasource"] = _old_ref(datasource)
    if "targets" in panel:
        panel["targets"] = [_old_target(target, datasource) for target in panel["targets"]]
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    for key in ("min", "max", "decimals", "color"):
        if defaults.get(key) is None:
            defaults.pop(key, None)
    custom = defaults.get("custom", {})
    for key in ("axisSoftMin", "axisSoftMax"):
        if custom.get(key) is None:
            custom.pop(key, None)
    if "thresholds" in defaults:
        defaults["thresholds"]["steps"] = [
            {"color": s["color"], "value": None if s["index"] == 0 else s["value"]}
            for s in defaults["thresholds"]["steps"]
        ]
    _old_check(panel, dashboard)
    return _old_sorted(panel)


def _old_target(target: dict[str, Any], datasource: str | None) -> dict[str, Any]:
    for key in _TARGET_DROP:
        target.pop(key, None)
    source = target.get("datasource") or datasource
    if isinstance(source, str):
        target["datasource"] = _old_ref(source)
    if source == PROM:
        target["expr"] = _RATE_RANGE.sub(r"\1\2[$__rate_interval]", target["expr"])
        target["range"] = not target["instant"]
    else:
        target.pop("format", None)
        target.pop("instant", None)
        target["queryType"] = "range"
    return _old_sorted(target)


def _old_check(panel: dict[str, Any], dashboard: str) -> None:
    """Problems no rewrite can fix are bugs in the builders: fail the render, never ship them."""
    what = f"dashboard {dashboard!r}, panel {panel.get('title')!r}"
    if not panel.get("title") or not panel.get("description"):
        raise ValueError(f"{what}: every panel needs a title and a description")
    if panel["type"] in UNIT_PANEL_TYPES and not panel["fieldConfig"]["defaults"].get("unit"):
        raise ValueError(f"{what}: a {panel['type']} panel needs a unit")


def _old_panels(items: list[Any], *, first_id: int, dashboard: str) -> list[dict[str, Any]]:
    ids = iter(range(first_id, 1_000_000))
    return [_old_panel(_old_plain(p), ids, dashboard) for p in items]


# --------------------------------------------------------------------------- the tests


def _text(data: Any) -> str:
    return json.dumps(data, indent=1)  # in insertion order: key order matters too


def _model(path: Path) -> Model:
    return resolve(load_spec(path), path.name)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_dashboards_and_overview_parts_are_the_oracles(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(path)
    seen = {"dashboards": 0, "parts": 0}

    def normalize(dashboard: Any, **kw: Any) -> dict[str, Any]:
        got = gn.normalize(dashboard, **kw)
        assert _text(got) == _text(_old_normalize(_old_to_json(dashboard), **kw)), kw["uid"]
        seen["dashboards"] += 1
        return got

    def panels(items: list[Any], **kw: Any) -> list[dict[str, Any]]:
        got = gn.panels(items, **kw)
        assert _text(got) == _text(_old_panels(items, **kw))
        seen["parts"] += 1
        return got

    monkeypatch.setattr(grafana, "normalize", normalize)
    monkeypatch.setattr(grafana_overview, "normal_panels", panels)
    with grafanalib_panels():  # the oracles read grafanalib's panels (the templates: test_grafana_panels)
        grafana.render(model)
        grafana_overview.render(model)
    assert seen["dashboards"] == len(model.services) + 2  # theirs, stack health, the overview's head
    assert seen["parts"] == sum(1 for svc in model.services if grafana.overview_panels(model, svc))


@pytest.mark.parametrize("expr", [
    "sum(rate(x[5m]))", "sum(rate(x[$__rate_interval])) / sum(increase(y[1h]))",
    "max_over_time(rate(x[$__rate_interval])[1h:5m])", "sum(irate(x{a=\"[b]\"}[$__rate_interval]))",
    "up", "sum(rate(x[$__rate_interval]))",
])
def test_a_target_rewrites_its_rate_ranges_as_the_expression_did(expr: str) -> None:
    target = {"expr": expr, "instant": False, "refId": "A", "datasource": PROM}
    assert gn._target(dict(target), None)["expr"] == _RATE_RANGE.sub(r"\1\2[$__rate_interval]", expr)


def test_a_fixed_range_becomes_grafanas_rate_interval() -> None:
    got = gn._target({"expr": "rate(x[5m]) / rate(y[$__rate_interval])", "instant": False}, PROM)
    assert got["expr"] == "rate(x[$__rate_interval]) / rate(y[$__rate_interval])"


def test_a_panel_without_a_description_or_a_unit_fails_the_render_saying_which() -> None:
    bare = stat("Up", "", Query("up"), "percentunit")
    with pytest.raises(ValueError, match=r"^dashboard 'p / D', panel 'Up': every panel needs a title and a descr"):
        gn.panels([bare], first_id=1, dashboard="p / D")
    unitless = timeseries("Rate", "Requests.", [Query("sum(rate(x[5m]))")], "")
    with pytest.raises(ValueError, match=r"^dashboard 'p / D', panel 'Rate': a timeseries panel needs a unit$"):
        gn.panels([unitless], first_id=1, dashboard="p / D")
