"""Loki: loki/loki.yml (single binary, filesystem storage) and the ruler's LogQL alert files.

Auth is off, so every log line and rule belongs to Loki's single tenant `fake`; the ruler reads its
rule files from `<RULES_DIR>/fake/`, which is where compose and Kubernetes mount `loki/rules/fake/`.
"""

from __future__ import annotations

from typing import Any

from ..model import LogAlertModel, Model, ServiceModel
from .common import dump_yaml
from .prometheus import ALERTMANAGER_PORT, _annotations

TENANT = "fake"  # Loki's tenant when auth_enabled is false
HTTP_PORT = 3100
CONFIG_PATH = "/etc/loki/loki.yml"  # where the deploy targets mount loki/loki.yml
RULES_DIR = "/etc/loki/rules"  # where they mount loki/rules/
DATA_DIR = "/loki"  # a persistent volume: chunks, index, compactor state
SCHEMA_FROM = "2024-01-01"  # first day of the v13 schema; fixed so output never depends on the clock


def render(model: Model, keep: frozenset[str] = frozenset()) -> dict[str, str]:
    """Every file, but the rule files of the services in `keep` (the caller has them)."""
    files = {"loki/loki.yml": dump_yaml(config(model), spec=model.source)}
    for svc in model.services:
        if svc.name not in keep:
            files.update(service_files(model, svc))
    return files


def service_files(model: Model, svc: ServiceModel) -> dict[str, str]:
    """The service's LogQL rule file, when it has log alerts."""
    if not svc.log_alerts:
        return {}
    return {f"loki/rules/{TENANT}/{svc.name}.yml": dump_yaml({"groups": rule_groups(svc)}, spec=model.source)}


def config(model: Model) -> dict[str, Any]:
    retention = model.stack.loki.retention
    ruler: dict[str, Any] = {
        "storage": {"type": "local", "local": {"directory": RULES_DIR}},
        "rule_path": f"{DATA_DIR}/rules-temp",
        "alertmanager_url": f"http://alertmanager:{ALERTMANAGER_PORT}",
        "enable_alertmanager_v2": True,
        "enable_api": True,
        "ring": {"kvstore": {"store": "inmemory"}},
    }
    if model.spec.project.grafana_url:
        ruler["external_url"] = model.spec.project.grafana_url
    if model.spec.project.external_labels:
        # the labels Prometheus adds to its alerts, so Alertmanager routes both kinds alike
        ruler["external_labels"] = dict(model.spec.project.external_labels)
    return {
        "auth_enabled": False,
        "server": {"http_listen_port": HTTP_PORT, "grpc_listen_port": 9096, "log_level": "info"},
        "common": {
            "instance_addr": "127.0.0.1",
            "path_prefix": DATA_DIR,
            "storage": {"filesystem": {"chunks_directory": f"{DATA_DIR}/chunks",
                                       "rules_directory": f"{DATA_DIR}/rules"}},
            "replication_factor": 1,
            "ring": {"kvstore": {"store": "inmemory"}},
        },
        "schema_config": {"configs": [{
            "from": SCHEMA_FROM,
            "store": "tsdb",
            "object_store": "filesystem",
            "schema": "v13",
            "index": {"prefix": "index_", "period": "24h"},
        }]},
        "limits_config": {
            "retention_period": retention,
            # Fluentd's Loki output drops what Loki rejects with a 4xx: accept late lines for as long as
            # they are kept, and truncate an over-long line instead of refusing it.
            "reject_old_samples": True,
            "reject_old_samples_max_age": retention,
            "max_line_size": "256KB",
            "max_line_size_truncate": True,
            "allow_structured_metadata": True,
            "volume_enabled": True,
        },
        "compactor": {
            "working_directory": f"{DATA_DIR}/compactor",
            "compaction_interval": "10m",
            "retention_enabled": True,
            "retention_delete_delay": "2h",
            "delete_request_store": "filesystem",
        },
        "ruler": ruler,
        "analytics": {"reporting_enabled": False},
    }


def rule_groups(svc: ServiceModel) -> list[dict[str, Any]]:
    return [{"name": f"{svc.name}-logs", "rules": [_rule(svc, a) for a in svc.log_alerts]}]


def _rule(svc: ServiceModel, a: LogAlertModel) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": a.alert, "expr": a.expr}
    if a.for_:
        rule["for"] = a.for_
    rule["labels"] = {"severity": a.severity, **svc.labels}
    rule["annotations"] = _annotations(svc, a.alert, a.summary, a.description, a.runbook_url)
    return rule
