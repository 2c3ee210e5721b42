"""Fluentd: fluentd/fluent.conf (templates/fluent.conf.j2) and fluentd/Dockerfile with its plugins.

Each service with `logs` gets a tail source (or the shared forward source), a filter adding service,
environment and host, and its own <match> so its Loki stream labels follow its spec. Those sections, one
per service, are written here (`_sections`) rather than by a loop in the template: 10,000 services took
Jinja most of a second. The module also tells the deploy renderers what the container needs: ports, the
state volume and the tailed folders.
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
        "state_dir": STATE_DIR,
        "metrics_path": METRICS_PATH,
        "environment": model.environment,
        "outputs": " and ".join(fl.outputs),
        "tailing": any(s["tail"] for s in services),
        "sections": _sections(services, es, model.environment),
        "unclaimed_stores": _stores("unclaimed", [], es),
    }


# --------------------------------------------------------------------------- the per-service sections
# Every value from the spec passes through fluent_string (a double-quoted Fluentd string with \, ", # and
# newlines escaped); tags, ids and label names are checked identifiers.


def _buffer(id: str) -> str:
    return f"""
    <buffer>
      @type file
      path {fluent_string(f"{STATE_DIR}/buffer/{id}")}
      flush_mode interval
      flush_interval 5s
      flush_at_shutdown true
      chunk_limit_size 1m
      total_limit_size 256m
      overflow_action block
      retry_type exponential_backoff
      retry_wait 1s
      retry_max_interval 60s
      retry_forever true
    </buffer>"""


def _stores(id: str, labels: list[tuple[str, str]], es: dict[str, Any] | None) -> str:
    """The <store>s of one <match>: Loki, and Elasticsearch when it is an output."""
    label_lines = "".join(f"\n      {name}" + (f" {key}" if key != name else "") for name, key in labels)
    out = f"""
  <store>
    @type loki
    @id loki_{id}
    url {fluent_string(LOKI_URL)}
    line_format json
    <label>
      service{label_lines}
    </label>{_buffer(f"loki_{id}")}
  </store>"""
    if not es:
        return out
    user = f"\n    user {fluent_string(es['user'])}" if es["user"] else ""
    password = (f'\n    password "#{{File.read({ruby_string(es["password_file"])}).chomp}}"'
                if es["password_file"] else "")
    return out + f"""
  <store>
    @type elasticsearch
    @id elasticsearch_{id}
    host {fluent_string(es["host"])}
    port {es["port"]}
    scheme {es["scheme"]}{user}{password}
    logstash_format true
    logstash_prefix {fluent_string(es["index_prefix"])}
    suppress_type_name true
    verify_es_version_at_startup false
    default_elasticsearch_version 8
    reconnect_on_error true
    reload_on_failure true
    reload_connections false
    request_timeout 30s
    log_es_400_reason true{_buffer(f"elasticsearch_{id}")}
  </store>"""


def _parse_json(s: dict[str, Any], indent: str) -> str:
    return (f"\n{indent}@type json\n{indent}time_key {fluent_string(s['time_key'])}\n{indent}time_type string"
            f"\n{indent}time_format {fluent_string(s['time_format'])}\n{indent}utc true\n{indent}keep_time_key true")


def _sections(services: list[dict[str, Any]], es: dict[str, Any] | None, environment: str) -> str:
    """The sections of every service with logs: its source or parser, its enriching filter, its <match>."""
    env = fluent_string(environment)
    out: list[str] = []
    for s in services:
        name, tag = s["name"], s["tag"]
        out.append(f"\n\n# ---------------------------------------------------------------- {name} ({tag})")
        if s["tail"]:
            parse = _parse_json(s, "    ") if s["json"] else "\n    @type none"
            out.append(f"""

<source>
  @type tail
  @id in_tail_{name}
  path {fluent_string(s["tail"])}
  pos_file {fluent_string(f"{STATE_DIR}/pos/{name}.pos")}
  tag {tag}
  read_from_head true
  follow_inodes true
  emit_unmatched_lines true
  <parse>{parse}
  </parse>
</source>""")
        elif s["json"]:
            out.append(f"""

# The Docker driver puts the container's line under `log`; lines that are not JSON pass unchanged.
<filter {tag}>
  @type parser
  @id parse_{name}
  key_name log
  reserve_data true
  remove_key_name_field true
  emit_invalid_record_to_error false
  <parse>{_parse_json(s, "    ")}
  </parse>
</filter>""")
        out.append(f"""

<filter {tag}>
  @type record_transformer
  @id enrich_{name}
  <record>
    service {fluent_string(name)}
    environment {env}
    host ${{hostname}}
  </record>
</filter>

<match {tag}>
  @type copy
  @id out_{name}{_stores(name, s["labels"], es)}
</match>""")
    return "".join(out)


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


_PLAIN = re.compile(r'[^\\"#\n\r\t]*')  # what fluent_string escapes none of


def fluent_string(value: str) -> str:
    """A double-quoted fluent.conf string that reads back as `value`.

    Fluentd's parser evaluates `#{...}` as Ruby inside double quotes and ends an unquoted value at
    ` #`, so every value from the spec is quoted, with backslash, quote, `#` and line breaks escaped.
    """
    if _PLAIN.fullmatch(value):  # the usual value (a name, a path): nothing to escape
        return '"' + value + '"'
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
