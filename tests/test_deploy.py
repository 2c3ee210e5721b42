"""Deploy targets: docker-compose.yml and kubernetes/, checked with the real tools on rendered trees.

check-jsonschema (Compose Specification), kubectl kustomize, kubernetes-validate --strict, the
prometheus-operator CRD schemas vendored in obsgen/crds, and promtool on the rules inside PrometheusRules.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SKETCH

from obsgen import crds
from obsgen.crds import Loader
from obsgen.model import resolve
from obsgen.render import kubernetes_operator, render_all
from obsgen.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv/bin"


def tool(name: str) -> str:
    for candidate in (VENV_BIN / name, ROOT / ".tools/bin" / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} not installed")
    pytest.skip(f"{name} not installed: run make tools")


def run(*cmd: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=300)


# --------------------------------------------------------------------------- specs

SMALL = """\
version: 1
project: {name: tiny}
services:
  - name: web
    scrape: {static: ["web:8080"]}
channels:
  hook: {type: webhook, url: http://hook:9000/}
routing: {default: hook}
stack: {deploy: [compose], publish_address: "0.0.0.0"}
"""

SECRET_PATHS = {  # spec field -> the file it names; each file gets unique content in the test
    "slack": "/etc/alertmanager/secrets/slack-url",
    "pagerduty": "/etc/alertmanager/keys/pagerduty",
    "smtp": "/etc/alertmanager/secrets/smtp",
    "grafana": "/run/secrets/grafana_admin",
    "mimir": "/etc/prometheus/secrets/mimir",
    "es": "/run/secrets/es",
    "dsn": "/etc/postgres-exporter/dsn",
}


# grafana.ini settings of every value type; `$__file{...}` is Grafana's own expansion and must reach it intact
GRAFANA_SETTINGS = {"security": {"allow_embedding": True, "cookie_secure": False},
                    "database": {"max_open_conn": 100, "ca_cert_path": "$__file{/etc/grafana/db-ca-path}"},
                    "auth.generic_oauth": {"enabled": False}, "server": {"serve_from_sub_path": True}}
GRAFANA_ENV = {"GF_AUTH_GENERIC_OAUTH_ENABLED": "false", "GF_DATABASE_CA_CERT_PATH": "$__file{/etc/grafana/db-ca-path}",
               "GF_DATABASE_MAX_OPEN_CONN": "100", "GF_SECURITY_ALLOW_EMBEDDING": "true",
               "GF_SECURITY_COOKIE_SECURE": "false", "GF_SERVER_SERVE_FROM_SUB_PATH": "true"}


def full_spec(operator: bool, paths: dict[str, str] = SECRET_PATHS) -> str:
    """Every deploy feature: both targets, 3 Alertmanagers, remote_write, all exporters, tempo, forward."""
    data: dict[str, Any] = {
        "version": 1,
        "project": {"name": "shop", "grafana_url": "https://grafana.example.com"},
        "services": [
            {"name": "api", "team": "platform",
             "scrape": {"kubernetes": {"namespace": "prod", "pod_labels": {"app": "api"}, "port": "http"}},
             "health": {"http": "http://api:8080/health"},
             "logs": {"source": {"tail": "/var/log/api/*.log"}}},
            {"name": "worker", "team": "data", "scrape": {"static": ["worker:8080"], "interval": "30s"},
             "logs": {"source": {"forward": True}}},
        ],
        "channels": {
            "slack": {"type": "slack", "channel": "#alerts", "api_url_file": paths["slack"]},
            "pager": {"type": "pagerduty", "routing_key_file": paths["pagerduty"]},
            "mail": {"type": "email", "to": ["ops@example.com"]},
        },
        "email": {"smarthost": "smtp.example.com:587", "from": "am@example.com", "auth_username": "am",
                  "auth_password_file": paths["smtp"]},
        "routing": {"default": "mail", "severity": {"critical": ["pager", "slack"], "warning": ["slack"]},
                    "teams": {"data": {"critical": ["pager"]}},
                    # operator mode: AlertmanagerConfig has no time zone, so only a fixed offset converts to UTC
                    "quiet_hours": {"applies_to": "warning", "weekdays": "monday:friday", "times": "09:00-18:00",
                                    "timezone": "Asia/Kolkata" if operator else "Europe/Berlin"}},
        "stack": {
            "deploy": ["compose", "kubernetes"],
            "prometheus": {"remote_write": [{"name": "mimir", "url": "https://mimir.example.com/api/v1/push",
                                             "kind": "mimir", "tenant": "shop",
                                             "basic_auth": {"username": "shop", "password_file": paths["mimir"]}}]},
            "alertmanager": {"replicas": 3},
            "grafana": {"admin_password_file": paths["grafana"], "settings": GRAFANA_SETTINGS},
            "fluentd": {"outputs": ["loki", "elasticsearch"],
                        "elasticsearch": {"user": "elastic", "password_file": paths["es"]}},
            "exporters": ["node", "cadvisor", {"type": "postgres", "dsn_file": paths["dsn"]},
                          {"type": "redis", "target": "redis:6379"}, {"type": "nginx", "target": "nginx:8080"}],
            "tracing": "tempo",
            "kubernetes": {"namespace": "observability", "prometheus_operator": operator},
        },
    }
    return yaml.safe_dump(data, sort_keys=False)


def render_tree(spec_path: Path, out: Path) -> dict[str, str]:
    files = render_all(resolve(load_spec(spec_path), spec_path.name))
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")
    return files


EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
CASES = ["sketch", "small", "full", "operator", *EXAMPLES]


@pytest.fixture(scope="module", params=CASES)
def tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp(request.param)
    if request.param == "sketch":
        if not SKETCH.exists():
            pytest.skip(f"{SKETCH} not present")
        spec = SKETCH
    elif request.param in EXAMPLES:
        spec = ROOT / "examples" / f"{request.param}.yaml"
    else:
        spec = base / "obsgen.yaml"
        text = {"small": SMALL, "full": full_spec(False), "operator": full_spec(True)}[request.param]
        spec.write_text(text)
    out = base / "out"
    render_tree(spec, out)
    return out


def compose_of(out: Path) -> dict[str, Any]:
    return yaml.safe_load((out / "docker-compose.yml").read_text())


def kustomize(out: Path) -> list[dict[str, Any]]:
    result = run(tool("kubectl"), "kustomize", str(out / "kubernetes"))
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.load_all(result.stdout, Loader=Loader) if d]


def needs(out: Path, name: str) -> None:
    if not (out / name).exists():
        pytest.skip(f"this spec does not deploy {name}")


# --------------------------------------------------------------------------- compose


def test_compose_validates_against_compose_spec(tree: Path) -> None:
    needs(tree, "docker-compose.yml")
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(tree / "docker-compose.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def _mounts(svc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(v["source"], v["target"]) for v in svc.get("volumes", []) if v["type"] == "bind"]


def _mounted(path: str, targets: list[str]) -> bool:
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in targets)


def test_compose_mounts_exist_and_configs_are_mounted(tree: Path) -> None:
    needs(tree, "docker-compose.yml")
    compose = compose_of(tree)
    assert "version" not in compose and "name" not in compose
    for name, svc in compose["services"].items():
        binds = _mounts(svc)
        for source, _ in binds:
            if source.startswith("./"):
                assert (tree / source).exists(), f"{name} mounts {source}, which is not in the output"
            else:
                assert source.startswith("/"), source  # host folders: the tailed logs, node's /
        if "build" in svc:
            assert (tree / svc["build"]["context"] / "Dockerfile").exists()
        targets = [t for _, t in binds] + [c["target"] for c in svc.get("configs", [])]
        for arg in svc.get("command", []):
            m = re.match(r"^--?config\.file=(.+)$", arg)
            if m:
                assert _mounted(m.group(1), targets), f"{name}: {arg} is not mounted"
        assert all(v.get("read_only") for v in svc.get("volumes", [])
                   if v["type"] == "bind" and v["source"].startswith("./")), f"{name} mounts config read-write"
        assert svc["restart"] == "unless-stopped"
        assert "@" not in svc.get("image", "") and not svc.get("image", "").endswith(":latest")


def test_compose_config_references_resolve(tree: Path) -> None:
    """Paths named inside the configs (rules, templates, dashboards, secrets) lie in what is mounted."""
    needs(tree, "docker-compose.yml")
    services = compose_of(tree)["services"]

    def targets(svc: dict[str, Any]) -> list[str]:
        return [t for _, t in _mounts(svc)] + [s["target"] for s in svc.get("secrets", [])]

    prom = yaml.safe_load((tree / "prometheus/prometheus.yml").read_text())
    for pattern in prom["rule_files"]:
        assert _mounted(posixpath.join("/etc/prometheus", pattern), targets(services["prometheus"]))
    for path in _file_values(prom):
        assert path in targets(services["prometheus"]), f"prometheus reads {path}, not mounted"
    am = yaml.safe_load((tree / "alertmanager/alertmanager.yml").read_text())
    for name, svc in services.items():
        if name.startswith("alertmanager"):
            for pattern in am["templates"]:
                assert _mounted(posixpath.join("/etc/alertmanager", pattern), targets(svc))
            for path in _file_values(am):
                assert path in targets(svc), f"{name} reads {path}, not mounted"
    loki_cfg = yaml.safe_load((tree / "loki/loki.yml").read_text())
    if (tree / "loki/rules").exists():
        assert _mounted(loki_cfg["ruler"]["storage"]["local"]["directory"], targets(services["loki"]))
    providers = yaml.safe_load((tree / "grafana/provisioning/dashboards/dashboards.yml").read_text())
    for p in providers["providers"]:
        assert _mounted(p["options"]["path"], targets(services["grafana"]))
    env = services["grafana"].get("environment", {})
    if "GF_SECURITY_ADMIN_PASSWORD__FILE" in env:
        assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] in targets(services["grafana"])


def _file_values(data: Any) -> set[str]:
    if isinstance(data, dict):
        return {v for k, v in data.items() if k.endswith("_file")}.union(*map(_file_values, data.values()))
    if isinstance(data, list):
        return set().union(*map(_file_values, data))
    return set()


def test_compose_names_every_scrape_and_alerting_target(tree: Path) -> None:
    """Each address prometheus.yml sends to or scrapes from the stack is a compose service or alias."""
    needs(tree, "docker-compose.yml")
    services = compose_of(tree)["services"]
    names = set(services)
    for svc in services.values():
        names.update(svc.get("networks", {}).get("default", {}).get("aliases", []))
    prom = yaml.safe_load((tree / "prometheus/prometheus.yml").read_text())
    stack_jobs = {"alertmanager", "grafana", "loki", "fluentd"} | {j for j in names if j.endswith("-exporter")}
    hosts = [t.rsplit(":", 1)[0] for am in prom["alerting"]["alertmanagers"] for sc in am["static_configs"]
             for t in sc["targets"]]
    for job in prom["scrape_configs"]:
        if job["job_name"] in stack_jobs:
            hosts += [t.rsplit(":", 1)[0] for sc in job.get("static_configs", []) for t in sc["targets"]]
    assert hosts and set(hosts) <= names, set(hosts) - names
    for name, svc in services.items():
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no healthcheck"


def test_compose_publishes_on_the_spec_address(tree: Path) -> None:
    needs(tree, "docker-compose.yml")
    compose = compose_of(tree)
    address = "0.0.0.0" if tree.parent.name.startswith("small") else "127.0.0.1"
    ports = [p for svc in compose["services"].values() for p in svc.get("ports", [])]
    assert ports and all(p.startswith(f"{address}:") for p in ports)


def test_alertmanager_cluster_in_compose(tmp_path: Path) -> None:
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(full_spec(False))
    out = tmp_path / "out"
    render_tree(spec, out)
    services = compose_of(out)["services"]
    replicas = sorted(n for n in services if n.startswith("alertmanager"))
    assert replicas == ["alertmanager-0", "alertmanager-1", "alertmanager-2"]
    for name in replicas:
        peers = {a.split("=", 1)[1] for a in services[name]["command"] if a.startswith("--cluster.peer=")}
        assert peers == {f"{r}.alertmanager:9094" for r in replicas if r != name}
    prom = yaml.safe_load((out / "prometheus/prometheus.yml").read_text())
    targets = prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == [f"{r}.alertmanager:9093" for r in replicas]


# --------------------------------------------------------------------------- kubernetes


def test_kustomize_builds_and_objects_validate_strictly(tree: Path, tmp_path: Path) -> None:
    needs(tree, "kubernetes/kustomization.yaml")
    objects = kustomize(tree)
    builtin = [o for o in objects if not o["apiVersion"].startswith("monitoring.coreos.com/")]
    manifest = tmp_path / "built.yaml"
    manifest.write_text(yaml.safe_dump_all(builtin))
    result = run(tool("kubernetes-validate"), "--strict", "--quiet", str(manifest))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARN" not in result.stdout, result.stdout  # every kind had a schema


def _pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(o["metadata"]["name"], o["spec"]["template"]["spec"]) for o in objects
            if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet")]


def test_kubernetes_pods_mount_what_exists(tree: Path) -> None:
    """ConfigMaps mounted exist, config flags name mounted paths, probes and resources everywhere."""
    needs(tree, "kubernetes/kustomization.yaml")
    kust = yaml.safe_load((tree / "kubernetes/kustomization.yaml").read_text())
    for gen in kust["configMapGenerator"]:
        for entry in gen["files"]:
            assert (tree / "kubernetes" / entry.split("=", 1)[1]).exists(), entry
    objects = kustomize(tree)
    config_maps = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    claims = {o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"}
    for name, spec in _pod_specs(objects):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for v in volumes.values():
            refs = [v["configMap"]["name"]] if "configMap" in v else [
                s["configMap"]["name"] for s in v.get("projected", {}).get("sources", [])]
            assert set(refs) <= config_maps, f"{name} mounts missing ConfigMaps {set(refs) - config_maps}"
            if "persistentVolumeClaim" in v:
                assert v["persistentVolumeClaim"]["claimName"] in claims
        for c in spec["containers"]:
            mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
            for m in c.get("volumeMounts", []):
                assert m["name"] in volumes or m["name"] == "data", f"{name}: volume {m['name']} undefined"
            for arg in c.get("args", []):
                flag = re.match(r"^--?config\.file=(.+)$", arg)
                if flag:
                    assert _mounted(flag.group(1), mounts), f"{name}: {arg} is not mounted"
            assert "readinessProbe" in c and "livenessProbe" in c, name
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], name
            assert c["securityContext"].get("allowPrivilegeEscalation") is False or name == "cadvisor"
            assert not c["image"].endswith(":latest")


def test_kubernetes_security_contexts_are_restricted(tree: Path) -> None:
    needs(tree, "kubernetes/kustomization.yaml")
    exempt = {"fluentd", "cadvisor"}  # read the nodes' files as root
    for name, spec in _pod_specs(kustomize(tree)):
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        if name in exempt:
            continue
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for c in spec["containers"]:
            assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}, name


def test_kubernetes_alertmanager_cluster_and_dns(tmp_path: Path) -> None:
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(full_spec(False))
    out = tmp_path / "out"
    render_tree(spec, out)
    objects = kustomize(out)
    sts = next(o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "alertmanager")
    svc = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "alertmanager")
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["serviceName"] == "alertmanager"
    assert svc["spec"]["clusterIP"] == "None"
    args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
    assert {a for a in args if a.startswith("--cluster.peer=")} == {
        f"--cluster.peer=alertmanager-{i}.alertmanager:9094" for i in range(3)}
    prom_cfg = yaml.safe_load((out / "kubernetes/config/prometheus/prometheus.yml").read_text())
    targets = prom_cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == [f"alertmanager-{i}.alertmanager:9093" for i in range(3)]
    assert prom_cfg["remote_write"][0]["headers"] == {"X-Scope-OrgID": "shop"}


def test_deploy_list_selects_targets(tmp_path: Path) -> None:
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(SMALL)
    files = render_all(resolve(load_spec(spec)))
    assert "docker-compose.yml" in files and not any(p.startswith("kubernetes/") for p in files)
    spec.write_text(SMALL.replace("deploy: [compose]", "deploy: [kubernetes]"))
    files = render_all(resolve(load_spec(spec)))
    assert "docker-compose.yml" not in files and "kubernetes/kustomization.yaml" in files


# --------------------------------------------------------------------------- grafana.ini settings


def _as_seen(value: str) -> str:
    """What the container sees: compose and Kubernetes both turn `$$` into `$` (and expand a lone `$`)."""
    assert "$" not in value.replace("$$", ""), f"unescaped $ in {value!r}"
    return value.replace("$$", "$")


def test_grafana_settings_become_gf_environment_in_both_targets(tmp_path: Path) -> None:
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(full_spec(False))
    out = tmp_path / "out"
    render_tree(spec, out)
    compose_env = compose_of(out)["services"]["grafana"]["environment"]
    deployment = next(o for o in kustomize(out) if o["kind"] == "Deployment" and o["metadata"]["name"] == "grafana")
    k8s_env = [(e["name"], e["value"]) for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert list(compose_env.items()) == k8s_env  # the same variables, in the same order
    seen = {name: _as_seen(value) for name, value in k8s_env}
    assert {k: v for k, v in seen.items() if k in GRAFANA_ENV} == GRAFANA_ENV
    assert all(isinstance(v, str) for v in compose_env.values())  # YAML would read a bare true as a bool
    settings_order = [k for k, _ in k8s_env if k in GRAFANA_ENV]
    assert settings_order == sorted(GRAFANA_ENV)
    # obsgen's own settings stay unless the spec overrides them
    assert seen["GF_USERS_ALLOW_SIGN_UP"] == "false" and "GF_SECURITY_ADMIN_PASSWORD__FILE" in seen


def test_grafana_setting_overrides_a_default_and_names_follow_grafana(tmp_path: Path) -> None:
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(SMALL.replace("stack: {", 'stack: {grafana: {settings: {users: {allow_sign_up: true}, '
                                             '"auth.github": {allowed_organizations: "a b"}}}, '))
    render_tree(spec, tmp_path / "out")
    env = compose_of(tmp_path / "out")["services"]["grafana"]["environment"]
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "true"
    assert env["GF_AUTH_GITHUB_ALLOWED_ORGANIZATIONS"] == "a b"  # Grafana's own example: [auth.github]
    assert list(env).count("GF_USERS_ALLOW_SIGN_UP") == 1


# --------------------------------------------------------------------------- secrets


def test_no_secret_value_in_any_output(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    paths, values = {}, []
    for i, name in enumerate(SECRET_PATHS):
        value = f"s3cr3t-{name}-{i}-5f1d0c"
        (secrets / name).write_text(value)
        paths[name] = str(secrets / name)
        values.append(value)
    for operator in (False, True):
        spec = tmp_path / "obsgen.yaml"
        spec.write_text(full_spec(operator, paths))
        out = tmp_path / f"out-{operator}"
        files = render_tree(spec, out)
        for rel, text in files.items():
            for value in values:
                assert value not in text, f"{rel} contains a secret value"
        built = "\n".join(yaml.safe_dump(o) for o in kustomize(out))
        assert not any(v in built for v in values)
        assert not any(o["kind"] == "Secret" for o in kustomize(out))


# --------------------------------------------------------------------------- prometheus-operator


def operator_tree(tmp_path: Path) -> Path:
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(full_spec(True))
    out = tmp_path / "out"
    render_tree(spec, out)
    return out


def test_custom_resources_validate_against_crds(tmp_path: Path) -> None:
    objects = [o for o in kustomize(operator_tree(tmp_path)) if o["apiVersion"].startswith("monitoring.coreos.com/")]
    kinds = {o["kind"] for o in objects}
    assert {"PrometheusRule", "PodMonitor", "ServiceMonitor", "Probe", "ScrapeConfig", "AlertmanagerConfig"} <= kinds
    for obj in objects:
        found = crds.object_problems(obj)
        assert found is not None, f"no vendored schema for {obj['apiVersion']} {obj['kind']}"
        errors, unchecked = found
        assert not errors and not unchecked, f"{obj['kind']}/{obj['metadata']['name']}: {errors + unchecked}"
        # obsgen's own Prometheus selects them by these; the release's would by `release`, which they lack
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "obsgen", obj["metadata"]
        assert "release" not in obj["metadata"]["labels"], obj["metadata"]
    results = crds.check_custom_resources(objects)
    assert {r.target.split()[0] for r in results} == kinds and all(r.status == "passed" for r in results), results


def test_prometheus_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = tool("promtool")
    rules = [o for o in kustomize(operator_tree(tmp_path)) if o["kind"] == "PrometheusRule"]
    assert rules
    files = []
    for obj in rules:
        path = tmp_path / f"{obj['metadata']['name']}.yml"
        path.write_text(yaml.safe_dump({"groups": obj["spec"]["groups"]}))
        files.append(str(path))
    result = run(promtool, "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_operator_routing_matches_alertmanager_yml(tmp_path: Path) -> None:
    """The AlertmanagerConfig walks the same tree of receivers and matchers as alertmanager.yml."""
    out = operator_tree(tmp_path)
    amc = next(o for o in kustomize(out) if o["kind"] == "AlertmanagerConfig")
    am = yaml.safe_load((out / "alertmanager/alertmanager.yml").read_text())

    def flat(route: dict[str, Any], camel: bool) -> list[tuple[str, tuple[str, ...]]]:
        matchers = tuple(f'{m["name"]}{m["matchType"]}"{m["value"]}"' for m in route.get("matchers", [])) \
            if camel else tuple(route.get("matchers", []))
        return [(route["receiver"], matchers)] + [x for r in route.get("routes", []) for x in flat(r, camel)]

    assert flat(amc["spec"]["route"], True) == flat(am["route"], False)
    assert [r["name"] for r in amc["spec"]["receivers"]] == [r["name"] for r in am["receivers"]]
    assert kubernetes_operator.matcher('severity=~"warning|info"') == {
        "name": "severity", "matchType": "=~", "value": "warning|info"}
