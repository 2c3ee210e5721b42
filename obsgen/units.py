"""Durations, quantities and exact number printing.

Every number a spec gives (`0.1%`, `200ms`, `99.95`) is kept as a Decimal so thresholds reach the
output exactly as written (`0.001`, never `0.0009999999999999432`).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

# Prometheus' own duration grammar: units in descending order, each at most once.
_DURATION_RE = re.compile(
    r"^(?:(?P<y>\d+)y)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?"
    r"(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?$"
)
_UNIT_SECONDS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_SI = {"k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9}


def is_duration(text: str) -> bool:
    return bool(text) and (text == "0" or (_DURATION_RE.match(text) is not None and text != ""))


@lru_cache(maxsize=4096)  # a few dozen distinct durations, asked for hundreds of thousands of times
def duration_seconds(text: str) -> Decimal:
    """`1h30m` -> 5400; `200ms` -> 0.2. Raises ValueError on anything Prometheus would refuse."""
    if text == "0":
        return Decimal(0)
    m = _DURATION_RE.match(text or "")
    if not text or not m or not any(m.groupdict().values()):
        raise ValueError(f"{text!r} is not a Prometheus duration (e.g. 30s, 5m, 1h30m, 7d)")
    total = Decimal(0)
    for unit, value in m.groupdict().items():
        if value is None:
            continue
        total += Decimal(value) / 1000 if unit == "ms" else Decimal(value) * _UNIT_SECONDS[unit]
    return total


@lru_cache(maxsize=4096)
def format_duration(seconds: Decimal | int) -> str:
    """Shortest Prometheus duration for a whole number of milliseconds: 5400 -> `1h30m`."""
    ms = int(Decimal(seconds) * 1000)
    if ms == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400_000), ("h", 3600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        n, ms = divmod(ms, size)
        if n:
            out += f"{n}{unit}"
    return out


@lru_cache(maxsize=4096, typed=True)  # hot when rendering many services with the same numbers
def fmt(value: Decimal | int | float) -> str:
    """Print a number exactly and briefly: Decimal('0.0010') -> `0.001`, 1E+3 -> `1000`."""
    d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


class Quantity:
    """A threshold value as written: a number, a percentage, a duration or an SI-suffixed count.

    Immutable: parse_quantity hands one object to every caller that parses the same text."""

    __slots__ = ("value", "kind", "text")
    value: Decimal  # in base units: ratio for %, seconds for durations
    kind: str  # "number" | "percent" | "duration"
    text: str

    def __init__(self, value: Decimal, kind: str, text: str):
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "text", text)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Quantity is immutable: cannot set {name}")

    def __repr__(self) -> str:
        return f"Quantity({self.text!r})"


def parse_quantity(raw: object) -> Quantity:
    """Raises ValueError, with a message that names only the value (the caller says where it is)."""
    if type(raw) is str:  # most values are text (`0.5%`, `250ms`), and thousands of services repeat them
        return _parse_text(raw)
    if isinstance(raw, bool):
        raise ValueError("expected a number, a percentage (0.5%) or a duration (200ms), got a boolean")
    if isinstance(raw, (int, float)):
        # not memoized: 0.0 and -0.0 are one key to a cache, but not one text
        return Quantity(Decimal(str(raw)), "number", str(raw))
    if not isinstance(raw, str):
        raise ValueError("expected a number, a percentage (0.5%) or a duration (200ms)")
    return _parse_text(str(raw))


@lru_cache(maxsize=4096)  # a failure raises, and is not remembered
def _parse_text(raw: str) -> Quantity:
    text = raw.strip()
    try:
        if text.endswith("%"):
            return Quantity(Decimal(text[:-1]) / 100, "percent", text)
        if text and text[-1] in _SI and _is_decimal(text[:-1]):
            return Quantity(Decimal(text[:-1]) * _SI[text[-1]], "number", text)
        if _is_decimal(text):
            return Quantity(Decimal(text), "number", text)
        return Quantity(duration_seconds(text), "duration", text)
    except (ValueError, InvalidOperation):
        raise ValueError(
            f"{raw!r} is not a number, a percentage (0.5%), a count (50k) or a duration (200ms)"
        ) from None


def _is_decimal(text: str) -> bool:
    try:
        d = Decimal(text)
    except InvalidOperation:
        return False
    return d.is_finite()
