"""The SLO proofs for specs unlike the examples: a gRPC service, a Kafka consumer's events SLIs (two metrics;
one metric with `sum by`, `increase` and every matcher operator), 7d and 28d periods, a low-traffic guard
and a ratio SLI. promtool runs the generated tests; every SLO alert must have a firing case that asserts its
labels and a silent case, and breaking what a proof proves must make promtool fail."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from obsgen import slo
from obsgen.model import Model, resolve
from obsgen.render import prometheus
from obsgen.render.common import dump_yaml
from obsgen.slo_proofs import counters, proof_gap, proofs
from obsgen.spec import load_spec_text

GRPC = "Unavailable|Internal|DeadlineExceeded|ResourceExhausted|Unknown"
SPEC = f"""\
version: 1
project: {{name: orders}}
defaults: {{min_request_rate: 0.2}}
services:
  - name: orders-api
    team: orders
    scrape: {{static: ["orders-api:9090"]}}
    labels: {{domain: commerce}}
    metrics:
      requests_total: grpc_server_handled_total
      status_label: grpc_code
      error_status: "{GRPC}"
      duration_histogram: grpc_server_handling_seconds
    slos:
      - {{name: availability, objective: 99.9, period: 7d, sli: {{type: availability}}}}
      - {{name: latency, objective: 99, period: 28d, sli: {{type: latency, threshold: 250ms}}}}
  - name: orders-consumer
    team: orders
    slos:
      - name: records
        objective: 99.5
        period: 28d
        sli:
          events:
            errors: sum(rate(kafka_consumer_records_failed_total{{job="orders-consumer"}}[{{{{window}}}}]))
            total: sum(rate(kafka_consumer_records_consumed_total{{job="orders-consumer"}}[{{{{window}}}}]))
      - name: jobs
        objective: 99
        sli:
          events:
            errors: >-
              sum by (topic) (increase(consumer_jobs_total{{job="orders-consumer", result=~"fail.*|timeout",
              queue!="dead"}}[{{{{window}}}}]))
            total: >-
              sum by (topic) (increase(consumer_jobs_total{{job="orders-consumer", queue!="dead",
              result!~"skipped"}}[{{{{window}}}}]))
      - name: freshness
        objective: 99
        sli: {{expr: 'avg(avg_over_time(consumer_stale[{{{{window}}}}]))'}}
channels: {{mail: {{type: email, to: [ops@example.com]}}}}
email: {{smarthost: "smtp.example.com:587", from: alerts@example.com}}
routing: {{default: mail}}
"""
ALERTS = re.compile(r"^(max_over_time\()?ALERTS\{(.*)\}(\[[^\]]+\]\))?$")
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def model_of(text: str) -> Model:
    return resolve(load_spec_text(text, "spec.yaml"), "spec.yaml")


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def _matchers(body: str) -> list[tuple[str, str, str]]:
    found, pos = [], 0
    while pos < len(body):
        m = MATCHER.match(body, pos)
        assert m is not None, body
        found.append(m.groups())
        pos = m.end()
    return found


def _labels(text: str) -> dict[str, str]:
    name, _, rest = text.partition("{")
    return {"__name__": name, **{k: v for k, op, v in _matchers(rest[:-1]) if op == "="}}


def coverage(rule_groups: list[dict[str, Any]], tests: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """(alert, tier) -> {"fires", "silent"}, read from the test items in the format the coverage count reads:
    firing, a plain `ALERTS{alertname=..., alertstate="firing", ...}` whose one expected sample is the alert's
    whole label set; silent, `ALERTS{...}` or `max_over_time(ALERTS{...}[r])` expecting nothing, with every
    equality matcher among the alert's labels."""
    rules = [r for g in rule_groups for r in g["rules"] if "alert" in r]
    found: dict[tuple[str, str], set[str]] = {(r["alert"], r["labels"]["tier"]): set() for r in rules}
    for group in tests:
        for item in group.get("promql_expr_test", []):
            m = ALERTS.match(item["expr"])
            if m is None:
                continue
            wrapped, body = m.group(1) is not None, m.group(2)
            ms = _matchers(body)
            for r in rules:
                full = {"__name__": "ALERTS", "alertname": r["alert"], "alertstate": "firing", **r["labels"]}
                selects = all(full.get(k) == v for k, op, v in ms if op == "=") and \
                    all(full.get(k) != v for k, op, v in ms if op == "!=")
                key = (r["alert"], r["labels"]["tier"])
                if not item["exp_samples"] and selects:
                    found[key].add("silent")
                elif not wrapped and selects and ms[:2] == [("alertname", "=", r["alert"]),
                                                             ("alertstate", "=", "firing")]:
                    assert len(item["exp_samples"]) == 1 and item["exp_samples"][0]["value"] == 1, item
                    assert _labels(item["exp_samples"][0]["labels"]) == full, (item, full)
                    found[key].add("fires")
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Path]:
    m = model_of(SPEC)
    root = tmp_path_factory.mktemp("out")
    for path, text in prometheus.render(m).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return m, root


def test_every_slo_alert_fires_with_its_labels_and_stays_silent(promtool: str, rendered: tuple[Model, Path]) -> None:
    m, root = rendered
    files = [root / "prometheus" / "tests" / f"{svc.name}.test.yml" for svc in m.services]
    proc = run(promtool, "test", "rules", *map(str, files))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checked = 0
    for svc in m.services:
        rules = yaml.safe_load((root / "prometheus" / "rules" / f"{svc.name}.yml").read_text())["groups"]
        tests = yaml.safe_load((root / "prometheus" / "tests" / f"{svc.name}.test.yml").read_text())["tests"]
        for s in svc.slos:
            own = [g for g in rules if g["name"] == f"{svc.name}-slo-{s.name}-alerts"]
            assert len(own[0]["rules"]) == 4  # page, ticket, budget exhausted, SLI absent
            found = coverage(own, tests)
            if s.sli_type == "ratio":
                assert proof_gap(svc, s) == ("a ratio SLI is an arbitrary expression; obsgen cannot synthesize "
                                             "its input")
                assert all(not v for v in found.values()), found
                continue
            assert proof_gap(svc, s) is None
            assert found and all(v == {"fires", "silent"} for v in found.values()), (s.id, found)
            checked += len(found)
    assert checked == 16  # four alerts of the four SLOs obsgen can feed


def test_series_pass_the_sli_matchers() -> None:
    m = model_of(SPEC)
    api, consumer = m.service("orders-api"), m.service("orders-consumer")
    (bad, good) = counters(api, api.slos[0]) or []
    assert (bad.labels["grpc_code"], bad.counts, good.labels["grpc_code"], good.counts) == (
        "Unavailable", "errors", "OK", "good")
    records = counters(consumer, consumer.slos[0]) or []
    assert [(c.labels["__name__"], c.counts) for c in records] == [
        ("kafka_consumer_records_failed_total", "errors"), ("kafka_consumer_records_consumed_total", "total")]
    errors, ok = counters(consumer, consumer.slos[1]) or []
    assert errors.labels == {"__name__": "consumer_jobs_total", "job": "orders-consumer", "result": "failed"}
    assert ok.labels == {"__name__": "consumer_jobs_total", "job": "orders-consumer", "result": "ok"}
    assert (errors.counts, ok.counts) == ("errors", "good")


def _events(errors: str, total: str) -> str:
    head = SPEC.split("  - name: orders-consumer")[0]
    return head + ("  - name: worker\n    slos:\n      - name: jobs\n        objective: 99\n        sli:\n"
                   f"          events:\n            errors: '{errors}'\n            total: '{total}'\n"
                   + SPEC[SPEC.index("channels:"):])


W = "[{{window}}]"


@pytest.mark.parametrize(("errors", "total", "reason"), [
    (f"sum(rate(a{W})) / 2", f"sum(rate(b{W}))", "sli.events.errors `sum(rate(a[{{window}}])) / 2`: expected the "
                                                   "end of the query at `/ 2`"),
    (f"sum(rate(a{W}))", f"sum(irate(b{W}))", "sli.events.total `sum(irate(b[{{window}}]))`: expected `rate(` or "
                                              "`increase(` at `irate(b[{{window}}]))`"),
    (f"sum(increase(a{W}))", f"sum(rate(b{W}))", "sli.events.errors reads increase() and sli.events.total rate()"),
    (f'sum(rate(a{{k=~"x", k!~"x"}}{W}))', f"sum(rate(b{W}))",
     'sli.events.errors: no value of `k` passes k=~"x", k!~"x"'),
    (f'sum(rate(a{{k=~"\\\\pL"}}{W}))', f"sum(rate(b{W}))",
     "sli.events.errors: the regex of `k`: `\\pL`: Unicode classes (\\p) are not supported"),
    (f'sum(rate(a{{k=~".*"}}{W}))', f"sum(rate(a{W}))",
     "every series sli.events.total reads is one sli.events.errors reads too: no event could be good"),
])
def test_unreadable_queries_say_which_part(errors: str, total: str, reason: str) -> None:
    m = model_of(_events(errors, total))
    svc = m.service("worker")
    gap = proof_gap(svc, svc.slos[0])
    assert gap is not None and reason in gap, gap
    assert proofs(m, svc, svc.slos[0]) == []


def test_an_error_status_matching_every_status_is_the_reason() -> None:
    m = model_of(SPEC.replace(f'error_status: "{GRPC}"', 'error_status: ".*"'))
    svc = m.service("orders-api")
    gap = proof_gap(svc, svc.slos[0])
    assert gap is not None and "`error_status: .*`" in gap and "no event could be good" in gap, gap


# --------------------------------------------------------------------------- breaking what the proofs prove


def _alert(groups: list[dict[str, Any]], suffix: str, tier: str | None = None) -> dict[str, Any]:
    return next(r for g in groups for r in g["rules"] if r.get("alert", "").endswith(suffix)
                and (tier is None or r["labels"]["tier"] == tier))


def _set_for(suffix: str, value: str) -> Callable[[list[dict[str, Any]]], None]:
    return lambda groups: _alert(groups, suffix).update({"for": value})


def _flip_exhausted(groups: list[dict[str, Any]]) -> None:
    rule = _alert(groups, "BudgetExhausted")
    rule["expr"] = rule["expr"].replace("<= 0", ">= 0")


def _drop_guard(groups: list[dict[str, Any]]) -> None:
    rule = _alert(groups, "BudgetBurn", "page")
    rule["expr"] = re.sub(r"\nand slo:sli_total:rate5m\{[^}]*\} >= [0-9.]+$", "", rule["expr"])


def _guard_per_second(groups: list[dict[str, Any]]) -> None:
    rule = _alert(groups, "BudgetBurn", "page")  # as before the guard read increase() totals per 5m
    rule["expr"] = rule["expr"].replace(">= 60", ">= 0.2")


def _swap_team(groups: list[dict[str, Any]]) -> None:
    _alert(groups, "SliAbsent")["labels"]["team"] = "payments"


def _status_5xx(groups: list[dict[str, Any]]) -> None:
    for g in groups:
        for r in g["rules"]:
            r["expr"] = r["expr"].replace(f'grpc_code=~"{GRPC}"', 'grpc_code=~"5.."')


# (service, slo, the proofs run: a word of the group names, the rule file's change, the check that must fail)
BREAKS = [
    ("orders-api", "availability", "stop after", _set_for("SliAbsent", "5m"),
     'max_over_time(ALERTS{alertname=\\"OrdersApiAvailabilitySliAbsent\\"'),
    ("orders-api", "availability", "stop after", _set_for("SliAbsent", "15m"),
     'expr: "ALERTS{alertname=\\"OrdersApiAvailabilitySliAbsent\\"'),
    ("orders-api", "latency", "stop after", _flip_exhausted,
     'expr: "ALERTS{alertname=\\"OrdersApiLatencyBudgetExhausted\\"'),
    ("orders-api", "latency", "stop after", _set_for("BudgetExhausted", "1m"),
     'max_over_time(ALERTS{alertname=\\"OrdersApiLatencyBudgetExhausted\\"'),
    ("orders-consumer", "records", "stop after", _drop_guard,
     'max_over_time(ALERTS{alertname=\\"OrdersConsumerRecordsBudgetBurn\\"'),
    ("orders-consumer", "jobs", "stop after", _guard_per_second,
     'max_over_time(ALERTS{alertname=\\"OrdersConsumerJobsBudgetBurn\\"'),
    ("orders-consumer", "records", "stop after", _swap_team,
     'got: {__name__="ALERTS", alertname="OrdersConsumerRecordsSliAbsent", alertstate="firing", service='
     '"orders-consumer", severity="warning", slo="records", slo_id="orders-consumer-records", team="payments"'),
    ("orders-api", "availability", "total outage", _status_5xx,
     'expr: "ALERTS{alertname=\\"OrdersApiAvailabilityBudgetBurn\\"'),
]


@pytest.mark.parametrize(("service", "slo_name", "scenario", "change", "failing"), BREAKS,
                         ids=["absent-for-short", "absent-for-long", "exhausted-flipped", "exhausted-for-short",
                              "guard-dropped", "guard-per-second", "label-swapped", "error-status-5xx"])
def test_breaking_what_a_proof_proves_fails_it(promtool: str, tmp_path: Path, service: str, slo_name: str,
                                              scenario: str, change: Any, failing: str) -> None:
    m = model_of(SPEC)
    svc = m.service(service)
    s = next(x for x in svc.slos if x.name == slo_name)
    groups = [g for g in slo.rule_groups(m, svc) if g["name"].startswith(f"{svc.name}-slo-{s.name}-")]
    tests = [g for g in proofs(m, svc, s) if scenario in g["name"]]
    assert tests
    (tmp_path / "rules.yml").write_text(dump_yaml({"groups": groups}))
    test = tmp_path / "test.yml"
    test.write_text(dump_yaml({"rule_files": ["rules.yml"], "evaluation_interval": m.evaluation_interval,
                               "tests": tests}))
    proc = run(promtool, "test", "rules", str(test))
    assert proc.returncode == 0, proc.stdout + proc.stderr  # as rendered, the proofs hold
    change(groups)
    (tmp_path / "rules.yml").write_text(dump_yaml({"groups": groups}))
    proc = run(promtool, "test", "rules", str(test))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert failing in proc.stderr, proc.stderr
