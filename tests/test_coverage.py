"""Proof coverage: what counts as an alert fired with its labels asserted, and as an alert shown silent;
`obsgen render` reporting it, the output README listing the unproven, the spec's own alert tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, obsgen

from obsgen import coverage

RULES = {"prometheus/rules/a.yml": [{"name": "g", "rules": [
    {"record": "x:y:z", "expr": "1"},
    {"alert": "AHigh", "expr": "x > 1", "labels": {"severity": "warning", "service": "a"}},
    {"alert": "AHigh", "expr": "x > 2", "labels": {"severity": "critical", "service": "a"}},
    {"alert": "Watchdog", "expr": "vector(1)", "labels": {"severity": "info"}},
]}]}


def _tests(*groups: dict[str, Any], rule_file: str = "../rules/a.yml") -> dict[str, Any]:
    return {"prometheus/tests/a.test.yml": {"rule_files": [rule_file], "tests": list(groups)}}


def _by_severity(proofs: list[coverage.Proof]) -> dict[str, coverage.Proof]:
    return {f"{p.rule.alert}/{p.rule.severity}": p for p in proofs}


def test_alert_rule_test_fires_one_level_and_shows_the_other_silent() -> None:
    group = {"name": "warning only", "alert_rule_test": [
        {"eval_time": "5m", "alertname": "AHigh",
         "exp_alerts": [{"exp_labels": {"severity": "warning", "service": "a", "instance": "i"}}]}]}
    found = _by_severity(coverage.proofs(coverage.alert_rules(RULES), _tests(group)))
    assert found["AHigh/warning"].fires == ["warning only"] and not found["AHigh/warning"].silent
    assert found["AHigh/critical"].silent == ["warning only"] and not found["AHigh/critical"].fires
    assert not found["AHigh/warning"].proven and "stays silent" in found["AHigh/warning"].why()


def test_both_cases_prove_and_a_constant_alert_needs_no_silent_case() -> None:
    groups = [
        {"name": "quiet", "alert_rule_test": [{"eval_time": "1m", "alertname": "AHigh", "exp_alerts": []}]},
        {"name": "both", "alert_rule_test": [{"eval_time": "9m", "alertname": "AHigh", "exp_alerts": [
            {"exp_labels": {"severity": "warning", "service": "a"}},
            {"exp_labels": {"severity": "critical", "service": "a"}}]}]},
        {"name": "watchdog", "alert_rule_test": [{"eval_time": "1m", "alertname": "Watchdog",
                                                  "exp_alerts": [{"exp_labels": {"severity": "info"}}]}]},
    ]
    found = coverage.proofs(coverage.alert_rules(RULES), _tests(*groups))
    assert all(p.proven for p in found), [(p.rule.alert, p.why()) for p in found if not p.proven]
    assert coverage.summary(found) == {"alerts": 3, "proven": 3, "accepted": 0, "unproven": 0}


def test_alerts_series_forms() -> None:
    fires = {"expr": 'ALERTS{alertname="AHigh", alertstate="firing", severity="critical"}', "eval_time": "9m",
             "exp_samples": [{"labels": 'ALERTS{alertname="AHigh", alertstate="firing", severity="critical", '
                                        'service="a"}', "value": 1}]}
    counted = {"expr": 'count(ALERTS{alertname="AHigh", alertstate="firing"})', "eval_time": "9m",
               "exp_samples": [{"labels": "{}", "value": 1}]}
    never = {"expr": 'max_over_time(ALERTS{service="a", alertstate="firing"}[1h])', "eval_time": "1h",
             "exp_samples": []}
    other = {"expr": 'ALERTS{service="b"}', "eval_time": "1h", "exp_samples": []}
    found = _by_severity(coverage.proofs(coverage.alert_rules(RULES), _tests(
        {"name": "fires", "promql_expr_test": [fires]}, {"name": "counted", "promql_expr_test": [counted]},
        {"name": "never", "promql_expr_test": [never]}, {"name": "other", "promql_expr_test": [other]})))
    assert found["AHigh/critical"].fires == ["fires"]  # a count() asserts no labels: it does not count
    assert found["AHigh/warning"].fires == []
    assert found["AHigh/critical"].silent == ["never"] == found["AHigh/warning"].silent  # `other` selects none


def test_a_selector_naming_the_alert_shows_every_rule_of_that_name_silent() -> None:
    both = {"expr": 'max_over_time(ALERTS{alertname="AHigh", alertstate="firing"}[1h])', "eval_time": "1h",
            "exp_samples": []}
    warning = {"expr": 'ALERTS{alertname="AHigh", severity="warning"}', "eval_time": "1h", "exp_samples": []}
    nothing = {"expr": 'ALERTS{alertname="Other"}', "eval_time": "1h", "exp_samples": []}
    found = _by_severity(coverage.proofs(coverage.alert_rules(RULES), _tests(
        {"name": "both", "promql_expr_test": [both]}, {"name": "warning", "promql_expr_test": [warning]},
        {"name": "nothing", "promql_expr_test": [nothing]})))
    assert found["AHigh/warning"].silent == ["both", "warning"]
    assert found["AHigh/critical"].silent == ["both"]
    assert found["Watchdog/info"].silent == []


def test_tests_of_another_rule_file_do_not_count() -> None:
    group = {"name": "q", "alert_rule_test": [{"eval_time": "1m", "alertname": "AHigh", "exp_alerts": []}]}
    found = coverage.proofs(coverage.alert_rules(RULES), _tests(group, rule_file="../rules/b.yml"))
    assert not any(p.silent for p in found)


# --------------------------------------------------------------------------- through the command line

LEDGER = ROOT / "tests/fixtures/specs/ledger.yaml"


def test_render_prints_coverage_and_readme_lists_the_unproven(tmp_path: Path) -> None:
    spec = yaml.safe_load(LEDGER.read_text())
    del spec["services"][3]["alerts"][1]["tests"]  # NightlySettlementFailing loses its tests
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    proc = obsgen("render", str(path), "-o", str(tmp_path / "out"), check=True)
    report = json.loads((tmp_path / "out/proof/alerts.json").read_text())
    counts = report["summary"]
    assert f"alerts: {counts['alerts']}, proven {counts['proven']}" in proc.stdout
    failing = [a for a in report["alerts"] if a["alert"] == "NightlySettlementFailing"]
    assert failing and not failing[0]["proven"] and "add `tests:`" in failing[0]["reason"]
    readme = (tmp_path / "out/README.md").read_text()
    assert "| NightlySettlementFailing | warning | `prometheus/rules/nightly-settlement.yml` |" in readme
    assert "OrdersConsumerPoisonMessages" in readme and "staging soak test" in readme  # accepted, with reason


@pytest.mark.parametrize(("edit", "where", "message"), [
    (lambda s: s["services"][3]["alerts"][0]["tests"][0]["input_series"][0].update(series="bad{job=x}"),
     "services[3].alerts[0].tests[0].input_series[0].series", "is not a series"),
    (lambda s: s["services"][3]["alerts"][0]["tests"][0]["input_series"][0].update(values="0+x3"),
     "services[3].alerts[0].tests[0].input_series[0].values", "promtool's notation"),
    (lambda s: s["proof"]["accept_unproven"].update(NoSuchAlert="because"),
     "proof.accept_unproven.NoSuchAlert", "no alert is named"),
])
def test_bad_alert_tests_and_acceptances_are_refused(tmp_path: Path, edit: Any, where: str, message: str) -> None:
    spec = yaml.safe_load(LEDGER.read_text())
    edit(spec)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    proc = obsgen("validate", str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert where in proc.stderr and message in proc.stderr and "Traceback" not in proc.stderr


def test_spec_alert_tests_run_in_promtool_and_catch_a_wrong_expectation(tmp_path: Path, promtool: str) -> None:
    out = tmp_path / "out"
    obsgen("render", str(LEDGER), "-o", str(out), "--quiet", check=True)
    test_file = out / "prometheus/tests/nightly-settlement.test.yml"
    ok = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    test_file.write_text(test_file.read_text().replace('team="ledger"}', 'team="payments"}'))
    broken = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True,
                            timeout=120)
    assert broken.returncode == 1 and "NightlySettlementFailing" in broken.stdout + broken.stderr


@pytest.mark.parametrize(("expr", "from_nothing"), [
    ("sum(orders_queue_depth) or vector(0)", True),
    ("absent(up{job=\"orders\"})", True),
    ("hour() > 22", True),
    ("42", True),
    ("time() - max(orders_last_success_timestamp_seconds)", False),  # scalar with an empty vector: nothing
    ('sum by (le) (rate(x_bucket{path="vector(1)"}[5m]))', False),  # inside a string
    ("max(orders_queue_depth) offset 5m", False),
])
def test_expressions_with_a_value_from_nothing(expr: str, from_nothing: bool) -> None:
    from obsgen.render.prometheus_tests import yields_without_series

    assert yields_without_series(expr) is from_nothing


def test_a_custom_threshold_with_a_value_from_nothing_is_unproven_and_its_tests_pass(tmp_path: Path,
                                                                                     promtool: str) -> None:
    """The recording rule of `... or vector(0)` writes the sample the tests would feed: generating them
    would make promtool fail (duplicate sample), so the alert is named unproven instead."""
    spec = yaml.safe_load(LEDGER.read_text())
    spec["services"][2]["thresholds"][0]["expr"] = "sum(kafka_consumergroup_lag_sum) or vector(0)"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    obsgen("render", str(path), "-o", str(out), "--quiet", check=True)
    name = spec["services"][2]["thresholds"][0]["name"]
    report = json.loads((out / "proof/alerts.json").read_text())
    lag = [a for a in report["alerts"] if a["alert"] == name]
    assert lag and all(not a["proven"] and "absent" in a["reason"] for a in lag)
    service = spec["services"][2]["name"]
    proc = subprocess.run([promtool, "test", "rules", f"prometheus/tests/{service}.test.yml"], cwd=out,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


REQUEST_RATE_SPEC = """
version: 1
project: {name: depot}
channels: {ops: {type: webhook, url: "http://hooks.depot.test/alerts"}}
routing: {default: ops}
services:
  - name: intake
    scrape: {static: ["intake:9000"]}
    thresholds:
      - {indicator: request_rate, direction: below, warning: 40, critical: 8, for: 30s}
      - {indicator: request_rate, name: IntakeRequestRateFloor, warning: 900, critical: 200,
         for: {warning: 1m, critical: 0s}}
  - name: relay
    scrape: {static: ["relay:9000"]}
    thresholds:
      - {indicator: request_rate, direction: below, warning: 3, critical: 1, for: {warning: 10m, critical: 2m}}
"""


def test_request_rate_thresholds_held_shorter_than_their_window_are_proven(tmp_path: Path, promtool: str) -> None:
    """A request rate is lower than the phase's until its 5m window holds no instant before the counter
    began; a `for` shorter than that once made the generated test assert the value too early (a failing
    test for a valid spec). Every level of these is proven, and promtool passes the tests."""
    path = tmp_path / "spec.yaml"
    path.write_text(REQUEST_RATE_SPEC)
    out = tmp_path / "out"
    obsgen("render", str(path), "-o", str(out), "--quiet", check=True)
    report = json.loads((out / "proof/alerts.json").read_text())
    rates = [a for a in report["alerts"] if "RequestRate" in a["alert"]]
    assert len(rates) == 6 and all(a["proven"] for a in rates), rates
    for service in ("intake", "relay"):
        proc = subprocess.run([promtool, "test", "rules", f"prometheus/tests/{service}.test.yml"], cwd=out,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
