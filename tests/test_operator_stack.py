"""prometheus-operator mode carries the whole spec: the Prometheus and Alertmanager resources obsgen renders.

Read back from the objects `kubectl kustomize` builds: remote_write (URL, tenant header, credentials by
Secret reference), retention, external labels, intervals, replicas, quiet hours; the resources' selectors
match exactly obsgen's own objects; every object passes its CRD (strict) and the built-in ones
kubernetes-validate --strict; the route proof passes on the quickstart. Then every field of the spec's
`stack` and `project`, found by walking the models: changed, it changes the operator output, or validation
refuses it in operator mode, or it is in ALLOWED_WITHOUT_EFFECT with the reason.
"""

from __future__ import annotations

import copy
import subprocess
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, require_tool, write_tree
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from obsgen import crds
from obsgen.model import resolve
from obsgen.operator_routing import verify_operator_routes
from obsgen.render import render_all
from obsgen.spec import load_spec_text
from obsgen.spec.errors import SpecError
from obsgen.spec.models import Project, Stack

NS = "monitoring"
PASSWORD_FILE = "/etc/prometheus/secrets/mimir-password"


def quickstart(**stack: Any) -> dict[str, Any]:
    """examples/quickstart.yaml on Kubernetes in operator mode. Its quiet hours are in Europe/Berlin, which
    operator mode refuses (AlertmanagerConfig has no time zone): here they are at Berlin's winter offset."""
    data = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    data["stack"]["deploy"] = ["kubernetes"]
    data["stack"]["kubernetes"] = {"prometheus_operator": True}
    data["routing"]["quiet_hours"]["timezone"] = "Etc/GMT-1"
    data["stack"].update(stack)
    return data


def render(data: dict[str, Any]) -> dict[str, str]:
    return render_all(resolve(load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml"), "obsgen.yaml"))


def built(out: Path) -> list[dict[str, Any]]:
    kubectl = require_tool("kubectl")
    proc = subprocess.run([kubectl, "kustomize", str(out / "kubernetes")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.load_all(proc.stdout, Loader=crds.Loader) if d]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return found


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = quickstart(alertmanager={"replicas": 3})
    data["defaults"] = {**data.get("defaults", {}), "scrape_interval": "30s", "evaluation_interval": "30s",
                        "scrape_timeout": "20s"}
    return write_tree(tmp_path_factory.mktemp("operator-stack"), render(data))


@pytest.fixture(scope="module")
def objects(tree: Path) -> list[dict[str, Any]]:
    return built(tree)


# --------------------------------------------------------------------------- read back from the resources


def test_prometheus_carries_remote_write_retention_labels_and_intervals(tree: Path,
                                                                        objects: list[dict[str, Any]]) -> None:
    spec = one(objects, "Prometheus")["spec"]
    (rw,) = spec["remoteWrite"]
    assert rw["name"] == "mimir" and rw["url"] == "https://mimir.example.com/api/v1/push"
    assert rw["headers"] == {"X-Scope-OrgID": "shop"}  # kind mimir: the tenant's header
    password, username = rw["basicAuth"]["password"], rw["basicAuth"]["username"]
    assert password == {"name": "prometheus-secrets", "key": "mimir-password"}
    assert username["name"] == "prometheus-secrets"
    # both keys are in the one Secret the kustomization's header says how to create, from the spec's file
    header = (tree / "kubernetes/kustomization.yaml").read_text()
    (command,) = [line for line in header.splitlines() if "create secret generic prometheus-secrets" in line]
    assert f"--from-file=mimir-password=<file for {PASSWORD_FILE}>" in command
    assert f"--from-file={username['key']}=" in command and "(shop)" in command
    assert spec["retention"] == "30d"
    assert spec["externalLabels"] == {"cluster": "eu-1", "environment": "production"}
    assert (spec["scrapeInterval"], spec["evaluationInterval"], spec["scrapeTimeout"]) == ("30s", "30s", "20s")
    assert spec["replicas"] == 1
    assert not any(o["kind"] == "Secret" for o in objects)  # references only, never a value


def test_alertmanager_carries_replicas_strategy_templates_and_the_routing(objects: list[dict[str, Any]]) -> None:
    am = one(objects, "Alertmanager")["spec"]
    assert am["replicas"] == 3
    amc = one(objects, "AlertmanagerConfig")
    strategy = amc["metadata"]["annotations"]["obsgen/alertmanager-config-matcher-strategy"]
    assert am["alertmanagerConfigMatcherStrategy"] == {"type": strategy} == {"type": "OnNamespace"}
    config = am["alertmanagerConfiguration"]
    assert config["name"] == amc["metadata"]["name"] and config["global"] == {"resolveTimeout": "5m"}
    templates = one(objects, "ConfigMap", "alertmanager-templates")["data"]
    assert [t["configMap"]["key"] for t in config["templates"]] == sorted(templates) == ["obsgen.tmpl"]
    # quiet hours: 09:00-18:00 at UTC+01:00 is 08:00-17:00 UTC, and the warning route waits for them
    (interval,) = amc["spec"]["muteTimeIntervals"]
    assert interval["timeIntervals"][0]["times"] == [{"startTime": "08:00", "endTime": "17:00"}]

    def uses(route: dict[str, Any]) -> bool:
        return interval["name"] in route.get("activeTimeIntervals", []) or any(uses(r) for r in route.get("routes", []))
    assert uses(amc["spec"]["route"])


def test_alertmanager_url_and_replicas_follow_the_spec() -> None:
    data = quickstart(alertmanager={"replicas": 2})
    data["project"]["alertmanager_url"] = "https://am.example.com"
    text = render(data)["kubernetes/alertmanager.yaml"]
    am = next(d for d in yaml.safe_load_all(text) if d["kind"] == "Alertmanager")["spec"]
    assert am["replicas"] == 2 and am["externalUrl"] == "https://am.example.com"


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) == {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


SELECTED = {"ruleSelector": "PrometheusRule", "serviceMonitorSelector": "ServiceMonitor",
            "podMonitorSelector": "PodMonitor", "probeSelector": "Probe", "scrapeConfigSelector": "ScrapeConfig"}


def test_selectors_match_exactly_obsgens_own_objects(objects: list[dict[str, Any]]) -> None:
    prom = one(objects, "Prometheus")["spec"]
    am = one(objects, "Alertmanager")["spec"]
    namespace = one(objects, "Namespace")
    ns_labels = {**namespace["metadata"].get("labels", {}), "kubernetes.io/metadata.name": namespace["metadata"]["name"]}
    pairs = [(prom, s, kind) for s, kind in SELECTED.items()]
    pairs.append((am, "alertmanagerConfigSelector", "AlertmanagerConfig"))
    for spec, key, kind in pairs:
        mine = [o for o in objects if o["kind"] == kind]
        assert mine or kind in ("PodMonitor", "ScrapeConfig"), kind
        assert all(_matches(spec[key], o["metadata"]["labels"]) for o in mine), key
        assert all(o["metadata"]["namespace"] == NS for o in mine)
        namespace_key = key.replace("Selector", "NamespaceSelector")
        assert _matches(spec[namespace_key], ns_labels), namespace_key
        # what a kube-prometheus-stack release labels its own rules and monitors with is not selected
        release = {"release": "kube-prometheus-stack", "app": "kube-prometheus-stack",
                   "app.kubernetes.io/part-of": "kube-prometheus-stack", "app.kubernetes.io/managed-by": "Helm"}
        assert not _matches(spec[key], release), key
        assert not _matches(spec[namespace_key], {"kubernetes.io/metadata.name": "other"})


def test_services_reach_only_this_stacks_pods_and_keep_the_addresses(objects: list[dict[str, Any]]) -> None:
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    for component, kind, port in (("prometheus", "Prometheus", 9090), ("alertmanager", "Alertmanager", 9093)):
        svc = services[component]["spec"]
        assert "externalName" not in svc and svc["ports"] == [{"name": "web", "port": port, "targetPort": "web"}]
        name = one(objects, kind)["metadata"]["name"]
        # the labels the operator puts on the pods of that resource (podMetadata's reserved labels)
        pod = {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": name, component: name,
               "app.kubernetes.io/managed-by": "prometheus-operator"}
        assert all(pod.get(k) == v for k, v in svc["selector"].items())
        release_pod = {**pod, "app.kubernetes.io/instance": f"kube-prometheus-stack-{component}"}
        assert not all(release_pod.get(k) == v for k, v in svc["selector"].items())
    alerting = one(objects, "Prometheus")["spec"]["alerting"]["alertmanagers"]
    assert alerting == [{"name": "alertmanager", "namespace": NS, "port": "web", "apiVersion": "v2"}]
    # Grafana's datasources and Loki's ruler name Services that exist, on their ports
    datasources = yaml.safe_load(one(objects, "ConfigMap", next(
        o["metadata"]["name"] for o in objects if o["metadata"]["name"].startswith("grafana-datasources")))
        ["data"]["datasources.yml"])
    loki = yaml.safe_load(next(o["data"]["loki.yml"] for o in objects if "loki.yml" in o.get("data", {})))
    urls = [d["url"] for d in datasources["datasources"]] + [loki["ruler"]["alertmanager_url"]]
    for url in urls:
        host, _, port_text = url.split("//", 1)[1].split("/", 1)[0].partition(":")
        assert host in services, url
        assert int(port_text) in [p["port"] for p in services[host]["spec"]["ports"]], url


def test_self_monitoring_scrapes_prometheus_alertmanager_and_the_release_node_exporter(
        objects: list[dict[str, Any]]) -> None:
    monitors = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "ServiceMonitor"}
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    for job in ("prometheus", "alertmanager", "grafana", "loki"):  # the job is the Service's name
        assert _matches(monitors[job]["selector"], services[job]["metadata"]["labels"]), job
        assert not any(_matches(monitors[job]["selector"], s["metadata"]["labels"])
                       for name, s in services.items() if name != job), job
        assert monitors[job]["endpoints"][0]["port"] in [p["name"] for p in services[job]["spec"]["ports"]]
    node = monitors["node-exporter"]
    assert node["jobLabel"] == "jobLabel" and node["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "prometheus-node-exporter", "app.kubernetes.io/instance": "kube-prometheus-stack"}


def test_every_custom_resource_passes_its_crd_and_the_rest_kubernetes_validate(
        objects: list[dict[str, Any]], tmp_path: Path) -> None:
    results = crds.check_custom_resources(objects)
    assert {"Prometheus", "Alertmanager"} <= {r.target.split()[0] for r in results}
    assert all(r.status == "passed" for r in results), results
    builtin = [o for o in objects if not o["apiVersion"].startswith("monitoring.coreos.com/")]
    manifest = tmp_path / "built.yaml"
    manifest.write_text(yaml.safe_dump_all(builtin))
    proc = subprocess.run([require_tool("kubernetes-validate"), "--strict", "--quiet", str(manifest)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "WARN" not in proc.stdout, proc.stdout + proc.stderr


def test_crd_validation_catches_a_wrong_prometheus_and_alertmanager(objects: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(objects)
    one(broken, "Prometheus")["spec"]["remoteWrite"][0]["basicAuth"]["password"] = "s3cret"  # a value, not a ref
    one(broken, "Alertmanager")["spec"]["alertmanagerConfigMatcherStrategy"] = {"type": "Namespace"}
    results = {r.target.split()[0]: r for r in crds.check_custom_resources(broken)}
    assert results["Prometheus"].status == "failed"
    assert "spec.remoteWrite.0.basicAuth.password: 's3cret' is not of type 'object'" in results["Prometheus"].output
    assert results["Alertmanager"].status == "failed" and "'Namespace' is not one of" in results["Alertmanager"].output


def test_the_route_proof_passes_on_the_quickstart(tree: Path, objects: list[dict[str, Any]], amtool: str) -> None:
    results = verify_operator_routes(tree, objects=objects)
    assert [r.status for r in results] == ["passed"], "\n".join(r.output for r in results)


def test_an_example_on_kubernetes_carries_its_settings(tmp_path: Path) -> None:
    """platform-four-services in operator mode, with a remote_write (it has none) to Thanos."""
    data = yaml.safe_load((ROOT / "examples/platform-four-services.yaml").read_text())
    data["stack"]["kubernetes"]["prometheus_operator"] = True
    data["stack"]["prometheus"]["remote_write"] = [
        {"name": "thanos", "kind": "thanos", "url": "https://thanos.example.com/api/v1/receive", "tenant": "platform",
         "bearer_token_file": "/etc/prometheus/secrets/thanos-token"}]
    objects = built(write_tree(tmp_path, render(data)))
    prom = one(objects, "Prometheus")["spec"]
    (rw,) = prom["remoteWrite"]
    assert rw["headers"] == {"THANOS-TENANT": "platform"}
    assert rw["authorization"] == {"type": "Bearer", "credentials": {"name": "prometheus-secrets", "key": "thanos-token"}}
    assert prom["retention"] == "30d"
    assert prom["externalLabels"] == {"cluster": "production", "environment": "production", "region": "us-east-1"}
    assert one(objects, "Alertmanager")["spec"]["replicas"] == 1
    assert one(objects, "AlertmanagerConfig")["spec"]["muteTimeIntervals"][0]["timeIntervals"][0]["times"] == [
        {"startTime": "09:00", "endTime": "18:00"}]
    assert all(r.status == "passed" for r in crds.check_custom_resources(objects))


def test_settings_the_operator_would_replace_are_refused() -> None:
    data = quickstart()
    data["project"]["external_labels"]["prometheus_replica"] = "a"
    data["stack"]["kubernetes"]["release"] = "Kube Prometheus"
    with pytest.raises(SpecError) as e:
        render(data)
    lines = e.value.lines()
    assert any("project.external_labels.prometheus_replica: prometheus-operator sets the external label" in line
               for line in lines), lines
    assert any("stack.kubernetes.release: 'Kube Prometheus' is not a Helm release name" in line for line in lines)
    data["stack"]["kubernetes"]["prometheus_operator"] = False  # only the operator sets them
    render(data)


# --------------------------------------------------------------------------- every field of stack and project

# Fields that cannot matter in operator mode, each with its reason. Anything else must change the operator
# output or be refused by validation in operator mode.
ALLOWED_WITHOUT_EFFECT = {
    ("stack", "publish_address"): "the host address docker-compose publishes ports on; compose only",
}

# Values to try for fields whose type alone does not give a valid different value (tried in order: the
# first that validates somewhere is used).
ALTERNATIVES: dict[tuple[Any, ...], list[Any]] = {
    ("project", "name"): ["ledger"],
    ("project", "environment"): ["staging"],
    ("project", "external_labels"): [{"cluster": "eu-1", "region": "west"}],
    ("project", "runbook_url"): ["https://wiki.example.com/{service}/{alert}"],
    ("project", "grafana_url"): ["https://dashboards.example.com"],
    ("project", "alertmanager_url"): ["https://alertmanager.example.com"],
    ("stack", "publish_address"): ["0.0.0.0"],
    ("stack", "deploy"): [["compose"], ["compose", "kubernetes"]],
    ("stack", "prometheus", "retention"): ["45d"],
    ("stack", "prometheus", "remote_write"): [[]],
    ("stack", "prometheus", "replica_label"): ["replica"],
    ("stack", "prometheus", "cluster_label"): ["ha_group"],
    ("stack", "prometheus", "remote_write", 0, "name"): ["cortex"],
    ("stack", "prometheus", "remote_write", 0, "url"): ["https://mimir.example.com/other/push"],
    ("stack", "prometheus", "remote_write", 0, "tenant"): ["other-tenant"],
    ("stack", "prometheus", "remote_write", 0, "headers"): [{"X-Source": "obsgen"}],
    ("stack", "prometheus", "remote_write", 0, "basic_auth", "username"): ["other-user"],
    ("stack", "prometheus", "remote_write", 0, "basic_auth", "password_file"): ["/etc/prometheus/secrets/other"],
    ("stack", "prometheus", "remote_write", 0, "bearer_token_file"): ["/etc/prometheus/secrets/token"],
    ("stack", "prometheus", "remote_write", 0, "query_url"): ["http://thanos-query.other:9090"],
    ("stack", "prometheus", "remote_write", 0, "tls", "ca_file"): ["/etc/prometheus/secrets/ca.pem"],
    ("stack", "prometheus", "remote_write", 0, "tls", "cert_file"): ["/etc/prometheus/secrets/other.pem"],
    ("stack", "prometheus", "remote_write", 0, "tls", "key_file"): ["/etc/prometheus/secrets/other-key.pem"],
    ("stack", "prometheus", "remote_write", 0, "tls", "server_name"): ["mimir.internal"],
    ("stack", "grafana", "admin_user"): ["root"],
    ("stack", "grafana", "admin_password_file"): ["/run/secrets/grafana-admin"],
    ("stack", "grafana", "settings"): [{"users": {"default_theme": "light"}}],
    ("stack", "loki", "retention"): ["14d"],
    ("stack", "fluentd", "outputs"): [["loki", "elasticsearch"]],
    ("stack", "fluentd", "elasticsearch", "host"): ["es.internal"],
    ("stack", "fluentd", "elasticsearch", "index_prefix"): ["shop-logs"],
    ("stack", "fluentd", "elasticsearch", "user"): ["elastic"],
    ("stack", "fluentd", "elasticsearch", "password_file"): ["/run/secrets/es"],
    ("stack", "exporters"): [["node", "cadvisor"]],
    ("stack", "exporters", 1, "target"): ["redis.internal:6379"],
    ("stack", "exporters", 1, "dsn_file"): ["/etc/postgres-exporter/dsn"],
    ("stack", "exporters", 1, "processes"): [["postgres"]],
    ("stack", "kubernetes", "namespace"): ["observability"],
    ("stack", "kubernetes", "release"): ["monitoring"],
}


def _setup(path: tuple[Any, ...], data: dict[str, Any]) -> None:
    """What a field needs around it to have any effect at all (in any mode)."""
    if path[:2] == ("stack", "fluentd"):  # Fluentd runs when a service has logs
        data["services"][0]["logs"] = {"source": {"tail": f"/var/log/{data['services'][0]['name']}/*.log"}}
    if path[:3] == ("stack", "fluentd", "elasticsearch"):  # read only when the logs go to Elasticsearch
        data["stack"]["fluentd"] = {"outputs": ["loki", "elasticsearch"]}
    if path[:2] == ("stack", "exporters") and len(path) > 2:  # an exporter with settings, of the type using them
        kind = {"dsn_file": "postgres", "processes": "process", "max_lag": "kafka"}.get(path[-1], "redis")
        data["stack"]["exporters"] = ["node", {"type": kind, **({"processes": ["app"]} if kind == "process" else {})}]
    if path[-1] in ("replica_label", "cluster_label"):  # labels of HA replicas: two of them
        data["stack"]["prometheus"]["replicas"] = 2
    if path[-1] == "bearer_token_file":  # one way to authenticate: instead of basic_auth
        data["stack"]["prometheus"]["remote_write"][0].pop("basic_auth")
    if path[-2:-1] == ("tls",):  # a client certificate is both files
        data["stack"]["prometheus"]["remote_write"][0]["tls"] = {
            "cert_file": "/etc/prometheus/secrets/client.pem", "key_file": "/etc/prometheus/secrets/client-key.pem"}
    if path[-1] == "query_url":  # the Thanos Query of a ThanosRuler
        data["stack"]["prometheus"]["remote_write"][0].update(
            kind="thanos", ruler=True, query_url="http://thanos-query.monitoring:9090")


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the model an annotation holds, whether in a list)."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if origin is list:
        for a in typing.get_args(args[0]) or args:
            if isinstance(a, type) and issubclass(a, BaseModel):
                return a, True
        return None, False
    if origin in (typing.Union, types.UnionType):
        for a in args:
            model, listed = _model_in(a)
            if model:
                return model, listed
    return None, False


def walk(model: type[BaseModel], prefix: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], FieldInfo]]:
    """(path, field) of every field of `model` and its nested models; a list of models is a field
    itself, and its first item's fields too (the second, for `exporters`: its first is a bare name)."""
    for name, info in model.model_fields.items():
        path = (*prefix, info.alias or name)
        inner, listed = _model_in(info.annotation)
        if inner is None or listed:
            yield path, info
        if inner is not None:
            yield from walk(inner, (*path, 1 if name == "exporters" else 0) if listed else path)


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        if isinstance(data, list):
            data = data[key] if key < len(data) else None
        else:
            data = (data or {}).get(key)
    return data


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key] if isinstance(data, list) else data.setdefault(key, {})
    data[path[-1]] = value


def _generic(annotation: Any, current: Any) -> list[Any]:
    """Values of the field's own type: the other choices of a Literal or bool, a neighbouring number."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [v for a in args for v in _generic(a, current)]
    if annotation is bool:
        return [not current]
    if origin is typing.Literal:
        return [a for a in args if a != current]
    if annotation is int:
        return [(current or 0) + 1, (current or 2) - 1]
    return []


def _problems(data: dict[str, Any]) -> list[str] | None:
    try:
        load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml")
    except SpecError as e:
        return e.lines()
    return None


def _operator_output(data: dict[str, Any]) -> dict[str, str]:
    return {p: t for p, t in render(data).items() if p.startswith("kubernetes/")}


def _without_operator(data: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out["stack"]["kubernetes"]["prometheus_operator"] = False
    return out


FIELDS = [*walk(Project, ("project",)), *walk(Stack, ("stack",))]


def test_the_walk_finds_the_fields_of_stack_and_project() -> None:
    paths = {p for p, _ in FIELDS}
    assert {("stack", "prometheus", "remote_write", 0, "basic_auth", "password_file"),
            ("stack", "alertmanager", "replicas"), ("stack", "kubernetes", "alertmanager_config_matcher_strategy"),
            ("project", "external_labels"), ("stack", "fluentd", "elasticsearch", "port")} <= paths
    assert len(paths) == len(FIELDS) > 30
    stale = set(ALLOWED_WITHOUT_EFFECT) | set(ALTERNATIVES)
    assert stale <= paths, f"entries for fields that no longer exist: {stale - paths}"


@pytest.mark.parametrize("path", [p for p, _ in FIELDS], ids=lambda p: ".".join(map(str, p)))
def test_every_field_reaches_the_operator_output_or_is_refused(path: tuple[Any, ...]) -> None:
    """Every other value (those in ALTERNATIVES, then those the type gives) valid in some mode is tried
    until one is refused in operator mode or changes the operator output; one of them must."""
    field = dict(FIELDS)[path]
    where = ".".join(map(str, path))
    base = quickstart()
    _setup(path, base)
    assert _problems(base) is None, f"the base spec for {where} is invalid"
    current = _get(base, path)
    if current is None:
        current = field.get_default(call_default_factory=True)
    without_effect, invalid = [], []
    for value in ALTERNATIVES.get(path, []) + _generic(field.annotation, current):
        if value == current:
            continue
        changed = copy.deepcopy(base)
        _set(changed, path, value)
        refused = _problems(changed)
        if refused and _problems(_without_operator(changed)):
            invalid.append(value)  # not a valid value in any mode: try the next
            continue
        if refused:  # valid, but not in operator mode: refused with a message at its place
            assert path not in ALLOWED_WITHOUT_EFFECT, f"{where} is refused in operator mode: drop it from the list"
            assert any(where in line for line in refused), refused
            return
        if _operator_output(changed) != _operator_output(base):
            assert path not in ALLOWED_WITHOUT_EFFECT, f"{where} changes the operator output: drop it from the list"
            return
        without_effect.append(value)
    if not without_effect:
        pytest.fail(f"no valid different value for {where} (invalid: {invalid!r}): add one to ALTERNATIVES")
    assert path in ALLOWED_WITHOUT_EFFECT, (
        f"{where} = {without_effect!r} changes nothing in operator mode and is not refused: carry it to the "
        "operator's resources, refuse it in obsgen/spec/operator_checks.py, or allow it with its reason in "
        "ALLOWED_WITHOUT_EFFECT")
