"""The one place where grafanalib 0.7.1's dashboard JSON becomes modern Grafana JSON.

grafanalib writes an old format (schemaVersion 12, `style`, empty `rows`, datasources as bare strings,
threshold bases as the string "null", targets without datasources). `normalize` writes a grafanalib
dashboard's JSON so that every generated dashboard has: a given deterministic uid, `id` null, a current
schemaVersion, `{type, uid}` datasource references, a `datasource` template variable, `$__rate_interval`
in every rate/irate/increase, sequential unique panel ids, `editable: false`, tags and the project
name as title prefix. It checks, too, what it cannot repair: titles, descriptions, units.

A panel builder need not make the grafanalib panel each time: a `Template` is one normalized here once,
filled with each panel's values, and its `Prepared` panels only get their ids and places here.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from typing import Any

# Datasource names the builders use -> (plugin type, uid). `${datasource}` is the dashboard's
# Prometheus variable; the others are the fixed uids of grafana/provisioning/datasources.
PROM = "${datasource}"
LOKI = "loki"
DATASOURCE_TYPES = {PROM: "prometheus", "prometheus": "prometheus", LOKI: "loki", "alertmanager": "alertmanager"}

SCHEMA_VERSION = 39  # Grafana 10.4 / 11; newer Grafana migrates forward on load
DATASOURCE_VARIABLE = {
    "name": "datasource",
    "label": "Data source",
    "type": "datasource",
    "query": "prometheus",
    "current": {"selected": False, "text": "Prometheus", "value": "prometheus"},
    "hide": 0,
    "includeAll": False,
    "multi": False,
    "options": [],
    "refresh": 1,
    "regex": "",
    "skipUrlSync": False,
}
# Panel types that show numbers and therefore must name a unit (grafana/dashboard-linter's list).
UNIT_PANEL_TYPES = {"stat", "timeseries", "gauge", "table", "bargauge", "graph", "singlestat"}

_DASHBOARD_DROP = ("__inputs", "rows", "style", "sharedCrosshair", "hideControls", "gnetId")
_PANEL_DROP = frozenset({"span", "height", "minSpan", "error", "editable", "cacheTimeout", "hideTimeOverride",
               "repeatDirection", "maxPerRow", "columns", "fontSize", "color", "thresholds",
               "maxDataPoints"})  # grafanalib caps at 100 points; Grafana's default follows the panel width
_TARGET_DROP = ("target", "metric", "step", "intervalFactor", "query", "interval")
# rate(x[5m]) -> rate(x[$__rate_interval]); a subquery's `[1h:5m]` is left alone (it has a colon).
_RATE_RANGE = re.compile(r"\b(rate|irate|increase)(\s*\((?:[^()\[\]]|\([^()]*\))*)\[[^\]:]+\]")


_LEAVES = frozenset({str, int, float, bool, type(None)})


def _plain(obj: Any) -> Any:
    # Hot: a thousand services are 650k containers and objects, so leaves are tested by exact type, not
    # recursed into, nor empty lists (a quarter of the calls), nor the mapping a grafanalib object gives.
    kind = type(obj)
    if kind is not dict:
        if kind is list or kind is tuple:
            return [v if type(v) in _LEAVES else _plain(v) for v in obj]
        if kind in _LEAVES:
            return obj
        to_json_data = getattr(obj, "to_json_data", None)
        if to_json_data is None:
            raise TypeError(f"grafanalib produced {kind.__name__}, which has no JSON form")
        obj = to_json_data()
        if type(obj) is not dict:
            return _plain(obj)
    out = {}
    for k in sorted(obj):  # sorting the keys alone is quicker than sorting (key, value) pairs
        v = obj[k]
        kind = type(v)
        if kind in _LEAVES:
            out[k] = v
        elif kind is list and not v:
            out[k] = []
        else:
            out[k] = _plain(v)
    return out


def _sorted(data: dict[str, Any]) -> dict[str, Any]:
    """The mapping with its keys in order again, after `normalize` added some (children are sorted)."""
    return dict(sorted(data.items()))


def normalize(dashboard: Any, *, uid: str, project: str, tags: list[str]) -> dict[str, Any]:
    """A grafanalib Dashboard as modern Grafana JSON, every mapping's keys sorted. Its panels are read from
    grafanalib's objects in the one pass that fixes them (a walk over all of it first, then copies to fix,
    was most of rendering a service's dashboard)."""
    raw = dict(_mapping(dashboard))
    items = raw.pop("panels", [])
    data: dict[str, Any] = _plain(raw)
    for key in _DASHBOARD_DROP:
        data.pop(key, None)
    prefix = f"{project} / "
    if not data["title"].startswith(prefix):
        data["title"] = prefix + data["title"]
    data.update(uid=uid, id=None, schemaVersion=SCHEMA_VERSION, editable=False, graphTooltip=1,
                tags=sorted(set(tags) | set(data.get("tags") or [])), version=1)
    data["timepicker"] = {"refresh_intervals": data["timepicker"]["refresh_intervals"]}
    data["templating"]["list"] = _variables(data["templating"]["list"])
    ids = iter(range(1, 1_000_000))
    data["panels"] = [_panel(p, ids, data["title"]) for p in items]
    return _sorted(data)


def _mapping(obj: Any) -> dict[str, Any]:
    """A grafanalib object's JSON mapping, its values as grafanalib gave them (a mapping: itself)."""
    while type(obj) is not dict:
        to_json_data = getattr(obj, "to_json_data", None)
        if to_json_data is None:
            raise TypeError(f"grafanalib produced {type(obj).__name__}, which has no JSON form")
        obj = to_json_data()
    return obj


def ref(datasource: str) -> dict[str, str]:
    return {"type": DATASOURCE_TYPES[datasource], "uid": datasource}


def _variables(variables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [_sorted(DATASOURCE_VARIABLE)]
    for var in variables:
        if var["name"] == "datasource":
            continue
        var = {k: v for k, v in var.items() if v is not None and k not in ("useTags", "tagsQuery", "tagValuesQuery")}
        if isinstance(var.get("datasource"), str):
            var["datasource"] = ref(var["datasource"])
        if var.get("includeAll") and var["current"].get("value") is None:
            var["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
        if var["type"] != "interval":
            for key in ("auto", "auto_min", "auto_count"):
                var.pop(key, None)
        out.append(_sorted(var))
    return out


def _panel(item: Any, ids: Any, dashboard: str) -> dict[str, Any]:
    if type(item) is Prepared:
        made = item.placed(next(ids))
        if made["type"] != "row":  # a row has neither a description nor a unit
            _check(made, dashboard)
        return made
    raw = _mapping(item)
    keys = sorted(raw)
    if "id" not in raw:
        bisect.insort(keys, "id")
    # The panel is built in key order, so it needs no sorting after: the fixes below only replace values.
    # Keys it drops are never converted; its targets are converted once, by `_target`.
    panel: dict[str, Any] = {}
    for k in keys:
        if k in _PANEL_DROP:
            continue
        if k == "id":
            panel[k] = next(ids)
            continue
        v = raw[k]
        if k != "targets" and type(v) not in _LEAVES:
            v = _plain(v)
        if v is not None and v != "":
            panel[k] = v
    if panel["type"] == "row":
        row = {k: panel[k] for k in ("type", "title", "collapsed", "gridPos", "id")}
        return _sorted({**row, "panels": [_panel(p, ids, dashboard) for p in panel.get("panels", [])]})
    datasource = panel.get("datasource")
    if isinstance(datasource, str):
        panel["datasource"] = ref(datasource)
    if "targets" in panel:
        panel["targets"] = [_target(_mapping(target), datasource) for target in panel["targets"]]
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
    _check(panel, dashboard)
    return panel


def _target(raw: dict[str, Any], datasource: str | None) -> dict[str, Any]:
    target = {k: v if type(v) in _LEAVES else _plain(v) for k, v in raw.items() if k not in _TARGET_DROP}
    source = target.get("datasource") or datasource
    if isinstance(source, str):
        target["datasource"] = ref(source)
    if source == PROM:
        target["expr"] = rate_interval(target["expr"])
        target["range"] = not target["instant"]
    else:
        target.pop("format", None)
        target.pop("instant", None)
        target["queryType"] = "range"
    return _sorted(target)


def rate_interval(expr: str) -> str:
    """A Prometheus query with Grafana's rate interval as the range of every rate, irate and increase."""
    # only a range other than Grafana's own can change (most queries have none): skip the regex then
    if "[" in expr.replace("[$__rate_interval]", ""):
        return _RATE_RANGE.sub(r"\1\2[$__rate_interval]", expr)
    return expr


def _check(panel: dict[str, Any], dashboard: str) -> None:
    """Problems no rewrite can fix are bugs in the builders: fail the render, never ship them."""
    if not panel.get("title") or not panel.get("description"):
        raise ValueError(f"{_what(panel, dashboard)}: every panel needs a title and a description")
    if panel["type"] in UNIT_PANEL_TYPES and not panel["fieldConfig"]["defaults"].get("unit"):
        raise ValueError(f"{_what(panel, dashboard)}: a {panel['type']} panel needs a unit")


def _what(panel: dict[str, Any], dashboard: str) -> str:
    return f"dashboard {dashboard!r}, panel {panel.get('title')!r}"  # written only for an error: panels are many


def panels(items: list[Any], *, first_id: int, dashboard: str) -> list[dict[str, Any]]:
    """grafanalib panels as `normalize` writes them in the dashboard titled `dashboard` (its title with the
    project's prefix), numbered from `first_id`: for a dashboard assembled from parts."""
    ids = iter(range(first_id, 1_000_000))
    return [_panel(p, ids, dashboard) for p in items]


# --------------------------------------------------------------------------- panels made as modern JSON


class Prepared:
    """A panel already in the form `normalize` writes, but for its id and its place (`gridPos`, which a
    `Grid` sets, as on a grafanalib panel): what the builders make from a `Template`."""

    __slots__ = ("data", "gridPos")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.gridPos: Any = None

    def placed(self, id: int) -> dict[str, Any]:
        panel = dict(self.data)  # the rest is shared with the template: nothing changes a panel once made
        pos = self.gridPos
        if pos is None:
            if panel["type"] == "row":
                raise KeyError("gridPos")  # as a grafanalib row never placed fails in `_panel`
            del panel["gridPos"]
        else:
            panel["gridPos"] = {"h": pos.h, "w": pos.w, "x": pos.x, "y": pos.y}
        panel["id"] = id
        return panel


class Template:
    """The modern JSON of the panels a builder makes in one shape (the arguments that decide which keys they
    have), from one grafanalib panel of that shape normalized once; a panel of it is that JSON with its
    own values at the template's slots (name -> the keys leading to it), the mappings holding them copied.
    Building the grafanalib panel and normalizing it was most of the time of a service's dashboard."""

    def __init__(self, sample: Any, slots: Mapping[str, tuple[str, ...]]) -> None:
        sample.gridPos = _SAMPLE_PLACE  # so that the JSON has the key, in its place
        self.data = _panel(sample, iter([0]), "the template")
        inner = sorted({path[:i] for path in slots.values() for i in range(1, len(path))}, key=len)
        # the mappings to copy, parents first: (index of the parent copy or -1 for the panel, key)
        self._copies = [(inner.index(p[:-1]) if len(p) > 1 else -1, p[-1]) for p in inner]
        self._sets = [(name, inner.index(p[:-1]) if len(p) > 1 else -1, p[-1]) for name, p in slots.items()]
        self._top = [name for name, path in slots.items() if len(path) == 1]
        for path in slots.values():  # a slot grafanalib does not write would be a new key, out of order
            node = self.data
            for k in path[:-1]:
                node = node[k]
            if path[-1] not in node:
                raise KeyError(f"the template has no {'.'.join(path)}")

    def panel(self, **values: Any) -> Prepared | None:
        """The panel with these values (each as it stands in the JSON), or None where `normalize` would
        leave out a key for its value (empty or None at the top): the caller makes that one the slow way."""
        for name in self._top:
            value = values[name]
            if value is None or value == "":
                return None
        data = dict(self.data)
        copies: list[dict[str, Any]] = []
        for parent, key in self._copies:
            holder = data if parent < 0 else copies[parent]
            copy = holder[key] = dict(holder[key])
            copies.append(copy)
        for name, parent, key in self._sets:
            (data if parent < 0 else copies[parent])[key] = values[name]
        return Prepared(data)


class _Place:  # a grafanalib GridPos' fields, for a template's sample
    h, w, x, y = 1, 1, 0, 0

    def to_json_data(self) -> dict[str, int]:
        return {"h": self.h, "w": self.w, "x": self.x, "y": self.y}


_SAMPLE_PLACE = _Place()


def target(sample: Any) -> dict[str, Any]:
    """A grafanalib target (naming its datasource) as `normalize` writes it."""
    return _target(_mapping(sample), None)


def plain(data: Any) -> Any:
    """Data as `normalize` writes it: grafanalib objects as their JSON, every mapping's keys sorted."""
    return _plain(data)
