"""proof/routes.json: every alert obsgen writes, with the labels it carries at Alertmanager and the receivers
the spec routes it to; plus the inhibition and quiet hours the spec intends.

The route proofs (`obsgen.route_proof`, `obsgen.live`) hold the rendered Alertmanager configuration to this
file. The labels are read from the very rule data the rule files are dumped from (the rule's `labels:`, its
name, and the external labels its evaluator adds), the receivers from `routing_intent`, which reads the
spec's routing section and never the routing tree the Alertmanager renderer builds.

Per alert, `quiet_hours_receivers` (only when not empty) lists those of its receivers that quiet hours hold
back: notified only while the `quiet_hours.interval` of alertmanager.yml is active.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .. import routing_intent
from ..coverage import alerting
from ..model import Model, ServiceModel
from ..spec.models import Routing
from . import alertmanager, loki, prometheus
from .parts import Joined, Part, json_document, json_items

PATH = "proof/routes.json"
ALERTMANAGER = "alertmanager/alertmanager.yml"


def render(model: Model) -> dict[str, str]:
    parts = {key: part for svc in model.services for key, part in service_parts(model, svc).items()}
    return {PATH: join(model, parts).text}


def _external(model: Model) -> tuple[dict[str, str], dict[str, str]]:
    """The external labels Prometheus and the Loki ruler add (once per model: prometheus.yml's data is
    about every service)."""
    if "route-external" not in model.memo:
        model.memo["route-external"] = (prometheus.config(model)["global"]["external_labels"],
                                        loki.config(model)["ruler"].get("external_labels", {}))
    found: tuple[dict[str, str], dict[str, str]] = model.memo["route-external"]
    return found


def service_rule_files(model: Model, svc: ServiceModel) -> Iterator[tuple[str, list[dict[str, Any]], dict[str, str]]]:
    """(path, alerting rules, external labels of their evaluator) of the service's rule files."""
    prom_external, loki_external = _external(model)
    yield f"prometheus/rules/{svc.name}.yml", prometheus.service_alerting_rules(model, svc), prom_external
    if svc.log_alerts:
        yield f"loki/rules/{loki.TENANT}/{svc.name}.yml", alerting(loki.rule_groups(svc)), loki_external


def _stack_rule_file(model: Model) -> tuple[str, list[dict[str, Any]], dict[str, str]]:
    return "prometheus/rules/_stack.yml", alerting(prometheus.stack_rule_groups(model)), _external(model)[0]


def alert_labels(rule: dict[str, Any], external: dict[str, str]) -> dict[str, str]:
    """The labels an alert of this rule carries at Alertmanager, but those of the series it fires for:
    its name wins over its `labels:`, which win over the external labels the evaluator adds; a label set
    to the empty string is no label."""
    merged = {**external, **rule.get("labels", {}), "alertname": rule["alert"]}
    return {k: v for k, v in sorted(merged.items()) if v != ""}


def service_parts(model: Model, svc: ServiceModel) -> dict[str, Part]:
    """The alerts of each of the service's rule files (`obsgen.render.parts`), keyed by the file's path."""
    return {path: _part(model, path, rules, external)
            for path, rules, external in service_rule_files(model, svc)}


def join(model: Model, parts: Mapping[str, Part]) -> Joined:
    """The document from every rule file's part (the stack's made here), in the order of their paths."""
    routing = model.spec.routing
    stack = _stack_rule_file(model)
    all_parts = {**parts, stack[0]: _part(model, *stack)}
    return json_document({
        "alertmanager": ALERTMANAGER,
        "alerts": [],
        "inhibit": [dict(sorted(rule.items())) for rule in routing_intent.intended_inhibitions(routing)],
        "quiet_hours": _quiet_hours(routing),
        "routing_labels": sorted(routing_intent.routing_label_names(routing)),
    }, "alerts", sorted(all_parts.items()))


def _part(model: Model, path: str, rules: list[dict[str, Any]], external: dict[str, str]) -> Part:
    routing = model.spec.routing
    label_names = sorted(routing_intent.routing_label_names(routing))
    intent = model.memo.setdefault("route-intent", {})  # alerts equal on label_names route alike
    alerts = []
    for rule in rules:
        labels = alert_labels(rule, external)
        key = (labels["alertname"] == "Watchdog", *(labels.get(name) for name in label_names))
        if key not in intent:
            intent[key] = _intent(routing, labels)
        alerts.append({"alert": rule["alert"], "file": path, "labels": labels, **intent[key]})
    return Part(json_items(alerts, 2))


def _intent(routing: Routing, labels: dict[str, str]) -> dict[str, list[str]]:
    out = {}
    held_back = routing_intent.quiet_hours_receivers(routing, labels)
    if held_back:
        out["quiet_hours_receivers"] = held_back
    out["receivers"] = routing_intent.intended_receivers(routing, labels)
    return out


def _quiet_hours(routing: Routing) -> dict[str, Any] | None:
    q = routing.quiet_hours
    if q is None:
        return None
    return {
        "applies_to": routing_intent.quiet_hours_severities(routing),
        "interval": alertmanager.QUIET_HOURS,  # its name in alertmanager.yml
        "times": [q.times],
        "timezone": q.timezone,
        "weekdays": q.weekdays.split(","),
    }
