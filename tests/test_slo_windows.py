"""SLO window sets per period (`defaults.slo_windows`): obsgen's defaults for 7d, 28d, 30d and the scaling rule
for other periods keep every burn rate at 1 or above; the rendered rules of a 7d SLO say so; the proofs pass
for SLOs of 7d, 14d, 28d and 30d under the real promtool (and fail against the old one-set windows); sets
with a burn rate below 1, a long window past the period or a short window not below the long one are
refused at their place; the README's table is the computed one."""

from __future__ import annotations

import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, obsgen
from test_slo_proofs import coverage

from obsgen import slo
from obsgen.model import Model, resolve
from obsgen.render import prometheus
from obsgen.render.common import dump_yaml
from obsgen.slo_math import DEFAULT_SETS, exact, seconds, tiers
from obsgen.slo_proofs import proofs
from obsgen.spec import SpecError, load_spec_text
from obsgen.spec.models import SloWindows, Spec

OLD_SET = "{page_fast: [1h, 5m, 2], page_slow: [6h, 30m, 5], ticket_fast: [1d, 2h, 10], ticket_slow: [3d, 6h, 10]}"
SPEC = """\
version: 1
project: {name: periods}
defaults: {min_request_rate: 0.1}
services:
  - name: api
    team: core
    scrape: {static: ["api:8080"]}
    slos:
      - {name: weekly, objective: 99.9, period: 7d, sli: {type: availability}}
      - {name: fortnight, objective: 99.5, period: 14d, sli: {type: availability}}
      - {name: fourweeks, objective: 99.9, period: 4w, sli: {type: latency, threshold: 250ms}}
      - {name: monthly, objective: 99.9, period: 30d, sli: {type: availability}}
channels: {mail: {type: email, to: [ops@example.com]}}
email: {smarthost: "smtp.example.com:587", from: alerts@example.com}
routing: {default: mail}
"""


def model_of(text: str) -> Model:
    return resolve(load_spec_text(text, "spec.yaml"), "spec.yaml")


def unchecked_model(text: str) -> Model:
    """A model of a spec obsgen now refuses (the old one set of windows with a 7d SLO): rules as they were."""
    return resolve(Spec.model_validate(yaml.safe_load(text)), "spec.yaml")


def with_windows(windows: str, text: str = SPEC) -> str:
    return text.replace("defaults: {min_request_rate: 0.1}", f"defaults: {{min_request_rate: 0.1, slo_windows: {windows}}}")


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


# --------------------------------------------------------------------------- the defaults


def test_30d_defaults_are_the_workbook_table_and_7d_28d_are_sloths_with_the_slow_ticket_raised() -> None:
    table = {p: [(t.long, t.short, exact(t.share), exact(t.factor)) for t in tiers(SloWindows(), p)]
             for p in ("7d", "28d", "30d")}
    assert table["30d"] == [("1h", "5m", "2", "14.4"), ("6h", "30m", "5", "6"), ("1d", "2h", "10", "3"),
                            ("3d", "6h", "10", "1")]
    # Sloth's google-28d.yaml is the Workbook's set: its 10% in 3d would be a burn rate of 0.933
    assert table["28d"] == [("1h", "5m", "2", "13.44"), ("6h", "30m", "5", "5.6"), ("1d", "2h", "10", "2.8"),
                            ("3d", "6h", "11.25", "1.05")]
    # Sloth's examples/windows/7d.yaml: 8, 12.5, 20, 42 % (42% in 3d: 0.98)
    assert table["7d"] == [("1h", "5m", "8", "13.44"), ("6h", "30m", "12.5", "3.5"), ("1d", "2h", "20", "1.4"),
                           ("3d", "6h", "45", "1.05")]


@pytest.mark.parametrize("days", [3, 4, 5, 7, 10, 14, 21, 28, 30, 31, 45, 60, 90, 180, 365, 400])
def test_every_default_tier_burns_at_least_the_budget_rate(days: int) -> None:
    period = f"{days}d"
    ts = tiers(SloWindows(), period)
    for t in ts:
        assert t.factor >= 1, (period, t)
        assert 300 <= t.short_seconds < t.long_seconds <= days * 86400, (period, t)
        assert t.factor == t.share / 100 * days * 86400 / t.long_seconds
    if days not in DEFAULT_SETS:  # Pyrra's rule on the 30d set: windows scale, burn rates stay
        assert [t.factor for t in ts] == [Fraction("14.4"), 6, 3, 1]
        assert [t.long_seconds for t in ts] == [s * days // 30 for s in (3600, 21600, 86400, 259200)]


def test_periods_below_3d_have_no_default_set() -> None:
    for days in (1, 2):
        page_fast = tiers(SloWindows(), f"{days}d")[0]
        assert page_fast.short_seconds >= page_fast.long_seconds  # which validation refuses (below)


# --------------------------------------------------------------------------- the rendered rules

CONDITION = re.compile(r"slo:sli_error:ratio_rate(\w+)\{[^}]*\} > ([0-9.]+) and "
                       r"slo:sli_error:ratio_rate(\w+)\{[^}]*\} > ([0-9.]+)")


def rendered_burn_rates(m: Model, slo_name: str) -> list[tuple[str, str, Fraction]]:
    """(short, long, burn rate) of every condition of an SLO's burn-rate alerts, read from the rendered rules:
    the threshold both windows are compared with, divided by the error budget."""
    svc = m.service("api")
    s = next(x for x in svc.slos if x.name == slo_name)
    text = prometheus.render(m)[f"prometheus/rules/{svc.name}.yml"]
    group = next(g for g in yaml.safe_load(text)["groups"] if g["name"] == f"api-slo-{slo_name}-alerts")
    out = []
    for rule in group["rules"]:
        if rule["alert"].endswith("BudgetBurn"):
            for short, t1, long, t2 in CONDITION.findall(rule["expr"]):
                assert t1 == t2
                out.append((short, long, Fraction(t1) / Fraction(s.budget)))
    return out


def test_a_7d_slo_renders_burn_rates_of_at_least_1_on_every_tier() -> None:
    found = rendered_burn_rates(model_of(SPEC), "weekly")
    assert [(s, lo) for s, lo, _ in found] == [("5m", "1h"), ("30m", "6h"), ("2h", "1d"), ("6h", "3d")]
    assert all(f >= 1 for _, _, f in found), found
    assert [f for _, _, f in found] == [Fraction("13.44"), Fraction("3.5"), Fraction("1.4"), Fraction("1.05")]
    # what the one set for every period rendered: tickets at 0.7 and 0.2333 (the reader sees them)
    old = rendered_burn_rates(unchecked_model(with_windows(OLD_SET)), "weekly")
    ticket_fast, ticket_slow = [f for _, _, f in old][2:]
    # 7/30 has no decimal end: its threshold is written rounded down (test_slo_thresholds.py)
    assert ticket_fast == Fraction("0.7") and Fraction(7, 30) - Fraction(1, 10**11) < ticket_slow < Fraction(7, 30)


@pytest.mark.parametrize("slo_name", ["fortnight", "fourweeks", "monthly"])
def test_other_periods_render_burn_rates_of_at_least_1(slo_name: str) -> None:
    found = rendered_burn_rates(model_of(SPEC), slo_name)
    assert len(found) == 4 and all(f >= 1 for _, _, f in found), found


def test_30d_rules_are_those_of_the_one_set_before_periods() -> None:
    """The 30d defaults did not change: a 30d SLO renders as with the old set written out."""
    only_30d = SPEC.replace("period: 7d", "period: 30d").replace("period: 14d", "period: 30d").replace(
        "period: 4w", "period: 30d")
    assert prometheus.render(model_of(only_30d)) == prometheus.render(model_of(with_windows(OLD_SET, only_30d)))
    keyed = with_windows(f"{{30d: {OLD_SET}}}", only_30d)
    assert prometheus.render(model_of(only_30d)) == prometheus.render(model_of(keyed))


def test_a_set_keyed_by_period_changes_that_period_only() -> None:
    m = model_of(with_windows("{7d: {ticket_fast: [1d, 2h, 25]}, 28d: {page_fast: [2h, 10m, 4]}}"))
    weekly = rendered_burn_rates(m, "weekly")
    assert [f for _, _, f in weekly] == [Fraction("13.44"), Fraction("3.5"), Fraction("1.75"), Fraction("1.05")]
    fourweeks = rendered_burn_rates(m, "fourweeks")  # `4w` is the 28d period
    assert fourweeks[0] == ("10m", "2h", Fraction("13.44"))
    assert rendered_burn_rates(m, "monthly") == rendered_burn_rates(model_of(SPEC), "monthly")


# --------------------------------------------------------------------------- proofs with the real promtool


def _write(root: Path, m: Model) -> Path:
    for path, text in prometheus.render(m).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root / "prometheus" / "tests" / "api.test.yml"


def test_proofs_pass_for_7d_14d_28d_and_30d(promtool: str, tmp_path: Path) -> None:
    m = model_of(SPEC)
    test = _write(tmp_path, m)
    proc = run(promtool, "test", "rules", str(test))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rules = yaml.safe_load((tmp_path / "prometheus" / "rules" / "api.yml").read_text())["groups"]
    tests = yaml.safe_load(test.read_text())["tests"]
    for s in m.service("api").slos:
        own = [g for g in rules if g["name"] == f"api-slo-{s.name}-alerts"]
        found = coverage(own, tests)
        assert len(found) == 4 and all(v == {"fires", "silent"} for v in found.values()), (s.period, found)
        names = [g["name"] for g in tests if g["name"].startswith(f"{s.name} SLO ")]
        assert any("a total outage" in n and "the Workbook's detection time" in n for n in names), names
        assert len(names) == 4  # outage, ticket, the raw series stopping, quiet


def test_the_old_windows_fail_the_7d_proofs(promtool: str, tmp_path: Path) -> None:
    """Rules of the one set for every period (tickets at 0.7 and 0.233 for 7d) against the 7d proofs: the
    ticket fires at half the budget rate, where the proofs say nothing may fire."""
    m = model_of(SPEC)
    svc = m.service("api")
    weekly = next(s for s in svc.slos if s.name == "weekly")
    old = unchecked_model(with_windows(OLD_SET))
    groups = [g for g in slo.rule_groups(old, old.service("api")) if g["name"].startswith("api-slo-weekly-")]
    (tmp_path / "rules.yml").write_text(dump_yaml({"groups": groups}))
    test: dict[str, Any] = {"rule_files": ["rules.yml"], "evaluation_interval": m.evaluation_interval,
                            "tests": proofs(m, svc, weekly)}
    (tmp_path / "test.yml").write_text(dump_yaml(test))
    proc = run(promtool, "test", "rules", str(tmp_path / "test.yml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'max_over_time(ALERTS{slo_id=\\"api-weekly\\", alertstate=\\"firing\\"}[1h])' in proc.stderr, proc.stderr


# --------------------------------------------------------------------------- refused sets

REFUSED = [
    ("keyed-below-1", "{7d: {ticket_slow: [3d, 6h, 10]}}", "defaults.slo_windows[\"7d\"].ticket_slow",
     "10% of the 7d budget in 3d is a burn rate of 0.23333333333333333, below 1: this ticket_slow tier would "
     "fire while the budget lasts the whole period; give a share of at least 42.86% or a long window of at "
     "most 16h48m"),
    ("keyed-long-past-period", "{7d: {ticket_slow: [8d, 6h, 100]}}", "defaults.slo_windows[\"7d\"].ticket_slow",
     "the long window 8d is longer than the 7d period this set is for; use a long window of at most 7d"),
    ("keyed-short-not-below-long", "{28d: {page_slow: [6h, 6h, 5]}}", 'defaults.slo_windows["28d"].page_slow',
     "the short window 6h must be shorter than the long window 6h"),
    ("keyed-not-days", "{4w: {page_fast: [1h, 5m, 2]}}", 'defaults.slo_windows["4w"]',
     "a window set is keyed by its SLO period in days, like `7d` or `28d`, got `4w`"),
    ("one-set-below-1", OLD_SET, "defaults.slo_windows.ticket_slow",
     "for the 7d period (at services[0].slos[0].period (line 9)), 10% of the budget in 3d is a burn rate of "
     "0.23333333333333333, below 1: the ticket_slow tier would fire while the budget lasts the whole period. "
     "Leave `ticket_slow` out (each period then keeps its default, for 7d 45% in 3d), give a share of at "
     "least 42.86%, or key the sets by period"),
    ("one-set-short-not-below-long", "{page_fast: [1h, 1h, 2]}", "defaults.slo_windows.page_fast",
     "the short window 1h must be shorter than the long window 1h"),
]


@pytest.mark.parametrize(("windows", "where", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_sets_that_cannot_work_are_refused_at_their_place(windows: str, where: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(with_windows(windows), "spec.yaml")
    lines = [line for line in err.value.lines() if re.match(rf"spec\.yaml:\d+:\d+ {re.escape(where)}: ", line)]
    assert lines and message in lines[0], err.value.lines()


def test_one_set_of_windows_is_held_to_every_period_in_use() -> None:
    text = with_windows("{ticket_slow: [3d, 6h, 10]}").replace("period: 7d", "period: 30d").replace(
        "period: 14d", "period: 30d")
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "spec.yaml")
    (line,) = err.value.lines()
    assert line.startswith("spec.yaml:3:49 defaults.slo_windows.ticket_slow: for the 28d period (at services[0]."
                           "slos[2].period (line 11)), 10% of the budget in 3d is a burn rate of "
                           "0.93333333333333333, below 1"), line
    load_spec_text(text.replace("period: 4w", "period: 30d"), "spec.yaml")  # 30d only: the old set is fine


def test_one_set_of_windows_is_checked_only_for_the_tiers_an_slo_alerts_with() -> None:
    text = with_windows("{ticket_fast: [1d, 2h, 10], ticket_slow: [3d, 6h, 10]}").replace(
        "period: 7d, sli: {type: availability}}", "period: 7d, sli: {type: availability}, alerting: {ticket: false}}"
    ).replace("period: 4w", "period: 30d").replace("period: 14d", "period: 30d")
    load_spec_text(text, "spec.yaml")  # 7d without tickets: 0.7 and 0.233 would never alert


def test_a_period_without_a_default_set_is_refused_at_the_slo() -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(SPEC.replace("period: 14d", "period: 2d"), "spec.yaml")
    (line,) = err.value.lines()
    assert re.match(r"spec\.yaml:10:\d+ services\[0\]\.slos\[1\]\.period: obsgen has no default alerting windows "
                    r"for a 2d period: .* the page_fast tier's long window would be 4m, not longer than its short "
                    r"window 5m\. Give this period's set as `defaults\.slo_windows: \{2d: ", line), line
    # with its own set, the 2d SLO is fine
    load_spec_text(with_windows("{2d: {page_fast: [30m, 5m, 2], page_slow: [2h, 10m, 5], ticket_fast: "
                                "[6h, 30m, 15], ticket_slow: [12h, 1h, 25]}}",
                                SPEC.replace("period: 14d", "period: 2d")), "spec.yaml")


def test_a_refused_set_exits_2_without_a_traceback(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(with_windows("{7d: {ticket_slow: [3d, 6h, 10]}}"))
    proc = obsgen("validate", str(spec))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert re.search(r'bad\.yaml:\d+:\d+ defaults\.slo_windows\["7d"\]\.ticket_slow: 10% of the 7d budget',
                     proc.stdout + proc.stderr)
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- the README


def test_the_readme_table_is_the_computed_one() -> None:
    proc = run(sys.executable, str(ROOT / "scripts" / "slo-windows-table.py"), "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (ROOT / "README.md").read_text()
    assert "| 7d (default) | ticket_slow | 3d, 6h | 45% | 1.05 | 4m33s | 3d | 3d | – |" in text
    # 30d page_fast: 1h × 14.4 × 0.001 = 51.84 s (the Workbook's detection time of a total outage)
    assert "| 30d (default) | page_fast | 1h, 5m | 2% | 14.4 | 52s | 1h | 1h | 4m56s |" in text
    assert seconds("1h") * Fraction("14.4") * Fraction("0.001") == Fraction("51.84")
