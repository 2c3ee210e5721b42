"""Generated promtool proofs of the SLO alerts (items of `prometheus/tests/<service>.test.yml`).

For each SLO, synthetic raw series (request counters, histogram buckets, or the counters an events SLI
names) are fed through the service's real rule file, and the `ALERTS` series promtool records show:

- a total outage pages no later than the Workbook's detection time of the fastest page tier
  (long window × factor × budget) plus two evaluation intervals;
- errors at 2× the budget rate (or between the ticket and page factors when 2× is not) open the
  ticket and never page;
- errors at half the budget rate (or half the lowest factor) fire nothing at all;
- after an outage ends, the page resolves within what its short windows imply: short × (1 - factor ×
  budget), plus two evaluation intervals.

Times are exact on the evaluation grid; every group's `name` states the bound it asserts and why.
SLIs whose input obsgen cannot synthesize (ratio SLIs, events queries that are not a plain
`rate()`/`increase()` of one selector) get no proofs; `proof_gap()` says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from math import ceil
from typing import Any

from .model import Model, ServiceModel, SloModel
from .slo import alert_names, enabled_tiers
from .slo_math import BASE_SECONDS, Tier, exact, seconds
from .units import fmt, format_duration

ERROR_VALUES = ("500", "503", "5xx", "error", "ERROR", "failure", "false", "429", "timeout", "1")
TICKET_WARM_UP = 3600  # seconds of good traffic before the ticket scenario's errors start
QUIET_FOR = 3600  # seconds the half-budget scenario runs
GOOD_VALUES = ("200", "ok", "success", "true", "2xx", "0", "good")
_SELECTOR = re.compile(
    r"\b(?:rate|increase)\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^{}]*\})?\s*\[\{\{window\}\}\]\s*\)")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


@dataclass(frozen=True)
class Counter:
    """A raw series and the share of the SLI's traffic it counts: errors, good events or all events."""

    labels: dict[str, str]  # including __name__
    counts: str  # "errors" | "good" | "total"

    def series(self) -> str:
        rest = ", ".join(f'{k}="{v}"' for k, v in self.labels.items() if k != "__name__")
        return f"{self.labels['__name__']}{{{rest}}}"


def _pick(pattern: str, candidates: tuple[str, ...], match: bool) -> str | None:
    return next((c for c in candidates if (re.fullmatch(pattern, c) is not None) == match), None)


def _selector_labels(query: str) -> dict[str, str] | None:
    """Labels of a series that the query's single `rate(<selector>[{{window}}])` reads, or None."""
    found = _SELECTOR.findall(query)
    if len(found) != 1:
        return None
    name, braces = found[0]
    out = {"__name__": name}
    body = (braces or "{}")[1:-1].strip()
    pos = 0
    while pos < len(body):
        m = _MATCHER.match(body, pos)
        if m is None:
            return None
        label, op, value = m.groups()
        if op == "=":
            out[label] = value
        elif op == "=~" and (pick := _pick(value, ERROR_VALUES + GOOD_VALUES, True)) is not None:
            out[label] = pick
        else:
            return None
        pos = m.end()
    return out


def _reads(query: str, labels: dict[str, str]) -> bool:
    """Whether the query's selector matches a series with these labels."""
    own = _selector_labels(query)
    if own is None or own["__name__"] != labels["__name__"]:
        return False
    body = (_SELECTOR.findall(query)[0][1] or "{}")[1:-1]
    return all(re.fullmatch(v, labels.get(k, "")) if op == "=~" else labels.get(k, "") == v
               for k, op, v in _MATCHER.findall(body))


def counters(svc: ServiceModel, slo: SloModel) -> list[Counter] | None:
    job = {"job": svc.job}
    m = svc.metrics
    if slo.sli_type == "availability":
        bad = _pick(m.error_status, ERROR_VALUES, True)
        good = _pick(m.error_status, GOOD_VALUES, False)
        if bad is None or good is None:
            return None
        name = {"__name__": m.requests_total, **job}
        return [Counter({**name, m.status_label: good}, "good"), Counter({**name, m.status_label: bad}, "errors")]
    if slo.sli_type == "latency":
        assert slo.latency_threshold is not None
        from .model import le_label

        return [Counter({"__name__": f"{m.duration_histogram}_count", **job}, "total"),
                Counter({"__name__": f"{m.duration_histogram}_bucket", **job,
                         "le": le_label(slo.latency_threshold)}, "good")]
    if slo.sli_type == "events" and slo.total_query is not None:
        return _event_counters(slo.errors_query, slo.total_query)
    return None


def _event_counters(errors_q: str, total_q: str) -> list[Counter] | None:
    errors, total = _selector_labels(errors_q), _selector_labels(total_q)
    if errors is None or total is None or not _reads(errors_q, errors) or not _reads(total_q, total):
        return None
    if not _reads(total_q, errors):  # separate counters: one of errors, one of every event
        return None if _reads(errors_q, total) else [Counter(errors, "errors"), Counter(total, "total")]
    # the total selector also reads the error series: add a good series the errors selector skips
    for label in (k for k in errors if k not in total and k != "__name__"):
        for value in GOOD_VALUES:
            good = {**errors, label: value}
            if not _reads(errors_q, good) and _reads(total_q, good):
                return [Counter(errors, "errors"), Counter(good, "good")]
    return None


def proof_gap(svc: ServiceModel, slo: SloModel) -> str | None:
    """Why an SLO gets no generated proofs (None when it gets them)."""
    if counters(svc, slo) is not None:
        return None
    if slo.sli_type == "ratio":
        return "a ratio SLI is an arbitrary expression; obsgen cannot synthesize its input"
    return ("the SLI must read `rate(<selector>[{{window}}])` once for errors and once for total, "
            "with `=` (or `=~` matching a usual value) matchers, for obsgen to synthesize its input")


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
    return [{"series": c.series(), "values": sc.values(c.counts)} for c in cs]


@lru_cache(maxsize=4096)
def _dur(s: Fraction | int) -> str:
    return format_duration(Decimal(ceil(Fraction(s) * 1000)) / 1000)


def _on_grid(s: Fraction | int, grid: int) -> int:
    """The first evaluation at or after `s` seconds."""
    return ceil(Fraction(s) / grid) * grid


def _alerts(name: str, slo: SloModel, extra: str = "") -> str:
    return f'ALERTS{{alertname="{name}", slo_id="{slo.id}", alertstate="firing"{extra}}}'


def _fires(expr: str, at: int) -> dict[str, Any]:
    return {"expr": f"count({expr})", "eval_time": _dur(at), "exp_samples": [{"labels": "{}", "value": 1}]}


def _never(expr: str, at: int) -> dict[str, Any]:
    return {"expr": f"max_over_time({expr}[{_dur(at)}])", "eval_time": _dur(at), "exp_samples": []}


# --------------------------------------------------------------------------- the proofs


def proofs(model: Model, svc: ServiceModel, slo: SloModel, instances: int = 1) -> list[dict[str, Any]]:
    """Test groups for one SLO; `instances` spreads the same traffic over that many series (bench)."""
    cs = counters(svc, slo)
    tiers = enabled_tiers(model, slo)
    if cs is None or not tiers:
        return []
    if instances > 1:
        cs = [Counter({**c.labels, "instance": f"i{i}"}, c.counts) for c in cs for i in range(instances)]
    eval_s = seconds(model.evaluation_interval)
    step = min(seconds(model.scrape_interval), 60)
    rate = max(Decimal(10), slo.min_request_rate * 10) / instances
    what = f"{slo.name} SLO ({fmt(slo.objective)}% over {slo.period})"
    ctx = (model, svc, slo, cs, eval_s, step, rate, what)
    groups = []
    if slo.page:
        groups += _outage(*ctx)
    if slo.ticket:
        groups += _ticket(*ctx)
    groups += _quiet(*ctx)
    return groups


def _group(name: str, cs: list[Counter], sc: Scenario, checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "interval": _dur(sc.step), "input_series": _input(cs, sc), "promql_expr_test": checks}


# The timings depend on numbers only (tiers, budget, intervals): services that share them share these.
@lru_cache(maxsize=256)
def _outage_times(page: tuple[Tier, ...], budget: Fraction, eval_s: int, step: int) -> tuple[Any, ...]:
    fast = min(page, key=lambda t: t.long_seconds * t.factor * budget)
    detect = fast.long_seconds * fast.factor * budget
    warm = _on_grid(fast.long_seconds + BASE_SECONDS, step)  # the fast tier's long window holds good traffic
    deadline = _on_grid(warm + detect + 2 * eval_s, eval_s)
    duration = _on_grid(detect + 2 * eval_s + BASE_SECONDS, step)
    slowest = max(page, key=lambda t: t.short_seconds * (1 - t.factor * budget))
    settle = slowest.short_seconds * (1 - slowest.factor * budget)
    resolved = _on_grid(warm + duration + settle + 2 * eval_s, eval_s)
    return fast, detect, warm, deadline, duration, slowest, settle, resolved


def _outage(model, svc, slo, cs, eval_s, step, rate, what):
    """One input, two bounds: when the page fires after a total outage starts, and clears after it ends."""
    page = tuple(t for t in enabled_tiers(model, slo) if t.tier == "page")
    budget = Fraction(slo.budget)
    fast, detect, warm, deadline, duration, slowest, settle, resolved = _outage_times(page, budget, eval_s, step)
    sc = Scenario(step, [(warm, Fraction(0)), (duration, Fraction(1)), (resolved - warm - duration + step,
                                                                        Fraction(0))], rate)
    page_alert = _alerts(alert_names(svc, slo)["burn"], slo, ', tier="page"')
    return [_group(
        f"{what}: a total outage pages within {_dur(detect + 2 * eval_s)} = {fast.long} × "
        f"{exact(fast.factor)} × {exact(budget)} (the Workbook's detection time of the fast page tier: "
        f"long window × factor × budget) + 2 × {model.evaluation_interval} evaluation interval; after "
        f"{_dur(duration)} the outage ends and the page resolves within {_dur(settle + 2 * eval_s)} = "
        f"{slowest.short} × (1 - {exact(slowest.factor)} × {exact(budget)}) (from then on its slowest short "
        f"window holds too few errors) + 2 × {model.evaluation_interval}",
        cs, sc, [_never(page_alert, warm), _fires(page_alert, deadline), _fires(page_alert, warm + duration),
                 {"expr": f"count({page_alert})", "eval_time": _dur(resolved), "exp_samples": []}],
    )]


def _opens(t: Tier, warm: int, burn: Fraction) -> Fraction:
    """Seconds after errors at `burn`× start (after `warm` s of good traffic) until both windows exceed t."""

    def window(size: int) -> Fraction:
        partial = t.factor * warm / (burn - t.factor)  # the window still holds all the traffic so far
        return partial if warm + partial <= size else size * t.factor / burn

    return max(window(t.short_seconds), window(t.long_seconds))


@lru_cache(maxsize=256)
def _ticket_times(ts: tuple[Tier, ...], budget: Fraction, eval_s: int, step: int) -> tuple[Any, ...] | None:
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
    deadline = _on_grid(warm + opens * Fraction(21, 20) + 2 * eval_s, eval_s)
    return burn, warm, opener, opens, deadline


def _ticket(model, svc, slo, cs, eval_s, step, rate, what):
    budget = Fraction(slo.budget)
    times = _ticket_times(tuple(enabled_tiers(model, slo)), budget, eval_s, step)
    if times is None:
        return []
    burn, warm, opener, opens, deadline = times
    sc = Scenario(step, [(warm, Fraction(0)), (deadline - warm + step, burn * budget)], rate)
    name = alert_names(svc, slo)["burn"]
    return [_group(
        f"{what}: after {_dur(warm)} of good traffic, errors at {exact(burn)}× the budget rate open the ticket "
        f"within {_dur(opens * Fraction(21, 20) + 2 * eval_s)} ({_dur(opens)} until its {opener.long} and "
        f"{opener.short} windows average above {exact(opener.factor)}×, + 5 % + 2 × {model.evaluation_interval})"
        f" and never page ({exact(burn)}× is below every page factor)",
        cs, sc, [_fires(_alerts(name, slo, ', tier="ticket"'), deadline),
                 _never(_alerts(name, slo, ', tier="page"'), deadline)],
    )]


def _quiet(model, svc, slo, cs, eval_s, step, rate, what):
    ts = enabled_tiers(model, slo)
    low = min(t.factor for t in ts)
    q = min(Fraction(1, 2), low / 2)
    end = _on_grid(QUIET_FOR, eval_s)
    sc = Scenario(step, [(end + step, q * Fraction(slo.budget))], rate)
    return [_group(
        f"{what}: errors at {exact(q)}× the budget rate from the start fire no SLO alert at all within "
        f"{_dur(end)} (every window then holds {exact(q)}×, below the lowest factor {exact(low)}×)",
        cs, sc, [_never(f'ALERTS{{slo_id="{slo.id}", alertstate="firing"}}', end)],
    )]
