"""`obsgen import sloth`: Sloth's SLO specs as obsgen services and SLOs.

Read: `version: "prometheus/v1"` documents (snake_case keys), the `sloth.slok.dev/v1` PrometheusServiceLevel
custom resource (camelCase keys) and `sloth.slok.dev/v1` AlertWindows (a window set per SLO period), any
number of each per file. Sloth's specs name no period: every SLO gets `period` (Sloth's
`--default-slo-period`, 30d by default), and its windows are the AlertWindows of that period, else Sloth's
own 30d or 28d set.

How each field maps, and where obsgen differs (each difference is a comment in the written spec):

- `service` and `slos[].name` become slugs (a changed one is said: Sloth's `sloth_id` changes with it);
- `labels` of the document: the service's `labels` (obsgen's go on alerts only, Sloth's on every recorded
  series too); a `team` label becomes the service's `team`; labels obsgen sets itself are dropped;
- `slos[].labels`, `alerting.labels` and `alerting.{page,ticket}_alert.labels`: the tier's labels, merged
  in Sloth's order; `severity` among them becomes the tier's `severity` when it is one of obsgen's;
  each tier also keeps Sloth's `sloth_severity` (page / ticket), so routes written for Sloth still match;
- `alerting.name`: the name of both tiers' alerts (Sloth gives them one name), prefixed with the service's
  name where obsgen's naming needs it; `alerting.annotations` and the tiers': the tiers' annotations;
  `disable`: `alerting.page` / `ticket` off;
- `sli.events.{error_query,total_query}`: an events SLI, `{{.window}}` as `{{window}}`; when both queries
  end in `sum by (...)`, those labels become `by` (Sloth divides the two queries series by series, obsgen
  sums each, per `by` group); queries with no `sum` whose error series are total series (Sloth divides each by
  itself: an error ratio of 1 on any error) are said, and the proof reports that difference
  (`SlothSlo.differs`); `sli.raw.error_ratio_query`: a ratio SLI (obsgen averages it per group);
- `sli.plugin` is refused: a plugin is Go code run inside Sloth, whose queries obsgen cannot know;
- with `sloth_series` (`--sloth-series`), every SLO is `sloth_compatible`: Sloth's dashboards keep reading
  its series.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path as FsPath
from typing import Any

from ..slo_math import BASE_SECONDS, DAY, TIER_KEYS, default_set, exact, factor, norm, seconds
from ..spec.errors import Path, Problem
from ..spec.models import _label_value
from ..units import duration_seconds, fmt, format_duration
from .common import fit_alert_name
from .source import Document, Refusals, SourceError, mapping, read_all, string_map, text
from .spec_writer import Imported, Map, Seq

V1 = "prometheus/v1"
API = "sloth.slok.dev/v1"
TIERS = ("page", "ticket")

# Sloth's own catalogue (its windows/_defaults): the same windows and budget shares for 30d and 28d
SLOTH_DEFAULT_DAYS = (28, 30)
SLOTH_DEFAULT = {"page_fast": ("1h", "5m", "2"), "page_slow": ("6h", "30m", "5"),
                 "ticket_fast": ("1d", "2h", "10"), "ticket_slow": ("3d", "6h", "10")}

# key names of the two forms: prometheus/v1 files write snake_case, the custom resource camelCase
KEYS = {
    "v1": {"error_query": "error_query", "total_query": "total_query", "error_ratio_query": "error_ratio_query",
           "page_alert": "page_alert", "ticket_alert": "ticket_alert", "info_labels": "infoLabels"},
    "crd": {"error_query": "errorQuery", "total_query": "totalQuery", "error_ratio_query": "errorRatioQuery",
            "page_alert": "pageAlert", "ticket_alert": "ticketAlert", "info_labels": "infoLabels"},
}
OBSGEN_LABELS = ("service", "slo", "slo_id", "tier", "alertname")  # set by obsgen on every SLO alert
SEVERITIES = ("critical", "warning", "info")
_WINDOW = re.compile(r"\{\{\s*\.window\s*\}\}")


@dataclass(frozen=True)
class SlothTier:
    """One alerting tier as Sloth computes it: both windows above factor × budget."""

    key: str
    long: str
    short: str
    factor: Fraction


@dataclass
class SlothSlo:
    """One imported SLO with Sloth's own numbers, for `--prove`."""

    service: str  # obsgen's service name
    slo: str  # obsgen's SLO name
    objective: Decimal
    errors: str | None  # `{{window}}` queries (events), or None
    total: str | None
    ratio: str | None  # raw: error ratio query
    page: bool
    ticket: bool
    period: str
    tiers: list[SlothTier] = field(default_factory=list)
    where: str = ""
    differs: str = ""  # where obsgen's import does not compute what Sloth does (the written spec says it too)


def slug(name: str) -> str:
    out = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not out or not out[0].isalpha():
        out = "s-" + out
    return out[:63].rstrip("-")


def _window_query(doc: Document, path: Path, query: str | None, refusals: Refusals) -> str | None:
    if query is None:
        refusals.add(doc, path, "is required")
        return None
    out = _WINDOW.sub("{{window}}", query.strip())
    rest = out.replace("{{window}}", "")
    if "{{" in rest or "}}" in rest:
        refusals.add(doc, path, "holds a template other than {{.window}}, the only one Sloth fills in")
        return None
    if "{{window}}" not in out:
        refusals.add(doc, path, "has no {{.window}}: Sloth and obsgen both need it where the range goes")
        return None
    return out


def output_labels(query: str) -> tuple[str, ...] | None:
    """The labels every series a query returns carries, when its shape says (a `sum by (...)`, a number, or
    an arithmetic of such), else None. `{{window}}` is read as 5m."""
    from ..spec.expressions import parse_promql

    parsed = parse_promql(query.replace("{{window}}", "5m"))
    if parsed is None:
        return None
    pp, tree = parsed

    def labels(node: Any) -> tuple[str, ...] | None:
        if isinstance(node, pp.ParenExpr):
            return labels(node.expr)
        if isinstance(node, pp.NumberLiteral):
            return ()
        if isinstance(node, pp.AggregateExpr):
            mod = node.modifier
            if str(node.op) not in ("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"):
                return None
            if mod is None:
                return ()
            return tuple(mod.labels) if "By" in str(mod.type) else None
        if isinstance(node, pp.Call) and node.func.name == "vector":
            return ()
        if isinstance(node, pp.Call) and node.func.name in ("clamp_min", "clamp_max", "clamp", "abs", "ceil",
                                                             "floor", "round") and node.args:
            return labels(node.args[0])
        if isinstance(node, pp.BinaryExpr):
            if node.modifier is not None and node.modifier.matching is not None:
                return None
            sides = [labels(node.lhs), labels(node.rhs)]
            if None in sides:
                return None
            a, b = sides
            assert a is not None and b is not None
            if isinstance(node.lhs, pp.NumberLiteral):
                return b
            if isinstance(node.rhs, pp.NumberLiteral):
                return a
            return a if set(a) == set(b) else None
        return None

    return labels(tree)


def _divided_by_itself(errors: str, total: str) -> bool:
    """Both queries a bare `rate(...)` (or `increase`) and every matcher of the total's one of the errors': each
    series the error query returns is a series of the total query, and Sloth's series-by-series division
    divides it by itself."""
    from ..slo_proofs import Unreadable, read_query

    try:
        e, t = read_query(errors), read_query(total)
    except Unreadable:
        return False
    bare = not errors.lstrip().startswith("sum") and not total.lstrip().startswith("sum")
    return bare and e.func == t.func and set(t.matchers) <= set(e.matchers)


def _labels_ok(doc: Document, path: Path, labels: dict[str, str], refusals: Refusals) -> dict[str, str]:
    out = {}
    for k, v in labels.items():
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", k):
            refusals.add(doc, (*path, k), f"{k!r} is not a Prometheus label name")
            continue
        try:
            _label_value(v)
        except ValueError as e:
            refusals.add(doc, (*path, k), str(e))
            continue
        out[k] = v
    return out


def _duration(doc: Document, path: Path, value: Any, refusals: Refusals) -> str | None:
    raw = text(doc, path, value, refusals, required=True)
    if raw is None:
        return None
    try:
        s = duration_seconds(raw)
    except ValueError as e:
        refusals.add(doc, path, str(e))
        return None
    return format_duration(s)


# --------------------------------------------------------------------------- AlertWindows


@dataclass
class WindowSet:
    period: str
    tiers: dict[str, tuple[str, str, str]]  # TIER_KEYS -> (long, short, percent)
    where: str


def _alert_windows(doc: Document, refusals: Refusals) -> WindowSet | None:
    data = mapping(doc, (), doc.data, ("apiVersion", "kind", "spec", "metadata"), "an AlertWindows", refusals)
    spec = mapping(doc, ("spec",), data.get("spec"), ("sloPeriod", "page", "ticket"), "AlertWindows' spec",
                   refusals)
    period = _duration(doc, ("spec", "sloPeriod"), spec.get("sloPeriod"), refusals)
    tiers: dict[str, tuple[str, str, str]] = {}
    for tier in TIERS:
        block = mapping(doc, ("spec", tier), spec.get(tier), ("quick", "slow"), f"the {tier} windows", refusals)
        for speed, key in (("quick", f"{tier}_fast"), ("slow", f"{tier}_slow")):
            p: Path = ("spec", tier, speed)
            w = mapping(doc, p, block.get(speed), ("errorBudgetPercent", "shortWindow", "longWindow"),
                        f"a {tier} window", refusals)
            short = _duration(doc, (*p, "shortWindow"), w.get("shortWindow"), refusals)
            long = _duration(doc, (*p, "longWindow"), w.get("longWindow"), refusals)
            pct = w.get("errorBudgetPercent")
            if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 < pct <= 100:
                refusals.add(doc, (*p, "errorBudgetPercent"), "must be a percentage above 0 and at most 100")
                continue
            if short and long:
                tiers[key] = (long, short, fmt(Decimal(str(pct))))
    if period is None or len(tiers) != 4:
        return None
    if seconds(period) % DAY:
        refusals.add(doc, ("spec", "sloPeriod"), f"{period} is no whole number of days, which obsgen's SLO "
                                                 "periods are")
        return None
    return WindowSet(norm(period), tiers, doc.where(("spec",)))


def _obsgen_tiers(ws: WindowSet) -> tuple[Map, list[SlothTier]]:
    """The tiers of `defaults.slo_windows.<period>` that differ from obsgen's default for the period (Sloth's
    windows exactly, where obsgen can hold them), and Sloth's own tiers for the proof."""
    period = ws.period
    defaults = dict(zip(TIER_KEYS, default_set(period), strict=True))
    out = Map()
    sloth = []
    for key in TIER_KEYS:
        long, short, pct = ws.tiers[key]
        rate = factor(Decimal(pct), period, long)
        sloth.append(SlothTier(key, long, short, rate))
        dlong, dshort, dpct = defaults[key]
        if (norm(dlong), norm(dshort), Decimal(str(dpct))) == (norm(long), norm(short), Decimal(pct)):
            continue
        why = None
        if rate < 1:
            why = (f"a burn rate of {exact(rate)}, below 1, which obsgen refuses (the tier would fire while the "
                   "budget lasts the whole period)")
        elif seconds(short) < BASE_SECONDS:
            why = "a short window below 5m, the window obsgen's SLI rates are read over"
        elif seconds(short) >= seconds(long) or seconds(long) > seconds(period):
            why = "windows obsgen cannot use (short not below long, or long past the period)"
        if why:
            out.note(None, f"{key}: Sloth's {pct}% of the budget in {long} (short window {short}, {ws.where}) is "
                           f"{why}; obsgen keeps its default {dpct}% in {dlong} ({dshort}) for {period}")
            continue
        out[key] = Seq([long, short, float(pct) if "." in pct else int(pct)])
    return out, sloth


def sloth_default_windows(period: str) -> WindowSet | None:
    if seconds(period) // DAY not in SLOTH_DEFAULT_DAYS or seconds(period) % DAY:
        return None
    return WindowSet(period, dict(SLOTH_DEFAULT), f"Sloth's default {period} windows")


# --------------------------------------------------------------------------- SLO specs


@dataclass
class _Doc:
    doc: Document
    form: str  # "v1" | "crd"
    base: Path  # where the spec's fields are: () or ("spec",)
    body: dict[str, Any]


def _classify(doc: Document, refusals: Refusals) -> tuple[str, _Doc | None]:
    data = doc.data
    if not isinstance(data, dict):
        refusals.add(doc, (), "is not a mapping: neither a Sloth spec nor an AlertWindows")
        return "", None
    if data.get("version") == V1:
        body = mapping(doc, (), data, ("version", "service", "labels", "slos"), "a Sloth prometheus/v1 spec",
                       refusals)
        return "slo", _Doc(doc, "v1", (), body)
    api, kind = data.get("apiVersion"), data.get("kind")
    if api == API and kind == "PrometheusServiceLevel":
        mapping(doc, (), data, ("apiVersion", "kind", "metadata", "spec"), "a PrometheusServiceLevel", refusals)
        body = mapping(doc, ("spec",), data.get("spec"), ("service", "labels", "slos"),
                       "a PrometheusServiceLevel's spec", refusals)
        return "slo", _Doc(doc, "crd", ("spec",), body)
    if api == API and kind == "AlertWindows":
        return "windows", None
    if data.get("version") == "alertWindows/v1" or (api == API and kind):
        refusals.add(doc, ("kind",) if kind else ("version",), (
            f"{kind or data.get('version')!r} is not a format obsgen imports from Sloth: prometheus/v1 specs, "
            "PrometheusServiceLevel and AlertWindows (sloth.slok.dev/v1)"))
        return "", None
    refusals.add(doc, (), ("is no Sloth document: expected `version: \"prometheus/v1\"` or "
                           "`apiVersion: sloth.slok.dev/v1` with kind PrometheusServiceLevel or AlertWindows"))
    return "", None


def _tier_label_shape(labels: dict[str, str], tier: str, where: str, notes: list[str]) -> tuple[str | None, dict[str, str]]:
    """(severity, labels) of a tier from Sloth's merged labels."""
    out = {}
    severity = None
    for k, v in labels.items():
        if k == "severity":
            if v in SEVERITIES:
                severity = v
            else:
                notes.append(f"{tier}: Sloth's label severity={v} ({where}) is not one of obsgen's severities "
                             f"({', '.join(SEVERITIES)}); the {tier} keeps obsgen's")
        elif k in OBSGEN_LABELS or k.startswith("__"):
            notes.append(f"{tier}: Sloth's label {k}={v} ({where}) is dropped: obsgen sets `{k}` on every SLO alert")
        else:
            out[k] = v
    out["sloth_severity"] = tier
    return severity, out


def _slo(d: _Doc, j: int, service: str, svc_labels: dict[str, str], period: str, windows: dict[str, WindowSet],
         refusals: Refusals, sloth_series: bool) -> tuple[Map, SlothSlo] | None:
    doc, keys = d.doc, KEYS[d.form]
    p: Path = (*d.base, "slos", j)
    raw = d.body["slos"][j]
    slo = mapping(doc, p, raw, ("name", "objective", "description", "labels", "sli", "alerting",
                                keys["info_labels"], "interval"), "a Sloth SLO", refusals)
    name_raw = text(doc, (*p, "name"), slo.get("name"), refusals, required=True)
    objective = slo.get("objective")
    try:
        obj = Decimal(str(objective)) if not isinstance(objective, bool) and objective is not None else None
    except InvalidOperation:
        obj = None
    if obj is None or not 0 < obj < 100:
        refusals.add(doc, (*p, "objective"), "must be a percentage strictly between 0 and 100 (e.g. 99.9); "
                                             "obsgen has no error budget for 100")
    before = len(refusals.problems)  # every problem of the SLO is said, then it is left out
    if obj is None or not 0 < obj < 100:
        obj = Decimal(99)
    name = slug(name_raw or "slo")
    out = Map(name=name)
    if name != name_raw:
        out.note("name", f"Sloth's SLO {name_raw!r} ({doc.where((*p, 'name'))}): obsgen's SLO names are slugs; its "
                         f"sloth_id becomes {service}-{name}")
    out["objective"] = float(obj) if obj != obj.to_integral_value() else int(obj)
    description = text(doc, (*p, "description"), slo.get("description"), refusals)
    if description:
        out["description"] = description.strip()

    sli_path = (*p, "sli")
    sli = mapping(doc, sli_path, slo.get("sli"), ("events", "raw", "plugin"), "a Sloth SLI", refusals)
    kinds = [k for k in ("events", "raw", "plugin") if sli.get(k) is not None]
    errors = total = ratio = None
    if "plugin" in kinds:
        plugin = sli["plugin"] if isinstance(sli["plugin"], dict) else {}
        refusals.add(doc, (*sli_path, "plugin"), (
            f"Sloth's SLI plugin {plugin.get('id', '')!r} is Go code Sloth runs to write its queries, which "
            "obsgen cannot read: write this SLI as `events` (error_query, total_query) or `raw` "
            "(error_ratio_query) with the queries the plugin generates"))
    elif len(kinds) != 1:
        refusals.add(doc, sli_path, "needs exactly one of `events` and `raw`")
    by: tuple[str, ...] | None = ()
    differs = ""
    if kinds == ["events"]:
        ep = (*sli_path, "events")
        ev = mapping(doc, ep, sli["events"], (keys["error_query"], keys["total_query"]), "an events SLI", refusals)
        errors = _window_query(doc, (*ep, keys["error_query"]),
                               text(doc, (*ep, keys["error_query"]), ev.get(keys["error_query"]), refusals), refusals)
        total = _window_query(doc, (*ep, keys["total_query"]),
                              text(doc, (*ep, keys["total_query"]), ev.get(keys["total_query"]), refusals), refusals)
        if errors is not None and total is not None:
            out["sli"] = Map(events=Map(errors=errors, total=total))
            e_by, t_by = output_labels(errors), output_labels(total)
            by = e_by if e_by is not None and t_by is not None and set(e_by) == set(t_by) else None
    elif kinds == ["raw"]:
        rp = (*sli_path, "raw")
        rw = mapping(doc, rp, sli["raw"], (keys["error_ratio_query"],), "a raw SLI", refusals)
        ratio = _window_query(doc, (*rp, keys["error_ratio_query"]),
                              text(doc, (*rp, keys["error_ratio_query"]), rw.get(keys["error_ratio_query"]), refusals),
                              refusals)
        if ratio is not None:
            out["sli"] = Map(type="ratio", expr=ratio)
            by = output_labels(ratio)
    if by:
        out["by"] = Seq(by)
        out.note("by", "from the queries' `sum by (...)`: Sloth's SLI has one series per group, obsgen judges each "
                       "group on its own as Sloth does")
    elif by is None and errors is not None and total is not None and _divided_by_itself(errors, total):
        differs = (f"Sloth divides its queries series by series ({doc.where(sli_path)}) and neither sums: every "
                   "series the error query returns is one the total query returns too, with the same labels, so "
                   "Sloth divides each by itself: its error ratio is 1 in every window with an error (NaN without) "
                   "and its alerts fire on a single error. obsgen sums each query over every series (all errors "
                   "over all events, one SLO), so it pages later than Sloth here, and `--prove` reports this "
                   "difference. Sum the queries in Sloth too, or add `by: [<labels>]`")
        out.note("sli", differs)
    elif by is None:
        how = "averages it" if ratio else "sums each query"
        out.note("sli", f"Sloth divides its queries series by series ({doc.where(sli_path)}); obsgen {how} over "
                        "every series (one SLO): the queries' shape does not say which labels their series keep. "
                        "If they return one series per group, add `by: [<labels>]`")
    out["period"] = period

    # alerting: Sloth's labels merge document < SLO < alerting < tier; annotations alerting < tier
    ap = (*p, "alerting")
    alerting = mapping(doc, ap, slo.get("alerting"), ("name", "labels", "annotations", keys["page_alert"],
                                                      keys["ticket_alert"]), "a Sloth SLO's alerting", refusals)
    slo_labels = _labels_ok(doc, (*p, "labels"), string_map(doc, (*p, "labels"), slo.get("labels"), refusals),
                            refusals)
    al_labels = _labels_ok(doc, (*ap, "labels"), string_map(doc, (*ap, "labels"), alerting.get("labels"), refusals),
                           refusals)
    al_ann = string_map(doc, (*ap, "annotations"), alerting.get("annotations"), refusals)
    alert_name = text(doc, (*ap, "name"), alerting.get("name"), refusals)
    out_alerting = Map()
    notes: list[str] = []
    if slo_labels:
        notes.append(f"Sloth's SLO labels {', '.join(f'{k}={v}' for k, v in slo_labels.items())} "
                     f"({doc.where((*p, 'labels'))}) are on both tiers' alerts here; Sloth also put them on every "
                     "recorded series")
    shared_name = None
    if alert_name:
        shared_name = fit_alert_name(alert_name, service, "Sloth", doc.where((*ap, "name")), notes,
                                     "both tiers' alerts")
    enabled = {}
    for tier in TIERS:
        tp = (*ap, keys[f"{tier}_alert"])
        t = mapping(doc, tp, alerting.get(keys[f"{tier}_alert"]), ("disable", "labels", "annotations"),
                    f"the {tier} alert", refusals)
        disable = t.get("disable", False)
        if not isinstance(disable, bool):
            refusals.add(doc, (*tp, "disable"), "must be true or false")
            disable = False
        enabled[tier] = not disable
        if disable:
            out_alerting[tier] = False
            continue
        t_labels = _labels_ok(doc, (*tp, "labels"), string_map(doc, (*tp, "labels"), t.get("labels"), refusals),
                              refusals)
        merged = {**svc_labels, **slo_labels, **al_labels, **t_labels}
        severity, labels = _tier_label_shape(merged, tier, doc.where(tp), notes)
        annotations = {**al_ann, **string_map(doc, (*tp, "annotations"), t.get("annotations"), refusals)}
        for k in list(annotations):
            if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", k):
                refusals.add(doc, (*tp, "annotations", k), f"{k!r} is not an annotation name obsgen can write")
                del annotations[k]
            elif "sloth_" in annotations[k]:
                notes.append(f"{tier}: the annotation {k} reads a sloth_* label, which obsgen's alerts do not carry "
                             "(they carry service, slo and slo_id)")
        shape = Map()
        if shared_name:
            shape["name"] = shared_name
        if severity:
            shape["severity"] = severity
        shape["labels"] = Map(sorted(labels.items()))
        if annotations:
            shape["annotations"] = Map(sorted(annotations.items()))
        out_alerting[f"{tier}_alert"] = shape
    out["alerting"] = out_alerting
    out.note("alerting", "sloth_severity is kept on each tier so routes written for Sloth still match; obsgen's "
                         "own is `tier` (page/ticket)")
    for n in notes:
        out.note("alerting", n)
    info = slo.get(keys["info_labels"])
    if info:
        out.note(None, f"Sloth's infoLabels ({doc.where((*p, keys['info_labels']))}) are not kept: obsgen's "
                       "sloth_slo_info carries sloth_id, sloth_service, sloth_slo and sloth_objective only")
    if slo.get("interval"):
        out.note(None, f"Sloth's rule group interval ({doc.where((*p, 'interval'))}) is not kept: obsgen "
                       "evaluates every group at `defaults.evaluation_interval`")
    if sloth_series:
        out["sloth_compatible"] = True

    if len(refusals.problems) > before or "sli" not in out:
        return None
    ws = windows.get(period) or sloth_default_windows(period)
    assert ws is not None  # checked before the SLOs
    _, sloth_tiers = _obsgen_tiers(ws)
    record = SlothSlo(service, name, obj, errors, total, ratio, enabled["page"], enabled["ticket"], period,
                      sloth_tiers, doc.where(p), differs)
    return out, record


def import_sloth(paths: Sequence[str | FsPath], period: str = "30d",
                 sloth_series: bool = False) -> tuple[Imported, list[SlothSlo]]:
    """The services, SLOs and windows of Sloth's files; SourceError listing every refusal."""
    refusals = Refusals()
    docs = read_all(paths)
    try:
        period = norm(period)
        if seconds(period) % DAY or seconds(period) == 0:
            raise ValueError(f"{period} is no whole number of days")
    except ValueError as e:
        raise SourceError([Problem((), f"--period: {e}", None, "command line")]) from None
    windows: dict[str, WindowSet] = {}
    slo_docs: list[_Doc] = []
    for doc in docs:
        kind, d = _classify(doc, refusals)
        if kind == "windows":
            ws = _alert_windows(doc, refusals)
            if ws is not None:
                if ws.period in windows:
                    refusals.add(doc, ("spec", "sloPeriod"), f"a second AlertWindows for {ws.period} (the first: "
                                                             f"{windows[ws.period].where})")
                windows[ws.period] = ws
        elif d is not None:
            slo_docs.append(d)
    if not slo_docs and not refusals.problems:
        raise SourceError([Problem((), "no Sloth SLO spec (prometheus/v1 or PrometheusServiceLevel) in the files",
                                   None, ", ".join(map(str, paths)))])
    if slo_docs and period not in windows and sloth_default_windows(period) is None:
        refusals.add(slo_docs[0].doc, (), (f"Sloth has no default windows for a {period} period (only 30d and 28d): "
                                           "give its AlertWindows file"))
    refusals.raise_any()

    imported = Imported("Sloth")
    services: dict[str, Map] = {}
    records: list[SlothSlo] = []
    for d in slo_docs:
        doc = d.doc
        svc_raw = text(doc, (*d.base, "service"), d.body.get("service"), refusals, required=True)
        if svc_raw is None:
            continue
        name = slug(svc_raw)
        labels = _labels_ok(doc, (*d.base, "labels"),
                            string_map(doc, (*d.base, "labels"), d.body.get("labels"), refusals), refusals)
        svc = services.get(name)
        if svc is None:
            svc = Map(name=name)
            svc.note(None, f"from Sloth: {doc.where(d.base or ())}")
            if name != svc_raw:
                svc.note("name", f"Sloth's service {svc_raw!r}: obsgen's service names are slugs")
            services[name] = svc
            team = labels.get("team")
            if team:
                svc["team"] = team
                svc.note("team", "Sloth's label team: obsgen's `team` puts it on every alert and routes by "
                                 "`routing.teams`")
            kept = {k: v for k, v in labels.items() if k not in OBSGEN_LABELS and k not in ("team", "severity")
                    and not k.startswith("__")}
            dropped = sorted(set(labels) - set(kept) - {"team", "severity"})
            if kept:
                svc["labels"] = Map(sorted(kept.items()))
                svc.note("labels", "Sloth's labels: obsgen puts them on every alert of the service; Sloth also "
                                   "put them on every recorded series")
            if dropped:
                svc.note(None, f"Sloth's labels {', '.join(dropped)} are dropped: obsgen sets them itself")
            svc["slos"] = Seq()
        slos = d.body.get("slos")
        if not isinstance(slos, list) or not slos:
            refusals.add(doc, (*d.base, "slos"), "needs at least one SLO")
            continue
        # what this document's labels add to the service's (a second document of it, or `severity`): the tiers'
        other = {k: v for k, v in labels.items() if svc.get("labels", {}).get(k) != v
                 and (k != "team" or v != svc.get("team")) and k not in OBSGEN_LABELS and not k.startswith("__")}
        for j in range(len(slos)):
            found = _slo(d, j, name, other, period, windows, refusals, sloth_series)
            if found is None:
                continue
            slo, record = found
            if slo["name"] in {s["name"] for s in svc["slos"]}:
                refusals.add(doc, (*d.base, "slos", j, "name"), f"service {name!r} has an SLO {slo['name']!r} already")
                continue
            svc["slos"].append(slo)
            records.append(record)
    refusals.raise_any()
    imported.services = list(services.values())

    used = {r.period for r in records}
    for p in sorted(used, key=seconds):
        ws = windows.get(p) or sloth_default_windows(p)
        assert ws is not None
        tiers, _ = _obsgen_tiers(ws)
        if tiers:
            imported.slo_windows[p] = tiers
        else:  # every tier is obsgen's default for the period: nothing to write, only what differs to say
            imported.head += [f"SLO windows of {p}: {note}" for note in tiers.notes.get(None, [])]
    for p in sorted(set(windows) - used, key=seconds):
        imported.head.append(f"The AlertWindows for {p} ({windows[p].where}) is not used: every SLO is {period} "
                             "(--period)")
    imported.head[:0] = [
        f"Imported from Sloth by `obsgen import sloth` ({', '.join(sorted({r.where.split(':')[0] for r in records}))}).",
        f"Every SLO is {period} (Sloth's specs name no period; --period). obsgen's burn-rate alerts use Sloth's",
        "windows and thresholds where no comment says otherwise; obsgen adds, per SLO, <Service><Slo>SliAbsent (no",
        "SLI data) and, with the ticket, <Service><Slo>BudgetExhausted. `obsgen import sloth --prove` compares both.",
    ]
    if not sloth_series:
        imported.head.append("Sloth's own series names (for Sloth's Grafana dashboards): set `sloth_compatible: true` "
                             "(--sloth-series)")
    return imported, records
