"""`obsgen import openslo`: OpenSLO v1 (`apiVersion: openslo/v1`) documents as obsgen services and SLOs.

Read: SLO, SLI, Service, AlertPolicy, AlertCondition, AlertNotificationTarget and DataSource documents, any
number per file, each inline or by reference (`indicatorRef`, `alertPolicyRef`, `conditionRef`,
`targetRef`, `metricSourceRef`), references resolved across all the files given.

How each field maps, and where obsgen differs (each difference is a comment in the written spec):

- `spec.service` -> the service (a Service document gives its description); each objective of an SLO is an
  obsgen SLO (`target` 0-1 or `targetPercent`), named after the SLO (and the objective's displayName when
  there are several);
- `timeWindow: [{duration, isRolling: true}]` -> `period` (whole days); `budgetingMethod: Occurrences`;
- SLI `ratioMetric` with `bad` / `good` and `total`, each a Prometheus query (`metricSource.type: Prometheus`,
  or a DataSource of that type) -> an events SLI of bad (or good) and all events; a query with `{{window}}`
  (or Sloth's `{{.window}}`) is used as written, a bare counter selector (`counter: true`) becomes
  `sum(rate(<selector>[{{window}}]))`; `raw` with `rawType` -> a ratio SLI;
- SLI `thresholdMetric` with the objective's `op` and `value` -> a ratio SLI: each evaluation of the query is
  one event, bad when it breaks the threshold (OpenSLO's Occurrences of a threshold metric);
- AlertPolicy conditions (`kind: burnrate`, `threshold`, `lookbackWindow`, `alertAfter`) -> the tiers of
  `defaults.slo_windows.<period>`: a condition of severity critical/page/high pages, warning/ticket/info
  files a ticket; per tier the higher burn rate is the fast tier, the other the slow one (one condition
  fills both); obsgen also checks a short window (1/12 of the long, at least 5m); `alertAfter` is the
  tier's `for`; AlertNotificationTarget names become the tiers' `notification_target` label;
- refused, at their place: Timeslices and RatioTimeslices budgeting, calendar windows, metric sources other
  than Prometheus, composite objectives, conditions obsgen cannot alert with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path as FsPath
from typing import Any

from ..slo_math import BASE_SECONDS, TIER_KEYS, exact, seconds
from ..spec.errors import Path
from ..units import duration_seconds, format_duration
from .common import OWNED_LABELS, label_problem, selector, share_value, slug, whole_days
from .source import Document, Refusals, mapping, read_all, text
from .spec_writer import Imported, Map, Seq

API = "openslo/v1"
KINDS = ("SLO", "SLI", "Service", "AlertPolicy", "AlertCondition", "AlertNotificationTarget", "DataSource")
PAGE = ("critical", "page", "high")
TICKET = ("warning", "ticket", "medium", "low", "info")
_WINDOW = re.compile(r"\{\{\s*\.?window\s*\}\}")
# the comparison that makes an evaluation bad, for an objective's `op` (what a good one satisfies)
BAD_OP = {"lte": ">", "lt": ">=", "gte": "<", "gt": "<="}


@dataclass
class _Obj:
    """A document of a kind with its name."""

    doc: Document
    base: Path  # where its `metadata` and `spec` are: () for a document, the inline place otherwise
    data: dict[str, Any]

    @property
    def spec(self) -> Any:
        return self.data.get("spec")

    def at(self, *path: str | int) -> Path:
        return (*self.base, *path)

    def where(self, *path: str | int) -> str:
        return self.doc.where(self.at(*path))


@dataclass(frozen=True)
class Condition:
    """A burn-rate AlertCondition as OpenSLO defines it, for `openslo_proof`: it fires while the burn rate
    over `lookback` seconds compares by `op` to `threshold`, once that has held `alert_after` seconds."""

    name: str
    where: str
    tier: str  # "page" | "ticket": the obsgen tier it fills
    op: str  # gt, gte (the importer refuses the others)
    threshold: Decimal
    lookback: int
    alert_after: int


@dataclass
class OpenSloSlo:
    """One imported objective: the obsgen SLO it became and the OpenSLO meaning `openslo_proof` renders."""

    service: str
    slo: str
    where: str
    objective: Decimal  # percent
    sli: Map  # the SLI as written in the spec (the source's queries, `{{window}}` where the range goes)
    conditions: list[Condition]


@dataclass
class _Tier:
    key: str  # TIER_KEYS entry
    long: str
    short: str
    share: float | int
    for_: str | None
    where: str
    source: Condition | None = None


@dataclass
class _Ctx:
    refusals: Refusals
    by_kind: dict[str, dict[str, _Obj]] = field(default_factory=dict)
    records: list[OpenSloSlo] = field(default_factory=list)


def _name(o: _Obj, refusals: Refusals) -> str | None:
    meta = o.data.get("metadata")
    if not isinstance(meta, dict):
        refusals.add(o.doc, o.at("metadata"), "is required (a name)")
        return None
    return text(o.doc, o.at("metadata", "name"), meta.get("name"), refusals, required=True)


def _resolve(ctx: _Ctx, parent: _Obj, path: Path, item: Any, kind: str, ref_key: str) -> _Obj | None:
    """An inline object (`kind`, `metadata`, `spec`) or a reference (`ref_key: name`) to a document."""
    if isinstance(item, dict) and ref_key in item:
        name = item[ref_key]
        found = ctx.by_kind.get(kind, {}).get(str(name))
        if found is None:
            ctx.refusals.add(parent.doc, (*path, ref_key), f"names {kind} {name!r}, which no file given defines")
        return found
    if not isinstance(item, dict) or not isinstance(item.get("spec"), dict):
        ctx.refusals.add(parent.doc, path, f"must be an inline {kind} (metadata, spec) or `{ref_key}: <name>`")
        return None
    if item.get("kind", kind) != kind:
        ctx.refusals.add(parent.doc, (*path, "kind"), f"must be {kind}")
        return None
    return _Obj(parent.doc, path, item)


def _prometheus_query(ctx: _Ctx, sli: _Obj, path: Path, block: Any, counter: bool | None,
                      threshold: bool = False) -> str | None:
    """A Prometheus query of a metric source as obsgen's `{{window}}` query (a threshold metric's as it is,
    read at every evaluation); refused when it is not one."""
    r = ctx.refusals
    b = mapping(sli.doc, path, block, ("metricSource",), "a metric", r)
    sp = (*path, "metricSource")
    src = mapping(sli.doc, sp, b.get("metricSource"), ("metricSourceRef", "type", "spec"), "a metric source", r)
    if not src:
        r.add(sli.doc, sp, "is required (type: Prometheus, spec.query)")
        return None
    kind = src.get("type")
    if kind is None and src.get("metricSourceRef") is not None:
        ds = ctx.by_kind.get("DataSource", {}).get(str(src["metricSourceRef"]))
        if ds is None:
            r.add(sli.doc, (*sp, "metricSourceRef"), f"names DataSource {src['metricSourceRef']!r}, which no file "
                                                     "given defines")
            return None
        kind = ds.spec.get("type") if isinstance(ds.spec, dict) else None
    if not isinstance(kind, str) or kind.lower() != "prometheus":
        r.add(sli.doc, (*sp, "type") if "type" in src else sp, (
            f"metric source type {kind!r}: obsgen reads Prometheus queries only (its rules run in Prometheus); "
            "a plugin or another backend's query cannot be translated"))
        return None
    q = mapping(sli.doc, (*sp, "spec"), src.get("spec"), ("query",), "a Prometheus metric source's spec", r)
    raw = text(sli.doc, (*sp, "spec", "query"), q.get("query"), r, required=True)
    if raw is None:
        return None
    query = _WINDOW.sub("{{window}}", raw.strip())
    rest = query.replace("{{window}}", "")
    if "{{" in rest or "}}" in rest:
        r.add(sli.doc, (*sp, "spec", "query"), "holds a template other than {{window}}, which obsgen fills in")
        return None
    if threshold:
        if "{{window}}" in query:
            r.add(sli.doc, (*sp, "spec", "query"), "a thresholdMetric is read at each evaluation: its query takes no "
                                                   "{{window}} (write its own range, e.g. [5m])")
            return None
        return query
    if "{{window}}" in query:
        return query
    if counter:
        sel = selector(sli.doc, (*sp, "spec", "query"), query, Refusals())
        if sel is not None:
            return f"sum(rate({sel.text}[{{{{window}}}}]))"
    r.add(sli.doc, (*sp, "spec", "query"), (
        "has no {{window}} where the range goes: obsgen evaluates the query over each alerting window itself. "
        "Write the range as [{{window}}] (e.g. sum(rate(http_requests_total{code=~\"5..\"}[{{window}}]))), or "
        "give a bare counter selector with `counter: true`"))
    return None


def _sli(ctx: _Ctx, sli: _Obj, objective: dict[str, Any], op_path: Path, slo: _Obj,
         notes: list[str]) -> Map | None:
    r = ctx.refusals
    spec = mapping(sli.doc, sli.at("spec"), sli.spec, ("description", "thresholdMetric", "ratioMetric"),
                   "an SLI's spec", r)
    kinds = [k for k in ("thresholdMetric", "ratioMetric") if spec.get(k) is not None]
    if len(kinds) != 1:
        r.add(sli.doc, sli.at("spec"), "needs exactly one of thresholdMetric and ratioMetric")
        return None
    if kinds[0] == "ratioMetric":
        rp = sli.at("spec", "ratioMetric")
        rm = mapping(sli.doc, rp, spec["ratioMetric"], ("counter", "good", "bad", "total", "rawType", "raw"),
                     "a ratioMetric", r)
        counter = rm.get("counter")
        if counter is not None and not isinstance(counter, bool):
            r.add(sli.doc, (*rp, "counter"), "must be true or false")
            return None
        if rm.get("raw") is not None:
            raw_type = rm.get("rawType")
            if raw_type not in ("success", "failure"):
                r.add(sli.doc, (*rp, "rawType"), "must be success (good/total) or failure (bad/total) with `raw`")
                return None
            q = _prometheus_query(ctx, sli, (*rp, "raw"), rm["raw"], False)
            if q is None:
                return None
            notes.append(f"OpenSLO's raw ratio ({sli.where('spec', 'ratioMetric', 'raw')}): obsgen averages it over "
                         "its series")
            return Map(type="ratio", expr=q if raw_type == "failure" else f"1 - ({q})")
        sides = [k for k in ("good", "bad") if rm.get(k) is not None]
        if len(sides) != 1 or rm.get("total") is None:
            r.add(sli.doc, rp, "needs `total` and exactly one of `good` and `bad` (or `raw` with `rawType`)")
            return None
        total = _prometheus_query(ctx, sli, (*rp, "total"), rm["total"], counter)
        part = _prometheus_query(ctx, sli, (*rp, sides[0]), rm[sides[0]], counter)
        if total is None or part is None:
            return None
        if sides[0] == "bad":
            return Map(events=Map(errors=part, total=total))
        return Map(events=Map(good=part, total=total))
    tp = sli.at("spec", "thresholdMetric")
    q = _prometheus_query(ctx, sli, tp, spec["thresholdMetric"], None, threshold=True)
    if q is None:
        return None
    op, value = objective.get("op"), objective.get("value")
    if op not in BAD_OP or isinstance(value, bool) or not isinstance(value, (int, float)):
        r.add(slo.doc, op_path, "a thresholdMetric's objective needs `op` (lte, lt, gte, gt) and a numeric `value`")
        return None
    notes.append(f"OpenSLO's thresholdMetric ({sli.where('spec', 'thresholdMetric')}): each evaluation of the query "
                 f"is one event, bad when it is not {op} {value}; obsgen records the share of bad evaluations")
    return Map(type="ratio", expr=f"avg_over_time((({q}) {BAD_OP[op]} bool {value})[{{{{window}}}}:])")


def _percent(o: dict[str, Any], doc: Document, path: Path, refusals: Refusals) -> Decimal | None:
    has = [k for k in ("target", "targetPercent") if o.get(k) is not None]
    if len(has) != 1:
        refusals.add(doc, path, "needs exactly one of target (0-1) and targetPercent (0-100)")
        return None
    raw = o[has[0]]
    try:
        value = Decimal(str(raw)) if not isinstance(raw, bool) else None
    except InvalidOperation:
        value = None
    if value is not None and has[0] == "target":
        value *= 100
    if value is None or not 0 < value < 100:
        refusals.add(doc, (*path, has[0]), "must be strictly between 0 and 1 (target) or 0 and 100 (targetPercent); "
                                           "obsgen has no error budget for 100%")
        return None
    return value.normalize()


def _conditions(ctx: _Ctx, slo: _Obj, period: str,
                notes: list[str]) -> tuple[list[_Tier], dict[str, list[str]], list[Condition]]:
    """The tiers of an SLO's alert policies, the notification targets of each tier (page / ticket), and the
    conditions they came from."""
    r = ctx.refusals
    policies = slo.spec.get("alertPolicies") or []
    if not isinstance(policies, list):
        r.add(slo.doc, slo.at("spec", "alertPolicies"), "must be a list")
        return [], {}, []
    found: dict[str, list[tuple[Fraction, _Tier, _Obj]]] = {"page": [], "ticket": []}
    targets: dict[str, list[str]] = {"page": [], "ticket": []}
    for i, item in enumerate(policies):
        pol = _resolve(ctx, slo, (*slo.at("spec", "alertPolicies"), i), item, "AlertPolicy", "alertPolicyRef")
        if pol is None:
            continue
        ps = mapping(pol.doc, pol.at("spec"), pol.spec, ("description", "alertWhenNoData", "alertWhenResolved",
                                                         "alertWhenBreaching", "conditions", "notificationTargets"),
                     "an AlertPolicy's spec", r)
        if ps.get("alertWhenBreaching") is False:
            notes.append(f"AlertPolicy {_name(pol, r)} ({pol.where()}) has alertWhenBreaching: false: its conditions "
                         "raise nothing, so they are not imported")
            continue
        if ps.get("alertWhenNoData"):
            notes.append(f"alertWhenNoData ({pol.where('spec')}): obsgen's <Service><Slo>SliAbsent fires when the SLI "
                         "has no data (it is there whether or not a policy asks)")
        if ps.get("alertWhenResolved") is not None:
            notes.append(f"alertWhenResolved ({pol.where('spec')}): obsgen's Alertmanager channels send resolved "
                         "notifications as each channel's `send_resolved` says")
        names = []
        for k, t in enumerate(ps.get("notificationTargets") or []):
            tgt = _resolve(ctx, pol, (*pol.at("spec", "notificationTargets"), k), t, "AlertNotificationTarget",
                           "targetRef")
            if tgt is not None and (n := _name(tgt, r)):
                names.append(n)
        conds = ps.get("conditions")
        if not isinstance(conds, list) or not conds:
            r.add(pol.doc, pol.at("spec", "conditions"), "needs at least one condition")
            continue
        for k, c in enumerate(conds):
            cond = _resolve(ctx, pol, (*pol.at("spec", "conditions"), k), c, "AlertCondition", "conditionRef")
            if cond is None:
                continue
            got = _condition(ctx, cond, period)
            if got is not None:
                tier, rate, row = got
                found[tier].append((rate, row, cond))
                targets[tier] += [n for n in names if n not in targets[tier]]
    tiers: list[_Tier] = []
    for tier, rows in found.items():
        rows.sort(key=lambda x: -x[0])
        for extra in rows[2:]:
            r.add(extra[2].doc, extra[2].at("spec", "condition"), (
                f"a third {tier} condition for this SLO: obsgen has two {tier} tiers (fast and slow), which the "
                "conditions with the highest burn rates fill"))
        rows = rows[:2]
        if not rows:
            continue
        fast, slow = rows[0][1], rows[-1][1]
        if len(rows) == 1:
            notes.append(f"one {tier} condition ({fast.where}): obsgen's fast and slow {tier} tiers are both it")
        fors = [x.for_ for x in (fast, slow) if x.for_]
        for_ = min(fors, key=duration_seconds) if fors else None
        if len({x.for_ for x in (fast, slow)}) > 1:
            notes.append(f"{tier}: alertAfter {fast.for_ or 0} and {slow.for_ or 0}: obsgen has one `for` per tier "
                         "and takes the shorter")
        for key, row in ((f"{tier}_fast", fast), (f"{tier}_slow", slow)):
            tiers.append(_Tier(key, row.long, row.short, row.share, for_, row.where))
    conditions = [row.source for rows in found.values() for _, row, _ in rows if row.source is not None]
    return tiers, targets, conditions


def _condition(ctx: _Ctx, cond: _Obj, period: str) -> tuple[str, Fraction, _Tier] | None:
    r = ctx.refusals
    cs = mapping(cond.doc, cond.at("spec"), cond.spec, ("description", "severity", "condition"),
                 "an AlertCondition's spec", r)
    cp = cond.at("spec", "condition")
    c = mapping(cond.doc, cp, cs.get("condition"), ("kind", "op", "threshold", "lookbackWindow", "alertAfter"),
                "a condition", r)
    severity = str(cs.get("severity", "")).lower()
    if severity in PAGE:
        tier = "page"
    elif severity in TICKET:
        tier = "ticket"
    else:
        r.add(cond.doc, cond.at("spec", "severity"), (f"severity {cs.get('severity')!r}: obsgen pages on "
                                                      f"{', '.join(PAGE)} and files tickets on {', '.join(TICKET)}"))
        return None
    if c.get("kind") != "burnrate":
        r.add(cond.doc, (*cp, "kind"), "obsgen alerts on burn rates only (kind: burnrate)")
        return None
    if c.get("op", "gt") not in ("gt", "gte"):
        r.add(cond.doc, (*cp, "op"), "obsgen alerts while the burn rate is above the threshold (op gt or gte)")
        return None
    threshold = c.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        r.add(cond.doc, (*cp, "threshold"), "must be a burn rate (a number, e.g. 14.4)")
        return None
    try:
        long_s = int(duration_seconds(str(c.get("lookbackWindow"))))
    except ValueError as e:
        r.add(cond.doc, (*cp, "lookbackWindow"), f"must be a duration: {e}")
        return None
    if not BASE_SECONDS < long_s <= seconds(period):
        r.add(cond.doc, (*cp, "lookbackWindow"), (f"obsgen alerts on windows longer than its 5m base window and at "
                                                  f"most the {period} period"))
        return None
    rate = Fraction(Decimal(str(threshold)))
    if rate < 1:
        r.add(cond.doc, (*cp, "threshold"), (f"a burn rate of {exact(rate)}, below 1, fires while the budget lasts "
                                             "the whole period; obsgen refuses such tiers"))
        return None
    for_ = None
    if c.get("alertAfter") is not None:
        try:
            for_ = format_duration(duration_seconds(str(c["alertAfter"]))) or None
        except ValueError as e:
            r.add(cond.doc, (*cp, "alertAfter"), f"must be a duration: {e}")
            return None
    short_s = max(BASE_SECONDS, int((Fraction(long_s, 12 * 60) + Fraction(1, 2)) // 1) * 60)
    share = rate * long_s * 100 / seconds(period)
    value = share_value(share, Fraction(long_s * 100, seconds(period)))
    source = Condition(str(_name(cond, Refusals()) or ""), cond.where(), tier, str(c.get("op", "gt")),
                       Decimal(str(threshold)), long_s, int(duration_seconds(for_)) if for_ else 0)
    return tier, rate, _Tier("", format_duration(long_s), format_duration(short_s), value, for_, cond.where(), source)


def _labels(o: _Obj, refusals: Refusals, notes: list[str]) -> dict[str, str]:
    meta = o.data.get("metadata") if isinstance(o.data.get("metadata"), dict) else {}
    raw = meta.get("labels") if isinstance(meta, dict) else None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        refusals.add(o.doc, o.at("metadata", "labels"), "must be a mapping of names to values")
        return {}
    out = {}
    for k, v in raw.items():
        if isinstance(v, list):
            if len(v) != 1:
                notes.append(f"label {k} has {len(v)} values ({o.where('metadata', 'labels')}); a Prometheus label "
                             "has one: not kept")
                continue
            v = v[0]
        value = str(v).lower() if isinstance(v, bool) else str(v)
        if k in OWNED_LABELS or label_problem(str(k), value):
            notes.append(f"label {k}={value} ({o.where('metadata', 'labels')}) is not kept: "
                         + ("obsgen sets it on every SLO alert" if k in OWNED_LABELS else "no Prometheus label"))
            continue
        out[str(k)] = value
    return out


def _slos(ctx: _Ctx, slo: _Obj, windows: dict[str, dict[str, tuple[list[Any], str]]]) -> tuple[str, list[Map]] | None:
    r = ctx.refusals
    name = _name(slo, r)
    spec = mapping(slo.doc, slo.at("spec"), slo.spec, ("description", "service", "indicator", "indicatorRef",
                                                        "timeWindow", "budgetingMethod", "objectives",
                                                        "alertPolicies"), "an SLO's spec", r)
    service = text(slo.doc, slo.at("spec", "service"), spec.get("service"), r, required=True)
    method = spec.get("budgetingMethod")
    ok = True
    if method != "Occurrences":
        r.add(slo.doc, slo.at("spec", "budgetingMethod"), (
            f"budgetingMethod {method!r}: obsgen budgets Occurrences (good events / all events); Timeslices and "
            "RatioTimeslices count good time slices, which its burn-rate alerts do not"))
        ok = False
    tw = spec.get("timeWindow")
    twp = slo.at("spec", "timeWindow")
    period = None
    if not isinstance(tw, list) or len(tw) != 1 or not isinstance(tw[0], dict):
        r.add(slo.doc, twp, "must be a list of one time window (duration, isRolling: true)")
    else:
        w = mapping(slo.doc, (*twp, 0), tw[0], ("duration", "isRolling", "calendar"), "a time window", r)
        if w.get("calendar") is not None or w.get("isRolling") is not True:
            r.add(slo.doc, (*twp, 0, "calendar") if "calendar" in w else (*twp, 0), (
                "a calendar-aligned window: obsgen's SLO periods are rolling (isRolling: true, a duration in days)"))
        else:
            period = whole_days(slo.doc, (*twp, 0, "duration"), w.get("duration"), "timeWindow duration", r)
    if "indicator" in spec and "indicatorRef" in spec:
        r.add(slo.doc, slo.at("spec", "indicatorRef"), "give indicator or indicatorRef, not both")
        return None
    if spec.get("indicatorRef") is not None:
        sli = _resolve(ctx, slo, slo.at("spec"), {"indicatorRef": spec["indicatorRef"]}, "SLI", "indicatorRef")
    else:
        sli = _resolve(ctx, slo, slo.at("spec", "indicator"), spec.get("indicator"), "SLI", "indicatorRef")
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        r.add(slo.doc, slo.at("spec", "objectives"), "needs at least one objective")
        return None
    if name is None or service is None or period is None or sli is None or not ok:
        return None
    notes: list[str] = []
    tiers, targets, conditions = _conditions(ctx, slo, period, notes)
    # one window set per period in obsgen: every SLO of a period must agree on the tiers it writes
    mine = windows.setdefault(period, {})
    for t in tiers:
        row = [t.long, t.short, t.share]
        if t.key in mine and mine[t.key][0] != row:
            r.add(slo.doc, slo.at("spec", "alertPolicies"), (
                f"its {t.key} tier ({row[0]}, {row[1]}, {row[2]}% of the budget) differs from the one of another "
                f"SLO of the {period} period ({mine[t.key][1]}): obsgen has one window set per period"))
            return None
        mine.setdefault(t.key, (row, t.where))
    labels = _labels(slo, r, notes)
    out: list[Map] = []
    for k, o in enumerate(objectives):
        op: Path = slo.at("spec", "objectives", k)
        obj = mapping(slo.doc, op, o, ("displayName", "op", "value", "target", "targetPercent", "timeSliceTarget",
                                       "timeSliceWindow", "indicator", "indicatorRef", "compositeWeight"),
                      "an objective", r)
        for key in ("indicator", "indicatorRef", "compositeWeight"):
            if obj.get(key) is not None:
                r.add(slo.doc, (*op, key), "a composite SLO (objectives with their own indicators): obsgen's SLOs "
                                           "have one SLI each; write each part as its own SLO")
        for key in ("timeSliceTarget", "timeSliceWindow"):
            if obj.get(key) is not None:
                r.add(slo.doc, (*op, key), f"{key} is for Timeslices budgeting, which obsgen does not do")
        pct = _percent(obj, slo.doc, op, r)
        local: list[str] = list(notes)
        sli_map = _sli(ctx, sli, obj, op, slo, local)
        if pct is None or sli_map is None:
            continue
        disp = obj.get("displayName")
        base = slug(name) if len(objectives) == 1 else slug(f"{name}-{disp or k + 1}")
        svc = slug(service)
        oname = base[len(svc) + 1:] if base.startswith(svc + "-") and len(base) > len(svc) + 1 else base
        m = Map(name=oname)
        m.note(None, f"from OpenSLO: SLO {name} ({slo.where()})" + (f", objective {disp!r}" if disp else ""))
        if oname != name:
            m.note("name", f"OpenSLO's SLO {name!r}: obsgen's SLO names are slugs within their service "
                           f"(slo_id {svc}-{oname}), one per objective")
        meta = slo.data.get("metadata") or {}
        if isinstance(meta, dict) and meta.get("displayName"):
            m.note("name", f"displayName {meta['displayName']!r} is not kept: obsgen's dashboards title SLOs by name")
        m["objective"] = float(pct) if pct != pct.to_integral_value() else int(pct)
        description = spec.get("description") or (sli.spec or {}).get("description")
        if isinstance(description, str) and description.strip():
            m["description"] = description.strip()
        m["sli"] = sli_map
        m["period"] = period
        al = Map()
        kinds = {t.key.split("_")[0] for t in tiers}
        for tier in ("page", "ticket"):
            if tier not in kinds:
                al[tier] = False
                continue
            shape = Map(severity="critical" if tier == "page" else "warning")
            t0 = next(t for t in tiers if t.key.startswith(tier))
            if t0.for_:
                shape["for"] = t0.for_
            tl = dict(labels)
            if targets.get(tier):
                tl["notification_target"] = ",".join(targets[tier])
            if tl:
                shape["labels"] = Map(sorted(tl.items()))
            al[f"{tier}_alert"] = shape
        if not kinds:
            local.append(f"the SLO has no alert policy ({slo.where('spec')}): obsgen records it and alerts on nothing")
        if any(targets.values()):
            local.append("notification_target names the OpenSLO AlertNotificationTargets of the tier's policies: "
                         "define those channels and route on this label (routing.routes)")
        if labels:
            local.append(f"the SLO's labels ({slo.where('metadata', 'labels')}) are on both tiers' alerts")
        m["alerting"] = al
        for n in local:
            m.note("alerting", n)
        out.append(m)
        ctx.records.append(OpenSloSlo(svc, oname, slo.where(), pct, sli_map, conditions))
    return slug(service), out


def import_openslo(paths: Sequence[str | FsPath]) -> Imported:
    """The services, SLOs and windows of OpenSLO v1 files; SourceError listing every refusal."""
    return read_openslo(paths)[0]


def read_openslo(paths: Sequence[str | FsPath]) -> tuple[Imported, list[OpenSloSlo]]:
    """`import_openslo`'s result, and each imported objective's OpenSLO meaning (for `--prove`)."""
    r = Refusals()
    docs = read_all(paths)
    ctx = _Ctx(r)
    slos: list[_Obj] = []
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict) or data.get("apiVersion") != API or data.get("kind") not in KINDS:
            api = data.get("apiVersion") if isinstance(data, dict) else None
            r.add(doc, ("apiVersion",) if api else (), (
                f"is no OpenSLO v1 document (apiVersion {api!r}, kind "
                f"{data.get('kind') if isinstance(data, dict) else None!r}): obsgen imports apiVersion: {API} "
                f"with kind {', '.join(KINDS)}"))
            continue
        mapping(doc, (), data, ("apiVersion", "kind", "metadata", "spec"), f"an OpenSLO {data['kind']}", r)
        o = _Obj(doc, (), data)
        name = _name(o, r)
        if name is None:
            continue
        same = ctx.by_kind.setdefault(data["kind"], {})
        if name in same:
            r.add(doc, ("metadata", "name"), f"a second {data['kind']} named {name!r} (the first: {same[name].where()})")
            continue
        same[name] = o
        if data["kind"] == "SLO":
            slos.append(o)
    if not slos and not r.problems:
        r.add(docs[0], (), "no OpenSLO SLO in the files")

    windows: dict[str, dict[str, tuple[list[Any], str]]] = {}
    services: dict[str, Map] = {}
    for slo in slos:
        found = _slos(ctx, slo, windows)
        if found is None:
            continue
        svc_name, items = found
        svc = services.get(svc_name)
        if svc is None:
            svc = services[svc_name] = Map(name=svc_name)
            src = ctx.by_kind.get("Service", {}).get(str(slo.spec.get("service")))
            if src is not None:
                svc.note(None, f"from OpenSLO: Service {src.where()}")
                d = (src.spec or {}).get("description") if isinstance(src.spec, dict) else None
                if isinstance(d, str) and d.strip():
                    svc["description"] = d.strip()
            else:
                svc.note(None, "from OpenSLO: the SLOs' spec.service (no Service document defines it)")
            svc["slos"] = Seq()
        taken = {s["name"] for s in svc["slos"]}
        for m in items:
            if m["name"] in taken:
                r.add(slo.doc, slo.at("metadata", "name"), f"service {svc_name!r} has an SLO {m['name']!r} already")
                continue
            svc["slos"].append(m)
            taken.add(m["name"])
    r.raise_any()
    imported = Imported("OpenSLO")
    imported.services = list(services.values())
    for period in sorted(windows, key=duration_seconds):
        rows = windows[period]
        if not rows:
            continue
        tiers = Map()
        for key in TIER_KEYS:
            if key in rows:
                tiers[key] = Seq(rows[key][0])
        tiers.note(None, f"OpenSLO's burn-rate conditions for the {period} period: [lookbackWindow, a short window "
                         "(1/12 of it, at least 5m), the share of the budget the threshold burns in the lookback "
                         "window]; " + "; ".join(f"{k} from {v[1]}" for k, v in rows.items()))
        imported.slo_windows[period] = tiers
    files = ", ".join(sorted({str(s.doc.file) for s in slos}))
    imported.head = [
        f"Imported from OpenSLO v1 by `obsgen import openslo` ({files}).",
        "Each burn-rate condition is an obsgen alerting tier (defaults.slo_windows, per period); obsgen adds, per",
        "SLO, <Service><Slo>SliAbsent and, with the ticket, <Service><Slo>BudgetExhausted.",
    ]
    return imported, ctx.records
