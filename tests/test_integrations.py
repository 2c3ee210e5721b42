"""The exporters beyond the first six (mysqld, pgbouncer, HAProxy's built-in exporter, process, Pushgateway,
mongodb, elasticsearch, kafka): each is scraped, deployed, watched on the stack dashboard and brings alerts
of its own whose generated tests fire and stay silent; `obsgen check --strict` passes on the output of
tests/fixtures/specs/integrations.yaml with every alert proven. The series those tests feed are checked
against the captured fixtures by tests/test_real_series.py (which renders this spec too).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, obsgen, require_tool

from obsgen.render import exporter_alerts
from obsgen.spec import SpecError, load_spec_text

FIXTURE = ROOT / "tests/fixtures/specs/integrations.yaml"
KINDS = ("mysqld", "pgbouncer", "haproxy", "process", "pushgateway", "mongodb", "elasticsearch", "kafka")
ALERTS = {a.name for a in exporter_alerts.ALERTS if a.kind in KINDS}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("integrations") / "out"
    proc = obsgen("render", str(FIXTURE), "-o", str(target), check=True)
    assert re.search(r"alerts: (\d+), proven \1\b", proc.stdout), proc.stdout
    return target


def _yaml(out: Path, rel: str) -> Any:
    return yaml.safe_load((out / rel).read_text())


def test_check_strict_passes_with_every_alert_proven(out: Path) -> None:
    require_tool("promtool")
    require_tool("amtool")
    proc = obsgen("check", "--strict", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "proof/alerts.json").read_text())
    assert report["summary"]["alerts"] == report["summary"]["proven"], report["summary"]
    proven = {a["alert"] for a in report["alerts"] if a["proven"]}
    assert proven >= ALERTS, ALERTS - proven


def test_each_exporter_alert_fires_once_and_stays_silent_once(out: Path) -> None:
    rules = {r["alert"]: r for g in _yaml(out, "prometheus/rules/_stack.yml")["groups"]
             if g["name"] == exporter_alerts.GROUP for r in g["rules"]}
    assert set(rules) == ALERTS
    tests = _yaml(out, "prometheus/tests/_stack.test.yml")["tests"]
    items = [i for t in tests for i in t.get("alert_rule_test", [])]
    for alert in ALERTS:
        assert any(i["alertname"] == alert and i["exp_alerts"] for i in items), alert
        assert any(i["alertname"] == alert and i["exp_alerts"] == [] for i in items), alert
    assert rules["KafkaConsumerGroupLagHigh"]["expr"].endswith("> 5000")  # the spec's max_lag


def test_each_exporter_is_scraped_and_the_pushgateway_keeps_its_labels(out: Path) -> None:
    jobs = {j["job_name"]: j for j in _yaml(out, "prometheus/prometheus.yml")["scrape_configs"]}
    for kind in KINDS:
        assert exporter_alerts.EXPORTER_TARGETS[kind][0] in jobs, kind
    assert jobs["pushgateway"]["honor_labels"] is True
    assert all("honor_labels" not in j for name, j in jobs.items() if name != "pushgateway")
    assert jobs["haproxy"]["static_configs"][0]["targets"] == ["haproxy:8405"]  # HAProxy's own, scraped there


def test_compose_runs_each_exporter_but_haproxy(out: Path) -> None:
    services = _yaml(out, "docker-compose.yml")["services"]
    for kind in KINDS:
        name = exporter_alerts.EXPORTER_TARGETS[kind][0]
        assert (name in services) == (kind != "haproxy"), kind
    assert "--pgBouncer.connectionString=postgres://pgbouncer@pgbouncer.db:6432/pgbouncer?sslmode=disable" in \
        services["pgbouncer-exporter"]["command"]
    assert "-procnames=nginx,postgres" in services["process-exporter"]["command"]
    assert "--es.uri=https://search:9200" in services["elasticsearch-exporter"]["command"]


def test_the_stack_dashboard_has_a_row_per_exporter(out: Path) -> None:
    board = json.loads((out / "grafana/dashboards/_stack-health.json").read_text())
    rows = {p["title"] for p in board["panels"] if p["type"] == "row"}
    for kind in KINDS:
        assert exporter_alerts.EXPORTER_TARGETS[kind][0].title() in rows, kind


def test_the_output_readme_says_which_alerts_are_unverified(out: Path) -> None:
    text = (out / "README.md").read_text()
    assert "## Integrations" in text
    line = next(x for x in text.splitlines() if x.startswith("UNVERIFIED: "))
    assert "ElasticsearchClusterStatusRed" in line and "KafkaConsumerGroupLagHigh" in line
    assert "MySQLDown" not in line


def _edit(old: str, new: str) -> str:
    text = FIXTURE.read_text()
    assert old in text, old
    return text.replace(old, new, 1)


REFUSALS = [
    ("process-without-names", _edit("    - {type: process, processes: [nginx, postgres]}", "    - process"),
     r"integrations\.yaml:\d+:\d+ stack\.exporters\[3\]: the process exporter watches the processes it is told to"),
    ("process-name", _edit("processes: [nginx, postgres]", "processes: [nginx, \"my app\"]"),
     r"integrations\.yaml:\d+:\d+ stack\.exporters\[3\]\.processes\[1\]: .*is not a process name"),
    ("kafka-lag-0", _edit("max_lag: 5000", "max_lag: 0"),
     r"integrations\.yaml:\d+:\d+ stack\.exporters\[7\]\.max_lag"),
    ("unknown-exporter", _edit("    - mongodb\n", "    - cassandra\n"),
     r"integrations\.yaml:\d+:\d+ stack\.exporters\[5\]"),
]


@pytest.mark.parametrize(("case", "text", "message"), REFUSALS, ids=[c[0] for c in REFUSALS])
def test_bad_exporter_input_is_refused_at_its_place(case: str, text: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "integrations.yaml")
    lines = err.value.lines()
    assert any(re.search(message, line) for line in lines), lines


def test_a_refusal_exits_2_without_a_traceback(tmp_path: Path) -> None:
    spec = tmp_path / "integrations.yaml"
    spec.write_text(REFUSALS[0][1])
    proc = obsgen("validate", str(spec))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert re.search(REFUSALS[0][2], proc.stdout + proc.stderr), proc.stdout + proc.stderr


def test_a_service_scraping_no_target_renders_beside_exporters() -> None:
    # a service may list no static target (`scrape.static: []`); the output README's integrations table reads
    # each job's first target and must not stop at that one (a mutant of the fuzz found it)
    from obsgen.model import resolve
    from obsgen.render import render_all

    spec = load_spec_text("""
version: 1
project: {name: empty-targets}
channels: {ops: {type: webhook, url: "http://hooks.example:8080/alerts"}}
routing: {default: ops}
stack: {exporters: [node, postgres]}
services:
  - {name: shop, scrape: {static: []}}
""", "empty-targets.yaml")
    files = render_all(resolve(spec))
    assert "postgres-exporter" in files["README.md"]


BUILT_IN = """
version: 1
project: {name: own-down-alerts}
channels: {ops: {type: webhook, url: "http://hooks.example:8080/alerts"}}
routing: {default: ops}
stack: {exporters: [EXPORTERS]}
proof: {accept_unproven: {MySQLDown: "the database team's own drill proves it"}}
services:
  - name: redis
    alerts:
      - {name: RedisDown, expr: 'redis_up == 0', for: 1m, severity: critical, summary: Redis is down.}
"""


def test_a_spec_alert_named_like_a_built_in_one_is_refused_at_its_place() -> None:
    # an alert of its own named like one rules/_stack.yml renders would be two alerts under one name, each
    # with its own labels, routes and proofs
    with pytest.raises(SpecError) as err:
        load_spec_text(BUILT_IN.replace("EXPORTERS", "redis, mysqld"), "own-down-alerts.yaml")
    lines = err.value.lines()
    assert len(lines) == 1, lines
    assert re.search(r"own-down-alerts\.yaml:11:\d+ services\[0\]\.alerts\[0\]\.name: alert name 'RedisDown' is a "
                     r"built-in alert of rules/_stack\.yml \(for the redis exporter\)", lines[0]), lines
    # without the redis exporter the name is free; an exporter's alert may be accepted unproven by name
    load_spec_text(BUILT_IN.replace("EXPORTERS", "mysqld"), "own-down-alerts.yaml")
    with pytest.raises(SpecError) as err:
        load_spec_text(BUILT_IN.replace("EXPORTERS", "node"), "own-down-alerts.yaml")
    assert any("no alert is named 'MySQLDown'" in line for line in err.value.lines()), err.value.lines()
