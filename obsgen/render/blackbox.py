"""blackbox/blackbox.yml: the blackbox exporter's own config, one module per distinct probe setting in use.

Compose mounts it and Kubernetes packs it into a ConfigMap; `obsgen check` hands it to the exporter's
`--config.check`. A blackbox exporter the spec names with no health check to probe gets no module.
"""

from __future__ import annotations

from typing import Any

from .. import probes
from ..model import Model
from . import prometheus
from .common import dump_yaml

PATH = "blackbox/blackbox.yml"
CONFIG_DIR = "/etc/blackbox_exporter"  # where the image keeps its own config; ours is mounted beside it
CONFIG = f"{CONFIG_DIR}/blackbox.yml"


def render(model: Model) -> dict[str, str]:
    if "blackbox" not in prometheus.exporters(model):
        return {}
    return {PATH: dump_yaml(config(model), model.source)}


def config(model: Model) -> dict[str, Any]:
    return {"modules": probes.modules([p for svc in model.services for p in svc.probes])}


def uses_icmp(model: Model) -> bool:
    """Whether a check pings: the exporter then needs unprivileged ICMP sockets (ping_group_range)."""
    return any(p.kind == "icmp" for svc in model.services for p in svc.probes)
