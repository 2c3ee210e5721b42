"""docker-compose.yml: the whole stack on one host, running the files the other renderers generate.

Also home of the runtime facts both deploy targets share (images, ports, paths inside containers, the
secret files a spec names), so compose and Kubernetes can never disagree about them.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
from typing import Any

from ..model import Model
from ..stack_targets import BUILT_IN, DEFAULT_BACKENDS
from . import alertmanager, blackbox, fluentd, loki, prometheus
from .common import dump_yaml, header
from .grafana import DASHBOARDS_DIR

# Pinned images, the one place to bump them. Each comment says what a healthcheck can use inside it.
IMAGES = {
    "prometheus": "prom/prometheus:v3.5.3",  # 3.5 LTS, as promtool in .tools; busybox: wget
    "alertmanager": "prom/alertmanager:v0.33.1",  # as amtool in .tools; busybox: wget
    "grafana": "grafana/grafana:12.4.0",  # Alpine: busybox wget
    "loki": "grafana/loki:3.7.2",  # distroless since 3.6: no shell; `loki -health` probes /ready
    "node": "prom/node-exporter:v1.9.1",  # busybox: wget
    "cadvisor": "gcr.io/cadvisor/cadvisor:v0.55.1",  # Alpine: wget
    "postgres": "quay.io/prometheuscommunity/postgres-exporter:v0.18.1",  # busybox: wget, sh
    "redis": "oliver006/redis_exporter:v1.69.0",  # FROM scratch: no healthcheck possible
    "nginx": "nginx/nginx-prometheus-exporter:1.5.1",  # FROM scratch: no healthcheck possible
    "blackbox": "prom/blackbox-exporter:v0.28.0",  # busybox: wget
    "mysqld": "prom/mysqld-exporter:v0.19.0",  # busybox: wget
    "pgbouncer": "quay.io/prometheuscommunity/pgbouncer-exporter:v0.12.0",  # busybox: wget
    "process": "ncabatoff/process-exporter:0.8.7",  # Debian slim: no wget
    "pushgateway": "prom/pushgateway:v1.11.2",  # busybox: wget
    "mongodb": "percona/mongodb_exporter:0.47.1",  # FROM scratch-like: no healthcheck possible
    "elasticsearch": "quay.io/prometheuscommunity/elasticsearch-exporter:v1.10.0",  # busybox: wget
    "kafka": "danielqsj/kafka-exporter:v1.9.0",  # busybox: wget
    "tempo": "grafana/tempo:2.9.0",  # distroless: no healthcheck possible
    "jaeger": "jaegertracing/jaeger:2.11.0",  # all-in-one, in-memory storage
}
FLUENTD_IMAGE = "obsgen/{project}-fluentd:local"  # built from fluentd/Dockerfile
# Kubernetes only: joins the parts of a file too large for one ConfigMap (the stack's images may lack a shell)
JOIN_IMAGE = "busybox:1.37.0"

PORTS = {"prometheus": 9090, "alertmanager": prometheus.ALERTMANAGER_PORT, "grafana": 3000, "loki": loki.HTTP_PORT,
         "fluentd": fluentd.METRICS_PORT, "tempo": 3200, "jaeger": 16686}
ALERTMANAGER_CLUSTER_PORT = 9094
OTLP_PORTS = (4317, 4318)

# Paths inside the containers.
PROMETHEUS_DIR = "/etc/prometheus"  # rule_files: rules/*.yml is relative to the config file
PROMETHEUS_DATA = "/prometheus"
# what the AWS SDK reads in the SNS channel's Alertmanager: credentials stay in the environment, never the output
AWS_ENVIRONMENT = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION")
ALERTMANAGER_DIR = "/etc/alertmanager"  # templates: templates/*.tmpl is relative to the config file
ALERTMANAGER_DATA = "/alertmanager"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
GRAFANA_DATA = "/var/lib/grafana"
FLUENTD_CONF_DIR = "/fluentd/etc"  # the fluentd image reads /fluentd/etc/fluent.conf
TEMPO_CONFIG = "/etc/tempo/tempo.yml"
TEMPO_DATA = "/var/tempo"

# The blackbox exporter pings through an unprivileged ICMP socket, which the kernel allows the groups in
# this range (any group here; Docker sets it so by default, a Kubernetes pod only when asked, as a safe sysctl).
PING_SYSCTL, PING_GROUPS = "net.ipv4.ping_group_range", "0 2147483647"

SECRETS_DIR_VAR = "${OBSGEN_SECRETS_DIR:-./secrets}"


def render(model: Model) -> dict[str, str]:
    if "compose" not in model.stack.deploy:
        return {}
    return {"docker-compose.yml": _header(model) + dump_yaml(compose(model))}


def _header(model: Model) -> str:
    return header(model.source) + (
        "# Start with `docker compose up -d` in this folder. Secret files are read from $OBSGEN_SECRETS_DIR\n"
        "# (default ./secrets): keep that folder out of version control and readable by the containers' users.\n"
    )


# --------------------------------------------------------------------------- shared runtime facts


def alertmanager_replicas(model: Model) -> list[str]:
    """Host names of the Alertmanager replicas, as `prometheus.alertmanager_targets` names them."""
    return [target.rsplit(":", 1)[0] for target in prometheus.alertmanager_targets(model)]


def alertmanager_services(model: Model) -> list[str]:
    """Compose service (and StatefulSet pod) name of each replica: `alertmanager` or `alertmanager-<i>`."""
    return [host.split(".")[0] for host in alertmanager_replicas(model)]


def alertmanager_args(model: Model, replica: str | None) -> list[str]:
    """Flags of one replica; `replica=None` lists every replica as a peer (a StatefulSet's shared args)."""
    args = [f"--config.file={ALERTMANAGER_DIR}/alertmanager.yml", f"--storage.path={ALERTMANAGER_DATA}"]
    if model.spec.project.alertmanager_url:
        args.append(f"--web.external-url={model.spec.project.alertmanager_url}")
    replicas = alertmanager_replicas(model)
    if len(replicas) == 1:
        return [*args, "--cluster.listen-address="]  # a single replica gossips with nobody
    args.append(f"--cluster.listen-address=0.0.0.0:{ALERTMANAGER_CLUSTER_PORT}")
    args += [f"--cluster.peer={peer}:{ALERTMANAGER_CLUSTER_PORT}" for peer in replicas if peer != replica]
    return args


def prometheus_args(model: Model) -> list[str]:
    args = [
        f"--config.file={PROMETHEUS_DIR}/prometheus.yml",
        f"--storage.tsdb.path={PROMETHEUS_DATA}",
        f"--storage.tsdb.retention.time={model.retention}",
        "--web.enable-lifecycle",  # POST /-/reload after a new render
    ]
    if model.native_histograms:
        args.append(prometheus.NATIVE_HISTOGRAMS)
    return args


def _file_paths(data: Any) -> set[str]:
    """Every `*_file` value in a rendered config: the secret files that config reads. A walk with a stack
    rather than recursion: prometheus.yml of 10,000 services has half a million mappings and lists."""
    found: set[str] = set()
    stack = [data]
    push = stack.append
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, str):
                    if key.endswith("_file"):
                        found.add(value)
                elif isinstance(value, (dict, list)):
                    push(value)
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return found


# model.memo's key of `secret_files`: the packaging and the README ask for it too, and each call renders
# prometheus.yml and alertmanager.yml again to walk them
_SECRET_FILES = "compose.secret_files"


def secret_files(model: Model) -> dict[str, list[str]]:
    """Secret files each component reads, by component, from the configs as rendered."""
    if _SECRET_FILES not in model.memo:
        model.memo[_SECRET_FILES] = _secret_files(model)
    return {component: list(paths) for component, paths in model.memo[_SECRET_FILES].items()}  # callers' own


def _secret_files(model: Model) -> dict[str, list[str]]:
    stack = model.stack
    es = stack.fluentd.elasticsearch
    out = {
        "alertmanager": sorted(_file_paths(alertmanager.config(model))),
        "prometheus": sorted(_file_paths(prometheus.config(model))),
        "grafana": [stack.grafana.admin_password_file] if stack.grafana.admin_password_file else [],
        "fluentd": [es.password_file] if "elasticsearch" in stack.fluentd.outputs and es.password_file else [],
        "postgres-exporter": sorted({e.dsn_file for e in stack.exporters if not isinstance(e, str) and e.dsn_file}),
    }
    return {component: paths for component, paths in out.items() if paths}


def secret_keys(model: Model) -> dict[str, str]:
    """Path of each secret file -> its name (a compose secret, a key of a Kubernetes Secret)."""
    paths = sorted({p for paths in secret_files(model).values() for p in paths})
    keys: dict[str, str] = {}
    for path in paths:
        key = _key_name(posixpath.basename(path))
        if key in keys.values():  # same file name in two folders: the folder tells them apart
            key = _key_name(path.strip("/"))
        if key in keys.values() or len(key) > 200:
            # names that differ only in characters a key cannot hold (`/a b`, `/a:b`): a hash of the path
            key = f"{key[:200]}-{hashlib.sha256(path.encode()).hexdigest()[:8]}"
        keys[path] = key
    assert len(set(keys.values())) == len(keys), "two secret files share a key"
    return keys


def _key_name(text: str) -> str:
    """What a Secret's key and a Compose secret's name may hold: letters, digits, `.`, `_`, `-`."""
    key = re.sub(r"[^A-Za-z0-9._-]", "-", text)
    return key if key.strip(".") else "secret"  # `.` and `..` are not keys


def exporter_specs(model: Model) -> dict[str, Any]:
    """Exporter kind -> its spec entry (None when the spec names the kind only)."""
    specs: dict[str, Any] = {kind: None for kind in prometheus.exporters(model)}
    for e in model.stack.exporters:
        if not isinstance(e, str):
            specs[e.type] = e
    return specs


def exporter_env(kind: str, spec: Any) -> dict[str, str]:
    target = spec.target if spec is not None else None
    if kind == "redis" and target:
        return {"REDIS_ADDR": target if "://" in target else f"redis://{target}"}
    return {}


def exporter_args(kind: str, spec: Any) -> list[str]:
    target = spec.target if spec is not None else None
    if kind == "nginx" and target:
        return [f"--nginx.scrape-uri={target if '://' in target else f'http://{target}/stub_status'}"]
    backend = target or DEFAULT_BACKENDS.get(kind, "")
    if kind == "mysqld":
        return [f"--mysqld.address={backend}"]
    if kind == "pgbouncer":
        return [f"--pgBouncer.connectionString=postgres://pgbouncer@{backend}/pgbouncer?sslmode=disable"]
    if kind == "mongodb":
        return [f"--mongodb.uri={backend if '://' in backend else f'mongodb://{backend}'}"]
    if kind == "elasticsearch":
        return [f"--es.uri={backend if '://' in backend else f'http://{backend}'}"]
    if kind == "kafka":
        return [f"--kafka.server={backend}"]
    if kind == "process":
        return ["--procfs=/host/proc", f"-procnames={','.join(spec.processes if spec is not None else [])}"]
    if kind == "node":
        return ["--path.rootfs=/host"]
    if kind == "blackbox":
        return [f"--config.file={blackbox.CONFIG}"]
    return []


def exporter_port(kind: str) -> int:
    return int(prometheus.EXPORTER_TARGETS[kind][1].rsplit(":", 1)[1])


def grafana_env(model: Model) -> dict[str, str]:
    """Grafana's environment: obsgen's fixed settings, then the spec's grafana.ini settings (which win)."""
    g = model.stack.grafana
    env = {"GF_SECURITY_ADMIN_USER": g.admin_user, "GF_USERS_ALLOW_SIGN_UP": "false",
           "GF_ANALYTICS_REPORTING_ENABLED": "false", "GF_ANALYTICS_CHECK_FOR_UPDATES": "false"}
    if g.admin_password_file:
        env["GF_SECURITY_ADMIN_PASSWORD__FILE"] = g.admin_password_file
    if model.spec.project.grafana_url:
        env["GF_SERVER_ROOT_URL"] = model.spec.project.grafana_url
    for section, keys in sorted(g.settings.items()):
        for key, value in sorted(keys.items()):
            env[grafana_env_name(section, key)] = _ini_value(value)
    return env  # the values as Grafana must see them: each deploy target escapes its own `$`


def grafana_env_name(section: str, key: str) -> str:
    """GF_<SECTION>_<KEY>, upper-cased with `.` and `-` as `_`: how Grafana maps grafana.ini to the environment."""
    return re.sub(r"[.-]", "_", f"GF_{section}_{key}".upper())


def _ini_value(value: str | int | bool) -> str:
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    return str(value)


def has_log_rules(model: Model) -> bool:
    """Whether the Loki renderer writes rule files (loki/rules/ exists only then)."""
    return any(svc.log_alerts for svc in model.services)


def uses_logs(model: Model) -> bool:
    return any(s.logs for s in model.services)


def uses_forward(model: Model) -> bool:
    return any(s.logs and s.logs.source.forward for s in model.services)


def tempo_config() -> dict[str, Any]:
    return {
        "server": {"http_listen_port": PORTS["tempo"]},
        "distributor": {"receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": f"0.0.0.0:{OTLP_PORTS[0]}"}, "http": {"endpoint": f"0.0.0.0:{OTLP_PORTS[1]}"}}}}},
        "storage": {"trace": {"backend": "local", "local": {"path": f"{TEMPO_DATA}/traces"},
                              "wal": {"path": f"{TEMPO_DATA}/wal"}}},
    }


# --------------------------------------------------------------------------- compose


def _bind(source: str, target: str) -> dict[str, Any]:
    return {"type": "bind", "source": source, "target": target, "read_only": True}


def _volume(name: str, target: str) -> dict[str, Any]:
    return {"type": "volume", "source": name, "target": target}


def _wget(port: int, path: str) -> dict[str, Any]:
    return _check(["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{path}"])


def _check(test: list[str]) -> dict[str, Any]:
    return {"test": test, "interval": "30s", "timeout": "5s", "retries": 3, "start_period": "30s"}


def _healthy(*names: str) -> dict[str, Any]:
    return {name: {"condition": "service_healthy"} for name in names}


class _Compose:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.publish = model.stack.publish_address
        self.keys = secret_keys(model)
        self.secrets = secret_files(model)
        self.services: dict[str, dict[str, Any]] = {}
        self.volumes: dict[str, dict[str, Any]] = {}

    def service(self, name: str, svc: dict[str, Any], *, volume: str | None = None) -> None:
        if volume:
            self.volumes[f"{name}-data"] = {}
            svc.setdefault("volumes", []).append(_volume(f"{name}-data", volume))
        self.services[name] = {**svc, "restart": "unless-stopped"}

    def port(self, host: int, container: int) -> str:
        return f"{self.publish}:{host}:{container}" if self.publish else f"{host}:{container}"

    def secret_refs(self, component: str) -> list[dict[str, Any]]:
        return [{"source": self.keys[p], "target": p} for p in self.secrets.get(component, [])]

    def build(self) -> dict[str, Any]:
        self.prometheus()
        self.alertmanagers()
        self.grafana()
        self.loki()
        if uses_logs(self.model):
            self.fluentd()
        for kind, spec in exporter_specs(self.model).items():
            if kind not in BUILT_IN:  # HAProxy serves its own metrics: scraped where it runs
                self.exporter(kind, spec)
        if self.model.stack.tracing != "none":
            self.tracing(self.model.stack.tracing)
        out: dict[str, Any] = {"services": dict(sorted(self.services.items())),
                               "volumes": dict(sorted(self.volumes.items()))}
        if self.model.stack.tracing == "tempo":
            out["configs"] = {"tempo": {"content": dump_yaml(tempo_config())}}
        # Compose interpolates `$` in every value (`${X:?msg}` even aborts); `$$` is a literal `$`. What
        # obsgen writes is meant literally, but for the secrets folder, which the user may set.
        out = literal_dollars(out)
        if self.keys:
            out["secrets"] = {key: {"file": f"{SECRETS_DIR_VAR}/{key}"} for key in sorted(self.keys.values())}
        return out

    def prometheus(self) -> None:
        port = PORTS["prometheus"]
        replicas = self.model.prometheus_replicas
        for i, name in enumerate(replicas):
            # an HA replica runs its own file (prometheus-<i>.yml: the shared one plus its replica label) and
            # the same rules; no env expansion in external labels (--enable-feature=expand-external-labels),
            # so what runs is what promtool checked
            config = "prometheus.yml" if len(replicas) == 1 else f"{name}.yml"
            svc: dict[str, Any] = {
                "image": IMAGES["prometheus"],
                "command": prometheus_args(self.model),
                "volumes": [_bind(f"./prometheus/{config}", f"{PROMETHEUS_DIR}/prometheus.yml"),
                            _bind("./prometheus/rules", f"{PROMETHEUS_DIR}/rules")],
                "ports": [self.port(port + i * 100, port)],  # replica i on 9090, 9190, ...
                "healthcheck": _wget(port, "/-/ready"),
                "depends_on": _healthy(*alertmanager_services(self.model)),
            }
            if len(replicas) > 1:
                svc["networks"] = {"default": {"aliases": ["prometheus"]}}  # Grafana's datasource: any replica
            if refs := self.secret_refs("prometheus"):
                svc["secrets"] = refs
            self.service(name, svc, volume=PROMETHEUS_DATA)

    def alertmanagers(self) -> None:
        port = PORTS["alertmanager"]
        replicas = alertmanager_replicas(self.model)
        for i, host in enumerate(replicas):
            name = host.split(".")[0]
            svc: dict[str, Any] = {
                "image": IMAGES["alertmanager"],
                "command": alertmanager_args(self.model, host),
                "volumes": [_bind("./alertmanager/alertmanager.yml", f"{ALERTMANAGER_DIR}/alertmanager.yml"),
                            _bind("./alertmanager/templates", f"{ALERTMANAGER_DIR}/templates")],
                "ports": [self.port(port + i * 100, port)],  # replica i on 9093, 9193, ...
                "healthcheck": _wget(port, "/-/ready"),
            }
            if len(replicas) > 1:
                # `alertmanager-<i>.alertmanager` is how Prometheus and the peers address a replica (the
                # pod DNS of the Kubernetes StatefulSet); `alertmanager` reaches any replica (Grafana, Loki).
                svc["networks"] = {"default": {"aliases": [host, "alertmanager"]}}
            if refs := self.secret_refs("alertmanager"):
                svc["secrets"] = refs
            if any(ch.type == "sns" for ch in self.model.spec.channels.values()):
                # names only: each is passed on from the environment `docker compose up` runs in, if set
                svc["environment"] = list(AWS_ENVIRONMENT)
            self.service(name, svc, volume=ALERTMANAGER_DATA)

    def grafana(self) -> None:
        svc: dict[str, Any] = {
            "image": IMAGES["grafana"],
            "environment": grafana_env(self.model),
            "volumes": [_bind("./grafana/provisioning", GRAFANA_PROVISIONING),
                        _bind("./grafana/dashboards", DASHBOARDS_DIR)],
            "ports": [self.port(PORTS["grafana"], PORTS["grafana"])],
            "healthcheck": _wget(PORTS["grafana"], "/api/health"),
            "depends_on": _healthy(*self.model.prometheus_replicas, "loki"),
        }
        if refs := self.secret_refs("grafana"):
            svc["secrets"] = refs
        self.service("grafana", svc, volume=GRAFANA_DATA)

    def loki(self) -> None:
        self.service("loki", {
            "image": IMAGES["loki"],
            "command": [f"-config.file={loki.CONFIG_PATH}"],
            "volumes": [_bind("./loki/loki.yml", loki.CONFIG_PATH),
                        *([_bind("./loki/rules", loki.RULES_DIR)] if has_log_rules(self.model) else [])],
            "ports": [self.port(PORTS["loki"], PORTS["loki"])],
            "healthcheck": _check(["CMD", "/usr/bin/loki", "-health"]),
            "depends_on": _healthy(*alertmanager_services(self.model)[:1]),
        }, volume=loki.DATA_DIR)

    def fluentd(self) -> None:
        metrics = f"http://127.0.0.1:{fluentd.METRICS_PORT}{fluentd.METRICS_PATH}"
        svc: dict[str, Any] = {
            "image": FLUENTD_IMAGE.format(project=self.model.project),
            "build": {"context": "./fluentd"},
            "volumes": [_bind("./fluentd/fluent.conf", f"{FLUENTD_CONF_DIR}/fluent.conf"),
                        *(_bind(d, d) for d in fluentd.tailed_dirs(self.model))],
            # the image has Ruby but neither wget nor curl
            "healthcheck": _check(["CMD", "ruby", "-rnet/http", "-e",
                                   f"exit Net::HTTP.get_response(URI('{metrics}')).is_a?(Net::HTTPSuccess)"]),
            "depends_on": _healthy("loki"),
        }
        if uses_forward(self.model):
            svc["ports"] = [self.port(fluentd.FORWARD_PORT, fluentd.FORWARD_PORT)]
        if refs := self.secret_refs("fluentd"):
            svc["secrets"] = refs
        self.service("fluentd", svc, volume=fluentd.STATE_DIR)

    def exporter(self, kind: str, spec: Any) -> None:
        name = prometheus.EXPORTER_TARGETS[kind][0]
        svc: dict[str, Any] = {"image": IMAGES[kind]}
        if args := exporter_args(kind, spec):
            svc["command"] = args
        if env := exporter_env(kind, spec):
            svc["environment"] = env
        if kind in ("node", "postgres", "blackbox", "mysqld", "pgbouncer", "pushgateway", "elasticsearch", "kafka"):
            svc["healthcheck"] = _wget(exporter_port(kind), "/metrics")
        if kind == "cadvisor":
            svc["healthcheck"] = _wget(exporter_port(kind), "/healthz")
        if kind == "node":
            svc.update(pid="host", volumes=[{**_bind("/", "/host"), "bind": {"propagation": "rslave"}}])
        if kind == "process":
            svc.update(pid="host", volumes=[_bind("/proc", "/host/proc")])
        if kind == "blackbox":
            svc["volumes"] = [_bind(f"./{blackbox.PATH}", blackbox.CONFIG)]
            if blackbox.uses_icmp(self.model):
                svc["sysctls"] = {PING_SYSCTL: PING_GROUPS}
        if kind == "cadvisor":
            svc.update(privileged=True, devices=["/dev/kmsg"], volumes=[
                _bind("/", "/rootfs"), _bind("/sys", "/sys"), _bind("/var/lib/docker", "/var/lib/docker"),
                _bind("/dev/disk", "/dev/disk"), {"type": "bind", "source": "/var/run", "target": "/var/run"}])
        if kind == "postgres" and (refs := self.secret_refs("postgres-exporter")):
            # postgres_exporter reads no DSN file: the busybox shell hands the file's content over (the
            # exporter comes as the script's argument, the path quoted for the shell)
            svc.update(secrets=refs, entrypoint=["/bin/sh", "-c", dsn_script(refs[0]["target"]), "sh",
                                                 "/bin/postgres_exporter"])
        self.service(name, svc)

    def tracing(self, kind: str) -> None:
        svc: dict[str, Any] = {
            "image": IMAGES[kind],
            "ports": [self.port(PORTS[kind], PORTS[kind]), *(self.port(p, p) for p in OTLP_PORTS)],
        }
        if kind == "tempo":
            svc.update(command=[f"-config.file={TEMPO_CONFIG}"], configs=[{"source": "tempo", "target": TEMPO_CONFIG}])
            self.service(kind, svc, volume=TEMPO_DATA)
        else:
            self.service(kind, svc)


def compose(model: Model) -> dict[str, Any]:
    return _Compose(model).build()


def dsn_script(path: str) -> str:
    """A `sh -c` script running its arguments with DATA_SOURCE_NAME set to the content of `path`."""
    return f'DATA_SOURCE_NAME="$(cat {shlex.quote(path)})" exec "$@"'


def literal_dollars(data: Any) -> Any:
    """Every string value of `data` with `$` doubled: read literally by Compose's interpolation, and by
    Kubernetes' `$(VAR)` expansion of command, args and env values."""
    if isinstance(data, str):
        return data.replace("$", "$$")
    if isinstance(data, dict):
        return {k: literal_dollars(v) for k, v in data.items()}
    if isinstance(data, list):
        return [literal_dollars(v) for v in data]
    return data
