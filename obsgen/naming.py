"""Names obsgen derives: alert names, recording rule names, uids. Decided here and nowhere else."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

MAX_ALERT_NAME = 40
# The language of spec.models.ALERT_NAME_RE, ^([A-Z]+[a-z0-9]+)+$, without its nested repeat (which takes the
# regex engine twice as long, and validation asks it of every alert name in the spec): a string of letters and
# digits that starts with a capital and ends with a small letter or digit splits into runs of capitals, each
# followed by a run of small letters and digits, and only such a string does.
# tests/test_validate_same_problems.py compares the two.
CAMEL_CASE_RE = re.compile(r"^[A-Z][A-Za-z0-9]*[a-z0-9]$")

INDICATOR_WORDS = {
    "error_rate": "ErrorRate",
    "latency_p50": "LatencyP50",
    "latency_p90": "LatencyP90",
    "latency_p95": "LatencyP95",
    "latency_p99": "LatencyP99",
    "availability": "Availability",
    "request_rate": "RequestRate",
    "consumer_lag": "ConsumerLag",
    "throughput": "Throughput",
}


@lru_cache(maxsize=1 << 16)  # every alert name of every service starts with it: room for every service's name
def camel(slug: str) -> str:
    """`api-gateway` -> `ApiGateway`."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", slug) if part)


def snake(text: str) -> str:
    """`ApiGateway` / `api-gateway` -> `api_gateway`."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return re.sub(r"[^a-zA-Z0-9]+", "_", text).strip("_").lower()


# Room a user-written alert name has after the service's own name, when that name is long.
USER_NAME_ROOM = 24


_WORD_SEPARATOR = re.compile(r"[-_]")


def _words(slug: str) -> list[str]:
    """`api-gateway` -> `["Api", "Gateway"]`: the words `camel()` joins."""
    return [part[:1].upper() + part[1:] for part in _WORD_SEPARATOR.split(slug) if part]


# Validation, the model and the renderers ask for the same names, about eleven a service, each pass over all
# the services in turn: an LRU cache smaller than every name of the spec would evict each before it is asked
# for again (room here for some 20,000 services).
@lru_cache(maxsize=1 << 18)
def derived_alert_name(service: str, middle: str, suffix: str) -> str:
    """`<Service><Middle><Suffix>` in at most MAX_ALERT_NAME characters, never cut inside a word.

    `service` and `middle` are slugs (`card-authorizer`, `latency_p99`). A name that does not fit loses
    whole words, first from the end of the middle part, then from the end of the service's name (its first
    word stays), and gets four hex digits of the full name's sha256 after the words it keeps: stable, and
    two long names that shorten alike still differ.
    """
    full = camel(service) + camel(middle) + suffix  # camel() joins the words _words() gives
    if len(full) <= MAX_ALERT_NAME:
        return full
    service_words, middle_words = _words(service), _words(middle)
    digest = hashlib.sha256(full.encode()).hexdigest()[:4]
    room = MAX_ALERT_NAME - len(suffix) - len(digest)
    kept = service_words[:1]
    for word in service_words[1:] + middle_words:
        if len("".join(kept)) + len(word) > room:
            break
        kept.append(word)
    head = "".join(kept)
    if len(head) > room:  # a first word longer than the room: only the hash stays of it
        head = "Alert"
    return head + digest + suffix


def threshold_alert_name(service: str, indicator: str, direction: str) -> str:
    assert indicator in INDICATOR_WORDS
    return derived_alert_name(service, indicator, "High" if direction == "above" else "Low")


def threshold_record(alert: str) -> str:
    """What a custom threshold's expression is recorded as, before its levels compare it."""
    return f"service:{snake(alert)}:value"


def service_down_alert(service: str) -> str:
    return derived_alert_name(service, "", "Down")


def batch_stale_alert(service: str) -> str:
    """A batch job whose last success is older than its schedule allows."""
    return derived_alert_name(service, "", "LastSuccessTooOld")


def batch_failed_alert(service: str) -> str:
    """A batch job whose last run pushed without a success."""
    return derived_alert_name(service, "", "RunFailed")


def health_alert(service: str) -> str:
    return derived_alert_name(service, "", "HealthCheckFailing")


def error_logs_alert(service: str) -> str:
    """The default LogQL alert on error-level log lines."""
    return derived_alert_name(service, "", "ErrorLogsHigh")


def max_user_alert_name(service: str | None) -> int:
    """Names a user writes start with the service's name; a long service name leaves them some room."""
    return max(MAX_ALERT_NAME, len(camel(service)) + USER_NAME_ROOM) if service else MAX_ALERT_NAME


def alert_name_problem(name: str, service: str | None = None) -> str | None:
    """Why an alert name breaks the conventions (monitoring-mixin guidelines), or None."""
    if not CAMEL_CASE_RE.match(name):
        return f"alert name {name!r} must be CamelCase (e.g. ApiGatewayLatencyHigh)"
    limit = max_user_alert_name(service)
    if len(name) > limit:
        return f"alert name {name!r} is {len(name)} characters; at most {limit} are allowed"
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
