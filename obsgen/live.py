"""`obsgen check --live`: the rendered alertmanager.yml run by the real Alertmanager on 127.0.0.1, fed every
alert of proof/routes.json through its v2 API, and held to what the spec intends.

The configuration is used as rendered but for its receivers: each keeps its name and gets one webhook to a
local sink that records which receiver got which alerts (the global settings of the real integrations,
which name secret files, go with them), and the templates folder is given as an absolute path. When `now`
is given, the quiet-hours interval is also moved by the difference between `now` and the clock, so that
the Alertmanager, which reads the clock, stands where `now` stands in it (see `shift_interval`).

What is checked, once group_wait has passed:
- delivery: each receiver got exactly the alerts routed to it (by `receivers` in routes.json);
- inhibition: an alert the spec's inhibition silences shows a non-empty `status.inhibitedBy` in
  `GET /api/v2/alerts` and reaches no one, while the alert silencing it is delivered. Because a silenced
  alert could not show where it is delivered, the alerts run in layers, each in its own Alertmanager at
  the same time: all of them, then those the first layer silences, and so on;
- quiet hours: inside the interval the held-back receivers are notified; outside it they are not, and
  Alertmanager 0.33 shows the interval in `status.mutedBy` of the alert in `GET /api/v2/alerts/groups`
  (`/api/v2/alerts` leaves it empty: muting by time belongs to a route, not to the alert).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from . import routing_intent
from .check_result import Result
from .route_proof import ROUTES, describe, read_routes
from .units import duration_seconds

TOOL = "alertmanager (live)"
HOST = "127.0.0.1"
READY_TIMEOUT = 20.0  # seconds for an Alertmanager to answer /-/ready
# the line of its log that says where it listens (e.g. `msg="Listening on" address=127.0.0.1:38121`)
_LISTENING = re.compile(r'msg="Listening on" address=(\S+)')
SETTLE = 2.0  # seconds past group_wait within which a wrong notification would have arrived too
PATIENCE = 10.0  # seconds past group_wait to wait at most for the expected notifications
HTTP_TIMEOUT = 10.0
WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]  # Go's order
DAY, WEEK = 1440, 7 * 1440  # minutes
LabelKey = frozenset[tuple[str, str]]


def key(labels: Mapping[str, str]) -> LabelKey:
    return frozenset(labels.items())


# --------------------------------------------------------------------------- the sink


class Sink:
    """Webhook endpoint of every stand-in receiver: POST /<layer>/<receiver> records the alerts received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._got: set[tuple[int, str, LabelKey]] = set()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                layer, _, receiver = urllib.parse.unquote(self.path.lstrip("/")).partition("/")
                try:
                    alerts = json.loads(body)["alerts"]
                    with sink._lock:
                        sink._got.update((int(layer), receiver, key(a["labels"])) for a in alerts
                                         if a.get("status") == "firing")
                except (ValueError, KeyError, TypeError):
                    self.send_response(400)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{HOST}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True)
        self._thread.start()

    def receiver_url(self, layer: int, receiver: str) -> str:
        return f"{self.url}/{layer}/{urllib.parse.quote(receiver, safe='')}"

    def got(self) -> set[tuple[int, str, LabelKey]]:
        with self._lock:
            return set(self._got)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------- the configuration


def stand_in_config(cfg: dict[str, Any], config_dir: Path, receiver_url: Any) -> dict[str, Any]:
    """The rendered configuration with every receiver replaced by one webhook `receiver_url(name)`."""
    cfg = copy.deepcopy(cfg)
    # what stays of `global` is what concerns no integration: the rest names their endpoints and secrets
    cfg["global"] = {k: v for k, v in (cfg.get("global") or {}).items() if k == "resolve_timeout"}
    cfg["templates"] = [t if os.path.isabs(t) else str(config_dir / t) for t in cfg.get("templates", [])]
    cfg["receivers"] = [{"name": r["name"],
                         "webhook_configs": [{"url": receiver_url(r["name"]), "send_resolved": False}]}
                        for r in cfg.get("receivers", [])]
    return cfg


def group_waits(route: Mapping[str, Any], inherited: str = "30s") -> Iterator[float]:
    """Every group_wait of the routing tree, in seconds (30s is Alertmanager's default)."""
    wait = route.get("group_wait", inherited)
    yield float(duration_seconds(wait))
    for child in route.get("routes", []) or []:
        yield from group_waits(child, wait)


def _weekday_range(text: str) -> range:
    first, _, last = text.partition(":")
    return range(WEEKDAYS.index(first), WEEKDAYS.index(last or first) + 1)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _wall_minutes(when: datetime, zone: str) -> int:
    """Minutes since Sunday 00:00 of `when` on the wall clock of `zone`."""
    local = when.astimezone(ZoneInfo(zone))
    return ((local.weekday() + 1) % 7) * DAY + local.hour * 60 + local.minute


def shift_interval(entries: list[dict[str, Any]], now: datetime, clock: datetime) -> list[dict[str, Any]]:
    """The weekly time interval `entries` moved so it holds at `clock` (and after) exactly where the original
    holds at `now` (and after): minute by minute, on the wall clock of each entry's location. Only
    weekdays, times and location are understood; anything else raises ValueError."""
    shifted = []
    for entry in entries:
        unknown = set(entry) - {"weekdays", "times", "location"}
        if unknown:
            raise ValueError(f"cannot move a time interval with {', '.join(sorted(unknown))}")
        zone = entry.get("location", "UTC")
        delta = _wall_minutes(now, zone) - _wall_minutes(clock, zone)
        days = sorted({d for w in entry.get("weekdays", ["sunday:saturday"]) for d in _weekday_range(w)})
        times = [(_minutes(t["start_time"]), _minutes(t["end_time"])) for t in entry.get("times", [])] or [(0, DAY)]
        by_day: dict[int, list[tuple[int, int]]] = {}
        for day in days:
            for start, end in times:
                begin = (day * DAY + start - delta) % WEEK
                length = end - start
                while length > 0:  # split at midnights
                    piece = min(length, DAY - begin % DAY)
                    by_day.setdefault(begin // DAY, []).append((begin % DAY, begin % DAY + piece))
                    begin, length = (begin + piece) % WEEK, length - piece
        for day, ranges in sorted(by_day.items()):
            shifted.append({"weekdays": [WEEKDAYS[day]], "location": zone,
                            "times": [{"start_time": _hhmm(s), "end_time": _hhmm(e)} for s, e in sorted(ranges)]})
    return shifted


def in_quiet_hours_interval(quiet: Mapping[str, Any], when: datetime) -> bool:
    """Whether `when` lies in the interval routes.json's `quiet_hours` describes (the spec's, not the config's):
    on one of its weekdays, from the start minute of one of its times up to, not including, its end."""
    local = when.astimezone(ZoneInfo(quiet["timezone"]))
    weekday = (local.weekday() + 1) % 7
    minute = local.hour * 60 + local.minute
    days = any(weekday in _weekday_range(w) for w in quiet["weekdays"])
    return days and any(_minutes(t.split("-")[0]) <= minute < _minutes(t.split("-")[1]) for t in quiet["times"])


# --------------------------------------------------------------------------- what the spec expects


@dataclass
class Alert:
    entry: dict[str, Any]  # as in routes.json
    labels: dict[str, str]

    @property
    def key(self) -> LabelKey:
        return key(self.labels)


@dataclass
class Layer:
    """Alerts posted together to one Alertmanager, and which of them the spec's inhibition silences."""

    alerts: list[Alert]
    silenced_by: dict[int, list[int]] = field(default_factory=dict)  # target index -> source indexes


def silencing(alerts: list[Alert], rules: list[dict[str, Any]]) -> dict[int, list[int]]:
    """For each alert some other alert of `alerts` inhibits, the alerts inhibiting it."""
    out: dict[int, list[int]] = {}
    for rule in rules:
        sources: dict[tuple[str, ...], list[int]] = {}
        for i, a in enumerate(alerts):
            if all(a.labels.get(k, "") == v for k, v in rule["source"].items()):
                sources.setdefault(tuple(a.labels.get(k, "") for k in rule["equal"]), []).append(i)
        for i, a in enumerate(alerts):
            for j in sources.get(tuple(a.labels.get(k, "") for k in rule["equal"]), []):
                if j != i and routing_intent.inhibits(rule, alerts[j].labels, a.labels):
                    out.setdefault(i, []).append(j)
    return out


def layers(alerts: list[Alert], rules: list[dict[str, Any]]) -> list[Layer]:
    """All alerts, then those the first layer silences, and so on: every alert that is not silenced in some
    layer shows its delivery there, and every silencing is shown in the layer holding both alerts."""
    out = []
    current = alerts
    while current:
        layer = Layer(current, silencing(current, rules))
        out.append(layer)
        if len(layer.silenced_by) == len(current):  # a cycle: nothing left that could be delivered
            break
        current = [current[i] for i in sorted(layer.silenced_by)]
    return out


# --------------------------------------------------------------------------- the Alertmanagers


def _http(url: str, data: Any = None) -> Any:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, method="GET" if data is None else "POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as resp:
        text = resp.read()
    return json.loads(text) if text else None


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


class Alertmanager:
    """One real Alertmanager process on 127.0.0.1, clustering off, with its own storage folder."""

    def __init__(self, binary: str, config: Path, workdir: Path):
        # It binds a port of its own choosing (port 0) and logs it: a port picked here and passed on could be
        # taken by another process in between, and /-/ready would then be answered by someone else's server.
        self.url = ""  # known once its log says where it listens
        self.log = workdir / "alertmanager.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.path={workdir / 'data'}",
                 f"--web.listen-address={HOST}:0", "--cluster.listen-address="],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir)

    def _answers(self) -> bool:
        if not self.url:
            found = _LISTENING.search(self.log.read_text("utf-8", "replace"))
            if found is None:
                return False
            self.url = f"http://{found.group(1)}"
        return _ready(self.url)

    def wait_ready(self, deadline: float) -> str | None:
        """None once it answers, else why it does not."""
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self._answers():
                return None
            time.sleep(0.1)
        if self.proc.poll() is None and self._answers():
            return None
        log = self.log.read_text("utf-8", "replace")
        tail = "\n".join(log.splitlines()[-15:])
        hint = ""
        if "default.tmpl" in log and "no such file" in log:
            hint = ("\nThis Alertmanager build reads its default templates from a folder that is not installed "
                    "(Debian's: /usr/share/prometheus/alertmanager); install its package fully.")
        state = f"exited {self.proc.returncode}" if self.proc.poll() is not None else "did not become ready"
        return f"alertmanager {state} within {READY_TIMEOUT:.0f} s; its log ends:\n{tail}{hint}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@contextmanager
def _running(binary: str, configs: list[Path], tmp: Path) -> Iterator[list[Alertmanager]]:
    started: list[Alertmanager] = []
    try:
        for i, config in enumerate(configs):
            workdir = tmp / f"layer-{i}"
            workdir.mkdir(exist_ok=True)
            started.append(Alertmanager(binary, config, workdir))
        yield started
    finally:
        for am in started:
            am.stop()


# --------------------------------------------------------------------------- the check


@dataclass
class Observed:
    delivered: set[tuple[int, str, LabelKey]]
    inhibited_by: dict[tuple[int, LabelKey], list[str]]  # status.inhibitedBy in /api/v2/alerts
    muted_by: dict[tuple[int, str, LabelKey], list[str]]  # status.mutedBy per receiver's group


def _observe(ams: list[Alertmanager], sink: Sink) -> Observed:
    inhibited: dict[tuple[int, LabelKey], list[str]] = {}
    muted: dict[tuple[int, str, LabelKey], list[str]] = {}
    for i, am in enumerate(ams):
        for a in _http(f"{am.url}/api/v2/alerts"):
            inhibited[i, key(a["labels"])] = list(a["status"].get("inhibitedBy") or [])
        for group in _http(f"{am.url}/api/v2/alerts/groups"):
            for a in group["alerts"]:
                muted.setdefault((i, group["receiver"]["name"], key(a["labels"])), []).extend(
                    a["status"].get("mutedBy") or [])
    return Observed(sink.got(), inhibited, muted)


def live_check(out: Path, alertmanager: str, now: datetime | None = None) -> list[Result]:
    """Run the rendered alertmanager.yml in the real `alertmanager` and prove delivery, inhibition and quiet
    hours for every alert of proof/routes.json; `now` (default: the clock) is where quiet hours stand."""
    routes = read_routes(out)
    target = "alertmanager/alertmanager.yml"
    if isinstance(routes, str):
        return [Result(TOOL, target, "failed", routes)]
    target = routes["alertmanager"]
    binary = shutil.which(alertmanager)
    if binary is None:
        return [Result(TOOL, target, "not found", f"{alertmanager} is not an executable")]
    config_path = out / target
    if not config_path.is_file():
        return [Result(TOOL, target, "failed", f"{target} is missing, but {ROUTES} routes alerts through it")]
    rendered = yaml.safe_load(config_path.read_text("utf-8"))
    read = (ROUTES, target, *sorted(p.relative_to(out).as_posix()
                                    for p in (config_path.parent / "templates").glob("*") if p.is_file()))

    unique: dict[LabelKey, Alert] = {}
    for entry in routes["alerts"]:
        unique.setdefault(key(entry["labels"]), Alert(entry, dict(entry["labels"])))
    plan = layers(list(unique.values()), routes.get("inhibit", []))
    quiet = routes.get("quiet_hours")
    clock = datetime.now(UTC)
    when = clock if now is None else now.astimezone(UTC)
    wait = max(group_waits(rendered.get("route", {})), default=0.0)

    notes: list[str] = []
    if quiet and now is not None:
        for interval in rendered.get("time_intervals", []):
            if interval.get("name") == quiet["interval"]:
                try:
                    interval["time_intervals"] = shift_interval(interval["time_intervals"], when, clock)
                except (ValueError, KeyError) as e:
                    return [Result(TOOL, target, "failed", f"cannot place the Alertmanager at `now`: {e}", read)]
                notes.append(f"{quiet['interval']} was moved so that the Alertmanager's clock stands in it "
                             "where `now` does")
    inside_then = in_quiet_hours_interval(quiet, when) if quiet else False
    # notifications go out when group_wait ends: the interval must say the same then
    inside = inside_then if quiet and in_quiet_hours_interval(
        quiet, when + timedelta(seconds=wait + PATIENCE)) == inside_then else None

    sink = Sink()
    try:
        with tempfile.TemporaryDirectory(prefix="obsgen-live-") as tmp_name:
            tmp = Path(tmp_name)
            configs = []
            for i in range(len(plan)):
                cfg = stand_in_config(rendered, config_path.parent.resolve(),
                                      lambda name, i=i: sink.receiver_url(i, name))
                configs.append(tmp / f"alertmanager-{i}.yml")
                configs[-1].write_text(yaml.safe_dump(cfg, sort_keys=False), "utf-8")
            with _running(binary, configs, tmp) as ams:
                deadline = time.monotonic() + READY_TIMEOUT
                for am in ams:
                    problem = am.wait_ready(deadline)
                    if problem:
                        return [Result(TOOL, target, "failed", problem, read)]
                posted_at = time.monotonic()
                starts = datetime.now(UTC)
                for am, layer in zip(ams, plan, strict=True):
                    _http(f"{am.url}/api/v2/alerts", [
                        {"labels": a.labels, "annotations": {}, "startsAt": starts.isoformat(),
                         "endsAt": (starts + timedelta(hours=1)).isoformat()} for a in layer.alerts])
                expected = {(i, r, a.key) for i, layer in enumerate(plan) for j, a in enumerate(layer.alerts)
                            if j not in layer.silenced_by for r in _expected_receivers(a, quiet, inside)[0]}
                while True:
                    elapsed = time.monotonic() - posted_at
                    if elapsed >= wait + PATIENCE or (elapsed >= wait + SETTLE and expected <= sink.got()):
                        break
                    time.sleep(0.2)
                seen = _observe(ams, sink)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [Result(TOOL, target, "failed", f"{type(e).__name__}: {e}", read)]
    finally:
        sink.close()
    return _judge(plan, seen, quiet, inside, when, notes, target, read, time.monotonic() - posted_at)


def _expected_receivers(a: Alert, quiet: Mapping[str, Any] | None,
                        inside: bool | None) -> tuple[set[str], set[str]]:
    """(receivers that must be notified, receivers that may or may not be: the interval turns meanwhile)."""
    free, held = _split(a, quiet)
    if inside is None:
        return free, held
    return (free | held if inside else free), set()


def _split(a: Alert, quiet: Mapping[str, Any] | None) -> tuple[set[str], set[str]]:
    """(receivers notified at any time, those notified only inside the quiet-hours interval). A receiver
    reached both by a held-back route and by another is notified at any time."""
    receivers = Counter(a.entry["receivers"])
    held = Counter(a.entry.get("quiet_hours_receivers", [])) if quiet else Counter()
    free = set(receivers - held)
    return free, set(held) - free


def _judge(plan: list[Layer], seen: Observed, quiet: Mapping[str, Any] | None, inside: bool | None,
           when: datetime, notes: list[str], target: str, read: tuple[str, ...], took: float) -> list[Result]:
    delivery: list[str] = []
    inhibition: list[str] = []
    quiet_problems: list[str] = []
    pairs = held_alerts = 0
    interval = quiet["interval"] if quiet else ""
    for i, layer in enumerate(plan):
        for j, a in enumerate(layer.alerts):
            got = {r for li, r, k in seen.delivered if li == i and k == a.key}
            inhibited_by = seen.inhibited_by.get((i, a.key))
            if inhibited_by is None:
                delivery.append(f"{describe(a.entry)}: posted, but the Alertmanager does not list it")
                continue
            if j in layer.silenced_by:
                pairs += 1
                source = layer.alerts[layer.silenced_by[j][0]]
                if not inhibited_by or got:
                    inhibition.append(
                        f"{describe(a.entry)}\n  must be inhibited by {describe(source.entry)}"
                        f"\n  inhibitedBy: {', '.join(inhibited_by) or 'none'}; "
                        f"notified: {', '.join(sorted(got)) or 'none'}")
                continue
            if inhibited_by:
                inhibition.append(f"{describe(a.entry)}\n  is inhibited ({', '.join(inhibited_by)}), but the "
                                  "spec's inhibition silences it by no alert posted with it")
            must, may = _expected_receivers(a, quiet, inside)
            held = _split(a, quiet)[1]
            if not must <= got <= must | may:
                now_is = "inside" if inside else "outside" if inside is False else "at its edge"
                only = f" ({', '.join(sorted(held))} only inside {interval}; now is {now_is})" if held else ""
                delivery.append(f"{describe(a.entry)}\n  intended: {', '.join(a.entry['receivers'])}{only}"
                                f"\n  notified: {', '.join(sorted(got)) or 'none'}")
            if not held or inside is None:
                continue
            held_alerts += 1
            for r in sorted(held):
                muted = seen.muted_by.get((i, r, a.key), [])
                seen_there = (f"{r} {'was' if r in got else 'was not'} notified, mutedBy: "
                              f"{', '.join(muted) or 'none'}")
                if inside and (r not in got or interval in muted):
                    quiet_problems.append(f"{describe(a.entry)}\n  inside {interval}, {r} must be notified; "
                                          f"{seen_there}")
                if not inside and (r in got or interval not in muted):
                    quiet_problems.append(f"{describe(a.entry)}\n  outside {interval}, {r} must be muted by it; "
                                          f"{seen_there}")
    posted = sum(len(layer.alerts) for layer in plan)
    head = (f"{len(plan[0].alerts) if plan else 0} alerts posted ({posted} in all, to {len(plan)} "
            f"Alertmanagers side by side, see obsgen.live), checked {took:.0f} s after posting")
    results = [Result(TOOL, f"{target} (delivery)", "failed" if delivery else "passed",
                      "\n".join(delivery) if delivery else f"{head}: each receiver got exactly the alerts "
                      "routed to it", read)]
    if pairs or inhibition:
        results.append(Result(TOOL, f"{target} (inhibition)", "failed" if inhibition else "passed",
                              "\n".join(inhibition) if inhibition else
                              f"{pairs} alerts inhibited as the spec intends (inhibitedBy set, nobody notified) "
                              "while the alerts inhibiting them were delivered", read))
    else:
        results.append(Result(TOOL, f"{target} (inhibition)", "skipped",
                              "no alert of this output silences another by the spec's inhibition", read))
    results.append(_quiet_result(quiet, inside, when, held_alerts, quiet_problems, notes, target, read))
    return results


def _quiet_result(quiet: Mapping[str, Any] | None, inside: bool | None, when: datetime, checked: int,
                  problems: list[str], notes: list[str], target: str, read: tuple[str, ...]) -> Result:
    name = f"{target} (quiet hours)"
    if not quiet:
        return Result(TOOL, name, "skipped", "the spec has no quiet hours", read)
    local = when.astimezone(ZoneInfo(quiet["timezone"]))
    at = f"{local:%A %Y-%m-%d %H:%M} {quiet['timezone']}"
    span = f"{quiet['interval']} ({', '.join(quiet['weekdays'])} {', '.join(quiet['times'])})"
    if inside is None:
        return Result(TOOL, name, "skipped", f"{span} starts or ends during the check (now {at}): run it again", read)
    if not checked:
        return Result(TOOL, name, "skipped", f"no alert of this output is held back by {span}", read)
    if problems:
        return Result(TOOL, name, "failed", "\n".join(problems + notes), read)
    extra = f"; {'; '.join(notes)}" if notes else ""
    if inside:
        text = f"now ({at}) is inside {span}: the held-back receivers of {checked} alerts were notified"
    else:
        text = (f"now ({at}) is outside {span}: the held-back receivers of {checked} alerts were not notified, "
                f"muted by {quiet['interval']}")
    return Result(TOOL, name, "passed", text + extra, read)
