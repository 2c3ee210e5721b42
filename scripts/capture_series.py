"""Run the real exporters, Prometheus and Alertmanager on 127.0.0.1 and save what each exposes at /metrics
as tests/fixtures/metrics/<name>.prom. Called by scripts/capture-series.sh, which fetches the software.

Each fixture starts with one comment line naming the Debian package and version that produced it, then a
line saying how it was set up; the rest is the exposition text exactly as served. Every process is
started in its own process group and stopped by its handle, also when a step fails; the whole run is
bounded by --timeout seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from e2e_support import (  # noqa: E402 - the test helpers, found through the path set just above
    HOST,
    LocalServer,
    Server,
    _QuietHandler,
    free_port,
    runnable_alertmanager,
    wait_until,
)

PG_BIN = Path("/usr/lib/postgresql")
STEP_TIMEOUT = 30.0  # seconds any one wait may take
AS_PG = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


class Failed(RuntimeError):
    pass


class Answering(LocalServer):
    """An HTTP server answering every request with one status code, counting the requests."""

    def __init__(self, code: int):
        self.hits = 0
        server = self

        class Handler(_QuietHandler):
            def answer(self) -> None:
                server.hits += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.reply(code, f"{code}\n".encode())

            do_GET = do_POST = answer

        super().__init__(Handler)


def fetch(url: str, data: bytes | None = None) -> str:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return str(resp.read().decode("utf-8"))


def serving(url: str) -> bool:
    try:
        fetch(url)
        return True
    except OSError:
        return False


def wait_for(what: str, condition: Callable[[], bool], server: Server | None = None) -> None:
    if not wait_until(condition, STEP_TIMEOUT, 0.2):
        tail = f"; log:\n{server.log_tail()}" if server else ""
        raise Failed(f"timed out waiting for {what}{tail}")


def sample(text: str, metric: str, **labels: str) -> float:
    """The sum of the samples of `metric` whose labels include `labels` (0 when there is none)."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"{re.escape(metric)}(\{{.*\}})? (\S+)", line)
        if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
            total += float(m.group(2))
    return total


class Capture:
    def __init__(self, bin_dir: Path, etc_dir: Path, tools: Path, out: Path, work: Path,
                 versions: dict[str, str], stack: ExitStack):
        self.bin, self.etc, self.tools, self.out, self.work = bin_dir, etc_dir, tools, out, work
        self.versions, self.stack = versions, stack
        # what each capture started, by name (an exporter's is `<capture>-exporter`): the live test
        # (tests/test_exporters_live.py) starts the exporters through these captures and stops them by these
        self.servers: dict[str, Server] = {}
        # the local HTTP servers a capture put behind what it captures (HAProxy's backend), by name
        self.stand_ins: dict[str, Answering] = {}

    def start(self, name: str, args: list[str], port: int = 0, cwd: Path | None = None) -> Server:
        server = Server(args, port, self.work / f"{name}.log", cwd=cwd)
        self.stack.callback(server.stop)
        self.servers[name] = server
        return server

    def exporter(self, name: str, binary: str, args: list[str], env: dict[str, str] | None = None) -> Server:
        port = free_port()
        command = [str(self.bin / binary), *args, f"--web.listen-address={HOST}:{port}"]
        if env:  # through env(1), which execs: the exporter stays the process Server stops
            command = ["env", *(f"{k}={v}" for k, v in env.items()), *command]
        server = self.start(f"{name}-exporter", command, port)
        wait_for(f"{name} /metrics", lambda: serving(f"{server.url}/metrics"), server)
        return server

    def save(self, name: str, package: str, setup: str, text: str) -> None:
        header = f"# {name}: {package} {self.versions[package]}, captured by scripts/capture-series.sh\n"
        header += f"# setup: {setup}\n"
        (self.out / f"{name}.prom").write_text(header + text, "utf-8")
        print(f"capture-series: {name}.prom  {len(text.splitlines())} lines  ({package} {self.versions[package]})")

    # ------------------------------------------------------------------ exporters

    def node(self) -> None:
        exp = self.exporter("node", "prometheus-node-exporter", [])
        self.save("node", "prometheus-node-exporter", "default collectors, on this machine",
                  fetch(f"{exp.url}/metrics"))

    def postgres(self) -> None:
        bindir = max(PG_BIN.glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)).parent
        data, sock = self.work / "pg", self.work / "pg-socket"
        for d in (data, sock):
            d.mkdir()
            if os.getuid() == 0:
                os.chown(d, *_ids("postgres"))
        # PostgreSQL refuses to run as root: as root it runs as the postgres user, else as the caller
        as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] if os.getuid() == 0 else []
        subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                       check=True, capture_output=True, timeout=120)
        port = free_port()
        db = self.start("postgresql", [*as_pg, str(bindir / "postgres"), "-D", str(data), "-p", str(port),
                                       "-k", str(sock), "-c", f"listen_addresses={HOST}"], port)
        psql = [*as_pg, str(bindir / "psql"), "-h", HOST, "-p", str(port), "-U", "postgres", "-qAt"]

        def ready() -> bool:
            return subprocess.run([*psql, "-c", "select 1"], capture_output=True, timeout=10).returncode == 0

        wait_for("postgresql", ready, db)
        for sql in ("CREATE DATABASE app", "SELECT count(*) FROM pg_class"):
            subprocess.run([*psql, "-d", "app" if sql.startswith("SELECT") else "postgres", "-c", sql],
                           check=True, capture_output=True, timeout=30)
        dsn = f"postgresql://postgres@{HOST}:{port}/postgres?sslmode=disable"
        exp = self.exporter("postgres", "prometheus-postgres-exporter", [], env={"DATA_SOURCE_NAME": dsn})
        wait_for("pg_up 1", lambda: sample(fetch(f"{exp.url}/metrics"), "pg_up") == 1, exp)
        version = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
        self.save("postgres", "prometheus-postgres-exporter",
                  f"default collectors, connected to {version} holding databases postgres and app",
                  fetch(f"{exp.url}/metrics"))

    def redis(self) -> None:
        port = free_port()
        (self.work / "redis").mkdir()
        db = self.start("redis-server", ["redis-server", "--bind", HOST, "--port", str(port), "--save", "",
                                         "--appendonly", "no", "--dir", str(self.work / "redis")], port)
        wait_for("redis-server", lambda: _redis(port, "PING") == "+PONG", db)
        for command in ("SET capture:key value", "GET capture:key", "GET capture:missing"):
            _redis(port, *command.split())
        exp = self.exporter("redis", "prometheus-redis-exporter", [f"--redis.addr=redis://{HOST}:{port}"])
        wait_for("redis_up 1", lambda: sample(fetch(f"{exp.url}/metrics"), "redis_up") == 1, exp)
        version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.split()[2]
        self.save("redis", "prometheus-redis-exporter",
                  f"default flags, connected to redis-server {version} (one key set, one hit, one miss)",
                  fetch(f"{exp.url}/metrics"))

    def nginx(self) -> None:
        port, root = free_port(), self.work / "nginx"
        root.mkdir()
        (root / "nginx.conf").write_text(f"""\
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log stderr;
events {{}}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen {HOST}:{port};
        location = /stub_status {{ stub_status; }}
        location / {{ return 200 "ok\\n"; }}
    }}
}}
""", "utf-8")
        web = self.start("nginx", ["nginx", "-p", str(root), "-c", str(root / "nginx.conf"), "-e", "stderr"], port)
        wait_for("nginx", lambda: serving(f"http://{HOST}:{port}/"), web)
        for _ in range(3):
            fetch(f"http://{HOST}:{port}/")
        exp = self.exporter("nginx", "prometheus-nginx-exporter",
                            [f"--nginx.scrape-uri=http://{HOST}:{port}/stub_status"])
        wait_for("nginx_up 1", lambda: sample(fetch(f"{exp.url}/metrics"), "nginx_up") == 1, exp)
        version = subprocess.run(["nginx", "-v"], capture_output=True, text=True, timeout=10).stderr.strip()
        self.save("nginx", "prometheus-nginx-exporter", f"reading the stub_status of {version.split(': ')[-1]}",
                  fetch(f"{exp.url}/metrics"))

    def blackbox(self) -> None:
        ok, failing = Answering(200), Answering(500)
        self.stack.callback(ok.close)
        self.stack.callback(failing.close)
        config = self.etc / "blackbox.yml"
        exp = self.exporter("blackbox", "prometheus-blackbox-exporter", [f"--config.file={config}"])
        package = "prometheus-blackbox-exporter"
        for name, target, expect in (("blackbox-probe-success", ok, 1), ("blackbox-probe-failure", failing, 0)):
            query = urllib.parse.urlencode({"target": f"http://{target.address}/health", "module": "http_2xx"})
            text = fetch(f"{exp.url}/probe?{query}")
            if sample(text, "probe_success") != expect:
                raise Failed(f"{name}: probe_success is not {expect}:\n{text}")
            code = 200 if expect else 500
            self.save(name, package, f"/probe?module=http_2xx (Debian's blackbox.yml) of a local server answering "
                      f"{code}", text)
        self.save("blackbox", package, "Debian's blackbox.yml, after the two probes",
                  fetch(f"{exp.url}/metrics"))

    # ------------------------------------------------------------------ more integrations

    def _postgresql(self) -> tuple[list[str], int, Path]:
        """A fresh PostgreSQL cluster on 127.0.0.1 (user postgres, trust): (psql command, port, bin dir)."""
        bindir = max(PG_BIN.glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)).parent
        data, sock = self.work / "pgb-pg", self.work / "pgb-pg-socket"
        for d in (data, sock):
            d.mkdir()
            os.chown(d, *_ids("postgres"))
        subprocess.run([*AS_PG, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                       check=True, capture_output=True, timeout=120)
        port = free_port()
        # not "postgresql": the live test runs this beside the postgres capture's own cluster
        db = self.start("pgbouncer-postgresql", [*AS_PG, str(bindir / "postgres"), "-D", str(data), "-p", str(port),
                                                 "-k", str(sock), "-c", f"listen_addresses={HOST}"], port)
        psql = [*AS_PG, str(bindir / "psql"), "-h", HOST, "-p", str(port), "-U", "postgres", "-qAt"]
        wait_for("postgresql", lambda: subprocess.run([*psql, "-c", "select 1"], capture_output=True,
                                                      timeout=10).returncode == 0, db)
        return psql, port, bindir

    def mysqld(self) -> None:
        data, run = self.work / "mysql", self.work / "mysql-run"
        for d in (data, run):
            d.mkdir()
            os.chown(d, *_ids("mysql"))
        # --no-defaults, as the server below: nothing of the system's /etc/mysql (which names one pid-file in
        # /run/mysqld for every server reading it)
        subprocess.run(["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={data}", "--skip-test-db",
                        "--auth-root-authentication-method=socket"], check=True, capture_output=True, timeout=120)
        port, sock = free_port(), run / "mysqld.sock"
        db = self.start("mariadb", ["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={data}",
                                    f"--socket={sock}", f"--bind-address={HOST}", f"--port={port}",
                                    f"--pid-file={run}/mysqld.pid", "--skip-log-bin"], port)
        client = ["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-N", "-e"]
        wait_for("mariadb", lambda: subprocess.run([*client, "SELECT 1"], capture_output=True,
                                                   timeout=10).returncode == 0, db)
        subprocess.run([*client, f"CREATE USER 'exporter'@'{HOST}' IDENTIFIED BY 'capture'; "
                                 f"GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'exporter'@'{HOST}'; "
                                 "CREATE DATABASE app"], check=True, capture_output=True, timeout=30)
        cnf = self.work / "exporter.my.cnf"
        cnf.write_text(f"[client]\nuser=exporter\npassword=capture\nhost={HOST}\nport={port}\n", "utf-8")
        exp = self.exporter("mysqld", "prometheus-mysqld-exporter", [f"--config.my-cnf={cnf}"])
        wait_for("mysql_up 1", lambda: sample(fetch(f"{exp.url}/metrics"), "mysql_up") == 1, exp)
        version = subprocess.run(["mariadbd", "--version"], capture_output=True, text=True, timeout=10).stdout
        self.save("mysqld", "prometheus-mysqld-exporter",
                  f"default collectors, connected to {' '.join(version.split()[1:4])} over TCP",
                  fetch(f"{exp.url}/metrics"))

    def pgbouncer(self) -> None:
        psql, pg_port, _ = self._postgresql()
        subprocess.run([*psql, "-c", "CREATE DATABASE app"], check=True, capture_output=True, timeout=30)
        root = self.work / "pgbouncer"
        root.mkdir()
        port = free_port()
        (root / "pgbouncer.ini").write_text(f"""\
[databases]
app = host={HOST} port={pg_port} dbname=app user=postgres
[pgbouncer]
listen_addr = {HOST}
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root}/userlist.txt
admin_users = postgres
stats_users = postgres
pool_mode = transaction
ignore_startup_parameters = extra_float_digits
""", "utf-8")
        (root / "userlist.txt").write_text('"postgres" ""\n', "utf-8")
        os.chown(root, *_ids("postgres"))
        bouncer = self.start("pgbouncer", [*AS_PG, "pgbouncer", str(root / "pgbouncer.ini")], port)
        client = [a if a != str(pg_port) else str(port) for a in psql]
        wait_for("pgbouncer", lambda: subprocess.run([*client, "-d", "app", "-c", "select 1"], capture_output=True,
                                                     timeout=10).returncode == 0, bouncer)
        dsn = f"postgres://postgres@{HOST}:{port}/pgbouncer?sslmode=disable"
        exp = self.exporter("pgbouncer", "prometheus-pgbouncer-exporter", [f"--pgBouncer.connectionString={dsn}"])
        wait_for("pgbouncer_up 1", lambda: sample(fetch(f"{exp.url}/metrics"), "pgbouncer_up") == 1, exp)
        version = subprocess.run(["pgbouncer", "--version"], capture_output=True, text=True, timeout=10).stdout
        self.save("pgbouncer", "prometheus-pgbouncer-exporter",
                  f"connected to the admin console of {version.splitlines()[0]} pooling database app of PostgreSQL",
                  fetch(f"{exp.url}/metrics"))

    def haproxy(self) -> None:
        """HAProxy's built-in exporter (Debian builds it with USE_PROMEX): one backend with a server that
        answers, one whose only server is down."""
        ok = Answering(200)
        self.stack.callback(ok.close)
        self.stand_ins["haproxy-app"] = ok
        root, port, web, closed = self.work / "haproxy", free_port(), free_port(), free_port()
        root.mkdir()
        (root / "haproxy.cfg").write_text(f"""\
global
    log stderr format raw local0 err
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend stats
    bind {HOST}:{port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
frontend web
    bind {HOST}:{web}
    default_backend app
backend app
    server app1 {ok.address} check inter 1s
backend broken
    server broken1 {HOST}:{closed} check inter 1s fall 1
""", "utf-8")
        proxy = self.start("haproxy", ["haproxy", "-db", "-f", str(root / "haproxy.cfg")], port)
        wait_for("haproxy", lambda: serving(f"http://{HOST}:{port}/metrics"), proxy)
        for _ in range(3):
            fetch(f"http://{HOST}:{web}/")
        wait_for("the broken server seen down", lambda: 'haproxy_server_status{proxy="broken",server="broken1",'
                 'state="DOWN"} 1' in fetch(f"http://{HOST}:{port}/metrics"), proxy)
        self.save("haproxy", "haproxy", "its built-in Prometheus exporter; backend app with a server answering 200, "
                  "backend broken with a server that is down", fetch(f"http://{HOST}:{port}/metrics"))

    def process(self, names: Sequence[str] = ()) -> None:
        """The fixture: watching a `sleep` it starts and a name that never runs. With `names` (the live
        test's), only the exporter, watching those."""
        if names:
            self.exporter("process", "prometheus-process-exporter", [f"-procnames={','.join(names)}"])
            return
        sleeper = self.start("sleep", ["sleep", "600"])
        exp = self.exporter("process", "prometheus-process-exporter", ["-procnames=sleep,capture-absent"])
        wait_for("the sleep group", lambda: "groupname=\"sleep\"" in fetch(f"{exp.url}/metrics"), sleeper)
        self.save("process", "prometheus-process-exporter",
                  "-procnames=sleep,capture-absent: one `sleep` running, no process named capture-absent",
                  fetch(f"{exp.url}/metrics"))

    def pushgateway(self, push: bool = True) -> None:
        """The fixture: one group pushed, one push refused. Without `push` (the live test, which pushes
        its own), only the Pushgateway."""
        exp = self.exporter("pushgateway", "prometheus-pushgateway", [])
        if not push:
            return
        fetch(f"{exp.url}/metrics/job/nightly-backup/instance/runner-1",
              b"# TYPE backup_last_success_timestamp_seconds gauge\nbackup_last_success_timestamp_seconds 1.7e9\n")
        # a push whose metric clashes with the one already there (a counter of the same name): refused, and
        # recorded in push_failure_time_seconds of its group
        try:
            fetch(f"{exp.url}/metrics/job/nightly-backup/instance/runner-2",
                  b"# TYPE backup_last_success_timestamp_seconds counter\nbackup_last_success_timestamp_seconds 1\n")
        except OSError:
            pass
        self.save("pushgateway", "prometheus-pushgateway",
                  "group job=nightly-backup,instance=runner-1 pushed, a clashing push to instance=runner-2 refused",
                  fetch(f"{exp.url}/metrics"))

    def mongodb(self) -> None:
        closed, port = free_port(), free_port()
        # each scrape waits out the driver's 10-second dial of the absent server
        exp = self.start("mongodb", [str(self.bin / "prometheus-mongodb-exporter"),
                                     f"-mongodb.uri=mongodb://{HOST}:{closed}", f"-web.listen-address={HOST}:{port}"],
                         port)
        wait_for("mongodb exporter listening", lambda: _accepts(port), exp)
        with urllib.request.urlopen(f"{exp.url}/metrics", timeout=60) as resp:
            text = resp.read().decode("utf-8")
        self.save("mongodb", "prometheus-mongodb-exporter",
                  "no MongoDB server reachable (Debian has none): only what the exporter says without one", text)

    def elasticsearch(self) -> None:
        closed = free_port()
        exp = self.exporter("elasticsearch", "prometheus-elasticsearch-exporter",
                            [f"--es.uri=http://{HOST}:{closed}", "--es.timeout=1s"])
        fetch(f"{exp.url}/metrics")  # the first scrape tries the server and fails
        self.save("elasticsearch", "prometheus-elasticsearch-exporter",
                  "no Elasticsearch server reachable (Debian has none): only what the exporter says without one",
                  fetch(f"{exp.url}/metrics"))

    # ------------------------------------------------------------------ the stack

    def stack_servers(self) -> None:
        """Alertmanager with one webhook receiver that fails, and Prometheus sending it an always-firing
        alert (and to a second Alertmanager address where nothing listens), scraping both, with a rule
        group whose rule fails at every evaluation."""
        failing = Answering(500)
        self.stack.callback(failing.close)
        am_port, prom_port, closed = free_port(), free_port(), free_port()
        am_dir, prom_dir = self.work / "alertmanager", self.work / "prometheus"
        am_dir.mkdir()
        (prom_dir / "rules").mkdir(parents=True)
        (am_dir / "alertmanager.yml").write_text(yaml.safe_dump({
            "route": {"receiver": "failing", "group_by": ["alertname"], "group_wait": "0s",
                      "group_interval": "1s", "repeat_interval": "1m"},
            "receivers": [{"name": "failing", "webhook_configs": [
                {"url": f"http://{failing.address}/webhook", "send_resolved": False}]}],
        }, sort_keys=False), "utf-8")
        binary = runnable_alertmanager(str(self.tools / "alertmanager"), am_dir)
        am = self.start("alertmanager", [binary, f"--config.file={am_dir}/alertmanager.yml",
                                         f"--storage.path={am_dir}/data", f"--web.listen-address={HOST}:{am_port}",
                                         "--cluster.listen-address="], am_port, cwd=am_dir)
        # relative paths, as in obsgen's layout: rule_group is then "rules/capture.yml;<group>"
        (prom_dir / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules/*.yml"],
            "alerting": {"alertmanagers": [{"api_version": "v2", "static_configs": [
                {"targets": [f"{HOST}:{am_port}", f"{HOST}:{closed}"]}]}]},
            "scrape_configs": [
                {"job_name": "prometheus", "static_configs": [{"targets": [f"{HOST}:{prom_port}"]}]},
                {"job_name": "alertmanager", "static_configs": [{"targets": [f"{HOST}:{am_port}"]}]},
            ],
        }, sort_keys=False), "utf-8")
        (prom_dir / "rules" / "capture.yml").write_text(yaml.safe_dump({"groups": [
            {"name": "capture", "rules": [{"alert": "CaptureAlwaysFiring", "expr": "vector(1)"}]},
            # two series that differ only in their name collide once renamed: an evaluation failure
            {"name": "capture-failing", "rules": [
                {"record": "capture:collision", "expr": '{__name__=~"up|scrape_duration_seconds"}'}]},
        ]}, sort_keys=False), "utf-8")
        prom = self.start("prometheus", [str(self.tools / "prometheus"), "--config.file=prometheus.yml",
                                         f"--storage.tsdb.path={prom_dir}/tsdb",
                                         f"--web.listen-address={HOST}:{prom_port}",
                                         "--rules.alert.resend-delay=1s"], prom_port, cwd=prom_dir)
        am.wait_ready()
        prom.wait_ready()

        def prom_metrics() -> str:
            return fetch(f"{prom.url}/metrics")

        def am_metrics() -> str:
            return fetch(f"{am.url}/metrics")

        wait_for("a failed rule evaluation",
                 lambda: sample(prom_metrics(), "prometheus_rule_evaluation_failures_total") > 0, prom)
        wait_for("alerts sent to the Alertmanager",
                 lambda: sample(prom_metrics(), "prometheus_notifications_sent_total",
                                alertmanager=f"http://{HOST}:{am_port}/api/v2/alerts") > 0, prom)
        wait_for("alerts failing to reach the closed address",
                 lambda: sample(prom_metrics(), "prometheus_notifications_errors_total") > 0, prom)
        wait_for("the webhook receiver called", lambda: failing.hits > 0, am)
        wait_for("failed notifications counted",
                 lambda: sample(am_metrics(), "alertmanager_notifications_failed_total",
                                integration="webhook") > 0, am)
        alerts = json.loads(fetch(f"{prom.url}/api/v1/alerts"))["data"]["alerts"]
        assert any(a["labels"]["alertname"] == "CaptureAlwaysFiring" for a in alerts)
        self.save("prometheus", "prometheus",
                  "scraping itself and the Alertmanager, one rule group failing, alerts sent to the Alertmanager "
                  "and to a closed port", prom_metrics())
        self.save("alertmanager", "prometheus-alertmanager",
                  "an always-firing alert routed to a webhook receiver whose server answers 500", am_metrics())


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return True
    except OSError:
        return False


def _redis(port: int, *args: str) -> str:
    """One command in RESP; the first line of the reply."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    try:
        with socket.create_connection((HOST, port), timeout=5) as s:
            s.sendall(payload.encode())
            return s.recv(4096).decode().split("\r\n")[0]
    except OSError:
        return ""


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: Any) -> None:
        raise Failed(f"capture took longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", type=Path, required=True, help="folder holding the exporters' binaries")
    parser.add_argument("--etc", type=Path, required=True, help="the exporters' /etc/prometheus (blackbox.yml)")
    parser.add_argument("--tools", type=Path, default=ROOT / ".tools" / "bin",
                        help="folder holding prometheus and alertmanager")
    parser.add_argument("--versions", type=Path, required=True,
                        help="JSON: Debian package -> 'version (suite)'")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "metrics")
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("only", nargs="*", help="captures to run (default: all)")
    args = parser.parse_args()
    versions = json.loads(args.versions.read_text("utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    steps = ["node", "postgres", "redis", "nginx", "blackbox", "stack_servers", "mysqld", "pgbouncer",
             "haproxy", "process", "pushgateway", "mongodb", "elasticsearch"]
    with tempfile.TemporaryDirectory(prefix="capture-series.") as tmp, deadline(args.timeout):
        work = Path(tmp)
        work.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data directory
        for step in args.only or steps:
            with ExitStack() as stack:  # every process of a step stops before the next starts
                Capture(args.bin, args.etc, args.tools, args.out, work, versions, stack).__getattribute__(step)()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (Failed, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", None)
        print(f"capture-series: ERROR: {e}{': ' + detail.decode() if isinstance(detail, bytes) else ''}",
              file=sys.stderr)
        sys.exit(1)
