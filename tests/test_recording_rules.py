"""Free recording rules (`services[].recording_rules`): validated at their place, rendered as written into
the group `<service>-recordings` of the service's rule file and everywhere that file's rules go (operator
mode's PrometheusRule, a Mimir ruler's namespace, a ThanosRuler's PrometheusRule, the ConfigMaps), read by
the service's alerts in promtool's tests in a fixed order, and re-rendered when they change."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, write_tree
from typer.testing import CliRunner

import obsgen.render
from obsgen.cli import app
from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.spec import load_spec_text
from obsgen.write import cache_path

RUNNER = CliRunner()
RECORDINGS = [
    {"record": "job:orders_failed:rate5m", "expr": 'sum(rate(orders_failed_total{job="orders"}[5m]))'},
    {"record": "instance:orders_queue:max", "expr": 'max by (instance) (orders_queue_depth{job="orders"})',
     "labels": {"source": "app"}},
]
# fires at once when the recording is above 0: at the step where the failures start, only if the recording
# of that step is evaluated before the alert (the test files' group_eval_order)
BOUNDARY_TEST = {
    "interval": "1m",
    "input_series": [{"series": 'orders_failed_total{job="orders",instance="orders:8080"}',
                      "values": "0 0 0 0 0 60 120 180 240 300"}],
    "alert_rule_test": [{"eval_time": "4m", "exp_alerts": []},
                        {"eval_time": "5m", "exp_alerts": [{"exp_labels": {}}]}],
}
SPEC: dict[str, Any] = {
    "version": 1,
    "project": {"name": "shop"},
    "services": [
        {"name": "orders", "team": "fulfilment", "labels": {"component": "backend"},
         "scrape": {"static": ["orders:8080"]},
         "thresholds": [{"indicator": "error_rate", "warning": "1%", "critical": "5%"}],
         "recording_rules": RECORDINGS,
         "alerts": [{"name": "OrdersFailing", "expr": "job:orders_failed:rate5m > 0", "severity": "critical",
                     "summary": "Orders fail.", "tests": [copy.deepcopy(BOUNDARY_TEST) for _ in range(12)]}]},
        {"name": "catalog", "scrape": {"static": ["catalog:8080"]}},
    ],
    "channels": {"hook": {"type": "webhook", "url": "http://receiver:9000/hook"}},
    "routing": {"default": "hook"},
}


def spec(**stack: Any) -> dict[str, Any]:
    data = copy.deepcopy(SPEC)
    if stack:
        data["stack"] = stack
    return data


def render(data: dict[str, Any]) -> dict[str, str]:
    return render_all(resolve(load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml"), "obsgen.yaml"))


def groups_of(text: str) -> dict[str, list[dict[str, Any]]]:
    return {g["name"]: g["rules"] for g in yaml.safe_load(text)["groups"]}


def prometheus_rules(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The PrometheusRule objects of operator mode, by name."""
    return {o["metadata"]["name"]: o for o in yaml.safe_load_all(files["kubernetes/prometheus-rules.yaml"])
            if o and o["kind"] == "PrometheusRule"}


# --------------------------------------------------------------------------- validation


def validate(tmp_path: Path, data: dict[str, Any]) -> tuple[int, str, Path]:
    path = tmp_path / "obsgen.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = RUNNER.invoke(app, ["validate", str(path)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output, path


def place(text: str, needle: str, skip: int = 0) -> str:
    """`line:col` of the first occurrence of `needle` in the spec's text (and `skip` characters on), as the
    messages give it."""
    before = text[:text.index(needle) + skip]
    return f"{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"


def test_field_errors_are_located(tmp_path: Path) -> None:
    data = spec()
    data["services"][0]["recording_rules"] = [
        {"record": "5xx:errors", "expr": "sum(x)"},
        {"record": "job:x:sum", "expr": "sum(x)", "labels": {"bad-name": "a", "tpl": "{{ $labels.job }}"}},
        {"record": "job:y:sum"},
    ]
    code, out, path = validate(tmp_path, data)
    text = path.read_text()
    assert code == 2, out
    for where, said in [
        (place(text, "5xx:errors"), "services[0].recording_rules[0].record: `5xx:errors` is not a Prometheus metric "
                                    "name"),
        (place(text, "bad-name: a", len("bad-name: ")), "services[0].recording_rules[1].labels.bad-name: the key `bad-name` is not a "
                                  "Prometheus label name"),
        (place(text, "'{{ $labels.job }}'"), "services[0].recording_rules[1].labels.tpl: label value '{{ $labels.job "
                                             "}}' contains"),
        (place(text, "record: job:y:sum"), "services[0].recording_rules[2].expr: missing required field"),
    ]:
        assert f"{path}:{where} {said}" in out, (said, out)


def test_clashes_and_expressions_are_located(tmp_path: Path) -> None:
    data = spec()
    orders, catalog = data["services"]
    catalog["thresholds"] = [{"name": "CatalogIndexAge", "expr": "time() - catalog_index_timestamp", "warning": 600}]
    orders["recording_rules"] = [
        *RECORDINGS,
        {"record": "slo:objective:ratio", "expr": "vector(0.999)"},
        {"record": "service:catalog_index_age:value", "expr": "sum(x)"},
        {"record": "job:orders_failed:rate5m", "expr": "sum(rate(other_total[5m]))"},  # the same series again
        {"record": "job:orders_failed:rate5m", "expr": "sum(rate(other_total[5m]))", "labels": {"kind": "other"}},
        {"record": "job:range:bad", "expr": "orders_failed_total[5m]"},
        {"record": "job:placeholder:bad", "expr": 'sum(x{job="{service}"}) + {service}'},
        {"record": "job:reserved:label", "expr": "sum(x)", "labels": {"__tenant": "a"}},
    ]
    catalog["recording_rules"] = [{"record": "instance:orders_queue:max", "expr": "max(catalog_queue)"}]
    code, out, path = validate(tmp_path, data)
    assert code == 2, out
    rr = "services[0].recording_rules"
    expected = [
        (f"{rr}[2].record", "'slo:objective:ratio': `slo:` names are obsgen's SLO recordings"),
        (f"{rr}[3].record", "'service:catalog_index_age:value' is what the threshold at "
                            "services[1].thresholds[0].name"),
        (f"{rr}[4].record", f"'job:orders_failed:rate5m' with no labels is recorded at {rr}[0].record"),
        (f"{rr}[6].expr", "PromQL is a range vector"),
        (f"{rr}[7].expr", "PromQL does not parse"),
        (f"{rr}[8].labels.__tenant", "label names starting with __ are Prometheus' own"),
        ("services[1].recording_rules[0].record", "'instance:orders_queue:max' is recorded by the service 'orders' "
                                                  f"already, at {rr}[1].record"),
    ]
    lines = out.splitlines()
    for where, said in expected:
        found = [line for line in lines if f" {where}: " in line]
        assert found and said in found[0], (where, said, out)
        assert found[0].startswith(f"{path}:"), found[0]  # file:line:col
    assert f"{rr}[5]" not in out  # the same name with other labels is another series
    assert sum(" services[" in line for line in lines) == len(expected), out


def test_the_spec_validates(tmp_path: Path) -> None:
    code, out, _ = validate(tmp_path, spec())
    assert code == 0, out


def test_the_replica_label_of_ha_pairs_is_refused(tmp_path: Path) -> None:
    data = spec(prometheus={"replicas": 2})
    data["services"][0]["recording_rules"][1]["labels"]["replica"] = "a"
    code, out, path = validate(tmp_path, data)
    assert code == 2
    assert f"{path}:{place(path.read_text(), 'replica: a', len('replica: '))} services[0].recording_rules[1].labels." \
           "replica: `replica` is an external label of the Prometheus replicas" in out, out


# --------------------------------------------------------------------------- where the rules go


def test_the_group_is_written_as_the_spec_says_before_the_alerts() -> None:
    files = render(spec())
    groups = groups_of(files["prometheus/rules/orders.yml"])
    names = list(groups)
    assert names[names.index("orders-recordings") + 1] == "orders-alerts"
    # as written: no service, team or extra label of obsgen's
    assert groups["orders-recordings"] == RECORDINGS
    assert "orders-recordings" not in groups_of(files["prometheus/rules/catalog.yml"])
    tests = yaml.safe_load(files["prometheus/tests/orders.test.yml"])
    assert tests["group_eval_order"] == ["orders-recordings"] + [n for n in names if n != "orders-recordings"]
    assert "group_eval_order" not in yaml.safe_load(files["prometheus/tests/catalog.test.yml"])


def test_operator_mode_thanos_and_mimir_rulers_and_configmaps_carry_them() -> None:
    plain = groups_of(render(spec())["prometheus/rules/orders.yml"])
    operator = {"deploy": ["kubernetes"], "kubernetes": {"prometheus_operator": True}}
    files = render(spec(**operator))
    rule = prometheus_rules(files)["shop-orders"]
    assert [g["name"] for g in rule["spec"]["groups"]] == list(plain)
    assert groups_of(yaml.safe_dump(rule["spec"]))["orders-recordings"] == plain["orders-recordings"]

    thanos = spec(**operator, prometheus={"remote_write": [
        {"name": "receive", "kind": "thanos", "url": "http://thanos-receive:19291/api/v1/receive", "ruler": True,
         "query_url": "http://thanos-query:9090"}]})
    rule = prometheus_rules(render(thanos))["shop-orders"]
    assert rule["metadata"]["labels"]["obsgen/evaluated-by"] == "thanos-ruler"
    assert groups_of(yaml.safe_dump(rule["spec"]))["orders-recordings"] == plain["orders-recordings"]

    mimir = spec(prometheus={"remote_write": [
        {"name": "mimir", "kind": "mimir", "url": "https://mimir:9009/api/v1/push", "ruler": True}]})
    ruler = groups_of(render(mimir)["ruler/mimir/orders.yml"])
    # one group, the recordings first: each evaluation's alerts read the recordings of that evaluation
    assert ruler["orders"] == plain["orders-recordings"] + plain["orders-alerts"]
    assert "orders-recordings" not in ruler and "orders-alerts" not in ruler

    files = render(spec(deploy=["kubernetes"]))
    copies = [p for p in files if p.startswith("kubernetes/") and p.endswith("prometheus/rules/orders.yml")]
    assert copies and all(files[p] == files["prometheus/rules/orders.yml"] for p in copies), copies


# --------------------------------------------------------------------------- proof


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("recordings"), render(spec()))


def promtool_test(promtool: str, tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, "test", "rules", "orders.test.yml"], cwd=tree / "prometheus/tests",
                          capture_output=True, text=True, timeout=120)


def test_an_alert_reading_a_recording_is_proven(promtool: str, tree: Path) -> None:
    proc = promtool_test(promtool, tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lint = subprocess.run([promtool, "check", "rules", "--lint=all", "--lint-fatal", "orders.yml"],
                          cwd=tree / "prometheus/rules", capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    proofs = yaml.safe_load((tree / "proof/alerts.json").read_text())["alerts"]
    by_name = {p["alert"]: p for p in proofs}
    assert by_name["OrdersFailing"]["proven"]
    assert not {r["record"] for r in RECORDINGS} & set(by_name)  # recordings are not alerts


def test_without_the_recordings_the_alerts_tests_fail(promtool: str, tree: Path, tmp_path: Path) -> None:
    broken = write_tree(tmp_path, {p.relative_to(tree).as_posix(): p.read_text() for p in tree.rglob("*.yml")})
    rules = broken / "prometheus/rules/orders.yml"
    data = yaml.safe_load(rules.read_text())
    data["groups"] = [g for g in data["groups"] if g["name"] != "orders-recordings"]
    rules.write_text(yaml.safe_dump(data))
    proc = promtool_test(promtool, broken)
    assert proc.returncode != 0 and "OrdersFailing" in proc.stdout + proc.stderr, proc.stdout


def test_without_the_evaluation_order_the_step_the_alert_fires_at_is_a_coin_toss(promtool: str, tree: Path,
                                                                                 tmp_path: Path) -> None:
    """promtool evaluates a step's groups in an order drawn at random for each test unless told (here about
    one test in eight gets the alerts before the recordings): without `group_eval_order`, some of the twelve
    copies of the test at the step the failures start fail in one of eight runs (all passing by chance: about
    one in a hundred thousand)."""
    broken = write_tree(tmp_path, {p.relative_to(tree).as_posix(): p.read_text() for p in tree.rglob("*.yml")})
    tests = broken / "prometheus/tests/orders.test.yml"
    data = yaml.safe_load(tests.read_text())
    del data["group_eval_order"]
    data["tests"] = [t for t in data["tests"] if t["name"].startswith("OrdersFailing")]  # the ones at stake
    assert len(data["tests"]) == 12
    tests.write_text(yaml.safe_dump(data))
    for _ in range(8):
        proc = promtool_test(promtool, broken)
        if proc.returncode != 0:
            break
    assert proc.returncode == 1 and "OrdersFailing" in proc.stderr, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- incremental re-render


def test_a_changed_recording_rerenders_its_service_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kept: list[int] = []
    real = obsgen.render.render_all

    def spy(model: Any, keep: Any = None, *rest: Any) -> dict[str, str]:
        kept.append(len(keep or {}))
        return real(model, keep, *rest)

    monkeypatch.setattr(obsgen.render, "render_all", spy)
    data = spec()
    path, out = tmp_path / "obsgen.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump(data))
    assert RUNNER.invoke(app, ["render", str(path), "-o", str(out), "-q"]).exit_code == 0
    st = os.stat(cache_path(out))  # as if a second later: out of the cache's racy window
    os.utime(cache_path(out), ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    before = (out / "prometheus/rules/catalog.yml").stat().st_mtime_ns
    data["services"][0]["recording_rules"][1]["labels"] = {"source": "queue"}
    path.write_text(yaml.safe_dump(data))
    assert RUNNER.invoke(app, ["render", str(path), "-o", str(out), "--check"]).exit_code == 1
    assert RUNNER.invoke(app, ["render", str(path), "-o", str(out), "-q"]).exit_code == 0
    assert kept[-1] > 0  # catalog's files were kept
    assert groups_of((out / "prometheus/rules/orders.yml").read_text())["orders-recordings"][1]["labels"] == {
        "source": "queue"}
    assert (out / "prometheus/rules/catalog.yml").stat().st_mtime_ns == before
    assert (out / "prometheus/rules/orders.yml").read_text() == render(data)["prometheus/rules/orders.yml"]


def test_the_schema_describes_the_field() -> None:
    import json

    schema = json.loads((ROOT / "specs/obsgen.schema.json").read_text())
    rule = schema["$defs"]["RecordingRule"]
    assert rule["required"] == ["record", "expr"] and rule["properties"]["record"]["pattern"]
