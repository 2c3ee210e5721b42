"""Workload kinds: a gRPC service, a batch job and a message consumer render their own
rules, proofs and dashboards, and `obsgen check --strict` passes on them with every alert proven.

The fixture (tests/fixtures/specs/workload-kinds.yaml) has one service of each kind. Its generated promtool
tests feed series with the labels the real software gives them: the gRPC interceptors' grpc_type,
grpc_service, grpc_method (and grpc_code on the counter), a Pushgateway group's pushed job and no instance,
and each scrape's job, instance and target labels.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, obsgen, require_tool

from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.render.prometheus import scrape_configs
from obsgen.spec import SpecError, load_spec, load_spec_text
from obsgen.spec.models import GRPC_METRICS

FIXTURE = ROOT / "tests/fixtures/specs/workload-kinds.yaml"
GRPC_ERRORS = GRPC_METRICS.error_status


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("kinds") / "out"
    proc = obsgen("render", str(FIXTURE), "-o", str(target), check=True)
    assert "alerts: 31, proven 31" in proc.stdout, proc.stdout
    return target


def _yaml(out: Path, rel: str) -> Any:
    return yaml.safe_load((out / rel).read_text())


def _rules(out: Path, service: str) -> dict[str, list[dict[str, Any]]]:
    """alert name -> its rules (warning and critical share a name)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for group in _yaml(out, f"prometheus/rules/{service}.yml")["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                found.setdefault(rule["alert"], []).append(rule)
    return found


def _series(out: Path, service: str) -> set[str]:
    tests = _yaml(out, f"prometheus/tests/{service}.test.yml")["tests"]
    return {re.sub(r"\s", "", s["series"]) for t in tests for s in t.get("input_series", [])}


def _labels(series: str) -> dict[str, str]:
    body = series[series.index("{") + 1:-1]
    return dict(re.findall(r'([a-zA-Z_]+)="([^"]*)"', body))


# --------------------------------------------------------------------------- the whole proof


def test_fixture_passes_check_strict_with_full_coverage(out: Path) -> None:
    require_tool("promtool")
    require_tool("amtool")
    proc = obsgen("check", "--strict", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "proof/alerts.json").read_text())
    assert report["summary"]["alerts"] == report["summary"]["proven"] == 31
    assert not [a for a in report["alerts"] if not a["proven"]]
    for kind_alert in ("QuotesRpcErrorRateHigh", "QuotesRpcAvailabilityBudgetBurn", "NightlyReportLastSuccessTooOld",
                       "NightlyReportRunFailed", "OrdersConsumerConsumerLagHigh", "OrdersConsumerThroughputLow"):
        assert kind_alert in {a["alert"] for a in report["alerts"]}, kind_alert


# --------------------------------------------------------------------------- gRPC


def test_grpc_rules_read_the_interceptor_metrics(out: Path) -> None:
    rules = _rules(out, "quotes-rpc")
    error = rules["QuotesRpcErrorRateHigh"][0]["expr"]
    assert f'grpc_server_handled_total{{job="quotes-rpc",grpc_code=~"{GRPC_ERRORS}"}}' in error
    assert "grpc_server_handling_seconds_bucket{job=\"quotes-rpc\"}" in rules["QuotesRpcLatencyP99High"][0]["expr"]
    recorded = json.dumps(_yaml(out, "prometheus/rules/quotes-rpc.yml"))
    assert 'grpc_server_handling_seconds_bucket{job=\\"quotes-rpc\\",le=\\"0.25\\"}' in recorded  # latency SLI
    assert "http_requests_total" not in recorded


def test_grpc_test_series_carry_the_interceptor_labels(out: Path) -> None:
    series = [s for s in _series(out, "quotes-rpc") if s.startswith("grpc_server_")]
    assert series
    for s in series:
        labels = _labels(s)
        assert {"job", "instance", "grpc_type", "grpc_service", "grpc_method"} <= set(labels), s
        # the interceptors put grpc_code on the counter only, never on the histogram
        assert ("grpc_code" in labels) == s.startswith("grpc_server_handled_total"), s
    codes = {_labels(s)["grpc_code"] for s in series if "grpc_code" in _labels(s)}
    assert "OK" in codes and codes - {"OK"} and all(re.fullmatch(GRPC_ERRORS, c) for c in codes - {"OK"})


def test_grpc_dashboard_follows_the_kind(out: Path) -> None:
    text = (out / "grafana/dashboards/quotes-rpc.json").read_text()
    assert "grpc_server_handled_total" in text and "grpc_server_handling_seconds_bucket" in text
    assert "http_request" not in text


# --------------------------------------------------------------------------- batch


def test_batch_is_scraped_through_the_pushgateway_with_honor_labels(out: Path) -> None:
    job = next(j for j in _yaml(out, "prometheus/prometheus.yml")["scrape_configs"] if j["job_name"] == "nightly-report")
    assert job["honor_labels"] is True
    assert job["static_configs"][0]["targets"] == ["pushgateway:9091"]
    assert job["metric_relabel_configs"] == [{"source_labels": ["job"], "regex": "nightly-report", "action": "keep"}]


def test_batch_test_series_are_what_the_pushgateway_exports(out: Path) -> None:
    series = _series(out, "nightly-report")
    pushed = [s for s in series if not s.startswith("up{")]
    assert {s.split("{")[0] for s in pushed} == {"nightly_report_last_success_unixtime", "push_time_seconds"}
    for s in pushed:  # the job the group was pushed with, the target's labels, no instance
        assert _labels(s) == {"job": "nightly-report", "service": "nightly-report", "team": "finance"}, s
    up = [s for s in series if s.startswith("up{")]
    assert up and all(_labels(s)["instance"] == "pushgateway:9091" for s in up)  # `up` is the target's


def test_batch_has_no_request_panels(out: Path) -> None:
    text = (out / "grafana/dashboards/nightly-report.json").read_text()
    assert "nightly_report_last_success_unixtime" in text and "push_time_seconds" in text
    assert "http_request" not in text and "process_cpu_seconds_total" not in text


def test_honor_labels_is_a_scrape_option_of_any_service() -> None:
    text = FIXTURE.read_text().replace('scrape: {static: ["orders-consumer:8000"]}',
                                       'scrape: {static: ["orders-consumer:8000"], honor_labels: true}')
    model = resolve(load_spec_text(text, "kinds.yaml"), "kinds.yaml")
    jobs = {j["job_name"]: j for j in scrape_configs(model)}
    assert jobs["orders-consumer"]["honor_labels"] is True and "honor_labels" not in jobs["quotes-rpc"]


def test_batch_in_operator_mode_keeps_honor_labels_and_its_groups() -> None:
    data = yaml.safe_load(FIXTURE.read_text())
    data["stack"] = {"deploy": ["kubernetes"], "kubernetes": {"prometheus_operator": True}}
    model = resolve(load_spec_text(yaml.safe_dump(data), "kinds.yaml"), "kinds.yaml")
    files = render_all(model)
    docs = [d for path, text in files.items() if path.startswith("kubernetes/") and path.endswith(".yaml")
            for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    sc = next(d for d in docs if d.get("kind") == "ScrapeConfig" and d["metadata"]["name"] == "nightly-report")
    assert sc["spec"]["honorLabels"] is True
    assert sc["spec"]["metricRelabelings"] == [{"sourceLabels": ["job"], "regex": "nightly-report", "action": "keep"}]


def test_the_stacks_pushgateway_leaves_a_batch_services_groups_to_it() -> None:
    """With the stack's own Pushgateway exporter on the same address, the batch services' groups are
    dropped from its job: ingested twice they would differ only by the service's target labels, and the
    rules setting those labels would fail on the duplicates (seen on the real servers by
    tests/test_exporters_live.py). A batch service on another Pushgateway is not dropped."""
    data = yaml.safe_load(FIXTURE.read_text())
    data["services"].append({"name": "ledger-close", "kind": "batch", "scrape": {"static": ["gw.finance:9091"]},
                             "batch": {"every": "1d"}})
    data["stack"] = {"exporters": ["pushgateway"]}
    drop = [{"source_labels": ["job"], "regex": "nightly-report", "action": "drop"}]
    jobs = {j["job_name"]: j for j in scrape_configs(resolve(load_spec_text(yaml.safe_dump(data), "k.yaml"), "k.yaml"))}
    assert jobs["pushgateway"]["metric_relabel_configs"] == drop
    data["stack"] = {"deploy": ["kubernetes"], "kubernetes": {"prometheus_operator": True}, "exporters": ["pushgateway"]}
    files = render_all(resolve(load_spec_text(yaml.safe_dump(data), "k.yaml"), "k.yaml"))
    monitors = [d for path, text in files.items() if path.startswith("kubernetes/") and path.endswith(".yaml")
                for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind") == "ServiceMonitor"]
    endpoint = next(d for d in monitors if d["metadata"]["name"] == "pushgateway")["spec"]["endpoints"][0]
    assert endpoint["honorLabels"] is True
    assert endpoint["metricRelabelings"] == [{"sourceLabels": ["job"], "regex": "nightly-report", "action": "drop"}]


# --------------------------------------------------------------------------- consumer


def test_consumer_thresholds_read_its_metrics(out: Path) -> None:
    rules = _rules(out, "orders-consumer")
    assert rules["OrdersConsumerConsumerLagHigh"][0]["expr"] == \
        'sum(orders_consumer_lag_messages{job="orders-consumer"}) > 5000'
    assert rules["OrdersConsumerThroughputLow"][0]["expr"] == \
        'sum(rate(orders_consumer_messages_processed_total{job="orders-consumer"}[5m])) < 10'
    for s in _series(out, "orders-consumer"):
        assert {"job", "instance", "service", "team"} <= set(_labels(s)), s
    text = (out / "grafana/dashboards/orders-consumer.json").read_text()
    assert "orders_consumer_lag_messages" in text and "http_request" not in text


# --------------------------------------------------------------------------- a broken rule fails its test


def _only(tests: dict[str, Any], alert: str) -> dict[str, Any]:
    return {**tests, "tests": [t for t in tests["tests"] if t["name"].startswith(f"{alert}:")]}


@pytest.mark.parametrize(("service", "alert", "old", "new"), [
    # read with the HTTP conventions' label instead of the interceptor's
    ("quotes-rpc", "QuotesRpcErrorRateHigh", f'grpc_code=~"{GRPC_ERRORS}"', 'status=~"5.."'),
    ("nightly-report", "NightlyReportLastSuccessTooOld", "> 93600", "> 936000"),
    ("nightly-report", "NightlyReportRunFailed", "- nightly_report_last_success_unixtime{job=\"nightly-report\"} > 60",
     "- nightly_report_last_success_unixtime{job=\"nightly-report\"} > 600"),
    ("orders-consumer", "OrdersConsumerThroughputLow", "[5m])) < 10", "[5m])) < 0.1"),
])
def test_a_broken_rule_fails_its_generated_test(out: Path, tmp_path: Path, service: str, alert: str, old: str,
                                                new: str) -> None:
    """One rule's expression changed: the generated tests of that alert, run alone, fail in promtool."""
    promtool = require_tool("promtool")
    rules = (out / f"prometheus/rules/{service}.yml").read_text()
    assert old in rules, old
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    tests = _only(_yaml(out, f"prometheus/tests/{service}.test.yml"), alert)
    assert tests["tests"], alert
    (tmp_path / "tests/t.yml").write_text(yaml.safe_dump(tests))
    (tmp_path / f"rules/{service}.yml").write_text(rules)
    run = [promtool, "test", "rules", str(tmp_path / "tests/t.yml")]
    intact = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    (tmp_path / f"rules/{service}.yml").write_text(rules.replace(old, new))
    broken = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert alert in broken.stdout + broken.stderr


# --------------------------------------------------------------------------- what a kind refuses, located


def _edit(old: str, new: str) -> str:
    text = FIXTURE.read_text()
    assert old in text, old
    return text.replace(old, new, 1)


REFUSALS = [
    ("batch-class", _edit("    batch: {every: 1d, grace: 2h}", "    batch: {every: 1d, grace: 2h}\n    class: critical"),
     r"workload-kinds\.yaml:\d+:\d+ services\[1\]\.class: the class 'critical' gives availability and latency SLOs"),
    ("batch-request-indicator", _edit("    batch: {every: 1d, grace: 2h}",
                                      "    batch: {every: 1d, grace: 2h}\n    thresholds:\n"
                                      "      - {indicator: error_rate, warning: 1%}"),
     r":\d+:\d+ services\[1\]\.thresholds\[0\]\.indicator: error_rate reads request metrics, and this service is kind batch"),
    ("batch-without-schedule", _edit("    batch: {every: 1d, grace: 2h}\n", ""),
     r":\d+:\d+ services\[1\]\.kind: a batch service needs `batch: \{every: <its schedule>\}`"),
    ("batch-honor-labels-off", _edit('scrape: {static: ["pushgateway:9091"]}',
                                     'scrape: {static: ["pushgateway:9091"], honor_labels: false}'),
     r":\d+:\d+ services\[1\]\.scrape\.honor_labels: a batch job's series come from a Pushgateway"),
    ("batch-availability-slo", _edit("    batch: {every: 1d, grace: 2h}",
                                     "    batch: {every: 1d, grace: 2h}\n    slos:\n"
                                     "      - {name: runs, objective: 99, sli: {type: availability}}"),
     r":\d+:\d+ services\[1\]\.slos\[0\]\.sli: a availability SLI reads request metrics|"
     r":\d+:\d+ services\[1\]\.slos\[0\]\.sli: an? availability SLI reads request metrics"),
    ("consumer-indicator-on-grpc", _edit("      - {indicator: request_rate, warning: 5, critical: 1}",
                                         "      - {indicator: consumer_lag, warning: 5, critical: 10}"),
     r":\d+:\d+ services\[0\]\.thresholds\[2\]\.indicator: consumer_lag reads a consumer's lag"),
    ("consumer-without-metrics", _edit(
        "    consumer: {lag: orders_consumer_lag_messages, processed_total: orders_consumer_messages_processed_total}\n",
        ""), r":\d+:\d+ services\[2\]\.kind: a consumer service needs `consumer: "),
    ("batch-block-on-http", _edit("    kind: grpc\n", "    kind: http\n    batch: {every: 1h}\n"),
     r":\d+:\d+ services\[0\]\.batch: applies to `kind: batch` only, and this service is kind http"),
    ("unknown-kind", _edit("    kind: grpc\n", "    kind: soap\n"), r":\d+:\d+ services\[0\]\.kind"),
    ("consumer-metric-name", _edit("lag: orders_consumer_lag_messages", "lag: orders-consumer lag"),
     r":\d+:\d+ services\[2\]\.consumer\.lag: 'orders-consumer lag' is not a Prometheus metric name"),
    ("batch-every-0", _edit("batch: {every: 1d, grace: 2h}", "batch: {every: 0s}"),
     r":\d+:\d+ services\[1\]\.batch\.every: a schedule must be longer than 0"),
    ("batch-metric-name", _edit("batch: {every: 1d, grace: 2h}", "batch: {every: 1d, last_success: \"x{a}\"}"),
     r":\d+:\d+ services\[1\]\.batch\.last_success: 'x\{a\}' is not a Prometheus metric name"),
]


@pytest.mark.parametrize(("case", "text", "message"), REFUSALS, ids=[c[0] for c in REFUSALS])
def test_a_kind_refuses_what_it_cannot_have_at_its_place(case: str, text: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "workload-kinds.yaml")
    lines = err.value.lines()
    assert any(re.search(message, line) for line in lines), lines


def test_a_refusal_exits_2_without_a_traceback(tmp_path: Path) -> None:
    spec = tmp_path / "workload-kinds.yaml"
    spec.write_text(REFUSALS[0][1])
    proc = obsgen("validate", str(spec))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert re.search(REFUSALS[0][2], proc.stdout + proc.stderr), proc.stdout + proc.stderr


def test_the_fixture_validates() -> None:
    model = resolve(load_spec(FIXTURE), "workload-kinds.yaml")
    assert [s.kind for s in model.services] == ["grpc", "batch", "consumer"]
