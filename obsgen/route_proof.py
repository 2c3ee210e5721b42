"""Routing proven by amtool for every alert of a rendered output, from the labels the alert really carries.

`proof/routes.json` (rendered by `render/routes.py`) lists every alert with its labels at Alertmanager and
the receivers the spec routes it to. `verify_routes` asks the real `amtool config routes test` where the
rendered alertmanager.yml sends each of them. Alerts equal on the file's `routing_labels` route alike, so
amtool runs once per distinct projection onto those labels, given the full labels of the first alert
of the projection (a route keyed on any other label, which the spec cannot ask for, would show there).

amtool 0.33 prints the receivers it resolves joined by "," in the order of the routing tree, and with
`--verify.receivers=a,b` exits 1 (printing a warning) unless that joined text is exactly the same string:
order and repetitions count, so the intended list is passed in the order Alertmanager notifies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .check_result import Result, load_yaml
from .coverage import alerting
from .promql import quote

TOOL = "amtool config routes test"
ROUTES = "proof/routes.json"
ALERTMANAGER = "alertmanager/alertmanager.yml"
TIMEOUT = 60  # seconds for one amtool run; it reads one file and walks one tree
MISMATCH = "Expected receivers did not match"


class AmtoolError(RuntimeError):
    """amtool did not resolve the receivers (it could not read the configuration, or timed out)."""


def _amtool(amtool: str, config: Path, labels: Mapping[str, str],
            verify: list[str] | None = None) -> tuple[bool, list[str]]:
    """(whether --verify.receivers held, the receivers amtool resolved)."""
    args = [amtool, "config", "routes", "test", f"--config.file={config}"]
    if verify is not None:
        args.append(f"--verify.receivers={','.join(verify)}")
    # quoted values: amtool parses each argument as a matcher, and a bare value may hold `,` or spaces
    args += [f"{name}={quote(value)}" for name, value in sorted(labels.items())]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AmtoolError(f"amtool timed out after {TIMEOUT} s") from e
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 and not (verify is not None and MISMATCH in proc.stdout and lines):
        raise AmtoolError((proc.stdout + proc.stderr).strip() or f"amtool exited {proc.returncode}")
    if not lines:
        raise AmtoolError(f"amtool printed no receivers: {proc.stderr.strip()}")
    return proc.returncode == 0, lines[0].split(",")


def amtool_routes(amtool: str, config: Path, labels: Mapping[str, str]) -> list[str]:
    """The receivers amtool resolves for an alert with `labels`, in the order of the routing tree.
    Raises AmtoolError when amtool cannot tell (an unreadable configuration, a timeout)."""
    return _amtool(amtool, config, labels)[1]


def read_routes(out: Path) -> dict[str, Any] | str:
    """The parsed proof/routes.json of an output tree, or why it cannot be used."""
    path = out / ROUTES
    if not path.is_file():
        return (f"{ROUTES} is missing: this output was not rendered by this version of obsgen; "
                "re-render it with `obsgen render`")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"{ROUTES} cannot be read ({e}); re-render the output with `obsgen render`"
    if not isinstance(data, dict) or not all(k in data for k in ("alerts", "routing_labels", "alertmanager")):
        return f"{ROUTES} is not in the format of this version of obsgen; re-render it with `obsgen render`"
    return data


def describe(alert: Mapping[str, Any]) -> str:
    labels = ", ".join(f"{k}={quote(v)}" for k, v in sorted(alert["labels"].items()))
    return f"{alert['alert']} ({alert['file']}) {{{labels}}}"


def _with_labels_on_disk(out: Path, alerts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """The alerts of routes.json with the labels their rules on disk really give them: the rule's own
    `labels:` and name over the external labels its evaluator adds (prometheus.yml, or Loki's ruler).
    A rule edited, or rendered wrongly, after the routing was planned then routes by what it really says.
    Returns the alerts, or the reason routes.json and the rule files no longer describe the same rules."""
    external: dict[str, dict[str, Any]] = {"prometheus/": {}, "loki/": {}}
    if (out / "prometheus/prometheus.yml").is_file():
        external["prometheus/"] = ((load_yaml(out / "prometheus/prometheus.yml") or {}).get("global") or {}).get(
            "external_labels") or {}
    if (out / "loki/loki.yml").is_file():
        external["loki/"] = ((load_yaml(out / "loki/loki.yml") or {}).get("ruler") or {}).get("external_labels") or {}
    rules: dict[str, list[dict[str, Any]]] = {}
    position: dict[str, int] = {}
    found = []
    for alert in alerts:
        path = alert["file"]
        if path not in rules:
            if not (out / path).is_file():
                return [], f"{path} is missing, but {ROUTES} routes its alerts; re-render the output"
            rules[path] = alerting((load_yaml(out / path) or {}).get("groups"))
        i = position.get(path, 0)
        position[path] = i + 1
        if i >= len(rules[path]) or rules[path][i]["alert"] != alert["alert"]:
            return [], (f"{ROUTES} and {path} list different alerts (at {alert['alert']}): the rules changed "
                        "after the routing was planned; re-render the output")
        rule = rules[path][i]
        base = next((v for k, v in external.items() if path.startswith(k)), {})
        labels = {**{str(k): str(v) for k, v in base.items()},
                  **{str(k): str(v) for k, v in (rule.get("labels") or {}).items()}, "alertname": rule["alert"]}
        found.append({**alert, "labels": {k: v for k, v in sorted(labels.items()) if v != ""}})
    return found, None


def verify_routes(out: Path) -> list[Result]:
    """One Result for the rendered alertmanager.yml: does every alert reach exactly its intended receivers?"""
    routes = read_routes(out)
    if isinstance(routes, str):
        return [Result(TOOL, ALERTMANAGER, "failed", routes)]
    target = routes["alertmanager"]
    read = (ROUTES, target)
    config = out / target
    if not config.is_file():
        return [Result(TOOL, target, "failed", f"{target} is missing, but {ROUTES} routes alerts through it",
                       (ROUTES,))]
    amtool = shutil.which("amtool")
    if amtool is None:
        return [Result(TOOL, target, "not found", "amtool is not on PATH")]
    names = routes["routing_labels"]
    problems: list[str] = []
    alerts_on_disk, stale = _with_labels_on_disk(out, routes["alerts"])
    if stale:
        return [Result(TOOL, target, "failed", stale, read)]
    by_projection: dict[tuple[str | None, ...], list[dict[str, Any]]] = {}
    for alert in alerts_on_disk:
        key = (alert["labels"]["alertname"] == "Watchdog", *(alert["labels"].get(n) for n in names))
        by_projection.setdefault(key, []).append(alert)
    for alerts in by_projection.values():
        if any(a["receivers"] != alerts[0]["receivers"] for a in alerts):
            problems.append(f"{ROUTES} is inconsistent: these alerts are equal on {', '.join(names)} but "
                            "intended for different receivers:\n" + "\n".join(
                                f"  {describe(a)}: {','.join(a['receivers'])}" for a in alerts))

    def check(alerts: list[dict[str, Any]]) -> str | None:
        intended = alerts[0]["receivers"]
        try:
            held, resolved = _amtool(amtool, config, alerts[0]["labels"], verify=intended)
        except AmtoolError as e:
            return f"amtool could not route {describe(alerts[0])}: {e}"
        if held and resolved == intended:
            return None
        return "\n".join(f"{describe(a)}\n  intended: {','.join(intended)}\n  amtool:   {','.join(resolved)}"
                         for a in alerts)

    workers = min(8, os.cpu_count() or 1, max(1, len(by_projection)))
    with ThreadPoolExecutor(workers) as pool:
        problems += [p for p in pool.map(check, by_projection.values()) if p is not None]
    if problems:
        return [Result(TOOL, target, "failed", "\n".join(problems), read)]
    return [Result(TOOL, target, "passed",
                   f"{len(routes['alerts'])} alerts, {len(by_projection)} distinct on "
                   f"{', '.join(names)}: each reaches exactly the receivers the spec routes it to", read)]
