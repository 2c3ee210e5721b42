"""What the format importers (Sloth, Pyrra, OpenSLO) share: names as obsgen's slugs, label checks, alert names that fit
obsgen's conventions, whole-day periods and PromQL selectors read with their matchers.

The format modules import this one and never each other.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..naming import alert_name_problem, camel
from ..spec.errors import Path
from ..spec.models import _label_value
from ..units import duration_seconds, format_duration
from .source import Document, Refusals

DAY = 86400
# labels obsgen sets on every SLO alert: an imported label of the same name is dropped (said in a comment)
OWNED_LABELS = ("service", "slo", "slo_id", "tier", "alertname", "severity")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def slug(name: str) -> str:
    """`Checkout API` -> `checkout-api`: a name as obsgen's slugs are written."""
    out = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not out or not out[0].isalpha():
        out = "s-" + out
    return out[:63].rstrip("-")


def label_problem(name: str, value: str) -> str | None:
    if not LABEL_NAME.fullmatch(name):
        return f"{name!r} is not a Prometheus label name"
    try:
        _label_value(value)
    except ValueError as e:
        return str(e)
    return None


def fit_alert_name(name: str, service: str, source: str, where: str, notes: list[str],
                   what: str = "the burn-rate alerts") -> str | None:
    """`name` as an obsgen alert name of `service` (which starts with the service's name), or None when it
    cannot be one; a changed or dropped name is said in `notes` (`what` the source named)."""
    if alert_name_problem(name, service) is None:
        return name
    prefix = camel(service)
    rest = name[len(prefix):] if name.lower().startswith(prefix.lower()) else name
    candidate = prefix + rest[:1].upper() + rest[1:]
    if alert_name_problem(candidate, service) is None:
        notes.append(f"{source} named {what} {name} ({where}); obsgen's alert names start with the "
                     f"service's name: {candidate}. Routes, silences and inhibitions matching alertname={name} "
                     "must change")
        return candidate
    notes.append(f"{source} named {what} {name} ({where}), which obsgen cannot use "
                 f"({alert_name_problem(name, service)}); they keep obsgen's name")
    return None


def whole_days(doc: Document, path: Path, raw: Any, what: str, refusals: Refusals) -> str | None:
    """A duration that is a whole number of days, as obsgen writes it (`2w` -> `14d`); refused otherwise."""
    if raw is None or isinstance(raw, bool) or not isinstance(raw, (str, int)):
        refusals.add(doc, path, f"{what}: a duration is required (e.g. 28d)")
        return None
    try:
        s = duration_seconds(str(raw))
    except ValueError as e:
        refusals.add(doc, path, f"{what}: {e}")
        return None
    if s <= 0 or s % DAY:
        refusals.add(doc, path, f"{what} {raw} is no whole number of days, which obsgen's SLO periods are")
        return None
    return format_duration(s)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # "=", "!=", "=~", "!~"
    value: str


@dataclass(frozen=True)
class Selector:
    """A PromQL vector selector: its text, metric name and matchers."""

    text: str
    metric: str
    matchers: tuple[Matcher, ...]

    def equal(self) -> dict[str, str]:
        return {m.name: m.value for m in self.matchers if m.op == "=" and m.name != "__name__"}


_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def selector(doc: Document, path: Path, raw: Any, refusals: Refusals) -> Selector | None:
    """`raw` as a vector selector with a metric name (`http_requests_total{job="api"}`), else refused."""
    from ..spec.expressions import parse_promql

    if not isinstance(raw, str) or not raw.strip():
        refusals.add(doc, path, "must be a PromQL selector, e.g. http_requests_total{job=\"api\"}")
        return None
    text = raw.strip()
    parsed = parse_promql(text)
    if parsed is None:
        refusals.add(doc, path, f"does not parse as PromQL: {text}")
        return None
    pp, tree = parsed
    if not isinstance(tree, pp.VectorSelector) or not tree.name:
        refusals.add(doc, path, f"must be a vector selector with a metric name (a series, not an expression): {text}")
        return None
    matchers = tuple(Matcher(m.name, _OPS.get(str(m.op).rsplit(".", 1)[-1], "="), m.value)
                     for m in tree.matchers.matchers)
    return Selector(text, tree.name, matchers)


def by_clause(by: list[str]) -> str:
    return f"sum by ({', '.join(by)}) " if by else "sum"


def rate_sum(sel: Selector, by: list[str]) -> str:
    """`sum(rate(<selector>[{{window}}]))`, per `by` group when there is one."""
    agg = by_clause(by)
    return f"{agg}(rate({sel.text}[{{{{window}}}}]))"


def share_value(share: Fraction, at_least: Fraction) -> int | float:
    """A tier's share of the budget (percent) as the spec writes it: exact when whole, else the nearest float
    not above it, so obsgen's burn-rate threshold is never above the source's (it fires never later) - except
    where that would fall below `at_least`, the share of a burn rate of 1, which obsgen refuses to go under."""
    if share.denominator == 1:
        return int(share)
    value = float(share)
    if Fraction(value) > share:
        value = math.nextafter(value, 0.0)
    while Fraction(value) < at_least:
        value = math.nextafter(value, math.inf)
    return value
