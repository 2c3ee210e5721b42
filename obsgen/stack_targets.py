"""The scrape jobs prometheus.yml names for the stack itself, with their targets' addresses: read by the
Prometheus renderer, and by validation (a service may not take one of these job names)."""

from __future__ import annotations

# The blackbox exporter's probes: one scrape job per prober kind.
PROBE_JOBS = {kind: f"blackbox-{kind}" for kind in ("http", "tcp", "icmp", "dns", "grpc")}
BLACKBOX_JOB = PROBE_JOBS["http"]
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
    "mysqld": ("mysqld-exporter", "mysqld-exporter:9104"),
    "pgbouncer": ("pgbouncer-exporter", "pgbouncer-exporter:9127"),
    # HAProxy's built-in exporter: scraped where HAProxy serves it (`target`), nothing deployed
    "haproxy": ("haproxy", "haproxy:8405"),
    "process": ("process-exporter", "process-exporter:9256"),
    "pushgateway": ("pushgateway", "pushgateway:9091"),
    "mongodb": ("mongodb-exporter", "mongodb-exporter:9216"),
    "elasticsearch": ("elasticsearch-exporter", "elasticsearch-exporter:9114"),
    "kafka": ("kafka-exporter", "kafka-exporter:9308"),
}
# Exporters obsgen deploys nothing for: the software serves its own metrics.
BUILT_IN = frozenset({"haproxy"})
# What each exporter reads when the spec gives no `target`.
DEFAULT_BACKENDS = {"mysqld": "mysql:3306", "pgbouncer": "pgbouncer:6432", "mongodb": "mongodb:27017",
                    "elasticsearch": "elasticsearch:9200", "kafka": "kafka:9092"}
