"""The real blackbox exporter running the rendered blackbox/blackbox.yml, probing real local targets.

A spec with health checks of every kind is rendered with targets on 127.0.0.1: a listening TCP socket and a
closed port; a DNS responder (dnslib) answering the asked name with the expected address, one answering
another address and one answering NXDOMAIN; a grpcio server whose grpc.health.v1 servicer
(grpcio-health-checking) says SERVING and one saying NOT_SERVING; an HTTP server answering 200 and one
answering 500. Each module of the rendered blackbox.yml is asked for directly (/probe?module=&target=) and
must succeed against its healthy target and fail against the others, so the modules mean what the spec
says (the DNS answer's regular expression is matched against the record as the exporter prints it).

Then the real Prometheus runs the rendered blackbox scrape jobs (only the exporter's address rewritten to
where it listens here) and the rendered rules: every probe_success series it stores carries exactly the
labels the generated promtool tests feed (job, instance, service and module as the relabeling sets them),
and the alerts of the failing checks fire, those of the healthy ones do not.

ICMP needs a raw socket (root) or unprivileged ICMP sockets (net.ipv4.ping_group_range); its failure needs a
host that does not answer, and no address but the loopback may be probed here. So its test runs an exporter
of its own in a network namespace it makes (`unshare --net`, root only) and has that namespace ignore echo
requests (net.ipv4.icmp_echo_ignore_all, a per-namespace setting) for the failing probe; where that cannot
be done it is skipped, saying why.

Bounded: each wait by STEP seconds, every process stopped by its own handle. OBSGEN_LIVE=0 skips both
tests; otherwise a missing binary or package fails them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from e2e_support import HOST, LocalServer, Server, free_port, get_json, responds, wait_until

from obsgen.model import Model, resolve
from obsgen.render import render_all
from obsgen.render.blackbox import PATH as BLACKBOX_YML
from obsgen.spec import load_spec_text
from obsgen.stack_targets import EXPORTER_TARGETS, PROBE_JOBS

TOOLS = ROOT / ".tools" / "bin"
EXPORTER = TOOLS / "prometheus-blackbox-exporter"
STEP = 20.0  # seconds any one wait may take
TIMEOUT_HEADER = {"X-Prometheus-Scrape-Timeout-Seconds": "3"}  # as Prometheus sends it: the probe's deadline
NAME = "ledger.db.internal"  # what the DNS checks ask for
ADDRESS = "10.20.0.7"  # what the healthy responder answers (only ever an answer: nothing is sent there)
GRPC_SERVICE = "quotes.v2.QuoteService"


def _require() -> None:
    if os.environ.get("OBSGEN_LIVE") == "0":
        pytest.skip("OBSGEN_LIVE=0: the real blackbox exporter is not run")
    missing = [str(p.relative_to(ROOT)) for p in (EXPORTER, TOOLS / "prometheus") if not p.exists()]
    try:
        import dnslib  # noqa: F401
        import grpc_health.v1.health  # noqa: F401
    except ImportError:
        missing.append("dnslib and grpcio-health-checking (pip install -e '.[test]')")
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `make tools`, or set OBSGEN_LIVE=0 to skip the live "
                    "blackbox test")


# --------------------------------------------------------------------------- local targets


class DnsResponder:
    """A UDP DNS server on 127.0.0.1 answering every A question with `address`, or NXDOMAIN when None."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        from dnslib import QTYPE, RCODE, RR, A, DNSRecord

        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            request = DNSRecord.parse(data)
            reply = request.reply()
            if self.address is not None and request.q.qtype == QTYPE.A:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.address), ttl=60))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@contextmanager
def grpc_health_server(serving: bool) -> Iterator[int]:
    """A grpcio server with the standard health servicer: the server and GRPC_SERVICE SERVING, or not."""
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port(f"{HOST}:0")
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", GRPC_SERVICE):
        servicer.set(name, status)
    server.start()
    try:
        yield port
    finally:
        server.stop(0).wait(5)


def http_server(code: int) -> LocalServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
            pass

    return LocalServer(Handler)


# --------------------------------------------------------------------------- rendering and probing


def _render(spec: str, out: Path) -> Model:
    model = resolve(load_spec_text(spec, "obsgen.yaml"), "obsgen.yaml")
    for rel, text in render_all(model).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, "utf-8")
    return model


def start_exporter(config: Path, logs: Path, prefix: list[str] | None = None) -> tuple[Server, int]:
    port = free_port()
    server = Server([*(prefix or []), str(EXPORTER), f"--config.file={config}",
                     f"--web.listen-address={HOST}:{port}"], port, logs / f"blackbox-{port}.log")
    return server, port


def probe(exporter: str, module: str, target: str) -> int:
    """probe_success of one probe, asked of the exporter at `exporter` (host:port)."""
    query = urllib.parse.urlencode({"module": module, "target": target})
    request = urllib.request.Request(f"http://{exporter}/probe?{query}", headers=TIMEOUT_HEADER)
    with urllib.request.urlopen(request, timeout=10) as resp:
        text = resp.read().decode()
    found = re.search(r"^probe_success (\S+)$", text, re.M)
    assert found, f"no probe_success in the answer to module={module} target={target}:\n{text}"
    return int(float(found.group(1)))


def _local_prometheus(out: Path, exporter: str) -> None:
    """prometheus.yml reduced to the rendered blackbox jobs, the exporter's address rewritten to `exporter`;
    no Alertmanager to send to. The jobs and rules are otherwise the rendered ones."""
    cfg = yaml.safe_load((out / "prometheus/prometheus.yml").read_text())
    jobs = [j for j in cfg["scrape_configs"] if j["job_name"] in PROBE_JOBS.values()]
    for job in jobs:
        for relabel in job["relabel_configs"]:
            if relabel.get("target_label") == "__address__":
                assert relabel["replacement"] == EXPORTER_TARGETS["blackbox"][1]
                relabel["replacement"] = exporter
    cfg["scrape_configs"] = jobs
    cfg.pop("alerting")
    (out / "prometheus/local.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def _fed_labels(out: Path) -> list[dict[str, str]]:
    """The label sets of the probe_success series the generated tests feed."""
    found = []
    for path in sorted((out / "prometheus/tests").glob("*.test.yml")):
        for group in yaml.safe_load(path.read_text())["tests"]:
            for series in group["input_series"]:
                name, _, rest = series["series"].partition("{")
                if name == "probe_success":
                    found.append(dict(re.findall(r'([a-z_]+)="([^"]*)"', rest)))
    return found


# --------------------------------------------------------------------------- the tests


def test_every_module_succeeds_and_fails_and_prometheus_sees_the_tested_labels(tmp_path: Path) -> None:
    _require()
    with ExitStack() as stack:
        listener = socket.create_server((HOST, 0))
        stack.callback(listener.close)
        open_port, closed_port = listener.getsockname()[1], free_port()
        dns = {}
        for name, address in (("good", ADDRESS), ("wrong", "192.0.2.1"), ("nx", None)):
            dns[name] = DnsResponder(address)
            stack.callback(dns[name].close)
        grpc_ok = stack.enter_context(grpc_health_server(True))
        grpc_bad = stack.enter_context(grpc_health_server(False))
        web_ok, web_bad = http_server(200), http_server(500)
        stack.callback(web_ok.close)
        stack.callback(web_bad.close)
        answer = rf"^{re.escape(NAME)}\.\t\d+\tIN\tA\t{re.escape(ADDRESS)}$"
        spec = f"""
version: 1
project: {{name: probes}}
defaults: {{scrape_interval: 1s, evaluation_interval: 1s}}
channels:
  ops: {{type: webhook, url: "http://{HOST}:9/"}}
routing: {{default: ops}}
services:
  - name: ledger-db
    health:
      - {{tcp: "{HOST}:{open_port}", for: 1s}}
      - {{tcp: "{HOST}:{closed_port}", for: 1s}}
  - name: resolver
    health:
      - {{dns: "{HOST}:{dns['good'].port}", query_name: {NAME}, answer: '{answer}', for: 1s}}
      - {{dns: "{HOST}:{dns['wrong'].port}", query_name: {NAME}, answer: '{answer}', for: 1s}}
      - {{dns: "{HOST}:{dns['nx'].port}", query_name: gone.db.internal, rcode: NXDOMAIN, for: 1s}}
  - name: quotes
    health:
      - {{grpc: "{HOST}:{grpc_ok}", service: {GRPC_SERVICE}, for: 1s}}
      - {{grpc: "{HOST}:{grpc_bad}", for: 1s}}
  - name: web
    health:
      - {{http: "http://{web_ok.address}/healthz", for: 1s}}
      - {{http: "http://{web_bad.address}/healthz", for: 1s}}
"""
        out = tmp_path / "out"
        model = _render(spec, out)
        exporter, port = start_exporter(out / BLACKBOX_YML, tmp_path)
        stack.callback(exporter.stop)
        address = f"{HOST}:{port}"
        assert wait_until(lambda: responds(f"http://{address}/metrics"), STEP), exporter.log_tail()

        # every module against its healthy target and the failing ones (a module's other checks' targets too)
        modules = {p.kind + ":" + p.target: p.module for s in model.services for p in s.probes}
        healthy = {"tcp": f"{HOST}:{open_port}", "http": f"http://{web_ok.address}/healthz",
                   "grpc": f"{HOST}:{grpc_ok}"}
        cases = [
            (modules[f"tcp:{healthy['tcp']}"], healthy["tcp"], 1),
            (modules[f"tcp:{healthy['tcp']}"], f"{HOST}:{closed_port}", 0),
            (modules[f"http:{healthy['http']}"], healthy["http"], 1),
            (modules[f"http:{healthy['http']}"], f"http://{web_bad.address}/healthz", 0),
            (modules[f"http:{healthy['http']}"], f"http://{HOST}:{closed_port}/healthz", 0),
        ]
        asks_name = modules[f"dns:{HOST}:{dns['good'].port}"]
        assert asks_name == modules[f"dns:{HOST}:{dns['wrong'].port}"]  # one module for the same settings
        wants_nx = modules[f"dns:{HOST}:{dns['nx'].port}"]
        cases += [(asks_name, f"{HOST}:{dns['good'].port}", 1), (asks_name, f"{HOST}:{dns['wrong'].port}", 0),
                  (asks_name, f"{HOST}:{dns['nx'].port}", 0),
                  (wants_nx, f"{HOST}:{dns['nx'].port}", 1), (wants_nx, f"{HOST}:{dns['good'].port}", 0)]
        named = modules[f"grpc:{healthy['grpc']}"]
        whole = modules[f"grpc:{HOST}:{grpc_bad}"]
        cases += [(named, f"{HOST}:{grpc_ok}", 1), (named, f"{HOST}:{grpc_bad}", 0),
                  (whole, f"{HOST}:{grpc_ok}", 1), (whole, f"{HOST}:{grpc_bad}", 0),
                  (whole, f"{HOST}:{closed_port}", 0)]
        got = [(m, t, probe(address, m, t)) for m, t, _ in cases]
        assert got == cases, "\n".join(f"module {m} target {t}: probe_success {v}, expected {e}"
                                       for (m, t, v), (_, _, e) in zip(got, cases, strict=True) if v != e)

        # the real Prometheus scraping the rendered jobs, evaluating the rendered rules
        _local_prometheus(out, address)
        prom_port = free_port()
        prom = Server([str(TOOLS / "prometheus"), "--config.file=local.yml", f"--storage.tsdb.path={tmp_path}/tsdb",
                       f"--web.listen-address={HOST}:{prom_port}"], prom_port, tmp_path / "prometheus.log",
                      cwd=out / "prometheus")
        stack.callback(prom.stop)
        prom.wait_ready()
        failing = {(s.name, p.target) for s in model.services for p in s.probes
                   if p.target in (f"{HOST}:{closed_port}", f"{HOST}:{dns['wrong'].port}", f"{HOST}:{grpc_bad}",
                                   f"http://{web_bad.address}/healthz")}
        assert len(failing) == 4

        def series() -> list[dict[str, str]]:
            return [r["metric"] for r in get_json(f"{prom.url}/api/v1/query?query=probe_success")["data"]["result"]]

        def firing() -> set[tuple[str, str]]:
            query = urllib.parse.quote('ALERTS{alertstate="firing",alertname=~".+CheckFailing"}')
            result = get_json(f"{prom.url}/api/v1/query?query={query}")["data"]["result"]
            return {(r["metric"]["service"], r["metric"]["instance"]) for r in result}

        probes_total = sum(len(s.probes) for s in model.services)
        assert wait_until(lambda: len(series()) == probes_total, STEP), (series(), prom.log_tail())
        stored = sorted((dict(sorted({k: v for k, v in m.items() if k != "__name__"}.items())) for m in series()),
                        key=str)
        fed = sorted((dict(sorted(labels.items())) for labels in _fed_labels(out)), key=str)
        assert stored == fed, f"Prometheus stores {stored}\nthe generated tests feed {fed}"
        assert wait_until(lambda: firing() == failing, STEP), (firing(), failing)


def test_icmp_module_succeeds_and_fails(tmp_path: Path) -> None:
    _require()
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("unshare", "nsenter", "ip")):
        pytest.skip("the ICMP probes need root, util-linux's unshare and nsenter and iproute2's ip here: a "
                    "network namespace of the test's own, whose loopback can be told to ignore echo requests")
    made = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True, timeout=10)
    if made.returncode != 0:
        pytest.skip(f"no network namespace can be made here (unshare --net: {made.stderr.strip()}), so no "
                    "loopback that ignores echo requests: ICMP is not probed")
    spec = f"""
version: 1
project: {{name: pings}}
channels:
  ops: {{type: webhook, url: "http://{HOST}:9/"}}
routing: {{default: ops}}
services:
  - name: switch
    health: {{icmp: {HOST}}}
"""
    out = tmp_path / "out"
    model = _render(spec, out)
    module = model.services[0].probes[0].module
    config = out / BLACKBOX_YML
    port = free_port()
    # the namespace's loopback up, then the exporter in it; asked through the same namespace
    script = f'ip link set lo up && exec "$0" --config.file="$1" --web.listen-address={HOST}:{port}'
    exporter = Server(["unshare", "--net", "sh", "-c", script, str(EXPORTER), str(config)], port,
                      tmp_path / "blackbox-netns.log")
    try:
        pid = exporter._proc.pid
        inside = ["nsenter", f"--net=/proc/{pid}/ns/net"]

        def ask() -> int:
            code = ("import re,sys,urllib.request as u\n"
                    f"r=u.Request('http://{HOST}:{port}/probe?module={module}&target={HOST}',"
                    f"headers={TIMEOUT_HEADER!r})\n"
                    "t=u.urlopen(r,timeout=10).read().decode()\n"
                    "print(re.search(r'^probe_success (\\S+)$',t,re.M).group(1))")
            done = subprocess.run([*inside, sys.executable, "-c", code], capture_output=True, text=True,
                                  timeout=15)
            assert done.returncode == 0, done.stderr
            return int(float(done.stdout))

        def up() -> bool:
            return subprocess.run([*inside, sys.executable, "-c",
                                   f"import urllib.request as u; u.urlopen('http://{HOST}:{port}/metrics', timeout=2)"],
                                  capture_output=True, timeout=10).returncode == 0

        assert wait_until(up, STEP), exporter.log_tail()
        assert ask() == 1, exporter.log_tail()
        ignore = subprocess.run([*inside, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/icmp_echo_ignore_all"],
                                capture_output=True, text=True, timeout=10)
        assert ignore.returncode == 0, ignore.stderr
        assert ask() == 0, exporter.log_tail()
    finally:
        exporter.stop()
