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

from collections.abc import Iterator
from typing import Any

from .. import routing_intent
from ..coverage import alerting
from ..model import Model
from ..spec.models import Routing
from . import alertmanager, loki, prometheus
from .common import dump_json

PATH = "proof/routes.json"
ALERTMANAGER = "alertmanager/alertmanager.yml"


def render(model: Model) -> dict[str, str]:
    return {PATH: dump_json(routes(model))}


def rule_files(model: Model) -> Iterator[tuple[str, list[dict[str, Any]], dict[str, str]]]:
    """(path, alerting rules, external labels of their evaluator) of every rule file obsgen writes."""
    prom_external = prometheus.config(model)["global"]["external_labels"]
    loki_external = loki.config(model)["ruler"].get("external_labels", {})
    for svc in model.services:
        yield f"prometheus/rules/{svc.name}.yml", prometheus.service_alerting_rules(model, svc), prom_external
        if svc.log_alerts:
            yield f"loki/rules/{loki.TENANT}/{svc.name}.yml", alerting(loki.rule_groups(svc)), loki_external
    yield "prometheus/rules/_stack.yml", alerting(prometheus.stack_rule_groups(model)), prom_external


def alert_labels(rule: dict[str, Any], external: dict[str, str]) -> dict[str, str]:
    """The labels an alert of this rule carries at Alertmanager, but those of the series it fires for:
    its name wins over its `labels:`, which win over the external labels the evaluator adds; a label set
    to the empty string is no label."""
    merged = {**external, **rule.get("labels", {}), "alertname": rule["alert"]}
    return {k: v for k, v in sorted(merged.items()) if v != ""}


def routes(model: Model) -> dict[str, Any]:
    routing = model.spec.routing
    label_names = sorted(routing_intent.routing_label_names(routing))
    intent: dict[tuple[object, ...], dict[str, list[str]]] = {}  # alerts equal on label_names route alike
    alerts = []
    for path, rules, external in sorted(rule_files(model), key=lambda f: f[0]):
        for rule in rules:
            labels = alert_labels(rule, external)
            key = (labels["alertname"] == "Watchdog", *(labels.get(name) for name in label_names))
            if key not in intent:
                intent[key] = _intent(routing, labels)
            alerts.append({"alert": rule["alert"], "file": path, "labels": labels, **intent[key]})
    return {
        "alertmanager": ALERTMANAGER,
        "alerts": alerts,
        "inhibit": [dict(sorted(rule.items())) for rule in routing_intent.intended_inhibitions(routing)],
        "quiet_hours": _quiet_hours(routing),
        "routing_labels": label_names,
    }


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
