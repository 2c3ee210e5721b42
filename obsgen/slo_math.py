"""SLO arithmetic and names, shared by the SLO engine (`slo.py`) and the spec checks (`spec/validate.py`).

Burn-rate factors follow the SRE Workbook ("Alerting on SLOs"): a tier fires when its long window burns
`share` percent of the period's error budget, so factor = share × period / long window. Everything is
exact (`Fraction`), printed with `exact()`: 14.4 × 0.001 is written `0.0144`.

Window sets are chosen per SLO period (`defaults.slo_windows`, a catalogue keyed by period, or one set for
every period), a tier the spec leaves out taking obsgen's default for the period:

- 30d: the Workbook's set, 2% of the budget in 1h (over 1h and 5m), 5% in 6h (6h, 30m), 10% in 1d (1d, 2h),
  10% in 3d (3d, 6h): burn rates 14.4, 6, 3 and 1 (also Sloth's built-in 30d set).
- 28d: the same windows and shares (Sloth's built-in 28d set), except the slow ticket: 10% in 3d would be a
  burn rate of 0.933, a ticket while the budget lasts; 11.25% makes it 1.05. Burn rates 13.44, 5.6, 2.8, 1.05.
- 7d: Sloth's example 7d catalogue (8%, 12.5%, 20%, 42% over the same windows), except the slow ticket:
  42% in 3d is a burn rate of 0.98; 45% makes it 1.05. Burn rates 13.44, 3.5, 1.4, 1.05.
- any other whole-day period of 3d or more: Pyrra's rule (windows scale with the period, burn rates stay)
  applied to the 30d set: each window × period / 30d, short windows rounded to whole minutes and at least 5m
  (the base window), shares 2/5/10/10 %, so burn rates stay 14.4, 6, 3 and 1. (Pyrra scales its 28d set,
  burn rates 14, 7, 2, 1; obsgen's base window is 5m, so a short window is never shorter.) Below 3d the fast
  page's long window would not exceed 5m: such a period needs its own set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import lru_cache

from .naming import derived_alert_name
from .units import duration_seconds, format_duration

BASE_WINDOW = "5m"  # error and total rates are read from raw series once, over this window
BASE_SECONDS = 300
TIER_KEYS = ("page_fast", "page_slow", "ticket_fast", "ticket_slow")
ALERT_SUFFIXES = {"burn": "BudgetBurn", "absent": "SliAbsent", "exhausted": "BudgetExhausted"}


@dataclass(frozen=True)
class Tier:
    key: str  # page_fast, ...
    tier: str  # "page" | "ticket"
    long: str  # normalized duration, e.g. "1h"
    short: str
    share: Decimal  # percent of the period's budget burnt within `long` when the tier fires
    factor: Fraction  # burn rate: multiple of the budget rate

    @property
    def long_seconds(self) -> int:
        return seconds(self.long)

    @property
    def short_seconds(self) -> int:
        return seconds(self.short)


def seconds(window: str) -> int:
    return int(duration_seconds(window))


def norm(window: str) -> str:
    """One spelling per duration so `72h` and `3d` share one recording rule."""
    return format_duration(duration_seconds(window))


def factor(share_percent: Decimal | float, period: str, long: str) -> Fraction:
    share = Fraction(Decimal(str(share_percent))) / 100
    return share * seconds(period) / seconds(long)


Window = tuple[str, str, float | str]  # (long, short, percent of the budget), as written or a default
WindowPath = tuple[str, ...]  # a place under `defaults.slo_windows`: ("page_fast",) or ("7d", "page_fast")
DAY = 86400
RULE_DAYS = 30  # the set other periods scale
MIN_RULE_DAYS = 3  # from here the scaled fast page's long window (2 minutes a day) exceeds the base window
DEFAULT_SETS: dict[int, tuple[Window, ...]] = {  # by period in days; TIER_KEYS order
    7: (("1h", "5m", "8"), ("6h", "30m", "12.5"), ("1d", "2h", "20"), ("3d", "6h", "45")),
    28: (("1h", "5m", "2"), ("6h", "30m", "5"), ("1d", "2h", "10"), ("3d", "6h", "11.25")),
    30: (("1h", "5m", "2"), ("6h", "30m", "5"), ("1d", "2h", "10"), ("3d", "6h", "10")),
}


def period_key_seconds(key: object) -> int | None:
    """The period a catalogue key names (`7d`, `28d`), or None for a key that is not a whole number of days
    written in days."""
    if not isinstance(key, str) or not re.fullmatch(r"[1-9][0-9]*d", key):
        return None
    return int(key[:-1]) * DAY


def is_catalogue(windows: object) -> bool:
    return isinstance(windows, dict)


def default_set(period: str) -> tuple[Window, ...]:
    """obsgen's own set for a period: the 7d, 28d or 30d default, else the 30d set scaled (module docstring)."""
    days = seconds(period) // DAY
    if days in DEFAULT_SETS:
        return DEFAULT_SETS[days]
    out = []
    for long, short, share in DEFAULT_SETS[RULE_DAYS]:
        scaled_long = Fraction(seconds(long) * days, RULE_DAYS)  # whole minutes: 2 × days and up
        scaled_short = Fraction(seconds(short) * days, RULE_DAYS)
        short_s = max(BASE_SECONDS, int((scaled_short / 60 + Fraction(1, 2)) // 1) * 60)
        out.append((format_duration(int(scaled_long)), format_duration(short_s), share))
    return tuple(out)


def given(windows: object, period: str | None = None) -> list[tuple[str, Window, WindowPath]]:
    """The tiers the spec writes for a period (tier key, window, place under `defaults.slo_windows`): the
    set keyed by the period, or the one set every period uses. Without a period: every tier written."""
    if not is_catalogue(windows):
        return [(k, w, (k,)) for k in TIER_KEYS if (w := getattr(windows, k)) is not None]
    assert isinstance(windows, dict)
    out: list[tuple[str, Window, WindowPath]] = []
    for key, wset in windows.items():
        if period is not None and period_key_seconds(key) != seconds(period):
            continue
        out += [(k, w, (key, k)) for k in TIER_KEYS if (w := getattr(wset, k)) is not None]
    return out


def window_set(windows: object, period: str) -> tuple[tuple[Window, WindowPath | None], ...]:
    """The four tiers (TIER_KEYS order) an SLO of this period uses, each with its place in the spec (None:
    obsgen's default for the period)."""
    own = {k: (w, path) for k, w, path in given(windows, period)}
    return tuple(own.get(k, (w, None)) for k, w in zip(TIER_KEYS, default_set(period), strict=True))


def tiers(windows: object, period: str) -> list[Tier]:
    """The four tiers of an SLO period, from the spec's `defaults.slo_windows` and obsgen's defaults."""
    return list(_tiers(tuple((str(long), str(short), str(share))
                             for (long, short, share), _ in window_set(windows, period)), period))


@lru_cache(maxsize=256)  # asked for by every SLO's rules, tests and dashboard: a spec has few distinct ones
def _tiers(windows: tuple[tuple[str, str, str], ...], period: str) -> tuple[Tier, ...]:
    out = []
    for key, (long, short, share) in zip(TIER_KEYS, windows, strict=True):
        out.append(Tier(key=key, tier=key.split("_")[0], long=norm(long), short=norm(short),
                        share=Decimal(share), factor=factor(Decimal(share), period, long)))
    return tuple(out)


@lru_cache(maxsize=4096)
def exact(value: Fraction | Decimal | int) -> str:
    """A number as PromQL reads it: exact when its decimal expansion ends, else 17 significant digits."""
    fr = Fraction(value)
    den = fr.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    with localcontext() as ctx:
        ctx.prec = 60 if den == 1 else 17
        d = Decimal(fr.numerator) / Decimal(fr.denominator)
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


THRESHOLD_DIGITS = 12  # significant digits of a threshold whose decimal expansion does not end


def threshold_literal(value: Fraction) -> str:
    """An alert threshold as PromQL reads it, never above the exact `value` (so the alert never fires later
    than the exact threshold says): the exact decimal when it ends within 17 significant digits, else rounded
    down to THRESHOLD_DIGITS of them, and lowered by one in the last digit while the float64 that promtool
    parses from it is still above `value`."""
    if value <= 0:
        return exact(value)
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den == 1:
        text = exact(value)
        if len(text.replace(".", "").lstrip("0")) <= 17:
            return text
    scale = THRESHOLD_DIGITS - 1 - _magnitude(value)  # decimal places that keep THRESHOLD_DIGITS digits
    step = Fraction(1, 10**scale) if scale >= 0 else Fraction(10 ** -scale)
    down = (value // step) * step
    while Fraction(float(exact(down))) > value:  # the float64 nearest the literal rounded up past value
        down -= step
    return exact(down)


def _magnitude(value: Fraction) -> int:
    """floor(log10(value)) of a positive value, exactly."""
    m = len(str(value.numerator)) - len(str(value.denominator))
    while Fraction(10) ** m > value:
        m -= 1
    while Fraction(10) ** (m + 1) <= value:
        m += 1
    return m


def slo_alert_name(service: str, slo: str, kind: str) -> str:
    """`<Service><Slo><Suffix>`, shortened by whole words (and a stable hash) to fit (naming.py)."""
    return derived_alert_name(service, slo, ALERT_SUFFIXES[kind])


def window_problems(windows: object) -> list[tuple[WindowPath, str]]:
    """(place under `defaults.slo_windows`, message) for what makes a written set unusable for any period:
    a catalogue key that is no period in days, a short window below the base window or not below the long
    one, a share that is no percentage. What depends on the period (burn rates, a long window past the
    period) is checked in `spec/slo_windows.py`."""
    found: list[tuple[WindowPath, str]] = []
    if is_catalogue(windows):
        assert isinstance(windows, dict)
        for key in windows:
            if period_key_seconds(key) is None:
                found.append(((key,), f"a window set is keyed by its SLO period in days, like `7d` or `28d`, "
                                      f"got `{key}`"))
    for _, (long, short, share), path in given(windows):
        if seconds(short) < BASE_SECONDS:
            found.append((path, f"the short window {short} is below {BASE_WINDOW}, the window SLI rates are read "
                                "over"))
        if seconds(short) >= seconds(long):
            found.append((path, f"the short window {short} must be shorter than the long window {long}"))
        if not 0 < float(share) <= 100:
            found.append((path, f"the budget share {float(share):g} must be a percentage above 0 and at most 100"))
    return found


def longest_window(windows: object) -> str:
    """The longest long window written for every period (one set without periods; `validate._slo_fit` holds
    each SLO period to it). A catalogue's sets, and obsgen's defaults, are held to their own period in
    `spec/slo_windows.py`: the base window stands for them here."""
    longs = [norm(w[0]) for _, w, _ in given(windows)] if not is_catalogue(windows) else []
    return max(longs, key=seconds, default=BASE_WINDOW)
