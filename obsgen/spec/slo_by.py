"""Checks of `by:` on an SLO (and on an SLO class): the labels an SLO is judged per.

A `by` label must be one each group's series can carry and tell apart, and that obsgen's own labels do not
overwrite. Refused, at the list entry, with the reason and the fix:

- a label listed twice, or one starting with `__` (Prometheus' own);
- a label obsgen sets on every SLO alert or series (`severity`, `tier`, `slo`, `slo_id`, `service`,
  `alertname`, `team`), or one of the service's `labels:` (every alert carries that one value, so all groups'
  alerts would merge into one series);
- a label the SLI's selectors fix to one value (`job`: every group would be the same one), or the one that
  tells errors from all requests (availability: `status_label`; latency: `le`; events: a label the errors
  query matches other than the total query does): every group would be all errors or none;
- for events and ratio SLIs, a label the user's expression aggregates away (`sum(...)` keeps no label,
  `sum by (a)` only `a`, `... / on (a) ...` only `a`): the SLO's `sum by (<by>)` would see it empty.

What the raw series really carry is not known at validate time: a label they lack makes one group of every
series (its value empty), which the dashboard shows and the README states.

`obsgen.spec.validate._check` yields these.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import Path
from .expressions import SLI_WINDOW, parse_promql, value_type
from .models import Service, Sli, Spec

Found = Iterator[tuple[Path, str]]

# labels obsgen sets on every SLO series or alert (validate.OWNED_ALERT_LABELS, and the service's team)
OWNED = {
    "severity": "each alert's level sets it", "tier": "an SLO alert's page or ticket sets it",
    "slo": "the SLO's name sets it", "slo_id": "obsgen sets it on every SLO series",
    "service": "the service's name sets it on every series", "alertname": "Prometheus sets it to the alert's name",
    "team": "the service's `team` sets it on every target and alert",
}


_AVAILABILITY = Sli(type="availability")  # a class's availability SLI (frozen): one for every service


def problems(spec: Spec) -> Found:
    latency: dict[str, Sli] = {}  # each class's latency SLI, validated once for all its services
    for i, svc in enumerate(spec.services):
        for j, slo in enumerate(svc.slos):
            if slo.by:  # (no labels: nothing to check, most SLOs)
                yield from _check(spec, svc, slo.sli, slo.by, ("services", i, "slos", j, "by"), "")
        cls = spec.slo_classes.get(svc.class_) if svc.class_ else None
        if cls is None or not cls.by or svc.class_ is None:
            continue
        own = {slo.name for slo in svc.slos}
        where: Path = ("slo_classes", svc.class_, "by")
        note = f" (for service {svc.name!r}, which has this class)"
        if cls.availability is not None and "availability" not in own:
            yield from _check(spec, svc, _AVAILABILITY, cls.by, where, note)
        if cls.latency is not None and "latency" not in own:
            if svc.class_ not in latency:
                latency[svc.class_] = Sli(type="latency", threshold=cls.latency.threshold)
            yield from _check(spec, svc, latency[svc.class_], cls.by, where, note)
    for cname, cls in spec.slo_classes.items():
        if not any(s.class_ == cname for s in spec.services):  # the per-service checks cover the rest
            yield from _names(cls.by, ("slo_classes", cname, "by"))


def _names(by: list[str], path: Path) -> Found:
    for k, message in _name_problems(by):
        yield path + (k,), message


def _name_problems(by: list[str]) -> Iterator[tuple[int, str]]:
    seen: dict[str, int] = {}
    for k, label in enumerate(by):
        if label in seen:
            yield k, f"`{label}` is already listed at by[{seen[label]}]; list a label once"
        seen.setdefault(label, k)
        if label.startswith("__"):
            yield k, f"`{label}`: label names starting with `__` are Prometheus' own; no series carries one"
        elif label in OWNED:
            yield k, (f"`{label}` is obsgen's: {OWNED[label]}, so every group would carry one value; group by a "
                      "label of the SLI's own series (e.g. `endpoint`)")


def _check(spec: Spec, svc: Service, sli: Sli, by: list[str], path: Path, note: str) -> Found:
    reported: set[str] = set()
    for k, message in _name_problems(by):
        reported.add(by[k])
        yield path + (k,), message + note
    status = svc.metrics.status_label or spec.defaults.metrics.status_label
    for k, label in enumerate(by):
        if label in reported:
            continue
        reason = None
        if label in svc.labels:
            reason = ("is one of the service's `labels:`, which every alert carries with one value: the groups' "
                      "alerts would merge; choose another label")
        elif sli.type in ("availability", "latency") and label == "job":
            reason = "is the scrape job's, which the SLI's selectors fix to one value: there would be one group"
        elif sli.type == "availability" and label == status:
            reason = ("is the `status_label` the SLI tells errors by: every group would be all errors or none; "
                      "group by another label")
        elif sli.type == "latency" and label == "le":
            reason = ("is the histogram's bucket boundary the SLI reads one bucket of: every group would be all "
                      "errors or none; group by another label")
        elif sli.type == "events" and sli.events is not None:
            told = ("good", sli.events.good) if sli.events.good is not None else ("errors", sli.events.errors or "")
            reason = _events_reason(told[1], sli.events.total, label, told[0])
        elif sli.type in ("bool_gauge", "latency_native") and sli.metric:
            reason = _metric_reason(sli.metric, label)
        elif sli.type == "ratio" and sli.expr:
            reason = _query_reason(sli.expr, label, "sli.expr")
        if reason:
            yield path + (k,), f"`{label}` {reason}{note}"


def _tree(query: str) -> tuple[Any, Any] | None:
    return parse_promql(query.replace("{{window}}", SLI_WINDOW))


def _query_reason(query: str, label: str, where: str) -> str | None:
    parsed = _tree(query)
    if parsed is None:  # its own field reports why it does not parse
        return None
    pp, tree = parsed
    dropped = drops(pp, tree, label)
    if dropped:
        return (f"is aggregated away by {where} ({dropped}), so every group would be one; keep it, e.g. "
                f"`sum by ({label}) (...)`")
    return None


def _metric_reason(metric: str, label: str) -> str | None:
    parsed = _tree(metric)
    if parsed is None:  # its own field reports why it does not parse
        return None
    found = _matchers(parsed[0], parsed[1], label)
    if found and all(len(m) == 1 and next(iter(m))[0] == "=" for m in found):
        return "is fixed to one value by the SLI's `metric`: there would be one group"
    return None


def _events_reason(errors: str, total: str, label: str, told: str = "errors") -> str | None:
    for query, where in ((errors, f"sli.events.{told}"), (total, "sli.events.total")):
        reason = _query_reason(query, label, where)
        if reason:
            return reason
    parsed = [_tree(q) for q in (errors, total)]
    if any(p is None for p in parsed):
        return None
    found = [_matchers(p[0], p[1], label) for p in parsed if p is not None]
    total_has = frozenset.intersection(*found[1]) if found[1] else frozenset()
    if frozenset().union(*found[0]) - total_has:  # errors are told apart from all events by this label
        return (f"is matched by sli.events.{told} other than by sli.events.total: it tells {told} from all events, "
                "so every group would be all errors or none; group by another label")
    every = [m for sels in found for m in sels]
    if every and len(set(every)) == 1 and len(every[0]) == 1 and next(iter(every[0]))[0] == "=":
        return "is fixed to one value by every selector of the SLI: there would be one group"
    return None


def _matchers(pp: Any, tree: Any, label: str) -> list[frozenset[tuple[str, str]]]:
    """The matchers on `label` of each selector of the tree (op, value), one set per selector."""
    from .expressions import nodes

    out = []
    for node in nodes(pp, tree):
        if isinstance(node, pp.VectorSelector):
            out.append(frozenset((_OPS.get(str(m.op), str(m.op)), m.value) for m in node.matchers.matchers
                                 if m.name == label))
    return sorted(out, key=sorted)


_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
_KEEPS_LABELS = ("topk", "bottomk", "limitk", "limit_ratio")  # aggregations that return their input series
_NO_LABELS = ("vector", "time", "scalar", "pi")


def drops(pp: Any, node: Any, label: str) -> str | None:
    """What in the expression's tree keeps `label` off its result series (None: its series may carry it)."""
    while isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
        node = node.expr
    if isinstance(node, (pp.VectorSelector, pp.MatrixSelector)):
        return None
    if isinstance(node, (pp.NumberLiteral, pp.StringLiteral)):
        return "a number has no labels"
    if isinstance(node, pp.AggregateExpr):
        op, mod = str(node.op), node.modifier
        if op in _KEEPS_LABELS:
            return drops(pp, node.expr, label)
        if mod is None:
            return f"`{op}(...)` keeps no label"
        kept = list(mod.labels)
        if mod.type == pp.AggModifierType.By and label not in kept:
            return f"`{op} by ({', '.join(kept)})` keeps only those"
        if mod.type == pp.AggModifierType.Without and label in kept:
            return f"`{op} without ({', '.join(kept)})` drops it"
        return drops(pp, node.expr, label)
    if isinstance(node, pp.Call):
        name = node.func.name
        if name in _NO_LABELS:
            return f"`{name}()` has no labels"
        if name in ("label_replace", "label_join") and len(node.args) > 1 and \
                isinstance(node.args[1], pp.StringLiteral) and node.args[1].val == label:
            return None  # it sets the label
        if name in ("absent", "absent_over_time"):
            return f"`{name}()` returns only its selector's equality matchers"
        inner = [a for a in node.args if not isinstance(a, (pp.NumberLiteral, pp.StringLiteral))]
        return drops(pp, inner[0], label) if inner else f"`{name}()` has no labels"
    if isinstance(node, pp.BinaryExpr):
        scalar = [value_type(pp, side) == "scalar" for side in (node.lhs, node.rhs)]
        if all(scalar):
            return "a number has no labels"
        if scalar[0] or scalar[1]:
            return drops(pp, node.rhs if scalar[0] else node.lhs, label)
        op, mod = str(node.op), node.modifier
        if op == "or":
            return drops(pp, node.lhs, label) or drops(pp, node.rhs, label)
        if op in ("and", "unless"):
            return drops(pp, node.lhs, label)
        matching = mod.matching if mod is not None else None
        card = mod.card if mod is not None else None
        if card == pp.VectorMatchCardinality.OneToMany:
            side, extra = node.rhs, list(mod.group_labels or [])
            if label in extra:
                return drops(pp, node.lhs, label)
            return drops(pp, side, label)
        if card == pp.VectorMatchCardinality.ManyToOne:
            if label in list(mod.group_labels or []):
                return drops(pp, node.rhs, label)
            return drops(pp, node.lhs, label)
        if matching is not None:
            listed = list(matching.labels)
            if matching.type == pp.LabelModifierType.Include and label not in listed:
                return f"`{op} on ({', '.join(listed)})` keeps only those"
            if matching.type == pp.LabelModifierType.Exclude and label in listed:
                return f"`{op} ignoring ({', '.join(listed)})` drops it"
        return drops(pp, node.lhs, label) or drops(pp, node.rhs, label)
    return None
