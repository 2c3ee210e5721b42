"""Prometheus in HA pairs (`stack.prometheus.replicas`), read back from every deploy target.

The quickstart (remote_write to Mimir) with two Prometheus replicas and three Alertmanagers:
- compose runs two Prometheus services, each its own prometheus-<i>.yml, equal to the shared prometheus.yml
  but for a replica label of its own, the same rules folder, its own volume; promtool checks each config;
- each Prometheus sends to every Alertmanager replica, without its replica label, and every Alertmanager
  lists every other as a peer;
- plain Kubernetes: a StatefulSet of two pods, the replica label `${POD_NAME}` from the downward API with
  expand-external-labels, a PodDisruptionBudget; kustomize and kubernetes-validate --strict pass;
- operator mode: the Prometheus resource's `replicas` and `replicaExternalLabelName`, valid against its CRD;
- the labels follow the downstream (Mimir/Cortex HA tracker, Thanos), and what cannot work is refused;
- live: real Prometheus servers run the rendered configs; their federation endpoint shows each replica's
  own label (the Kubernetes one expanded from POD_NAME), and a real Alertmanager holds one alert from both.
"""

from __future__ import annotations

import copy
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, require_tool, write_tree
from e2e_support import Server, free_port, get_json, runnable_alertmanager, wait_until

from obsgen import check, crds
from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.spec import load_spec_text
from obsgen.spec.errors import SpecError

REPLICAS = ["prometheus-0", "prometheus-1"]
ALERTMANAGERS = ["alertmanager-0", "alertmanager-1", "alertmanager-2"]


def quickstart(**prometheus: Any) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    data["stack"]["deploy"] = ["compose", "kubernetes"]
    data["stack"]["alertmanager"] = {"replicas": 3}
    data["stack"]["prometheus"].update({"replicas": 2, **prometheus})
    return data


def render(data: dict[str, Any]) -> dict[str, str]:
    return render_all(resolve(load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml"), "obsgen.yaml"))


def refusals(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as e:
        load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml")
    return e.value.lines()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("ha"), render(quickstart()))


def kustomize(out: Path) -> list[dict[str, Any]]:
    proc = subprocess.run([require_tool("kubectl"), "kustomize", str(out / "kubernetes")], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.load_all(proc.stdout, Loader=crds.Loader) if d]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def load(out: Path, rel: str) -> dict[str, Any]:
    return dict(yaml.safe_load((out / rel).read_text()))


# --------------------------------------------------------------------------- the replicas, read back


def replica_problems(out: Path) -> list[str]:
    """What is wrong with the compose replicas of an output: each must run its own prometheus-<i>.yml, which
    is the shared prometheus.yml plus a replica label of its own, the same rules folder and its own volume."""
    compose = load(out, "docker-compose.yml")["services"]
    shared = load(out, "prometheus/prometheus.yml")
    problems, labels, volumes, rules = [], {}, set(), set()
    for name in REPLICAS:
        mounts = {m["target"]: m["source"] for m in compose[name]["volumes"]}
        config = mounts["/etc/prometheus/prometheus.yml"].removeprefix("./")
        if config != f"prometheus/{name}.yml":
            problems.append(f"{name} runs {config}")
        cfg = load(out, config)
        external = cfg["global"]["external_labels"]
        labels[name] = external.pop("__replica__", None)
        if cfg != shared:
            problems.append(f"{config} differs from prometheus.yml in more than its replica label")
        rules.add(mounts["/etc/prometheus/rules"])
        volumes.add(mounts["/prometheus"])
    if sorted(v for v in labels.values() if v) != sorted(set(REPLICAS)) or len(set(labels.values())) != len(labels):
        problems.append(f"the replicas' labels are not one each: {labels}")
    if rules != {"./prometheus/rules"}:
        problems.append(f"the replicas load different rules: {sorted(rules)}")
    if len(volumes) != len(REPLICAS):
        problems.append(f"the replicas share a volume: {sorted(volumes)}")
    return problems


def test_compose_runs_two_replicas_differing_only_in_their_replica_label(tree: Path) -> None:
    assert replica_problems(tree) == []
    services = load(tree, "docker-compose.yml")["services"]
    assert "prometheus" not in services
    assert [services[r]["ports"] for r in REPLICAS] == [["127.0.0.1:9090:9090"], ["127.0.0.1:9190:9090"]]
    assert all(services[r]["networks"]["default"]["aliases"] == ["prometheus"] for r in REPLICAS)  # Grafana's
    assert set(REPLICAS) <= set(services["grafana"]["depends_on"])
    shared = load(tree, "prometheus/prometheus.yml")["global"]["external_labels"]
    assert shared == {"cluster": "eu-1", "environment": "production"}  # Mimir's HA tracker group: the spec's own


def test_a_broken_replica_is_found(tree: Path, tmp_path: Path) -> None:
    """The proof above fails when both replicas carry one label, or one runs the other's config."""
    same = write_tree(tmp_path / "same", {p.relative_to(tree).as_posix(): p.read_text()
                                          for p in tree.rglob("*") if p.is_file() and "kubernetes" not in p.parts})
    (same / "prometheus/prometheus-1.yml").write_text((same / "prometheus/prometheus-0.yml").read_text())
    assert any("not one each" in p for p in replica_problems(same))
    compose = load(same, "docker-compose.yml")
    compose["services"]["prometheus-1"]["volumes"][0]["source"] = "./prometheus/prometheus-0.yml"
    (same / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    assert "prometheus-1 runs prometheus/prometheus-0.yml" in replica_problems(same)


def test_promtool_checks_each_replicas_config(tree: Path, promtool: str) -> None:
    configs = ["prometheus/prometheus.yml", *(f"prometheus/{r}.yml" for r in REPLICAS)]
    proc = subprocess.run([promtool, "check", "config", *configs], cwd=tree, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(f"Checking {c}" in proc.stdout + proc.stderr for c in configs)


def test_obsgen_check_checks_each_replicas_config(tree: Path, tmp_path: Path, promtool: str) -> None:
    result = check.prometheus_configs(tree)
    assert result.status == "passed" and set(result.files) == {
        "prometheus/prometheus.yml", "prometheus/prometheus-0.yml", "prometheus/prometheus-1.yml"}, result
    broken = write_tree(tmp_path, {p.relative_to(tree).as_posix(): p.read_text()
                                   for p in (tree / "prometheus").rglob("*") if p.is_file()})
    cfg = load(broken, "prometheus/prometheus-1.yml")
    cfg["global"]["scrape_timeout"] = "1h"  # longer than the interval: promtool refuses it
    (broken / "prometheus/prometheus-1.yml").write_text(yaml.safe_dump(cfg))
    result = check.prometheus_configs(broken)
    assert result.status == "failed" and "prometheus-1.yml" in result.output, result


def test_every_prometheus_sends_to_every_alertmanager_without_its_replica_label(tree: Path) -> None:
    services = load(tree, "docker-compose.yml")["services"]
    for name in REPLICAS:
        cfg = load(tree, f"prometheus/{name}.yml")
        (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "prometheus"]
        assert job["static_configs"] == [{"targets": [f"{r}:9090" for r in REPLICAS]}]  # each scrapes both
        alerting = cfg["alerting"]
        assert alerting["alertmanagers"][0]["static_configs"][0]["targets"] == [
            f"{a}.alertmanager:9093" for a in ALERTMANAGERS]
        assert alerting["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "__replica__"}]
    for name in ALERTMANAGERS:  # every other replica is a peer
        peers = {a.split("=", 1)[1] for a in services[name]["command"] if a.startswith("--cluster.peer=")}
        assert peers == {f"{a}.alertmanager:9094" for a in ALERTMANAGERS if a != name}


def test_kubernetes_runs_a_statefulset_of_replicas_named_by_their_pods(tree: Path, tmp_path: Path) -> None:
    objects = kustomize(tree)
    prom = one(objects, "StatefulSet", "prometheus")
    assert prom["spec"]["replicas"] == 2
    (c,) = prom["spec"]["template"]["spec"]["containers"]
    assert "--enable-feature=expand-external-labels" in c["args"]
    assert c["env"] == [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    config_map = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(
        "prometheus-config"))
    cfg = yaml.safe_load(config_map["data"]["prometheus.yml"])
    assert cfg["global"]["external_labels"] == {"__replica__": "${POD_NAME}", "cluster": "eu-1",
                                                "environment": "production"}
    assert cfg["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "__replica__"}]
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "prometheus"]  # every pod, found by discovery
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["monitoring"]}}]
    assert job["relabel_configs"][:2] == [
        {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "regex": "prometheus",
         "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "web", "action": "keep"}]
    assert {"name": "web", "containerPort": 9090} in c["ports"]
    pdb = one(objects, "PodDisruptionBudget", "prometheus")
    assert pdb["spec"] == {"maxUnavailable": 1,
                           "selector": {"matchLabels": prom["spec"]["selector"]["matchLabels"]}}
    am = one(objects, "StatefulSet", "alertmanager")
    assert am["spec"]["replicas"] == 3
    peers = [a for a in am["spec"]["template"]["spec"]["containers"][0]["args"] if a.startswith("--cluster.peer=")]
    assert peers == [f"--cluster.peer={a}.alertmanager:9094" for a in ALERTMANAGERS]
    manifest = tmp_path / "built.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    proc = subprocess.run([require_tool("kubernetes-validate"), "--strict", "--quiet", str(manifest)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "WARN" not in proc.stdout, proc.stdout + proc.stderr


def test_operator_mode_sets_replicas_and_the_replica_label(tmp_path: Path) -> None:
    data = quickstart()
    data["stack"]["deploy"] = ["kubernetes"]
    data["stack"]["kubernetes"] = {"prometheus_operator": True}
    data["routing"]["quiet_hours"]["timezone"] = "Etc/GMT-1"  # operator mode has no time zones
    objects = kustomize(write_tree(tmp_path, render(data)))
    spec = one(objects, "Prometheus")["spec"]
    assert spec["replicas"] == 2 and spec["replicaExternalLabelName"] == "__replica__"
    assert spec["externalLabels"] == {"cluster": "eu-1", "environment": "production"}
    assert one(objects, "Alertmanager")["spec"]["replicas"] == 3
    results = crds.check_custom_resources(objects)
    assert {"Prometheus", "Alertmanager"} <= {r.target.split()[0] for r in results}
    assert all(r.status == "passed" for r in results), results


def test_one_replica_renders_as_before() -> None:
    data = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    explicit = copy.deepcopy(data)
    explicit["stack"]["prometheus"]["replicas"] = 1
    assert render(explicit) == render(data)


def test_the_output_readme_says_what_to_set_downstream(tree: Path, tmp_path: Path) -> None:
    readme = (tree / "README.md").read_text()
    assert "-distributor.ha-tracker.enable=true" in readme
    assert "-distributor.ha-tracker.cluster=cluster" in readme and "-distributor.ha-tracker.replica=__replica__" in readme
    assert "--query.replica-label" not in readme
    data = quickstart()
    data["stack"]["prometheus"]["remote_write"] = [
        {"name": "thanos", "kind": "thanos", "url": "https://thanos.example.com/api/v1/receive"}]
    readme = render(data)["README.md"]
    assert "thanos query --query.replica-label=replica" in readme
    assert "thanos compact --deduplication.replica-label=replica --deduplication.func=penalty" in readme
    assert "ha-tracker" not in readme


# --------------------------------------------------------------------------- the labels and what is refused


def test_the_labels_follow_the_downstream() -> None:
    def labels(**prometheus: Any) -> dict[str, Any]:
        data = quickstart(**prometheus)
        data["project"]["external_labels"] = {}
        return yaml.safe_load(render(data)["prometheus/prometheus-1.yml"])["global"]["external_labels"]

    assert labels() == {"__replica__": "prometheus-1", "cluster": "shop/production", "environment": "production"}
    thanos = [{"name": "thanos", "kind": "thanos", "url": "https://thanos.example.com/api/v1/receive"}]
    assert labels(remote_write=thanos) == {"replica": "prometheus-1", "environment": "production"}
    assert labels(remote_write=[]) == {"replica": "prometheus-1", "environment": "production"}
    assert labels(replica_label="prometheus_replica", cluster_label="prometheus_group") == {
        "prometheus_replica": "prometheus-1", "prometheus_group": "shop/production", "environment": "production"}


def test_what_cannot_work_is_refused_at_its_place() -> None:
    data = quickstart()
    data["project"]["external_labels"]["__replica__"] = "a"
    data["services"][0]["scrape"]["labels"] = {"cluster": "x"}
    data["services"][0]["labels"] = {"__replica__": "x"}
    lines = refusals(data)
    assert any("project.external_labels.__replica__: `__replica__` is the replica label" in line for line in lines)
    assert any("services[0].scrape.labels.cluster: `cluster` is an external label of the Prometheus replicas"
               in line for line in lines), lines
    assert any("services[0].labels.__replica__: `__replica__` is the replica label" in line for line in lines)
    assert all(":" in line.split(" ")[0] for line in lines), lines  # located at file:line:col

    data = quickstart(replica_label="environment")
    assert any("stack.prometheus.replica_label: `environment` is obsgen's external label" in line
               for line in refusals(data))
    data = quickstart(replica_label="cluster")
    assert any("stack.prometheus.replica_label: `cluster` would name both" in line for line in refusals(data))
    data = quickstart()
    data["stack"]["prometheus"]["remote_write"].append(
        {"name": "thanos", "kind": "thanos", "url": "https://thanos.example.com/api/v1/receive"})
    assert any("stack.prometheus.replicas: the replicas remote-write to Mimir or Cortex" in line
               for line in refusals(data))
    data["stack"]["prometheus"]["replica_label"] = "__replica__"  # the user says which: fine
    load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml")
    data = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    data["stack"]["prometheus"]["replica_label"] = "replica"  # one Prometheus: no effect
    assert any("stack.prometheus.replica_label: names an external label of Prometheus HA replicas, and there "
               "is one Prometheus" in line for line in refusals(data))
    data = quickstart(cluster_label="prometheus")
    data["stack"]["kubernetes"] = {"prometheus_operator": True}
    data["routing"]["quiet_hours"]["timezone"] = "Etc/GMT-1"
    assert any("stack.prometheus.cluster_label: prometheus-operator sets the external label `prometheus`" in line
               for line in refusals(data))


def test_a_refusal_is_exit_2_without_a_traceback(tmp_path: Path) -> None:
    data = quickstart()
    data["project"]["external_labels"]["__replica__"] = "a"
    spec = tmp_path / "obsgen.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "obsgen", "validate", str(spec)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout
    assert "project.external_labels.__replica__" in proc.stderr + proc.stdout


# --------------------------------------------------------------------------- live


def federated(server: Server) -> list[str]:
    query = urllib.parse.urlencode({"match[]": 'up{job="prometheus"}'})
    with urllib.request.urlopen(f"{server.url}/federate?{query}", timeout=5) as resp:
        return [line for line in resp.read().decode().splitlines() if line.startswith("up{")]


def live_config(cfg: dict[str, Any], addresses: dict[str, str], own: str, alertmanager: str) -> dict[str, Any]:
    """A rendered config run on 127.0.0.1, every second: its `prometheus` job's targets (the replicas, by
    their names; `own` for a job found by Kubernetes discovery) at the test's `addresses`, the test's
    Alertmanager; the rules and the external labels (and their relabelling) as rendered."""
    cfg = copy.deepcopy(cfg)
    cfg["global"].update(scrape_interval="1s", evaluation_interval="1s")
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "prometheus"]
    if "static_configs" in job:
        targets = [addresses[t.rsplit(":", 1)[0]] for t in job["static_configs"][0]["targets"]]
    else:
        targets = [addresses[own]]
    cfg["scrape_configs"] = [{"job_name": "prometheus", "static_configs": [{"targets": targets}]}]
    cfg["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [alertmanager]}]
    cfg.pop("remote_write", None)
    return cfg


def test_real_replicas_carry_their_own_label_and_alertmanager_holds_one_alert(tmp_path: Path) -> None:
    prometheus = require_tool("prometheus")
    out = write_tree(tmp_path / "out", render(quickstart()))
    work = tmp_path / "am"
    work.mkdir()
    am_port = free_port()
    (work / "am.yml").write_text(yaml.safe_dump({"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}))
    binary = runnable_alertmanager(require_tool("alertmanager"), work)
    servers = [Server([binary, "--config.file=am.yml", f"--web.listen-address=127.0.0.1:{am_port}",
                       "--storage.path=data", "--cluster.listen-address="], am_port, tmp_path / "am.log", cwd=work)]
    k8s = yaml.safe_load((out / "kubernetes/config/prometheus/prometheus.yml").read_text())
    runs = [(name, load(out, f"prometheus/{name}.yml"), [], {}) for name in REPLICAS]
    # the Kubernetes config, as the pod `prometheus-7` of the StatefulSet would run it
    runs.append(("prometheus-7", k8s, ["--enable-feature=expand-external-labels"], {"POD_NAME": "prometheus-7"}))
    try:
        servers[0].wait_ready()
        proms = []
        ports = {name: free_port() for name, *_ in runs}
        addresses = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
        for name, cfg, flags, env in runs:
            port = ports[name]
            path = out / f"prometheus/live-{name}.yml"  # beside rules/, which the config names relatively
            path.write_text(yaml.safe_dump(live_config(cfg, addresses, name, f"127.0.0.1:{am_port}")))
            server = Server(["env", *(f"{k}={v}" for k, v in env.items()), prometheus, f"--config.file={path}",
                             f"--storage.tsdb.path={tmp_path / name}", f"--web.listen-address=127.0.0.1:{port}",
                             # alerts fired before the Alertmanager is discovered are resent after this
                             # delay, a minute by default (as in test_e2e)
                             "--rules.alert.resend-delay=2s", *flags], port, tmp_path / f"{name}.log")
            servers.append(server)
            proms.append((name, server))
        for _, server in proms:
            server.wait_ready()
        scraped = {"prometheus-0": REPLICAS, "prometheus-1": REPLICAS, "prometheus-7": ["prometheus-7"]}
        for name, server in proms:
            # every compose replica scrapes both: the federated `up` is one series per replica scraped,
            # each with this server's own replica label
            want = {addresses[r] for r in scraped[name]}
            assert wait_until(lambda s=server, n=len(want): len(federated(s)) == n, 20), server.log_tail()
            lines = federated(server)
            assert {line.split('instance="', 1)[1].split('"', 1)[0] for line in lines} == want, lines
            assert all(f'__replica__="{name}"' in line and 'cluster="eu-1"' in line for line in lines), lines
        rules = [get_json(f"{s.url}/api/v1/rules")["data"]["groups"] for _, s in proms]
        names = [[(g["file"].rsplit("/", 1)[1], g["name"], [r["query"] for r in g["rules"]]) for g in groups]
                 for groups in rules]
        assert names[0] == names[1] == names[2] and len(names[0]) > 3

        def watchdogs() -> list[dict[str, Any]]:
            alerts = get_json(f"{servers[0].url}/api/v2/alerts")
            return [a for a in alerts if a["labels"]["alertname"] == "Watchdog"]

        def sent(server: Server) -> float:
            result = get_json(f"{server.url}/api/v1/query?query=prometheus_notifications_sent_total")["data"]["result"]
            return float(result[0]["value"][1]) if result else 0.0

        def sent_by_all() -> bool:
            return all(sent(s) > 0 for _, s in proms)

        assert wait_until(sent_by_all, 30), [s.log_tail() for _, s in proms]
        (watchdog,) = watchdogs()  # three Prometheus fired it: one alert at Alertmanager
        assert "__replica__" not in watchdog["labels"] and watchdog["labels"]["cluster"] == "eu-1"
    finally:
        for server in servers:
            server.stop()
