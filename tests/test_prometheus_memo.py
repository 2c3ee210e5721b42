"""What the Prometheus renderer keeps between the rules and the tests of a service: the SLO tiers once per
period, the SLO alerts' names and labels once per service, proof coverage read the same as without them."""

from __future__ import annotations

from typing import Any

from obsgen import coverage, slo
from obsgen.model import resolve
from obsgen.slo_math import tiers
from obsgen.slo_proofs import slo_alerts
from obsgen.spec import load_spec_text

PROJECT = """\
version: 1
project: {name: shop}
channels: {chat: {type: slack, channel: "#a", api_url_file: /s}}
routing: {default: chat}
"""
SPEC = PROJECT + """\
services:
  - name: checkout
    scrape: {static: ["checkout:8080"]}
    slos:
      - {name: availability, objective: 99.9, sli: {type: availability}}
      - {name: latency, objective: 99, period: 28d, sli: {type: latency, threshold: 250ms}}
  - name: cart
    scrape: {static: ["cart:8080"]}
    slos:
      - {name: availability, objective: 99.5, sli: {type: availability}, alerting: {page: false}}
"""


def _model():  # type: ignore[no-untyped-def]
    return resolve(load_spec_text(SPEC))


def test_slo_tiers_are_each_callers_own_list_of_the_periods_tiers() -> None:
    model = _model()
    a = model.service("checkout").slos[0]
    found = slo.slo_tiers(model, a)
    assert found == tiers(model.spec.defaults.slo_windows, a.period)
    found.clear()  # a caller's list: the next caller still gets every tier
    assert len(slo.slo_tiers(model, a)) == 4
    assert slo.slo_tiers(model, model.service("checkout").slos[1]) == tiers(model.spec.defaults.slo_windows, "28d")
    assert [t.tier for t in slo.enabled_tiers(model, model.service("cart").slos[0])] == ["ticket", "ticket"]


def _heads_of_rules(model, svc, s):  # type: ignore[no-untyped-def]
    return [(r["alert"], r["labels"], r.get("for")) for r in slo.alert_rules(model, svc, s)]


def test_alert_heads_are_the_alert_rules_of_that_service_and_slo() -> None:
    model = _model()
    checkout, cart = model.service("checkout"), model.service("cart")
    fresh = {s.id: slo_alerts(model, checkout, s) for s in checkout.slos}  # nothing kept yet
    slo.rule_groups(model, checkout)
    for s in checkout.slos:
        assert slo.alert_heads(model, checkout, s) == _heads_of_rules(model, checkout, s)
        assert slo_alerts(model, checkout, s) == fresh[s.id]
    # what was kept is checkout's: cart's are its own
    assert slo.alert_heads(model, cart, cart.slos[0]) == _heads_of_rules(model, cart, cart.slos[0])
    slo.rule_groups(model, cart)
    assert slo.alert_heads(model, checkout, checkout.slos[0]) == _heads_of_rules(model, checkout, checkout.slos[0])


def test_a_group_counts_once_however_many_of_its_checks_show_the_alert() -> None:
    rules = coverage.alert_rules({"prometheus/rules/a.yml": [{"name": "g", "rules": [
        {"alert": "AHigh", "expr": "x > 1", "labels": {"severity": "warning", "service": "a"}}]}]})

    def check(fired: bool) -> dict[str, object]:
        return {"eval_time": "1m", "alertname": "AHigh", "exp_alerts": [
            {"exp_labels": {"severity": "warning", "service": "a"}}] if fired else []}

    groups = [{"name": "one", "alert_rule_test": [check(True), check(True), check(False)]},
              {"name": "two", "alert_rule_test": [check(True)]},
              {"name": "one", "alert_rule_test": [check(True), check(False)]}]
    found = coverage.proofs(rules, {"prometheus/tests/a.test.yml": {"rule_files": ["../rules/a.yml"],
                                                                    "tests": groups}})
    assert found[0].fires == ["one", "two"] and found[0].silent == ["one"]
    # a label of the rule the expected alert lacks, or carries with another value: not fired
    wrong = [{"name": "x", "alert_rule_test": [{"eval_time": "1m", "alertname": "AHigh", "exp_alerts": [
        {"exp_labels": {"severity": "critical", "service": "a"}}, {"exp_labels": {"service": "a"}}]}]}]
    found = coverage.proofs(rules, {"prometheus/tests/a.test.yml": {"rule_files": ["../rules/a.yml"],
                                                                    "tests": wrong}})
    assert found[0].fires == [] and found[0].silent == ["x"]


THRESHOLDS = PROJECT + """\
services:
  - name: checkout
    scrape: {static: ["checkout:8080"]}
    thresholds:
      - {indicator: error_rate, warning: 0.5%, critical: 1%}
      - {indicator: latency_p95, target: 100ms, warning: 250ms, critical: 500ms}
  - name: cart
    team: web
    scrape: {static: ["cart:8080"]}
    thresholds:
      - {indicator: error_rate, warning: 0.5%, critical: 1%, for: {warning: 15m, critical: 2m}}
      - {indicator: latency_p95, target: 100ms, warning: 250ms, critical: 500ms, description: "p95 {{ $value }}"}
  - name: search
    scrape: {static: ["search:8080"]}
    thresholds:
      - {indicator: error_rate, warning: 0.50%, critical: 1.0%}
      - {indicator: latency_p95, warning: 250ms, critical: 500ms}
"""


def test_threshold_tests_are_each_services_own_whatever_was_planned_before() -> None:
    from obsgen.render import prometheus_tests as pt

    model = resolve(load_spec_text(THRESHOLDS))
    alone = {}
    for svc in model.services:
        pt._threshold_plan.cache_clear()
        alone[svc.name] = [pt.threshold_tests(svc, th) for th in svc.thresholds]
    pt._threshold_plan.cache_clear()
    in_a_row = {svc.name: [pt.threshold_tests(svc, th) for th in svc.thresholds] for svc in model.services}
    assert in_a_row == alone
    assert pt._threshold_plan.cache_info().hits >= 1  # search's error rate is checkout's, written otherwise
    # each threshold's own `for`s and levels: cart's warning waits 15m, its critical 2m; search's latency has no
    # target, so its silent phase is below the warning level, not at a target

    def checks(group: dict[str, Any]) -> list[tuple[str, list[str]]]:
        return [(c["eval_time"], [e["exp_labels"]["severity"] for e in c["exp_alerts"]]) for c in group["alert_rule_test"]]

    assert checks(alone["checkout"][0][2]) == [("5m", []), ("8m", ["warning", "critical"])]
    assert checks(alone["cart"][0][2]) == [("2m", []), ("15m", ["critical"]), ("18m", ["warning", "critical"])]
    assert alone["cart"][0][1]["name"] == "CartErrorRateHigh: fires warning only at 0.75%"
    assert alone["checkout"][1][0]["name"].endswith("silent inside the target at 95ms")
    assert alone["search"][1][0]["name"].endswith("silent inside the target at 237.5ms")
    assert alone["cart"][1][1]["alert_rule_test"][1]["exp_alerts"][0]["exp_annotations"]["description"] == "p95 0.4875"
