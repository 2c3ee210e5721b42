"""prometheus-operator mode: the `Prometheus` and `Alertmanager` resources (monitoring.coreos.com/v1) obsgen owns.

Every setting of the spec that belongs to Prometheus or Alertmanager themselves is carried here, built from
the very data prometheus.yml and alertmanager.yml are dumped from (`prometheus.config`, `alertmanager.config`):
a key of those the resources cannot carry raises, so a setting added there is never silently lost here.

- **Selection.** Both resources select exactly obsgen's own objects of this project: the labels `cr()` puts
  on every PrometheusRule, monitor and AlertmanagerConfig (`STACK_LABELS`), in this namespace only. The
  release's `release` label is not selected, so the rules and monitors of kube-prometheus-stack stay with
  its own Prometheus (and ours with ours).
- **Alertmanager configuration.** The AlertmanagerConfig obsgen renders is the Alertmanager's whole
  configuration (`alertmanagerConfiguration.name`), with the notification templates and the global
  `resolve_timeout` alertmanager.yml has; `alertmanagerConfigMatcherStrategy` is the spec's, the strategy
  the routing was built and proven for (the AlertmanagerConfig's STRATEGY_ANNOTATION says the same).
- **Secrets** only by reference: remote-write passwords and tokens are keys of the `prometheus-secrets`
  Secret the user creates (the kustomization's header lists them), never values.
- **Addresses.** The operator's governing Services (`prometheus-operated`, `alertmanager-operated`) select
  every Prometheus or Alertmanager pod of the namespace, a release's included; the `prometheus` and
  `alertmanager` Services here select only the pods of these two resources, so Grafana, Loki's ruler and
  Prometheus' alerting keep their addresses and reach only this stack.

- **HA replicas.** `replicas` and `replicaExternalLabelName` (the spec's replica label; the operator sets it
  to each pod's name and drops it from the alerts); the cluster label, the same on every replica, is among
  `externalLabels`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import alertmanager, prometheus
from .compose import IMAGES, PORTS, alertmanager_replicas
from .kubernetes import NAME_LABEL, PROMETHEUS_DISCOVERY_RULES, RESOURCES, STORAGE

if TYPE_CHECKING:
    from ..model import Model
    from .kubernetes import Kustomization

Obj = dict[str, Any]
MONITORING = "monitoring.coreos.com"
INSTANCE_LABEL = "app.kubernetes.io/instance"  # the operator sets it on the pods to the resource's name
PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
NAMESPACE_NAME = "kubernetes.io/metadata.name"  # set on every namespace by Kubernetes itself
SERVICE_ACCOUNT = "prometheus"
SECRET = "prometheus-secrets"
WEB = "web"  # the port name the operator gives both containers and its governing Services
# On PrometheusRules that a ThanosRuler evaluates (render/thanos_ruler.py): the Prometheus resource leaves them out
EVALUATED_BY, THANOS_RULER = "obsgen/evaluated-by", "thanos-ruler"


def stack_labels(model: Model) -> dict[str, str]:
    """The labels on every object obsgen renders for this project (kustomize's labels say the same)."""
    return {PART_OF: model.project, MANAGED_BY: "obsgen"}


def own(model: Model) -> Obj:
    """A label selector matching exactly obsgen's own objects of this project."""
    return {"matchLabels": stack_labels(model)}


def this_namespace(ns: str) -> Obj:
    return {"matchLabels": {NAMESPACE_NAME: ns}}


def resource_name(model: Model) -> str:
    """Name of the Prometheus and of the Alertmanager resource (the operator's pods: `prometheus-<name>-0`)."""
    return model.project


def _image(component: str) -> tuple[str, str]:
    """(image, version) of a component: the images compose and plain Kubernetes run, told to the operator."""
    image = IMAGES[component]
    return image, image.rsplit(":", 1)[1]


def _resources(component: str) -> Obj:
    cpu, memory, limit = RESOURCES[component]
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit}}


def _storage(component: str) -> Obj:
    return {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"],
                                             "resources": {"requests": {"storage": STORAGE[component]}}}}}


def cr(kind: str, name: str, k: Kustomization, spec: Obj, version: str = "v1") -> Obj:
    # not the release's `release` label: its own Prometheus and Alertmanager, if enabled, would load these too
    labels = stack_labels(k.model)
    return {"apiVersion": f"{MONITORING}/{version}", "kind": kind,
            "metadata": {"name": name, "labels": labels}, "spec": spec}


def selector_service(k: Kustomization, component: str) -> Obj:
    """`prometheus` or `alertmanager`: a Service in front of the pods of this stack's resource only."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": component, "labels": {NAME_LABEL: component, **stack_labels(k.model)}},
            "spec": {"selector": {NAME_LABEL: component, INSTANCE_LABEL: resource_name(k.model)},
                     "ports": [{"name": WEB, "port": PORTS[component], "targetPort": WEB}]}}


# --------------------------------------------------------------------------- Prometheus


class _Secrets:
    """Keys of the `prometheus-secrets` Secret that the Prometheus resource references."""

    def __init__(self, k: Kustomization) -> None:
        self.k = k

    def file(self, path: str) -> Obj:
        """The key holding the file a spec's `*_file` names (the kustomization's header says how to create it)."""
        self.k.secret_users.add("prometheus")
        return {"name": SECRET, "key": self.k.keys[path]}

    def username(self, queue: str, username: str) -> Obj:
        """basicAuth takes the user name from a Secret too: a key the header lists beside the password's."""
        key = f"remote-write-{queue}-username"
        if key in self.k.keys.values():
            key = f"{key}-{len(self.k.keys)}"
        what = f"remote_write {queue} user name ({username})"
        self.k.keys.setdefault(what, key)
        paths = self.k.secrets.setdefault("prometheus", [])
        if what not in paths:
            paths.append(what)
        self.k.secret_users.add("prometheus")
        return {"name": SECRET, "key": self.k.keys[what]}


def remote_write(rw: Obj, secrets: _Secrets) -> Obj:
    """One `remote_write` entry of prometheus.yml as the resource's `remoteWrite`, credentials by reference."""
    rw = dict(rw)
    out: Obj = {"name": rw.pop("name"), "url": rw.pop("url")}
    if "headers" in rw:
        out["headers"] = rw.pop("headers")  # the tenant's header among them (X-Scope-OrgID, THANOS-TENANT)
    if "basic_auth" in rw:
        auth = rw.pop("basic_auth")
        out["basicAuth"] = {"username": secrets.username(out["name"], auth["username"]),
                            "password": secrets.file(auth["password_file"])}
    if "authorization" in rw:
        auth = rw.pop("authorization")
        out["authorization"] = {"type": auth["type"], "credentials": secrets.file(auth["credentials_file"])}
    if "tls_config" in rw:  # the files as keys of the Secret, as the CRD's SecretOrConfigMap and keySecret take them
        tls, spec = dict(rw.pop("tls_config")), {}
        for key, field in (("ca_file", "ca"), ("cert_file", "cert")):
            if key in tls:
                spec[field] = {"secret": secrets.file(tls.pop(key))}
        if "key_file" in tls:
            spec["keySecret"] = secrets.file(tls.pop("key_file"))
        for key, field in (("server_name", "serverName"), ("min_version", "minVersion")):
            if key in tls:
                spec[field] = tls.pop(key)
        if tls:
            raise ValueError(f"remote_write {out['name']}: tls_config {', '.join(sorted(tls))} not carried")
        out["tlsConfig"] = spec
    if rw:
        raise ValueError(f"remote_write {out['name']}: {', '.join(sorted(rw))} not carried to the Prometheus resource")
    return out


def prometheus_spec(k: Kustomization) -> Obj:
    """The Prometheus resource's spec, from prometheus.yml's data."""
    model = k.model
    cfg = prometheus.config(model)
    glob = dict(cfg["global"])
    image, version = _image("prometheus")
    replicas = len(model.prometheus_replicas)
    spec: Obj = {"image": image, "version": version, "replicas": replicas, "serviceAccountName": SERVICE_ACCOUNT,
                 "retention": model.retention,
                 "scrapeInterval": glob.pop("scrape_interval"),
                 "evaluationInterval": glob.pop("evaluation_interval")}
    if "scrape_timeout" in glob:
        spec["scrapeTimeout"] = glob.pop("scrape_timeout")
    spec["externalLabels"] = glob.pop("external_labels")
    if glob.pop("always_scrape_classic_histograms", False):  # a latency_native SLO's native histograms
        spec["enableFeatures"] = [prometheus.NATIVE_HISTOGRAMS.removeprefix("--enable-feature=")]
        spec["scrapeClassicHistograms"] = True
    if model.replica_label:
        # the operator sets it to each pod's name and drops it from the alerts (alert_relabel_configs), as
        # prometheus.yml's alerting does
        spec["replicaExternalLabelName"] = model.replica_label
    if cfg["alerting"].get("alert_relabel_configs", []) != (
            [{"action": "labeldrop", "regex": model.replica_label}] if model.replica_label else []):
        raise ValueError("prometheus.yml's alert_relabel_configs not carried to the Prometheus resource")
    if glob:
        raise ValueError(f"prometheus.yml's global {', '.join(sorted(glob))} not carried to the Prometheus resource")
    secrets = _Secrets(k)
    if cfg.get("remote_write"):
        spec["remoteWrite"] = [remote_write(rw, secrets) for rw in cfg["remote_write"]]
    selected, ns = own(model), this_namespace(k.ns)
    for kind in ("rule", "serviceMonitor", "podMonitor", "probe", "scrapeConfig"):
        spec[f"{kind}Selector"] = selected
        spec[f"{kind}NamespaceSelector"] = ns
    if model.ruler is not None and model.ruler.kind == "thanos":
        spec["ruleSelector"] = {**selected, "matchExpressions": [{"key": EVALUATED_BY, "operator": "DoesNotExist"}]}
    # every replica behind the Service: Prometheus discovers its endpoints and sends each alert to all
    spec["alerting"] = {"alertmanagers": [{"name": "alertmanager", "namespace": k.ns, "port": WEB,
                                           "apiVersion": "v2"}]}
    spec["resources"] = _resources("prometheus")
    spec["storage"] = _storage("prometheus")
    return spec


def prometheus_objects(k: Kustomization) -> list[Obj]:
    """The Prometheus resource, its Service, and the service account its discovery runs as."""
    name = resource_name(k.model)
    cluster_name = f"{k.model.project}-{k.ns}-prometheus"  # cluster-wide: unique per stack
    meta = {"name": cluster_name, "labels": {NAME_LABEL: "prometheus"}}
    rules = PROMETHEUS_DISCOVERY_RULES
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": SERVICE_ACCOUNT, "labels": {NAME_LABEL: "prometheus"}}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_name},
         "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": k.ns}]},
        selector_service(k, "prometheus"),
        cr("Prometheus", name, k, prometheus_spec(k)),
    ]


# --------------------------------------------------------------------------- Alertmanager


def alertmanager_spec(k: Kustomization, config_name: str, templates: list[str]) -> Obj:
    """The Alertmanager resource's spec: the AlertmanagerConfig `config_name` as its whole configuration,
    with alertmanager.yml's global settings and the notification templates (keys of the
    `alertmanager-templates` ConfigMap)."""
    model = k.model
    glob = dict(alertmanager.config(model)["global"])
    global_config: Obj = {"resolveTimeout": glob.pop("resolve_timeout")}
    # SMTP settings ride on every e-mail receiver of the AlertmanagerConfig (kubernetes_operator._Receivers)
    glob = {key: v for key, v in glob.items() if not key.startswith("smtp_")}
    if glob:
        raise ValueError(f"alertmanager.yml's global {', '.join(sorted(glob))} not carried to the Alertmanager "
                         "resource")
    image, version = _image("alertmanager")
    spec: Obj = {"image": image, "version": version, "replicas": len(alertmanager_replicas(model))}
    if model.spec.project.alertmanager_url:
        spec["externalUrl"] = model.spec.project.alertmanager_url
    spec["alertmanagerConfiguration"] = {
        "name": config_name, "global": global_config,
        "templates": [{"configMap": {"name": "alertmanager-templates", "key": key}} for key in templates]}
    spec["alertmanagerConfigSelector"] = own(model)
    spec["alertmanagerConfigNamespaceSelector"] = this_namespace(k.ns)
    spec["alertmanagerConfigMatcherStrategy"] = {"type": model.stack.kubernetes.alertmanager_config_matcher_strategy}
    spec["resources"] = _resources("alertmanager")
    spec["storage"] = _storage("alertmanager")
    return spec


def alertmanager_objects(k: Kustomization, config_name: str, templates: list[str]) -> list[Obj]:
    return [selector_service(k, "alertmanager"),
            cr("Alertmanager", resource_name(k.model), k, alertmanager_spec(k, config_name, templates))]
