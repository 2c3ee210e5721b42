"""`obsgen check` for the files no installed validator reads: Grafana's dashboards and provisioning, Loki's
config and ruler files, fluent.conf and the Fluentd Dockerfile, and the Mimir or Cortex ruler's namespace files.

Grafana, Loki and Fluentd are servers `obsgen check` cannot start, so their files are read by the real
parser of the same syntax where one can run here: promtool for PromQL and for the Prometheus rule-file
shape Loki's ruler shares, Grafana's own LogQL grammar (@grafana/lezer-logql, under node) for LogQL.
The rest is checked by obsgen's own rules, written from those projects' documentation: JSON Schemas of
the provisioning files, of loki.yml and of the dashboard fields Grafana reads, the references between
them, and fluent.conf read back by obsgen.fluentconf, a port of Fluentd's parser. Every Result names the
files it read and checked (`files`), and only those: a check that could not run names none.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import logql_parse
from .check_result import Result
from .fluentconf import Element, FluentConfError, parse
from .grafana_variables import BUILTIN_VALUES, substitute
from .render.fluentd import ES_GEMS, GEMS
from .render.loki import TENANT

TIMEOUT = 120
LOGQL_SCRIPT = logql_parse.SCRIPT
CHECKOUT_NODE_MODULES = logql_parse.CHECKOUT_NODE_MODULES  # module attributes: tests point them elsewhere
NODE_MODULES_ENV = logql_parse.NODE_MODULES_ENV
LOGQL_PACKAGES = logql_parse.LOGQL_PACKAGES
PROMTOOL_HINT = ("install promtool: Debian package `promtool` (or `make tools` in an obsgen checkout, which "
                 "fetches it into .tools/bin)")
NODE_HINT = logql_parse.NODE_HINT
LOGQL_HINT = logql_parse.LOGQL_HINT


def check_files(out: Path) -> list[Result]:
    """Every check of this module over the output tree `out`, for what of it exists."""
    out = Path(out)
    logql = _LogQL()
    pending: list[Result | Callable[[], Result]] = []
    pending += _grafana(out, logql)
    pending += _provisioning(out)
    pending += _loki(out, logql)
    pending += _fluentd(out)
    pending += _ruler(out)
    logql.run()  # one node process for every LogQL expression of the tree
    return [p if isinstance(p, Result) else p() for p in pending]


# --------------------------------------------------------------------------- shared


@dataclass(frozen=True)
class Query:
    """One expression of an output file, where it is and what is sent to the parser."""

    file: str
    where: str  # e.g. 'panel "Error rate" (id 4) query A'
    expr: str  # as written
    text: str  # with Grafana's variables replaced by sample values

    def describe(self) -> str:
        return f"{self.file}: {self.where}: {self.expr}"


def _files(out: Path, pattern: str) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.glob(pattern) if p.is_file())


def _load_yaml(path: Path) -> tuple[Any, str | None]:
    try:
        return yaml.load(path.read_text("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)), None
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        return None, f"not YAML: {' '.join(str(e).split())}"


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props) if required is None else required,
            "additionalProperties": False}


STR, STR1, BOOL, INT = {"type": "string"}, {"type": "string", "minLength": 1}, {"type": "boolean"}, {"type": "integer"}
UID = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,40}$"}  # Grafana's uid rule: at most 40 of these


def _schema_problems(file: str, data: Any, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{file}: {_json_path(e.absolute_path)}: {e.message}"
            for e in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])]


def _json_path(parts: Any) -> str:
    path = ""
    for p in parts:
        path += f"[{p}]" if isinstance(p, int) else f".{p}" if path else str(p)
    return path or "(top)"


def _verdict(tool: str, target: str, problems: list[str], files: list[str], summary: str) -> Result:
    if problems:
        return Result(tool, target, "failed", "\n".join(problems), tuple(files))
    return Result(tool, target, "passed", summary, tuple(files))


def _promtool_rules(target: str, docs: dict[str, str], files: list[str], summary: str,
                    explain: Callable[[str], str] = lambda line: line) -> Result:
    """`promtool check rules` over rule files written to a temporary folder under their output-relative
    names (so its messages name them); `explain` may rewrite each line of a failure."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return Result("promtool", target, "not found", PROMTOOL_HINT)
    with tempfile.TemporaryDirectory(prefix="obsgen-check-") as tmp:
        for rel, text in docs.items():
            (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / rel).write_text(text, "utf-8")
        try:
            proc = subprocess.run([promtool, "check", "rules", *docs], cwd=tmp, capture_output=True, text=True,
                                  timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return Result("promtool", target, "failed", f"timed out after {TIMEOUT} s", tuple(files))
    if proc.returncode == 0:
        return Result("promtool", target, "passed", summary, tuple(files))
    # promtool prints its findings on stdout and stderr alike
    lines = [line for line in (proc.stderr + "\n" + proc.stdout).splitlines()
             if line.strip() and not line.startswith("Checking ") and line.strip() not in ("FAILED:", "SUCCESS")
             and "SUCCESS:" not in line]
    return Result("promtool", target, "failed", "\n".join(explain(line) for line in dict.fromkeys(lines)),
                  tuple(files))


class _LogQL:
    """Collects LogQL expressions from every check, parses them all in one node process, then builds
    each check's Result."""

    def __init__(self) -> None:
        self.exprs: dict[str, dict[str, Any]] = {}
        self.problem: Result | None = None  # why nothing could be parsed

    def request(self, target: str, queries: list[Query], files: list[str], metric_only: bool = False,
                what: str = "") -> Callable[[], Result]:
        for q in queries:
            self.exprs.setdefault(q.text, {})

        def result() -> Result:
            if self.problem is not None:
                return Result(self.problem.tool, target, self.problem.status, self.problem.output)
            problems = []
            for q in queries:
                verdict = self.exprs[q.text]
                if not verdict.get("ok"):
                    problems.append(f"{q.describe()}\n  {verdict.get('error', 'not parsed')}")
                elif metric_only and verdict.get("kind") != "metric":
                    problems.append(f"{q.describe()}\n  a log query, but {what} evaluates metric queries only "
                                    "(an instant vector, e.g. sum(count_over_time({...}[5m])) > 0)")
            return _verdict("lezer-logql", target, problems, files,
                            f"{len(queries)} LogQL expressions parsed by Grafana's grammar")
        return result

    def run(self) -> None:
        exprs = list(self.exprs)
        verdicts = logql_parse.parse(exprs, _node_modules_candidates(), TIMEOUT)
        if isinstance(verdicts, logql_parse.Unavailable):
            self.problem = Result(verdicts.tool, "", verdicts.status, verdicts.reason)
            return
        self.exprs = dict(zip(exprs, verdicts, strict=True))


def _node_modules_candidates() -> list[Path]:
    return logql_parse.node_modules_candidates(CHECKOUT_NODE_MODULES)


def logql_node_modules() -> Path | None:
    """The node_modules folder holding @grafana/lezer-logql: ${OBSGEN_NODE_MODULES}, else the checkout's
    .tools/node_modules."""
    return logql_parse.find_node_modules(_node_modules_candidates())


# --------------------------------------------------------------------------- Grafana dashboards

# The panel types Grafana ships (public/app/plugins/panel); any other shows "Panel plugin not found".
GRAFANA_PANELS = frozenset({
    "alertlist", "annolist", "barchart", "bargauge", "candlestick", "canvas", "dashlist", "datagrid",
    "flamegraph", "gauge", "geomap", "gettingstarted", "graph", "heatmap", "histogram", "live", "logs", "news",
    "nodeGraph", "piechart", "row", "stat", "state-timeline", "status-history", "table", "text", "timeseries",
    "traces", "trend", "welcome", "xychart",
})
VARIABLE_TYPES = ["query", "custom", "textbox", "constant", "datasource", "interval", "adhoc", "groupby"]
BUILTIN_DATASOURCES = frozenset({"-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana"})
MIXED = "-- Mixed --"
MIN_SCHEMA_VERSION = 36  # datasource references as {type, uid} everywhere, no migration on load
GRID_COLUMNS = 24
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$", re.S)
_QUERY_RESULT = re.compile(r"^\s*query_result\((.*)\)\s*$", re.S)

_DS_REF = {"type": "object", "required": ["type", "uid"], "properties": {"type": STR1, "uid": STR1}}
_PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos"],
    "properties": {
        "id": INT, "type": STR1, "title": STR1,
        "gridPos": _obj({"x": {"type": "integer", "minimum": 0, "maximum": GRID_COLUMNS - 1},
                         "y": {"type": "integer", "minimum": 0},
                         "w": {"type": "integer", "minimum": 1, "maximum": GRID_COLUMNS},
                         "h": {"type": "integer", "minimum": 1}}),
        "datasource": _DS_REF,
        "targets": {"type": "array", "items": {
            "type": "object", "required": ["refId"],
            "properties": {"refId": STR1, "expr": STR, "datasource": _DS_REF}}},
        "panels": {"type": "array", "items": {"$ref": "#/$defs/panel"}},
    },
}
# The dashboard fields Grafana reads and obsgen's generated dashboards rely on; other keys are allowed.
DASHBOARD_SCHEMA: dict[str, Any] = {
    "$defs": {"panel": _PANEL},
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating"],
    "properties": {
        "uid": UID, "title": STR1,
        "id": {"type": "null"},  # a provisioned dashboard is found by uid; a fixed id collides
        "schemaVersion": {"type": "integer", "minimum": MIN_SCHEMA_VERSION},
        "panels": {"type": "array", "items": {"$ref": "#/$defs/panel"}},
        "templating": {"type": "object", "required": ["list"], "properties": {"list": {"type": "array", "items": {
            "type": "object", "required": ["name", "type"],
            "properties": {"name": {"type": "string", "pattern": r"^[A-Za-z0-9_]+$"}, "type": {"enum": VARIABLE_TYPES},
                           "datasource": {"anyOf": [{"type": "null"}, _DS_REF]},
                           "query": {"type": ["string", "object"]}}}}}},
        "annotations": {"type": "object", "properties": {"list": {"type": "array", "items": {
            "type": "object", "properties": {"datasource": {"anyOf": [{"type": "null"}, _DS_REF]}}}}}},
        "links": {"type": "array", "items": {"type": "object", "properties": {"url": STR}}},
    },
}


def _grafana(out: Path, logql: _LogQL) -> list[Result | Callable[[], Result]]:
    rels = _files(out, "grafana/dashboards/*.json")
    if not rels:
        return []
    target = "grafana/dashboards/"
    datasources = _provisioned_datasources(out)
    problems: list[str] = []
    loaded: dict[str, dict[str, Any]] = {}
    for rel in rels:
        try:
            d = json.loads((out / rel).read_text("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            problems.append(f"{rel}: not JSON: {e}")
            continue
        found = _schema_problems(rel, d, DASHBOARD_SCHEMA)
        if found:
            problems += found
        else:
            loaded[rel] = d
    if datasources is None:
        problems.append("grafana/provisioning/datasources/ provisions no datasource: the dashboards' datasource "
                        "references cannot be resolved")
    for key in ("uid", "title"):  # Grafana refuses a second dashboard with either in the same folder
        seen: dict[str, str] = {}
        for rel, d in loaded.items():
            if d[key] in seen:
                problems.append(f"{rel}: {key} {d[key]!r} is also the {key} of {seen[d[key]]}")
            seen.setdefault(d[key], rel)
    uids = {d["uid"] for d in loaded.values()}
    prom: list[Query] = []
    loki: list[Query] = []
    for rel, d in loaded.items():
        _Dashboard(rel, d, datasources, uids).check(problems, prom, loki)
    results: list[Result | Callable[[], Result]] = [_verdict(
        "obsgen dashboard rules", target, problems, rels,
        f"{len(rels)} dashboards: structure, datasources, variables, layout and links")]
    if prom:
        results.append(_promql(f"{target} (PromQL)", prom))
    if loki:
        results.append(logql.request(f"{target} (LogQL)", loki, sorted({q.file for q in loki})))
    return results


def _promql(target: str, queries: list[Query]) -> Result:
    """PromQL expressions parsed by promtool, as the expressions of recording rules of one rule file."""
    rules = [{"record": f"obsgen_check:expr_{i}:promql", "expr": q.text} for i, q in enumerate(queries)]
    name = "promql-expressions.yml"
    by_record = re.compile(r'"obsgen_check:expr_(\d+):promql": (.*)$')

    def explain(line: str) -> str:
        m = by_record.search(line)
        return f"{queries[int(m.group(1))].describe()}\n  {m.group(2)}" if m else line.replace(f"{name}: ", "")

    files = sorted({q.file for q in queries})
    return _promtool_rules(target, {name: yaml.safe_dump({"groups": [{"name": "obsgen-check", "rules": rules}]})},
                           files, f"{len(queries)} PromQL expressions parsed by promtool", explain)


def _provisioned_datasources(out: Path) -> list[dict[str, Any]] | None:
    rels = _files(out, "grafana/provisioning/datasources/*.y*ml")
    if not rels:
        return None
    found = []
    for rel in rels:
        data, _error = _load_yaml(out / rel)  # a file that does not load fails the provisioning check
        if isinstance(data, dict) and isinstance(data.get("datasources"), list):
            found += [ds for ds in data["datasources"] if isinstance(ds, dict)]
    return found


def panels(d: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, those inside (collapsed) rows included."""
    for panel in d["panels"]:
        yield panel
        yield from panel.get("panels", [])


class _Dashboard:
    """The rules one dashboard must keep beyond its schema: what its references name must exist."""

    def __init__(self, rel: str, d: dict[str, Any], datasources: list[dict[str, Any]] | None,
                 uids: set[str]) -> None:
        self.rel, self.d, self.datasources, self.uids = rel, d, datasources, uids
        self.variables = {v["name"]: v for v in d["templating"]["list"]}
        self.values = {**BUILTIN_VALUES, **{name: _sample_value(v) for name, v in self.variables.items()}}
        self.problems: list[str] = []

    def say(self, where: str, message: str) -> None:
        self.problems.append(f"{self.rel}: {where}: {message}")

    def check(self, problems: list[str], prom: list[Query], loki: list[Query]) -> None:
        if len(self.variables) != len(self.d["templating"]["list"]):
            self.say("templating", "two variables share a name")
        for var in self.d["templating"]["list"]:
            self.variable(var, prom)
        for i, note in enumerate(self.d.get("annotations", {}).get("list", [])):
            if note.get("datasource"):
                self.resolve(f"annotation {i}", note["datasource"])
        ids: set[int] = set()
        for panel in panels(self.d):
            if panel["id"] in ids:
                self.say(self.where(panel), f"panel id {panel['id']} is used twice")
            ids.add(panel["id"])
            self.panel(panel, prom, loki)
        self.layout(self.d["panels"], "the dashboard")
        for row in self.d["panels"]:
            if row.get("panels"):
                self.layout(row["panels"], f"row {row['title']!r}")
        for link in self.d.get("links", []):
            m = re.match(r"^/d/([^/?#]+)", link.get("url", ""))
            if m and m.group(1) not in self.uids:
                self.say(f"link {link.get('title', '')!r}", f"{link['url']} names no dashboard of this folder")
        problems += self.problems

    def where(self, panel: dict[str, Any]) -> str:
        return f"panel {panel['title']!r} (id {panel['id']})"

    def panel(self, panel: dict[str, Any], prom: list[Query], loki: list[Query]) -> None:
        where = self.where(panel)
        if panel["type"] not in GRAFANA_PANELS:
            self.say(where, f"type {panel['type']!r} is not a panel Grafana ships")
        if panel.get("panels") and panel["type"] != "row":
            self.say(where, "only a row holds panels")
        own = panel.get("datasource")
        if own:
            self.resolve(where, own)
        refs = [t["refId"] for t in panel.get("targets", [])]
        if len(refs) != len(set(refs)):
            self.say(where, f"two queries share a refId ({', '.join(refs)})")
        for t in panel.get("targets", []):
            ref = t.get("datasource") or own
            qwhere = f"{where} query {t['refId']}"
            if ref is None:
                self.say(qwhere, "neither the query nor its panel names a datasource")
                continue
            if t.get("datasource") and own and t["datasource"] != own and own["uid"] != MIXED:
                self.say(qwhere, f"queries {_ref(t['datasource'])} in a panel of {_ref(own)}: only a panel of the "
                                 f"{MIXED!r} datasource queries several")
            if t.get("datasource") and t["datasource"] != own:
                self.resolve(qwhere, t["datasource"])
            if t.get("expr"):
                query = self.query(qwhere, t["expr"])
                if ref["type"] == "prometheus":
                    prom.append(query)
                elif ref["type"] == "loki":
                    loki.append(query)

    def variable(self, var: dict[str, Any], prom: list[Query]) -> None:
        where = f"variable {var['name']!r}"
        if var["type"] == "datasource":
            self.resolve(where, {"type": var.get("query", ""), "uid": "${" + var["name"] + "}"})
            return
        if var["type"] != "query" or not var.get("datasource"):
            return
        self.resolve(where, var["datasource"])
        text = var.get("query")
        text = text.get("query", "") if isinstance(text, dict) else text or ""
        m = _LABEL_VALUES.match(text) or _QUERY_RESULT.match(text)
        if m and var["datasource"]["type"] == "prometheus":  # label_values(label) alone has no PromQL
            prom.append(self.query(where, m.group(1)))

    def query(self, where: str, expr: str) -> Query:
        text, unknown = substitute(expr, self.values)
        for name in sorted(unknown):
            self.say(where, f"${name} is neither a Grafana variable nor one of the dashboard's "
                            "(Grafana leaves it as written)")
        return Query(self.rel, where, expr, text)

    def resolve(self, where: str, ref: dict[str, Any]) -> None:
        """A datasource reference names a provisioned datasource of its type (through a variable or not)."""
        if self.datasources is None or ref["uid"] in BUILTIN_DATASOURCES:
            return
        m = re.fullmatch(r"\$\{?(\w+)\}?", ref["uid"])
        if m:
            var = self.variables.get(m.group(1))
            if var is None or var["type"] != "datasource":
                self.say(where, f"{_ref(ref)}: the dashboard has no datasource variable {m.group(1)!r}")
                return
            current = var["current"].get("value") if isinstance(var.get("current"), dict) else None
            choices = [ds for ds in self.datasources if ds.get("type") == var.get("query")]
            picked = [ds for ds in choices if current in (ds.get("uid"), ds.get("name"))] if current else choices
            if not picked:
                self.say(where, f"{_ref(ref)}: variable {m.group(1)!r} selects {current or 'a datasource'} of type "
                                f"{var.get('query')!r}, which grafana/provisioning/datasources/ does not provision")
                return
            found = picked[0]
        else:
            by_uid = [ds for ds in self.datasources if ds.get("uid") == ref["uid"]]
            if not by_uid:
                known = ", ".join(sorted(str(ds.get("uid")) for ds in self.datasources))
                self.say(where, f"{_ref(ref)}: no datasource of uid {ref['uid']!r} is provisioned in "
                                f"grafana/provisioning/datasources/ (there are: {known})")
                return
            found = by_uid[0]
        if found.get("type") != ref["type"]:
            self.say(where, f"{_ref(ref)}: the provisioned datasource {found.get('uid')!r} is of type "
                            f"{found.get('type')!r}")

    def layout(self, group: list[dict[str, Any]], name: str) -> None:
        """Panels inside the 24 columns, none covering another (Grafana would move them around)."""
        cells: dict[tuple[int, int], str] = {}
        for p in group:
            pos = p["gridPos"]
            if pos["x"] + pos["w"] > GRID_COLUMNS:
                self.say(self.where(p), f"gridPos x {pos['x']} + w {pos['w']} passes column {GRID_COLUMNS}")
            mine = [(x, y) for x in range(pos["x"], min(pos["x"] + pos["w"], GRID_COLUMNS))
                    for y in range(pos["y"], pos["y"] + pos["h"])]
            taken = next((c for c in mine if c in cells), None)
            if taken is not None:
                self.say(self.where(p), f"covers {cells[taken]} in {name} (at column {taken[0]}, row {taken[1]})")
            cells.update((c, cells.get(c, self.where(p))) for c in mine)


def _ref(ref: dict[str, Any]) -> str:
    return f"datasource {{type: {ref['type']}, uid: {ref['uid']}}}"


def _sample_value(var: dict[str, Any]) -> str:
    """What a variable stands for in an expression sent to the parsers."""
    current = var.get("current")
    value = current.get("value") if isinstance(current, dict) else None
    kind = var["type"]
    if kind == "constant":
        return str(var.get("query", ""))
    if kind == "textbox":
        return value if isinstance(value, str) else str(var.get("query") or "")
    if kind == "interval":
        return "5m"
    if kind in ("query", "custom"):
        if var.get("allValue"):
            return str(var["allValue"])
        return value if isinstance(value, str) and not value.startswith("$__") else ".+"
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------- Grafana provisioning

# From Grafana's provisioning docs ("Data sources", "Dashboards") and the v1 structs Grafana reads them
# into (pkg/services/provisioning). Grafana ignores a key it does not know; here it is an error, since a
# misspelt key is a setting silently lost.
DATASOURCE_SCHEMA = _obj({
    "name": STR1, "type": STR1, "uid": UID, "url": STR,
    "access": {"enum": ["proxy", "direct"]}, "orgId": {"type": "integer", "minimum": 1}, "version": INT,
    "user": STR, "database": STR, "basicAuth": BOOL, "basicAuthUser": STR, "withCredentials": BOOL,
    "isDefault": BOOL, "editable": BOOL, "jsonData": {"type": "object"},
    "secureJsonData": {"type": "object", "additionalProperties": STR},
    "correlations": {"type": "array", "items": {"type": "object"}},
}, required=["name", "type", "uid", "url"])
DATASOURCES_SCHEMA = _obj({
    "apiVersion": {"const": 1},
    "datasources": {"type": "array", "items": DATASOURCE_SCHEMA},
    "deleteDatasources": {"type": "array", "items": _obj(
        {"name": STR1, "orgId": {"type": "integer", "minimum": 1}}, required=["name"])},
    "prune": BOOL,
}, required=["apiVersion", "datasources"])
DASHBOARD_PROVIDERS_SCHEMA = _obj({
    "apiVersion": {"const": 1},
    "providers": {"type": "array", "minItems": 1, "items": _obj({
        "name": STR1, "orgId": {"type": "integer", "minimum": 1}, "folder": STR,
        "folderUid": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{0,40}$"}, "type": {"const": "file"},
        "disableDeletion": BOOL, "updateIntervalSeconds": {"type": "integer", "minimum": 0},
        "allowUiUpdates": BOOL,
        "options": _obj({"path": {"type": "string", "pattern": "^/"}, "foldersFromFilesStructure": BOOL},
                        required=["path"]),
    }, required=["name", "options"])},
}, required=["apiVersion", "providers"])
PROVISIONING = {"datasources": DATASOURCES_SCHEMA, "dashboards": DASHBOARD_PROVIDERS_SCHEMA}


def _provisioning(out: Path) -> list[Result | Callable[[], Result]]:
    rels = [rel for kind in PROVISIONING for rel in _files(out, f"grafana/provisioning/{kind}/*.y*ml")]
    if not rels:
        return []
    problems: list[str] = []
    datasources: list[tuple[str, dict[str, Any]]] = []
    providers: list[tuple[str, dict[str, Any]]] = []
    for rel in rels:
        kind = rel.split("/")[2]
        data, error = _load_yaml(out / rel)
        if error:
            problems.append(f"{rel}: {error}")
            continue
        found = _schema_problems(rel, data, PROVISIONING[kind])
        problems += found
        problems += _lone_dollars(rel, data)
        if not found and kind == "datasources":
            datasources += [(rel, ds) for ds in data["datasources"]]
        elif not found:
            providers += [(rel, p) for p in data["providers"]]
    # Grafana reads every file of the folder as one list
    defaults: dict[int, str] = {}
    for rel, ds in datasources:
        if ds.get("isDefault"):
            org = ds.get("orgId", 1)
            if org in defaults:  # Grafana refuses to start provisioning then
                problems.append(f"{rel}: datasource {ds['name']!r} is a second default of org {org} "
                                f"(after {defaults[org]!r}): Grafana allows one")
            defaults.setdefault(org, ds["name"])
    problems += _duplicates(datasources, "datasource", lambda ds: (ds.get("orgId", 1), ds["name"]), "name")
    problems += _duplicates(datasources, "datasource", lambda ds: ds["uid"], "uid")
    problems += _duplicates(providers, "dashboard provider", lambda p: p["name"], "name")
    uids = {ds["uid"] for _, ds in datasources}
    for rel, ds in datasources:
        for path, uid in _datasource_uids(ds.get("jsonData", {}), "jsonData"):
            if uid not in uids:
                problems.append(f"{rel}: datasource {ds['name']!r} {path}: {uid!r} is not a provisioned uid")
    return [_verdict("obsgen provisioning schema", "grafana/provisioning/", problems, rels,
                     f"{len(datasources)} datasources, {len(providers)} dashboard providers")]


def _duplicates(items: list[tuple[str, dict[str, Any]]], what: str, key: Callable[[dict[str, Any]], Any],
                field: str) -> list[str]:
    seen: dict[Any, str] = {}
    problems = []
    for rel, item in items:
        k = key(item)
        if k in seen:
            problems.append(f"{rel}: {what} {field} {item[field]!r} is used twice (also in {seen[k]})")
        seen.setdefault(k, rel)
    return problems


def _datasource_uids(data: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every `datasourceUid` inside jsonData (derived fields, traces-to-logs, exemplars...)."""
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "datasourceUid" and isinstance(v, str):
                yield f"{path}.{k}", v
            else:
                yield from _datasource_uids(v, f"{path}.{k}")
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _datasource_uids(v, f"{path}[{i}]")


def _lone_dollars(rel: str, data: Any, path: str = "") -> list[str]:
    """Grafana expands $NAME and ${NAME} from its environment in every provisioning value; obsgen writes
    a literal `$` as `$$`, so a lone one is a value Grafana would change."""
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _lone_dollars(rel, v, f"{path}.{k}" if path else str(k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _lone_dollars(rel, v, f"{path}[{i}]")]
    if isinstance(data, str) and any(m.group(0) == "$" for m in re.finditer(r"\$\$|\$", data)):
        return [f"{rel}: {path}: {data!r} has a lone $, which Grafana expands from its environment "
                "(write $$ for a literal $)"]
    return []


# --------------------------------------------------------------------------- Loki

DURATION = {"type": "string", "pattern": r"^(\d+(ms|s|m|h|d|w|y))+$"}
KVSTORE = _obj({"kvstore": _obj({"store": {"enum": ["inmemory", "memberlist", "consul", "etcd"]}})})
# The loki.yml fields obsgen writes, as Loki 3.x's configuration reference types them
# (grafana/loki docs/sources/shared/configuration.md). Unknown keys are errors: Loki refuses them too.
LOKI_SCHEMA = _obj({
    "auth_enabled": BOOL,
    "server": _obj({"http_listen_port": INT, "grpc_listen_port": INT,
                    "log_level": {"enum": ["debug", "info", "warn", "error"]}}),
    "common": _obj({
        "instance_addr": STR, "path_prefix": STR, "replication_factor": INT, "ring": KVSTORE,
        "storage": _obj({"filesystem": _obj({"chunks_directory": STR, "rules_directory": STR})}),
    }),
    "schema_config": _obj({"configs": {"type": "array", "minItems": 1, "items": _obj({
        "from": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        "store": {"enum": ["tsdb", "boltdb-shipper"]},
        "object_store": {"enum": ["filesystem", "s3", "gcs", "azure", "swift"]},
        "schema": {"enum": ["v11", "v12", "v13"]},
        "index": _obj({"prefix": STR, "period": {"const": "24h"}}),
    })}}),
    "limits_config": _obj({
        "retention_period": DURATION, "reject_old_samples": BOOL, "reject_old_samples_max_age": DURATION,
        "max_line_size": {"type": ["string", "integer"], "pattern": r"^\d+(KB|MB)?$"},
        "max_line_size_truncate": BOOL, "allow_structured_metadata": BOOL, "volume_enabled": BOOL,
    }),
    "compactor": _obj({"working_directory": STR, "compaction_interval": DURATION, "retention_enabled": BOOL,
                       "retention_delete_delay": DURATION, "delete_request_store": STR},
                      required=["working_directory", "retention_enabled"]),
    "ruler": _obj({
        "storage": _obj({"type": {"const": "local"}, "local": _obj({"directory": STR})}),
        "rule_path": STR, "alertmanager_url": {"type": "string", "pattern": "^https?://"},
        "enable_alertmanager_v2": BOOL, "enable_api": BOOL, "ring": KVSTORE,
        "external_url": {"type": "string", "pattern": "^https?://"},
        "external_labels": {"type": "object", "additionalProperties": STR,
                            "propertyNames": {"pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"}},
    }, required=["storage", "rule_path", "alertmanager_url", "enable_alertmanager_v2"]),
    "analytics": _obj({"reporting_enabled": BOOL}),
})
LOKI_RULES = "loki/rules/"
PROMQL_STAND_IN = "vector(1)"


def _loki(out: Path, logql: _LogQL) -> list[Result | Callable[[], Result]]:
    results: list[Result | Callable[[], Result]] = []
    rule_files = _files(out, f"{LOKI_RULES}**/*.y*ml")
    if (out / "loki/loki.yml").is_file():
        results.append(_loki_config(out, rule_files))
    if rule_files:
        results += _loki_rules(out, rule_files, logql)
    return results


def _loki_config(out: Path, rule_files: list[str]) -> Result:
    rel = "loki/loki.yml"
    cfg, error = _load_yaml(out / rel)
    problems = [f"{rel}: {error}"] if error else _schema_problems(rel, cfg, LOKI_SCHEMA)
    if not problems:
        # what Loki 3 refuses at start-up beyond field types
        if cfg.get("limits_config", {}).get("allow_structured_metadata", True):
            active = cfg["schema_config"]["configs"][-1]
            if (active["store"], active["schema"]) != ("tsdb", "v13"):
                problems.append(f"{rel}: schema_config.configs: structured metadata (on unless limits_config."
                                f"allow_structured_metadata is false) needs the tsdb store with schema v13, the "
                                f"last period has {active['store']} {active['schema']}")
        compactor = cfg.get("compactor", {})
        if compactor.get("retention_enabled") and not compactor.get("delete_request_store"):
            problems.append(f"{rel}: compactor: retention_enabled needs delete_request_store")
        if cfg.get("auth_enabled") is False:
            # the local ruler storage reads <directory>/<tenant>/*; without auth the one tenant is `fake`
            for path in rule_files:
                tenant = path[len(LOKI_RULES):].split("/")
                if len(tenant) != 2 or tenant[0] != TENANT:
                    problems.append(f"{rel}: auth_enabled is false, so the ruler reads rules of tenant {TENANT!r} "
                                    f"only, from {LOKI_RULES}{TENANT}/: {path} is never evaluated")
    return _verdict("obsgen loki.yml schema", rel, problems, [rel],
                    "the fields obsgen writes, typed as Loki 3's configuration reference types them")


def _loki_rules(out: Path, rels: list[str], logql: _LogQL) -> list[Result | Callable[[], Result]]:
    """Loki's ruler files share Prometheus' rule-file shape: promtool checks the shape with each LogQL
    expression swapped for a PromQL one; Grafana's grammar checks the LogQL."""
    swapped: dict[str, str] = {}
    queries: list[Query] = []
    problems: list[str] = []
    for rel in rels:
        try:
            text, found = swap_exprs((out / rel).read_text("utf-8"), PROMQL_STAND_IN)
        except (UnicodeDecodeError, yaml.YAMLError) as e:
            problems.append(f"{rel}: not YAML: {' '.join(str(e).split())}")
            continue
        swapped[rel] = text
        queries += [Query(rel, where, expr, expr) for where, expr in found]
    target = f"{LOKI_RULES} (rule files, LogQL swapped for {PROMQL_STAND_IN})"
    results: list[Result | Callable[[], Result]] = []
    if problems:
        results.append(Result("promtool", target, "failed", "\n".join(problems), tuple(rels)))
    elif swapped:
        results.append(_promtool_rules(target, swapped, rels, f"{len(queries)} rules in {len(rels)} files"))
    if queries:
        results.append(logql.request(f"{LOKI_RULES} (LogQL)", queries, sorted({q.file for q in queries}),
                                     metric_only=True, what="the Loki ruler"))
    return results


RULER = "ruler/"


def _rules(data: Any) -> list[Any] | None:
    """The rules of a rule-file document, in order; None when it has no list of groups with rule lists."""
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("rules"), list)
                                               for g in groups):
        return None
    return [r for g in groups for r in g["rules"]]


def _ruler(out: Path) -> list[Result | Callable[[], Result]]:
    """A Mimir or Cortex ruler's namespace files (render/ruler.py): `namespace` and Prometheus rule groups.
    Their rules must be those of prometheus/rules/<service>.yml, in the same order, which the generated tests
    prove (the ruler's groups only join an SLO's recordings and alerts and name their interval); promtool
    checks the groups as rule files."""
    rels = _files(out, f"{RULER}*/*.yml")
    if not rels:
        return []
    problems: list[str] = []
    docs: dict[str, str] = {}
    seen: dict[tuple[str, str], str] = {}
    count = 0
    for rel in rels:
        data, error = _load_yaml(out / rel)
        rules = _rules(data)
        if error or not isinstance(data, dict) or set(data) != {"namespace", "groups"} or rules is None \
                or not isinstance(data["namespace"], str) or not data["namespace"]:
            problems.append(f"{rel}: {error or 'not a ruler namespace file: `namespace` (a name) and `groups`'}")
            continue
        other = seen.setdefault((rel.rsplit("/", 1)[0], data["namespace"]), rel)
        if other != rel:
            problems.append(f"{rel}: namespace {data['namespace']!r} is {other}'s too: the ruler keeps one of them")
        source = f"prometheus/rules/{Path(rel).name}"
        proven = _rules(_load_yaml(out / source)[0]) if (out / source).is_file() else None
        if rules != proven:
            problems.append(f"{rel}: its rules are not those of {source}, which the generated tests prove"
                            + (" (it is missing)" if proven is None else ""))
        docs[rel] = yaml.safe_dump({"groups": data["groups"]}, sort_keys=False, allow_unicode=True)
        count += len(rules)
    target = f"{RULER} (ruler namespace files)"
    if problems:
        return [Result("obsgen ruler rules", target, "failed", "\n".join(problems), tuple(rels))]
    return [_promtool_rules(target, docs, rels,
                            f"{count} rules in {len(rels)} namespace files, those of prometheus/rules/")]


def swap_exprs(text: str, stand_in: str) -> tuple[str, list[tuple[str, str]]]:
    """The rule file with every rule's `expr` replaced by `stand_in`, on the same lines (so promtool's
    line numbers are the file's), and each (place, expression) replaced."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    spans: list[tuple[int, int, str]] = []
    found: list[tuple[str, str]] = []
    for group in _items(_value(root, "groups")):
        for rule in _items(_value(group, "rules")):
            node = _value(rule, "expr")
            if isinstance(node, yaml.ScalarNode):
                kind = "alert" if _value(rule, "alert") is not None else "record"
                where = f"group {_scalar(_value(group, 'name'))!r} {kind} {_scalar(_value(rule, kind))}"
                found.append((where, node.value))
                start, end = node.start_mark.index, node.end_mark.index
                spans.append((start, end, json.dumps(stand_in) + "\n" * text.count("\n", start, end)))
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text, found


def _value(node: Any, key: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _items(node: Any) -> list[Any]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _scalar(node: Any) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else "?"


# --------------------------------------------------------------------------- Fluentd

# Fluentd 1.19's own plugins (lib/fluent/plugin/{in,out,filter,parser,formatter,buf,storage}_*.rb), by kind.
CORE_PLUGINS = {
    "input": {"tail", "forward", "http", "syslog", "exec", "sample", "dummy", "monitor_agent", "tcp", "udp",
              "unix", "object_space", "gc_stat", "debug_agent"},
    "output": {"copy", "stdout", "file", "forward", "null", "relabel", "roundrobin", "exec", "exec_filter",
               "secondary_file", "http", "buffer"},
    "filter": {"record_transformer", "grep", "parser", "stdout"},
    "parser": {"json", "none", "regexp", "apache", "apache2", "apache_error", "nginx", "syslog", "csv", "tsv",
               "ltsv", "multiline", "msgpack"},
    "formatter": {"json", "out_file", "ltsv", "csv", "msgpack", "hash", "single_value", "stdout", "tsv"},
    "buffer": {"file", "file_single", "memory"},
    "storage": {"local"},
}
# The plugins of the gems obsgen's Dockerfile can install (render/fluentd.py GEMS and ES_GEMS).
GEM_PLUGINS = {
    "fluent-plugin-grafana-loki": {"output": {"loki"}},
    "fluent-plugin-prometheus": {"input": {"prometheus", "prometheus_monitor", "prometheus_output_monitor",
                                           "prometheus_tail_monitor"},
                                 "filter": {"prometheus"}, "output": {"prometheus"}},
    "fluent-plugin-elasticsearch": {"output": {"elasticsearch", "elasticsearch_data_stream",
                                               "elasticsearch_dynamic"},
                                    "filter": {"elasticsearch_genid"}},
}
OBSGEN_GEMS = {name for name, _version in GEMS + ES_GEMS}
SECTION_KIND = {"source": "input", "match": "output", "store": "output", "filter": "filter", "parse": "parser",
                "format": "formatter", "buffer": "buffer", "storage": "storage"}
TYPED = {"source", "match", "filter", "store", "buffer", "parse", "format"}  # sections that must name a plugin
DIRECTIVES = {"ROOT": {"system", "source", "filter", "match", "label", "worker"},
              "label": {"filter", "match"}, "worker": {"source", "filter", "match", "label"}}
CONF = "fluentd/fluent.conf"
DOCKERFILE = "fluentd/Dockerfile"
IMAGE_CONF = "/fluentd/etc/fluent.conf"  # what the fluent/fluentd image's entrypoint reads
INSTRUCTIONS = {"FROM", "RUN", "COPY", "ADD", "USER", "VOLUME", "EXPOSE", "ENV", "ARG", "WORKDIR", "LABEL",
                "ENTRYPOINT", "CMD", "HEALTHCHECK", "SHELL", "STOPSIGNAL", "ONBUILD", "MAINTAINER"}


def gem_of(kind: str, plugin: str) -> str | None:
    """The gem (of those obsgen installs) that provides a plugin Fluentd does not ship."""
    return next((gem for gem, kinds in GEM_PLUGINS.items() if plugin in kinds.get(kind, set())), None)


def _fluentd(out: Path) -> list[Result | Callable[[], Result]]:
    results: list[Result | Callable[[], Result]] = []
    root: Element | None = None
    if (out / CONF).is_file():
        root, problems = _fluent_conf((out / CONF).read_text("utf-8", errors="replace"))
        results.append(_verdict("obsgen fluent.conf parser", CONF, [f"{CONF}: {p}" for p in problems], [CONF],
                                "parsed as Fluentd parses it; sections, plugins, ids and labels as Fluentd "
                                "and the image need them"))
    if (out / DOCKERFILE).is_file():
        results.append(_dockerfile((out / DOCKERFILE).read_text("utf-8", errors="replace"), root))
    return results


def _fluent_conf(text: str) -> tuple[Element | None, list[str]]:
    try:
        root = parse(text)
    except FluentConfError as e:
        return None, [str(e)]
    problems: list[str] = []
    # routing labels: <label @NAME> at the top (or in a <worker>); a <label> inside an output is its own
    labels = {e.arg for p in [root, *root.all("worker")] for e in p.all("label")}
    ids: dict[str, int] = {}

    def visit(e: Element, parent: Element) -> None:
        where = f"line {e.line}: <{e.name}{' ' + e.arg if e.arg else ''}>"
        allowed = DIRECTIVES.get(parent.name)
        if allowed is not None and e.name not in allowed:
            inside = "the top level" if parent.name == "ROOT" else f"<{parent.name}>"
            problems.append(f"{where}: not a directive Fluentd reads at {inside} ({', '.join(sorted(allowed))})")
        if e.name == "label" and parent.name in ("ROOT", "worker") and not e.arg.startswith("@"):
            problems.append(f"{where}: a label's name starts with @")
        if e.name == "store" and parent.attrs.get("@type") not in ("copy", "roundrobin"):
            problems.append(f"{where}: <store> belongs in a copy or roundrobin output")
        plugin = e.attrs.get("@type")
        kind = SECTION_KIND.get(e.name)
        if e.name in TYPED and not plugin:
            problems.append(f"{where}: no @type")
        elif plugin and kind and plugin not in CORE_PLUGINS[kind]:
            gem = gem_of(kind, plugin)
            if gem is None or gem not in OBSGEN_GEMS:
                problems.append(f"{where}: @type {plugin} is not a Fluentd {kind} plugin, nor one of the gems "
                                f"obsgen's Dockerfile installs ({', '.join(sorted(OBSGEN_GEMS))})")
        if "@id" in e.attrs:
            if e.attrs["@id"] in ids:  # Fluentd refuses: "Duplicated plugin id"
                problems.append(f"{where}: @id {e.attrs['@id']} is also used at line {ids[e.attrs['@id']]}")
            ids.setdefault(e.attrs["@id"], e.line)
        if "@label" in e.attrs and e.attrs["@label"] not in labels:
            problems.append(f"{where}: @label {e.attrs['@label']} names no <label> of the file")
        for child in e.elements:
            visit(child, e)

    for key in root.attrs:
        problems.append(f"{key}: a parameter outside any section"
                        + (" (obsgen cannot check an included file)" if key == "@include" else ""))
    for section in root.elements:
        visit(section, root)
    return root, problems


def _dockerfile(text: str, conf: Element | None) -> Result:
    """obsgen's structural check of the Dockerfile it writes: no Docker build runs."""
    problems: list[str] = []
    instructions: list[tuple[int, str, str]] = []  # (line, keyword, arguments), continuation lines joined
    start, pending = 0, ""
    for n, line in enumerate(text.splitlines(), 1):
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending:
            start = n
        pending += " " + line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        keyword, _, args = pending.strip().partition(" ")
        instructions.append((start, keyword.upper(), args.strip()))
        pending = ""
    for n, keyword, _args in instructions:
        if keyword not in INSTRUCTIONS:
            problems.append(f"line {n}: {keyword} is not a Dockerfile instruction")
    first = next(((n, k, a) for n, k, a in instructions if k != "ARG"), None)
    image = first[2] if first and first[1] == "FROM" else ""
    if not image:
        problems.append("does not start FROM an image")
    elif not re.fullmatch(r"fluent/fluentd:(?!latest$)[\w.-]+", image.split()[0]):
        problems.append(f"FROM {image}: obsgen builds on a pinned fluent/fluentd image (its entrypoint reads "
                        f"{IMAGE_CONF})")
    if not any(k in ("COPY", "ADD") and a.split()[-2:] == ["fluent.conf", IMAGE_CONF] for _, k, a in instructions):
        problems.append(f"does not COPY fluent.conf to {IMAGE_CONF}, where the image reads it")
    runs = " ".join(a for _, k, a in instructions if k == "RUN")
    gems = {}
    for m in re.finditer(r"gem install\s+(\S+)(\s+-v\s+('[^']*'|\"[^\"]*\"|\S+))?", runs):
        gems[m.group(1)] = m.group(3)
        if not m.group(3):
            problems.append(f"gem {m.group(1)} is installed without a pinned version (-v)")
    exposed = {p.split("/")[0] for _, k, a in instructions if k == "EXPOSE" for p in a.split()}
    for e in conf.walk() if conf is not None else []:
        kind, plugin = SECTION_KIND.get(e.name), e.attrs.get("@type")
        if e.name == "source" and "port" in e.attrs and e.attrs["port"] not in exposed:
            problems.append(f"{CONF} line {e.line}: <source> {plugin} listens on port {e.attrs['port']}, "
                            "which the image does not EXPOSE")
        if not kind or not plugin or plugin in CORE_PLUGINS[kind]:
            continue
        gem = gem_of(kind, plugin)
        if gem is None:
            problems.append(f"{CONF} line {e.line}: @type {plugin}: no gem known to provide it")
        elif gem not in gems:
            problems.append(f"{CONF} line {e.line}: @type {plugin} needs gem {gem}, which is not installed")
    note = "obsgen's own structural check of the Dockerfile, not a Docker build"
    if conf is None:
        note += f" ({CONF} did not parse or is missing: its plugins' gems were not checked)"
    if problems:
        return Result("obsgen Dockerfile rules", DOCKERFILE, "failed",
                      "\n".join([f"{note}:", *(f"{DOCKERFILE}: {p}" for p in problems)]), (DOCKERFILE,))
    return Result("obsgen Dockerfile rules", DOCKERFILE, "passed",
                  f"{note}: FROM {image}, {len(gems)} pinned gems"
                  + (", every plugin of fluent.conf installed" if conf is not None else ""), (DOCKERFILE,))
