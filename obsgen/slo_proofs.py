"""Generated promtool proofs of the SLO alerts (items of `prometheus/tests/<service>.test.yml`).

For each SLO, synthetic raw series (request counters, histogram buckets, or the counters an events SLI
names) are fed through the service's real rule file, and the `ALERTS` series promtool records show:

- a total outage pages no later than the Workbook's detection time of the fastest page tier
  (long window × factor × budget) plus two evaluation intervals;
- errors at 2× the budget rate (or between the ticket and page factors when 2× is not) open the
  ticket and never page;
- half the requests failing from the start (more when a page threshold or the budget is not below a
  half), then the raw series stopping after 5m, prove three alerts with one input: `BudgetExhausted`
  (the period window holds only these errors) is silent until its `for` has passed and fires after it;
  `SliAbsent` fires once the 5m rates have run out and its `for` has passed, not before; and with a
  low-traffic guard (`min_request_rate`), this traffic at half that rate never pages, although every
  window's error ratio is above every page threshold (the outage proof runs above that rate, and pages);
- errors at half the budget rate (or half the lowest factor) fire nothing at all: no burn-rate tier,
  most of the budget remains, the SLI has data;
- after an outage ends, the page resolves within what its short windows imply: short × (1 - factor ×
  budget), plus two evaluation intervals.

Times are exact on the evaluation grid; every group's `name` states the bound it asserts and why.
A firing check is a plain `ALERTS{alertname=..., alertstate="firing", ...}` selector whose expected sample
is the alert's whole label set (the rule's `labels:` and those of the series its expression returns); a
silent check is `ALERTS{...}` or `max_over_time(ALERTS{...}[range])` expecting no sample. `obsgen.coverage`
counts proofs in exactly these forms.

The input is read from the SLI's own queries: a plain `sum(rate(<selector>[{{window}}]))` (also
`increase()`, `sum by (...)`, any of `=`, `!=`, `=~`, `!~`), one metric for errors and total or two; label
values that pass each matcher come from `label_values`; an events SLI written as `good` and `total` is read
the same way, its good series standing for the errors' counterpart. A bool_gauge SLI's `metric` gets a 0/1
series whose share of zeros is each phase's error ratio, on a sample interval fine enough for whole zeros per
5m (`gauge_every`); a latency_native SLI's `metric` a native histogram in promtool's notation, its good and
bad requests in buckets either side of the one holding the threshold (`_histogram_values`). Ratio SLIs and
queries of any other shape get no proofs; `proof_gap()` says which part of which query obsgen could not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from math import ceil, gcd, lcm
from typing import Any

from . import label_values
from .model import Model, ServiceModel, SloModel, le_label
from .promql import quote
from .slo import (
    BUDGET_REMAINING,
    CURRENT_BURN_RATE,
    ERROR_BUDGET,
    GROUP_LOOKBACK,
    OBJECTIVE,
    PERIOD_BURN_RATE,
    SLOTH_INFO,
    TIME_PERIOD,
    alert_heads,
    alert_names,
    enabled_tiers,
    labels,
    record_name,
    sloth_labels,
    windows,
)
from .slo_math import BASE_SECONDS, BASE_WINDOW, Tier, exact, seconds
from .units import duration_seconds, fmt, format_duration

TICKET_WARM_UP = 3600  # seconds of good traffic before the ticket scenario's errors start
QUIET_FOR = 3600  # seconds the half-budget scenario runs
ABSENT_AFTER = BASE_SECONDS  # seconds the raw series exist in the SLI-absent scenario: one full 5m window
FUNCTIONS = ("rate", "increase")  # what an SLI query may take of its counters, for obsgen to feed them
_NEGATE = {"=": "!=", "!=": "=", "=~": "!~", "!~": "=~"}
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def _metric(labels: dict[str, str]) -> str:
    """`name{a="b", ...}` (the name from `__name__`), as promtool reads series and expected samples."""
    return _metric_of(tuple(labels.items()))


@lru_cache(maxsize=8192)  # every group of an SLO names the same series and alerts
def _metric_of(items: tuple[tuple[str, str], ...]) -> str:
    rest = ", ".join(f"{k}={quote(v)}" for k, v in items if k != "__name__")
    return f"{dict(items)['__name__']}{{{rest}}}"


@dataclass(frozen=True)
class Counter:
    """A raw series and the share of the SLI's traffic it counts: errors, good events or all events; or a 0/1
    gauge whose samples at 0 are the errors ("gauge"), or a native histogram of request durations holding
    good requests below `threshold` and bad ones above it ("histogram")."""

    labels: dict[str, str]  # including __name__
    counts: str  # "errors" | "good" | "total" | "gauge" | "histogram"
    threshold: Decimal | None = None  # "histogram": the SLI's threshold, in seconds

    def series(self) -> str:
        return _metric(self.labels)


# --------------------------------------------------------------------------- reading the SLI's queries


class Unreadable(Exception):
    """A query (or a matcher in it) obsgen cannot synthesize input for; the message says which part."""


@dataclass(frozen=True)
class Selector:
    """`rate(<selector>[{{window}}])` (or `increase`): the function and the matchers, `__name__` included."""

    func: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value), the value unescaped

    def reads(self, series: dict[str, str]) -> bool:
        """Prometheus' semantics: a missing label is the empty string, regexes are anchored."""
        return all(_holds(op, series.get(label, ""), value) for label, op, value in self.matchers)


def _holds(op: str, actual: str, value: str) -> bool:
    if op in ("=", "!="):
        return (actual == value) == (op == "=")
    return label_values.fullmatch(value, actual) == (op == "=~")


_TOKEN = re.compile(r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<window>\[\s*\{\{window\}\}\s*\])
  | (?P<op>=~|!~|!=|=)
  | (?P<arith>[-/])
  | (?P<punct>[(){},])
  | (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)
)""", re.X)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
            "'": "'", '"': '"'}


def _unquote(literal: str) -> str:
    """A PromQL string literal's value (Go's escapes; backquotes are raw)."""
    if literal[0] == "`":
        return literal[1:-1]
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise Unreadable(f"the escape `\\{e}{digits}` in {literal} is not valid")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif e in "01234567" and re.fullmatch("[0-7]{3}", body[i + 1:i + 4]):
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            raise Unreadable(f"the escape `\\{e}` in {literal} is not valid in PromQL")
    return "".join(out)


class _Reader:
    """Recursive descent over the few PromQL shapes obsgen can feed."""

    def __init__(self, query: str) -> None:
        self.query, self.pos = query, 0

    def peek(self) -> tuple[str, str, int]:
        """(kind, text, end) of the next token; kind "end" at the end, "bad" where nothing fits."""
        if not self.query[self.pos:].strip():
            return "end", "", len(self.query)
        m = _TOKEN.match(self.query, self.pos)
        if m is None:
            return "bad", self.query[self.pos:].strip(), len(self.query)
        kind = m.lastgroup or "bad"
        return kind, m.group(kind), m.end()

    def fail(self, expected: str) -> Unreadable:
        rest = self.query[self.pos:].strip()
        where = f"`{rest}`" if rest else "the end"
        return Unreadable(f"expected {expected} at {where}")

    def take(self, kind: str, text: str | None = None, expected: str = "") -> str:
        k, t, end = self.peek()
        if k != kind or (text is not None and t != text):
            raise self.fail(expected or f"`{text}`")
        self.pos = end
        return t

    def at(self, kind: str, text: str) -> bool:
        k, t, _ = self.peek()
        return k == kind and t == text

    def grouping(self) -> Keeps | None:
        """`by (a, b)` or `without (...)`: which labels the sum keeps does not change what it counts."""
        if self.at("name", "by") or self.at("name", "without"):
            how = self.take("name")
            self.take("punct", "(")
            names = []
            while not self.at("punct", ")"):
                names.append(self.take("name", expected="a label name"))
                if not self.at("punct", ")"):
                    self.take("punct", ",", "`,` or `)`")
            self.take("punct", ")")
            return how, tuple(sorted(set(names)))
        return None

    def operand(self) -> Operand:
        """`sum [by|without (...)] (rate(...))` or a bare `rate(...)`."""
        if self.at("name", "sum"):
            self.take("name")
            before = self.grouping()
            self.take("punct", "(")
            sel = self.call()
            self.take("punct", ")")
            return Operand(sel, self.grouping() or before or ("by", ()))
        return Operand(self.call(), ("all", ()))

    def primary(self) -> Expr:
        if self.at("punct", "("):
            self.take("punct", "(")
            inner = self.difference()
            self.take("punct", ")")
            return inner
        return self.operand()

    def quotient(self) -> Expr:
        left = self.primary()
        if self.at("arith", "/"):
            self.take("arith")
            return ("/", left, self.primary())
        return left

    def difference(self) -> Expr:
        left = self.quotient()
        if self.at("arith", "-"):
            self.take("arith")
            return ("-", left, self.quotient())
        return left

    def expression(self) -> Expr:
        found = self.difference()
        if self.peek()[0] != "end":
            raise self.fail("`-`, `/` or the end of the query")
        return found

    def query_(self) -> Selector:
        if self.at("name", "sum"):
            self.take("name")
            self.grouping()
            self.take("punct", "(")
            sel = self.call()
            self.take("punct", ")")
            self.grouping()
        else:
            sel = self.call()
        if self.peek()[0] != "end":
            raise self.fail("the end of the query")
        return sel

    def call(self) -> Selector:
        k, func, _ = self.peek()
        if k != "name" or func not in FUNCTIONS:
            raise self.fail("`rate(` or `increase(`")
        self.take("name")
        self.take("punct", "(")
        matchers: list[tuple[str, str, str]] = []
        if self.peek()[0] == "name":
            matchers.append(("__name__", "=", self.take("name")))
        if self.at("punct", "{"):
            self.take("punct", "{")
            while not self.at("punct", "}"):
                label = self.take("name", expected="a label matcher")
                op = self.take("op", expected="`=`, `!=`, `=~` or `!~`")
                matchers.append((label, op, _unquote(self.take("string", expected="a quoted value"))))
                if not self.at("punct", "}"):
                    self.take("punct", ",", "`,` or `}`")
            self.take("punct", "}")
        if not matchers:
            raise self.fail("a metric name or `{`")
        self.take("window", expected="`[{{window}}]`")
        self.take("punct", ")")
        return Selector(func, tuple(matchers))


Keeps = tuple[str, tuple[str, ...]]  # ("by", labels) | ("without", labels) | ("all", ()): what a query's sum keeps


@dataclass(frozen=True)
class Operand:
    """One `sum(rate(<selector>[{{window}}]))` (or a bare `rate(...)`) in an expression, and the labels it keeps."""

    sel: Selector
    keeps: Keeps


Expr = Operand | tuple[str, Any, Any]  # an operand, or (`-` or `/`, left, right)


@lru_cache(maxsize=4096)
def read_query(query: str) -> Selector:
    """The selector of `sum(rate(<selector>[{{window}}]))` and the like; Unreadable saying which part."""
    return _Reader(query).query_()


def _series(matchers: tuple[tuple[str, str, str], ...], base: dict[str, str],
            present: tuple[str, ...] = ()) -> dict[str, str]:
    """Labels of a series every matcher passes: `base`'s where they pass, a label of only negative matchers
    left out (unless named in `present`), and otherwise a value from `label_values`."""
    by_label: dict[str, list[tuple[str, str]]] = {}
    for name, op, v in matchers:
        by_label.setdefault(name, []).append((op, v))
    out: dict[str, str] = {}
    for label in dict.fromkeys([*base, *by_label]):
        cons = by_label.get(label, [])
        keep = base.get(label)
        if keep is not None and all(_holds(op, keep, v) for op, v in cons):
            value: str | None = keep
        elif label not in present and all(op in ("!=", "!~") for op, _ in cons) and \
                all(_holds(op, "", v) for op, v in cons):
            value = ""
        else:
            try:
                value = label_values.satisfying(cons)
            except ValueError as err:
                raise Unreadable(f"the regex of `{label}`: {err}") from None
        if value is None:
            shown = ", ".join(f"{label}{op}{quote(v)}" for op, v in cons)
            raise Unreadable(f"no value of `{label}` passes {shown}")
        if value:
            out[label] = value
    if not _METRIC_NAME.match(out.get("__name__", "")):
        raise Unreadable("its matchers name no metric")
    return {"__name__": out.pop("__name__"), **out}


def _two_queries(errors_q: str, total_q: str, where: tuple[str, str],
                 base: dict[str, str] | None = None) -> list[Counter]:
    """Series whose counts make `errors_q` count the errors and `total_q` every event; they carry `base`'s
    labels where the matchers let them."""
    base = base or {}
    read = []
    for query, what in zip((errors_q, total_q), where, strict=True):
        try:
            read.append(read_query(query))
        except Unreadable as err:
            raise Unreadable(f"{what} `{query}`: {err}") from None
    errors, total = read
    return _pair(errors, total, where, base)


def _pair(errors: Selector, total: Selector, where: tuple[str, str], base: dict[str, str]) -> list[Counter]:
    """`_two_queries` of selectors already read."""
    if errors.func != total.func:
        raise Unreadable(f"{where[0]} reads {errors.func}() and {where[1]} {total.func}(): their quotient "
                         "is no error ratio")
    for sel, what in ((errors, where[0]), (total, where[1])):
        try:
            _series(sel.matchers, base)
        except Unreadable as err:
            raise Unreadable(f"{what}: {err}") from None
    try:
        both = _series(errors.matchers + total.matchers, base)
    except Unreadable:  # no series is read by both: the errors are counted apart from the total
        return [Counter(_series(errors.matchers, base), "errors"), Counter(_series(total.matchers, base), "total")]
    # the total reads the error series too: add a good series that only the total reads
    for label, op, value in sorted(errors.matchers, key=lambda m: m[0] == "__name__"):
        try:
            good = _series(total.matchers + ((label, _NEGATE[op], value),), both, present=(label,))
        except Unreadable:
            continue
        if total.reads(good) and not errors.reads(good):
            return [Counter(both, "errors"), Counter(good, "good")]
    raise Unreadable(f"every series {where[1]} reads is one {where[0]} reads too: no event could be good")


def _counters(svc: ServiceModel, slo: SloModel) -> list[Counter] | str:
    """The raw series of the SLI, or why obsgen cannot make them."""
    m = svc.metrics
    if slo.sli_type == "ratio" or slo.total_query is None:
        return "a ratio SLI is an arbitrary expression; obsgen cannot synthesize its input"
    # an http service's series carry the labels the SLI selects (as before kinds); a gRPC service's the
    # interceptor's whole label set
    grpc = svc.kind == "grpc"
    if slo.sli_type in ("bool_gauge", "latency_native"):
        assert slo.metric is not None
        try:
            series = _series(read_query(f"rate({slo.metric}[{{{{window}}}}])").matchers, {})
        except Unreadable as err:
            return f"sli.metric `{slo.metric}`: {err}"
        if slo.sli_type == "bool_gauge":
            return [Counter(series, "gauge")]
        return [Counter(series, "histogram", slo.latency_threshold)]
    if slo.sli_type == "events" and slo.good_query is not None:
        try:
            found = _two_queries(slo.good_query, slo.total_query, ("sli.events.good", "sli.events.total"))
        except Unreadable as err:
            return str(err).replace("no event could be good", "no event could be an error")
        swap = {"errors": "good", "good": "errors", "total": "total"}  # _two_queries' errors are the good events
        return [Counter(c.labels, swap[c.counts]) for c in found]
    if slo.sli_type == "latency":
        assert slo.latency_threshold is not None
        hist = svc.request_labels(histogram=True) if grpc else {"job": svc.job}
        return [Counter({"__name__": f"{m.duration_histogram}_count", **hist}, "total"),
                Counter({"__name__": f"{m.duration_histogram}_bucket", **hist,
                         "le": le_label(slo.latency_threshold)}, "good")]
    base = {"__name__": m.requests_total, **svc.request_labels(), m.status_label: "OK"} if (
        grpc and slo.sli_type == "availability") else None
    if slo.sli_type == "availability":
        where = (f"the error query (`status_label: {m.status_label}`, `error_status: {m.error_status}`)",
                 "the request query")
    else:
        where = ("sli.events.errors", "sli.events.total")
    try:
        return _two_queries(slo.errors_query, slo.total_query, where, base)
    except Unreadable as err:
        return str(err)


# --------------------------------------------------------------------------- comparing with another tool's rules


def _shape(query: str, what: str) -> Expr:
    try:
        return _Reader(query).expression()
    except Unreadable as err:
        raise Unreadable(f"{what} `{query}`: {err}") from None


def _operands(tree: Expr) -> list[Operand]:
    if isinstance(tree, Operand):
        return [tree]
    return [*_operands(tree[1]), *_operands(tree[2])]


def _errors_of(tree: Expr, total: Operand, what: str) -> tuple[Selector, str]:
    """The selector the errors part of an error ratio reads and what it counts: `errors` ("errors"), or
    `total - good` whose first query is the total's ("good": its second query's)."""
    if isinstance(tree, Operand):
        if tree.keeps != total.keeps:
            raise Unreadable(f"{what}: the errors and the total queries keep different labels ({_kept(tree.keeps)} "
                             f"and {_kept(total.keeps)}): their quotient would match no series")
        return tree.sel, "errors"
    op, left, right = tree
    if op != "-" or not isinstance(left, Operand) or not isinstance(right, Operand):
        raise Unreadable(f"{what}: obsgen reads `errors` or `total - good`, each one sum(rate()) query, not a "
                         f"{'quotient' if op == '/' else 'difference of expressions'} there")
    if (left.sel.func, set(left.sel.matchers)) != (total.sel.func, set(total.sel.matchers)):
        raise Unreadable(f"{what}: the first query of `total - good` reads other series than the total query "
                         f"({_shown(left.sel)} and {_shown(total.sel)}): obsgen reads a difference only as "
                         "all events minus the good ones")
    if left.keeps[0] == "all":  # the difference then matches series by every label, and a bucket's `le` is one
        raise Unreadable(f"{what}: neither query of `total - good` sums, so the difference pairs series by all their "
                         "labels; obsgen feeds it only summed (`sum(...)` or `sum by (...)`)")
    if not left.keeps == right.keeps == total.keeps:
        raise Unreadable(f"{what}: the queries of `total - good` and the total keep different labels "
                         f"({', '.join(_kept(x.keeps) for x in (left, right, total))}): the difference would "
                         "match no series")
    return right.sel, "good"


def _shown(sel: Selector) -> str:
    return "{" + ", ".join(f"{label}{op}{quote(v)}" for label, op, v in sel.matchers) + "}"


def _kept(keeps: Keeps) -> str:
    how, names = keeps
    return "every label" if how == "all" else f"{how} ({', '.join(names)})"


def _events_input(svc: ServiceModel, slo: SloModel) -> list[Counter]:
    """An events SLI whose errors are `total - good` (a latency SLI as all requests minus a bucket's, Sloth's
    and Pyrra's commonest), or a ratio SLI written `errors / total` or `(total - good) / total`."""
    if slo.sli_type == "ratio":
        assert slo.ratio_query is not None
        what = "the ratio SLI's expression"
        tree = _shape(slo.ratio_query, what)
        if isinstance(tree, Operand) or tree[0] != "/" or not isinstance(tree[2], Operand):
            raise Unreadable(f"{what} `{slo.ratio_query}`: obsgen reads a ratio SLI written `errors / total` (or "
                             "`(total - good) / total`) of sum(rate()) queries, not this")
        num, total = tree[1], tree[2]
        where = (f"{what}'s numerator", f"{what}'s denominator")
    else:
        assert slo.total_query is not None
        where = ("sli.events.errors", "sli.events.total")
        num, whole = _shape(slo.errors_query, where[0]), _shape(slo.total_query, where[1])
        if not isinstance(whole, Operand):
            raise Unreadable(f"{where[1]} `{slo.total_query}`: obsgen reads one sum(rate()) query there")
        total = whole
    sel, counts = _errors_of(num, total, where[0])
    try:
        found = _pair(sel, total.sel, where, {})
    except Unreadable as err:
        raise Unreadable(str(err).replace("no event could be good", "no event could be an error")
                         if counts == "good" else str(err)) from None
    if counts == "good":  # _pair's errors are the good events
        found = [Counter(c.labels, {"errors": "good", "good": "errors", "total": "total"}[c.counts]) for c in found]
    for c in found:
        le = c.labels.get("le")
        if c.labels["__name__"].endswith("_bucket") and le is not None and not _bound(le):
            raise Unreadable(f"the bucket series' le={quote(le)} is no bucket bound (Prometheus writes a float, "
                             "e.g. le=\"0.5\", or +Inf)")
    return found


_BOUND = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$|^\+Inf$")  # a float as Prometheus writes `le`


def _bound(le: str) -> bool:
    return bool(_BOUND.match(le))


def proof_input(svc: ServiceModel, slo: SloModel) -> list[Counter] | str:
    """The raw series of the SLI, for comparing obsgen's rules with another tool's on the same input (`import
    --prove`); or why obsgen cannot make them. Beside what `counters` reads: errors written `total - good` and
    ratio SLIs of sum(rate()) queries. (obsgen's own generated proofs do not take these shapes yet: their
    exact-value checks assume errors counted on their own or `good` queries.)"""
    found = _grouped_counters(svc, slo)
    if not isinstance(found, str):
        return found
    events = slo.sli_type == "events" and slo.good_query is None and slo.total_query is not None
    if not events and slo.sli_type != "ratio":
        return found
    if events:
        try:
            read_query(slo.errors_query)
            return found  # a single query: the reason is counters'
        except Unreadable:
            pass
    try:
        cs = _events_input(svc, slo)
        if slo.by:
            group_values(svc, slo, BY_GROUPS)
    except Unreadable as err:
        return str(err) if not slo.by or "`by`" in str(err) else f"`by`: {err}"
    return cs


def counters(svc: ServiceModel, slo: SloModel) -> list[Counter] | None:
    found = _grouped_counters(svc, slo)
    return None if isinstance(found, str) else found


def _grouped_counters(svc: ServiceModel, slo: SloModel) -> list[Counter] | str:
    found = _counters(svc, slo)
    if isinstance(found, str) or not slo.by:
        return found
    try:
        group_values(svc, slo, BY_GROUPS)
    except Unreadable as err:
        return f"`by`: {err}"
    return found


def proof_gap(svc: ServiceModel, slo: SloModel, model: Model | None = None) -> str | None:
    """Why an SLO gets no generated proofs (None when it gets them); with `model`, also a gauge's error ratios
    that no practical sample interval makes whole numbers of samples."""
    found = _grouped_counters(svc, slo)
    if isinstance(found, str):
        return found
    if model is not None and slo.sli_type == "bool_gauge":
        return _gauge_gap(model, slo)
    return None


def _gauge_gap(model: Model, slo: SloModel) -> str | None:
    """The error ratios the scenarios feed a gauge with (each scenario on its own sample interval)."""
    ts = tuple(enabled_tiers(model, slo))
    if not ts:
        return None
    budget, eval_s = Fraction(slo.budget), seconds(model.evaluation_interval)
    step = min(seconds(model.scrape_interval), 60)
    page = tuple(t for t in ts if t.tier == "page")
    sets: list[tuple[Fraction, ...]] = [(Fraction(0), Fraction(1)), (_stop_times(page, budget, eval_s, step, None,
                                                                                 0)[0],)]
    sets.append((_quiet_times(ts, budget, eval_s)[3],))
    ticket = _ticket_times(ts, budget, eval_s, step) if slo.ticket else None
    if ticket is not None:
        sets.append((Fraction(0), ticket[0] * budget))
    for ratios in sets:
        try:
            gauge_every(step, ratios)
        except ValueError as err:
            return f"the gauge's proof input: {err}"
    return None


# --------------------------------------------------------------------------- input series


@dataclass
class Scenario:
    """Error ratios over time: [(seconds, error ratio)], sampled every `step` seconds."""

    step: int
    phases: list[tuple[int, Fraction]]
    rate: Decimal  # requests per second

    @property
    def end(self) -> int:
        return sum(d for d, _ in self.phases)

    def values(self, counts: str) -> str:
        """promtool expanding notation of a counter: `0+aXn b+cXm ...`, continuous across phases."""
        return _values(self.step, tuple(self.phases), self.rate, counts)


@lru_cache(maxsize=1024)  # services sharing an SLO's numbers share their scenarios
def _values(step: int, phases: tuple[tuple[int, Fraction], ...], rate: Decimal, counts: str) -> str:
    per_step = rate * step
    parts, last, first = [], Decimal(0), True
    for duration, ratio in phases:
        share = {"errors": ratio, "good": 1 - ratio, "total": Fraction(1)}[counts]
        inc = per_step * Decimal(share.numerator) / Decimal(share.denominator)
        n = duration // step
        start = last if first else last + inc
        times = n if first else n - 1
        if times >= 0:
            parts.append(f"{fmt(start)}+{fmt(inc)}x{times}")
            last = start + inc * times
        first = False
    return " ".join(parts)


def _input(cs: list[Counter], sc: Scenario) -> list[dict[str, str]]:
    every = _every(cs, sc)
    out = []
    for c in cs:
        if c.counts == "gauge":
            values = _gauge_values(every, tuple(sc.phases))
        elif c.counts == "histogram":
            assert c.threshold is not None
            values = _histogram_values(sc.step, tuple(sc.phases), sc.rate, c.threshold)
        else:
            values = sc.values(c.counts)
        out.append({"series": c.series(), "values": values})
    return out


def _every(cs: list[Counter], *scs: Scenario) -> Fraction:
    """The test's sample interval: the scenario's step, or for a 0/1 gauge one fine enough that every 5m
    holds a whole number of samples at 0 in each phase (see `gauge_every`); one for every scenario of a test."""
    if not any(c.counts == "gauge" for c in cs):
        return Fraction(scs[0].step)
    found = {gauge_every(sc.step, tuple(r for _, r in sc.phases)) for sc in scs}
    assert len(found) == 1, found
    return found.pop()


def _interval(cs: list[Counter], *scs: Scenario) -> str:
    return _dur(_every(cs, *scs))


MAX_GAUGE_SAMPLES = 5000  # samples per 5m of a gauge's proof input (a 60ms interval) at most: promtool's queries
# load at most 10,000 samples (count_over_time over 5m reads them all, for each series)


@lru_cache(maxsize=256)
def gauge_every(step: int, ratios: tuple[Fraction, ...]) -> Fraction:
    """A sample interval that divides `step` (so that phases start on a sample) and a whole number of
    milliseconds, at which every ratio of zeros is a whole number of samples in 5m; ValueError if finer than
    MAX_GAUGE_SAMPLES per 5m."""
    n = lcm(BASE_SECONDS // gcd(step, BASE_SECONDS), *(Fraction(r).denominator for r in ratios))
    every = Fraction(BASE_SECONDS, n)
    while (every * 1000).denominator != 1 and n <= MAX_GAUGE_SAMPLES:
        n += lcm(BASE_SECONDS // gcd(step, BASE_SECONDS), *(Fraction(r).denominator for r in ratios))
        every = Fraction(BASE_SECONDS, n)
    if n > MAX_GAUGE_SAMPLES:
        raise ValueError(f"error ratios of {', '.join(sorted({exact(Fraction(r)) for r in ratios}))} need "
                         f"more than {MAX_GAUGE_SAMPLES} samples of the gauge per 5m")
    return every


@lru_cache(maxsize=1024)
def _gauge_values(every: Fraction, phases: tuple[tuple[int, Fraction], ...]) -> str:
    """promtool notation of a 0/1 gauge sampled every `every` s: in each phase k of every n samples (n = 5m of
    them) are 0, one per n/k samples, so every 5m window within a phase holds exactly k zeros. The first phase,
    from the start, puts each zero last in its n/k samples (a window never holds more than its share: the silent
    checks from the start hold), a later phase first (a change shows no later than its share: the deadlines
    after a change hold)."""
    n = int(BASE_SECONDS / every)
    runs: list[list[int]] = []  # [value, count]
    for p, (duration, ratio) in enumerate(phases):
        zeros = ratio * n
        assert zeros.denominator == 1, (ratio, n)
        k = int(zeros)
        samples = int(duration / every) + (1 if p == 0 else 0)  # the first phase has the sample at 0
        for i in range(samples):
            zero = ((i + 1) * k) // n > (i * k) // n if p == 0 else -(-(i + 1) * k // n) > -(-i * k // n)
            value = 0 if zero else 1
            if runs and runs[-1][0] == value:
                runs[-1][1] += 1
            else:
                runs.append([value, 1])
    return " ".join(f"{v}x{c - 1}" if c > 1 else str(v) for v, c in runs)


def _buckets(threshold: Decimal) -> int:
    """k of the schema-0 native bucket (2^(k-1), 2^k] that holds the threshold."""
    t, k = Fraction(threshold), 0
    while Fraction(2) ** k < t:
        k += 1
    while Fraction(2) ** (k - 1) >= t:
        k -= 1
    return k


@lru_cache(maxsize=1024)
def _histogram_values(step: int, phases: tuple[tuple[int, Fraction], ...], rate: Decimal, threshold: Decimal) -> str:
    """promtool notation of a native histogram (schema 0) counting the requests of each phase: the good ones in
    the bucket below the one that holds the threshold, the bad ones in the bucket above it, so that
    histogram_fraction has nothing to interpolate and counts exactly the good requests as below the threshold."""
    k = _buckets(threshold)
    low, high = Decimal(2) ** (k - 1), Decimal(2) ** (k + 1)  # the good and the bad bucket's upper bounds

    def hist(good: Decimal, bad: Decimal) -> str:
        return (f"{{{{schema:0 sum:{fmt(good * low + bad * high)} count:{fmt(good + bad)} offset:{k - 1} "
                f"buckets:[{fmt(good)} 0 {fmt(bad)}]}}}}")

    per_step = rate * step
    parts, good, bad, first = [], Decimal(0), Decimal(0), True
    for duration, ratio in phases:
        d_bad = per_step * Decimal(ratio.numerator) / Decimal(ratio.denominator)
        d_good = per_step - d_bad
        n = duration // step
        if not first:
            good, bad = good + d_good, bad + d_bad
        times = n if first else n - 1
        if times >= 0:
            parts.append(f"{hist(good, bad)}+{hist(d_good, d_bad)}x{times}")
            good, bad = good + d_good * times, bad + d_bad * times
        first = False
    return " ".join(parts)


@lru_cache(maxsize=4096)
def _dur(s: Fraction | int) -> str:
    return format_duration(Decimal(ceil(Fraction(s) * 1000)) / 1000)


def _on_grid(s: Fraction | int, grid: int) -> int:
    """The first evaluation at or after `s` seconds."""
    return ceil(Fraction(s) / grid) * grid


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class SloAlert:
    """One alert rule of an SLO: its `ALERTS` selector and the whole label set of its firing series."""

    name: str
    selector: str
    labels: dict[str, str]  # __name__, alertname, alertstate, the rule's labels, the expression's labels
    for_s: int  # the rule's `for`, in seconds


def slo_alerts(model: Model, svc: ServiceModel, slo: SloModel,
               group: dict[str, str] | None = None) -> dict[str, SloAlert]:
    """`page` and `ticket` (the burn-rate tiers), `exhausted` and `absent`: those the rule file has; with
    `group` (an SLO with `by`), the alerts of that group's series."""
    names = alert_names(svc, slo)
    kinds = {names["exhausted"]: "exhausted", names["absent"]: "absent"}
    out = {}
    for name, rule_labels, for_ in alert_heads(model, svc, slo):
        kind = kinds.get(name, rule_labels["tier"])
        # burn-rate and budget alerts return the recorded SLO series (with the group's labels); absent()
        # returns its equality matchers
        returned = {"slo_id": slo.id} if kind == "absent" else {**labels(slo), **(group or {})}
        full = {"__name__": "ALERTS", "alertname": name, "alertstate": "firing", **returned, **rule_labels}
        extra = f", tier={quote(rule_labels['tier'])}" if kind in ("page", "ticket") else ""
        out[kind] = SloAlert(name, _alerts(name, slo, extra), full, int(duration_seconds(for_ or "0s")))
    return out


def _alerts(name: str, slo: SloModel, extra: str = "") -> str:
    return f'ALERTS{{alertname="{name}", alertstate="firing", slo_id={quote(slo.id)}{extra}}}'


def _fires(expr: str, at: int, alert_labels: dict[str, str]) -> dict[str, Any]:
    """At `at`, the selector returns exactly the alert's series, with every label it must carry."""
    return {"expr": expr, "eval_time": _dur(at), "exp_samples": [{"labels": _metric(alert_labels), "value": 1}]}


def _never(expr: str, at: int) -> dict[str, Any]:
    """Not firing at any evaluation up to `at`."""
    return {"expr": f"max_over_time({expr}[{_dur(at)}])", "eval_time": _dur(at), "exp_samples": []}


def _silent(expr: str, at: int) -> dict[str, Any]:
    """Not firing at `at`."""
    return {"expr": expr, "eval_time": _dur(at), "exp_samples": []}


# --------------------------------------------------------------------------- the proofs


@dataclass(frozen=True)
class _Ctx:
    model: Model
    svc: ServiceModel
    slo: SloModel
    cs: list[Counter]
    eval_s: int
    step: int
    rate: Decimal  # requests per second of each counter's share
    instances: int
    what: str  # how group names start
    alerts: dict[str, SloAlert]
    groups: tuple[dict[str, str], ...] = ({},)  # label values of the SLO's groups (`by`), the first one's in cs

    @property
    def every(self) -> str:
        return f"{self.model.evaluation_interval} evaluation interval"

    @property
    def last_step(self) -> int | None:
        """How long before the end of its series the SLI's 5m window ends: one step for a rate() (two samples),
        None; 0 for a gauge's count_over_time(), which one sample makes."""
        return 0 if self.slo.sli_type == "bool_gauge" else None


def proofs(model: Model, svc: ServiceModel, slo: SloModel, instances: int = 1,
           groups_of_by: int = 0) -> list[dict[str, Any]]:
    """Test groups for one SLO; `instances` spreads the same traffic over that many series, and an SLO with
    `by` gets `groups_of_by` groups in its group proofs instead of BY_GROUPS (both for the bench)."""
    raw = counters(svc, slo)
    if raw is None or not enabled_tiers(model, slo) or (slo.sli_type == "bool_gauge" and _gauge_gap(model, slo)):
        return []
    values = group_values(svc, slo, (groups_of_by or BY_GROUPS) if slo.by else 1)
    cs = in_group(raw, values[0], instances)
    ctx = _Ctx(model, svc, slo, cs, seconds(model.evaluation_interval), min(seconds(model.scrape_interval), 60),
               max(Decimal(10), slo.min_request_rate * 10) / instances, instances,
               f"{slo.name} SLO ({fmt(slo.objective)}% over {slo.period})", slo_alerts(model, svc, slo, values[0]),
               tuple(values))
    groups = []
    if slo.page:
        groups += _outage(ctx)
    if slo.ticket:
        groups += _ticket(ctx)
    groups += _stop(ctx) + _quiet(ctx)
    if slo.by and slo.page:
        groups += by_outage(ctx, raw) + _by_guard(ctx, raw)
    if slo.by:
        groups += _by_absent(ctx, raw)
    if slo.sloth:
        groups += _sloth(ctx)
    return groups


BY_GROUPS = 3  # groups in the proofs of an SLO with `by`: one bad among good ones, and a low-traffic one


def in_group(cs: list[Counter], group: dict[str, str], instances: int = 1) -> list[Counter]:
    """The SLI's series of one group (its `by` label values), spread over `instances` series each."""
    out = [replace(c, labels={**c.labels, **group}) for c in cs]
    if instances > 1:
        out = [replace(c, labels={**c.labels, "instance": f"i{i}"}) for c in out for i in range(instances)]
    return out


def _matchers_of(query: str) -> list[tuple[str, str, str]]:
    """Every matcher of a query in a shape obsgen reads (one query, a difference or a quotient of them)."""
    try:
        return list(read_query(query).matchers)
    except Unreadable:
        return [m for o in _operands(_Reader(query).expression()) for m in o.sel.matchers]


def group_values(svc: ServiceModel, slo: SloModel, n: int) -> list[dict[str, str]]:
    """Label values of `n` distinct groups of an SLO with `by` (n empty groups without): `g0`, `g1`... where
    the SLI's selectors leave a label free, else values passing their matchers on it (a label they pin to
    one value keeps it). Unreadable when no two groups can differ."""
    if not slo.by:
        return [{} for _ in range(n)]
    cons: dict[str, list[tuple[str, str]]] = {label: [] for label in slo.by}
    queries: list[str] = []
    if slo.sli_type in ("availability", "events", "bool_gauge", "latency_native") and slo.total_query is not None:
        queries = [slo.good_query if slo.good_query is not None else slo.errors_query, slo.total_query]
        if slo.metric is not None:
            queries = [f"rate({slo.metric}[{{{{window}}}}])"]
    elif slo.ratio_query is not None:
        queries = [slo.ratio_query]
    for query in queries:
        for label, op, value in _matchers_of(query):
            if label in cons:
                cons[label].append((op, value))
    out: list[dict[str, str]] = []
    for k in range(n):
        group: dict[str, str] = {}
        for label in slo.by:
            found: str | None = _value(cons[label], [g[label] for g in out], k) or (out[0][label] if out else None)
            if found is None:
                shown = ", ".join(f"{label}{op}{quote(v)}" for op, v in cons[label])
                raise Unreadable(f"no value of the `by` label `{label}` passes {shown}")
            group[label] = found
        if group in out:
            raise Unreadable(f"every series the SLI reads has one value of {', '.join(slo.by)}: no two groups")
        out.append(group)
    return out


def _value(cons: list[tuple[str, str]], taken: list[str], k: int) -> str | None:
    free = f"g{k}"
    if all(_holds(op, free, v) for op, v in cons) and free not in taken:
        return free
    try:
        return label_values.satisfying(cons + [("!=", t) for t in taken]) or None
    except ValueError:
        return None


def _group(name: str, cs: list[Counter], sc: Scenario, checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "interval": _interval(cs, sc), "input_series": _input(cs, sc), "promql_expr_test": checks}


# The timings depend on numbers only (tiers, budget, intervals): services that share them share these.
@lru_cache(maxsize=256)
def _outage_times(page: tuple[Tier, ...], budget: Fraction, eval_s: int, step: int,
                  for_s: int = 0) -> tuple[Any, ...]:
    fast = min(page, key=lambda t: t.long_seconds * t.factor * budget)
    detect = fast.long_seconds * fast.factor * budget
    warm = _on_grid(fast.long_seconds + BASE_SECONDS, step)  # the fast tier's long window holds good traffic
    # pending from the evaluation where both windows first exceed the threshold, firing `for` after it
    deadline = _held(_on_grid(warm + detect + 2 * eval_s, eval_s), for_s, eval_s)
    # the outage lasts until the page has fired, and 5m more
    duration = _on_grid(detect + 2 * eval_s + BASE_SECONDS + (for_s + 2 * eval_s if for_s else 0), step)
    slowest = max(page, key=lambda t: t.short_seconds * (1 - t.factor * budget))
    settle = slowest.short_seconds * (1 - slowest.factor * budget)
    resolved = _on_grid(warm + duration + settle + 2 * eval_s, eval_s)
    return fast, detect, warm, deadline, duration, slowest, settle, resolved


def _held(pending: int, for_s: int, eval_s: int) -> int:
    """When an alert pending from the evaluation at `pending` fires: at the first evaluation `for` after it."""
    return _on_grid(pending + for_s, eval_s)


def _held_for(for_s: int) -> str:
    """How a proof's name adds an alert's `for` to its bound ('' without one)."""
    return f" + its `for` of {_dur(for_s)} (it fires that long after turning pending)" if for_s else ""


def _guarded(slo: SloModel) -> bool:
    """Whether the page carries the low-traffic guard (as `slo._burn_alert` decides)."""
    return slo.min_request_rate > 0 and slo.total_query is not None


def _outage(c: _Ctx) -> list[dict[str, Any]]:
    """One input, two bounds: when the page fires after a total outage starts, and clears after it ends."""
    page = tuple(t for t in enabled_tiers(c.model, c.slo) if t.tier == "page")
    budget = Fraction(c.slo.budget)
    a = c.alerts["page"]
    fast, detect, warm, deadline, duration, slowest, settle, resolved = _outage_times(page, budget, c.eval_s,
                                                                                      c.step, a.for_s)
    sc = Scenario(c.step, [(warm, Fraction(0)), (duration, Fraction(1)),
                           (resolved - warm - duration + c.step, Fraction(0))], c.rate)
    guard = (f" (at {fmt(c.rate * c.instances)}/s, above the low-traffic guard's {fmt(c.slo.min_request_rate)}/s)"
             if _guarded(c.slo) else "")
    return [_group(
        f"{c.what}: a total outage{guard} pages within {_dur(detect + 2 * c.eval_s)} = {fast.long} × "
        f"{exact(fast.factor)} × {exact(budget)} (the Workbook's detection time of the fast page tier: "
        f"long window × factor × budget) + 2 × {c.every}{_held_for(a.for_s)}; after "
        f"{_dur(duration)} the outage ends and the page resolves within {_dur(settle + 2 * c.eval_s)} = "
        f"{slowest.short} × (1 - {exact(slowest.factor)} × {exact(budget)}) (from then on its slowest short "
        f"window holds too few errors) + 2 × {c.model.evaluation_interval}",
        c.cs, sc, [_never(a.selector, warm), _fires(a.selector, deadline, a.labels),
                   _fires(a.selector, warm + duration, a.labels), _silent(a.selector, resolved)],
    )]


def _opens(t: Tier, warm: int, burn: Fraction) -> Fraction:
    """Seconds after errors at `burn`× start (after `warm` s of good traffic) until both windows exceed t."""

    def window(size: int) -> Fraction:
        partial = t.factor * warm / (burn - t.factor)  # the window still holds all the traffic so far
        return partial if warm + partial <= size else size * t.factor / burn

    return max(window(t.short_seconds), window(t.long_seconds))


@lru_cache(maxsize=256)
def _ticket_times(ts: tuple[Tier, ...], budget: Fraction, eval_s: int, step: int,
                  for_s: int = 0) -> tuple[Any, ...] | None:
    tickets = [t for t in ts if t.tier == "ticket"]
    pages = [t.factor for t in ts if t.tier == "page"]
    lo, hi = min(t.factor for t in tickets), min(pages, default=None)
    burn = Fraction(2)
    if not (lo < burn and (hi is None or burn < hi)):
        if hi is not None and hi <= lo:
            return None
        burn = (lo + hi) / 2 if hi is not None else lo * 2
    if burn * budget >= 1:
        return None
    warm = _on_grid(TICKET_WARM_UP, step)
    opener = min((t for t in tickets if t.factor < burn), key=lambda t: _opens(t, warm, burn))
    opens = _opens(opener, warm, burn)
    deadline = _held(_on_grid(warm + opens * Fraction(21, 20) + 2 * eval_s, eval_s), for_s, eval_s)
    return burn, warm, opener, opens, deadline


def _ticket(c: _Ctx) -> list[dict[str, Any]]:
    budget = Fraction(c.slo.budget)
    ticket = c.alerts["ticket"]
    times = _ticket_times(tuple(enabled_tiers(c.model, c.slo)), budget, c.eval_s, c.step, ticket.for_s)
    if times is None:
        return []
    burn, warm, opener, opens, deadline = times
    sc = Scenario(c.step, [(warm, Fraction(0)), (deadline - warm + c.step, burn * budget)], c.rate)
    checks = [_fires(ticket.selector, deadline, ticket.labels)]
    if "page" in c.alerts:
        checks.append(_never(c.alerts["page"].selector, deadline))
    return [_group(
        f"{c.what}: after {_dur(warm)} of good traffic, errors at {exact(burn)}× the budget rate open the ticket "
        f"within {_dur(opens * Fraction(21, 20) + 2 * c.eval_s)} ({_dur(opens)} until its {opener.long} and "
        f"{opener.short} windows average above {exact(opener.factor)}×, + 5 % + 2 × {c.every}"
        f"{_held_for(ticket.for_s)})"
        f" and never page ({exact(burn)}× is below every page factor)",
        c.cs, sc, checks,
    )]


@lru_cache(maxsize=256)
def _stop_times(page: tuple[Tier, ...], budget: Fraction, eval_s: int, step: int, exhausted_for: int | None,
                absent_for: int, last_step: int | None = None) -> tuple[Any, ...]:
    # half the requests fail, or more when a page threshold or the budget is not below a half: the error ratio
    # must be above every page threshold (for the guard) and above the budget (to exhaust it)
    top = max([t.factor * budget for t in page] + [budget])
    share = Fraction(1, 2) if top < Fraction(1, 2) else (top + 1) / 2
    first = _on_grid(step, eval_s)  # the first 5m rate needs two samples, one step apart
    spent = _on_grid(first + (exhausted_for or 0) + 2 * eval_s, eval_s)
    # the series stop once the budget proof is done and the 5m window has been full (rates last 5m longer)
    stop = _on_grid(max(ABSENT_AFTER, spent + step + eval_s - BASE_SECONDS), step)
    # from here the 5m window holds fewer than two samples: no rate (a gauge's count_over_time needs one sample:
    # `last_step` 0)
    gone = stop + BASE_SECONDS - (step if last_step is None else last_step)
    no_data = _on_grid(gone, eval_s)  # the first evaluation without the SLI
    quiet = no_data + absent_for - eval_s
    fires = _on_grid(gone + absent_for + 2 * eval_s, eval_s)
    return share, share / budget, first, spent, stop, gone, no_data, quiet, fires


def _stop(c: _Ctx) -> list[dict[str, Any]]:
    """One input for three proofs: errors over the budget from the start, then the raw series stop.

    - BudgetExhausted: the period window holds only these errors, so the budget is spent from the first
      5m rate on: silent until its `for` has passed, firing after it;
    - SliAbsent: once the 5m rates run out the SLI has no data: silent until its `for` has passed, then firing;
    - the low-traffic guard: at half `min_request_rate`, the page never fires, although the error ratio is
      above every page threshold in every window (the outage proof pages above that rate)."""
    page = tuple(t for t in enabled_tiers(c.model, c.slo) if t.tier == "page")
    exhausted, absent = c.alerts.get("exhausted"), c.alerts["absent"]
    share, burn, first, spent, stop, gone, no_data, quiet, fires = _stop_times(
        page, Fraction(c.slo.budget), c.eval_s, c.step, exhausted and exhausted.for_s, absent.for_s, c.last_step)
    guarded = "page" in c.alerts and _guarded(c.slo)
    per_s = c.slo.min_request_rate / 2 if guarded else c.rate * c.instances
    checks: list[tuple[int, dict[str, Any]]] = []
    parts = []
    if exhausted is not None:
        a = exhausted
        checks += [(a.for_s, _never(a.selector, a.for_s)), (spent, _fires(a.selector, spent, a.labels))]
        parts.append(f"the period window holds only these errors, {exact(burn)}× the budget, so {a.name} is "
                     f"pending from the first 5m rate ({_dur(first)}), silent until its `for` of {_dur(a.for_s)} "
                     f"has passed and firing by {_dur(spent)} (+ 2 × {c.every})")
    a = absent
    checks += [(quiet, _never(a.selector, quiet)), (fires, _fires(a.selector, fires, a.labels))]
    parts.append(f"their 5m rates run out at {_dur(gone)} (fewer than two samples in the window), so {a.name} "
                 f"stays silent until {_dur(quiet)} (its `for` of {_dur(a.for_s)} from the first evaluation "
                 f"without data, {_dur(no_data)}) and fires by {_dur(fires)} (+ 2 × {c.every})")
    if guarded:
        p = c.alerts["page"]
        ratio = {"__name__": record_name(BASE_WINDOW), **labels(c.slo), **c.groups[0]}
        at = _on_grid(BASE_SECONDS, c.eval_s)
        checks += [(at, {"expr": f"{record_name(BASE_WINDOW)}{{slo_id={quote(c.slo.id)}}}", "eval_time": _dur(at),
                         "exp_samples": [{"labels": _metric(ratio), "value": float(share)}]}),
                   (fires, _never(p.selector, fires))]
        parts.append(f"at {fmt(per_s)}/s, half the low-traffic guard's {fmt(c.slo.min_request_rate)}/s, the page "
                     f"never fires, although until {_dur(gone)} every window's error ratio is {exact(share)}, above "
                     f"every page threshold (without the guard it would page at its first evaluation)")
    sc = Scenario(c.step, [(stop, share)], per_s / c.instances)
    return [_group(
        f"{c.what}: {exact(share)} of the requests fail from the start{f' at {fmt(per_s)}/s' if guarded else ''}, "
        f"and the raw series stop after {_dur(stop)}: " + "; ".join(parts),
        c.cs, sc, [check for _, check in sorted(checks, key=lambda tc: tc[0])],
    )]


@lru_cache(maxsize=256)
def _quiet_times(ts: tuple[Tier, ...], budget: Fraction, eval_s: int) -> tuple[Fraction, Fraction, int, Fraction]:
    low = min(t.factor for t in ts)
    q = min(Fraction(1, 2), low / 2)
    return low, q, _on_grid(QUIET_FOR, eval_s), q * budget


def _quiet(c: _Ctx) -> list[dict[str, Any]]:
    low, q, end, ratio = _quiet_times(tuple(enabled_tiers(c.model, c.slo)), Fraction(c.slo.budget), c.eval_s)
    sc = Scenario(c.step, [(end + c.step, ratio)], c.rate)
    return [_group(
        f"{c.what}: errors at {exact(q)}× the budget rate from the start fire no SLO alert at all within "
        f"{_dur(end)} (every window then holds {exact(q)}×, below the lowest factor {exact(low)}×, and "
        f"{exact(1 - q)} of the period's budget remains)",
        c.cs, sc, [_silent_all(c.slo, end)],
    )]


def _silent_all(slo: SloModel, at: int) -> dict[str, Any]:
    """No alert of the SLO (burn rate, budget, absent) fires at any evaluation up to `at`."""
    return _never(f"ALERTS{{slo_id={quote(slo.id)}, alertstate=\"firing\"}}", at)


# --------------------------------------------------------------------------- SLOs with `by`


def _of(selector: str, group: dict[str, str]) -> str:
    """An `ALERTS{...}` selector narrowed to one group's label values."""
    return selector[:-1] + "".join(f", {k}={quote(v)}" for k, v in group.items()) + "}"


def _named(group: dict[str, str]) -> str:
    return ", ".join(f"{k}={quote(v)}" for k, v in group.items())


def by_outage(c: _Ctx, raw: list[Counter]) -> list[dict[str, Any]]:
    """One group in a total outage beside groups without errors: the page fires for that group only, with its
    label values, and the other groups fire no SLO alert at all (each group is judged on its own)."""
    page = tuple(t for t in enabled_tiers(c.model, c.slo) if t.tier == "page")
    budget = Fraction(c.slo.budget)
    a = c.alerts["page"]
    fast, detect, warm, deadline, duration, _, _, resolved = _outage_times(page, budget, c.eval_s, c.step,
                                                                           a.for_s)
    phases = [(warm, Fraction(0)), (duration, Fraction(1)), (resolved - warm - duration + c.step, Fraction(0))]
    bad, good = c.groups[0], c.groups[1:]
    inputs = _input(in_group(raw, bad, c.instances), Scenario(c.step, phases, c.rate))
    calm = Scenario(c.step, [(d, Fraction(0)) for d, _ in phases], c.rate)
    for g in good:  # a route that never failed has no error series (a client library makes one on its first error)
        inputs += _input([x for x in in_group(raw, g, c.instances) if x.counts != "errors"], calm)
    everything = f"ALERTS{{slo_id={quote(c.slo.id)}, alertstate=\"firing\"}}"
    ratio = record_name(BASE_WINDOW)
    # a good group's SLI is 0, not missing: it keeps its own windows, budget and dashboard line
    zero = [{"expr": _of(f"{ratio}{{slo_id={quote(c.slo.id)}}}", g), "eval_time": _dur(deadline),
             "exp_samples": [{"labels": _metric({"__name__": ratio, **labels(c.slo), **g}), "value": 0}]}
            for g in good]
    checks = [_fires(a.selector, deadline, a.labels), *zero] + [_never(_of(everything, g), resolved) for g in good]
    return [{
        "name": (f"{c.what} per {', '.join(c.slo.by)}: a total outage of the group {_named(bad)} alone pages it, "
                 f"and no other group, within {_dur(detect + 2 * c.eval_s)} = {fast.long} × {exact(fast.factor)} × "
                 f"{exact(budget)} + 2 × {c.every}{_held_for(a.for_s)} (the page carries the group's "
                 "labels); the groups "
                 f"{'; '.join(_named(g) for g in good)} beside it, without errors, read an error ratio of 0 and fire "
                 f"no SLO alert until {_dur(resolved)}"),
        "interval": _interval(raw, calm), "input_series": inputs, "promql_expr_test": checks,
    }]


def _by_guard(c: _Ctx, raw: list[Counter]) -> list[dict[str, Any]]:
    """The low-traffic guard holds per group: a group below `min_request_rate` does not page although its error
    ratio is above every page threshold, while a group as bad above that rate pages (so the service's traffic
    as a whole is above it)."""
    if not _guarded(c.slo):
        return []
    page = tuple(t for t in enabled_tiers(c.model, c.slo) if t.tier == "page")
    share, *_ = _stop_times(page, Fraction(c.slo.budget), c.eval_s, c.step, None, 0)
    first = _on_grid(c.step, c.eval_s)
    a = c.alerts["page"]
    end = _on_grid(max(_held(first + 2 * c.eval_s, a.for_s, c.eval_s), BY_GUARD_FOR), c.eval_s)
    busy, quiet = c.groups[0], c.groups[1]
    low = c.slo.min_request_rate / 2
    inputs = (_input(in_group(raw, busy, c.instances), Scenario(c.step, [(end + c.step, share)], c.rate))
              + _input(in_group(raw, quiet, c.instances), Scenario(c.step, [(end + c.step, share)],
                                                                  low / c.instances)))
    return [{
        "name": (f"{c.what} per {', '.join(c.slo.by)}: {exact(share)} of the requests fail in two groups from the "
                 f"start; {_named(busy)} at {fmt(c.rate * c.instances)}/s pages, {_named(quiet)} at {fmt(low)}/s, "
                 f"half the low-traffic guard's {fmt(c.slo.min_request_rate)}/s, never pages until {_dur(end)} "
                 "(the guard reads each group's own traffic, not the service's)"),
        "interval": _interval(raw, Scenario(c.step, [(end + c.step, share)], c.rate)), "input_series": inputs,
        "promql_expr_test": [_never(_of(a.selector, quiet), end), _fires(a.selector, end, a.labels)],
    }]


BY_GUARD_FOR = 1800  # seconds the per-group guard proof runs


BY_ABSENT_AFTER = 1800  # seconds the vanishing group of the per-group SliAbsent proof has data


def _by_absent(c: _Ctx, raw: list[Counter]) -> list[dict[str, Any]]:
    """SliAbsent per group: of two good groups, one's raw series stop (a route removed, or its metrics lost).
    Once its 5m rates run out it is silent until the `for` has passed, then fires for that group alone (with its
    labels; the SLO as a whole has data, so the whole-SLI branch stays silent); it resolves by itself once the
    group's last recorded sample is older than GROUP_LOOKBACK, as a route removed on purpose needs."""
    a = c.alerts["absent"]
    lookback = seconds(GROUP_LOOKBACK)
    stop = _on_grid(BY_ABSENT_AFTER, c.step)
    gone = stop + BASE_SECONDS - (c.step if c.last_step is None else c.last_step)  # fewer than two samples of the
    # group in its 5m window (a gauge's: none)
    no_data = _on_grid(gone, c.eval_s)
    quiet = no_data + a.for_s - c.eval_s
    # + 2 evaluations, as everywhere: promtool evaluates the rule groups in no fixed order, so the alert may read
    # the recordings of the evaluation before
    fires = _on_grid(gone + a.for_s + 2 * c.eval_s, c.eval_s)
    last = no_data - c.eval_s  # the group's last recorded 5m ratio
    resolved = _on_grid(last + lookback + 2 * c.eval_s, c.eval_s)
    stays, leaves = c.groups[0], c.groups[1]
    inputs = (_input(in_group(raw, stays, c.instances), Scenario(c.step, [(resolved + c.step, Fraction(0))], c.rate))
              + _input(in_group(raw, leaves, c.instances), Scenario(c.step, [(stop, Fraction(0))], c.rate)))
    returned = {**labels(c.slo), **leaves}
    full = {**a.labels, **returned}
    everything = f"ALERTS{{slo_id={quote(c.slo.id)}, alertstate=\"firing\"}}"
    return [{
        "name": (f"{c.what} per {', '.join(c.slo.by)}: the raw series of the group {_named(leaves)} stop after "
                 f"{_dur(stop)} while {_named(stays)} keeps its traffic; its 5m rates run out at {_dur(gone)}, so "
                 f"{a.name} stays silent until {_dur(quiet)} (its `for` of {_dur(a.for_s)} from {_dur(no_data)}), "
                 f"fires for that group alone by {_dur(fires)} (+ 2 × {c.every}), and resolves by itself by {_dur(resolved)} (the "
                 f"group's last data, {_dur(last)}, is then older than {GROUP_LOOKBACK}: a group removed on "
                 f"purpose is missed once); the group that keeps its traffic fires no SLO alert"),
        "interval": _interval(raw, Scenario(c.step, [(stop, Fraction(0))], c.rate)), "input_series": inputs,
        "promql_expr_test": [_never(a.selector, quiet), _fires(a.selector, fires, full),
                             _silent(a.selector, resolved), _never(_of(everything, stays), resolved)],
    }]


def _sloth(c: _Ctx) -> list[dict[str, Any]]:
    """Sloth's series carry obsgen's values: at a constant error ratio every window's ratio is that ratio, the
    burn rates are it over the budget, and what remains of the budget is 1 minus that."""
    _, q, _, ratio = _quiet_times(tuple(enabled_tiers(c.model, c.slo)), Fraction(c.slo.budget), c.eval_s)
    at = _on_grid(BY_ABSENT_AFTER, c.eval_s)
    budget = Fraction(c.slo.budget)
    sloth, group = sloth_labels(c.slo), c.groups[0]
    burn = ratio / budget
    expected: list[tuple[str, dict[str, str], Fraction]] = [
        (record_name(w), {**group, "sloth_window": w}, ratio) for w in windows(c.model, c.slo)]
    expected += [(OBJECTIVE, {}, Fraction(c.slo.target)), (ERROR_BUDGET, {}, budget),
                 (TIME_PERIOD, {}, Fraction(c.slo.period_days)), (CURRENT_BURN_RATE, group, burn),
                 (PERIOD_BURN_RATE, group, burn), (BUDGET_REMAINING, group, 1 - burn)]
    # errors counted as total minus good are that ratio up to float rounding, and a gauge's first minutes hold
    # fewer zeros than their share (`_gauge_values`): there each copy is compared with obsgen's own recording
    same = c.slo.good_query is not None
    checks = []
    for metric, extra, value in expected:
        copy = f"{metric}{{sloth_id={quote(c.slo.id)}}}"
        if same and metric not in (OBJECTIVE, ERROR_BUDGET, TIME_PERIOD):
            checks.append({"expr": f"{copy} == bool on ({', '.join(c.slo.by)}) group_left {metric}{{slo_id={quote(c.slo.id)}}}",
                           "eval_time": _dur(at), "exp_samples": [{"labels": _metric({"__name__": "", **sloth, **extra}),
                                                                   "value": 1}]})
            continue
        if metric in (OBJECTIVE, ERROR_BUDGET, TIME_PERIOD):  # constants: exact
            checks.append({"expr": copy, "eval_time": _dur(at), "exp_samples": [
                {"labels": _metric({"__name__": metric, **sloth, **extra}), "value": float(value)}]})
            continue
        # a ratio of sums is the exact ratio up to float rounding (5E-04 reads 4.999999999999969E-04): within
        # a billionth of it, the copy's labels asserted
        tolerance = float(abs(value)) * 1e-9 or 1e-15
        checks.append({"expr": f"abs({copy} - {float(value)!r}) <= bool {tolerance!r}", "eval_time": _dur(at),
                       "exp_samples": [{"labels": _metric({"__name__": "", **sloth, **extra}), "value": 1}]})
    checks.append({"expr": f"{SLOTH_INFO}{{sloth_id={quote(c.slo.id)}}}", "eval_time": _dur(at), "exp_samples": [
        {"labels": _metric({"__name__": SLOTH_INFO, **sloth, "sloth_objective": fmt(c.slo.objective)}), "value": 1}]})
    values = ("every window's slo:sli_error:ratio_rate<window> (sloth_window), both burn rates and the budget "
              "remaining are obsgen's own recordings' values" if same else
              f"every window's slo:sli_error:ratio_rate<window> (sloth_window) is {exact(ratio)}, both burn rates "
              f"{exact(burn)} and the budget remaining {exact(1 - burn)}")
    return [_group(
        f"{c.what}: Sloth's series at a constant error ratio of {exact(ratio)} ({exact(q)}× the budget rate): "
        f"{values}, the objective {exact(c.slo.target)}, the budget {exact(budget)}, the period "
        f"{c.slo.period_days} days, each with sloth_id, sloth_service and sloth_slo",
        c.cs, Scenario(c.step, [(at + c.step, ratio)], c.rate), checks)]
