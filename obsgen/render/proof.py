"""proof/alerts.json: every alert rule obsgen writes, and whether the generated tests prove it.

Coverage is counted by `obsgen.coverage` from the same rule groups and test data the rule and test files are
dumped from; `obsgen check` counts it again from the files on disk. What this file adds is what only the
generators know: why an alert they could not prove is unproven, and the spec's accepted exceptions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .. import coverage
from ..model import Model, ServiceModel
from . import loki, prometheus, prometheus_tests
from .parts import Joined, Part, json_document, json_items

PATH = "proof/alerts.json"
# model.memo: the sha256 of a text of this file, as a sink staged it -> what `read` reads from it, so that the
# README need not read the text back (a hundred MB at 10,000 services)
READ_MEMO = "proof-read"
LOKI_REASON = ("a LogQL alert of the Loki ruler: promtool evaluates PromQL only, and Loki has no offline "
               "rule test runner")


def render(model: Model) -> dict[str, str]:
    parts = {key: part for svc in model.services for key, part in service_parts(model, svc).items()}
    return {PATH: join(model, parts).text}


def summary_of(text: str) -> dict[str, int]:
    """The counts at the head of this file's text, read without parsing the whole (a hundred MB at 10,000
    services)."""
    key = '"summary": '
    counts, _ = json.JSONDecoder().raw_decode(text, text.index(key) + len(key))
    return dict(counts)


def read(text: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """The summary counts and the unproven entries of this file's text."""
    return summary_of(text), unproven_of(text)


def unproven_of(text: str) -> list[dict[str, Any]]:
    """The entries of this file's text that are not proven, each decoded alone: the entries are flat
    mappings two levels down, and a JSON string holds no raw newline, so the key at its indentation is an
    entry's own."""
    key = '\n      "proven": false'
    found = []
    decoder = json.JSONDecoder()
    at = text.find(key)
    while at >= 0:
        start = text.rindex("\n    {", 0, at) + 5
        found.append(decoder.raw_decode(text, start)[0])
        at = text.find(key, at + len(key))
    return found


def report(model: Model) -> dict[str, Any]:
    items = proofs(model)
    return {"summary": coverage.summary(items), "alerts": [_entry(p) for p in items]}


def service_parts(model: Model, svc: ServiceModel) -> dict[str, Part]:
    """The service's entries (`obsgen.render.parts`): those of its Prometheus rule file, and of its Loki
    rule file if it has one; each part's meta is its summary counts."""
    path = f"prometheus/rules/{svc.name}.yml"
    items = prometheus_tests.service_coverage(model, svc)
    gaps = prometheus_tests.proof_gaps(model, svc)
    for p in items:
        if not p.proven:
            p.reason = gaps.get(p.rule.alert)
    out = {path: _part(model, items)}
    if svc.log_alerts:
        loki_path = f"loki/rules/{loki.TENANT}/{svc.name}.yml"
        out[loki_path] = _part(model, _loki_proofs({loki_path: loki.rule_groups(svc)}))
    return out


def join(model: Model, parts: Mapping[str, Part]) -> Joined:
    """The report from every service's parts: the services' Prometheus entries in the spec's order, the
    stack's, then the services' Loki entries; the summary is the sum of the parts' counts."""
    stack = _part(model, _stack_proofs(model))
    prom = [(f"prometheus/rules/{svc.name}.yml", parts[f"prometheus/rules/{svc.name}.yml"])
            for svc in model.services]
    logs = [(key, parts[key]) for svc in model.services if svc.log_alerts
            for key in [f"loki/rules/{loki.TENANT}/{svc.name}.yml"]]
    ordered = [*prom, ("prometheus/rules/_stack.yml", stack), *logs]
    summary = {name: sum(part.meta[name] for _, part in ordered) for name in stack.meta}
    return json_document({"summary": summary, "alerts": []}, "alerts", ordered)


def proofs(model: Model) -> list[coverage.Proof]:
    items: list[coverage.Proof] = []
    gaps: dict[tuple[str, str], str] = {}
    for svc in model.services:
        path = f"prometheus/rules/{svc.name}.yml"
        items += prometheus_tests.service_coverage(model, svc)
        gaps.update({(path, alert): why for alert, why in prometheus_tests.proof_gaps(model, svc).items()})
    items += _stack_proofs(model)
    items += _loki_proofs({f"loki/rules/{loki.TENANT}/{svc.name}.yml": loki.rule_groups(svc)
                           for svc in model.services if svc.log_alerts})
    accepted = model.spec.proof.accept_unproven
    for p in items:
        if not p.proven:
            if p.rule.evaluator != "loki":
                p.reason = gaps.get((p.rule.file, p.rule.alert))
            p.accepted = accepted.get(p.rule.alert)
    return items


def _stack_proofs(model: Model) -> list[coverage.Proof]:
    stack = coverage.alert_rules({"prometheus/rules/_stack.yml": prometheus.stack_rule_groups(model)})
    return coverage.proofs(stack, {"prometheus/tests/_stack.test.yml": prometheus.stack_tests(model)})


def _loki_proofs(rules: dict[str, Any]) -> list[coverage.Proof]:
    items = coverage.proofs(coverage.alert_rules(rules, evaluator="loki"), {})
    for p in items:
        if not p.proven:
            p.reason = LOKI_REASON
    return items


def _part(model: Model, items: list[coverage.Proof]) -> Part:
    accepted = model.spec.proof.accept_unproven
    for p in items:
        if not p.proven:
            p.accepted = accepted.get(p.rule.alert)
    return Part(json_items([_entry(p) for p in items], 2), coverage.summary(items))


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
