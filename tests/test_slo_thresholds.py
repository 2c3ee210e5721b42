"""SLO alert thresholds are written exactly, or rounded down: an alert never fires later than the exact
threshold (factor × budget) says.

A threshold whose decimal expansion ends within 17 significant digits is written as it is; any other is
written with THRESHOLD_DIGITS significant digits, rounded down, and so that the float64 promtool parses from it
is not above the exact value either. Shown for any positive ratio (hypothesis) and on the rendered rules of
SLOs over 7d, 28d, 30d and 90d.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import yaml
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.slo_math import THRESHOLD_DIGITS, threshold_literal, tiers
from obsgen.spec import load_spec_text
from obsgen.spec.models import Defaults

PERIODS = ["7d", "28d", "30d", "90d"]
OBJECTIVES = ["99", "99.5", "99.9", "99.95", "99.99", "99.999", "97.3"]


def _terminates_short(value: Fraction) -> str | None:
    """The exact decimal of `value` when it ends within 17 significant digits, else None."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return None
    places = max(twos, fives)
    digits = str(value.numerator * 10**places // value.denominator).lstrip("0")
    return digits if len(digits.rstrip("0") or "0") <= 17 else None


def _holds(value: Fraction, literal: str) -> None:
    written = Fraction(Decimal(literal))
    assert Fraction(float(literal)) <= value or written == value, (value, literal)
    if _terminates_short(value) is not None:
        assert written == value, (value, literal)  # written exactly
        return
    assert written < value, (value, literal)
    significant = literal.replace(".", "").lstrip("0")
    assert len(significant) <= THRESHOLD_DIGITS, literal
    assert value - written <= value * Fraction(1, 10 ** (THRESHOLD_DIGITS - 2)), (value, literal)


@settings(max_examples=400, deadline=None)
@given(st.fractions(min_value=Fraction(1, 10**9), max_value=Fraction(10**6), max_denominator=10**9))
def test_any_ratio_is_written_exactly_or_rounded_down(value: Fraction) -> None:
    if value > 0:
        _holds(value, threshold_literal(value))


def test_the_budget_ratios_of_common_objectives_and_periods() -> None:
    windows = Defaults().slo_windows  # obsgen's default window sets
    for period in PERIODS:
        for objective in OBJECTIVES:
            budget = 1 - Fraction(Decimal(objective)) / 100
            for tier in tiers(windows, period):
                _holds(tier.factor * budget, threshold_literal(tier.factor * budget))


def _spec() -> str:
    data = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    svc = data["services"][0]
    svc["slos"] = [{"name": f"a{period}-{objective.replace('.', '-')}", "objective": float(objective),
                    "period": period, "sli": {"type": "availability"}}
                   for period in PERIODS for objective in ("99.9", "99.95")]
    data["stack"]["prometheus"]["retention"] = "90d"
    return yaml.safe_dump(data, sort_keys=False)


def test_the_rendered_alerts_compare_with_the_rounded_down_thresholds() -> None:
    model = resolve(load_spec_text(_spec(), "obsgen.yaml"), "obsgen.yaml")
    svc = model.services[0]
    rules = yaml.safe_load(render_all(model)[f"prometheus/rules/{svc.name}.yml"])["groups"]
    alerts = [r for g in rules for r in g["rules"] if "alert" in r and r["labels"].get("tier")]
    seen = 0
    for slo in svc.slos:
        for tier in tiers(model.spec.defaults.slo_windows, slo.period):
            exact = tier.factor * Fraction(slo.budget)
            (alert,) = [a for a in alerts if a["labels"]["slo"] == slo.name and a["labels"]["tier"] == tier.tier
                        and f"ratio_rate{tier.long}" in a["expr"] and f"ratio_rate{tier.short}" in a["expr"]]
            written = re.findall(rf"ratio_rate(?:{tier.short}|{tier.long})\{{[^}}]*\}} > ([0-9.e+-]+)", alert["expr"])
            assert len(written) == 2 and len(set(written)) == 1, alert["expr"]
            _holds(exact, written[0])
            seen += 1
    assert seen == len(PERIODS) * 2 * 4
