"""Rules where the ruler is: `ruler: true` on a Mimir or Cortex remote_write.

The services' rules go to `ruler/<queue>/<service>.yml`, one namespace per service in the format
`mimirtool rules sync` reads, with each SLO's recordings and alerts in one group and every group's interval
named; the local Prometheus (plain, compose or operator mode) keeps only the stack's rules. Proven on the
quickstart (Mimir, compose) and on the ledger fixture (Cortex, no tenant, prometheus-operator mode): the
generated promtool tests pass on the ruler's groups and fail once the recordings are taken out of them;
`obsgen check` checks the files and fails on one whose rules differ; a ruler on another kind, or two rulers,
are refused at their place. With kind thanos in prometheus-operator mode, a ThanosRuler evaluates the
services' PrometheusRules and the Prometheus resource only the stack's (their selectors say so), querying the
Thanos Query and sending to every Alertmanager replica; it passes its CRD.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, obsgen, require_tool, write_tree

from obsgen.file_checks import check_files
from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.spec import load_spec_text
from obsgen.spec.errors import SpecError

LEDGER = ROOT / "tests/fixtures/specs/ledger.yaml"


def quickstart_with_ruler() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    data["stack"]["prometheus"]["remote_write"][0]["ruler"] = True
    return data


def ledger_with_ruler() -> dict[str, Any]:
    """Cortex with no tenant, 30s evaluations, operator mode: unlike the quickstart in every way that matters."""
    data = yaml.safe_load(LEDGER.read_text())
    data["stack"]["prometheus"] = {"remote_write": [
        {"name": "archive", "kind": "generic", "url": "https://archive.ledger.example/write"},
        {"name": "cortex", "kind": "cortex", "url": "http://cortex.ledger:9009/api/v1/push", "ruler": True}]}
    return data


def render(data: dict[str, Any]) -> dict[str, str]:
    return render_all(resolve(load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml"), "obsgen.yaml"))


@pytest.fixture(scope="module", params=["quickstart", "ledger"])
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    data = quickstart_with_ruler() if request.param == "quickstart" else ledger_with_ruler()
    queue = "mimir" if request.param == "quickstart" else "cortex"
    return queue, write_tree(tmp_path_factory.mktemp(request.param), render(data))


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_one_namespace_per_service_holding_its_proven_rules(case: tuple[str, Path]) -> None:
    queue, out = case
    services = sorted(p.stem for p in (out / "prometheus/rules").glob("*.yml") if p.stem != "_stack")
    files = sorted((out / "ruler" / queue).glob("*.yml"))
    assert [f.stem for f in files] == services
    interval = _load(out / "prometheus/prometheus.yml")["global"]["evaluation_interval"]
    for f in files:
        doc = _load(f)
        local = _load(out / "prometheus/rules" / f.name)["groups"]
        assert list(doc) == ["namespace", "groups"]
        assert doc["namespace"].endswith(f"-{f.stem}") and doc["namespace"] != f.stem
        assert [r for g in doc["groups"] for r in g["rules"]] == [r for g in local for r in g["rules"]]
        assert {g["interval"] for g in doc["groups"]} == {interval}
        names = [g["name"] for g in doc["groups"]]
        for g in local:  # an SLO's two groups are one, recordings first; the others are as they were
            if g["name"].endswith("-alerts") and g["name"].removesuffix("-alerts") + "-recordings" in \
                    {x["name"] for x in local}:
                joined = next(x for x in doc["groups"] if x["name"] == g["name"].removesuffix("-alerts"))
                kinds = ["record" if "record" in r else "alert" for r in joined["rules"]]
                assert kinds == sorted(kinds, key=lambda k: k == "alert") and "record" in kinds and "alert" in kinds
            elif not g["name"].endswith("-recordings"):
                assert g["name"] in names
        assert not any(n.endswith(("-recordings", "-alerts")) and n.removesuffix("-alerts") in names for n in names)


def test_prometheus_keeps_only_the_stack_rules(case: tuple[str, Path]) -> None:
    queue, out = case
    cfg = _load(out / "prometheus/prometheus.yml")
    assert cfg["rule_files"] == ["rules/_stack.yml"]
    if queue == "cortex":  # operator mode: the only PrometheusRule is the stack's
        rules = [d for d in yaml.safe_load_all((out / "kubernetes/prometheus-rules.yaml").read_text())
                 if d and d["kind"] == "PrometheusRule"]
        assert [r["metadata"]["name"] for r in rules] == ["ledger-stack"]


def _ruler_tests(out: Path, queue: str, tmp: Path, services: list[str] | None = None,
                 strip_recordings: bool = False) -> subprocess.CompletedProcess[str]:
    """The generated tests of the services, run on the ruler's groups instead of prometheus/rules/."""
    promtool = require_tool("promtool")
    (tmp / "rules").mkdir(parents=True)
    (tmp / "tests").mkdir()
    tests = []
    for f in sorted((out / "ruler" / queue).glob("*.yml")):
        if services is not None and f.stem not in services:
            continue
        groups = _load(f)["groups"]
        if strip_recordings:
            groups = [{**g, "rules": [r for r in g["rules"] if "record" not in r]} for g in groups]
        (tmp / "rules" / f.name).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        test = _load(out / "prometheus/tests" / f"{f.stem}.test.yml")
        assert test["rule_files"] == [f"../rules/{f.name}"]
        (tmp / "tests" / f"{f.stem}.test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
        tests.append(f"tests/{f.stem}.test.yml")
    return subprocess.run([promtool, "test", "rules", *tests], cwd=tmp, capture_output=True, text=True, timeout=600)


def test_the_generated_tests_pass_on_the_ruler_groups(case: tuple[str, Path], tmp_path: Path) -> None:
    queue, out = case
    proc = _ruler_tests(out, queue, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_generated_tests_fail_on_ruler_groups_without_their_recordings(tmp_path: Path) -> None:
    """What the test above can see: the quickstart checkout SLO alerts, left without the recordings they read."""
    out = write_tree(tmp_path / "out", render(quickstart_with_ruler()))
    proc = _ruler_tests(out, "mimir", tmp_path / "run", services=["checkout"], strip_recordings=True)
    assert proc.returncode != 0 and "FAILED" in proc.stdout + proc.stderr


def test_obsgen_check_reads_the_ruler_files_and_fails_on_changed_rules(case: tuple[str, Path],
                                                                       tmp_path: Path) -> None:
    require_tool("promtool")
    queue, out = case
    from obsgen.file_checks import _ruler

    (result,) = _ruler(out)
    assert result.status == "passed", result.output
    assert set(result.files) == {f"ruler/{queue}/{f.name}" for f in (out / "ruler" / queue).glob("*.yml")}
    broken = write_tree(tmp_path, {p.relative_to(out).as_posix(): p.read_text()
                                   for p in out.rglob("*.yml") if "/ruler/" in f"/{p.relative_to(out)}"
                                   or p.relative_to(out).parts[:2] == ("prometheus", "rules")})
    victim = sorted((broken / "ruler" / queue).glob("*.yml"))[0]
    doc = _load(victim)
    rule = next(r for g in doc["groups"] for r in g["rules"] if "alert" in r)
    rule["expr"] = f"({rule['expr']}) * 2"
    victim.write_text(yaml.safe_dump(doc, sort_keys=False))
    (result,) = _ruler(broken)
    assert result.status == "failed" and victim.name in result.output, result.output


def test_the_file_checks_of_obsgen_check_include_the_ruler_files(tmp_path: Path) -> None:
    require_tool("promtool")
    out = write_tree(tmp_path, render(quickstart_with_ruler()))
    (result,) = [r for r in check_files(out) if r.target.startswith("ruler/")]
    assert result.status == "passed" and result.files == ("ruler/mimir/catalog.yml", "ruler/mimir/checkout.yml")


def test_the_output_readme_names_the_command_the_tenant_and_the_namespaces(case: tuple[str, Path]) -> None:
    queue, out = case
    readme = (out / "README.md").read_text()
    if queue == "mimir":
        assert ("mimirtool rules sync --address=https://mimir.example.com --id=shop --namespaces-regex='shop-.*' "
                "ruler/mimir/*.yml") in readme
    else:  # no tenant: Cortex's own with authentication off
        assert "cortextool rules sync --address=http://cortex.ledger:9009 --id=fake --namespaces-regex='ledger-.*'" \
            in readme


def test_without_a_ruler_nothing_changes() -> None:
    files = render(yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text()))
    assert not any(p.startswith("ruler/") for p in files)
    assert yaml.safe_load(files["prometheus/prometheus.yml"])["rule_files"] == ["rules/*.yml"]


@pytest.mark.parametrize("change, place, words", [
    (lambda rw: rw[0].update(kind="generic"), "stack.prometheus.remote_write[0].ruler", "kind mimir or cortex"),
    (lambda rw: rw.append({**rw[0], "name": "mimir-2"}), "stack.prometheus.remote_write[1].ruler",
     "already evaluates the rules"),
])
def test_a_ruler_that_cannot_work_is_refused_at_its_place(tmp_path: Path, change: Any, place: str,
                                                          words: str) -> None:
    data = quickstart_with_ruler()
    change(data["stack"]["prometheus"]["remote_write"])
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = obsgen("render", str(spec), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    line = next(line for line in proc.stderr.splitlines() if words in line)
    assert line.startswith(f"{spec}:") and place in line, proc.stderr
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- Thanos: a ThanosRuler


def ledger_with_thanos_ruler(replicas: int = 3) -> dict[str, Any]:
    data = yaml.safe_load(LEDGER.read_text())
    data["stack"]["alertmanager"] = {"replicas": replicas}
    data["stack"]["prometheus"] = {"remote_write": [
        {"name": "receive", "kind": "thanos", "url": "http://thanos-receive.monitoring:19291/api/v1/receive",
         "tenant": "ledger", "ruler": True, "query_url": "http://thanos-query.monitoring:9090"}]}
    return data


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector, matchLabels and matchExpressions, as the API server reads it."""
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        key, op, values = e["key"], e["operator"], e.get("values", [])
        held = {"In": labels.get(key) in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not held:
            return False
    return True


@pytest.fixture(scope="module")
def thanos_objects(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    from test_operator_stack import built

    return built(write_tree(tmp_path_factory.mktemp("thanos"), render(ledger_with_thanos_ruler())))


def test_each_rule_has_one_evaluator_the_thanos_ruler_the_services_and_prometheus_the_stacks(
        thanos_objects: list[dict[str, Any]]) -> None:
    (prom,) = [o["spec"] for o in thanos_objects if o["kind"] == "Prometheus"]
    (ruler,) = [o["spec"] for o in thanos_objects if o["kind"] == "ThanosRuler"]
    rules = {o["metadata"]["name"]: o["metadata"]["labels"] for o in thanos_objects if o["kind"] == "PrometheusRule"}
    by_ruler = {n for n, labels in rules.items() if selects(ruler["ruleSelector"], labels)}
    by_prometheus = {n for n, labels in rules.items() if selects(prom["ruleSelector"], labels)}
    assert by_prometheus == {"ledger-stack"}
    assert by_ruler == set(rules) - {"ledger-stack"} and len(by_ruler) == 4
    assert ruler["ruleNamespaceSelector"] == prom["ruleNamespaceSelector"]


def test_the_thanos_ruler_queries_the_query_sends_to_every_replica_and_passes_its_crd(
        thanos_objects: list[dict[str, Any]]) -> None:
    from obsgen import crds

    (ruler,) = [o for o in thanos_objects if o["kind"] == "ThanosRuler"]
    spec = ruler["spec"]
    assert spec["queryEndpoints"] == ["http://thanos-query.monitoring:9090"]
    assert spec["evaluationInterval"] == "30s"
    assert spec["labels"] == {"environment": "staging", "region": "ap-south-1"}
    assert spec["alertmanagersUrl"] == [
        f"http://alertmanager-ledger-{i}.alertmanager-operated.observability.svc:9093" for i in range(3)]
    (am,) = [o for o in thanos_objects if o["kind"] == "Alertmanager"]
    assert am["metadata"]["name"] == "ledger" and am["spec"]["replicas"] == 3  # the pods those names are of
    results = crds.check_custom_resources(thanos_objects)
    assert "ThanosRuler" in {r.target.split()[0] for r in results}
    assert all(r.status == "passed" for r in results), [r.output for r in results if r.status != "passed"]
    broken = [{**o, "spec": {**o["spec"], "queryEndpoints": "http://thanos-query:9090"}} if o is ruler else o
              for o in thanos_objects]
    assert any(r.status == "failed" and r.target.startswith("ThanosRuler")
               for r in crds.check_custom_resources(broken))


@pytest.mark.parametrize("change, place, words", [
    (lambda d: d["stack"].update(deploy=["compose"]), "stack.prometheus.remote_write[0].ruler",
     "prometheus-operator mode only"),
    (lambda d: d["stack"]["prometheus"]["remote_write"][0].pop("query_url"), "stack.prometheus.remote_write[0].ruler",
     "name it in `query_url`"),
    (lambda d: d["stack"]["prometheus"]["remote_write"][0].update(ruler=False),
     "stack.prometheus.remote_write[0].query_url", "not kind thanos with `ruler: true`"),
    (lambda d: d["stack"]["prometheus"]["remote_write"][0].update(query_url="ftp://q:21"),
     "stack.prometheus.remote_write[0].query_url", "is not an http(s) URL"),
])
def test_a_thanos_ruler_that_cannot_work_is_refused_at_its_place(tmp_path: Path, change: Any, place: str,
                                                                 words: str) -> None:
    data = ledger_with_thanos_ruler()
    change(data)
    with pytest.raises(SpecError) as e:
        load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml")
    assert any(place in line and words in line for line in str(e.value).splitlines()), str(e.value)
