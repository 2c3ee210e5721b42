"""Durations, quantities and exact number printing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obsgen.units import duration_seconds, fmt, format_duration, parse_quantity


@pytest.mark.parametrize("text,seconds", [("0", 0), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("7d", 604800),
                                          ("200ms", Decimal("0.2")), ("1w", 604800), ("1y", 31536000)])
def test_durations(text: str, seconds: Decimal) -> None:
    assert duration_seconds(text) == Decimal(seconds)


@pytest.mark.parametrize("text", ["", "5", "5 m", "1m1h", "1.5h", "-5m", "5M", "ms"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        duration_seconds(text)


@given(st.integers(min_value=1, max_value=10**10))
def test_format_duration_round_trips(ms: int) -> None:
    seconds = Decimal(ms) / 1000
    assert duration_seconds(format_duration(seconds)) == seconds


@pytest.mark.parametrize("raw,value,kind", [
    ("0.1%", Decimal("0.001"), "percent"), ("99.95%", Decimal("0.9995"), "percent"),
    ("200ms", Decimal("0.2"), "duration"), ("1s", Decimal(1), "duration"), ("50k", Decimal(50000), "number"),
    (0.5, Decimal("0.5"), "number"), (100, Decimal(100), "number"), ("2.5M", Decimal(2500000), "number"),
])
def test_quantities(raw: object, value: Decimal, kind: str) -> None:
    q = parse_quantity(raw)
    assert (q.value, q.kind) == (value, kind)


@pytest.mark.parametrize("raw", [True, None, "fast", "1%%", "NaN", "inf", [1]])
def test_bad_quantities(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_quantity(raw)


def test_numbers_print_exactly() -> None:
    assert fmt(Decimal("14.4") * (1 - Decimal("99.9") / 100)) == "0.0144"
    assert fmt(Decimal("0.0010")) == "0.001"
    assert fmt(Decimal("1E+3")) == "1000"
    assert fmt(0.1) == "0.1"
    assert fmt(Decimal("0.00001")) == "0.00001"


def test_a_parsed_text_is_shared_and_cannot_change() -> None:
    # parse_quantity remembers each text: a caller that changed the Quantity would change everyone's
    q = parse_quantity("0.5%")
    assert parse_quantity("0.5%") is q
    with pytest.raises(AttributeError):
        q.value = Decimal(1)  # type: ignore[misc]
    assert (q.value, q.kind, q.text) == (Decimal("0.005"), "percent", "0.5%")


def test_numbers_keep_their_own_text() -> None:
    # 0.0 and -0.0 (and 1 and 1.0) are equal keys to a cache, but not one text
    assert [parse_quantity(n).text for n in (0.0, -0.0, 1, 1.0)] == ["0.0", "-0.0", "1", "1.0"]


def test_a_bad_text_fails_each_time_it_is_given() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="'fast' is not a number"):
            parse_quantity("fast")
