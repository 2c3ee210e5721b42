"""SLO engine: Workbook factors, exact thresholds, labels and names, malformed SLOs, and the generated
promtool proofs run by the real promtool (including a wrong objective, which must make them fail)."""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, obsgen

from obsgen import slo
from obsgen.model import Model, resolve
from obsgen.render.common import dump_yaml
from obsgen.slo_math import exact, factor, slo_alert_name, tiers
from obsgen.slo_proofs import proof_gap
from obsgen.spec import SpecError, load_spec_text
from obsgen.spec.models import ALERT_NAME_RE, SloWindows

SPEC = """\
version: 1
project: {name: shop, runbook_url: "https://runbooks.example.com/{service}/{alert}", grafana_url: "https://g.example.com"}
defaults: {min_request_rate: 0.5}
slo_classes:
  web: {availability: 99.9, latency: {threshold: 250ms, objective: 99}}
services:
  - name: checkout
    team: payments
    scrape: {static: ["checkout:8080"]}
    class: web
    labels: {tier_name: gold}
    metrics: {status_label: code, error_status: "5..|429"}
    slos:
      - name: payments
        objective: 99.5
        period: 28d
        sli:
          events:
            errors: sum(rate(payment_attempts_total{result="failed"}[{{window}}]))
            total: sum(rate(payment_attempts_total[{{window}}]))
  - name: search
    scrape: {static: ["search:8080"]}
    slos:
      - name: availability
        objective: 99.9
        period: 7d
        sli: {type: availability}
      - name: indexing
        objective: 99
        sli:
          events:
            errors: sum(increase(index_failures_total[{{window}}]))
            total: sum(increase(index_jobs_total[{{window}}]))
        alerting: {page: false}
channels:
  mail: {type: email, to: [ops@example.com]}
email: {smarthost: "smtp.example.com:587", from: alerts@example.com}
routing: {default: mail}
"""


def model_of(text: str) -> Model:
    return resolve(load_spec_text(text, "spec.yaml"), "spec.yaml")


def write_service(root: Path, model: Model, name: str, rules_model: Model | None = None) -> Path:
    """Rules (optionally from another model) and the SLO proofs of one service, laid out as obsgen does."""
    svc = model.service(name)
    (root / "rules").mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir(exist_ok=True)
    rules_from = rules_model or model
    groups = slo.rule_groups(rules_from, rules_from.service(name))
    (root / "rules" / f"{name}.yml").write_text(dump_yaml({"groups": groups}))
    test = {"rule_files": [f"../rules/{name}.yml"], "evaluation_interval": model.evaluation_interval,
            "tests": slo.test_cases(model, svc)}
    path = root / "tests" / f"{name}.test.yml"
    path.write_text(dump_yaml(test))
    return path


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


# --------------------------------------------------------------------------- arithmetic


def test_factors_for_30d_are_the_workbook_table() -> None:
    table = [(t.long, t.short, t.factor) for t in tiers(SloWindows(), "30d")]
    assert table == [("1h", "5m", Fraction("14.4")), ("6h", "30m", 6), ("1d", "2h", 3), ("3d", "6h", 1)]


@pytest.mark.parametrize(("period", "shares"), [("7d", (8, 12.5, 20, 45)), ("14d", (2, 5, 10, 10)),
                                               ("28d", (2, 5, 10, 11.25)), ("30d", (2, 5, 10, 10)),
                                               ("90d", (2, 5, 10, 10))])
def test_each_period_spends_its_budget_shares(period: str, shares: tuple[float, ...]) -> None:
    """Per period its own set (test_slo_windows.py), never the 30d windows with shrunken factors."""
    days = int(period[:-1])
    for t, share in zip(tiers(SloWindows(), period), shares, strict=True):
        # burn rate × long window / period = share of the budget spent within the long window
        assert t.factor * t.long_seconds / (days * 86400) == Fraction(str(share)) / 100
        assert t.factor >= 1
    assert factor(2, "28d", "1h") == Fraction("13.44")


def test_thresholds_are_printed_exactly() -> None:
    m = model_of(SPEC)
    text = "\n".join(r["expr"] for g in slo.rule_groups(m, m.service("checkout")) for r in g["rules"])
    assert "> 0.0144 and" in text and "> 0.006 and" in text and "> 0.003 and" in text and "> 0.001 and" in text
    assert "vector(0.999)" in text and "vector(0.001)" in text
    assert not re.search(r"\d\.\d*(9999|0000)\d", text), "a float artefact reached the output"
    assert exact(Fraction(7, 30)) == "0.23333333333333333"
    assert exact(Fraction(144, 10) * Fraction(Decimal("0.001"))) == "0.0144"


# --------------------------------------------------------------------------- rules: names, labels, shape


def test_rules_have_identical_slo_labels_and_convention_names() -> None:
    m = model_of(SPEC)
    for svc in m.services:
        groups = slo.rule_groups(m, svc)
        names = [g["name"] for g in groups]
        assert len(names) == len(set(names))
        for s in svc.slos:
            own = [r for g in groups if g["name"].startswith(f"{svc.name}-slo-{s.name}-") for r in g["rules"]]
            assert {k: r["labels"][k] for r in own for k in slo.SLO_LABELS} == {
                "service": svc.name, "slo": s.name, "slo_id": s.id}
            records = {r["record"] for r in own if "record" in r}
            assert {slo.record_name(w) for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", s.period)} <= records
            for r in own:
                if "alert" in r:
                    assert ALERT_NAME_RE.match(r["alert"]) and len(r["alert"]) <= 40
                    assert r["alert"].startswith(svc.camel)
                    assert r["labels"]["severity"] in ("critical", "warning")
                    assert r["labels"]["tier"] == ("page" if r["labels"]["severity"] == "critical" else "ticket")
                    assert {k: r["labels"][k] for k in svc.labels} == svc.labels
                    assert set(r["annotations"]) == {"summary", "description", "runbook_url", "dashboard_url"}
    checkout = m.service("checkout")
    assert checkout.labels == {"service": "checkout", "team": "payments", "tier_name": "gold"}
    paging = [r for g in slo.rule_groups(m, checkout) for r in g["rules"] if r.get("labels", {}).get("tier") == "page"]
    assert paging and all(f"slo:sli_total:rate5m{{slo_id=\"{r['labels']['slo_id']}\"}} >= 0.5" in r["expr"]
                          for r in paging), "low-traffic guard missing"
    search = m.service("search")
    indexing = [r for g in slo.rule_groups(m, search) for r in g["rules"]
                if r.get("labels", {}).get("slo") == "indexing" and "alert" in r]
    assert {r["labels"]["severity"] for r in indexing} == {"warning"}, "page switched off but rendered"


def test_windows_are_derived_from_the_5m_recordings_only() -> None:
    """Item 7: no window above 5m reads a raw series; the newest rate's weight is exact at any interval."""
    m = model_of(SPEC.replace("defaults: {", "defaults: {evaluation_interval: 20s, "))
    for svc in m.services:
        for r in (r for g in slo.rule_groups(m, svc) for r in g["rules"] if "record" in r):
            if r["record"].startswith("slo:sli_error:ratio_rate") and r["record"] != slo.record_name("5m"):
                metrics = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", r["expr"]))
                assert metrics <= {slo.ERRORS, slo.TOTAL, slo.record_name("5m")}, r["expr"]
                assert r["expr"].count("sum_over_time(") + r["expr"].count("count_over_time(") == 2, r["expr"]
                assert " * 7.5" in r["expr"], r["expr"]  # 150 s of the newest 5m rate, in 20 s samples


def test_inhibition_silences_the_ticket_of_the_same_slo() -> None:
    assert slo.inhibit_rules(model_of(SPEC)) == [
        {"source_matchers": ['tier="page"'], "target_matchers": ['tier="ticket"'],
         "equal": ["service", "slo", "slo_id"]}]


def test_dashboard_metadata_names_recorded_series() -> None:
    m = model_of(SPEC)
    svc = m.service("search")
    recorded = {r["record"] for g in slo.rule_groups(m, svc) for r in g["rules"] if "record" in r}
    for meta in slo.dashboard_meta(m, svc):
        queries = [q for q in meta["queries"].values() if isinstance(q, str)]
        queries += list(meta["queries"]["error_ratio"].values())
        for q in queries:
            assert re.search(r"(slo:[a-z_]+:[a-z0-9_]+)", q).group(1) in recorded, q
    avail = slo.dashboard_meta(m, svc)[0]
    assert avail["period"] == "7d" and avail["tiers"][0]["burn_rate"] == "13.44"  # 7d set: 8% in 1h


def test_long_alert_names_are_shortened_and_stay_camel_case() -> None:
    # 41 characters in full: whole words go, a stable hash of the full name takes their place
    short = slo_alert_name("auth-service", "token-validation", "exhausted")
    assert re.fullmatch(r"AuthServiceToken[0-9a-f]{4}BudgetExhausted", short), short
    assert short == slo_alert_name("auth-service", "token-validation", "exhausted")
    assert slo_alert_name("auth-service", "token-validation", "burn") == "AuthServiceTokenValidationBudgetBurn"
    for name in (slo_alert_name("payments-gateway", "p99-latency-over-eu", "exhausted"),
                 slo_alert_name("payments-gateway", "p99-latency-over-us", "exhausted")):
        assert len(name) <= 40 and ALERT_NAME_RE.match(name), name
    assert slo_alert_name("payments-gateway", "p99-latency-over-eu", "exhausted") != \
        slo_alert_name("payments-gateway", "p99-latency-over-us", "exhausted")


# --------------------------------------------------------------------------- malformed SLOs


def _edit(old: str, new: str) -> str:
    assert old in SPEC
    return SPEC.replace(old, new, 1)


MALFORMED = [
    ("objective-0", _edit("objective: 99.5", "objective: 0"), "services[0].slos[0].objective"),
    ("objective-100", _edit("objective: 99.5", "objective: 100"), "services[0].slos[0].objective"),
    ("objective-100.1", _edit("objective: 99.5", "objective: 100.1"), "services[0].slos[0].objective"),
    ("threshold-not-a-number", _edit("threshold: 250ms", "threshold: fast"), "slo_classes.web.latency.threshold"),
    ("events-without-window", _edit("payment_attempts_total[{{window}}]", "payment_attempts_total[5m]"),
     "services[0].slos[0].sli.events.total"),
    ("unknown-class", _edit("class: web", "class: webb"), "services[0].class"),
    ("period-0d", _edit("period: 28d", "period: 0d"), "services[0].slos[0].period"),
    ("period-below-windows", _edit("period: 28d", "period: 2d"), "services[0].slos[0].period"),
    ("page-cannot-fire", _edit("objective: 99.5", "objective: 90"), "services[0].slos[0].objective"),
    ("short-not-below-long", _edit("defaults: {min_request_rate: 0.5}",
                                   "defaults: {slo_windows: {page_fast: [1h, 1h, 2]}}"),
     "defaults.slo_windows.page_fast"),
    ("ratio-with-traffic-guard", _edit("        alerting: {page: false}",
                                       "        alerting: {page: false}\n      - name: up\n        objective: 99\n"
                                       "        min_request_rate: 1\n        sli: {expr: \"1 - avg(up[{{window}}])\"}"),
     "services[1].slos[2].min_request_rate"),
]


@pytest.mark.parametrize(("text", "where"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_slos_are_rejected_with_their_place(text: str, where: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "spec.yaml")
    assert any(re.match(rf"spec\.yaml:\d+:\d+ {re.escape(where)}: ", line) for line in err.value.lines()), \
        err.value.lines()


def test_malformed_slo_exits_2_from_the_command_line(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(_edit("objective: 99.5", "objective: 100"))
    proc = obsgen("validate", str(spec))
    assert proc.returncode == 2
    assert re.search(r"bad\.yaml:\d+:\d+ services\[0\]\.slos\[0\]\.objective: ", proc.stdout + proc.stderr)
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- proofs with the real promtool


def test_rules_pass_promtool_check_without_warnings(promtool: str, tmp_path: Path) -> None:
    m = model_of(SPEC)
    for svc in m.services:
        write_service(tmp_path, m, svc.name)
    proc = run(promtool, "check", "rules", "--lint=all", "--lint-fatal", *map(str, (tmp_path / "rules").iterdir()))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("service", ["checkout", "search"])
def test_generated_proofs_pass(promtool: str, tmp_path: Path, service: str) -> None:
    m = model_of(SPEC)
    svc = m.service(service)
    assert all(proof_gap(svc, s) is None for s in svc.slos)
    path = write_service(tmp_path, m, service)
    groups = yaml.safe_load(path.read_text())["tests"]
    # per SLO: the outage (page), the ticket, the stop of the raw series (budget, absent, guard), the quiet
    assert len(groups) == sum(2 + s.page + s.ticket for s in svc.slos)
    proc = run(promtool, "test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_generated_proofs_pass_for_every_example(promtool: str, tmp_path: Path, example: Path) -> None:
    m = resolve(load_spec_text(example.read_text(), example.name), example.name)
    for svc in (s for s in m.services if s.slos):
        assert all(proof_gap(svc, s) is None for s in svc.slos), "an example SLO has no proofs"
        proc = run(promtool, "test", "rules", str(write_service(tmp_path, m, svc.name)))
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("rules_objective", "failing_check"), [
    ("99", 'slo_id=\\"api-availability\\", tier=\\"page\\"}", time: 1h6m30s'),  # pages ten times too late
    ("99.99", 'max_over_time(ALERTS{slo_id=\\"api-availability\\", alertstate=\\"firing\\"}[1h])'),  # half budget fires
])
def test_a_wrong_objective_fails_the_proofs(promtool: str, tmp_path: Path, rules_objective: str,
                                           failing_check: str) -> None:
    """Proofs generated for 99.9 % against rules rendered for another objective must fail."""
    text = SPEC.split("services:")[0] + (
        "services:\n  - name: api\n    scrape: {static: [\"api:8080\"]}\n    slos:\n      - {name: availability, objective: 99.9, sli: {type: availability}}\n"
        + SPEC[SPEC.index("channels:"):])
    path = write_service(tmp_path, model_of(text), "api",
                         rules_model=model_of(text.replace("objective: 99.9", f"objective: {rules_objective}")))
    proc = run(promtool, "test", "rules", str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert failing_check in proc.stderr, proc.stderr


def test_slos_without_proofs_are_named_in_the_output_readme() -> None:
    from obsgen.render import proof, readme

    ratio = SPEC.replace("        alerting: {page: false}\n", "        alerting: {page: false}\n"
                         "      - name: freshness\n        objective: 99\n"
                         "        sli: {expr: 'avg(avg_over_time(index_stale[{{window}}]))'}\n")
    m = model_of(ratio)
    gap = proof_gap(m.service("search"), m.service("search").slos[-1])
    assert gap is not None and gap.startswith("a ratio SLI is an arbitrary expression")
    text = readme.render(m, proof.render(m))["README.md"]
    assert "| SearchFreshnessBudgetBurn | warning | `prometheus/rules/search.yml` | a ratio SLI is an arbitrary" in text
    plain = model_of(SPEC)
    assert "SearchFreshness" not in readme.render(plain, proof.render(plain))["README.md"]
