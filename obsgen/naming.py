"""Names obsgen derives: alert names, recording rule names, uids. Decided here and nowhere else."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from .spec.models import ALERT_NAME_RE

MAX_ALERT_NAME = 40

INDICATOR_WORDS = {
    "error_rate": "ErrorRate",
    "latency_p50": "LatencyP50",
    "latency_p90": "LatencyP90",
    "latency_p95": "LatencyP95",
    "latency_p99": "LatencyP99",
    "availability": "Availability",
    "request_rate": "RequestRate",
}


@lru_cache(maxsize=8192)  # every alert name of every service starts with it
def camel(slug: str) -> str:
    """`api-gateway` -> `ApiGateway`."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", slug) if part)


def snake(text: str) -> str:
    """`ApiGateway` / `api-gateway` -> `api_gateway`."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return re.sub(r"[^a-zA-Z0-9]+", "_", text).strip("_").lower()


def threshold_alert_name(service: str, indicator: str, direction: str) -> str:
    return camel(service) + INDICATOR_WORDS[indicator] + ("High" if direction == "above" else "Low")


def service_down_alert(service: str) -> str:
    return camel(service) + "Down"


def health_alert(service: str) -> str:
    return camel(service) + "HealthCheckFailing"


def error_logs_alert(service: str) -> str:
    """The default LogQL alert on error-level log lines."""
    return camel(service) + "ErrorLogsHigh"


def alert_name_problem(name: str, service: str | None = None) -> str | None:
    """Why an alert name breaks the conventions (monitoring-mixin guidelines), or None."""
    if not ALERT_NAME_RE.match(name):
        return f"alert name {name!r} must be CamelCase (e.g. ApiGatewayLatencyHigh)"
    if len(name) > MAX_ALERT_NAME:
        return f"alert name {name!r} is {len(name)} characters; at most {MAX_ALERT_NAME} are allowed"
    if service is not None and not name.startswith(camel(service)):
        return f"alert name {name!r} must start with the service's name ({camel(service)})"
    return None


def uid(*parts: str) -> str:
    """Deterministic, readable uid of 8 to 40 characters (Grafana's limits)."""
    base = "-".join(parts)
    if 8 <= len(base) <= 40:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return base[:31].rstrip("-") + "-" + digest
