"""`obsgen import pyrra`: Pyrra's `pyrra.dev/v1alpha1` ServiceLevelObjective resources as obsgen SLOs.

Pyrra has no services: an SLO's service is `--service`, else its namespace (Kubernetes' `default` when it
has none); its name loses a leading `<service>-`, so obsgen's `slo_id` (`<service>-<name>`) is Pyrra's name.

How each field maps, and where obsgen differs (each difference is a comment in the written spec):

- `target` (a string, percent) -> `objective`; `window` -> `period` (whole days: `2w` is `14d`);
- `indicator.ratio.{errors,total}` (counter selectors) -> an events SLI, each `sum(rate(<selector>[{{window}}]))`
  as Pyrra's burn rates read them; `grouping` -> `by` (per group, `sum by (...)`);
- `indicator.latency.{success,total}` (a classic histogram's `_bucket{le=...}` and `_count`) -> an events SLI,
  errors = total - success: obsgen's own latency SLI reads the service's `duration_histogram` by its scrape
  job (a `scrape` a Pyrra SLO does not say), while Pyrra's selectors carry their own matchers, which the events
  form keeps exactly (obsgen's generated tests cannot feed that difference: its alerts are accept_unproven);
- `indicator.latencyNative.{total,latency}` -> a latency_native SLI over that native histogram, `latency` its
  threshold; `indicator.bool_gauge.metric` -> a bool_gauge SLI (each sample one event, 0 a bad one); both
  with `grouping` -> `by` (were a build of obsgen without those SLI types, `OBSGEN_SLI_TYPES`, they would
  be refused at their place rather than approximated);
- Pyrra's four multi-window alerts keep factors 14, 7, 2, 1 and scale their windows with the period
  (period / 28d, rounded to the minute): they become `defaults.slo_windows.<period>` (long window, short
  window, the share of the budget that factor burns in the long window); a short window below obsgen's 5m
  base window is 5m; each tier's `for` is the smaller of its two windows' (obsgen has one per tier);
- `pyrra.dev/`-prefixed labels and annotations, which Pyrra copies (without the prefix) onto its alerts, and
  the total selector's equality matchers, which Pyrra also puts on its alerts: both tiers' labels and
  annotations; other labels (which select the PrometheusRule) are not kept;
- `alerting.name` -> both tiers' name (prefixed with the service's name); `disabled` / `burnrates: false` ->
  no burn-rate alerts; `absent` / `absentName`: obsgen's SliAbsent is always there, under its own name.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path as FsPath
from typing import Any

from ..slo_math import BASE_SECONDS, exact, seconds
from ..spec.errors import Path, Problem
from ..spec.models import Sli
from ..units import duration_seconds, format_duration
from .common import (
    LABEL_NAME,
    OWNED_LABELS,
    Selector,
    by_clause,
    fit_alert_name,
    label_problem,
    rate_sum,
    selector,
    share_value,
    slug,
    whole_days,
)
from .source import Document, Refusals, SourceError, mapping, read_all, text
from .spec_writer import Imported, Map, Seq

API = "pyrra.dev/v1alpha1"
KIND = "ServiceLevelObjective"
PREFIX = "pyrra.dev/"
DEFAULT_ALERT = "ErrorBudgetBurn"
INDICATORS = ("ratio", "latency", "latencyNative", "bool_gauge")
OBSGEN_SLI_TYPES = frozenset(typing.get_args(Sli.model_fields["type"].annotation))

# Pyrra's windows for a 28d SLO, each the period divided by these (Pyrra's slo.Windows): tier, long, short,
# for, factor; every duration rounded to the minute
PYRRA_WINDOWS = (("page_fast", 672, 8064, 20160, 14), ("page_slow", 112, 1344, 2688, 7),
                 ("ticket_fast", 28, 336, 672, 2), ("ticket_slow", 7, 112, 224, 1))


@dataclass(frozen=True)
class PyrraWindow:
    """One of Pyrra's multi-window alerts for a period: both windows above factor × (1 - target)."""

    key: str
    long: int  # seconds
    short: int
    for_: int
    factor: int


def _round_minute(value: Fraction) -> int:
    """Go's Duration.Round(time.Minute) of a positive duration: halves away from zero."""
    return int((value / 60 + Fraction(1, 2)) // 1) * 60


def pyrra_windows(period: str) -> list[PyrraWindow]:
    p = Fraction(seconds(period))
    return [PyrraWindow(key, _round_minute(p / long), _round_minute(p / short), _round_minute(p / for_), f)
            for key, long, short, for_, f in PYRRA_WINDOWS]


@dataclass
class PyrraSlo:
    """One imported SLO with Pyrra's own numbers, for a proof beside obsgen's rules."""

    service: str
    slo: str
    pyrra_name: str
    target: Decimal
    period: str
    errors: str | None  # obsgen's events queries, `{{window}}` where the range goes
    total: str | None
    by: list[str]
    alerting: bool
    windows: list[PyrraWindow] = field(default_factory=list)
    where: str = ""
    # latencyNative and bool_gauge: Pyrra's own burn-rate expression (its slo/rules.go), `{{window}}` where the
    # range goes; obsgen's SLI reads the same series differently (histogram_count, count_over_time per 5m)
    burnrate: str | None = None


def _obsgen_windows(period: str, where: str, doc: Document, path: Path,
                    refusals: Refusals) -> tuple[Map, dict[str, int]] | None:
    """`defaults.slo_windows.<period>` from Pyrra's windows, and the `for` (seconds) of each tier."""
    out = Map()
    fors: dict[str, int] = {}
    notes = []
    for w in pyrra_windows(period):
        if w.long <= BASE_SECONDS:
            refusals.add(doc, path, (
                f"obsgen cannot alert on Pyrra's {period} windows: the {w.key} tier's long window "
                f"{format_duration(w.long)} is not longer than obsgen's 5m base window (use a period of 3d or more)"))
            return None
        short = max(w.short, BASE_SECONDS)
        if short != w.short:
            notes.append(f"{w.key}: Pyrra's short window {format_duration(w.short)} is below obsgen's 5m base "
                         "window: obsgen checks 5m (the alert may fire up to a few minutes later and resolves later)")
        share = Fraction(w.factor * w.long * 100, seconds(period))
        value = share_value(share, Fraction(w.long * 100, seconds(period)))
        if Fraction(value) != share:
            how = "up (a burn rate below 1 is refused)" if Fraction(value) > share else "down"
            notes.append(f"{w.key}: Pyrra's burn rate {w.factor} is {exact(share)}% of the budget in "
                         f"{format_duration(w.long)}, written to 17 digits and rounded {how}: obsgen's threshold "
                         "differs from Pyrra's by less than 1e-15 of it")
        out[w.key] = Seq([format_duration(w.long), format_duration(short), value])
        tier = w.key.split("_")[0]
        fors[tier] = min(fors.get(tier, w.for_), w.for_)
    out.note(None, f"Pyrra's multi-window alerts for a {period} window ({where}): factors 14, 7, 2 and 1 over "
                   "windows that scale with the period (period / 28d, rounded to the minute), as "
                   "[long, short, percent of the budget that factor burns in the long window]")
    for n in notes:
        out.note(None, n)
    return out, fors


def _tier_for(fors: dict[str, int], tier: str, windows: list[PyrraWindow], notes: list[str]) -> str | None:
    mine = [w for w in windows if w.key.startswith(tier)]
    if len({w.for_ for w in mine}) > 1:
        notes.append(f"{tier}: Pyrra waits {' and '.join(format_duration(w.for_) for w in mine)} (`for`) on its "
                     f"two {tier} windows; obsgen has one `for` per tier and takes the shorter, so its slower "
                     "window may fire earlier than Pyrra's, never later")
    return format_duration(fors[tier]) if fors[tier] else None


def _target(doc: Document, path: Path, raw: Any, refusals: Refusals) -> Decimal | None:
    try:
        value = Decimal(str(raw)) if isinstance(raw, (str, int, float)) and not isinstance(raw, bool) else None
    except InvalidOperation:
        value = None
    if value is None or not 0 < value < 100:
        refusals.add(doc, path, "must be a percentage strictly between 0 and 100 as a string (e.g. \"99.5\"); "
                                "obsgen has no error budget for 100")
        return None
    return value


def _grouping(doc: Document, path: Path, raw: Any, refusals: Refusals) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(g, str) and LABEL_NAME.fullmatch(g) for g in raw):
        refusals.add(doc, path, "must be a list of label names")
        return []
    return list(dict.fromkeys(raw))


def _query(doc: Document, path: Path, block: Any, what: str, refusals: Refusals) -> Selector | None:
    q = mapping(doc, path, block, ("metric",), what, refusals)
    if block is None:
        refusals.add(doc, path, "is required")
        return None
    return selector(doc, (*path, "metric"), q.get("metric"), refusals)


def _native_sli(total: Selector, latency: str, by: list[str]) -> Map:
    """latencyNative: the share of requests slower than `latency`, from a native histogram."""
    return Map(type="latency_native", metric=total.text, threshold=latency)


def _native_burnrate(total: Selector, seconds_: float, by: list[str]) -> str:
    """Pyrra's burn rate of a latencyNative indicator: 1 - the fraction of requests up to `latency`."""
    return f"1 - histogram_fraction(0, {seconds_!r}, {by_clause(by)}(rate({total.text}[{{{{window}}}}])))"


def _bool_gauge_sli(metric: Selector, by: list[str]) -> Map:
    """bool_gauge: each sample of a 0/1 gauge one event, 0 a bad one."""
    return Map(type="bool_gauge", metric=metric.text)


def _bool_gauge_burnrate(metric: Selector, by: list[str]) -> str:
    """Pyrra's burn rate of a bool_gauge indicator: (samples - their sum) / samples over the window."""
    count = f"{by_clause(by)}(count_over_time({metric.text}[{{{{window}}}}]))"
    return f"(\n  {count}\n  -\n  {by_clause(by)}(sum_over_time({metric.text}[{{{{window}}}}]))\n)\n/\n{count}"


def _indicator(doc: Document, path: Path, raw: Any, refusals: Refusals,
               notes: list[str]) -> tuple[Map, list[str], Selector, str | None, str | None, str | None] | None:
    """(sli, by, the selector Pyrra's alert labels come from, errors, total, Pyrra's burn rate where it is no
    errors / total) of `spec.indicator`."""
    ind = mapping(doc, path, raw, INDICATORS, "a Pyrra indicator", refusals)
    kinds = [k for k in INDICATORS if ind.get(k) is not None]
    if len(kinds) != 1:
        refusals.add(doc, path, "needs exactly one of ratio, latency, latencyNative and bool_gauge")
        return None
    kind = kinds[0]
    ip = (*path, kind)
    if kind == "ratio":
        block = mapping(doc, ip, ind[kind], ("errors", "total", "grouping"), "a ratio indicator", refusals)
        errors = _query(doc, (*ip, "errors"), block.get("errors"), "the errors query", refusals)
        total = _query(doc, (*ip, "total"), block.get("total"), "the total query", refusals)
        by = _grouping(doc, (*ip, "grouping"), block.get("grouping"), refusals)
        if errors is None or total is None:
            return None
        e, t = rate_sum(errors, by), rate_sum(total, by)
        return Map(events=Map(errors=e, total=t)), by, total, e, t, None
    if kind == "latency":
        block = mapping(doc, ip, ind[kind], ("success", "total", "grouping"), "a latency indicator", refusals)
        success = _query(doc, (*ip, "success"), block.get("success"), "the success query", refusals)
        total = _query(doc, (*ip, "total"), block.get("total"), "the total query", refusals)
        by = _grouping(doc, (*ip, "grouping"), block.get("grouping"), refusals)
        if success is None or total is None:
            return None
        le = [m for m in success.matchers if m.name == "le"]
        if len(le) != 1 or le[0].op != "=":
            refusals.add(doc, (*ip, "success", "metric"), "needs an le=\"<bucket>\" matcher: the bucket of the "
                                                          "requests fast enough")
            return None
        if "." not in le[0].value and le[0].value != "+Inf":
            notes.append(f"the success bucket le=\"{le[0].value}\" ({doc.where((*ip, 'success'))}): Prometheus 3 "
                         f"writes whole-number buckets as le=\"{le[0].value}.0\" (Pyrra rewrites the matcher for it, "
                         "obsgen keeps yours)")
        t = rate_sum(total, by)
        e = f"{t} - {by_clause(by)}(rate({success.text}[{{{{window}}}}]))"
        notes.append(f"Pyrra's latency indicator ({doc.where(ip)}) as events: errors = all requests - those in the "
                     f"le=\"{le[0].value}\" bucket, with Pyrra's selectors (obsgen's latency SLI reads the "
                     "service's duration_histogram by obsgen's own scrape job, which a Pyrra SLO does not say). "
                     "obsgen's generated tests cannot feed a difference of two queries: its alerts are listed in "
                     "proof.accept_unproven")
        return Map(events=Map(errors=e, total=t)), by, total, e, t, None
    if kind == "latencyNative":
        block = mapping(doc, ip, ind[kind], ("latency", "total", "grouping"), "a latencyNative indicator", refusals)
        if "latency_native" not in OBSGEN_SLI_TYPES:
            refusals.add(doc, ip, ("a native-histogram latency SLI (latencyNative) is one obsgen cannot express yet: "
                                   "its SLIs read classic histograms' buckets only. Write it as `latency` with the "
                                   "classic histogram's `_bucket{le=...}` and `_count`, if the service exports one"))
            return None
        total = _query(doc, (*ip, "total"), block.get("total"), "the total query", refusals)
        by = _grouping(doc, (*ip, "grouping"), block.get("grouping"), refusals)
        latency = text(doc, (*ip, "latency"), block.get("latency"), refusals, required=True)
        if total is None or latency is None:
            return None
        try:
            # Pyrra reads it as a Prometheus duration and puts its seconds (a float64) in histogram_fraction
            latency_s = float(duration_seconds(latency))
        except ValueError as err:
            refusals.add(doc, (*ip, "latency"), str(err))
            return None
        return _native_sli(total, latency, by), by, total, None, None, _native_burnrate(total, latency_s, by)
    block = mapping(doc, ip, ind[kind], ("metric", "grouping"), "a bool_gauge indicator", refusals)
    if "bool_gauge" not in OBSGEN_SLI_TYPES:
        refusals.add(doc, ip, ("a boolean-gauge SLI (bool_gauge: each sample of a 0/1 gauge one event) is one obsgen "
                               "cannot express yet; write it as `ratio` over counters of good and all events, if the "
                               "service exports them"))
        return None
    metric = selector(doc, (*ip, "metric"), block.get("metric"), refusals)
    by = _grouping(doc, (*ip, "grouping"), block.get("grouping"), refusals)
    if metric is None:
        return None
    return _bool_gauge_sli(metric, by), by, metric, None, None, _bool_gauge_burnrate(metric, by)


def _flag(doc: Document, path: Path, raw: Any, default: bool, refusals: Refusals) -> bool:
    if raw is None:
        return default
    if not isinstance(raw, bool):
        refusals.add(doc, path, "must be true or false")
        return default
    return raw


def _prefixed(doc: Document, path: Path, raw: Any, refusals: Refusals) -> tuple[dict[str, str], list[str]]:
    """The `pyrra.dev/` entries of metadata labels or annotations (prefix removed), and the other keys."""
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        refusals.add(doc, path, "must be a mapping of names to strings")
        return {}, []
    out, other = {}, []
    for k, v in raw.items():
        if not isinstance(k, str) or not k.startswith(PREFIX):
            other.append(str(k))
            continue
        out[k[len(PREFIX):]] = "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
    return out, other


def _slo(doc: Document, service: str | None, refusals: Refusals,
         windows: dict[str, tuple[Map, dict[str, int]]]) -> tuple[str, Map, PyrraSlo] | None:
    data = mapping(doc, (), doc.data, ("apiVersion", "kind", "metadata", "spec", "status"), "a Pyrra "
                   "ServiceLevelObjective", refusals)
    meta: dict[str, Any] = data["metadata"] if isinstance(data.get("metadata"), dict) else {}
    if not isinstance(data.get("metadata"), dict):
        refusals.add(doc, ("metadata",), "is required (name, and usually namespace, labels)")
    spec = mapping(doc, ("spec",), data.get("spec"), ("description", "target", "window", "indicator", "alerting",
                                                       "partial_response_strategy"), "a Pyrra SLO's spec", refusals)
    raw_name = text(doc, ("metadata", "name"), meta.get("name"), refusals, required=True)
    namespace = text(doc, ("metadata", "namespace"), meta.get("namespace"), refusals)
    target = _target(doc, ("spec", "target"), spec.get("target"), refusals)
    period = whole_days(doc, ("spec", "window"), spec.get("window"), "window", refusals)
    notes: list[str] = []
    svc = slug(service or namespace or "default")
    found = _indicator(doc, ("spec", "indicator"), spec.get("indicator"), refusals, notes)
    if raw_name is None or target is None or period is None or found is None:
        return None
    sli, by, labelled, errors, total, burnrate = found

    base = slug(raw_name)
    name = base[len(svc) + 1:] if base.startswith(svc + "-") and len(base) > len(svc) + 1 else base
    out = Map(name=name)
    out.note(None, f"from Pyrra: {doc.where(())}")
    if f"{svc}-{name}" != raw_name:
        out.note("name", f"Pyrra's SLO {raw_name!r}: obsgen's slo_id is {svc}-{name} (Pyrra's alerts carry "
                         f"slo={raw_name}; obsgen's carry slo={name} and slo_id={svc}-{name})")
    else:
        out.note("name", f"obsgen's slo_id {svc}-{name} is Pyrra's name; its `slo` label is {name} (Pyrra's alerts "
                         f"carry slo={raw_name})")
    out["objective"] = float(target) if target != target.to_integral_value() else int(target)
    description = text(doc, ("spec", "description"), spec.get("description"), refusals)
    if description and description.strip():
        out["description"] = description.strip()
    out["sli"] = sli
    if by:
        out["by"] = Seq(by)
        out.note("by", "Pyrra's grouping: one SLO per group, each with its own burn-rate alerts, as in Pyrra")
    out["period"] = period
    if spec.get("window") is not None and str(spec["window"]) != period:
        out.note("period", f"Pyrra's window {spec['window']}")

    ap: Path = ("spec", "alerting")
    alerting = mapping(doc, ap, spec.get("alerting"), ("name", "disabled", "burnrates", "absent", "absentName"),
                       "a Pyrra SLO's alerting", refusals)
    disabled = _flag(doc, (*ap, "disabled"), alerting.get("disabled"), False, refusals)
    burnrates = _flag(doc, (*ap, "burnrates"), alerting.get("burnrates"), True, refusals)
    absent = _flag(doc, (*ap, "absent"), alerting.get("absent"), True, refusals)
    absent_name = text(doc, (*ap, "absentName"), alerting.get("absentName"), refusals)
    alert_name = text(doc, (*ap, "name"), alerting.get("name"), refusals)
    on = burnrates and not disabled

    ws = windows.get(period)
    if ws is None:
        got = _obsgen_windows(period, doc.where(("spec", "window")), doc, ("spec", "window"), refusals)
        if got is None:
            return None
        windows[period] = ws = got
    fors = ws[1]

    labels, other_labels = _prefixed(doc, ("metadata", "labels"), meta.get("labels"), refusals)
    annotations, _ = _prefixed(doc, ("metadata", "annotations"), meta.get("annotations"), refusals)
    matcher_labels = {k: v for k, v in labelled.equal().items() if k not in by}
    tier_labels: dict[str, str] = {}
    for source, entries in (("the total selector's matcher", matcher_labels), ("label pyrra.dev/", labels)):
        for k, v in entries.items():
            where = "metadata.labels" if source.startswith("label") else "spec.indicator"
            if k in OWNED_LABELS:
                notes.append(f"Pyrra's {source}{k}={v} ({doc.where((where.split('.')[0],))}) is dropped: obsgen sets "
                             f"`{k}` on every SLO alert")
                continue
            problem = label_problem(k, v)
            if problem:
                refusals.add(doc, ("metadata", "labels", PREFIX + k) if source.startswith("label") else
                             ("spec", "indicator"), problem)
                continue
            tier_labels[k] = v
    if matcher_labels:
        notes.append(f"{', '.join(f'{k}={v}' for k, v in sorted(matcher_labels.items()))}: the total selector's "
                     "equality matchers, which Pyrra puts on its alerts")
    if labels:
        notes.append(f"Pyrra copies the pyrra.dev/ labels ({doc.where(('metadata', 'labels'))}) onto its alerts "
                     "without the prefix, and so does this spec (on both tiers)")
    if other_labels:
        out.note(None, f"Pyrra's other labels ({', '.join(sorted(other_labels))}) only select its PrometheusRule; "
                       "obsgen writes its own rule files, so they are not kept")
    for k in list(annotations):
        if not LABEL_NAME.fullmatch(k):
            refusals.add(doc, ("metadata", "annotations", PREFIX + k), f"{k!r} is not an annotation name obsgen can "
                                                                       "write")
            del annotations[k]
    if annotations:
        notes.append(f"Pyrra copies the pyrra.dev/ annotations ({doc.where(('metadata', 'annotations'))}) onto its "
                     "alerts without the prefix, and so does this spec (on both tiers; obsgen's summary and "
                     "description are overridden where they share a name)")

    out_alerting = Map()
    name_used = None
    if alert_name:
        name_used = fit_alert_name(alert_name, svc, "Pyrra", doc.where((*ap, "name")), notes)
    elif on:
        notes.append(f"Pyrra names every SLO's burn-rate alerts {DEFAULT_ALERT} (told apart by `slo`); obsgen's are "
                     f"<Service><Slo>BudgetBurn: routes and silences matching alertname={DEFAULT_ALERT} must change")
    if not on:
        out_alerting["page"] = False
        out_alerting["ticket"] = False
        why = "disabled: true" if disabled else "burnrates: false"
        out.note("alerting", f"Pyrra's {why} ({doc.where(ap)}): no burn-rate alerts; obsgen then has no SliAbsent "
                             f"either{', while Pyrra keeps its absent alert' if absent else ''}")
    else:
        for tier in ("page", "ticket"):
            shape = Map()
            if name_used:
                shape["name"] = name_used
            shape["severity"] = "critical" if tier == "page" else "warning"
            for_ = _tier_for(fors, tier, pyrra_windows(period), notes)
            if for_:
                shape["for"] = for_
            if tier_labels:
                shape["labels"] = Map(sorted(tier_labels.items()))
            if annotations:
                shape["annotations"] = Map(sorted(annotations.items()))
            out_alerting[f"{tier}_alert"] = shape
        if not absent:
            notes.append(f"Pyrra's absent: false ({doc.where((*ap, 'absent'))}): obsgen always has "
                         "<Service><Slo>SliAbsent while an SLO alerts")
    if absent_name:
        notes.append(f"Pyrra's absentName {absent_name} ({doc.where((*ap, 'absentName'))}): obsgen names its absent "
                     "alert <Service><Slo>SliAbsent")
    if spec.get("partial_response_strategy") is not None:
        notes.append("partial_response_strategy is for Thanos Ruler only; obsgen's rules have none")
    out["alerting"] = out_alerting
    out.note("alerting", "Pyrra's alerts carry short, long and exhaustion labels per window; obsgen's carry `tier` "
                         "(page/ticket), and its description names the windows")
    for n in notes:
        out.note("alerting", n)
    record = PyrraSlo(svc, name, raw_name, target, period, errors, total, by, on, pyrra_windows(period),
                      doc.where(()), burnrate)
    return svc, out, record


def import_pyrra(paths: Sequence[str | FsPath], service: str | None = None) -> tuple[Imported, list[PyrraSlo]]:
    """The services, SLOs and windows of Pyrra's files; SourceError listing every refusal."""
    refusals = Refusals()
    docs = read_all(paths)
    if service is not None and slug(service) != service:
        raise SourceError([Problem((), f"--service {service!r} is no slug (e.g. {slug(service)})", None,
                                   "command line")])
    slo_docs: list[Document] = []
    for doc in docs:
        data = doc.data
        if isinstance(data, dict) and data.get("apiVersion") == API and data.get("kind") == KIND:
            slo_docs.append(doc)
        elif isinstance(data, dict) and data.get("kind") == "List" and isinstance(data.get("items"), list):
            refusals.add(doc, ("items",), "a Kubernetes List: write each ServiceLevelObjective as its own document "
                                          "(`---` between them)")
        else:
            refusals.add(doc, ("kind",) if isinstance(data, dict) and "kind" in data else (),
                         f"is no Pyrra document: expected `apiVersion: {API}` and `kind: {KIND}`")
    refusals.raise_any()

    windows: dict[str, tuple[Map, dict[str, int]]] = {}
    services: dict[str, Map] = {}
    records: list[PyrraSlo] = []
    seen: dict[tuple[str, str], str] = {}
    for doc in slo_docs:
        found = _slo(doc, service, refusals, windows)
        if found is None:
            continue
        svc_name, slo, record = found
        key = (svc_name, slo["name"])
        if key in seen:
            refusals.add(doc, ("metadata", "name"), f"service {svc_name!r} has an SLO {slo['name']!r} already "
                                                    f"({seen[key]})")
            continue
        seen[key] = doc.where(("metadata", "name"))
        svc = services.get(svc_name)
        if svc is None:
            svc = services[svc_name] = Map(name=svc_name, slos=Seq())
            ns = (doc.data.get("metadata") or {}).get("namespace")
            how = "--service" if service else "their namespace" if ns else \
                "Kubernetes' default namespace (the SLO names none)"
            svc.note(None, f"from Pyrra: its SLOs' service is {how}")
        svc["slos"].append(slo)
        records.append(record)
    refusals.raise_any()

    imported = Imported("Pyrra")
    imported.services = list(services.values())
    for period in sorted(windows, key=duration_seconds):
        imported.slo_windows[period] = windows[period][0]
    files = ", ".join(sorted({r.where.split(":")[0] for r in records}))
    imported.head = [
        f"Imported from Pyrra by `obsgen import pyrra` ({files}).",
        "obsgen's burn-rate alerts fire on Pyrra's windows and factors (defaults.slo_windows, per period); obsgen",
        "adds, per SLO, <Service><Slo>SliAbsent (Pyrra's SLOMetricAbsent) and, with the ticket,",
        "<Service><Slo>BudgetExhausted.",
    ]
    return imported, records
