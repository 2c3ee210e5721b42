"""The scrape jobs of the stack's own targets, which the dashboards select and MonitoringTargetDown watches.

prometheus.yml (compose and plain Kubernetes) names each job itself. In prometheus-operator mode the
operator names them, with the same names: a ServiceMonitor's targets get their Service's name (obsgen's
Services are named as prometheus.yml's jobs and set no `jobLabel`), the release's node-exporter its
Service's `jobLabel` label (`node-exporter`), a Probe's targets its `jobName` (`blackbox-http`, `blackbox-tcp`
 and so on, one per prober kind).
tests/test_dashboard_jobs.py holds every dashboard to the jobs of the rendered output in each mode.
"""

from __future__ import annotations

from typing import NamedTuple

from ..model import Model
from ..promql import quote, regex_literal
from . import prometheus


class StackJob(NamedTuple):
    kind: str  # what it is: a component, an exporter type (`prometheus.EXPORTER_TARGETS`) or the probes
    job: str  # its job label


_COMPONENTS = ("prometheus", "alertmanager", "grafana", "loki", "fluentd")


def stack_jobs(model: Model) -> list[StackJob]:
    """Every job prometheus.yml scrapes for the stack (no service's), in dashboard order: the components,
    the exporters by type, the blackbox probes."""
    services = {svc.job for svc in model.services if svc.scrape}
    jobs = [j["job_name"] for j in prometheus.scrape_configs(model) if j["job_name"] not in services]
    exporters = {job: kind for kind, (job, _) in prometheus.EXPORTER_TARGETS.items()}

    def order(job: str) -> tuple[int, int, str]:
        if job in _COMPONENTS:
            return 0, _COMPONENTS.index(job), job
        return (2 if job in prometheus.PROBE_JOBS.values() else 1), 0, exporters.get(job, job)

    return [StackJob(exporters.get(job, job), job) for job in sorted(jobs, key=order)]


def matcher(jobs: list[str]) -> str:
    """`job="a"`, or `job=~"a|b"` for several jobs."""
    if len(jobs) == 1:
        return f"job={quote(jobs[0])}"
    return f"job=~{quote('|'.join(regex_literal(j) for j in jobs))}"
