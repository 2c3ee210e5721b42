"""`obsgen import pyrra`: Pyrra's ServiceLevelObjective resources as an obsgen spec that validates, renders
and passes `obsgen check --strict`, whose burn-rate alerts use Pyrra's windows, factors and thresholds;
refusals located, nothing written."""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, obsgen, obsgen_in_process, require_tool, tree_digest

from obsgen.importers.pyrra import pyrra_windows
from obsgen.units import duration_seconds

FIX = ROOT / "tests" / "fixtures" / "import"
SRC = FIX / "pyrra-storefront.yaml"

# Pyrra's own windows (its README and slo.Windows) for a 28d SLO: long, short, for, factor per alert
PYRRA_28D = {"page_fast": ("1h", "5m", "2m", 14), "page_slow": ("6h", "30m", "15m", 7),
             "ticket_fast": ("1d", "2h", "1h", 2), "ticket_slow": ("4d", "6h", "3h", 1)}
# ... and for 2w, worked out by hand from period / 28d with Go's rounding to the minute (2m30s -> 3m)
PYRRA_14D = {"page_fast": ("30m", "3m", "1m", 14), "page_slow": ("3h", "15m", "8m", 7),
             "ticket_fast": ("12h", "1h", "30m", 2), "ticket_slow": ("2d", "3h", "1h30m", 1)}


def s(d: str) -> int:
    return int(duration_seconds(d))


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pyrra") / "obsgen.yaml"
    proc = obsgen_in_process("import", "pyrra", str(SRC), "-o", str(out), check=True)
    assert "comment lines say what did not map exactly" in proc.stdout
    return out


@pytest.mark.parametrize(("period", "expected"), [("28d", PYRRA_28D), ("14d", PYRRA_14D)])
def test_pyrra_windows_are_pyrras(period: str, expected: dict[str, tuple[str, str, str, int]]) -> None:
    got = {w.key: (w.long, w.short, w.for_, w.factor) for w in pyrra_windows(period)}
    assert got == {k: (s(long), s(short), s(for_), f) for k, (long, short, for_, f) in expected.items()}


def test_every_field_maps_to_the_spec(imported: Path) -> None:
    spec = yaml.safe_load(imported.read_text())
    svc = {x["name"]: x for x in spec["services"]}
    assert set(svc) == {"storefront", "default"}  # the namespace, Kubernetes' default without one
    checkout, search, resize = svc["storefront"]["slos"]
    # the namespace prefix goes: slo_id storefront-checkout-errors is Pyrra's name
    assert checkout["name"] == "checkout-errors" and checkout["objective"] == 99.5 and checkout["period"] == "28d"
    assert checkout["description"] == "Checkout requests answered without a server error."
    events = checkout["sli"]["events"]
    assert events["errors"] == ('sum by (route) (rate(http_requests_total{job="storefront",route=~"/checkout.*",'
                                'code=~"5.."}[{{window}}]))')
    assert events["total"] == 'sum by (route) (rate(http_requests_total{job="storefront",route=~"/checkout.*"}[{{window}}]))'
    assert checkout["by"] == ["route"]
    page, ticket = checkout["alerting"]["page_alert"], checkout["alerting"]["ticket_alert"]
    assert page["name"] == ticket["name"] == "StorefrontCheckoutErrorBudgetBurn"
    # pyrra.dev/ labels without the prefix, the total selector's equality matchers; annotations likewise
    assert page["labels"] == {"component": "checkout", "job": "storefront", "team": "payments"}
    assert page["annotations"] == {"runbook": "https://runbooks.shop.example.net/checkout-errors"}
    assert (page["severity"], page["for"], ticket["severity"], ticket["for"]) == ("critical", "2m", "warning", "1h")
    # 2w is 14d; latency as events (all - fast enough); pyrra.dev/severity dropped
    assert search["period"] == "14d" and search["objective"] == 99
    assert search["sli"]["events"]["errors"] == (
        'sum(rate(search_request_duration_seconds_count{job="storefront"}[{{window}}])) - '
        'sum(rate(search_request_duration_seconds_bucket{job="storefront",le="0.5"}[{{window}}]))')
    assert search["alerting"]["page_alert"]["labels"] == {"job": "storefront", "team": "discovery"}
    assert search["alerting"]["page_alert"]["for"] == "1m"
    assert resize["by"] == ["size"] and resize["sli"]["events"]["total"].startswith("sum by (size) (rate(")
    thumbs = svc["default"]["slos"][0]
    assert thumbs["alerting"] == {"page": False, "ticket": False}  # burnrates: false
    # Pyrra's windows per period; short windows below 5m are 5m
    windows = spec["defaults"]["slo_windows"]
    assert set(windows) == {"14d", "28d"}
    assert windows["14d"]["page_fast"][:2] == ["30m", "5m"]
    assert windows["28d"]["ticket_slow"][:2] == ["4d", "6h"]
    assert "StorefrontSearchLatencyBudgetBurn" in spec["proof"]["accept_unproven"]  # a difference of two queries


def test_every_inexact_mapping_is_commented(imported: Path) -> None:
    text = imported.read_text()
    for said in ("Pyrra's other labels (prometheus, role) only select its PrometheusRule",
                 "Pyrra's label pyrra.dev/severity=high", "is dropped: obsgen sets `severity`",
                 "Pyrra named the burn-rate alerts CheckoutErrorBudgetBurn",
                 "Pyrra names every SLO's burn-rate alerts ErrorBudgetBurn",
                 "page_fast: Pyrra's short window 3m is below obsgen's 5m base window",
                 "Pyrra waits 2m and 15m (`for`)", "Pyrra's absent: false", "Pyrra's absentName",
                 "Pyrra's burnrates: false", "partial_response_strategy", "Pyrra's window 2w",
                 "le=\"1\"", "Prometheus 3", "Pyrra's latency indicator", "slo=storefront-checkout-errors"):
        assert said in text, said


def _thresholds(expr: str) -> dict[str, tuple[str, Decimal]]:
    """The long window of each `(short > t and long > t)` of a burn-rate alert, with its short window and t."""
    out = {}
    for short, t1, long, t2 in re.findall(r"ratio_rate(\w+)\{[^}]*\} > ([0-9.e-]+) and \S*ratio_rate(\w+)\{[^}]*\} "
                                          r"> ([0-9.e-]+)", expr):
        assert t1 == t2
        out[long] = (short, Decimal(t1))
    return out


def test_the_spec_renders_passes_check_strict_and_alerts_at_pyrras_thresholds(imported: Path, tmp_path: Path) -> None:
    assert obsgen_in_process("validate", str(imported), "--strict").returncode == 0
    out = tmp_path / "out"
    obsgen_in_process("render", str(imported), "-o", str(out), "-q", check=True)
    proc = obsgen_in_process("check", str(out), "--strict")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rules = yaml.safe_load((out / "prometheus" / "rules" / "storefront.yml").read_text())
    alerts = {(r["alert"], r["labels"]["tier"]): r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    for (alert, target, table) in (("StorefrontCheckoutErrorBudgetBurn", "99.5", PYRRA_28D),
                                   ("StorefrontSearchLatencyBudgetBurn", "99", PYRRA_14D)):
        budget = 1 - Decimal(target) / 100
        for tier in ("page", "ticket"):
            rule = alerts[(alert, tier)]
            got = _thresholds(rule["expr"])
            rows = {long: (short, f) for key, (long, short, _, f) in table.items() if key.startswith(tier)}
            assert set(got) == set(rows), (alert, tier, rule["expr"])
            for long, (short, factor) in rows.items():
                pyrra = factor * budget  # Pyrra's `> (factor * (1-target))`
                assert abs(got[long][1] - pyrra) <= pyrra * Decimal("1e-9"), (alert, long, got[long], pyrra)
                assert s(got[long][0]) == max(s(short), 300)  # Pyrra's short window, at least obsgen's 5m
            fors = [f for key, (_, _, f, _) in table.items() if key.startswith(tier)]
            assert s(rule["for"]) == min(map(s, fors))


def test_service_option_puts_every_slo_in_one_service(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    obsgen_in_process("import", "pyrra", str(SRC), "-o", str(out), "--service", "shop", "-q", check=True)
    spec = yaml.safe_load(out.read_text())
    assert [x["name"] for x in spec["services"]] == ["shop"]
    assert [x["name"] for x in spec["services"][0]["slos"]] == [
        "storefront-checkout-errors", "search-latency", "image-resize-latency", "thumbnail-renders"]


BAD = """\
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: api-native, namespace: api}
spec:
  target: "99"
  window: 28d
  indicator:
    latencyNative:
      latency: 200ms
      total: {metric: 'connect_server_requests_duration_seconds{job="api"}'}
---
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: api-probe, namespace: api}
spec:
  target: "100"
  window: 36h
  indicator:
    bool_gauge:
      metric: probe_success{job="blackbox"}
---
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: api-errors, namespace: api}
spec:
  target: "99.9"
  window: 1d
  indicator:
    ratio:
      errors: {metric: 'http_requests_total{code=~"5.."}'}
      total: {metric: http_requests_total}
  alerting: {disabeld: true}
---
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: api-writes, namespace: api}
spec:
  target: "99.9"
  window: 28d
  indicator:
    ratio:
      errors: {metric: 'sum(rate(http_requests_total{code=~"5.."}[5m]))'}
      total: {metric: http_requests_total}
---
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: api-latency, namespace: api}
spec:
  target: "99"
  window: 1d
  indicator:
    latency:
      success: {metric: 'http_request_duration_seconds_bucket{job="api"}'}
      total: {metric: 'http_request_duration_seconds_count{job="api"}'}
"""


def test_refusals_are_located_and_nothing_is_written(tmp_path: Path) -> None:
    src = tmp_path / "bad.yaml"
    src.write_text(BAD)
    existing = tmp_path / "obsgen.yaml"
    shutil.copy(ROOT / "tests" / "fixtures" / "specs" / "ledger.yaml", existing)
    before = tree_digest(tmp_path)
    proc = obsgen("import", "pyrra", str(src), "-o", str(existing))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    for where, said in ((":16:11 spec.target", "strictly between 0 and 100"),
                        (":17:11 spec.window", "36h is no whole number of days"),
                        (":27:11 spec.window", "is not longer than obsgen's 5m base window"),
                        (":32:24 spec.alerting.disabeld", "unknown key 'disabeld'"),
                        (":42:24 spec.indicator.ratio.errors.metric", "must be a vector selector"),
                        (":53:25 spec.indicator.latency.success.metric", "needs an le=")):
        assert any(line.startswith(f"{src}{where}") and said in line for line in lines), (where, proc.stderr)
    assert tree_digest(tmp_path) == before  # the existing spec untouched, no temporary file left


def test_other_documents_are_refused_at_their_place(tmp_path: Path) -> None:
    src = tmp_path / "mixed.yaml"
    src.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    proc = obsgen("import", "pyrra", str(src), "-o", str(tmp_path / "o.yaml"))
    assert proc.returncode == 2 and f"{src}:2:7 kind: is no Pyrra document" in proc.stderr
    assert not (tmp_path / "o.yaml").exists()


# --------------------------------------------------------------------------- --prove


def test_prove_holds_the_bound_and_says_what_it_did_not_compare(tmp_path: Path) -> None:
    proc = obsgen("import", "pyrra", str(SRC), "-o", str(tmp_path / "s.yaml"), "--prove", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # both latency SLOs (all requests minus a bucket's, one of them per size) are compared too
    assert "3 of 4 SLOs compared" in proc.stdout and "the bound held" in proc.stdout
    assert "default/thumbnail-renders" in proc.stdout and "no burn-rate alerts in Pyrra" in proc.stdout
    for slo in ("checkout-errors", "search-latency", "image-resize-latency"):
        lines = proc.stdout.split(f"storefront/{slo} (")[1].splitlines()
        assert re.search(r"a total outage .*page: Pyrra \+\d+m\d*s?, obsgen \+\d+m", lines[1]), lines[1]
    outage = next(line for line in proc.stdout.splitlines() if "a total outage" in line)
    assert re.search(r"page: Pyrra \+\d+m\d*s?, obsgen \+\d+m", outage), outage  # both paged, each measured


def test_prove_fails_when_obsgen_pages_later_than_pyrra() -> None:
    """The same comparison with obsgen's page held back by a `for` of 10 minutes: Pyrra pages, obsgen more
    than two evaluations later, and the bound fails."""
    from obsgen.importers import pyrra, pyrra_proof, sloth_proof
    from obsgen.importers.spec_writer import emit, merge
    from obsgen.model import resolve
    from obsgen.spec import load_spec_text

    imported, records = pyrra.import_pyrra([SRC])
    spec = merge(imported, None, "prove")
    spec["services"][0]["slos"][0]["alerting"]["page_alert"]["for"] = "10m"
    model = resolve(load_spec_text(emit(spec, []), "s.yaml"), "s.yaml")
    svc = model.service("storefront")
    result = pyrra_proof.prove_slo(sloth_proof._promtool(), model, svc, svc.slos[0], records[0],
                                   only=("a total outage",))
    assert result.compared and not result.ok
    assert any("obsgen pages later than Pyrra" in line for line in result.lines)


def test_a_latency_sli_of_count_minus_bucket_fails_with_a_changed_objective() -> None:
    """search-latency (errors: all requests minus the le="0.5" bucket) with obsgen's objective lowered from 99
    to 98%: obsgen's thresholds double, it pages later than Pyrra in the outage, and the bound fails."""
    from obsgen.importers import pyrra, pyrra_proof, sloth_proof
    from obsgen.importers.spec_writer import emit, merge
    from obsgen.model import resolve
    from obsgen.spec import load_spec_text

    imported, records = pyrra.import_pyrra([SRC])
    spec = merge(imported, None, "prove")
    spec["services"][0]["slos"][1]["objective"] = 98
    model = resolve(load_spec_text(emit(spec, []), "s.yaml"), "s.yaml")
    svc = model.service("storefront")
    result = pyrra_proof.prove_slo(sloth_proof._promtool(), model, svc, svc.slos[1], records[1],
                                   only=("a total outage",))
    assert result.compared and not result.ok
    assert "obsgen pages later than Pyrra" in result.lines[0] and "FAILED" in result.lines[0], result.lines


def test_prove_strict_fails_on_an_slo_not_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    from obsgen.importers import pyrra, pyrra_proof, sloth_proof
    from obsgen.importers.spec_writer import emit, merge
    from obsgen.model import resolve
    from obsgen.spec import load_spec_text

    imported, records = pyrra.import_pyrra([SRC])
    model = resolve(load_spec_text(emit(merge(imported, None, "p"), []), "s.yaml"), "s.yaml")
    compared = sloth_proof.Compared("a", [], True, True)
    monkeypatch.setattr(pyrra_proof, "prove_slo", lambda *a: compared if a[4].alerting else
                        sloth_proof.Compared("b", ["  not compared"], True, False))
    assert pyrra_proof.prove_all(model, records)[1] is True
    report, ok = pyrra_proof.prove_all(model, records, strict=True)
    assert ok is False and "which --strict does not accept" in report
    assert obsgen("import", "pyrra", "--help").stdout.count("--strict") == 1


NATIVE = """\
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: api-native, namespace: api}
spec:
  target: "99"
  window: 28d
  indicator:
    latencyNative:
      latency: 250ms
      total: {metric: 'connect_server_requests_duration_seconds{job="api"}'}
      grouping: [procedure]
---
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: api-probe, namespace: api}
spec:
  target: "99.5"
  window: 28d
  indicator:
    bool_gauge:
      metric: probe_success{job="blackbox-http", instance="https://api.example.com/healthz"}
"""


def test_native_histograms_and_boolean_gauges_import_as_those_sli_types(tmp_path: Path) -> None:
    """latencyNative and bool_gauge become obsgen's latency_native and bool_gauge SLIs, and their generated
    proofs pass in promtool."""
    src = tmp_path / "native.yaml"
    src.write_text(NATIVE)
    spec = tmp_path / "obsgen.yaml"
    proc = obsgen_in_process("import", "pyrra", str(src), "-o", str(spec))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    slos = {s["name"]: s for s in yaml.safe_load(spec.read_text())["services"][0]["slos"]}
    assert slos["native"]["sli"] == {"type": "latency_native", "threshold": "250ms",
                                     "metric": 'connect_server_requests_duration_seconds{job="api"}'}
    assert slos["native"]["by"] == ["procedure"]
    assert slos["probe"]["sli"] == {"type": "bool_gauge",
                                    "metric": 'probe_success{job="blackbox-http", instance="https://api.example.com/healthz"}'}
    out = tmp_path / "out"
    obsgen_in_process("render", str(spec), "-o", str(out), "--quiet", check=True)
    tests = sorted(p.name for p in (out / "prometheus" / "tests").glob("*.test.yml") if p.name != "_stack.test.yml")
    run = subprocess.run([require_tool("promtool"), "test", "rules", *(f"tests/{t}" for t in tests)],
                         cwd=out / "prometheus", capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]


def test_prove_compares_native_histograms_and_boolean_gauges(tmp_path: Path) -> None:
    """latencyNative and bool_gauge SLOs beside Pyrra's own rules of them (its burn rates of a native histogram
    and of a 0/1 gauge's samples), on one synthesized native histogram and one gauge: both compared, in every
    scenario, and the bound holds (--strict: nothing left out)."""
    from obsgen.importers import pyrra, pyrra_proof

    src = tmp_path / "native.yaml"
    src.write_text(NATIVE)
    _, records = pyrra.import_pyrra([src])
    native, probe = (pyrra_proof.pyrra_rules(r)[0]["expr"] for r in records)  # the 5m recordings
    assert native == ('1 - histogram_fraction(0, 0.25, sum by (procedure) '
                      '(rate(connect_server_requests_duration_seconds{job="api"}[5m])))')
    gauge = 'probe_success{job="blackbox-http", instance="https://api.example.com/healthz"}[5m]'
    assert probe == f"(\n  sum(count_over_time({gauge}))\n  -\n  sum(sum_over_time({gauge}))\n)\n/\nsum(count_over_time({gauge}))"
    proc = obsgen("import", "pyrra", str(src), "-o", str(tmp_path / "s.yaml"), "--prove", "--strict", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 of 2 SLOs compared" in proc.stdout and "the bound held" in proc.stdout, proc.stdout
    for slo in ("api/native", "api/probe"):
        lines = proc.stdout.split(f"{slo} (")[1].splitlines()
        assert re.search(r"a total outage .*page: Pyrra \+\d+m\d*s?, obsgen \+\d+m", lines[1]), lines[1]
        # the gauge's 2x budget rate holds only on its fine sample interval: obsgen's ticket opens within the 2h
        assert re.search(r"errors at 2x .*ticket: Pyrra never, obsgen \+1h\d+m", lines[2]), lines[2]
        assert "errors at half the budget rate" in lines[3] and "Pyrra never, obsgen never; ticket: Pyrra never, " \
            "obsgen never" in lines[3], lines[3]


@pytest.mark.parametrize(("index", "key", "value"), [(0, "threshold", "1s"), (1, "objective", 98)])
def test_prove_fails_on_a_native_histogram_or_gauge_slo_edited(tmp_path: Path, index: int, key: str,
                                                               value: str | int) -> None:
    """The native-histogram SLO with obsgen's threshold loosened from 250ms to 1s (Pyrra counts the requests
    between them as errors from the start and pages in the good hour), and the gauge's with obsgen's objective
    lowered from 99.5 to 98% (obsgen's thresholds 4x Pyrra's): obsgen pages later than Pyrra, the bound fails."""
    from obsgen.importers import pyrra, pyrra_proof, sloth_proof
    from obsgen.importers.spec_writer import emit, merge
    from obsgen.model import resolve
    from obsgen.spec import load_spec_text

    src = tmp_path / "native.yaml"
    src.write_text(NATIVE)
    imported, records = pyrra.import_pyrra([src])
    spec = merge(imported, None, "prove")
    slo = spec["services"][0]["slos"][index]
    (slo["sli"] if key == "threshold" else slo)[key] = value
    model = resolve(load_spec_text(emit(spec, []), "s.yaml"), "s.yaml")
    svc = model.service("api")
    result = pyrra_proof.prove_slo(sloth_proof._promtool(), model, svc, svc.slos[index], records[index],
                                   only=("a total outage",))
    assert result.compared and not result.ok
    assert "obsgen pages later than Pyrra" in result.lines[0] and "FAILED" in result.lines[0], result.lines
    if key == "threshold":  # Pyrra's page fired in the good hour: said as before the errors' start
        assert re.search(r"page: Pyrra -\d+m\d*s?, obsgen \+", result.lines[0]), result.lines
