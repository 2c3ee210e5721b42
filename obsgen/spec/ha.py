"""Prometheus in HA pairs: the replica and cluster labels a spec's downstream calls for, and what cannot work
refused at its place (one of validate.py's checks).

The names are the downstream's own defaults: Mimir's and Cortex's HA tracker reads `cluster` and
`__replica__` (`-distributor.ha-tracker.cluster`, `-distributor.ha-tracker.replica`, or the per-tenant limits
`ha_cluster_label`, `ha_replica_label`); Thanos deduplicates by whatever label its querier and compactor are
given (`--query.replica-label`, `--deduplication.replica-label`), `replica` in its documentation.
"""

from __future__ import annotations

from collections.abc import Iterator

from .errors import Path
from .models import Spec
from .operator_checks import operator_mode

HA_TRACKER_KINDS = ("mimir", "cortex")
HA_TRACKER_LABELS = ("cluster", "__replica__")  # (cluster, replica): the HA tracker's defaults
THANOS_REPLICA_LABEL = "replica"
# prometheus-operator's `prometheusExternalLabelName` (default): it sets this label itself on every replica
OPERATOR_CLUSTER_LABEL = "prometheus"

PROM: Path = ("stack", "prometheus")


def default_labels(spec: Spec) -> tuple[str | None, str]:
    """(cluster label or None, replica label) the spec's remote_write kinds call for, before its own choice."""
    kinds = {rw.kind for rw in spec.stack.prometheus.remote_write}
    if kinds.intersection(HA_TRACKER_KINDS):
        return HA_TRACKER_LABELS
    return None, THANOS_REPLICA_LABEL


def labels(spec: Spec) -> tuple[str | None, str]:
    """(cluster label or None, replica label) of the spec's Prometheus replicas."""
    p = spec.stack.prometheus
    cluster, replica = default_labels(spec)
    return p.cluster_label or cluster, p.replica_label or replica


def problems(spec: Spec) -> Iterator[tuple[Path, str]]:
    p = spec.stack.prometheus
    if p.replicas == 1:
        for name in ("replica_label", "cluster_label"):
            if getattr(p, name) is not None:
                yield PROM + (name,), ("names an external label of Prometheus HA replicas, and there is one "
                                       "Prometheus: set `stack.prometheus.replicas: 2` or remove it")
        return
    kinds = {rw.kind for rw in p.remote_write}
    if p.replica_label is None and kinds.intersection(HA_TRACKER_KINDS) and "thanos" in kinds:
        yield PROM + ("replicas",), (
            "the replicas remote-write to Mimir or Cortex, whose HA tracker reads the replica label `__replica__` "
            "by default, and to Thanos, which deduplicates by the label its querier is given (`replica` by "
            "convention): set `replica_label` to the one both are configured for")
    cluster, replica = labels(spec)
    where = "`stack.prometheus.replica_label`" if p.replica_label else "by default"
    if replica in spec.project.external_labels:
        yield ("project", "external_labels", replica), (
            f"`{replica}` is the replica label of the Prometheus replicas ({where}): each sets it to its own "
            "name, and one value on every replica would make them one server to the deduplication downstream; "
            "remove it here or choose another `stack.prometheus.replica_label`")
    named: list[tuple[str | None, str]] = [(replica, "replica_label"), (cluster, "cluster_label")]
    for label, field in named:
        if label == "environment":
            yield PROM + (field,), ("`environment` is obsgen's external label (`project.environment`); choose "
                                    "another label name")
        if label == OPERATOR_CLUSTER_LABEL and operator_mode(spec):
            yield PROM + (field,), (
                "prometheus-operator sets the external label `prometheus` itself (<namespace>/<name of the "
                "Prometheus resource>) and replaces this one; choose another label name")
    if cluster is not None and cluster == replica:
        yield PROM + ("replica_label" if p.replica_label else "cluster_label",), (
            f"`{replica}` would name both the replica and the HA group; the replica label must differ on every "
            "replica and the cluster label must not: choose two names")
    for i, svc in enumerate(spec.services):
        base: Path = ("services", i)
        if svc.scrape is not None:
            for name in svc.scrape.labels:
                if name in (replica, cluster):
                    yield base + ("scrape", "labels", name), (
                        f"`{name}` is an external label of the Prometheus replicas, and a series' own label wins "
                        "over an external one: this job's series would carry one value from every replica, "
                        "which the deduplication downstream cannot tell apart; choose another label name")
        for j, rr in enumerate(svc.recording_rules):
            for name in rr.labels:
                if name in (replica, cluster):
                    yield base + ("recording_rules", j, "labels", name), (
                        f"`{name}` is an external label of the Prometheus replicas, and a recorded series' own label "
                        "wins over an external one: every replica would record this series with one value, which "
                        "the deduplication downstream cannot tell apart; choose another label name")
        owned = [(base + ("labels",), svc.labels)] + [
            (base + ("alerts", j, "labels"), a.labels) for j, a in enumerate(svc.alerts)]
        for path, found in owned:
            if replica in found:
                yield path + (replica,), (
                    f"`{replica}` is the replica label of the Prometheus replicas, which every replica drops from "
                    "its alerts (so that Alertmanager deduplicates them): the alerts would lose it; choose "
                    "another label name")
