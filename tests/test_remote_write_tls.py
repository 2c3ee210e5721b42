"""TLS of a remote_write: the CA, a client certificate and the name to verify, as files by reference.

Rendered into prometheus.yml's `tls_config` (compose mounts the files as secrets), into the Prometheus
resource's `tlsConfig` as keys of the `prometheus-secrets` Secret in operator mode (checked against the CRD),
and refused where it cannot work. Then for real: a Prometheus started from the rendered config sends its
samples over mutual TLS to a local HTTPS receiver that demands the client certificate, and fails to send
anything once the certificate is taken out of the config.
"""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, require_tool, write_tree
from e2e_support import HOST, Server, free_port, wait_until

from obsgen import crds
from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.spec import SpecError, load_spec_text

SECRETS = "/etc/prometheus/secrets"
TLS = {"ca_file": f"{SECRETS}/mimir-ca.pem", "cert_file": f"{SECRETS}/client.pem",
       "key_file": f"{SECRETS}/client-key.pem", "server_name": "mimir.internal", "min_version": "TLS13"}


def spec(url: str = "https://mimir.example.com/api/v1/push", operator: bool = False, **tls: Any) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    rw = data["stack"]["prometheus"]["remote_write"][0]
    rw.pop("basic_auth")  # the client certificate authenticates
    rw.update(url=url, tls=tls or dict(TLS))
    if operator:
        data["stack"]["deploy"] = ["kubernetes"]
        data["stack"]["kubernetes"] = {"prometheus_operator": True}
        data["routing"]["quiet_hours"]["timezone"] = "Etc/GMT-1"  # operator mode: one UTC offset
    return data


def render(data: dict[str, Any]) -> dict[str, str]:
    return render_all(resolve(load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml"), "obsgen.yaml"))


def test_prometheus_yml_and_compose_carry_the_files(tmp_path: Path) -> None:
    files = render(spec())
    (rw,) = yaml.safe_load(files["prometheus/prometheus.yml"])["remote_write"]
    assert rw["tls_config"] == TLS
    compose = yaml.safe_load(files["docker-compose.yml"])
    mounted = {s["target"] for s in compose["services"]["prometheus"]["secrets"]}
    assert {TLS["ca_file"], TLS["cert_file"], TLS["key_file"]} <= mounted
    promtool = require_tool("promtool")
    out = write_tree(tmp_path, files)
    proc = subprocess.run([promtool, "check", "config", "prometheus/prometheus.yml"], cwd=out, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_operator_mode_references_the_secret_keys_and_passes_the_crd(tmp_path: Path) -> None:
    from test_operator_stack import built

    objects = built(write_tree(tmp_path, render(spec(operator=True))))
    (prom,) = [o for o in objects if o["kind"] == "Prometheus"]
    (rw,) = prom["spec"]["remoteWrite"]
    ref = {"name": "prometheus-secrets"}
    assert rw["tlsConfig"] == {"ca": {"secret": {**ref, "key": "mimir-ca.pem"}},
                               "cert": {"secret": {**ref, "key": "client.pem"}},
                               "keySecret": {**ref, "key": "client-key.pem"},
                               "serverName": "mimir.internal", "minVersion": "TLS13"}
    assert all(r.status == "passed" for r in crds.check_custom_resources(objects))
    kustomization = (tmp_path / "kubernetes/kustomization.yaml").read_text()
    assert "--from-file=client-key.pem=<file for /etc/prometheus/secrets/client-key.pem>" in kustomization


@pytest.mark.parametrize("data, place, words", [
    (spec(url="http://mimir.example.com/api/v1/push"), "remote_write[0].tls", "take an https URL"),
    (spec(server_name=None), "remote_write[0].tls", "an empty `tls` block changes nothing"),
    (spec(cert_file=f"{SECRETS}/client.pem"), "remote_write[0].tls.key_file", "both `cert_file` and `key_file`"),
    (spec(key_file=f"{SECRETS}/k.pem"), "remote_write[0].tls.cert_file", "both `cert_file` and `key_file`"),
    (spec(ca_file="ca.pem"), "remote_write[0].tls.ca_file", ""),
])
def test_tls_that_cannot_work_is_refused_at_its_place(data: dict[str, Any], place: str, words: str) -> None:
    with pytest.raises(SpecError) as e:
        load_spec_text(yaml.safe_dump(data, sort_keys=False), "obsgen.yaml")
    assert any(place in line and words in line for line in e.value.lines()), e.value.lines()


# --------------------------------------------------------------------------- for real


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def _certificates(d: Path) -> None:
    """A CA, the receiver's certificate for mimir.internal and a client certificate, both signed by the CA."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=obsgen test CA", cwd=d)
    for name, cn, ext in (("server", "mimir.internal", "subjectAltName=DNS:mimir.internal"),
                          ("client", "prometheus-client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
                 "-subj", f"/CN={cn}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


class _Receiver:
    """An HTTPS endpoint on 127.0.0.1 that demands a client certificate from the CA and records each push."""

    def __init__(self, d: Path) -> None:
        pushes: list[dict[str, Any]] = []
        self.pushes = pushes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                peer = self.connection.getpeercert()  # type: ignore[attr-defined]
                subject = dict(x[0] for x in peer["subject"]) if peer else {}
                pushes.append({"path": self.path, "tenant": self.headers.get("X-Scope-OrgID"),
                               "encoding": self.headers.get("Content-Encoding"), "client": subject.get("commonName"),
                               "bytes": len(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(d / "server.pem", d / "server-key.pem")
        context.load_verify_locations(d / "ca.pem")
        context.verify_mode = ssl.CERT_REQUIRED
        self._server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _run_prometheus(out: Path, certs: Path, port: int, tmp: Path, client_cert: bool) -> Server:
    """Prometheus from the rendered config: only the remote_write's target and the TLS files' places changed,
    and it scrapes only itself (the samples it sends)."""
    cfg = yaml.safe_load((out / "prometheus/prometheus.yml").read_text())
    (rw,) = cfg["remote_write"]
    rw["url"] = f"https://{HOST}:{port}/api/v1/push"
    places = {TLS["ca_file"]: certs / "ca.pem", TLS["cert_file"]: certs / "client.pem",
              TLS["key_file"]: certs / "client-key.pem"}
    tls = rw["tls_config"]
    for key in ("ca_file", "cert_file", "key_file"):
        tls[key] = str(places[tls[key]])
    if not client_cert:
        del tls["cert_file"], tls["key_file"]
    own = free_port()
    cfg.update(rule_files=[], alerting={"alertmanagers": []},
               scrape_configs=[{"job_name": "prometheus", "scrape_interval": "1s",
                                "static_configs": [{"targets": [f"{HOST}:{own}"]}]}])
    config = tmp / "prometheus.yml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    server = Server([require_tool("prometheus"), f"--config.file={config}", f"--web.listen-address={HOST}:{own}",
                     f"--storage.tsdb.path={tmp / 'data'}"], own, tmp / "prometheus.log")
    server.wait_ready()
    return server


@pytest.mark.parametrize("client_cert", [True, False], ids=["with-client-cert", "without"])
def test_a_real_prometheus_pushes_over_mutual_tls(tmp_path: Path, client_cert: bool) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    _certificates(certs)
    out = write_tree(tmp_path / "out", render(spec()))
    receiver = _Receiver(certs)
    run = tmp_path / "run"
    run.mkdir()
    prometheus = _run_prometheus(out, certs, receiver.port, run, client_cert)
    # the TLS error Prometheus sees varies with when the receiver's refusal reaches it ("certificate required",
    # a reset, EOF); that it failed to send is what it always logs
    refused = 'msg="Failed to send batch, retrying"'
    try:
        if client_cert:
            arrived = wait_until(lambda: bool(receiver.pushes), timeout=45)
        else:  # the receiver refuses the handshake, Prometheus says why, and nothing arrives
            assert wait_until(lambda: refused in prometheus.log.read_text("utf-8", "replace"), timeout=45), \
                prometheus.log_tail()
    finally:
        prometheus.stop()
        receiver.close()
    if not client_cert:
        assert not receiver.pushes
        return
    assert arrived, prometheus.log_tail()
    push = receiver.pushes[0]
    assert push == {**push, "path": "/api/v1/push", "tenant": "shop", "encoding": "snappy",
                    "client": "prometheus-client"} and push["bytes"] > 0
