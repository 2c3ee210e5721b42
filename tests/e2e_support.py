"""Helpers for the end-to-end test: a tiny instrumented HTTP app, webhook receivers standing in for the
notification channels, and starting/stopping the real Prometheus and Alertmanager.

Everything listens on 127.0.0.1 only; servers pick their own free ports.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
# The classic client-library default buckets of a latency histogram.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# Ports handed to servers are taken below the kernel's ephemeral range (32768 and up, where bind(0) and
# outgoing connections take theirs), each xdist worker from a block of its own, never twice in a process:
# a port picked by bind(0) and passed on can be picked again by another test before its server binds it.
_PORT_BLOCK = 1000
_worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0) % 22
_next_port = itertools.count(10000 + _PORT_BLOCK * _worker)


def free_port() -> int:
    """A port on 127.0.0.1 no other test of this run is given; free when given (checked by binding it)."""
    for port in _next_port:
        if port >= 32768:
            break
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port left below the ephemeral range")


def listening_pids(port: int) -> set[int]:
    """The processes holding a socket that listens on 127.0.0.1:`port` (Linux: /proc/net/tcp and each
    process's fds); empty when none is found."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, port_hex = fields[1].split(":")
        if fields[3] == "0A" and int(port_hex, 16) == port and address in ("0100007F", "00000000"):
            inodes.add(f"socket:[{fields[9]}]")
    pids = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) in inodes for fd in fd_dir.iterdir()):
                pids.add(int(fd_dir.parent.name))
        except OSError:  # gone, or not ours to read
            continue
    return pids


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll until condition() is true or timeout seconds pass; never raises on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def responds(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


class LocalServer:
    """A ThreadingHTTPServer on a free 127.0.0.1 port, served from a daemon thread until close()."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self._server = ThreadingHTTPServer((HOST, 0), handler)
        self.address = f"{HOST}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass

    def reply(self, code: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# --------------------------------------------------------------------------- the instrumented app


@dataclass(frozen=True)
class Traffic:
    """The knob: requests per second, the share of them answered 5xx, and how long each one takes."""

    rps: float
    error_ratio: float = 0.0
    latency: float = 0.03


class MetricsApp(LocalServer):
    """Exposes a requests counter by status and a latency histogram, e.g. `http_requests_total{status}`
    and `http_request_duration_seconds`, at `path`.

    No real requests are served: the counters advance with wall time at the rate the current Traffic
    says, as a real service's would, so switching Traffic drives the service into failure and back.
    """

    def __init__(self, requests_total: str, duration_histogram: str, status_label: str, path: str,
                 traffic: Traffic):
        self.names = requests_total, duration_histogram, status_label
        self._lock = threading.Lock()
        self._traffic = traffic
        self._last = time.monotonic()
        self._requests = {"200": 0.0, "500": 0.0}
        self._buckets = [0.0] * len(BUCKETS)
        self._sum = self._count = 0.0
        app = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                if self.path != path:
                    return self.reply(404)
                self.reply(200, app.exposition().encode(), "text/plain; version=0.0.4")

        super().__init__(Handler)

    def drive(self, traffic: Traffic, surge: float = 0.0) -> None:
        """From now on serve `traffic`, starting with `surge` requests of its kind at once."""
        with self._lock:
            self._advance()
            self._traffic = traffic
            self._serve(surge)

    def _advance(self) -> None:
        now = time.monotonic()
        self._serve(self._traffic.rps * (now - self._last))
        self._last = now

    def _serve(self, n: float) -> None:
        t = self._traffic
        self._requests["500"] += n * t.error_ratio
        self._requests["200"] += n * (1 - t.error_ratio)
        self._buckets = [b + n if t.latency <= le else b
                         for b, le in zip(self._buckets, BUCKETS, strict=True)]
        self._sum += n * t.latency
        self._count += n

    def exposition(self) -> str:
        requests, histogram, status = self.names
        with self._lock:
            self._advance()
            lines = [f"# TYPE {requests} counter"]
            lines += [f'{requests}{{{status}="{code}"}} {value!r}' for code, value in self._requests.items()]
            lines.append(f"# TYPE {histogram} histogram")
            lines += [f'{histogram}_bucket{{le="{le!r}"}} {value!r}'
                      for le, value in zip(BUCKETS, self._buckets, strict=True)]
            lines += [f'{histogram}_bucket{{le="+Inf"}} {self._count!r}',
                      f"{histogram}_sum {self._sum!r}",
                      f"{histogram}_count {self._count!r}"]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- webhook receivers


@dataclass(frozen=True)
class Delivery:
    """One alert in one notification: which receiver got it, firing or resolved, and its labels."""

    receiver: str
    status: str
    labels: dict[str, str]
    at: float  # time.monotonic() of arrival


class WebhookSink(LocalServer):
    """Alertmanager webhook endpoint; /<receiver> stands in for the channel of that name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        sink = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                sink._record(self.path.lstrip("/"), payload)
                self.reply(200)

        super().__init__(Handler)

    def url(self, receiver: str) -> str:
        return f"http://{self.address}/{receiver}"

    def _record(self, receiver: str, payload: dict[str, Any]) -> None:
        now = time.monotonic()
        with self._lock:
            self._deliveries += [Delivery(receiver, a["status"], a["labels"], now) for a in payload["alerts"]]

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)


# --------------------------------------------------------------------------- processes


DEBIAN_ASSETS = b"/usr/share/prometheus/alertmanager"
LOCAL_ASSETS = b"./" * 14 + b"assets"  # the same length, so the binary can be patched in place


def runnable_alertmanager(binary: str, workdir: Path) -> str:
    """Debian's alertmanager reads its default templates from DEBIAN_ASSETS, which `make tools` does not
    install (it unpacks only the binaries), and refuses to start without them. This makes a copy that
    reads them from `assets/` in its working directory, holding empty ones: receivers here are all
    webhooks, which use no template. Any other build is returned as it is."""
    data = Path(binary).read_bytes()
    if DEBIAN_ASSETS not in data:
        return binary
    assert len(LOCAL_ASSETS) == len(DEBIAN_ASSETS)
    (workdir / "assets").mkdir(parents=True, exist_ok=True)
    for name in ("default.tmpl", "email.tmpl"):
        (workdir / "assets" / name).write_text("", "utf-8")
    patched = workdir / "alertmanager"
    patched.write_bytes(data.replace(DEBIAN_ASSETS, LOCAL_ASSETS))
    patched.chmod(0o755)
    return str(patched)


def _in_group(pid: int, group: int) -> bool:
    try:
        return os.getpgid(pid) == group
    except OSError:
        return False


class Server:
    """A real server binary in its own process group, logging to a file, answering on 127.0.0.1:port."""

    def __init__(self, args: list[str], port: int, log: Path, cwd: Path | None = None):
        self.address = f"{HOST}:{port}"
        self.url = f"http://{self.address}"
        self.log = log
        with log.open("wb") as out:
            self._proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True)

    def wait_ready(self, timeout: float = 20) -> None:
        # stops polling as soon as the process has exited
        wait_until(lambda: self._proc.poll() is not None or responds(f"{self.url}/-/ready"), timeout)
        if self._proc.poll() is not None or not responds(f"{self.url}/-/ready"):
            raise RuntimeError(f"{self.log.stem} did not become ready; log:\n{self.log_tail()}")
        # an answer from another process on that port would make the test check the wrong server
        owners = listening_pids(int(self.address.rsplit(":", 1)[1]))
        if owners and not any(_in_group(pid, self._proc.pid) for pid in owners):
            raise RuntimeError(f"{self.address} is answered by pid {sorted(owners)}, not by {self.log.stem} "
                               f"(pid {self._proc.pid}); log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL it if it lingers."""
        if self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=5)
