"""Fluentd: fluentd/fluent.conf (templates/fluent.conf.j2) and fluentd/Dockerfile with its plugins.

Each service with `logs` gets a tail source (or the shared forward source), a filter adding service,
environment and host, and its own <match> so its Loki stream labels follow its spec. The module also
tells the deploy renderers what the container needs: ports, the state volume and the tailed folders.
"""

from __future__ import annotations

import re
from typing import Any

from ..model import Model, ServiceModel
from . import loki, templates
from .common import header as generated_header

IMAGE = "fluent/fluentd:v1.19.2-debian-1.0"
FORWARD_PORT = 24224  # Docker fluentd logging driver
METRICS_PORT = 24231  # fluent-plugin-prometheus; Prometheus job "fluentd"
METRICS_PATH = "/metrics"
STATE_DIR = "/fluentd/state"  # buffers, tail positions, unprocessable records: keep on a volume
LOKI_URL = f"http://loki:{loki.HTTP_PORT}"  # base URL: the plugin appends /loki/api/v1/push
ISO8601 = "%iso8601"
GEMS = [("fluent-plugin-grafana-loki", "1.2.20"), ("fluent-plugin-prometheus", "2.2.1")]
# the Elasticsearch client gem must match the server's major version (8.x)
ES_GEMS = [("elasticsearch", "~> 8.0"), ("fluent-plugin-elasticsearch", "5.4.4")]


def render(model: Model) -> dict[str, str]:
    header = generated_header(model.source).rstrip("\n")
    ports = {"forward_port": FORWARD_PORT, "metrics_port": METRICS_PORT}
    return {
        "fluentd/fluent.conf": templates.render("fluent.conf.j2", header=header, **ports, **context(model)),
        "fluentd/Dockerfile": templates.render(
            "fluentd.Dockerfile.j2", header=header, image=IMAGE, state_dir=STATE_DIR, **ports,
            gems=GEMS + (ES_GEMS if "elasticsearch" in model.stack.fluentd.outputs else [])),
    }


def context(model: Model) -> dict[str, Any]:
    fl = model.stack.fluentd
    es = None
    if "elasticsearch" in fl.outputs:
        es = {**fl.elasticsearch.model_dump(), "index_prefix": fl.elasticsearch.index_prefix or model.project}
    services = [_service(s) for s in model.services if s.logs is not None]
    return {
        "q": fluent_string,
        "ruby_str": ruby_string,
        "state_dir": STATE_DIR,
        "loki_url": LOKI_URL,
        "metrics_path": METRICS_PATH,
        "environment": model.environment,
        "outputs": " and ".join(fl.outputs),
        "es": es,
        "tailing": any(s["tail"] for s in services),
        "services": services,
    }


def _service(svc: ServiceModel) -> dict[str, Any]:
    assert svc.logs is not None and svc.log_tag is not None
    logs, src = svc.logs, svc.logs.source
    # Loki label name -> record key it is read from (`level` follows level_key); `service` is always there
    labels = [(name, logs.level_key if name == "level" else name) for name in dict.fromkeys(logs.labels)
              if name != "service"]
    return {
        "name": svc.name,
        "tag": svc.log_tag,
        "tail": src.tail,
        "json": src.format == "json",
        "time_key": src.time_key,
        "time_format": src.time_format or ISO8601,
        "labels": labels,
    }


def fluent_string(value: str) -> str:
    """A double-quoted fluent.conf string that reads back as `value`.

    Fluentd's parser evaluates `#{...}` as Ruby inside double quotes and ends an unquoted value at
    ` #`, so every value from the spec is quoted, with backslash, quote, `#` and line breaks escaped.
    """
    escaped = re.sub(r'([\\"#])', r"\\\1", value)
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def ruby_string(value: str) -> str:
    """A single-quoted Ruby literal (for the file names read by embedded Ruby): only \\ and ' escape."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def tailed_dirs(model: Model) -> list[str]:
    """Host folders fluentd must see at the same path (read-only): the fixed part of each tail glob."""
    dirs = set()
    for svc in model.services:
        if svc.logs and svc.logs.source.tail:
            fixed = re.split(r"[*?\[{]", svc.logs.source.tail)[0]
            dirs.add(fixed.rsplit("/", 1)[0] or "/")
    return sorted(dirs)
