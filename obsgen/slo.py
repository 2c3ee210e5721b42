"""SLO engine: multiwindow multi-burn-rate recording rules, alerts, inhibitions and dashboard metadata.

Method: Google SRE Workbook, "Alerting on SLOs". Cost: the SLI's error and total rates are read from the
raw series once, over 5m; every longer window and the period are derived from those two recordings
(traffic-weighted: errors summed over the window divided by requests summed over it), so a 3d window
reads one recorded series instead of three days of every raw series of the service.

A plain average of 5m rates over a window W blurs both of its edges by the 5m the rates span: the
newest minutes count only partly, minutes from before W still count. The derived window therefore
sums the 5m rates over `W - 5m` (whose rates reach back exactly to the window's start) and adds the
newest 5m rate once more for half the base window (the part that sum under-counts). Traffic is counted
the same way, so a constant error ratio comes out unchanged, an outage's first minutes show up as fast
as in a raw `rate()`, and errors older than the window never count.

What evaluation costs (measured with `bench/bench_slo.py`, promtool 3.5): per rule and per selector
more than per sample while windows are short, so each derived window is two `sum_over_time` and two
instant selectors, nothing more (an earlier clamp "never fewer errors than the last 5m hold" doubled
that and no proof needed it). Not used, because they measured no cheaper in promtool: a separate rule
group with a longer `interval` for the slow windows (promtool evaluates every group at the test's
interval, so the proofs could not show that shape's timing, nor the bench a gain);
`sum_over_time(...[3d:5m])` subqueries (the engine still decodes every sample, and pays per step);
sparse 5m "tile" recordings (one sample per 5m: cheaper alone, no cheaper within the whole rule set).
obsgen's cost does not grow with the service's raw series; the naive shape's grows with them. Over
the proofs and a 3-day steady state with 50 instances, obsgen costs 0.16 of the naive shape (0.09 for
the windows alone); with 20 instances, 0.35 (0.22). An SLO with `by` records every series per group, so
each derived window reads two recorded series per group, and the gain follows the raw series per group
(`bench_slo.py --by-groups 50`, over the proofs: 0.21 of the naive shape with 16 instances per route, 0.55
with 4).

SLIs that count good events (events with `good`, bool_gauge, latency_native) record the 5m total first and the
errors as that recording minus the good events, so the raw series are still read once per side; a bool_gauge's
5m "rates" are sample counts (count_over_time, sum_over_time), which the windows add up like any other count.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from .gotemplate import go_literal
from .model import Model, ServiceModel, SloModel, TierShape, aggregation
from .promql import quote
from .slo_math import (
    BASE_SECONDS,
    BASE_WINDOW,
    Tier,
    exact,
    norm,
    seconds,
    slo_alert_name,
    threshold_literal,
    tiers,
)
from .units import fmt, format_duration

ERRORS = "slo:sli_errors:rate5m"  # errors per second over 5m (not for ratio SLIs)
TOTAL = "slo:sli_total:rate5m"  # requests (events) per second over 5m (not for ratio SLIs)
OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
TIME_PERIOD = "slo:time_period:days"
CURRENT_BURN_RATE = "slo:current_burn_rate:ratio"
PERIOD_BURN_RATE = "slo:period_burn_rate:ratio"
BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"
SLO_LABELS = ("service", "slo", "slo_id")  # on every SLO series, identical across rules

Rule = dict[str, Any]


def record_name(window: str) -> str:
    """`slo:sli_error:ratio_rate<window>`: the SLI's error ratio over a window (`5m`, `1h`, `30d`...)."""
    return f"slo:sli_error:ratio_rate{norm(window)}"


def slo_tiers(model: Model, slo: SloModel) -> list[Tier]:
    return list(_model_tiers(model, slo.period))


def _model_tiers(model: Model, period: str) -> tuple[Tier, ...]:
    # asked for a dozen times by each SLO's rules and proofs: once per period and model (the model's
    # `defaults.slo_windows` never change), each caller its own list
    key = ("slo-tiers", period)
    found: tuple[Tier, ...] | None = model.memo.get(key)
    if found is None:
        found = model.memo[key] = tuple(tiers(model.spec.defaults.slo_windows, period))
    return found


def enabled_tiers(model: Model, slo: SloModel) -> list[Tier]:
    return [t for t in _model_tiers(model, slo.period) if (slo.page if t.tier == "page" else slo.ticket)]


def windows(model: Model, slo: SloModel) -> list[str]:
    """Every window an SLO records, shortest first: 5m, the tiers' windows, the period."""
    found = {BASE_WINDOW, norm(slo.period)}
    for t in slo_tiers(model, slo):
        found.update((t.long, t.short))
    return sorted(found, key=seconds)


def labels(slo: SloModel) -> dict[str, str]:
    return {"service": slo.service, "slo": slo.name, "slo_id": slo.id}


def sel(metric: str, slo: SloModel) -> str:
    return f"{metric}{{slo_id={quote(slo.id)}}}"


def alert_names(svc: ServiceModel, slo: SloModel) -> dict[str, str]:
    """burn (the page's name, which the ticket shares by default), ticket_burn (only when the ticket's name is
    another), absent, exhausted."""
    names = {"burn": slo.shape("page").name}
    if slo.shape("ticket").name != names["burn"]:
        names["ticket_burn"] = slo.shape("ticket").name
    return {**names, **{kind: slo_alert_name(svc.name, slo.name, kind) for kind in ("absent", "exhausted")}}


# --------------------------------------------------------------------------- recordings


def _sli(query: str, window: str) -> str:
    return query.replace("{{window}}", window)


def _base_rules(slo: SloModel) -> list[Rule]:
    if slo.ratio_query is not None:
        avg = aggregation("avg", slo.by)
        return [{"record": record_name(BASE_WINDOW), "expr": f"{avg}({_sli(slo.ratio_query, BASE_WINDOW)})"}]
    assert slo.total_query is not None
    errors = _sli(slo.errors_query, BASE_WINDOW)
    total = _sli(slo.total_query, BASE_WINDOW)
    if slo.sli_type == "events":
        errors, total = f"{slo.sum}({errors})", f"{slo.sum}({total})"
    ratio = {"record": record_name(BASE_WINDOW), "expr": f"{sel(ERRORS, slo)} / {sel(TOTAL, slo)}"}
    if slo.good_query is not None:
        # errors are the total minus the good events, read from the total recorded just before (a rule reads
        # what the rules before it in its group recorded at the same evaluation); no good series means none
        good = _sli(slo.good_query, BASE_WINDOW)
        if slo.sli_type == "events":
            good = f"{slo.sum}({good})"
        on = f"on ({', '.join(slo.by)})"
        return [{"record": TOTAL, "expr": total},
                {"record": ERRORS, "expr": f"{sel(TOTAL, slo)} - {on} ({good} or {on} 0 * {sel(TOTAL, slo)})"},
                ratio]
    if slo.sli_type == "latency":  # a latency SLI's missing bucket must stay visible (absent alert)
        return [{"record": ERRORS, "expr": errors}, {"record": TOTAL, "expr": total}, ratio]
    # no error series yet means no errors
    if not slo.by:
        return [{"record": ERRORS, "expr": f"{errors} or vector(0)"}, {"record": TOTAL, "expr": total}, ratio]
    # per group: a group with requests and no error series has 0 errors. The total is recorded first: a rule
    # reads what the rules before it in its group recorded at the same evaluation, so the raw series are
    # read once per side, as without `by`.
    on = ", ".join(slo.by)
    return [{"record": TOTAL, "expr": total},
            {"record": ERRORS, "expr": f"{errors} or on ({on}) 0 * {sel(TOTAL, slo)}"}, ratio]


def _derived(model: Model, slo: SloModel, window: str) -> str:
    """Error ratio over `window` from the 5m recordings (see the module docstring for the correction).

    Both sides are counted in recorded samples (the evaluation interval cancels out); over a window that
    does not hold history yet (new rules) they count what there is, as a raw `rate()` would."""
    inner, newest = _derived_spans(window, model.evaluation_interval)

    def count(metric: str) -> str:
        s = sel(metric, slo)
        return f"sum_over_time({s}[{inner}]) + {s} * {newest}"

    if slo.ratio_query is not None:  # an error ratio only: every sample weighs the same
        r5m = sel(record_name(BASE_WINDOW), slo)
        return f"({count(record_name(BASE_WINDOW))})\n/\n(count_over_time({r5m}[{inner}]) + {newest})"
    return f"({count(ERRORS)})\n/\n({count(TOTAL)})"


@lru_cache(maxsize=256)  # a function of the two durations alone, which every SLO of a spec shares
def _derived_spans(window: str, evaluation_interval: str) -> tuple[str, str]:
    """The range of `_derived`'s sums over time, and the weight of its newest 5m sample (half the base window)."""
    return (format_duration(seconds(window) - BASE_SECONDS),
            exact(Fraction(BASE_SECONDS, 2 * seconds(evaluation_interval))))


def _naive(slo: SloModel, window: str) -> str:
    """The shape Sloth generates: every window a rate() over the raw series. Only `bench/bench_slo.py` uses it."""
    if slo.ratio_query is not None:
        return f"avg({_sli(slo.ratio_query, window)})"
    assert slo.total_query is not None
    if slo.good_query is not None:
        return f"1 - ({_sli(slo.good_query, window)})\n/\n({_sli(slo.total_query, window)})"
    return f"({_sli(slo.errors_query, window)})\n/\n({_sli(slo.total_query, window)})"


def recording_rules(model: Model, slo: SloModel, naive: bool = False) -> list[Rule]:
    rules = _base_rules(slo)
    period = norm(slo.period)
    for window in windows(model, slo):
        if window == BASE_WINDOW:
            continue
        if naive and window == period:  # Sloth also derives the period from its 5m ratio
            r5m = sel(record_name(BASE_WINDOW), slo)
            expr = f"sum_over_time({r5m}[{period}]) / count_over_time({r5m}[{period}])"
        else:
            expr = _naive(slo, window) if naive else _derived(model, slo, window)
        rules.append({"record": record_name(window), "expr": expr})
    budget = exact(slo.budget)
    rules += [
        {"record": OBJECTIVE, "expr": f"vector({exact(slo.target)})"},
        {"record": ERROR_BUDGET, "expr": f"vector({budget})"},
        {"record": TIME_PERIOD, "expr": f"vector({slo.period_days})"},
        {"record": CURRENT_BURN_RATE, "expr": f"{sel(record_name(BASE_WINDOW), slo)} / {budget}"},
        {"record": PERIOD_BURN_RATE, "expr": f"{sel(record_name(period), slo)} / {budget}"},
        {"record": BUDGET_REMAINING, "expr": f"1 - {sel(PERIOD_BURN_RATE, slo)}"},
    ]
    for rule in rules:
        rule["labels"] = labels(slo)
    if slo.sloth:
        rules += sloth_rules(model, slo)
    return rules


SLOTH_INFO = "sloth_slo_info"


def sloth_labels(slo: SloModel) -> dict[str, str]:
    """The labels Sloth puts on an SLO's series (its `sloth_id` is `<service>-<slo>`, as obsgen's `slo_id`)."""
    return {"sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.name}


def sloth_rules(model: Model, slo: SloModel) -> list[Rule]:
    """Sloth's series of an SLO, each a copy of obsgen's recording of the same name and value (recorded just
    before, in the same group) without obsgen's labels and with Sloth's: no raw series is read again, and
    obsgen's own selectors (`slo_id=...`) never see the copies. A group label of `by` stays."""
    keep = f"max without ({', '.join(SLO_LABELS)})"
    out = [{"record": record_name(w), "expr": f"{keep} ({sel(record_name(w), slo)})",
            "labels": {**sloth_labels(slo), "sloth_window": w}} for w in windows(model, slo)]
    out += [{"record": metric, "expr": f"{keep} ({sel(metric, slo)})", "labels": sloth_labels(slo)}
            for metric in (OBJECTIVE, ERROR_BUDGET, TIME_PERIOD, CURRENT_BURN_RATE, PERIOD_BURN_RATE,
                           BUDGET_REMAINING)]
    out.append({"record": SLOTH_INFO, "expr": "vector(1)",
                "labels": {**sloth_labels(slo), "sloth_objective": fmt(slo.objective)}})
    return out


# --------------------------------------------------------------------------- alerts


def threshold(slo: SloModel, tier: Tier) -> str:
    """The error ratio a tier compares both its windows with: factor × budget, exactly or rounded down."""
    return _threshold(slo.budget, tier.factor)


# Keyed on the two numbers it reads, all of its input: the SLOs of a fleet share a few objectives and tiers.
@lru_cache(maxsize=1024)
def _threshold(budget: Decimal, factor: Fraction) -> str:
    return threshold_literal(factor * Fraction(budget))


def _condition(slo: SloModel, tier: Tier) -> str:
    t = threshold(slo, tier)
    return f"{sel(record_name(tier.short), slo)} > {t} and {sel(record_name(tier.long), slo)} > {t}"


def _annotations(svc: ServiceModel, alert: str, summary: str, description: str) -> dict[str, str]:
    out = {"summary": summary, "description": description}
    runbook = svc.runbook_url(alert)
    if runbook:
        out["runbook_url"] = go_literal(runbook)
    if svc.dashboard_url:
        out["dashboard_url"] = go_literal(svc.dashboard_url)
    return out


def _alert(svc: ServiceModel, slo: SloModel, name: str, expr: str, severity: str, tier: str,
           summary: str, description: str, for_: str | None = None, shape: TierShape | None = None) -> Rule:
    """One SLO alert; `shape` (a burn-rate tier's) adds the spec's labels and annotations, which win over the
    service's labels and obsgen's annotations (validation keeps them off obsgen's own labels)."""
    rule: Rule = {"alert": name, "expr": expr}
    if for_:
        rule["for"] = for_
    extra_labels, extra_annotations = (shape.labels, shape.annotations) if shape else ({}, {})
    rule["labels"] = {"severity": severity, "tier": tier, **svc.labels, **extra_labels, **labels(slo)}
    rule["annotations"] = {**_annotations(svc, name, summary, description), **extra_annotations}
    return rule


def group(slo: SloModel) -> str:
    """` for endpoint {{ $labels.endpoint }}`: which group an alert of an SLO with `by` is about ('' without)."""
    if not slo.by:
        return ""
    return " for " + ", ".join(f"{label} {{{{ $labels.{label} }}}}" for label in slo.by)


def guard_bound(slo: SloModel) -> Decimal:
    """What the low-traffic guard compares the recorded total with: `min_request_rate` per second, or per
    5m when the SLI counts with `increase()` (an events SLI may), whose total is then events per 5m."""
    assert slo.total_query is not None
    per_5m = re.search(r"\bincrease\s*\(", slo.total_query) is not None
    return slo.min_request_rate * BASE_SECONDS if per_5m else slo.min_request_rate


def _burn_alert(model: Model, svc: ServiceModel, slo: SloModel, tier: str) -> Rule:
    ts = [t for t in slo_tiers(model, slo) if t.tier == tier]
    expr = "\n or\n".join(f"({_condition(slo, t)})" for t in ts)
    guard = slo.min_request_rate > 0 and slo.total_query is not None and tier == "page"
    if guard:  # low-traffic guard: a handful of failed requests at night does not page anyone
        expr = f"(\n{expr}\n)\nand {sel(TOTAL, slo)} >= {fmt(guard_bound(slo))}"
    speeds = " or ".join(f"{exact(t.factor)}× ({t.long} and {t.short})" for t in ts)
    spent = " / ".join(f"{fmt(t.share)}% in {t.long}" for t in ts)
    what = f"the {slo.name} SLO of {svc.name}{group(slo)} ({fmt(slo.objective)}% over {slo.period})"
    speed = "fast" if tier == "page" else "steadily"
    shape = slo.shape(tier)
    return _alert(
        svc, slo, shape.name, expr, shape.severity, tier,
        summary=f"The {slo.name} SLO of {svc.name} is burning its error budget {speed}.",
        description=(f"Error ratio {{{{ $value | humanizePercentage }}}} over the short window of {what}; "
                     f"this {tier} fires above {speeds} the budget rate, i.e. {spent} of the error budget."
                     + (f" Silent below {fmt(slo.min_request_rate)} requests/s"
                        f"{' per ' + ', '.join(slo.by) if slo.by else ''}." if guard else "")),
        for_=shape.for_, shape=shape,
    )


def alert_rules(model: Model, svc: ServiceModel, slo: SloModel) -> list[Rule]:
    if not (slo.page or slo.ticket):
        return []
    names = alert_names(svc, slo)
    rules = [_burn_alert(model, svc, slo, tier) for tier, on in (("page", slo.page), ("ticket", slo.ticket)) if on]
    if slo.ticket:
        rules.append(_alert(
            svc, slo, names["exhausted"], f"{sel(BUDGET_REMAINING, slo)} <= 0", "warning", "ticket",
            summary=f"The {slo.name} SLO of {svc.name} has used up its error budget.",
            description=(f"{{{{ $value | humanizePercentage }}}} of the error budget of the {slo.name} SLO"
                         f"{group(slo)} ({fmt(slo.objective)}% over {slo.period}) remains."),
            for_="5m",
        ))
    r5m = sel(record_name(BASE_WINDOW), slo)
    absent, gone = f"absent({r5m})", ""
    if slo.by:  # a group that had data within GROUP_LOOKBACK and has none, while other groups still have
        absent = (f"{absent}\nor\n(\n  (last_over_time({r5m}[{GROUP_LOOKBACK}]) unless {r5m})\n"
                  f"  and on (slo_id) {r5m}\n)")
        gone = (f" Per {', '.join(slo.by)}: also when one group that had data within the last {GROUP_LOOKBACK} "
                "has none now (the alert carries its labels), so its burn-rate alerts cannot fire; a group removed "
                f"on purpose fires this once, and it resolves {GROUP_LOOKBACK} after the group's last data.")
    rules.append(_alert(
        svc, slo, names["absent"], absent, "warning", "ticket",
        summary=f"The SLI of the {slo.name} SLO of {svc.name} has no data.",
        description=(f"The {slo.name} SLO cannot be evaluated: its SLI query returns nothing "
                     "(metrics missing, renamed, or a latency threshold that is not a bucket boundary)." + gone),
        for_="10m",
    ))
    return rules


GROUP_LOOKBACK = "1h"  # how long a vanished group of an SLO with `by` is missed (SliAbsent per group)


# --------------------------------------------------------------------------- the renderers' contract


def rule_groups(model: Model, svc: ServiceModel, naive: bool = False) -> list[dict[str, Any]]:
    """Per SLO: `<service>-slo-<slo>-recordings` and `<service>-slo-<slo>-alerts`."""
    groups = []
    heads = {}
    for slo in svc.slos:
        groups.append({"name": f"{svc.name}-slo-{slo.name}-recordings",
                       "rules": recording_rules(model, slo, naive)})
        alerts = alert_rules(model, svc, slo)
        heads[slo.id] = _heads(alerts)
        if alerts:
            groups.append({"name": f"{svc.name}-slo-{slo.name}-alerts", "rules": alerts})
    # the service's tests, built right after its rules, read these rather than build the alerts again;
    # the last service's only, so that the memo never grows with the fleet
    model.memo[_ALERT_HEADS] = (svc, heads)
    return groups


AlertHead = tuple[str, dict[str, str], str | None]  # an alert rule's name, labels and `for`
_ALERT_HEADS = "slo-alert-heads"  # model.memo's key of the last service's (service, {slo id: its heads})


def _heads(rules: list[Rule]) -> list[AlertHead]:
    return [(rule["alert"], dict(rule["labels"]), rule.get("for")) for rule in rules]


def alert_heads(model: Model, svc: ServiceModel, slo: SloModel) -> list[AlertHead]:
    """The name, labels and `for` of each of `alert_rules`, in its order: those `rule_groups` has just built
    for the service when it has, else built now. Callers do not change them."""
    last = model.memo.get(_ALERT_HEADS)
    if last is not None and last[0] is svc and slo.id in last[1]:
        found: list[AlertHead] = last[1][slo.id]
        return found
    return _heads(alert_rules(model, svc, slo))


def test_cases(model: Model, svc: ServiceModel) -> list[dict[str, Any]]:
    from .slo_proofs import proofs

    return [group for slo in svc.slos for group in proofs(model, svc, slo)]


def inhibit_rules(model: Model) -> list[dict[str, Any]]:
    """A page of an SLO silences the tickets of the same SLO."""
    if not any(slo.page and slo.ticket for svc in model.services for slo in svc.slos):
        return []
    # the group labels of SLOs with `by` too: a page of one route silences that route's tickets only (a label
    # neither alert has counts as equal, so SLOs without `by` are inhibited as before)
    grouped = sorted({label for svc in model.services for slo in svc.slos for label in slo.by})
    return [{"source_matchers": ['tier="page"'], "target_matchers": ['tier="ticket"'],
             "equal": [*SLO_LABELS, *grouped]}]


# --------------------------------------------------------------------------- dashboard metadata


def dashboard_meta(model: Model, svc: ServiceModel) -> list[dict[str, Any]]:
    """What an SLO dashboard draws, per SLO, as ready PromQL: no re-deriving of names or thresholds."""
    out = []
    for slo in svc.slos:
        period = norm(slo.period)
        out.append({
            "id": slo.id,
            "service": svc.name,
            "slo": slo.name,
            "description": slo.description,
            "sli_type": slo.sli_type,
            "objective_percent": fmt(slo.objective),
            "objective_ratio": exact(slo.target),
            "error_budget_ratio": exact(slo.budget),
            "period": period,
            "period_days": slo.period_days,
            "selector": f"slo_id={quote(slo.id)}",
            "by": list(slo.by),
            "queries": {
                "error_ratio": {w: sel(record_name(w), slo) for w in windows(model, slo)},
                "availability_period": f"1 - {sel(record_name(period), slo)}",
                "availability_5m": f"1 - {sel(record_name(BASE_WINDOW), slo)}",
                "objective": sel(OBJECTIVE, slo),
                "error_budget": sel(ERROR_BUDGET, slo),
                "budget_remaining": sel(BUDGET_REMAINING, slo),
                "current_burn_rate": sel(CURRENT_BURN_RATE, slo),
                "period_burn_rate": sel(PERIOD_BURN_RATE, slo),
                "request_rate": None if slo.ratio_query is not None else sel(TOTAL, slo),
                "error_rate": None if slo.ratio_query is not None else sel(ERRORS, slo),
            },
            "tiers": [{"tier": t.tier, "key": t.key, "long": t.long, "short": t.short,
                       "budget_share_percent": fmt(t.share), "burn_rate": exact(t.factor),
                       "error_ratio_threshold": threshold(slo, t), "enabled": t in enabled_tiers(model, slo)}
                      for t in slo_tiers(model, slo)],
            "alerts": alert_names(svc, slo),
        })
    return out
