"""`obsgen import openslo --prove`: the OpenSLO documents' own meaning beside obsgen's rules, through promtool.

OpenSLO defines no rules; its documents mean (the v1 spec, AlertCondition): a `kind: burnrate` condition
fires while the burn rate over its `lookbackWindow` compares by `op` to `threshold`, once that has held for
`alertAfter`; the burn rate is the error ratio over the window divided by the budget, 1 - the objective's
`target` (budgetingMethod Occurrences: bad events / all events; a rolling timeWindow). That is rendered here
as one Prometheus alerting rule per condition (`OpenSloSource`, labelled with the SLO and the condition):
`(<bad> / <total> over lookbackWindow) / (1 - target) <op> threshold`, `for: alertAfter`, from the SLI's
own queries.

The scenarios, the measuring and the report are `sloth_proof`'s (a total outage after an hour of good
traffic, errors at 2x and at half the budget rate, fed the raw series obsgen's own proofs synthesize), each
scenario as long as its slowest condition needs. Each condition is compared with the obsgen tier it fills:
wherever a page condition fires, obsgen pages no later than two evaluations after it. Where obsgen maps a
condition inexactly (its added short window, one `for` per tier, a threshold written as a share of the
budget, `gte`), the difference is listed with the reason, as the written spec's comments say. An SLO
obsgen cannot synthesize input for, or one without conditions, is said and not compared. obsgen's side is
its burn-rate alerts of the SLO and the recordings they read (the period-long ones only the budget alerts
read are left out: promtool evaluates every rule at every step).
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..model import Model, ServiceModel, SloModel
from ..render.common import dump_yaml
from ..slo import enabled_tiers
from ..slo_math import BASE_SECONDS, seconds
from ..slo_proofs import Scenario, _input, counters, group_values, in_group, proof_gap, slo_alerts
from ..units import format_duration
from .openslo import Condition, OpenSloSlo
from .sloth_proof import WARM, Compared, _first, _promtool, compare, obsgen_rules, report, run

SOURCE = "OpenSLO"
ALERT = "OpenSloSource"
OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
LONGEST = 12 * 3600  # seconds a scenario may last after the warm-up: promtool evaluates every rule at each step


def _ratio(sli: Any, window: str) -> str | None:
    """The SLI's error ratio over `window`, from its own queries (None: a ratio SLI, which has no events)."""
    events = sli.get("events") if hasattr(sli, "get") else None
    if not events:
        return None
    total = f"({events['total'].replace('{{window}}', window)})"
    if "errors" in events:
        return f"({events['errors'].replace('{{window}}', window)})\n/\n{total}"
    return f"(1 - ({events['good'].replace('{{window}}', window)})\n/\n{total})"


def source_rules(rec: OpenSloSlo, slo_id: str) -> list[dict[str, Any]]:
    """One alerting rule per AlertCondition of the SLO, as OpenSLO defines the condition."""
    budget = repr(1 - float(rec.objective) / 100)  # 1 - target, in float64
    rules: list[dict[str, Any]] = []
    for k, c in enumerate(rec.conditions):
        ratio = _ratio(rec.sli, format_duration(c.lookback))
        assert ratio is not None
        rule: dict[str, Any] = {"alert": ALERT, "expr": f"({ratio})\n/ {budget} {OPS[c.op]} {c.threshold}",
                                "labels": {"openslo_slo": slo_id, "openslo_condition": str(k)}}
        if c.alert_after:
            rule["for"] = format_duration(c.alert_after)
        rules.append(rule)
    return rules


def _fires_after(m: Fraction, c: Condition) -> int | None:
    """Seconds after the warm-up until an error ratio of `m` × the budget takes the condition's burn rate above
    its threshold (the window averages the warm-up's good traffic while it reaches back into it); None: never."""
    k = Fraction(c.threshold)
    if m <= k:
        return None
    t = k * WARM / (m - k)
    if WARM + t > c.lookback:  # the window is all errors by then
        t = k * c.lookback / m
    return int(t) + 1


def differences(model: Model, svc: ServiceModel, slo: SloModel, c: Condition, others: list[Condition],
                for_s: int) -> list[str]:
    """Where obsgen's tier differs from the condition by construction, each with the reason."""
    out = []
    mine = [t for t in enabled_tiers(model, slo) if t.tier == c.tier and t.long_seconds == c.lookback]
    if not mine:
        return [f"obsgen has no {c.tier} tier over {format_duration(c.lookback)}"]
    t = mine[0]
    if Fraction(t.factor) != Fraction(c.threshold):
        out.append(f"obsgen's threshold is {float(t.factor):.17g}x the budget rate, the condition's {c.threshold}x "
                   f"(the tier's share of the budget, {t.share}%, a float of the spec never above the condition's)")
    out.append(f"obsgen also needs the burn rate over its short window {t.short} (1/12 of the lookback window) "
               "above the threshold, which OpenSLO does not: it stops firing sooner once errors stop")
    if for_s != c.alert_after:
        out.append(f"obsgen waits {format_duration(for_s) or '0s'} (`for`), the condition's alertAfter is "
                   f"{format_duration(c.alert_after) or '0s'}: obsgen has one `for` per tier, the shorter of its "
                   "conditions'")
    if c.op == "gte":
        out.append("the condition fires at the threshold (op gte), obsgen only above it")
    same = [o.name for o in others if o is not c and o.tier == c.tier]
    if same:
        out.append(f"obsgen's {c.tier} alert is one for the tier: it also fires on {', '.join(same)}")
    return out


def prove_slo(tool: str, model: Model, svc: ServiceModel, slo: SloModel, rec: OpenSloSlo,
              only: tuple[str, ...] = ()) -> Compared:
    """The comparison of one SLO's conditions (`only`: of these scenarios alone)."""
    title = f"{svc.name}/{slo.name} ({rec.where})"
    if not rec.conditions:
        return Compared(title, ["  not compared: the SLO has no burn-rate conditions in OpenSLO"], True, False)
    gap = proof_gap(svc, slo)
    raw = counters(svc, slo)
    if raw is None or gap is not None or _ratio(rec.sli, "5m") is None:
        return Compared(title, [f"  not compared: obsgen cannot synthesize input for this SLI: {gap or 'a ratio SLI'}"],
                        True, False)
    eval_s = seconds(model.evaluation_interval)
    step = min(seconds(model.scrape_interval), 60)
    cs = in_group(raw, group_values(svc, slo, 1)[0])
    alerts = slo_alerts(model, svc, slo)
    budget = Fraction(slo.budget)
    waits = [c.alert_after for c in rec.conditions] + [a.for_s for a in alerts.values()]
    detect = max(Fraction(c.lookback) * Fraction(c.threshold) * budget for c in rec.conditions)
    scenarios = []
    for name, m in (("a total outage", 1 / budget), ("errors at 2x the budget rate", Fraction(2)),
                    ("errors at half the budget rate", Fraction(1, 2))):
        ratio = min(Fraction(1), m * budget)
        if m == 1 / budget:
            length = max(900, int(2 * detect) + BASE_SECONDS + max(waits))
        else:
            fire = [t + c.alert_after for c in rec.conditions if (t := _fires_after(ratio / budget, c)) is not None]
            length = min(LONGEST, max([3600] + [f + 2 * eval_s + BASE_SECONDS for f in fire]))
        if not only or name in only:
            scenarios.append((name, ratio, length))
    sid = slo.id
    groups: list[dict[str, Any]] = []
    plans: dict[int, list[tuple[str, str, str, str]]] = {k: [] for k in range(len(rec.conditions))}
    for name, ratio, length in scenarios:
        end = WARM + length
        scenario = Scenario(step, [(WARM, Fraction(0)), (length + step, ratio)], Decimal(10))
        checks: list[dict[str, Any]] = []
        for k, c in enumerate(rec.conditions):
            if c.tier not in alerts:
                continue
            theirs = f'ALERTS{{alertname="{ALERT}", alertstate="firing", openslo_slo="{sid}", openslo_condition="{k}"}}'
            for who, sel in (("obsgen", alerts[c.tier].selector), (SOURCE, theirs)):
                expr = _first(sel, end, eval_s)
                if not any(x["expr"] == expr for x in checks):
                    checks.append({"expr": expr, "eval_time": f"{end}s", "exp_samples": []})
                plans[k].append((name, who, c.tier, expr))
        groups.append({"name": f"{title}: {name}", "interval": f"{step}s", "input_series": _input(cs, scenario),
                       "promql_expr_test": checks})
    mine = obsgen_rules(model, svc, slo, [alerts[t].name for t in ("page", "ticket") if t in alerts])
    files = {"obsgen.yml": mine,
             "openslo.yml": dump_yaml({"groups": [{"name": f"openslo-{sid}", "rules": source_rules(rec, sid)}]})}
    with tempfile.TemporaryDirectory(prefix="obsgen-prove-") as tmp:
        got = run(tool, Path(tmp), files, model.evaluation_interval, groups)
    lines, ok, gap_s = [], True, 0.0
    for k, c in enumerate(rec.conditions):
        lines.append(f"  condition {c.name} ({c.where}): {c.tier}, burn rate over {format_duration(c.lookback)} "
                     f"{c.op} {c.threshold}, alertAfter {format_duration(c.alert_after) or '0s'}")
        if c.tier not in alerts:
            lines.append(f"    differs: obsgen has no {c.tier} alert for this SLO")
            continue
        one = compare(SOURCE, model, title, [s[0] for s in scenarios], plans[k], got)
        lines += ["  " + line for line in one.lines]
        lines += [f"    differs by mapping: {d}" for d in differences(model, svc, slo, c, rec.conditions,
                                                                        alerts[c.tier].for_s)]
        ok = ok and one.ok
        gap_s = max(gap_s, one.max_gap)
    return Compared(title, lines, ok, True, gap_s)


def prove_all(model: Model, records: list[OpenSloSlo], strict: bool = False) -> tuple[str, bool]:
    """The report, and whether the bound held everywhere (and, with `strict`, every SLO was compared)."""
    tool = _promtool()
    results = []
    for rec in records:
        svc = model.service(rec.service)
        slo = next(s for s in svc.slos if s.name == rec.slo)
        results.append(prove_slo(tool, model, svc, slo, rec))
    return report(SOURCE, model, results, strict)
