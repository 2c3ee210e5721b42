"""prometheus-operator mode with `ruler: true` on a Thanos remote_write: a ThanosRuler evaluates the services'
rules instead of the Prometheus resource.

The services' PrometheusRules carry `EVALUATED_BY`; the ThanosRuler selects them by it and the Prometheus
resource leaves them out (operator_stack), so every rule has one evaluator and every alert is sent once.
The stack's own PrometheusRule stays with Prometheus: it watches the Prometheus that would be gone.

The ThanosRuler queries the Thanos Query of `query_url`, evaluates at the spec's evaluation_interval (the one
the generated tests prove), labels its alerts and recordings with the project's external labels, and sends
every alert to every replica of obsgen's Alertmanager, by the pods' names under the operator's governing
Service. Its recordings stay in its own TSDB: Thanos Query must list the ruler's StoreAPI
(`thanos-ruler-operated:10901`) to read them, as the output README says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..model import Model
from . import operator_stack, prometheus
from .compose import PORTS
from .operator_stack import EVALUATED_BY, THANOS_RULER

if TYPE_CHECKING:
    from .kubernetes import Kustomization

Obj = dict[str, Any]
IMAGE = "quay.io/thanos/thanos:v0.41.0"  # prometheus-operator 0.93's default Thanos version
STORE_PORT = 10901  # the ruler's gRPC StoreAPI (`thanos-ruler-operated` Service)


def active(model: Model) -> bool:
    return model.ruler is not None and model.ruler.kind == "thanos"


def rule_labels() -> dict[str, str]:
    """On the services' PrometheusRules: the ThanosRuler's, which the Prometheus resource leaves out."""
    return {EVALUATED_BY: THANOS_RULER}


def alertmanager_urls(model: Model, ns: str) -> list[str]:
    """Every replica of the Alertmanager resource: its pods `alertmanager-<name>-<i>` under the operator's
    headless `alertmanager-operated` Service (a ThanosRuler has no endpoint discovery of a Service)."""
    name = operator_stack.resource_name(model)
    return [f"http://alertmanager-{name}-{i}.alertmanager-operated.{ns}.svc:{PORTS['alertmanager']}"
            for i in range(model.stack.alertmanager.replicas)]


def objects(k: Kustomization) -> list[Obj]:
    model = k.model
    rw = model.ruler
    assert rw is not None and rw.query_url is not None  # validate refuses a Thanos ruler without one
    external = prometheus.config(model)["global"]["external_labels"]
    spec: Obj = {
        "image": IMAGE, "version": IMAGE.rsplit(":", 1)[1], "replicas": 1,
        "queryEndpoints": [rw.query_url],
        "evaluationInterval": model.evaluation_interval,
        "labels": external,
        "ruleSelector": {"matchLabels": {**operator_stack.stack_labels(model), **rule_labels()}},
        "ruleNamespaceSelector": operator_stack.this_namespace(k.ns),
        "alertmanagersUrl": alertmanager_urls(model, k.ns),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "storage": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"],
                                                     "resources": {"requests": {"storage": "10Gi"}}}}},
    }
    return [operator_stack.cr("ThanosRuler", operator_stack.resource_name(model), k, spec)]
