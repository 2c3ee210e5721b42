"""SLO arithmetic and names, shared by the SLO engine (`slo.py`) and the spec checks (`spec/validate.py`).

Burn-rate factors follow the SRE Workbook ("Alerting on SLOs"): a tier fires when its long window burns
`share` percent of the period's error budget, so factor = share × period / long window. Everything is
exact (`Fraction`), printed with `exact()`: 14.4 × 0.001 is written `0.0144`.
"""

from __future__ import annotations

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


def tiers(windows: object, period: str) -> list[Tier]:
    """The four tiers of a spec's `defaults.slo_windows` (long, short, share) for one SLO period."""
    return list(_tiers(tuple(tuple(getattr(windows, key)) for key in TIER_KEYS), period))


@lru_cache(maxsize=256)  # asked for by every SLO's rules, tests and dashboard: a spec has few distinct ones
def _tiers(windows: tuple[tuple[str, str, float], ...], period: str) -> tuple[Tier, ...]:
    out = []
    for key, (long, short, share) in zip(TIER_KEYS, windows, strict=True):
        out.append(Tier(key=key, tier=key.split("_")[0], long=norm(long), short=norm(short),
                        share=Decimal(str(share)), factor=factor(share, period, long)))
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


def slo_alert_name(service: str, slo: str, kind: str) -> str:
    """`<Service><Slo><Suffix>`, shortened by whole words (and a stable hash) to fit (naming.py)."""
    return derived_alert_name(service, slo, ALERT_SUFFIXES[kind])


def window_problems(windows: object) -> list[tuple[str, str]]:
    """(tier key, message) for windows that cannot work: short not below long, below the base window."""
    found = []
    for key in TIER_KEYS:
        long, short, share = getattr(windows, key)
        if seconds(short) < BASE_SECONDS:
            found.append((key, f"the short window {short} is below {BASE_WINDOW}, the window SLI rates are read over"))
        if seconds(short) >= seconds(long):
            found.append((key, f"the short window {short} must be shorter than the long window {long}"))
        if not 0 < share <= 100:
            found.append((key, f"the budget share {share:g} must be a percentage above 0 and at most 100"))
    return found


def longest_window(windows: object) -> str:
    return max((norm(getattr(windows, k)[0]) for k in TIER_KEYS), key=seconds)
