"""Checks of the shaped tiers of an SLO (`alerting.page_alert` / `ticket_alert`, on an SLO or an SLO class).

Refused, at the field, with the reason and the fix:

- a label obsgen sets on every SLO alert (`alertname`, `service`, `slo`, `slo_id`, `tier`) or a `__` name:
  routing, inhibition and the generated proofs key on them; `severity`, which the tier's `severity:` sets;
  one of the SLO's `by` labels (the alert would carry one value for every group); the replica label of
  Prometheus in HA pairs (every replica drops it from its alerts). `team` and the service's own `labels:`
  may be overridden: that is how a page reaches another team's channels;
- an annotation that is no valid Go template;
- `name` on a class (an alert name belongs to one service: set it on the service's SLO);
- a ticket more severe than its page while both share the alert name: Alertmanager's severity inhibition
  (critical silences warning of the same alert name) would let the ticket silence the page.

The names themselves (CamelCase, the service's prefix, unique among all alerts) are checked with every other
alert name in `validate._check_services`.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import ha
from .errors import Path
from .models import DEFAULT_ALERTING, Service, SloAlerting, SloClassAlerting, SloTier, Spec

Found = Iterator[tuple[Path, str]]

# what obsgen sets on every SLO alert: a tier's labels may not replace it
OWNED = {
    "alertname": "Prometheus sets it to the alert's name (set `name:` instead)",
    "service": "the service's name sets it on every series and alert",
    "slo": "the SLO's name sets it", "slo_id": "obsgen sets it on every SLO series",
    "tier": "obsgen sets it to page or ticket, which the inhibition of tickets by pages follows",
    "severity": "the tier's `severity:` sets it",
}
RANK = {"info": 0, "warning": 1, "critical": 2}
TIERS = ("page", "ticket")


def problems(spec: Spec) -> Found:
    replica = ha.labels(spec)[1] if spec.stack.prometheus.replicas > 1 else None
    for cname, klass in spec.slo_classes.items():
        base: Path = ("slo_classes", cname, "alerting")
        for tier in TIERS:
            shape: SloTier = getattr(klass.alerting, f"{tier}_alert")
            if shape.name is not None:
                yield base + (f"{tier}_alert", "name"), (
                    "an alert name belongs to one service, and every service of the class would get it; name "
                    "the alert on the service's SLO (`services[].slos[].alerting`)")
            yield from _shape(shape, base + (f"{tier}_alert",), klass.by, replica)
    for i, svc in enumerate(spec.services):
        cls = spec.slo_classes.get(svc.class_) if svc.class_ else None
        class_slos = set()
        if cls is not None:
            class_slos = {n for n, on in (("availability", cls.availability is not None),
                                          ("latency", cls.latency is not None)) if on}
        for j, slo in enumerate(svc.slos):
            layers: list[SloClassAlerting | SloAlerting] = [cls.alerting] if cls is not None and slo.name in class_slos else []
            if slo.alerting is DEFAULT_ALERTING and not layers:
                continue  # most SLOs: obsgen's tiers alone, without labels or annotations, which have no problem
            base = ("services", i, "slos", j, "alerting")
            for tier in TIERS:
                yield from _shape(getattr(slo.alerting, f"{tier}_alert"), base + (f"{tier}_alert",), slo.by, replica)
            yield from _severities(svc, [*layers, slo.alerting], base)
        if cls is not None:
            for name in sorted(class_slos - {s.name for s in svc.slos}):
                yield from _severities(svc, [cls.alerting], ("slo_classes", svc.class_ or "", "alerting"),
                                       f" (for the {name} SLO of service {svc.name!r})")


def _shape(shape: SloTier, path: Path, by: list[str], replica: str | None) -> Found:
    if not shape.labels and not shape.annotations:  # most tiers: nothing to check (nor to import)
        return
    from .validate import _template_message, template_problem

    for name in shape.labels:
        where = path + ("labels", name)
        if name.startswith("__"):
            yield where, f"`{name}`: label names starting with `__` are Prometheus' own and dropped from alerts"
        elif name in OWNED:
            yield where, f"`{name}` is obsgen's: {OWNED[name]}; choose another label name"
        elif name in by:
            yield where, (f"`{name}` is a `by` label of the SLO: each group's alert carries its own value, which "
                          "this label would replace with one; choose another label name")
        elif name == replica:
            yield where, (f"`{name}` is the replica label of the Prometheus replicas, which every replica drops "
                          "from its alerts: the alert would lose it; choose another label name")
    for name, text in shape.annotations.items():
        problem = template_problem(text)
        if problem:
            yield path + ("annotations", name), _template_message(problem)


def _severities(svc: Service, layers: list[SloClassAlerting | SloAlerting], base: Path, note: str = "") -> Found:
    """A ticket above its page in severity under one alert name (the default name is shared)."""

    def pick(tier: str, attr: str) -> str | None:
        return next((v for x in reversed(layers) if (v := getattr(getattr(x, f"{tier}_alert"), attr)) is not None),
                    None)

    page_sev, ticket_sev = pick("page", "severity") or "critical", pick("ticket", "severity") or "warning"
    if pick("page", "name") == pick("ticket", "name") and RANK[ticket_sev] > RANK[page_sev]:
        yield base + ("ticket_alert", "severity"), (
            f"the ticket ({ticket_sev}) would be more severe than the page ({page_sev}) under the same alert name, "
            f"and Alertmanager's severity inhibition would let the ticket silence the page{note}; lower the "
            "ticket's severity or give page and ticket their own `name`")
