"""`obsgen import pyrra --prove`: Pyrra's own rules beside obsgen's, through promtool, on the same input.

Pyrra's rules are rendered here from its documented formulas (its slo/rules.go): per window of its four
alerts a burn-rate recording over that window — `errors / total` (the imported events queries) of a ratio or
latency indicator, `1 - histogram_fraction(0, <latency>, sum(rate(<native histogram>)))` of a latencyNative
one, `(count_over_time - sum_over_time) / count_over_time` of a bool_gauge's samples — and per alert
`<short> > (factor * (1-target)) and <long> > (factor * (1-target))` with the alert's own `for`; the two
critical alerts are the page, the two warning ones the ticket; windows are `pyrra.pyrra_windows` (period /
28d, rounded to the minute, factors 14, 7, 2, 1). They are recorded under their own names
(`pyrra_proof:...`), so they never meet obsgen's series.

The scenarios, the measuring and the bound are `sloth_proof`'s: a total outage, errors at 2x and at half
the budget rate, fed the raw series obsgen's own proofs synthesize (a native histogram, a 0/1 gauge on its
fine sample interval, for those SLIs); wherever Pyrra pages, obsgen pages too,
no later than two evaluation intervals after it; so are the group order (recordings first, every group
listed), the pruning of obsgen's rules to those the measured alerts read and the parallel runs. An SLO
obsgen cannot synthesize input for, or one without burn-rate alerts, is said and not compared (a failure under
--strict).
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..model import Model, ServiceModel, SloModel
from ..render.common import dump_yaml
from ..slo import enabled_tiers
from ..slo_math import BASE_SECONDS, seconds
from ..slo_proofs import Scenario, _input, _interval, group_values, in_group, proof_input, slo_alerts
from ..units import format_duration
from .pyrra import PyrraSlo
from .sloth_proof import WARM, Compared, _first, _promtool, compare, obsgen_rules, prove_each, report, run

RECORD = "pyrra_proof:burnrate{window}"


def pyrra_rules(rec: PyrraSlo) -> list[dict[str, Any]]:
    """Pyrra's burn-rate recordings and alerts of one SLO, from its documented formulas."""
    labels = {"pyrra_slo": rec.pyrra_name}
    windows = sorted({s for w in rec.windows for s in (w.short, w.long)})
    rules: list[dict[str, Any]] = []
    for s in windows:
        win = format_duration(s)
        if rec.burnrate is not None:
            expr = rec.burnrate.replace("{{window}}", win)
        else:
            assert rec.errors is not None and rec.total is not None
            expr = f"({rec.errors.replace('{{window}}', win)})\n/\n({rec.total.replace('{{window}}', win)})"
        rules.append({"record": RECORD.format(window=win), "labels": labels, "expr": expr})
    sel = f'pyrra_slo="{rec.pyrra_name}"'
    target = repr(float(rec.target) / 100)  # Pyrra's target, a float64 of 0-1
    for w in rec.windows:
        tier = "page" if w.key.startswith("page") else "ticket"
        short, long = RECORD.format(window=format_duration(w.short)), RECORD.format(window=format_duration(w.long))
        rule: dict[str, Any] = {
            "alert": f"PyrraSource{tier.title()}",
            "expr": f"{short}{{{sel}}} > ({w.factor} * (1-{target})) and {long}{{{sel}}} > ({w.factor} * (1-{target}))",
            # Pyrra's own short and long labels tell its two alerts of a severity apart
            "labels": {"pyrra_severity": tier, "short": format_duration(w.short), "long": format_duration(w.long),
                       **labels}}
        if w.for_:
            rule["for"] = format_duration(w.for_)
        rules.append(rule)
    return rules


def prove_slo(tool: str, model: Model, svc: ServiceModel, slo: SloModel, rec: PyrraSlo,
              only: Collection[str] = ()) -> Compared:
    """The comparison of one SLO; `only`: the names of the scenarios to run (all when empty)."""
    title = f"{svc.name}/{slo.name} ({rec.where})"
    if not rec.alerting:
        return Compared(title, ["  not compared: the SLO has no burn-rate alerts in Pyrra (nor in obsgen's import)"],
                        True, False)
    raw = proof_input(svc, slo)
    if isinstance(raw, str):
        return Compared(title, [f"  not compared: obsgen cannot synthesize input for this SLI: {raw}"], True, False)
    eval_s = seconds(model.evaluation_interval)
    step = min(seconds(model.scrape_interval), 60)
    cs = in_group(raw, group_values(svc, slo, 1)[0])
    alerts = slo_alerts(model, svc, slo)
    ours = {tier: alerts[tier].selector for tier in ("page", "ticket") if tier in alerts}
    # only the tiers obsgen has: a Pyrra tier obsgen lacks is not compared
    theirs = {tier: f'ALERTS{{alertname="PyrraSource{tier.title()}", alertstate="firing", '
                    f'pyrra_slo="{rec.pyrra_name}"}}' for tier in ours}
    budget = Fraction(slo.budget)
    detect = max(min(t.long_seconds * t.factor * budget for t in enabled_tiers(model, slo)),
                 min(w.long * w.factor * budget for w in rec.windows if w.key.startswith("page")))
    wait = max(w.for_ for w in rec.windows if w.key.startswith("page"))
    scenarios = [("a total outage", Fraction(1), max(900, int(2 * detect) + BASE_SECONDS + wait)),
                 ("errors at 2x the budget rate", min(Fraction(1), 2 * budget), 2 * 3600),
                 ("errors at half the budget rate", budget / 2, 3600)]
    scenarios = [sc for sc in scenarios if not only or sc[0] in only]
    groups, plan = [], []
    for name, ratio, length in scenarios:
        end = WARM + length
        scenario = Scenario(step, [(WARM, Fraction(0)), (length + step, ratio)], Decimal(10))
        checks = []
        for who, sels in (("obsgen", ours), ("Pyrra", theirs)):
            for tier, sel in sels.items():
                expr = _first(sel, end, eval_s)
                checks.append({"expr": expr, "eval_time": f"{end}s", "exp_samples": []})
                plan.append((name, who, tier, expr))
        # a gauge's samples come finer than the step (whole zeros per 5m): the group's interval is theirs
        groups.append({"name": f"{title}: {name}", "interval": _interval(cs, scenario),
                       "input_series": _input(cs, scenario),
                       "promql_expr_test": checks})
    files = {"obsgen.yml": obsgen_rules(model, svc, slo, {alerts[t].name for t in ours}),
             "pyrra.yml": dump_yaml({"groups": [{"name": f"pyrra-{rec.pyrra_name}", "rules": pyrra_rules(rec)}]})}
    with tempfile.TemporaryDirectory(prefix="obsgen-prove-") as tmp:
        got = run(tool, Path(tmp), files, model.evaluation_interval, groups)
    return compare("Pyrra", model, title, [name for name, _, _ in scenarios], plan, got)


def prove_all(model: Model, records: list[PyrraSlo], strict: bool = False) -> tuple[str, bool]:
    """The report, and whether the bound held everywhere (and, with `strict`, every SLO was compared)."""
    tool = _promtool()

    def one(rec: PyrraSlo) -> Compared:
        svc = model.service(rec.service)
        slo = next(s for s in svc.slos if s.name == rec.slo)
        return prove_slo(tool, model, svc, slo, rec)

    return report("Pyrra", model, prove_each(one, records), strict)
