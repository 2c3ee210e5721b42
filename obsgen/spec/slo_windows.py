"""Checks of `defaults.slo_windows`: every tier an SLO can get must alert only while its budget runs out.

A tier's burn rate is share × period / long window (`slo_math`); below 1 it fires while the budget would
last the whole period, which is noise. Refused, each at its place with the fix:

- in a set keyed by its period (`defaults.slo_windows.7d.ticket_slow`): a burn rate below 1, or a long window
  longer than the period;
- in one set for every period (the form without periods), a burn rate below 1 for a period some SLO uses,
  at the tier, naming that SLO (a long window past the period is `validate._slo_fit`'s, at the SLO);
- a period obsgen has no usable default for (below 3d), at each SLO of that period that would use it;
- what no period can use (`slo_math.window_problems`): a key that is no period in days, a short window
  below 5m or not below its long one, a share that is no percentage.

`obsgen.spec.validate._check_slo_windows` yields these.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from functools import partial
from typing import NamedTuple

from ..slo_math import (
    DAY,
    MIN_RULE_DAYS,
    TIER_KEYS,
    default_set,
    exact,
    factor,
    given,
    is_catalogue,
    longest_window,
    norm,
    period_key_seconds,
    seconds,
    window_problems,
    window_set,
)
from ..units import duration_seconds, fmt, format_duration
from .errors import Path, place
from .models import Spec

Found = Iterator[tuple[Path, str]]
BASE: Path = ("defaults", "slo_windows")


class _Use(NamedTuple):
    """An SLO (or class) of one period: where its period is written, which tiers it alerts with (one per SLO
    of the spec: a tuple is quicker to make than a frozen dataclass)."""

    place: Path
    page: bool
    ticket: bool

    def alerts(self, tier_key: str) -> bool:
        return self.page if tier_key.startswith("page") else self.ticket


def _valid_period(value: str) -> bool:
    try:
        s = duration_seconds(value)
    except ValueError:
        return False
    return s > 0 and s % DAY == 0


def periods_in_use(spec: Spec) -> dict[str, list[_Use]]:
    """The SLO periods of the spec's classes and services (normalized, e.g. `4w` as `28d`), with their places."""
    out: dict[str, list[_Use]] = {}
    normed: dict[str, list[_Use] | None] = {}  # each period as written: its list in `out`, None if not valid
    default = spec.defaults.slo_period

    def users(period: str | None) -> list[_Use] | None:
        value = period or default
        if value not in normed:  # anything not valid is refused by the period check
            normed[value] = out.setdefault(norm(value), []) if _valid_period(value) else None
        return normed[value]

    for cname, cls in spec.slo_classes.items():
        if (cls.availability is not None or cls.latency is not None) and (found := users(cls.period)) is not None:
            found.append(_Use(("slo_classes", cname, "period"), True, True))
    use = partial(tuple.__new__, _Use)  # _Use(...) without the Python call NamedTuple makes of it
    for i, svc in enumerate(spec.services):
        for j, slo in enumerate(svc.slos):
            value = slo.period or default
            found = normed[value] if value in normed else users(value)
            if found is not None:
                found.append(use((("services", i, "slos", j, "period"), slo.alerting.page, slo.alerting.ticket)))
    return dict(sorted(out.items(), key=lambda kv: seconds(kv[0])))


def _min_share(long: str, period: str) -> str:
    """The share (percent, rounded up to 2 decimals) that makes a long window's burn rate 1."""
    share = Decimal(seconds(long) * 100) / Decimal(seconds(period))
    return fmt(share.quantize(Decimal("0.01"), rounding=ROUND_CEILING))


def _max_long(share: float | str, period: str) -> str:
    """The longest long window (whole minutes) whose burn rate stays at least 1 for a share."""
    s = Fraction(Decimal(str(share))) / 100 * seconds(period)
    return format_duration(max(60, int(s // 60) * 60))


def _rate(share: float | str, period: str, long: str) -> Fraction:
    return factor(Decimal(str(share)), period, long)


def _keyed(windows: object) -> Found:
    """The sets keyed by period, each held to its own period."""
    for key, (long, _, share), path in given(windows):
        period = path[0]
        if period_key_seconds(period) is None:
            continue
        if seconds(long) > seconds(period):
            yield BASE + path, (f"the long window {long} is longer than the {period} period this set is for; "
                                f"use a long window of at most {period}")
            continue
        rate = _rate(share, period, long)
        if rate < 1:
            yield BASE + path, (
                f"{fmt(Decimal(str(share)))}% of the {period} budget in {long} is a burn rate of {exact(rate)}, "
                f"below 1: this {key} tier would fire while the budget lasts the whole period; give a share of "
                f"at least {_min_share(long, period)}% or a long window of at most {_max_long(share, period)}")


def _one_set(windows: object, uses: dict[str, list[_Use]]) -> Found:
    """One set for every period: each tier it writes, held to every period an SLO alerting with it uses."""
    longest = seconds(longest_window(windows))
    for key, (long, _, share), path in given(windows):
        for period, users in uses.items():
            alerting = [u for u in users if u.alerts(key)]
            if not alerting or longest > seconds(period):  # a window past the period: `_slo_fit` says so at the SLO
                continue
            rate = _rate(share, period, long)
            if rate < 1:
                (dlong, _, dshare), = [w for k, w in zip(TIER_KEYS, default_set(period), strict=True) if k == key]
                yield BASE + path, (
                    f"for the {period} period (at {place(alerting[0].place)}), {fmt(Decimal(str(share)))}% of the "
                    f"budget in {long} is a burn rate of {exact(rate)}, below 1: the {key} tier would fire while "
                    f"the budget lasts the whole period. Leave `{key}` out (each period then keeps its default, "
                    f"for {period} {dshare}% in {dlong}), give a share of at least {_min_share(long, period)}%, "
                    f"or key the sets by period: `slo_windows: {{{period}: {{{key}: [...]}}, 30d: {{...}}}}`")
                break  # one message per tier: the fix is the same for every other period


def _defaults_for(windows: object, uses: dict[str, list[_Use]]) -> Found:
    """Periods whose default tiers cannot work (below 3d): at each SLO that would alert with them."""
    for period, users in uses.items():
        if seconds(longest_window(windows)) > seconds(period):
            continue  # `_slo_fit` refuses these SLOs' period already
        bad = [(key, w) for key, (w, where) in zip(TIER_KEYS, window_set(windows, period), strict=True)
               if where is None and seconds(w[1]) >= seconds(w[0])]
        if not bad:
            continue
        for use in users:
            keys = [key for key, _ in bad if use.alerts(key)]
            if not keys:
                continue
            (long, short, _), = [w for key, w in bad if key == keys[0]]
            yield use.place, (
                f"obsgen has no default alerting windows for a {period} period: it scales its 30d windows to "
                f"periods of {MIN_RULE_DAYS}d and more, and for {period} the {' and '.join(keys)} tier's long "
                f"window would be {long}, not longer than its short window {short}. Give this period's set as "
                f"`defaults.slo_windows: {{{period}: {{{keys[0]}: [long, short, percent of the budget]}}}}` "
                f"(long windows of at most {period}), or use a period of {MIN_RULE_DAYS}d or more")


def problems(spec: Spec) -> Found:
    """Every problem of `defaults.slo_windows`, with its place."""
    windows = spec.defaults.slo_windows
    structural = window_problems(windows)
    for path, message in structural:
        yield BASE + path, message
    if structural:
        return  # burn rates of windows that cannot work would only repeat the problem
    uses = periods_in_use(spec)
    if is_catalogue(windows):
        yield from _keyed(windows)
    else:
        yield from _one_set(windows, uses)
    yield from _defaults_for(windows, uses)
