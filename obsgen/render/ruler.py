"""Rules where the ruler is: with `ruler: true` on a Mimir or Cortex remote_write, the services' rule groups
as that backend's ruler loads them, `ruler/<queue>/<service>.yml`.

Each file is one ruler namespace (`namespace: <project>-<service>`, then `groups:`), the format
`mimirtool rules load|sync` and cortextool read; the tenant is the queue's, named in the output README's
command. The groups are prometheus/rules/<service>.yml's (the ones the generated promtool tests prove), with
two changes. An SLO's recordings and its alerts become one group, recordings first, and so do the service's
free recording rules and its free-form alerts (`<service>`): a ruler evaluates groups
independently (Mimir even on different ruler replicas) but the rules of one group in order, so each
evaluation's alerts read the recordings of the same evaluation. And every group names its `interval`: the
spec's evaluation_interval, which the tests prove, not the ruler's default.

The local Prometheus then keeps only the stack's own rules (`prometheus.config`'s rule_files, and the
operator's PrometheusRules): two evaluators of one rule would send every alert twice.
"""

from __future__ import annotations

from typing import Any

from ..model import Model
from . import prometheus
from .common import dump_yaml

RECORDINGS, ALERTS = "-recordings", "-alerts"  # the suffixes of an SLO's two groups, and of the free rules' two


def folder(model: Model) -> str | None:
    rw = model.ruler
    return f"ruler/{rw.name}" if rw is not None and rw.kind != "thanos" else None  # Thanos: thanos_ruler.py


def namespace(model: Model, service: str) -> str:
    """Namespaces are per tenant: the project in the name keeps two projects in one tenant apart."""
    return f"{model.project}-{service}"


def merged(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`<x>-recordings` directly followed by `<x>-alerts` become one group `<x>`; every other group is kept."""
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(groups):
        group, after = groups[i], groups[i + 1] if i + 1 < len(groups) else None
        stem = group["name"][: -len(RECORDINGS)]
        if group["name"].endswith(RECORDINGS) and after is not None and after["name"] == stem + ALERTS:
            out.append({**group, "name": stem, "rules": group["rules"] + after["rules"]})
            i += 2
        else:
            out.append(group)
            i += 1
    return out


def render(model: Model) -> dict[str, str]:
    where = folder(model)
    if where is None:
        return {}
    files = {}
    for svc in model.services:
        # the ruler's own default interval (Mimir's -ruler.evaluation-interval) is not the one the tests prove
        groups = [{"name": g["name"], "interval": g.get("interval", model.evaluation_interval),
                   **{k: v for k, v in g.items() if k not in ("name", "interval")}}
                  for g in merged(prometheus.service_rule_groups(model, svc))]
        if groups:
            files[f"{where}/{svc.name}.yml"] = dump_yaml(
                {"namespace": namespace(model, svc.name), "groups": groups}, model.source)
    return files
