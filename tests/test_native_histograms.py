"""A latency_native SLO's stack ingests native histograms, and still the classic ones the other rules read.

Prometheus 3.5 stores a scraped native histogram only with `--enable-feature=native-histograms`, and with it
stores a histogram exposed both ways as native only unless `always_scrape_classic_histograms` is set. So a
spec with a latency_native SLO renders both (compose and Kubernetes arguments, prometheus.yml's global; the
operator's Prometheus `enableFeatures` and `scrapeClassicHistograms`), and a spec without one neither.

The live test runs the real Prometheus with the rendered arguments and prometheus.yml (the service's target
rewritten to Prometheus itself, whose `prometheus_http_request_duration_seconds` is exposed both ways) and the
rendered rules: the native histogram's count and the classic buckets are both stored, and the SLO's 5m
recordings of the native histogram hold values. Without the flag the native form is absent (the break).
"""

from __future__ import annotations

import json
import urllib.parse
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from conftest import require_tool, write_tree
from e2e_support import Server, free_port, get_json, wait_until

from obsgen import crds
from obsgen.model import resolve
from obsgen.render import compose, render_all
from obsgen.render.prometheus import NATIVE_HISTOGRAMS
from obsgen.spec import load_spec_text

SPEC = """
version: 1
project: {name: self-watch}
channels: {ops: {type: webhook, url: "http://hooks.example:8080/alerts"}}
routing: {default: ops}
defaults: {scrape_interval: 1s, evaluation_interval: 1s}
services:
  - name: tsdb
    scrape: {static: ["tsdb:9090"]}
    thresholds:
      - {indicator: latency_p95, warning: 2s, critical: 5s}
    slos:
      - name: queries
        objective: 99
        sli: {type: latency_native, threshold: 1s, metric: 'prometheus_http_request_duration_seconds{job="tsdb"}'}
"""
PLAIN = SPEC.replace("type: latency_native, threshold: 1s, metric: "
                     "'prometheus_http_request_duration_seconds{job=\"tsdb\"}'", "type: availability")


def _files(text: str, operator: bool = False) -> dict[str, str]:
    if operator:
        text += ("stack: {deploy: [kubernetes], kubernetes: {namespace: obs, prometheus_operator: true, "
                 "release: monitoring}}\n")
    return render_all(resolve(load_spec_text(text, "self-watch.yaml"), "self-watch.yaml"))


def test_only_a_latency_native_slo_turns_native_histograms_on() -> None:
    on, off = _files(SPEC), _files(PLAIN)
    assert yaml.safe_load(on["prometheus/prometheus.yml"])["global"]["always_scrape_classic_histograms"] is True
    assert "always_scrape_classic_histograms" not in off["prometheus/prometheus.yml"]
    assert NATIVE_HISTOGRAMS in yaml.safe_load(on["docker-compose.yml"])["services"]["prometheus"]["command"]
    assert NATIVE_HISTOGRAMS not in off["docker-compose.yml"]


def test_the_operators_prometheus_gets_the_feature_and_the_crd_takes_it() -> None:
    docs = [d for rel, text in _files(SPEC, operator=True).items() if rel.startswith("kubernetes/") and rel.endswith(".yaml")
            for d in yaml.load_all(text, Loader=crds.Loader) if isinstance(d, dict)]
    prom = next(d for d in docs if d.get("kind") == "Prometheus")
    assert prom["spec"]["enableFeatures"] == ["native-histograms"] and prom["spec"]["scrapeClassicHistograms"]
    results = crds.check_custom_resources([prom])
    assert results and all(r.status == "passed" for r in results), [(r.status, r.output) for r in results]
    plain = next(d for rel, text in _files(PLAIN, operator=True).items() if rel.startswith("kubernetes/") and rel.endswith(".yaml")
                 for d in yaml.load_all(text, Loader=crds.Loader) if isinstance(d, dict) and d.get("kind") == "Prometheus")
    assert "enableFeatures" not in plain["spec"]


def _query(prom: Server, expr: str) -> list[dict[str, object]]:
    return list(get_json(f"{prom.url}/api/v1/query?query={urllib.parse.quote(expr)}")["data"]["result"])


@pytest.mark.parametrize("flag", [True, False], ids=["rendered", "without-the-flag"])
def test_the_real_prometheus_stores_both_forms(tmp_path: Path, flag: bool) -> None:
    binary = require_tool("prometheus")
    files = _files(SPEC)
    port = free_port()
    cfg = yaml.safe_load(files["prometheus/prometheus.yml"])
    cfg.pop("alerting", None)
    cfg["scrape_configs"] = [{**j, "static_configs": [{**j["static_configs"][0], "targets": [f"127.0.0.1:{port}"]}]}
                             for j in cfg["scrape_configs"] if j["job_name"] == "tsdb"]
    write_tree(tmp_path, {"prometheus/prometheus.yml": yaml.safe_dump(cfg)}
               | {rel: text for rel, text in files.items() if rel.startswith("prometheus/rules/")})
    rendered = compose.prometheus_args(resolve(load_spec_text(SPEC, "s.yaml"), "s.yaml"))
    args = [f"--config.file={tmp_path}/prometheus/prometheus.yml", f"--storage.tsdb.path={tmp_path}/tsdb",
            *(a for a in rendered if not a.startswith(("--config.file=", "--storage.tsdb.path=")))]
    assert (NATIVE_HISTOGRAMS in args) is True
    if not flag:
        args.remove(NATIVE_HISTOGRAMS)
    with ExitStack() as stack:
        prom = Server([binary, *args, f"--web.listen-address=127.0.0.1:{port}"], port, tmp_path / "prometheus.log")
        stack.callback(prom.stop)
        prom.wait_ready()
        native = 'histogram_count(rate(prometheus_http_request_duration_seconds{job="tsdb"}[10s]))'
        classic = 'prometheus_http_request_duration_seconds_bucket{job="tsdb", le="+Inf"}'
        if flag:
            assert wait_until(lambda: bool(_query(prom, native)), 30), prom.log_tail()
            assert _query(prom, classic), "the classic buckets are kept beside the native histogram"
            # the SLO's own 5m recordings, from the rendered rules, read the native histogram
            recorded = 'slo:sli_total:rate5m{slo_id="tsdb-queries"} > 0 and slo:sli_errors:rate5m{slo_id="tsdb-queries"} >= 0'
            assert wait_until(lambda: bool(_query(prom, recorded)), 30), \
                json.dumps(_query(prom, '{slo_id="tsdb-queries"}'))[:2000]
        else:
            assert wait_until(lambda: bool(_query(prom, classic)), 30), prom.log_tail()
            assert not _query(prom, native)  # the break: without the feature there is no native histogram
