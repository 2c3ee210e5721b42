"""Dashboards only query what is scraped: every `job` matcher of every dashboard expression
names a scrape job of the same output, in every place the output runs.

Each expression (panel targets and template variable queries) is read as Prometheus gets it from Grafana
(variables substituted, `obsgen.grafana_variables`) by the PromQL parser `obsgen validate` uses
(promql-parser), and its `job` matchers are held to the scrape jobs:
- of prometheus/prometheus.yml, when compose or plain Kubernetes runs it;
- in prometheus-operator mode, the job labels the operator gives: a ServiceMonitor's is its Service's name,
  a PodMonitor's its `job` relabeling (else `<namespace>/<name>`), a ScrapeConfig's and a Probe's their
  `jobName`, and kube-prometheus-stack's own Prometheus, Alertmanager and node-exporter jobs.
An equality matcher must name one of them, a regex must match at least one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from obsgen.grafana_variables import BUILTIN_VALUES, substitute
from obsgen.model import Model, resolve
from obsgen.render import kubernetes_operator, render_all
from obsgen.render.prometheus import stack_rule_groups
from obsgen.render.stack_alerts import STACK_ALERTS
from obsgen.spec import load_spec, load_spec_text
from obsgen.spec.expressions import nodes, parse_promql

ROOT = Path(__file__).parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

# Unlike the examples: a service watched only through exporters (its panels and alerts name no job), a
# scraped service that also has exporter panels (one naming the exporter's job), a service with only a
# health check, one with nothing at all, and every exporter.
OWN_SPEC = """
version: 1
project: {name: jobs}
services:
  - name: shop
    scrape: {static: ["shop:8080"]}
    thresholds:
      - {indicator: error_rate, warning: 1%, critical: 5%}
      - {indicator: latency_p99, warning: 300ms, critical: 1s}
    panels:
      - {title: Cart size, expr: "sum(rate(cart_items_total[5m]))", unit: short}
      - {title: Shop database, expr: 'sum(pg_stat_database_numbackends{job="postgres-exporter",datname="shop"})'}
  - name: database
    alerts:
      - {name: DatabaseDown, expr: pg_up == 0, severity: critical, summary: PostgreSQL cannot be reached.}
    panels:
      - {title: Commits, expr: "sum(rate(pg_stat_database_xact_commit[$__rate_interval]))", unit: ops}
      - {title: Cache memory, expr: "sum(redis_memory_used_bytes)", unit: bytes}
  - name: edge
    health: {http: "http://edge:8080/healthz"}
  - name: nothing
channels:
  mail: {type: email, to: [ops@example.com]}
email: {smarthost: "smtp.example.com:25", from: "am@example.com"}
routing: {default: mail}
stack:
  deploy: [compose, kubernetes]
  exporters: [node, cadvisor, {type: postgres, dsn_file: /run/secrets/dsn}, {type: redis, target: "redis:6379"},
              {type: nginx, target: "nginx:8080"}]
"""


def _operator(text: str) -> str:
    data = yaml.safe_load(text)
    data["stack"]["deploy"] = ["kubernetes"]
    data["stack"]["kubernetes"] = {"namespace": "obs", "prometheus_operator": True, "release": "monitoring"}
    return yaml.safe_dump(data, sort_keys=False)


SPECS: dict[str, tuple[str, str | None]] = {
    **{p.name: (p.name, None) for p in EXAMPLES},
    "own": ("own.yaml", OWN_SPEC),
    "own-operator": ("own-operator.yaml", _operator(OWN_SPEC)),
    "ledger (operator)": ("ledger.yaml", (ROOT / "tests/fixtures/specs/ledger.yaml").read_text()),
    # a gRPC service, a batch job scraped through a Pushgateway and a consumer
    "kinds": ("workload-kinds.yaml", (ROOT / "tests/fixtures/specs/workload-kinds.yaml").read_text()),
}


def _model(name: str) -> Model:
    source, text = SPECS[name]
    if text is None:
        return resolve(load_spec(ROOT / "examples" / source), source)
    return resolve(load_spec_text(text, source), source)


_rendered: dict[str, dict[str, str]] = {}


def rendered(name: str) -> dict[str, str]:
    if name not in _rendered:
        _rendered[name] = render_all(_model(name))
    return _rendered[name]


# --------------------------------------------------------------------------- the scrape jobs of an output


def _docs(files: dict[str, str], prefix: str) -> Iterator[dict[str, Any]]:
    for path, text in sorted(files.items()):
        if path.startswith(prefix) and path.endswith(".yaml") and "/config/" not in path:
            yield from (d for d in yaml.safe_load_all(text) if isinstance(d, dict))


def prometheus_yml_jobs(files: dict[str, str]) -> set[str]:
    return {j["job_name"] for j in yaml.safe_load(files["prometheus/prometheus.yml"])["scrape_configs"]}


def operator_jobs(files: dict[str, str], release: str) -> set[str]:
    """The job labels prometheus-operator gives the targets of the monitors in kubernetes/."""
    docs = list(_docs(files, "kubernetes/"))
    kustomization = yaml.safe_load(files["kubernetes/kustomization.yaml"])
    added = {k: v for entry in kustomization.get("labels", []) for k, v in entry["pairs"].items()}
    # kustomize's `labels` (without includeSelectors) are added to every object's metadata.labels
    services = [(s["metadata"]["name"], {**s["metadata"].get("labels", {}), **added})
                for s in docs if s.get("kind") == "Service"]
    # kube-prometheus-stack's node-exporter Service, as its prometheus-node-exporter chart labels it
    full = kubernetes_operator.release_fullname(release)
    services.append((f"{full}-prometheus-node-exporter", {
        "app.kubernetes.io/name": "prometheus-node-exporter", "app.kubernetes.io/instance": release,
        "jobLabel": "node-exporter"}))
    jobs: set[str] = set()
    if not any(d.get("kind") == "Prometheus" for d in docs):
        # the release's own Prometheus scrapes the monitors, and itself and its Alertmanager as the chart names them
        jobs |= {f"{full}-prometheus", f"{full}-alertmanager"}
    for d in docs:
        kind, spec = d.get("kind"), d.get("spec", {})
        if kind == "ServiceMonitor":
            want = spec["selector"]["matchLabels"]
            found = [(name, labels) for name, labels in services
                     if all(labels.get(k) == v for k, v in want.items())]
            assert found, f"ServiceMonitor {d['metadata']['name']} selects no Service"
            jobs |= {labels.get(spec.get("jobLabel", ""), name) for name, labels in found}
        elif kind == "PodMonitor":
            for ep in spec["podMetricsEndpoints"]:
                relabeled = [r["replacement"] for r in ep.get("relabelings", []) if r.get("targetLabel") == "job"]
                meta = d["metadata"]
                jobs.add(relabeled[-1] if relabeled else f"{meta.get('namespace', '')}/{meta['name']}")
        elif kind in ("ScrapeConfig", "Probe"):
            jobs.add(spec.get("jobName") or d["metadata"]["name"])
    return jobs


def environments(model: Model, files: dict[str, str]) -> dict[str, set[str]]:
    """Where the output runs -> the scrape jobs there."""
    out: dict[str, set[str]] = {}
    operator = model.stack.kubernetes.prometheus_operator and "kubernetes" in model.stack.deploy
    if "compose" in model.stack.deploy or ("kubernetes" in model.stack.deploy and not operator):
        out["prometheus.yml"] = prometheus_yml_jobs(files)
    if operator:
        out["prometheus-operator"] = operator_jobs(files, model.stack.kubernetes.release)
    return out


# --------------------------------------------------------------------------- the job matchers of the dashboards


def expressions(files: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """(dashboard, place, PromQL as Prometheus gets it) of every Prometheus query of every dashboard."""
    for path, text in sorted(files.items()):
        if not (path.startswith("grafana/dashboards/") and path.endswith(".json")):
            continue
        d = json.loads(text)
        variables = d.get("templating", {}).get("list", [])
        values = {**BUILTIN_VALUES, **{v["name"]: ".+" if v["type"] == "query" else "" for v in variables}}
        for var in variables:
            if var["type"] == "query":
                query = re.fullmatch(r"label_values\((.*), *\w+\)", var["query"], re.S)
                assert query, (path, var["query"])
                yield path, f"variable ${var['name']}", substitute(query.group(1), values)[0]
        for panel in _panels(d):
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("type") != "loki":
                    yield path, f"panel {panel['title']!r}", substitute(target["expr"], values)[0]


def _panels(d: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in d["panels"]:
        yield panel
        yield from panel.get("panels", [])


def job_matchers(expr: str) -> list[tuple[str, str]]:
    """(operator, value) of every positive `job` matcher of `expr`, read by promql-parser."""
    parsed = parse_promql(expr)
    assert parsed is not None, f"does not parse: {expr}"
    pp, tree = parsed
    out = []
    for node in nodes(pp, tree):
        if isinstance(node, pp.VectorSelector):
            for m in node.matchers.matchers:
                if m.name == "job" and str(m.op) in ("MatchOp.Equal", "MatchOp.Re"):
                    out.append(("=" if str(m.op) == "MatchOp.Equal" else "=~", m.value))
    return out


def matches(op: str, value: str, jobs: set[str]) -> bool:
    if op == "=":
        return value in jobs
    return any(re.fullmatch(value, job) for job in jobs)  # Prometheus anchors a matcher's regex


def unscraped(files: dict[str, str], envs: dict[str, set[str]]) -> list[str]:
    """`dashboard place: job matcher (where it has no job)` for each job matcher no scrape job answers."""
    found = []
    for path, place, expr in expressions(files):
        for op, value in job_matchers(expr):
            missing = [env for env, jobs in envs.items() if not matches(op, value, jobs)]
            if missing:
                found.append(f"{path} {place}: job{op}{json.dumps(value)} is scraped by no job of "
                             f"{', '.join(missing)}  [{expr}]")
    return found


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", list(SPECS))
def test_every_dashboard_job_is_scraped(name: str) -> None:
    model = _model(name)
    files = rendered(name)
    envs = environments(model, files)
    assert envs and all(envs.values())
    n = sum(len(job_matchers(e)) for _, _, e in expressions(files))
    assert n > 0
    problems = unscraped(files, envs)
    assert not problems, f"{len(problems)} dashboard expressions select a job nothing scrapes:\n" + "\n".join(problems)


def test_the_check_can_fail() -> None:
    """A job matcher no scrape job answers is reported with its dashboard, panel and job."""
    files = dict(rendered("own"))
    envs = environments(_model("own"), files)
    path = "grafana/dashboards/database.json"
    d = json.loads(files[path])
    panel = next(p for p in _panels(d) if p.get("targets"))
    panel["targets"][0]["expr"] = 'sum(up{job="database"}) + sum(up{job=~"nowhere|.*-nope"})'
    files[path] = json.dumps(d)
    problems = unscraped(files, envs)
    assert any(p.startswith(f'{path} panel {panel["title"]!r}: job="database" is scraped by no job of prometheus.yml')
               for p in problems), problems
    assert any('job=~"nowhere|.*-nope"' in p for p in problems), problems
    assert job_matchers('x{job!="a"} + y{job!~"b"} + z{job=~"c"}') == [("=~", "c")]


def test_operator_jobs_are_the_operators() -> None:
    """In operator mode the job labels come from the monitors (read above as the operator reads them); the
    stack dashboard's jobs are among them."""
    files = rendered("own-operator")
    jobs = operator_jobs(files, "monitoring")
    assert {"prometheus", "alertmanager", "node-exporter", "cadvisor", "postgres-exporter", "grafana", "shop",
            "blackbox-http"} <= jobs, jobs
    stack = {v for p, _, e in expressions(files) if p.endswith("_stack-health.json") for _, v in job_matchers(e)}
    assert {"prometheus", "alertmanager", "node-exporter"} <= stack


def _dashboard(files: dict[str, str], name: str) -> dict[str, Any]:
    return json.loads(files[f"grafana/dashboards/{name}.json"])


def test_an_exporter_only_service_gets_its_exporters_panels() -> None:
    files = rendered("own")
    d = _dashboard(files, "database")
    exprs = [t["expr"] for p in _panels(d) for t in p.get("targets", [])]
    assert not any("http_request" in e for e in exprs), exprs  # no HTTP panels
    assert any('pg_up{job="postgres-exporter",instance=~"$instance"}' in e for e in exprs), exprs
    assert any('redis_up{job="redis-exporter",instance=~"$instance"}' in e for e in exprs), exprs
    instance = next(v for v in d["templating"]["list"] if v["name"] == "instance")
    assert instance["query"] == 'label_values(up{job=~"postgres-exporter|redis-exporter"}, instance)'
    # the scraped service keeps its HTTP panels and its own job; a panel naming an exporter's job keeps it
    shop = [t["expr"] for p in _panels(_dashboard(files, "shop")) for t in p.get("targets", [])]
    assert any('http_requests_total{job="shop"' in e for e in shop)
    assert any('pg_stat_database_numbackends{job="postgres-exporter",datname="shop",instance=~"$instance"}' in e
               for e in shop), shop


def test_the_overview_lists_what_can_have_data() -> None:
    files = rendered("own")
    d = _dashboard(files, "_overview")
    rows = [p["title"] for p in _panels(d) if p["type"] == "row"]
    assert rows == ["Shop", "Database", "Edge"], rows  # `nothing` has no series at all
    exprs = [t["expr"] for p in _panels(d) for t in p.get("targets", [])]
    assert not any('job="database"' in e or 'job="edge"' in e for e in exprs), exprs
    assert any('probe_success{job="blackbox-http",service="edge"}' in e for e in exprs), exprs


# --------------------------------------------------------------------------- MonitoringTargetDown


def _target_down_regex(model: Model) -> str:
    rule = next(r for g in stack_rule_groups(model) for r in g["rules"] if r.get("alert") == "MonitoringTargetDown")
    found = [v for op, v in job_matchers(rule["expr"]) if op == "=~"]
    assert len(found) == 1, rule["expr"]
    return found[0]


@pytest.mark.parametrize("name", list(SPECS))
def test_monitoring_target_down_covers_every_stack_job(name: str) -> None:
    """Every scrape job of the stack (not a service's, not the blackbox probes, whose `up` is the
    exporter's) is matched by MonitoringTargetDown; no service's job is (its own <Service>Down alerts)."""
    model = _model(name)
    files = rendered(name)
    regex = _target_down_regex(model)
    services = {s.job for s in model.services}
    kinds = {e if isinstance(e, str) else e.type for e in model.stack.exporters}
    for env, jobs in environments(model, files).items():
        stack = jobs - services - {"blackbox-http"}
        assert "cadvisor" in stack or "cadvisor" not in kinds
        missed = sorted(j for j in stack if not re.fullmatch(regex, j))
        assert not missed, f"{env}: MonitoringTargetDown ({regex}) misses {missed}"
        caught = sorted(j for j in jobs & services if re.fullmatch(regex, j))
        assert not caught, f"{env}: MonitoringTargetDown ({regex}) also fires for services {caught}"


def test_monitoring_target_down_misses_a_service_named_like_an_exporter() -> None:
    """A service whose name ends in -exporter is not a stack job (the old `.*-exporter` caught it)."""
    data = yaml.safe_load(OWN_SPEC)
    data["services"][0]["name"] = "billing-exporter"
    model = resolve(load_spec_text(yaml.safe_dump(data), "x.yaml"), "x.yaml")
    assert not re.fullmatch(_target_down_regex(model), "billing-exporter")
    assert re.fullmatch(_target_down_regex(model), "postgres-exporter")


def test_target_down_is_a_stack_alert() -> None:
    assert any(a.name == "MonitoringTargetDown" for a in STACK_ALERTS)
