"""Health checks of every prober kind: their spec errors, blackbox.yml and where each deploy target puts it,
the scrape jobs and Probes, and `obsgen check --strict` proving every alert of a spec that has them all.

The spec here is a payments platform's, unlike the examples: a PostgreSQL pair reached over TCP (one port with
TLS), a router answering pings, an internal resolver asked for two names, and a gRPC pricing service checked
through grpc.health.v1 as a whole and for one of its services. tests/test_blackbox_live.py runs the
rendered modules in the real exporter.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import obsgen
from test_dashboard_jobs import environments, unscraped

from obsgen.check import blackbox_config, exit_code
from obsgen.crds import check_custom_resources
from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.spec import SpecError, load_spec_text

SPEC = """
version: 1
project: {name: tilde}
channels:
  oncall: {type: webhook, url: "http://pager.tilde.internal:8080/hook"}
routing: {default: oncall}
stack:
  deploy: [compose, kubernetes]
  kubernetes: {namespace: monitoring}
services:
  - name: pg-pair
    team: data
    health:
      - tcp: "pg-a.data.svc:5432"
      - tcp: "pg-b.data.svc:5432"
        for: 30s
      - tcp: "pg-a.data.svc:6432"
        tls: true
  - name: edge-router
    health: {icmp: 198.51.100.1, for: 5m}
  - name: resolver
    health:
      - dns: "ns.tilde.internal:53"
        query_name: pricing.tilde.internal
        query_type: AAAA
        answer: '\\tIN\\tAAAA\\t2001:db8::'
      - dns: "ns.tilde.internal:53"
        query_name: retired.tilde.internal
        rcode: NXDOMAIN
  - name: pricing
    scrape: {static: ["pricing:9464"]}
    kind: grpc
    health:
      - grpc: "pricing:50051"
      - grpc: "pricing:50051"
        service: tilde.pricing.v3.Quotes
      - http: "http://pricing:8080/livez"
"""


def _spec(**changes: Any) -> str:
    data = yaml.safe_load(SPEC)
    for name, health in changes.items():
        next(s for s in data["services"] if s["name"] == name.replace("_", "-"))["health"] = health
    return yaml.safe_dump(data, sort_keys=False)


def render(text: str = SPEC) -> dict[str, str]:
    return render_all(resolve(load_spec_text(text, "obsgen.yaml"), "obsgen.yaml"))


# --------------------------------------------------------------------------- spec errors


@pytest.mark.parametrize(("health", "where", "message"), [
    ({"tcp": "pg-a.data.svc"}, "services[1].health.tcp", "'pg-a.data.svc' is not host:port (e.g. `postgres:5432`)"),
    ({"grpc": "pricing:70000"}, "services[1].health.grpc", "'pricing:70000' is not host:port"),
    ({"dns": "ns:53"}, "services[1].health.dns", "a dns check names the `query_name` to ask for"),
    ({"dns": "ns:53", "query_name": "a..b"}, "services[1].health.query_name", "'a..b' is not a DNS name"),
    ({"dns": "ns:53", "query_name": "a.b", "answer": "(AAAA"}, "services[1].health.answer",
     "is not a regular expression RE2 accepts"),
    ({"icmp": "router:22"}, "services[1].health.icmp", "is not a host name or IP address (and ICMP has no port)"),
    ({"grpc": "pricing:50051", "service": "v3/Quotes"}, "services[1].health.service", "is not a gRPC service name"),
    ({"icmp": "router", "tls": True}, "services[1].health.tls",
     "`tls` is a setting of tcp and grpc checks; this is an icmp"),
    ({"tcp": "a:1", "query_name": "x.y"}, "services[1].health.query_name", "`query_name` is a setting of dns checks"),
    ({"tcp": "a:1", "grpc": "a:2"}, "services[1].health", "`tcp` and `grpc` are 2 checks; write each as an item"),
    ({}, "services[1].health", "name exactly one of `http`, `tcp`, `icmp`, `dns` or `grpc`"),
    ([], "services[1].health", "name at least one check"),
    ([{"tcp": "a:1"}, {"icmp": "b"}, {"tcp": "a:1", "for": "1m"}], "services[1].health[2]",
     "the same check as services[1].health[0]"),
    ({"icmp": "[::1]"}, "services[1].health.icmp", "is not a host name or IP address"),
    ([{"http": "http://r:80/?a={{b}}"}, {"http": "http://r:80/b"}], "services[1].health[0].http",
     "holds `{{`, which its alert's labels would expand as a template"),
    ([{"icmp": "b"}, {"dns": "ns:53", "query_name": "x", "rcode": "GONE"}], "services[1].health[1].rcode",
     "is not one of `NOERROR`, `NXDOMAIN`, `SERVFAIL` or `REFUSED`"),
])
def test_a_bad_check_is_refused_where_it_is_written(health: Any, where: str, message: str) -> None:
    text = _spec(edge_router=health)
    with pytest.raises(SpecError) as e:
        load_spec_text(text, "obsgen.yaml")
    found = [line for line in e.value.lines() if re.match(rf"obsgen\.yaml:\d+:\d+ {re.escape(where)}: ", line)]
    assert len(found) == 1 and message in found[0], e.value.lines()


def test_a_bad_check_exits_2_naming_the_place_and_writes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(_spec(resolver=[{"dns": "ns.tilde.internal", "query_name": "pricing.tilde.internal"}]))
    out = tmp_path / "out"
    proc = obsgen("render", str(spec), "-o", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "services[2].health[0].dns: 'ns.tilde.internal' is not host:port" in proc.stdout + proc.stderr
    assert not out.exists()


# --------------------------------------------------------------------------- rendering


def test_blackbox_yml_has_one_module_per_distinct_setting_and_names_follow_the_settings() -> None:
    files = render()
    modules = yaml.safe_load(files["blackbox/blackbox.yml"])["modules"]
    model = resolve(load_spec_text(SPEC, "obsgen.yaml"), "obsgen.yaml")
    used = {p.module: json.loads(p.settings) for s in model.services for p in s.probes}
    assert modules == used  # every module in use is there, and no other
    assert len(used) == 8  # tcp twice with the same settings: one module; each other setting its own
    assert {m["prober"] for m in modules.values()} == {"tcp", "icmp", "dns", "grpc", "http"}
    assert modules["http_2xx"] == {"prober": "http", "http": {"preferred_ip_protocol": "ip4"}}  # the stock one
    dns = {name: m["dns"] for name, m in modules.items() if m["prober"] == "dns"}
    assert sorted(d["valid_rcodes"] for d in dns.values()) == [["NOERROR"], ["NXDOMAIN"]]
    assert [d["validate_answer_rrs"] for d in dns.values() if "validate_answer_rrs" in d] == [
        {"fail_if_none_matches_regexp": ["\\tIN\\tAAAA\\t2001:db8::"]}]
    # a module's name is its settings': the same check in another spec, alone, gets the same module
    alone = render(_spec(pg_pair=None, edge_router=None, pricing=None, resolver=[
        {"dns": "10.0.0.2:53", "query_name": "retired.tilde.internal", "rcode": "NXDOMAIN"}]))
    assert set(yaml.safe_load(alone["blackbox/blackbox.yml"])["modules"]) < set(modules)
    assert render() == files  # deterministic to the byte


def test_one_scrape_job_per_prober_kind_with_the_module_as_a_label() -> None:
    files = render()
    jobs = {j["job_name"]: j for j in yaml.safe_load(files["prometheus/prometheus.yml"])["scrape_configs"]}
    probes = {name: j for name, j in jobs.items() if j.get("metrics_path") == "/probe"}
    assert set(probes) == {"blackbox-http", "blackbox-tcp", "blackbox-icmp", "blackbox-dns", "blackbox-grpc"}
    assert probes["blackbox-http"]["params"] == {"module": ["http_2xx"]}
    modules = set(yaml.safe_load(files["blackbox/blackbox.yml"])["modules"])
    labelled = set()
    for name, job in probes.items():
        for static in job["static_configs"]:
            labels = frozenset(static["labels"].items())
            assert (name, *static["targets"], labels) not in labelled, "two checks would make one series"
            labelled.add((name, *static["targets"], labels))
            if name != "blackbox-http":
                assert static["labels"]["module"] in modules
    assert len(labelled) == 9


def test_compose_and_kubernetes_run_the_exporter_with_the_rendered_config() -> None:
    files = render()
    exporter = yaml.safe_load(files["docker-compose.yml"])["services"]["blackbox-exporter"]
    (flag,) = exporter["command"]
    target = flag.removeprefix("--config.file=")
    assert [v for v in exporter["volumes"] if v["target"] == target] == [
        {"type": "bind", "source": "./blackbox/blackbox.yml", "target": target, "read_only": True}]
    assert exporter["sysctls"] == {"net.ipv4.ping_group_range": "0 2147483647"}  # an ICMP check is there
    docs = list(yaml.safe_load_all(files["kubernetes/blackbox-exporter.yaml"]))
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == [flag]
    (mount,) = container["volumeMounts"]
    assert target == f"{mount['mountPath']}/blackbox.yml"
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    kustomization = yaml.safe_load(files["kubernetes/kustomization.yaml"])
    generator = next(g for g in kustomization["configMapGenerator"] if g["name"] == volume["configMap"]["name"])
    assert generator["files"] == ["blackbox.yml=config/blackbox/blackbox.yml"]
    assert files["kubernetes/config/blackbox/blackbox.yml"] == files["blackbox/blackbox.yml"]
    assert {"name": "net.ipv4.ping_group_range", "value": "0 2147483647"} in pod["securityContext"]["sysctls"]
    # no ICMP check: no sysctl asked for
    quiet = render(_spec(edge_router=None))
    assert "sysctls" not in yaml.safe_load(quiet["docker-compose.yml"])["services"]["blackbox-exporter"]
    assert "sysctls" not in quiet["kubernetes/blackbox-exporter.yaml"]


def test_operator_mode_has_a_probe_per_check_with_its_module_and_job() -> None:
    data = yaml.safe_load(SPEC)
    data["stack"] = {"deploy": ["kubernetes"], "kubernetes": {"prometheus_operator": True}}
    files = render(yaml.safe_dump(data, sort_keys=False))
    modules = set(yaml.safe_load(files["blackbox/blackbox.yml"])["modules"])
    probes = [d for text in files.values() if "kind: Probe" in text for d in yaml.safe_load_all(text)
              if d and d.get("kind") == "Probe"]
    assert len(probes) == 9
    assert len({p["metadata"]["name"] for p in probes}) == 9
    for p in probes:
        spec = p["spec"]
        assert spec["module"] in modules
        assert spec["jobName"] == f"blackbox-{spec['jobName'].removeprefix('blackbox-')}"
        labels = spec["targets"]["staticConfig"]["labels"]
        assert labels.get("module", "http_2xx") == spec["module"]
    assert "edge-router-health" in {p["metadata"]["name"] for p in probes}  # a service's one check
    (result,) = check_custom_resources(probes)  # prometheus-operator's Probe CRD schema
    assert result.status == "passed", result


def test_each_check_has_its_alert_and_dashboard_panel() -> None:
    files = render()
    rules = [r for g in yaml.safe_load(files["prometheus/rules/pg-pair.yml"])["groups"] for r in g["rules"]]
    assert [(r["alert"], r["for"], r["labels"]["instance"], r["labels"]["module"]) for r in rules] == [
        ("PgPairTcpCheckFailing", "2m", "pg-a.data.svc:5432", "tcp_connect"),
        ("PgPairTcpCheckFailing", "30s", "pg-b.data.svc:5432", "tcp_connect"),
        ("PgPairTcpCheckFailing", "2m", "pg-a.data.svc:6432", "tcp_tls")]
    pricing = json.loads(files["grafana/dashboards/pricing.json"])
    exprs = [t["expr"] for p in pricing["panels"] for t in p.get("targets", ()) if "probe_success" in t["expr"]]
    assert len(exprs) == 3
    router = json.loads(files["grafana/dashboards/edge-router.json"])
    assert any('job="blackbox-icmp"' in t["expr"] for p in router["panels"] for t in p.get("targets", ()))


@pytest.mark.parametrize("operator", [False, True], ids=["prometheus.yml", "prometheus-operator"])
def test_every_dashboard_job_of_the_checks_is_scraped(operator: bool) -> None:
    data = yaml.safe_load(SPEC)
    if operator:
        data["stack"] = {"deploy": ["kubernetes"], "kubernetes": {"prometheus_operator": True}}
    model = resolve(load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml"), "obsgen.yaml")
    files = render_all(model)
    envs = environments(model, files)
    assert all(job in jobs for jobs in envs.values() for job in ("blackbox-tcp", "blackbox-icmp", "blackbox-dns",
                                                                  "blackbox-grpc", "blackbox-http"))
    assert not unscraped(files, envs)


# --------------------------------------------------------------------------- obsgen check


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = tmp_path_factory.mktemp("spec") / "obsgen.yaml"
    spec.write_text(SPEC)
    out = spec.parent / "out"
    obsgen("render", str(spec), "-o", str(out), "--quiet", check=True)
    return out


def test_check_strict_passes_with_every_alert_proven(rendered: Path) -> None:
    proc = obsgen("check", "--strict", str(rendered))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((rendered / "proof/alerts.json").read_text())
    probe_alerts = [a for a in report["alerts"] if a["alert"].endswith("CheckFailing")]
    assert len(probe_alerts) == 9
    assert report["summary"]["proven"] == report["summary"]["alerts"]
    assert "blackbox/blackbox.yml" in proc.stdout


def test_a_blackbox_yml_the_exporter_refuses_fails_the_check(rendered: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(rendered, out)
    path = out / "blackbox/blackbox.yml"
    path.write_text(path.read_text().replace("preferred_ip_protocol: ip4", "preferred_ip_protocl: ip4", 1))
    result = blackbox_config(out)
    assert result.status == "failed" and "preferred_ip_protocl" in result.output, result


def test_a_missing_exporter_is_said_and_fails_strict(rendered: Path, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no exporter under either of its names
    result = blackbox_config(rendered)
    assert result.status == "not found" and "prometheus-blackbox-exporter" in result.output, result
    assert not result.files  # it read nothing: the file counts as unchecked
    assert exit_code([result], [], strict=True, allow_missing=True) == 1
    assert exit_code([result], [], strict=False, allow_missing=False) == 1
    assert exit_code([result], [], strict=False, allow_missing=True) == 0


def test_a_configmap_copy_does_not_count_as_checking_blackbox_yml(rendered: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    """kustomize packs a byte-identical copy of blackbox.yml into a ConfigMap; that checks the manifest, not
    the exporter's configuration, so with the exporter missing blackbox.yml stays unchecked."""
    from obsgen.check import Result, unchecked_files

    kube = sorted(p.relative_to(rendered).as_posix() for p in (rendered / "kubernetes").rglob("*") if p.is_file())
    copy = [f for f in kube if (rendered / f).read_bytes() == (rendered / "blackbox/blackbox.yml").read_bytes()]
    assert copy, "the spec's Kubernetes output packs blackbox.yml"
    monkeypatch.setenv("PATH", str(tmp_path))
    packed = [Result("kubectl kustomize", "kubernetes/", "passed", "", tuple(kube)), blackbox_config(rendered)]
    assert "blackbox/blackbox.yml" in unchecked_files(rendered, packed)
    monkeypatch.undo()
    assert "blackbox/blackbox.yml" not in unchecked_files(rendered, [*packed[:1], blackbox_config(rendered)])
