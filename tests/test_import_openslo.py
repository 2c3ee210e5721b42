"""`obsgen import openslo`: OpenSLO v1 documents (SLO, SLI, Service, AlertPolicy, AlertCondition,
AlertNotificationTarget, DataSource; inline and by reference) as an obsgen spec that validates, renders and
passes `obsgen check --strict`, whose alerts fire at the conditions' burn rates; refusals located, nothing
written."""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, obsgen, obsgen_in_process, tree_digest

from obsgen.units import duration_seconds

FIX = ROOT / "tests" / "fixtures" / "import"
SRC = FIX / "openslo-payments.yaml"
# the input's burn-rate conditions: tier -> (lookbackWindow, threshold, alertAfter)
CONDITIONS = {"page": [("1h", "14.4", "2m"), ("6h", "6", "15m")], "ticket": [("2d", "1.5", "1h")]}


def s(d: str) -> int:
    return int(duration_seconds(d))


@pytest.fixture(scope="module")
def proved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The import, with --prove: the written spec and the proof's report."""
    out = tmp_path_factory.mktemp("openslo") / "obsgen.yaml"
    proc = obsgen_in_process("import", "openslo", str(SRC), "-o", str(out), "--prove", check=True)
    assert "comment lines say what did not map exactly" in proc.stdout
    return out, proc.stdout


@pytest.fixture(scope="module")
def imported(proved: tuple[Path, str]) -> Path:
    return proved[0]


def test_every_field_maps_to_the_spec(imported: Path) -> None:
    spec = yaml.safe_load(imported.read_text())
    svc = {x["name"]: x for x in spec["services"]}
    pay, ledger = svc["payments-api"], svc["ledger"]
    assert pay["description"] == "Card and wallet payments for the shop."  # the Service document
    avail, p300, p1s = pay["slos"]
    # the SLI by reference, its metric sources through a DataSource of type Prometheus; bare counters wrapped
    assert avail["name"] == "availability" and avail["objective"] == 99.9 and avail["period"] == "28d"
    assert avail["sli"]["events"] == {
        "errors": 'sum(rate(http_requests_total{job="payments-api",code=~"5.."}[{{window}}]))',
        "total": 'sum(rate(http_requests_total{job="payments-api"}[{{window}}]))'}
    page, ticket = avail["alerting"]["page_alert"], avail["alerting"]["ticket_alert"]
    assert (page["severity"], page["for"], ticket["severity"], ticket["for"]) == ("critical", "2m", "warning", "1h")
    # the SLO's labels (tier is obsgen's own: dropped) and the policy's notification targets, inline and by ref
    assert page["labels"] == {"notification_target": "payments-pager,payments-mail", "team": "payments"}
    # a thresholdMetric with two objectives: two ratio SLOs, bad when the p99 is above the value
    assert (p300["name"], p300["objective"], p1s["objective"]) == ("latency-p99-under-300ms", 99, 99.9)
    assert "> bool 0.3)[{{window}}:])" in p300["sli"]["expr"] and p300["sli"]["type"] == "ratio"
    assert "> bool 1)[{{window}}:])" in p1s["sli"]["expr"]
    # good / total with Sloth's {{.window}}; 1w is 7d; no alert policy: no alerts
    writes = ledger["slos"][0]
    assert writes["name"] == "writes" and writes["period"] == "7d" and writes["objective"] == 99.5
    assert writes["sli"]["events"] == {"good": 'sum(rate(ledger_writes_total{result="ok"}[{{window}}]))',
                                       "total": "sum(rate(ledger_writes_total[{{window}}]))"}
    assert writes["alerting"] == {"page": False, "ticket": False}
    windows = spec["defaults"]["slo_windows"]
    assert set(windows) == {"28d"}
    assert [w[:2] for w in windows["28d"].values()] == [["1h", "5m"], ["6h", "30m"], ["2d", "4h"], ["2d", "4h"]]


def test_every_inexact_mapping_is_commented(imported: Path) -> None:
    text = imported.read_text()
    for said in ("alertWhenNoData", "alertWhenResolved", "page: alertAfter 2m and 15m",
                 "one ticket condition", "label tier=1", "notification_target names the OpenSLO",
                 "each evaluation of the query is one event",
                 "the SLO has no alert policy", "displayName 'Payments API availability' is not kept",
                 "no Service document defines it"):
        assert said in text, said


def test_the_spec_renders_passes_check_strict_and_alerts_at_the_conditions(imported: Path, tmp_path: Path) -> None:
    assert obsgen_in_process("validate", str(imported), "--strict").returncode == 0
    out = tmp_path / "out"
    obsgen_in_process("render", str(imported), "-o", str(out), "-q", check=True)
    proc = obsgen_in_process("check", str(out), "--strict")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rules = yaml.safe_load((out / "prometheus" / "rules" / "payments-api.yml").read_text())
    alerts = {(r["alert"], r["labels"]["tier"]): r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    budget = Decimal("0.001")  # 99.9%
    for tier, conds in CONDITIONS.items():
        rule = alerts[("PaymentsApiAvailabilityBudgetBurn", tier)]
        pairs = re.findall(r"ratio_rate(\w+)\{[^}]*\} > ([0-9.e-]+) and \S*ratio_rate(\w+)\{[^}]*\} > ([0-9.e-]+)",
                           rule["expr"])
        got = {long: (short, Decimal(t)) for short, t, long, _ in pairs}
        assert set(got) == {c[0] for c in conds}, rule["expr"]
        for long, threshold, _ in conds:
            want = Decimal(threshold) * budget
            assert abs(got[long][1] - want) <= want * Decimal("1e-9"), (tier, long, got[long])
            assert s(got[long][0]) == max(300, s(long) // 12)
        assert s(rule["for"]) == min(s(c[2]) for c in conds)


def test_refusals_are_located_and_nothing_is_written(tmp_path: Path) -> None:
    src = tmp_path / "bad.yaml"
    shutil.copy(FIX / "openslo-refused.yaml", src)
    existing = tmp_path / "obsgen.yaml"
    shutil.copy(ROOT / "tests" / "fixtures" / "specs" / "ledger.yaml", existing)
    before = tree_digest(tmp_path)
    proc = obsgen("import", "openslo", str(src), "-o", str(existing))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    for where, said in ((":2:13 apiVersion", "is no OpenSLO v1 document"),
                        (":22:20 spec.budgetingMethod", "budgetingMethod 'Timeslices'"),
                        (":21:7 spec.timeWindow[0].calendar", "a calendar-aligned window"),
                        (":17:17 spec.indicatorRef", "names SLI 'web-errors', which no file given defines"),
                        (":37:11 spec.indicator.spec.ratioMetric.bad.metricSource", "metric source type 'Datadog'"),
                        (":39:58 spec.indicator.spec.ratioMetric.total.metricSource.spec.query", "has no {{window}}"),
                        (":46:21 spec.objectives[0].indicatorRef", "a composite SLO"),
                        (":58:25 spec.alertPolicies[0].spec.conditions[0].spec.severity", "severity 'urgent'"),
                        (":64:62 spec.alertPolicies[0].spec.conditions[1].spec.condition.threshold", "below 1"),
                        (":66:24 spec.alertPolicies[0].spec.notificationTargets[0].targetRef", "'nobody'")):
        assert any(line.startswith(f"{src}{where}") and said in line for line in lines), (where, proc.stderr)
    assert len(lines) == 11  # one message per refused feature, and the count
    assert tree_digest(tmp_path) == before


# --------------------------------------------------------------------------- --prove


def test_prove_compares_every_condition_and_holds_the_bound(proved: tuple[Path, str]) -> None:
    report = proved[1]
    assert "1 of 4 SLOs compared" in report and "the bound held" in report, report
    lines = report.splitlines()
    for name, tier in (("payments-fast-burn", "page"), ("payments-slow-burn", "page"), ("payments-steady-burn", "ticket")):
        at = next(i for i, line in enumerate(lines) if line.startswith(f"  condition {name} "))
        outage = lines[at + 1]
        assert "a total outage" in outage and re.search(rf"{tier}: OpenSLO \+\d+[hm]\S*, obsgen \+\d+[hm]", outage), outage
    # the inexact mappings are listed with their reason, as the spec's comments say
    for said in ("obsgen waits 2m (`for`), the condition's alertAfter is 15m", "the condition fires at the threshold (op gte)",
                 "obsgen also needs the burn rate over its short window 4h"):
        assert said in report, said
    assert "payments-api/latency-p99-under-300ms" in report and "a ratio SLI" in report
    assert "ledger/writes" in report and "no burn-rate conditions in OpenSLO" in report


def test_prove_fails_when_the_imported_objective_is_edited() -> None:
    """The imported availability objective loosened from 99.9 to 99 before the proof: obsgen's thresholds are
    ten times OpenSLO's, its page comes minutes after the conditions fire, and the bound fails."""
    from obsgen.importers import openslo, openslo_proof, sloth_proof
    from obsgen.importers.spec_writer import emit, merge
    from obsgen.model import resolve
    from obsgen.spec import load_spec_text

    imported, records = openslo.read_openslo([SRC])
    spec = merge(imported, None, "prove")
    pay = next(s for s in spec["services"] if s["name"] == "payments-api")
    assert pay["slos"][0]["objective"] == 99.9
    pay["slos"][0]["objective"] = 99
    model = resolve(load_spec_text(emit(spec, []), "s.yaml"), "s.yaml")
    svc = model.service("payments-api")
    rec = next(r for r in records if r.slo == "availability")
    result = openslo_proof.prove_slo(sloth_proof._promtool(), model, svc, svc.slos[0], rec, only=("a total outage",))
    assert result.compared and not result.ok
    assert any("obsgen pages later than OpenSLO" in line for line in result.lines), result.lines
