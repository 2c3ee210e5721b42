"""`obsgen import rules`: Prometheus rule files (and their promtool tests) as free-form alerts and recording
rules of obsgen services; the spec validates, renders and passes `obsgen check --strict`, the copied tests
proving the alerts, which read the recordings as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, obsgen, obsgen_in_process, require_tool, run, tree_digest

FIX = ROOT / "tests" / "fixtures" / "import"
RULES, TESTS = FIX / "rules-shop.yaml", FIX / "rules-shop.test.yaml"


@pytest.fixture(scope="module")
def proved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The import, with --prove: the written spec and the proof's report."""
    out = tmp_path_factory.mktemp("rules") / "obsgen.yaml"
    proc = obsgen_in_process("import", "rules", str(RULES), "--service-label", "job", "--tests", str(TESTS), "-o", str(out),
                  "--prove", check=True)
    return out, proc.stdout


@pytest.fixture(scope="module")
def imported(proved: tuple[Path, str]) -> Path:
    return proved[0]


def test_alerts_go_to_the_service_their_matchers_name(imported: Path) -> None:
    spec = yaml.safe_load(imported.read_text())
    svc = {s["name"]: s for s in spec["services"]}
    assert sorted(svc) == ["checkout-api", "checkout-db"]
    api = {a["name"]: a for a in svc["checkout-api"]["alerts"]}
    assert sorted(api) == ["CheckoutApiErrorRatioHigh", "CheckoutApiSlowCheckout"]  # the second renamed
    high = api["CheckoutApiErrorRatioHigh"]
    assert (high["for"], high["severity"], high["labels"]) == ("5m", "critical", {"component": "payments-edge"})
    source = {r["record"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]
              if "record" in r}
    # the recording rules, as written, in the service their matcher or label names; the alerts read them
    assert high["expr"].startswith("checkout:http_errors:ratio_rate5m > 0.05")
    recorded = {s: {r["record"]: r for r in svc[s]["recording_rules"]} for s in svc}
    assert sorted(recorded["checkout-api"]) == ["checkout:http_errors:ratio_rate5m"]
    assert sorted(recorded["checkout-db"]) == ["instance:pg_connections:ratio", "instance:pg_connections:sum",
                                               "instance:pg_replication_lag_seconds:max"]
    for rules in recorded.values():
        for name, rule in rules.items():
            assert rule == {"record": name, "expr": source[name]["expr"].strip(),
                            **({"labels": source[name]["labels"]} if "labels" in source[name] else {})}
    # the service label of a recording is kept (obsgen adds none), and an alert reading only a recording is
    # that recording's service's
    assert recorded["checkout-db"]["instance:pg_connections:ratio"]["labels"] == {"job": "checkout-db"}
    slow = api["CheckoutApiSlowCheckout"]
    assert slow["severity"] == "warning" and slow["summary"] == "CheckoutApiSlowCheckout is firing."
    db = {a["name"]: a for a in svc["checkout-db"]["alerts"]}
    lag = db["CheckoutDbPostgresReplicationLag"]
    assert lag["keep_firing_for"] == "5m"
    # a warning and a critical rule of one name: two alerts (names are unique), each with its own checks
    warn, crit = db["CheckoutDbPostgresTooManyConnections"], db["CheckoutDbPostgresTooManyeb50Critical"]
    assert (warn["severity"], crit["severity"]) == ("warning", "critical")
    assert [len(c["exp_alerts"]) for c in warn["tests"][0]["alert_rule_test"]] == [0, 1, 1]
    assert [len(c["exp_alerts"]) for c in crit["tests"][0]["alert_rule_test"]] == [0, 0, 1]
    assert lag["labels"] == {"team": "dba"} and lag["runbook_url"].endswith("/replication-lag")
    # the tests' checks, the labels obsgen sets from the rule itself taken out of exp_labels
    assert lag["expr"] == "instance:pg_replication_lag_seconds:max > 300"
    checks = lag["tests"][0]["alert_rule_test"]
    assert [c["eval_time"] for c in checks] == ["5m", "15m", "23m", "28m"]
    assert checks[1]["exp_alerts"][0]["exp_labels"] == {"instance": "pg-replica-1:9187"}
    assert high["tests"][0]["alert_rule_test"][1]["exp_alerts"][0]["exp_annotations"] == {
        "description": "10% of requests failed over 5m.", "summary": "More than 5% of checkout requests fail."}
    assert list(spec["proof"]["accept_unproven"]) == ["CheckoutApiSlowCheckout"]  # no test in the file


def test_what_has_no_place_is_said(imported: Path) -> None:
    text = imported.read_text()
    for said in ("The group checkout-api's interval",
                 "annotations not kept (dashboard)", "the rule's severity label is page",
                 "routes, silences and inhibitions matching alertname=postgres_replication_lag must change",
                 "promql_expr_test checks of", "evaluate every 1m"):
        assert said in text, said


def test_the_imported_spec_renders_and_passes_check_strict(imported: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    obsgen_in_process("render", str(imported), "-o", str(out), "-q", check=True)
    proc = obsgen_in_process("check", str(out), "--strict")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proven = {a["alert"]: a["proven"] for a in json.loads((out / "proof" / "alerts.json").read_text())["alerts"]}
    for name in ("CheckoutApiErrorRatioHigh", "CheckoutDbPostgresReplicationLag",
                 "CheckoutDbPostgresTooManyConnections", "CheckoutDbPostgresTooManyeb50Critical"):
        assert proven[name], name  # by the copied tests
    assert not any(":" in name for name in proven)  # the recordings are no alerts
    # the copied tests of the alerts reading recordings depend on them: without the group, they fail
    rules = out / "prometheus/rules/checkout-db.yml"
    data = yaml.safe_load(rules.read_text())
    data["groups"] = [g for g in data["groups"] if g["name"] != "checkout-db-recordings"]
    rules.write_text(yaml.safe_dump(data))
    proc = run([require_tool("promtool"), "test", "rules", "checkout-db.test.yml"], cwd=out / "prometheus/tests")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for name in ("CheckoutDbPostgresTooManyConnections", "CheckoutDbPostgresReplicationLag"):
        assert f"alertname: {name}," in proc.stderr, proc.stderr


def test_one_service_for_every_rule(tmp_path: Path) -> None:
    out = tmp_path / "obsgen.yaml"
    obsgen_in_process("import", "rules", str(RULES), "--service", "shop", "-o", str(out), "-q", check=True)
    spec = yaml.safe_load(out.read_text())
    assert [s["name"] for s in spec["services"]] == ["shop"]
    assert [a["name"] for a in spec["services"][0]["alerts"]] == [
        "ShopCheckoutApiErrorRatioHigh", "ShopSlowCheckout", "ShopPostgresTooManyConnections",
        "ShopPostgresTooManyConnectionsCritical", "ShopPostgresReplicationLag"]
    assert len(spec["services"][0]["recording_rules"]) == 4


def test_recording_rules_the_spec_cannot_take_are_refused_at_their_place(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("""\
groups:
  - name: api
    rules:
      - record: slo:sli_error:ratio_rate5m
        expr: sum(rate(errors_total{job="api"}[5m]))
      - record: job:requests:rate5m
        expr: sum(rate(requests_total{job="api"}[5m]))
      - record: job:requests:rate5m
        expr: sum(rate(requests_total{job="web"}[5m]))
      - record: job:errors:rate5m
        expr: sum(rate(errors_total{job="api"}[5m]))
        for: 5m
      - record: job:errors:rate5m
        expr: sum(rate(errors_total{job="api"}[5m]))
      - record: job:errors:rate5m
        expr: sum(rate(errors_total{job="api", code="500"}[5m]))
        labels: {code: "500"}
      - record: total:requests:rate5m
        expr: sum(rate(requests_total[5m]))
      - alert: ApiAndWebSlow
        expr: job:requests:rate5m > 1 and job:web:rate5m > 1
        annotations: {summary: Both are slow.}
  - name: web
    rules:
      - record: job:web:rate5m
        expr: sum(rate(requests_total{job="web"}[5m]))
      - alert: WebReadsApi
        expr: job:errors:rate5m > 1
        labels: {job: web, severity: warning}
        annotations: {summary: Api errors seen from web.}
""")
    proc = obsgen("import", "rules", str(rules), "--service-label", "job", "-o", str(tmp_path / "o.yaml"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    for said in (
            f"{rules}:4:17 groups[0].rules[0].record: slo:sli_error:ratio_rate5m: `slo:` names are obsgen's own",
            f"{rules}:8:17 groups[0].rules[2].record: job:requests:rate5m is recorded for the service api too "
            f"({rules}:6)",
            f"{rules}:12:14 groups[0].rules[3].for: a recording rule (`record`) takes no `for`",
            f"{rules}:13:17 groups[0].rules[4].record: records the series of the rule at {rules}:10 again",
            f"{rules}:18:9 groups[0].rules[6]: names no service",
            f"{rules}:21:15 groups[0].rules[7].expr: reads recording rules of several services (api, web)"):
        assert said in proc.stderr, (said, proc.stderr)
    assert "groups[0].rules[5]" not in proc.stderr  # the same name with other labels is another series
    assert proc.stderr.endswith("\n6 problems; nothing written\n"), proc.stderr
    # what is left imports; the alert reading the recording of another service is said
    rules.write_text("""\
groups:
  - name: api
    rules:
      - record: job:requests:rate5m
        expr: sum(rate(requests_total{job="api"}[5m]))
      - record: job:errors:rate5m
        expr: sum(rate(errors_total{job="api"}[5m]))
      - record: job:errors:rate5m
        expr: sum(rate(errors_total{job="api", code="500"}[5m]))
        labels: {code: "500"}
  - name: web
    rules:
      - record: job:web:rate5m
        expr: sum(rate(requests_total{job="web"}[5m]))
      - alert: WebReadsApi
        expr: job:errors:rate5m > 1
        labels: {job: web, severity: warning}
        annotations: {summary: Api errors seen from web.}
""")
    out = tmp_path / "o.yaml"
    obsgen_in_process("import", "rules", str(rules), "--service-label", "job", "-o", str(out), "-q", check=True)
    text = out.read_text()
    assert "reads the recording rule job:errors:rate5m of the service api" in text, text
    spec = yaml.safe_load(text)
    assert [(s["name"], [r["record"] for r in s.get("recording_rules", [])]) for s in spec["services"]] == [
        ("api", ["job:requests:rate5m", "job:errors:rate5m", "job:errors:rate5m"]), ("web", ["job:web:rate5m"])]


def test_refusals_are_located_and_nothing_is_written(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("""\
groups:
  - name: workers
    rules:
      - alert: WorkerQueueBacklog
        expr: sum(celery_queue_length) > 1000
      - alert: WorkerDown
        exp: up{job="worker"} == 0
""")
    tests = tmp_path / "rules.test.yaml"
    tests.write_text("""\
rule_files: [rules.yaml]
tests:
  - interval: 1m
    input_series: [{series: 'celery_queue_length{queue="default"}', values: "5000x10"}]
    alert_rule_test:
      - {eval_time: 5m, alertname: WorkerQueueBacklogg, exp_alerts: []}
""")
    before = tree_digest(tmp_path)
    proc = obsgen("import", "rules", str(rules), "--service-label", "job", "-o", str(tmp_path / "o.yaml"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{rules}:4:9 groups[0].rules[0]: names no service: no label job and no job=\"...\" matcher" in proc.stderr
    assert f"{rules}:7:14 groups[0].rules[1].exp: unknown key 'exp'" in proc.stderr
    assert tree_digest(tmp_path) == before
    rules.write_text(rules.read_text().replace("exp:", "expr:"))
    before = tree_digest(tmp_path)
    proc = obsgen("import", "rules", str(rules), "--service", "worker", "--tests", str(tests),
                  "-o", str(tmp_path / "o.yaml"))
    assert proc.returncode == 2
    assert f"{tests}:6:36 tests[0].alert_rule_test[0].alertname: no alerting rule" in proc.stderr, proc.stderr
    assert tree_digest(tmp_path) == before


def test_a_prometheusrule_resource_reads_like_a_rule_file(tmp_path: Path) -> None:
    src = tmp_path / "prometheusrule.yaml"
    src.write_text("""\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: redis, namespace: cache}
spec:
  groups:
    - name: redis
      rules:
        - alert: RedisMemoryHigh
          expr: redis_memory_used_bytes{job="sessions-redis"} / redis_memory_max_bytes{job="sessions-redis"} > 0.9
          for: 15m
          labels: {severity: warning}
          annotations: {summary: Redis uses more than 90% of its maxmemory.}
""")
    out = tmp_path / "obsgen.yaml"
    # with --prove and no test file, nothing is compared: the proof says so and fails
    proc = obsgen_in_process("import", "rules", str(src), "--service-label", "job", "-o", str(out), "-q", "--prove")
    assert proc.returncode == 1 and "nothing compared: no alert check" in proc.stdout, proc.stdout
    assert "not proven by a test: no test in the source checks it" in proc.stdout
    spec = yaml.safe_load(out.read_text())
    (svc,) = spec["services"]
    assert svc["name"] == "sessions-redis" and svc["alerts"][0]["name"] == "SessionsRedisRedisMemoryHigh"
    assert obsgen_in_process("validate", str(out)).returncode == 0


def test_an_existing_service_gets_the_recordings_appended_and_a_series_twice_is_refused(tmp_path: Path) -> None:
    from obsgen.importers.rules import import_rules
    from obsgen.importers.source import SourceError
    from obsgen.importers.spec_writer import write_spec

    spec = tmp_path / "obsgen.yaml"
    spec.write_text(yaml.safe_dump({
        "version": 1, "project": {"name": "shop"}, "channels": {"hook": {"type": "webhook", "url": "http://r:9/h"}},
        "routing": {"default": "hook"},
        "services": [{"name": "checkout-db", "recording_rules": [
            {"record": "job:up:sum", "expr": 'sum(up{job="checkout-db"})'}]}]}, sort_keys=False))
    _, model = write_spec(import_rules([RULES], "job", None, [TESTS]), spec, "shop")
    assert [r.record for r in model.service("checkout-db").recording_rules] == [
        "job:up:sum", "instance:pg_connections:sum", "instance:pg_connections:ratio",
        "instance:pg_replication_lag_seconds:max"]
    again = tmp_path / "again.yaml"
    again.write_text('groups: [{name: up, rules: [{record: "job:up:sum", expr: \'sum(up{job="checkout-db"})\'}]}]\n')
    before = spec.read_text()
    with pytest.raises(SourceError) as e:
        write_spec(import_rules([again], "job", None), spec, "shop")
    assert any("the imported spec would not be valid: 'job:up:sum' with no labels is recorded at "
               "services[0].recording_rules[0].record" in p.message for p in e.value.problems), e.value.problems
    assert spec.read_text() == before


# --------------------------------------------------------------------------- --prove


def test_prove_runs_the_files_own_tests_on_both_rule_sets(proved: tuple[Path, str]) -> None:
    report = proved[1]
    assert "9 of 9 alert checks hold on obsgen's rules" in report and "the bound held" in report, report
    lines = report.splitlines()
    lag = lines.index(next(line for line in lines if line.startswith("postgres_replication_lag (")))
    assert lines[lag].endswith("-> checkout-db/CheckoutDbPostgresReplicationLag:")
    assert [line.split(": ", 1)[1] for line in lines[lag + 1:lag + 5]] == ["passes on both"] * 4
    assert "differs: named CheckoutDbPostgresReplicationLag" in lines[lag + 5]
    # the untested alert: said, and compared with its source rule
    slow = lines.index(next(line for line in lines if line.startswith("SlowCheckout (")))
    assert lines[slow + 1] == "  not proven by a test: no test in the source checks it"
    assert "  differs: label severity: the source's page, obsgen's warning" in lines[slow:slow + 6]
    assert "differs: annotation dashboard: not kept" in report
    # the expression check reads a recording, which obsgen renders as the source wrote it
    expr = next(line for line in lines if "checkout:http_errors:ratio_rate5m > bool 0.05" in line)
    assert expr.endswith("rules-shop.test.yaml:24 at 25m: passes on both"), expr


def test_prove_fails_when_an_alerts_for_is_changed() -> None:
    """The imported CheckoutApiErrorRatioHigh waits 20m instead of 5m before the proof: the source's check
    at 25m (errors from 10m on) passes on the original and fails on obsgen's rules, and the bound fails."""
    from obsgen.importers import rules, rules_proof
    from obsgen.importers.spec_writer import emit, merge
    from obsgen.model import resolve
    from obsgen.spec import load_spec_text

    imported = rules.import_rules([RULES], "job", None, [TESTS])
    spec = merge(imported, None, "prove")
    api = next(s for s in spec["services"] if s["name"] == "checkout-api")
    high = next(a for a in api["alerts"] if a["name"] == "CheckoutApiErrorRatioHigh")
    assert high["for"] == "5m"
    high["for"] = "20m"
    model = resolve(load_spec_text(emit(spec, []), "s.yaml"), "s.yaml")
    report, ok = rules_proof.prove_rules(model, imported, [RULES], [TESTS])
    assert not ok and "the bound did NOT hold" in report
    line = next(line for line in report.splitlines() if "at 25m" in line and "rules-shop.test.yaml:15" in line)
    assert "passes on the original, FAILS on obsgen's" in line, line
    assert "differs: for: the source's 5m, obsgen's 20m" in report


def test_prove_fails_on_obsgens_side_when_a_recording_the_tests_read_is_missing() -> None:
    """The imported recording checkout:http_errors:ratio_rate5m removed before the proof: the expression check
    reading it passes on the original and fails on obsgen's side with that reason, as do the alert's checks."""
    from obsgen.importers import rules, rules_proof
    from obsgen.importers.spec_writer import emit, merge
    from obsgen.model import resolve
    from obsgen.spec import load_spec_text

    imported = rules.import_rules([RULES], "job", None, [TESTS])
    spec = merge(imported, None, "prove")
    api = next(s for s in spec["services"] if s["name"] == "checkout-api")
    assert [r["record"] for r in api["recording_rules"]] == ["checkout:http_errors:ratio_rate5m"]
    del api["recording_rules"]
    model = resolve(load_spec_text(emit(spec, []), "s.yaml"), "s.yaml")
    report, ok = rules_proof.prove_rules(model, imported, [RULES], [TESTS])
    assert not ok and "the bound did NOT hold" in report
    expr = next(line for line in report.splitlines() if "checkout:http_errors:ratio_rate5m > bool 0.05" in line)
    assert "passes on the original, FAILS on obsgen's: reads checkout:http_errors:ratio_rate5m (recorded by the " \
           "source, " in expr and "which obsgen's rendered rules do not record" in expr, expr
