"""The scrape jobs prometheus.yml names for the stack itself, with their targets' addresses: read by the
Prometheus renderer, and by validation (a service may not take one of these job names)."""

from __future__ import annotations

BLACKBOX_JOB = "blackbox-http"
# Components of the stack and the exporters: job name -> address inside compose / the cluster.
STACK_TARGETS = {
    "prometheus": "localhost:9090",
    "grafana": "grafana:3000",
    "loki": "loki:3100",
    "fluentd": "fluentd:24231",
}
EXPORTER_TARGETS = {
    "node": ("node-exporter", "node-exporter:9100"),
    "cadvisor": ("cadvisor", "cadvisor:8080"),
    "postgres": ("postgres-exporter", "postgres-exporter:9187"),
    "redis": ("redis-exporter", "redis-exporter:9121"),
    "nginx": ("nginx-exporter", "nginx-exporter:9113"),
    "blackbox": ("blackbox-exporter", "blackbox-exporter:9115"),
}
