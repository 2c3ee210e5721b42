"""The blackbox exporter's probes of the services' health checks: for each check its prober kind, target,
module (named after its settings) and scrape job, and the modules of blackbox.yml.

A module's name is a function of its settings alone, so the same check gets the same module in every spec
and two checks with different settings never share one: the settings-free ones have fixed names (the
exporter's stock `http_2xx` and `icmp`, `tcp_connect`), the others end in a digest of their settings.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from .naming import derived_alert_name
from .spec.models import PROBE_KINDS, HealthCheck
from .stack_targets import PROBE_JOBS

# What each kind is called in a sentence and in an alert name.
KIND_TEXT = {"http": "HTTP", "tcp": "TCP", "icmp": "ICMP", "dns": "DNS", "grpc": "gRPC"}
# The options of a check and the kinds that read them.
OPTIONS = {"tls": ("tcp", "grpc"), "service": ("grpc",), "query_name": ("dns",), "query_type": ("dns",),
           "answer": ("dns",), "rcode": ("dns",)}


@dataclass(frozen=True)
class Probe:
    kind: str  # http | tcp | icmp | dns | grpc
    target: str  # what the exporter is given as ?target= (the series' `instance`)
    module: str
    settings: str  # the module's body in blackbox.yml, as JSON (hashable, in the order blackbox.yml shows)
    for_: str | None  # the check's own `for`, else the service's down_for applies
    index: int  # its place in the service's `health`

    @property
    def job(self) -> str:
        return PROBE_JOBS[self.kind]

    def series_labels(self, service: str) -> dict[str, str]:
        """The labels of its probe_success series as the scrape job sets them: job, instance and the target
        labels (an http probe's job passes its module as a parameter, the others' as a `module` label)."""
        labels = {"job": self.job, "service": service, "instance": self.target}
        if self.kind != "http":
            labels["module"] = self.module
        return labels


def checks(health: HealthCheck | list[HealthCheck] | None) -> list[HealthCheck]:
    if health is None:
        return []
    return [health] if isinstance(health, HealthCheck) else list(health)


def kind_of(check: HealthCheck) -> str | None:
    """The check's prober kind, None unless exactly one is named."""
    named = [k for k in PROBE_KINDS if getattr(check, k) is not None]
    return named[0] if len(named) == 1 else None


def alert_name(service: str, kind: str) -> str:
    """<Service>HealthCheckFailing for an HTTP check (the name it always had), <Service><Kind>CheckFailing else."""
    return derived_alert_name(service, "", "HealthCheckFailing" if kind == "http" else f"{kind.title()}CheckFailing")


def module_body(check: HealthCheck, kind: str) -> dict[str, Any]:
    """The module of blackbox.yml probing like `check` (every prober asks for IPv4 first, as the stock
    http_2xx does)."""
    if kind == "http":
        return {"prober": "http", "http": {"preferred_ip_protocol": "ip4"}}
    if kind == "icmp":
        return {"prober": "icmp", "icmp": {"preferred_ip_protocol": "ip4"}}
    if kind == "tcp":
        return {"prober": "tcp", "tcp": {"preferred_ip_protocol": "ip4", **({"tls": True} if check.tls else {})}}
    if kind == "grpc":
        grpc: dict[str, Any] = {"preferred_ip_protocol": "ip4", "tls": bool(check.tls)}
        if check.service:
            grpc["service"] = check.service
        return {"prober": "grpc", "grpc": grpc}
    dns: dict[str, Any] = {"query_name": check.query_name, "query_type": check.query_type or "A",
                           "transport_protocol": "udp", "preferred_ip_protocol": "ip4",
                           "valid_rcodes": [check.rcode or "NOERROR"]}
    if check.answer is not None:
        dns["validate_answer_rrs"] = {"fail_if_none_matches_regexp": [check.answer]}
    return {"prober": "dns", "dns": dns}


def module_name(check: HealthCheck, kind: str, body: dict[str, Any]) -> str:
    if kind == "http":
        return "http_2xx"
    if kind == "icmp":
        return "icmp"
    if kind == "tcp":
        return "tcp_tls" if check.tls else "tcp_connect"
    if kind == "grpc" and not check.service:
        return "grpc_tls" if check.tls else "grpc"
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    if kind == "grpc":
        readable = f"grpc{'_tls' if check.tls else ''}_{_word(check.service or '')}"
    else:
        readable = f"dns_{(check.query_type or 'A').lower()}_{_word(check.query_name or '')}"
    return f"{readable}_{digest}"


def _word(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40].rstrip("_")


def probes(health: HealthCheck | list[HealthCheck] | None) -> list[Probe]:
    """The probes of a service's `health` (which validation has checked: each names one kind)."""
    out = []
    for i, check in enumerate(checks(health)):
        kind = kind_of(check)
        assert kind is not None
        body = module_body(check, kind)
        out.append(Probe(kind, getattr(check, kind), module_name(check, kind, body),
                         json.dumps(body), check.for_, i))
    return out


def modules(all_probes: list[Probe]) -> dict[str, dict[str, Any]]:
    """blackbox.yml's modules: one per distinct setting in use, by name."""
    return {p.module: json.loads(p.settings) for p in sorted(all_probes, key=lambda p: p.module)}
