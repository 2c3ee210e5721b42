"""`obsgen import sloth --prove`: Sloth's own rules beside obsgen's, through promtool, on the same input.

Sloth's rules are rendered here from its documented formulas (its README and generated rules): for every
window of its tiers, `(error_query) / (total_query)` over that window (or the raw error ratio query), and
per tier `max(<short> > factor × budget) without (sloth_window) and max(<long> > ...)`, the page's two
tiers (and the ticket's) joined with `or`; factor = budget percent × period / long window (14.4, 6, 3, 1
for 30d), from the AlertWindows of the period or Sloth's defaults. They are recorded under their own names
(`sloth_proof:...`) so they never meet obsgen's series, even Sloth-compatible ones; like Sloth's, the SLI
recordings are one group and the alerts another.

Both rule sets are loaded into one promtool test per SLO, one test group per scenario, fed the raw series
obsgen's own proofs synthesize from the SLI's queries (`slo_proofs.proof_input`): a total outage after an
hour of good traffic, errors at 2× the budget rate, errors at half the budget rate. promtool is asked when
each alert first fired (`min_over_time(timestamp(ALERTS{...})[...])`, read from its report of the
unexpected sample). The bound: wherever Sloth pages, obsgen pages too, no later than two evaluation
intervals after it; every other difference (obsgen paging earlier, a ticket at another time, an alert only
one of them fires) is listed. An SLO obsgen cannot synthesize input for is said, not compared (a failure
under --strict); one the import says it computes differently (`SlothSlo.differs`) is compared and its
difference said, not counted against the bound (a failure under --strict too).

Deterministic and no slower than it must be: promtool evaluates the rule groups of a test in a random order
unless `group_eval_order` lists them all (a Go map's order; an unlisted group ranks with the first listed),
so every group is listed, recordings before alerts, on both sides; of obsgen's rules only those the measured
alerts read are loaded (no other rule can change when they fire, and promtool evaluates every loaded rule
at every step); the SLOs' promtool runs go in parallel, one per core.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from ..model import Model, ServiceModel, SloModel
from ..render.common import dump_yaml
from ..slo import enabled_tiers, rule_groups
from ..slo_math import BASE_SECONDS, seconds
from ..slo_proofs import Scenario, _input, group_values, in_group, proof_input, slo_alerts
from ..units import format_duration
from .sloth import SlothSlo

TIMEOUT = 300  # seconds promtool may take for one SLO's scenarios
RECORD = "sloth_proof:sli_error:ratio_rate{window}"
WARM = 3600  # seconds of good traffic before each scenario's errors start


class ProofUnavailable(Exception):
    """promtool is missing or did not answer as expected."""


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        raise ProofUnavailable("promtool is not on PATH (make tools installs it): nothing was compared")
    return tool


def _budget(rec: SlothSlo) -> float:
    return 1 - float(rec.objective) / 100  # as Sloth computes it, in float64


def sloth_groups(rec: SlothSlo, sloth_id: str, windows: list[str]) -> list[dict[str, Any]]:
    """Sloth's groups of one SLO: its SLI recordings, then its alerts (as Sloth writes them)."""
    rules = sloth_rules(rec, sloth_id, windows)
    recordings = [r for r in rules if "record" in r]
    alerts = [r for r in rules if "alert" in r]
    return [{"name": f"sloth-slo-sli-recordings-{sloth_id}", "rules": recordings}] + (
        [{"name": f"sloth-slo-alerts-{sloth_id}", "rules": alerts}] if alerts else [])


def sloth_rules(rec: SlothSlo, sloth_id: str, windows: list[str]) -> list[dict[str, Any]]:
    """Sloth's SLI recordings and alerts of one SLO, from its documented formulas."""
    labels = {"sloth_id": sloth_id, "sloth_service": rec.service, "sloth_slo": rec.slo}
    rules: list[dict[str, Any]] = []
    for w in windows:
        if rec.ratio is not None:
            expr = f"({rec.ratio.replace('{{window}}', w)})"
        else:
            assert rec.errors is not None and rec.total is not None
            expr = f"({rec.errors.replace('{{window}}', w)})\n/\n({rec.total.replace('{{window}}', w)})"
        rules.append({"record": RECORD.format(window=w), "expr": expr, "labels": {**labels, "sloth_window": w}})
    sel = f'sloth_id="{sloth_id}"'
    budget = repr(_budget(rec))
    for tier, on in (("page", rec.page), ("ticket", rec.ticket)):
        if not on:
            continue
        parts = []
        for t in (t for t in rec.tiers if t.key.startswith(tier)):
            f = repr(float(t.factor))
            short = RECORD.format(window=t.short)
            long = RECORD.format(window=t.long)
            parts.append(f"(\n  max({short}{{{sel}}} > ({f} * {budget})) without (sloth_window)\n  and\n"
                         f"  max({long}{{{sel}}} > ({f} * {budget})) without (sloth_window)\n)")
        rules.append({"alert": f"SlothSource{tier.title()}", "expr": "\nor\n".join(parts),
                      "labels": {"sloth_severity": tier}})
    return rules


@dataclass
class _Scenario:
    name: str
    ratio: Fraction  # error ratio from WARM on
    length: int  # seconds after WARM


def _scenarios(rec: SlothSlo, detect: Fraction) -> list[_Scenario]:
    """`detect`: the slower of the two fast tiers' detection times (long window × factor × budget). Each
    scenario lasts what its alerts need, no more: promtool evaluates every rule at every step."""
    budget = Fraction(Decimal(str(100 - rec.objective)) / 100)
    return [
        _Scenario("a total outage", Fraction(1), max(900, int(2 * detect) + BASE_SECONDS)),
        _Scenario("errors at 2x the budget rate", min(Fraction(1), 2 * budget), 2 * 3600),
        _Scenario("errors at half the budget rate", budget / 2, 3600),
    ]


def _first(selector: str, end: int, eval_s: int) -> str:
    return f"min(min_over_time(timestamp({selector})[{end}s:{eval_s}s]))"


_FAILED = re.compile(r'expr: "((?:[^"\\]|\\.)*)", time: [^\n]*\n\s*exp: [^\n]*\n\s*got: \{[^}]*\} (\S+)')


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def measured(groups: list[dict[str, Any]], alerts: Iterable[str]) -> list[dict[str, Any]]:
    """The alert rules named `alerts` and every recording they read (by its name, transitively), in their
    groups and order; groups left empty go. Any name-like word of an expression counts as read (ALERTS: every
    alert), so nothing an alert reads is ever dropped."""
    wanted = set(alerts)
    rules = [r for g in groups for r in g["rules"]]
    keep = {i for i, r in enumerate(rules) if r.get("alert") in wanted}
    words: set[str] = set()
    todo = list(keep)
    while todo:
        words.update(_NAME.findall(rules[todo.pop()]["expr"]))
        for i, r in enumerate(rules):
            # an expression reading ALERTS reads every alert rule's output
            if i not in keep and (r.get("record") in words or ("alert" in r and "ALERTS" in words)):
                keep.add(i)
                todo.append(i)
    out, i = [], 0
    for g in groups:
        kept = [r for j, r in enumerate(g["rules"], i) if j in keep]
        i += len(g["rules"])
        if kept:
            out.append({**g, "rules": kept})
    return out


def eval_order(rule_files: Mapping[str, str]) -> list[str]:
    """Every group of the rule files, those of recordings only first, else in the files' order: the alerts of
    both sides read the recordings of the same evaluation, as rules in one group do."""
    groups = [g for text in rule_files.values() for g in (yaml.safe_load(text) or {}).get("groups", [])]
    names = [g["name"] for g in groups if all("record" in r for r in g["rules"])]
    names += [g["name"] for g in groups if g["name"] not in names]
    assert len(set(names)) == len(names), names  # promtool refuses a name twice in the order
    return names


def run(tool: str, folder: Path, rule_files: dict[str, str], eval_interval: str,
         groups: list[dict[str, Any]]) -> dict[str, float]:
    """{expression: value} of every measuring expression that returned a sample (the others returned none)."""
    for name, text in rule_files.items():
        (folder / name).write_text(text, "utf-8")
    test = folder / "prove.test.yml"
    test.write_text(dump_yaml({"rule_files": list(rule_files), "evaluation_interval": eval_interval,
                               "group_eval_order": eval_order(rule_files), "tests": groups}), "utf-8")
    try:
        proc = subprocess.run([tool, "test", "rules", str(test)], capture_output=True, text=True,
                              timeout=TIMEOUT, cwd=folder)
    except subprocess.TimeoutExpired:
        raise ProofUnavailable(f"promtool took more than {TIMEOUT}s") from None
    out = proc.stdout + proc.stderr
    found = {json.loads(f'"{m.group(1)}"'): float(m.group(2)) for m in _FAILED.finditer(out)}
    if proc.returncode and not found:
        raise ProofUnavailable(f"promtool failed without measuring anything:\n{out.strip()}")
    return found


@dataclass
class Compared:
    slo: str
    lines: list[str]
    ok: bool
    compared: bool
    max_gap: float = 0.0  # seconds: |obsgen - Sloth| of the page, where both page
    known: bool = False  # the bound did not hold where the import says obsgen computes otherwise


def _when(value: float | None, start: int) -> str:
    if value is None:
        return "never"
    # an alert firing before the scenario's errors start (on good traffic) is that long before +0
    at = int(value) - start
    return "+" + format_duration(at) if at >= 0 else "-" + format_duration(-at)


def obsgen_rules(model: Model, svc: ServiceModel, slo: SloModel, alerts: Iterable[str]) -> str:
    """obsgen's rule file of the service, only the SLO's groups (every SLO records the same names, told apart by
    slo_id) and of them only the rules the measured alerts read."""
    own = {f"{svc.name}-slo-{slo.name}-recordings", f"{svc.name}-slo-{slo.name}-alerts"}
    return dump_yaml({"groups": measured([g for g in rule_groups(model, svc) if g["name"] in own], alerts)})


def prove_slo(tool: str, model: Model, svc: ServiceModel, slo: SloModel, rec: SlothSlo,
              only: Collection[str] = ()) -> Compared:
    """The comparison of one SLO; `only`: the names of the scenarios to run (all when empty)."""
    title = f"{svc.name}/{slo.name} ({rec.where})"
    raw = proof_input(svc, slo)
    if isinstance(raw, str):
        return Compared(title, [f"  not compared: obsgen cannot synthesize input for this SLI: {raw}"], True, False)
    eval_s = seconds(model.evaluation_interval)
    step = min(seconds(model.scrape_interval), 60)
    cs = in_group(raw, group_values(svc, slo, 1)[0])
    windows = sorted({w for t in rec.tiers for w in (t.short, t.long)}, key=seconds)
    sloth_id = f"{rec.service}-{rec.slo}"
    alerts = slo_alerts(model, svc, slo)
    ours = {tier: alerts[tier].selector for tier in ("page", "ticket") if tier in alerts}
    theirs = {tier: f'ALERTS{{alertname="SlothSource{tier.title()}", alertstate="firing", sloth_id="{sloth_id}"}}'
              for tier, on in (("page", rec.page), ("ticket", rec.ticket)) if on}
    groups, plan = [], []
    budget = Fraction(slo.budget)
    detect = max(min(t.long_seconds * t.factor * budget for t in enabled_tiers(model, slo)),
                 min(seconds(t.long) * t.factor * budget for t in rec.tiers
                     if (rec.page and t.key.startswith("page")) or (rec.ticket and t.key.startswith("ticket"))))
    scenarios = [sc for sc in _scenarios(rec, detect) if not only or sc.name in only]
    for sc in scenarios:
        end = WARM + sc.length
        scenario = Scenario(step, [(WARM, Fraction(0)), (sc.length + step, sc.ratio)], Decimal(10))
        checks = []
        for who, sels in (("obsgen", ours), ("Sloth", theirs)):
            for tier, sel in sels.items():
                expr = _first(sel, end, eval_s)
                checks.append({"expr": expr, "eval_time": f"{end}s", "exp_samples": []})
                plan.append((sc.name, who, tier, expr))
        groups.append({"name": f"{title}: {sc.name}", "interval": f"{step}s", "input_series": _input(cs, scenario),
                       "promql_expr_test": checks})
    files = {"obsgen.yml": obsgen_rules(model, svc, slo, {alerts[t].name for t in ours}),
             "sloth.yml": dump_yaml({"groups": sloth_groups(rec, sloth_id, windows)})}
    with tempfile.TemporaryDirectory(prefix="obsgen-prove-") as tmp:
        got = run(tool, Path(tmp), files, model.evaluation_interval, groups)
    return compare("Sloth", model, title, [sc.name for sc in scenarios], plan, got, known=rec.differs)


def compare(source: str, model: Model, title: str, scenarios: list[str],
            plan: Sequence[tuple[str, str, str, str]], got: Mapping[str, float], known: str = "") -> Compared:
    """When each tier first fired in each scenario, obsgen's beside the `source` tool's, and whether obsgen
    paged no later than two evaluations after it. `plan`: (scenario, "obsgen" or source, tier, expression).
    `known`: why the import computes otherwise (said in the written spec); a page later than the bound is
    then that difference, not a failure of the import."""
    eval_s = seconds(model.evaluation_interval)
    lines, max_gap, late = [], 0.0, False
    for name in scenarios:
        times = {(who, tier): got.get(expr) for n, who, tier, expr in plan if n == name}
        parts = []
        for tier in ("page", "ticket"):
            o, s = times.get(("obsgen", tier)), times.get((source, tier))
            if ("obsgen", tier) not in times and (source, tier) not in times:
                continue
            parts.append(f"{tier}: {source} {_when(s, WARM)}, obsgen {_when(o, WARM)}")
            if tier == "page" and s is not None:
                if o is None or o > s + 2 * eval_s:
                    late = True
                    parts[-1] += f" — obsgen pages later than {source} + 2 × {model.evaluation_interval}: " + (
                        "the difference the spec's comment says" if known else "FAILED")
                else:
                    max_gap = max(max_gap, abs(o - s))
            if o != s and (o is None or s is None or abs(o - s) > 2 * eval_s):
                parts[-1] += " (differs)"
        lines.append(f"  {name} from +0 (after {format_duration(WARM)} of good traffic): " + "; ".join(parts))
    if known:
        lines.insert(0, f"  the import computes otherwise (its comment in the spec): {known}")
        ok = True
    else:
        ok = not late
    return Compared(title, lines, ok, True, max_gap, known=bool(known) and late)


def report(source: str, model: Model, results: list[Compared], strict: bool) -> tuple[str, bool]:
    """The report of every SLO's comparison, and whether the bound held everywhere (and, with `strict`, every
    SLO was compared and none differs by the import's design)."""
    ok = all(r.ok for r in results)
    compared = [r for r in results if r.compared]
    out = [f"--prove: {source}'s rules (its formulas) and obsgen's, through promtool, on the same input "
           f"(evaluation every {model.evaluation_interval}); bound: wherever {source} pages, obsgen pages no later "
           f"than 2 evaluations after it"]
    for r in results:
        out.append(f"{r.slo}:")
        out += r.lines
    held = [r for r in compared if not r.known]
    gap = max((r.max_gap for r in held), default=0.0)
    skipped = len(results) - len(compared)
    known = len(compared) - len(held)
    refused = ", which --strict does not accept" if strict else ""
    out.append(f"{len(compared)} of {len(results)} SLOs compared"
               + (f" ({skipped} not: see above{refused})" if skipped else "")
               + (f"; where both page, obsgen pages within {format_duration(int(gap))} of {source}" if held else "")
               + ((f"; the bound held{' for the others' if known else ''}" if held else "") if ok
                  else "; the bound did NOT hold")
               + (f"; {known} differ{'s' if known == 1 else ''} from {source} as the written spec's comment says "
                  f"(see above{refused})" if known else ""))
    if not compared:
        ok = False
    return "\n".join(out), ok and not (strict and (skipped or known))


def prove_each(prove: Callable[[Any], Compared], records: Sequence[Any]) -> list[Compared]:
    """`prove(record)` of every record, in their order, as many at a time as there are cores (each is one
    promtool process)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cores == 1 or len(records) < 2:
        return [prove(r) for r in records]
    with ThreadPoolExecutor(max_workers=min(cores, len(records))) as pool:
        return list(pool.map(prove, records))


def prove_all(model: Model, records: list[SlothSlo], strict: bool = False) -> tuple[str, bool]:
    """The report, and whether the bound held everywhere (and, with `strict`, every SLO was compared)."""
    tool = _promtool()

    def one(rec: SlothSlo) -> Compared:
        svc = model.service(rec.service)
        slo = next(s for s in svc.slos if s.name == rec.slo)
        return prove_slo(tool, model, svc, slo, rec)

    return report("Sloth", model, prove_each(one, records), strict)
