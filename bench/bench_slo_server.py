"""Benchmark on the real Prometheus server: obsgen's SLO rules against the naive (Sloth) shape.

`bench_slo.py` runs `promtool test rules`, which caps queries at 10,000 samples and ignores group
intervals, so it cannot show the realistic case. Here one service with `--instances` instances
(requests by status, a latency histogram) gets `--days` of 15s history, written as OpenMetrics and
turned into TSDB blocks by `promtool tsdb create-blocks-from openmetrics`; the 5m recordings obsgen's
windows read are backfilled from it by `promtool tsdb create-blocks-from rules` against a Prometheus
serving those blocks. Then Prometheus runs each shape on its own copy of that data dir, scraping a
loopback exporter that continues the same counters, evaluating every 15s; the cost is read from its
own metrics (rule group durations, process CPU) after a warm-up, and the ALERTS of both are compared.

The traffic burns the error budget at twice its rate (both SLOs): the tickets fire, the pages do not.

    .venv/bin/python bench/bench_slo_server.py [--instances 50] [--days 3] [--seconds 90]
"""

from __future__ import annotations

import argparse
import http.server
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_slo import SPEC, verdict  # noqa: E402

from obsgen import slo  # noqa: E402
from obsgen.model import resolve  # noqa: E402
from obsgen.render.common import dump_yaml  # noqa: E402
from obsgen.spec import load_spec_text  # noqa: E402

STEP = 15  # seconds: scrape interval of the history and of the exporter, and the evaluation interval
RPS = 10.0  # requests per second per instance
ERROR_SHARE = {"availability": 2 * 0.001, "latency": 2 * 0.01}  # twice each SLO's budget rate


def tool(name: str) -> str:
    path = ROOT / ".tools" / "bin" / name
    if not path.exists():
        sys.exit(f"{name} not installed: run `make tools`")
    return str(path)


def counters(instance: int, t: float, origin: float) -> list[tuple[str, float]]:
    """Every raw series of one instance at time t, as (series text, counter value); rates are constant."""
    n = RPS * (t - origin) * (1 + instance / 100)  # instances differ a little
    errors, slow = n * ERROR_SHARE["availability"], n * ERROR_SHARE["latency"]
    base = f'job="api",instance="i{instance}"'
    return [
        (f'http_requests_total{{{base},status="200"}}', n - errors),
        (f'http_requests_total{{{base},status="500"}}', errors),
        (f'http_request_duration_seconds_bucket{{{base},le="0.25"}}', n - slow),
        (f'http_request_duration_seconds_bucket{{{base},le="+Inf"}}', n),
        (f'http_request_duration_seconds_count{{{base}}}', n),
    ]


def write_history(path: Path, instances: int, start: int, end: int, origin: float) -> int:
    """OpenMetrics text of every series every STEP seconds in [start, end); returns the sample count.

    One family per block of lines, as OpenMetrics wants; the counter family is written first."""
    samples = 0
    with path.open("w") as out:
        for family, kind, prefix in (("http_requests", "counter", "http_requests_total"),
                                     ("http_request_duration_seconds", "histogram", "http_request_duration")):
            out.write(f"# TYPE {family} {kind}\n")
            for t in range(start, end, STEP):
                lines = [f"{s} {v:.3f} {t}\n" for i in range(instances)
                         for s, v in counters(i, t, origin) if s.startswith(prefix)]
                out.writelines(lines)
                samples += len(lines)
        out.write("# EOF\n")
    return samples


class Exporter(http.server.BaseHTTPRequestHandler):
    """Serves the same counters at the current time (labels honoured by the scrape config)."""

    instances = 0
    origin = 0.0

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        now = time.time()
        body = "".join(f"{s} {v:.3f}\n" for i in range(self.instances) for s, v in counters(i, now, self.origin))
        data = ("# TYPE http_requests_total counter\n# TYPE http_request_duration_seconds histogram\n"
                + body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, **params: str) -> dict:
    url = f"http://127.0.0.1:{port}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r) if path.startswith("/api") else {"text": r.read().decode()}


@contextmanager
def prometheus(data: Path, config: Path, log: Path) -> Iterator[int]:
    """A Prometheus on loopback over `data`, stopped (and waited for) on exit."""
    port = free_port()
    with log.open("w") as err:
        proc = subprocess.Popen([tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={data}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=400d",
                                 "--log.level=warn"], stdout=err, stderr=err)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        sys.exit(f"prometheus did not start, see {log}")
                    time.sleep(0.5)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def config(path: Path, rules: Path | None, exporter: int | None) -> Path:
    data: dict = {"global": {"scrape_interval": f"{STEP}s", "evaluation_interval": f"{STEP}s"}}
    if rules:
        data["rule_files"] = [str(rules)]
    if exporter:
        data["scrape_configs"] = [{"job_name": "api", "honor_labels": True,
                                   "static_configs": [{"targets": [f"127.0.0.1:{exporter}"]}]}]
    path.write_text(dump_yaml(data))
    return path


def base_recordings(groups: list[dict]) -> list[dict]:
    """The 5m recordings only, the 5m ratio written over the raw series: the backfill cannot chain rules."""
    out = []
    for g in groups:
        rules = {r["record"]: r for r in g["rules"] if r.get("record") in (slo.ERRORS, slo.TOTAL)}
        if not rules:
            continue
        ratio = {**rules[slo.ERRORS], "record": slo.record_name(slo.BASE_WINDOW),
                 "expr": f"({rules[slo.ERRORS]['expr']})\n/\n({rules[slo.TOTAL]['expr']})"}
        out.append({"name": g["name"], "rules": [*rules.values(), ratio]})
    return out


def metric(text: str, name: str) -> dict[str, float]:
    """Samples of one metric in exposition text, by their label text."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, value = line.rsplit(" ", 1)
            out[series[len(name):]] = float(value)
    return out


def snapshot(port: int) -> dict[str, float]:
    text = get(port, "/metrics")["text"]
    return {"cpu": metric(text, "process_cpu_seconds_total")[""],
            "rounds": min(metric(text, "prometheus_rule_group_iterations_total").values()),
            "missed": sum(metric(text, "prometheus_rule_group_iterations_missed_total").values()),
            "seconds": metric(text, "prometheus_rule_group_duration_seconds_sum")[""]}


def measure(port: int, warmup: float, seconds: float) -> dict[str, float]:
    """Per evaluation round after the warm-up: the rule groups' summed durations, the process's CPU."""
    time.sleep(warmup)
    first = snapshot(port)
    time.sleep(seconds)
    last = snapshot(port)
    rounds = max(last["rounds"] - first["rounds"], 1)
    return {"rounds": last["rounds"] - first["rounds"], "missed": last["missed"],
            **{key: (last[key] - first[key]) / rounds for key in ("seconds", "cpu")}}


def alerts(port: int) -> list[str]:
    """The rule manager's alert decisions (name, tier, state)."""
    return sorted(f"{a['labels']['alertname']}{{tier={a['labels']['tier']}}} {a['state']}"
                  for a in get(port, "/api/v1/alerts")["data"]["alerts"])


def run(cmd: list[str], what: str) -> float:
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{what} failed:\n{proc.stderr[-2000:]}")
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50, help="instances of the service")
    parser.add_argument("--days", type=float, default=3, help="history before the measurement")
    parser.add_argument("--seconds", type=float, default=75, help="measured evaluation time per shape")
    parser.add_argument("--warmup", type=float, default=30, help="evaluation time not measured, per shape")
    args = parser.parse_args()
    model = resolve(load_spec_text(SPEC, "bench.yaml"), "bench.yaml")
    svc = next(s for s in model.services if s.name == "api")
    shapes = {shape: slo.rule_groups(model, svc, naive=shape == "naive") for shape in ("obsgen", "naive")}
    now = int(time.time()) // STEP * STEP
    start = now - int(args.days * 86400)
    origin = start - 3600.0  # counters started before the history does
    Exporter.instances, Exporter.origin = args.instances, origin
    with tempfile.TemporaryDirectory(prefix="bench-slo-") as tmp:
        root = Path(tmp)
        t0 = time.monotonic()
        samples = write_history(root / "history.om", args.instances, start, now, origin)
        print(f"history: {args.instances} instances × 5 series, {args.days}d at {STEP}s: {samples:,} samples "
              f"written in {time.monotonic() - t0:.0f}s")
        base = root / "base"
        took = run([tool("promtool"), "tsdb", "create-blocks-from", "openmetrics", "-q",
                    str(root / "history.om"), str(base)], "create-blocks-from openmetrics")
        (root / "history.om").unlink()
        print(f"raw blocks: {took:.0f}s")
        (root / "base-rules.yml").write_text(dump_yaml({"groups": base_recordings(shapes["obsgen"])}))
        with prometheus(base, config(root / "raw.yml", None, None), root / "raw.log") as port:
            took = run([tool("promtool"), "tsdb", "create-blocks-from", "rules", "-q", f"--start={start}",
                        f"--end={now}", f"--eval-interval={STEP}s", f"--url=http://127.0.0.1:{port}",
                        f"--output-dir={root / 'recorded'}", str(root / "base-rules.yml")],
                       "create-blocks-from rules")
        print(f"5m recordings backfilled: {took:.0f}s")
        for block in (root / "recorded").iterdir():
            shutil.move(str(block), base / block.name)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        results = {}
        try:
            for shape, groups in shapes.items():
                data = root / shape
                shutil.copytree(base, data, ignore=shutil.ignore_patterns("wal", "chunks_head", "lock"))
                (root / f"{shape}.rules.yml").write_text(dump_yaml({"groups": groups}))
                cfg = config(root / f"{shape}.yml", root / f"{shape}.rules.yml", server.server_address[1])
                with prometheus(data, cfg, root / f"{shape}.log") as port:
                    results[shape] = measure(port, args.warmup, args.seconds)
                    results[shape]["alerts"] = alerts(port)
                shutil.rmtree(data)
        finally:
            server.shutdown()
    report(results)


def report(results: dict[str, dict]) -> None:
    o, n = results["obsgen"], results["naive"]
    print(f"{'per evaluation round':<36} {'obsgen':>9} {'naive':>9} {'ratio':>6}")
    for key, what in (("seconds", "rule groups' duration (s)"), ("cpu", "process CPU (s)")):
        print(f"{what:<36} {o[key]:>9.4f} {n[key]:>9.4f} {o[key] / max(n[key], 1e-9):>6.2f}")
    print(f"{'rounds measured / missed':<36} {o['rounds']:>5.0f}/{o['missed']:<3.0f} {n['rounds']:>5.0f}/{n['missed']:<3.0f}")
    print(verdict("rule groups' duration", o["seconds"] / n["seconds"]))
    print(verdict("process CPU", o["cpu"] / n["cpu"]))
    same = o["alerts"] == n["alerts"]
    print("ALERTS identical:" if same else "ALERTS DIFFER:", "obsgen", o["alerts"], *([] if same else ["naive", n["alerts"]]))


if __name__ == "__main__":
    main()
