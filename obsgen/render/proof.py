"""proof/alerts.json: every alert rule obsgen writes, and whether the generated tests prove it.

Coverage is counted by `obsgen.coverage` from the same rule groups and test data the rule and test files are
dumped from; `obsgen check` counts it again from the files on disk. What this file adds is what only the
generators know: why an alert they could not prove is unproven, and the spec's accepted exceptions.
"""

from __future__ import annotations

from typing import Any

from .. import coverage
from ..model import Model
from . import loki, prometheus, prometheus_tests
from .common import dump_json

PATH = "proof/alerts.json"
LOKI_REASON = ("a LogQL alert of the Loki ruler: promtool evaluates PromQL only, and Loki has no offline "
               "rule test runner")


def render(model: Model) -> dict[str, str]:
    return {PATH: dump_json(report(model))}


def report(model: Model) -> dict[str, Any]:
    items = proofs(model)
    return {"summary": coverage.summary(items), "alerts": [_entry(p) for p in items]}


def proofs(model: Model) -> list[coverage.Proof]:
    items: list[coverage.Proof] = []
    gaps: dict[tuple[str, str], str] = {}
    for svc in model.services:
        path = f"prometheus/rules/{svc.name}.yml"
        items += prometheus_tests.service_coverage(model, svc)
        gaps.update({(path, alert): why for alert, why in prometheus_tests.proof_gaps(model, svc).items()})
    stack = coverage.alert_rules({"prometheus/rules/_stack.yml": prometheus.stack_rule_groups(model)})
    items += coverage.proofs(stack, {"prometheus/tests/_stack.test.yml": prometheus.stack_tests(model)})
    loki_rules = {f"loki/rules/{loki.TENANT}/{svc.name}.yml": loki.rule_groups(svc)
                  for svc in model.services if svc.log_alerts}
    items += coverage.proofs(coverage.alert_rules(loki_rules, evaluator="loki"), {})
    accepted = model.spec.proof.accept_unproven
    for p in items:
        if not p.proven:
            p.reason = LOKI_REASON if p.rule.evaluator == "loki" else gaps.get((p.rule.file, p.rule.alert))
            p.accepted = accepted.get(p.rule.alert)
    return items


def _entry(p: coverage.Proof) -> dict[str, Any]:
    out: dict[str, Any] = {"alert": p.rule.alert, "file": p.rule.file, "severity": p.rule.severity,
                           "proven": p.proven}
    if p.proven:
        out["fires_in"] = p.fires[0]
        out["silent_in"] = p.silent[0] if p.silent else None  # None: a constant expression, never silent
    else:
        out["reason"] = p.why()
        if p.accepted:
            out["accepted"] = p.accepted
    return out
