"""Grafana output: provisioning and dashboards, checked with the real promtool and Grafana's LogQL grammar,
and with grafana/dashboard-linter's rules written as tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SKETCH

from obsgen.model import Model, resolve
from obsgen.render import grafana, grafana_overview
from obsgen.spec import load_spec

ROOT = Path(__file__).parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

# A spec exercising what the sketch does not: tracing, every exporter, JSON logs without a level label,
# a ratio SLO on a 7d period, an availability threshold, a service without logs or thresholds, extra
# panels (a fixed rate window, an exporter's metric, a recorded series).
SMALL_SPEC = """
version: 1
project: {name: tiny, alertmanager_url: "https://am.example.com"}
services:
  - name: web
    team: web
    scrape: {static: ["web:8080"]}
    thresholds:
      - {indicator: availability, target: 99.9%, warning: 99.5%, critical: 99%}
      - {indicator: latency_p90, warning: 300ms, critical: 1s}
      - {indicator: request_rate, warning: 5, critical: 1}
    slos:
      - name: checkout
        objective: 99.5
        period: 7d
        sli: {expr: "sum(rate(checkout_errors_total[{{window}}])) / sum(rate(checkout_total[{{window}}]))"}
        alerting: {page: true, ticket: false}
    logs:
      source: {tail: /var/log/web/*.log, format: json}
      labels: []
      level_key: severity
    panels:
      - {title: Checkout rate, expr: "sum by (region, le) (rate(checkout_total[5m]))", unit: ops}
      - title: Database backends
        expr: sum by (datname) (pg_stat_database_numbackends{datname="web"})
        description: Connections web holds to PostgreSQL.
      - {title: Budget left, expr: 'min(slo:period_error_budget_remaining:ratio{service="web"})', unit: percentunit}
  - name: batch
channels:
  mail: {type: email, to: [ops@example.com]}
email: {smarthost: "smtp.example.com:25", from: "am@example.com"}
routing: {default: mail}
stack:
  tracing: tempo
  exporters: [node, cadvisor, postgres, redis, nginx, blackbox]
"""

# grafana/dashboard-linter's panel-units-rule list, the part a generated dashboard may use.
VALID_UNITS = {"none", "short", "percent", "percentunit", "bytes", "decbytes", "s", "ms", "reqps", "ops", "cpm",
               "bool", "rps", "bps", "Bps", "dtdurations"}
SCRATCH_VALUES = {"$__rate_interval": "5m", "$__interval": "1m", "$__auto": "1m", "$instance": ".+",
                  "${__url_time_range}": "", "$search": ""}


def _tool(path: Path, name: str) -> Path:
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} not installed: run make tools")
        pytest.skip(f"{name} not installed: run make tools")
    return path


def _model(path: Path) -> Model:
    return resolve(load_spec(path), path.name)


@pytest.fixture(scope="module")
def small_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(SMALL_SPEC)
    return path


@pytest.fixture(scope="module", params=["sketch", "small", *(p.name for p in EXAMPLES)])
def rendered(request: pytest.FixtureRequest, small_spec: Path) -> dict[str, str]:
    path = {"sketch": SKETCH, "small": small_spec}.get(request.param) or ROOT / "examples" / request.param
    return _with_overview(_model(path))


def _with_overview(model: Any) -> dict[str, str]:
    return {**grafana.render(model), **grafana_overview.render(model)}


def dashboards(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {p: json.loads(t) for p, t in files.items() if p.startswith("grafana/dashboards/")}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def targets(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


def is_loki(target: dict[str, Any]) -> bool:
    return target["datasource"]["type"] == "loki"


def own_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """The dashboard's query variables (`$instance`, an SLO's group labels `$endpoint`) as their All value."""
    return {f"${v['name']}": v.get("allValue") or ".+" for v in dashboard["templating"]["list"] if v["type"] == "query"}


def substitute(expr: str, own: dict[str, str] | None = None) -> str:
    values = {**SCRATCH_VALUES, **(own or {})}
    for var in sorted(values, key=len, reverse=True):  # `$slo_instance` before `$instance`
        expr = expr.replace(var, values[var])
    assert "$" not in expr, f"unknown Grafana variable left in {expr!r}"
    return expr


def prom_exprs(files: dict[str, str]) -> list[str]:
    out = []
    for d in dashboards(files).values():
        out += [substitute(t["expr"], own_values(d)) for _, t in targets(d) if not is_loki(t)]
        # template queries: label_values(<selector>, label) -> the selector must be valid PromQL
        out += [re.sub(r"^label_values\((.*), \w+\)$", r"\1", v["query"])
                for v in d["templating"]["list"] if v["type"] == "query"]
    return out


# --------------------------------------------------------------------------- real validators


def test_every_promql_expression_parses_with_promtool(rendered: dict[str, str], tmp_path: Path) -> None:
    promtool = _tool(ROOT / ".tools/bin/promtool", "promtool")
    exprs = prom_exprs(rendered)
    assert len(exprs) > 20
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"obsgen:dashboard_check_{i}:expr", "expr": substitute(e)} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    proc = subprocess.run([str(promtool), "check", "rules", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_check_can_fail(tmp_path: Path) -> None:
    promtool = _tool(ROOT / ".tools/bin/promtool", "promtool")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"record": "a:b:c", "expr": substitute("sum(rate(x[$__rate_interval])")}]}]}))
    assert subprocess.run([str(promtool), "check", "rules", str(path)], capture_output=True).returncode != 0


def _logql_check(exprs: list[str]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    module = ROOT / ".tools/node_modules/@grafana/lezer-logql"
    if node is None or not module.exists():
        _tool(Path("/nonexistent"), "node and @grafana/lezer-logql")
    proc = subprocess.run([str(node), str(ROOT / "obsgen/logql_check.mjs")], input=json.dumps(exprs),
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def test_every_logql_expression_parses_with_grafanas_grammar(rendered: dict[str, str]) -> None:
    exprs = [substitute(t["expr"]) for d in dashboards(rendered).values() for _, t in targets(d) if is_loki(t)]
    results = _logql_check(exprs)
    assert [r for r in results if not r["ok"]] == []
    assert _logql_check(['{service="x"} |= ']) [0]["ok"] is False  # the checker can say no


# --------------------------------------------------------------------------- dashboard-linter's rules


def test_modern_dashboard_fields(rendered: dict[str, str]) -> None:
    project = yaml.safe_load(rendered["grafana/provisioning/dashboards/dashboards.yml"])["providers"][0]["folder"]
    for path, d in dashboards(rendered).items():
        assert d["id"] is None and d["editable"] is False and d["schemaVersion"] >= 36, path
        assert 8 <= len(d["uid"]) <= 40 and re.fullmatch(r"[A-Za-z0-9_-]+", d["uid"]), d["uid"]
        assert d["title"].startswith(f"{project} / ") and project in d["tags"], path
        for legacy in ("rows", "style", "sharedCrosshair", "__inputs"):
            assert legacy not in d, (path, legacy)
        for panel in panels(d):
            assert isinstance(panel.get("datasource", {}), dict), (path, panel["title"])
            steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
            assert all(s["value"] is None or isinstance(s["value"], (int, float)) for s in steps), panel["title"]


def test_template_datasource_rule(rendered: dict[str, str]) -> None:
    for path, d in dashboards(rendered).items():
        ds = [v for v in d["templating"]["list"] if v["type"] == "datasource"]
        assert len(ds) == 1, path
        assert (ds[0]["name"], ds[0]["label"], ds[0]["query"]) == ("datasource", "Data source", "prometheus")


def test_panel_datasource_rule(rendered: dict[str, str]) -> None:
    for path, d in dashboards(rendered).items():
        for panel, target in targets(d):
            want = {"type": "loki", "uid": "loki"} if is_loki(target) else {"type": "prometheus",
                                                                           "uid": "${datasource}"}
            assert target["datasource"] == want == panel["datasource"], (path, panel["title"])


def test_panel_title_description_and_units_rules(rendered: dict[str, str]) -> None:
    for path, d in dashboards(rendered).items():
        titles = [p["title"] for p in panels(d)]
        assert all(titles), path
        for panel in panels(d):
            if panel["type"] == "row":
                continue
            assert panel.get("description"), (path, panel["title"])
            if panel["type"] in ("stat", "timeseries", "table", "gauge"):
                assert panel["fieldConfig"]["defaults"]["unit"] in VALID_UNITS, (path, panel["title"])


# dashboard-linter's target-counter-agg-rule excludes metrics through its .lint file; these are gauges whose
# names end in _total because seed 001's application names them so ("Currently active tests/users").
GAUGES_NAMED_TOTAL = {"active_users_total", "tests_active_total"}
_RANGE_FN = re.compile(r"\b(rate|irate|increase)\s*\((?:[^()\[\]]|\([^()]*\))*\[([^\]]*)\]")


def test_target_rate_interval_and_counter_rules(rendered: dict[str, str]) -> None:
    for path, d in dashboards(rendered).items():
        for panel, target in targets(d):
            expr = target["expr"]
            if is_loki(target):
                assert all(r == "$__auto" for r in re.findall(r"\[([^\]]*)\]", expr)), expr
                continue
            for _fn, window in _RANGE_FN.findall(expr):
                assert window == "$__rate_interval", (path, panel["title"], expr)
            for counter in re.finditer(r"\b(\w+_total)\{", expr):  # counters only inside rate/increase
                if counter.group(1) in GAUGES_NAMED_TOTAL:
                    continue
                assert re.search(r"(rate|increase)\(\s*$", expr[:counter.start()]), expr


_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
_KEYWORDS = {"by", "on", "without", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}


def bare_selectors(expr: str, own: dict[str, str] | None = None) -> set[str]:
    """Metric names used without a `{...}` matcher (which could then match every job)."""
    text = re.sub(r'"[^"]*"', '""', substitute(expr, own))
    text = re.sub(r"\[[^\]]*\]", "", re.sub(r"\{[^}]*\}", "{}", text))
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = re.findall(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?!\s*[({\w:])", text)
    return {n for n in names if n not in _KEYWORDS}


def test_target_job_and_instance_rules(rendered: dict[str, str]) -> None:
    """Every selector of a scraped metric names its job; with an $instance variable, also the instance.
    Recording rules (`a:b:c`) and ALERTS are aggregates of their own and carry neither."""
    for path, d in dashboards(rendered).items():
        has_instance = any(v["name"] == "instance" for v in d["templating"]["list"])
        for panel, target in targets(d):
            if is_loki(target):
                assert re.search(r'\{service="[a-z0-9-]+"', target["expr"]), target["expr"]
                continue
            expr = target["expr"]
            assert bare_selectors(expr, own_values(d)) == set(), (path, panel["title"], expr)
            for name, matchers in _SELECTOR.findall(expr):
                if ":" in name or name == "ALERTS":
                    continue
                assert re.search(r'\bjob=~?"[^"]+"', matchers), (path, panel["title"], expr)
                if has_instance:
                    assert 'instance=~"$instance"' in matchers, (path, panel["title"], expr)


def test_bare_selector_detection_can_fail() -> None:
    assert bare_selectors('sum(rate(x_total{job="a"}[5m])) / on (slo_id) up') == {"up"}
    assert bare_selectors('histogram_quantile(0.9, sum by (le) (rate(h_bucket{job="a"}[$__rate_interval])))') == set()


def test_template_instance_rule(rendered: dict[str, str]) -> None:
    for d in dashboards(rendered).values():
        for var in d["templating"]["list"]:
            if var["type"] == "query":
                assert var["datasource"]["uid"] == "${datasource}" and var["refresh"] == 2
                # an SLO group's All is `.*`: a group whose series lack the label records it empty
                assert var["multi"] and var["allValue"] in (".+", ".*") and var["label"] == var["name"].title()


# --------------------------------------------------------------------------- provisioning and layout


def test_datasource_uids_exist_in_provisioning(rendered: dict[str, str]) -> None:
    provisioned = yaml.safe_load(rendered["grafana/provisioning/datasources/datasources.yml"])["datasources"]
    uids = {ds["uid"] for ds in provisioned}
    assert {"prometheus", "loki", "alertmanager"} <= uids
    for d in dashboards(rendered).values():
        variable = next(v for v in d["templating"]["list"] if v["name"] == "datasource")
        refs = [p["datasource"] for p in panels(d) if "datasource" in p] + [t["datasource"] for _, t in targets(d)]
        for ref in refs:
            uid = variable["current"]["value"] if ref["uid"] == "${datasource}" else ref["uid"]
            assert uid in uids and ref["type"] == next(ds["type"] for ds in provisioned if ds["uid"] == uid)
    for ds in provisioned:
        for field in ds["jsonData"].get("derivedFields", []):
            assert field["datasourceUid"] in uids


def test_provisioning_escapes_dollars(small_spec: Path) -> None:
    text = grafana.render(_model(small_spec))["grafana/provisioning/datasources/datasources.yml"]
    assert re.findall(r"(?<!\$)\$(?!\$)", text) == []
    loki = next(ds for ds in yaml.safe_load(text)["datasources"] if ds["uid"] == "loki")
    field = loki["jsonData"]["derivedFields"][0]
    assert field["url"] == "$${__value.raw}" and field["datasourceUid"] == "tempo"
    assert re.search(field["matcherRegex"], '{"level":"info","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}')


def test_tracing_datasource_only_when_enabled(small_spec: Path) -> None:
    def uids(model: Model) -> set[str]:
        text = grafana.render(model)["grafana/provisioning/datasources/datasources.yml"]
        return {ds["uid"] for ds in yaml.safe_load(text)["datasources"]}

    assert uids(_model(small_spec)) == {"prometheus", "loki", "alertmanager", "tempo"}
    assert uids(_model(SKETCH)) == {"prometheus", "loki", "alertmanager"}
    assert "derivedFields" not in grafana.render(_model(SKETCH))["grafana/provisioning/datasources/datasources.yml"]


def test_dashboard_provider_loads_the_mounted_folder(rendered: dict[str, str]) -> None:
    provider = yaml.safe_load(rendered["grafana/provisioning/dashboards/dashboards.yml"])["providers"][0]
    assert provider["options"]["path"] == grafana.DASHBOARDS_DIR and provider["type"] == "file"
    assert provider["folder"] and provider["allowUiUpdates"] is False


def test_unique_uids_and_titles(rendered: dict[str, str]) -> None:
    ds = list(dashboards(rendered).values())
    assert len({d["uid"] for d in ds}) == len(ds) and len({d["title"] for d in ds}) == len(ds)


def test_grid_inside_24_columns_without_overlap_and_unique_ids(rendered: dict[str, str]) -> None:
    for path, d in dashboards(rendered).items():
        ps = list(panels(d))
        assert len({p["id"] for p in ps}) == len(ps), path
        cells: dict[tuple[int, int], str] = {}
        for p in ps:
            pos = p["gridPos"]
            assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, (path, p["title"])
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, f"{path}: {p['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = p["title"]


def test_one_dashboard_per_service_plus_overview_and_stack(rendered: dict[str, str]) -> None:
    names = {Path(p).stem for p in dashboards(rendered)}
    assert {"_overview", "_stack-health"} <= names and len(names) >= 3


def test_dashboard_keys_are_sorted(rendered: dict[str, str]) -> None:
    """Every mapping's keys in order (diff-friendly), whatever `normalize` added after grafanalib."""
    def keys_in_order(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys), f"{path}: {keys}"
        return dict(pairs)

    for path, text in rendered.items():
        if path.endswith(".json"):
            json.loads(text, object_pairs_hook=keys_in_order)


def test_render_is_deterministic(small_spec: Path) -> None:
    assert grafana.render(_model(small_spec)) == grafana.render(_model(small_spec))


# --------------------------------------------------------------------------- content


def _panel(files: dict[str, str], service: str, title: str, kind: str = "timeseries") -> dict[str, Any]:
    d = json.loads(files[f"grafana/dashboards/{service}.json"])
    return next(p for p in panels(d) if p["title"] == title and p["type"] == kind)


def _steps(panel: dict[str, Any]) -> list[tuple[Any, str]]:
    return [(s["value"], s["color"]) for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def _edited_sketch(tmp_path: Path, edit: Any) -> Model:
    data = yaml.safe_load(SKETCH.read_text())
    edit(data)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data))
    return _model(path)


def test_changing_a_threshold_moves_its_line(tmp_path: Path) -> None:
    before = grafana.render(_model(SKETCH))
    p95 = _panel(before, "api-gateway", "P95 latency")
    assert _steps(p95) == [(None, "green"), (0.075, "orange"), (0.1, "red")]
    assert p95["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"

    def edit(data: dict[str, Any]) -> None:
        data["services"][0]["thresholds"][1]["warning"] = "80ms"
        data["services"][2]["thresholds"][0]["critical"] = 25000

    after = _with_overview(_edited_sketch(tmp_path, edit))
    assert _steps(_panel(after, "api-gateway", "P95 latency")) == [(None, "green"), (0.08, "orange"), (0.1, "red")]
    # a `below` threshold: red under critical, orange under warning, green above
    rate = _panel(after, "data-processor", "Data processor processing rate")
    assert _steps(rate) == [(None, "red"), (25000, "orange"), (40000, "green")]
    overview = json.loads(after["grafana/dashboards/_overview.json"])
    p95_stats = [p for p in panels(overview) if p["title"] == "P95 latency" and "api-gateway" in p["description"]]
    assert _steps(p95_stats[0]) == [(None, "green"), (0.08, "orange"), (0.1, "red")]


def test_slo_rows_mark_the_alert_tiers() -> None:
    files = grafana.render(_model(SKETCH))
    d = json.loads(files["grafana/dashboards/auth-service.json"])
    rows = [p["title"] for p in panels(d) if p["type"] == "row"]
    assert "SLO availability: 99.95% over 30d" in rows and "SLO token-validation: 99.9% over 30d" in rows
    burns = [p for p in panels(d) if p["title"] == "Burn rate"]
    assert [v for v, _ in _steps(burns[0])] == [None, 1, 3, 6, 14.4]
    assert [v for v, _ in _steps(burns[2])] == [None, 1, 3]  # token-validation pages are switched off
    exprs = [t["expr"] for p in burns for t in p["targets"]]
    assert 'slo:sli_error:ratio_rate1h{slo_id="auth-service-availability"} / on (slo_id) ' \
           'slo:error_budget:ratio{slo_id="auth-service-availability"}' in exprs


def test_burn_rate_lines_follow_the_period(small_spec: Path) -> None:
    burn = _panel(grafana.render(_model(small_spec)), "web", "Burn rate")
    # 7d (its own default set): 8 % of the budget in 1h -> 13.44x, 12.5 % in 6h -> 3.5x; the ticket tiers are off
    assert _steps(burn) == [(None, "green"), (3.5, "red"), (13.44, "dark-red")]


def test_logs_panels_use_loki(small_spec: Path) -> None:
    files = grafana.render(_model(small_spec))
    assert _panel(files, "web", "Logs", "logs")["targets"][0]["expr"] == '{service="web"} |= "$search"'
    errors = _panel(files, "web", "Error lines per minute")["targets"][0]["expr"]
    assert '| json | severity=~"error|ERROR|critical|CRITICAL"' in errors  # level_key, not a stream label
    assert not any(p["type"] == "logs" for p in panels(json.loads(files["grafana/dashboards/batch.json"])))


def test_stack_health_watches_every_stack_job_prometheus_scrapes(small_spec: Path) -> None:
    from obsgen.render import prometheus

    for model in (_model(SKETCH), _model(small_spec)):
        services = {s.job for s in model.services}
        jobs = {j["job_name"] for j in prometheus.scrape_configs(model)} - services
        d = json.loads(grafana.render(model)["grafana/dashboards/_stack-health.json"])
        watched = {m for _, t in targets(d) for m in re.findall(r'\bjob="([^"]+)"', t["expr"])}
        assert jobs <= watched, jobs - watched


def test_spec_panels_are_drawn_scoped_to_the_service(small_spec: Path) -> None:
    d = json.loads(grafana.render(_model(small_spec))["grafana/dashboards/web.json"])
    ps = list(panels(d))
    row = next(i for i, p in enumerate(ps) if p["type"] == "row" and p["title"] == "More metrics")
    checkout, backends, budget = ps[row + 1:row + 4]
    assert [p["title"] for p in (checkout, backends, budget)] == ["Checkout rate", "Database backends", "Budget left"]
    assert all(p["gridPos"]["y"] == ps[row]["gridPos"]["y"] + 1 and p["gridPos"]["w"] == 8
               for p in (checkout, backends, budget))
    # the fixed window becomes Grafana's rate interval; web has a scrape job of its own, which its panels
    # query (an unscraped service's exporter metrics get the exporter's job: test_exporter_panels_of_an_unscraped_service)
    assert checkout["targets"][0]["expr"] == \
        'sum by (region, le) (rate(checkout_total{job="web",instance=~"$instance"}[$__rate_interval]))'
    assert checkout["targets"][0]["legendFormat"] == "{{region}}"
    assert checkout["fieldConfig"]["defaults"]["unit"] == "ops"
    assert checkout["description"] == "Checkout rate of web, a panel the spec adds; all instances selected by $instance."
    assert backends["targets"][0]["expr"] == \
        'sum by (datname) (pg_stat_database_numbackends{datname="web",job="web",instance=~"$instance"})'
    assert backends["description"] == "Connections web holds to PostgreSQL."
    assert backends["fieldConfig"]["defaults"]["unit"] == "short"  # the spec's default
    assert budget["targets"][0]["expr"] == 'min(slo:period_error_budget_remaining:ratio{service="web"})'
    assert budget["targets"][0]["legendFormat"] == "Budget left"


@pytest.mark.parametrize("expr, want", [
    ('sum(x{job="app"})', 'sum(x{job="app",instance=~"$instance"})'),
    ('x{a="}{b",instance="h",} / on (job) group_left (b) y > bool 1',
     'x{a="}{b",instance="h",job="j"} / on (job) group_left (b) y{job="j",instance=~"$instance"} > bool 1'),
    ("SUM BY (le) (rate(h_bucket[5m] offset 1h)) or vector(0)",
     'SUM BY (le) (rate(h_bucket{job="j",instance=~"$instance"}[5m] offset 1h)) or vector(0)'),
    ('a:b:c{x="y"} + ALERTS + {__name__="z"}', 'a:b:c{x="y"} + ALERTS + {__name__="z",job="j",instance=~"$instance"}'),
])
def test_with_matchers_scopes_only_metric_selectors(expr: str, want: str) -> None:
    assert grafana.with_matchers(expr, lambda _: {"job": 'job="j"', "instance": 'instance=~"$instance"'}) == want


def test_exporter_panels_of_an_unscraped_service(small_spec: Path, tmp_path: Path) -> None:
    """A service nothing scrapes (a database watched through its exporter) gets the exporter's job."""
    data = yaml.safe_load(small_spec.read_text())
    web = data["services"][0]
    del web["scrape"]
    web["thresholds"], web["slos"] = [], []
    spec = tmp_path / "unscraped.yaml"
    spec.write_text(yaml.safe_dump(data))
    d = json.loads(grafana.render(_model(spec))["grafana/dashboards/web.json"])
    backends = next(p for p in panels(d) if p.get("title") == "Database backends")
    assert backends["targets"][0]["expr"] == \
        'sum by (datname) (pg_stat_database_numbackends{datname="web",job="postgres-exporter",instance=~"$instance"})'

    # no HTTP panels or process metrics of its own job, which does not exist; its exporter's rows instead
    exprs = [t["expr"] for _, t in targets(d) if not is_loki(t)]
    assert not any('job="web"' in e for e in exprs), exprs
    assert 'min(pg_up{job="postgres-exporter",instance=~"$instance"})' in exprs
    assert [v["query"] for v in d["templating"]["list"] if v["name"] == "instance"] == \
        ['label_values(up{job="postgres-exporter"}, instance)']
    # a metric of no exporter the stack runs comes from no job obsgen knows: left as the spec writes it
    checkout = next(p for p in panels(d) if p.get("title") == "Checkout rate")
    assert checkout["targets"][0]["expr"] == "sum by (region, le) (rate(checkout_total[$__rate_interval]))"


def test_a_service_with_nothing_to_scrape_has_no_instance_variable_or_overview_row(small_spec: Path) -> None:
    files = _with_overview(_model(small_spec))
    batch = json.loads(files["grafana/dashboards/batch.json"])
    assert [p["title"] for p in panels(batch)] == ["Now", "Firing alerts"]
    assert [v["name"] for v in batch["templating"]["list"]] == ["datasource"]
    overview = json.loads(files["grafana/dashboards/_overview.json"])
    assert [p["title"] for p in panels(overview) if p["type"] == "row"] == ["Web (web)"]
