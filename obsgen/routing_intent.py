"""Where the spec says an alert must go, computed from the spec's routing section alone.

This is the expectation the route proofs hold the rendered Alertmanager configuration to, so it never
reads the routing tree that `render/alertmanager.py` builds: it applies the spec's own rules, in the
order the spec documents them:

1. `Watchdog` goes to `routing.watchdog` (or nowhere) and nothing else;
2. the custom `routing.routes`, in order: a match adds its receivers, and stops the walk unless the
   route says `continue`;
3. the alert's team, for its severity, when the team names channels for it; else
4. its severity's channels; else
5. `routing.default`, unless a custom route matched already.

Quiet hours (`routing.quiet_hours`) hold back the channels of steps 3 and 4 for the severities they apply
to: those are notified only inside the interval. Custom routes and the default are never held back.

Inhibition (`routing.inhibit: true`): a critical alert silences the warning and info alerts of the same
alert name and service, a warning silences the info ones, and an SLO's page silences the ticket of the
same SLO (same service and SLO name).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .spec.models import Routing

NULL_RECEIVER = "obsgen-null"  # where Watchdog goes when the spec names no dead man's switch
# Alertmanager's matcher syntax: the value quoted (as the spec writes it) or not (`severity = critical`)
_MATCHER = re.compile(r'^\s*"?([^"\s=!~]+)"?\s*(=~|!~|!=|=)\s*(.*?)\s*$')


def parse_matcher(text: str) -> tuple[str, str, str]:
    """`name=~"value"` -> (name, op, value), the value unescaped as Alertmanager reads it."""
    m = _MATCHER.match(text)
    if m is None:
        raise ValueError(f"not a matcher: {text!r}")
    name, op, value = m.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = re.sub(r"\\(.)", lambda x: {"n": "\n"}.get(x.group(1), x.group(1)), value[1:-1])
    return name, op, value


def matches(matcher: str, labels: Mapping[str, str]) -> bool:
    """Alertmanager's semantics: a missing label is the empty string, regexes are anchored."""
    name, op, value = parse_matcher(matcher)
    actual = labels.get(name, "")
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    found = re.fullmatch(value, actual) is not None
    return found if op == "=~" else not found


def intended_receivers(routing: Routing, labels: Mapping[str, str]) -> list[str]:
    """The receivers, in the order Alertmanager notifies them, that an alert with `labels` must reach."""
    custom, by_team_or_severity = _walk(routing, labels)
    return custom + by_team_or_severity


def quiet_hours_receivers(routing: Routing, labels: Mapping[str, str]) -> list[str]:
    """Those of `intended_receivers` that quiet hours hold back: notified only inside the interval."""
    if labels.get("severity", "") not in quiet_hours_severities(routing):
        return []
    return _walk(routing, labels)[1]


def quiet_hours_severities(routing: Routing) -> list[str]:
    """The severities `routing.quiet_hours.applies_to` names (none without quiet hours)."""
    q = routing.quiet_hours
    if q is None:
        return []
    return [q.applies_to] if isinstance(q.applies_to, str) else list(q.applies_to)


def _walk(routing: Routing, labels: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(receivers of custom routes or the default, receivers by team or severity)."""
    if labels.get("alertname") == "Watchdog":
        return [routing.watchdog or NULL_RECEIVER], []
    reached: list[str] = []
    for route in routing.routes:
        if all(matches(m, labels) for m in route.matchers):
            reached += route.receivers
            if not route.continue_:
                return reached, []
    team, severity = labels.get("team", ""), labels.get("severity", "")
    by_severity = routing.teams.get(team, {})
    if severity in by_severity:
        return reached, list(by_severity[severity])
    if severity in routing.severity:
        return reached, list(routing.severity[severity])
    return reached or [routing.default], []


# An inhibition, as data: an alert whose labels are `source` silences every alert whose labels hold one of
# the values of `target`, when both carry the same values of the labels in `equal` (absent counts as equal,
# as in Alertmanager).
Inhibition = dict[str, Any]


def intended_inhibitions(routing: Routing) -> list[Inhibition]:
    """What `routing.inhibit` means, in the order documented above."""
    if not routing.inhibit:
        return []
    same_alert = ["alertname", "service"]
    return [
        {"source": {"severity": "critical"}, "target": {"severity": ["warning", "info"]}, "equal": same_alert},
        {"source": {"severity": "warning"}, "target": {"severity": ["info"]}, "equal": same_alert},
        {"source": {"tier": "page"}, "target": {"tier": ["ticket"]}, "equal": ["service", "slo"]},
    ]


def inhibits(rule: Inhibition, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
    """Whether the alert labelled `source` silences the one labelled `target` by this inhibition."""
    return (all(source.get(k, "") == v for k, v in rule["source"].items())
            and all(target.get(k, "") in values for k, values in rule["target"].items())
            and all(source.get(k, "") == target.get(k, "") for k in rule["equal"]))


def routing_label_names(routing: Routing) -> set[str]:
    """Every label a routing decision can depend on: two alerts equal on these go to the same places."""
    # `alertname` counts only when a custom route reads it: the Watchdog's own route is told apart by
    # whether the name is Watchdog, which the route proofs key on besides these labels
    names = {"team", "severity"}
    for route in routing.routes:
        names.update(parse_matcher(m)[0] for m in route.matchers)
    return names
