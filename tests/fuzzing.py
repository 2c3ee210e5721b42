"""Seeded mutation fuzzing of the example specs, and the real tools over what the mutants render.

A mutant is an example spec (`examples/*.yaml`, and the full specs under `tests/fixtures/specs/`) with one
field changed (sometimes two), the change chosen by the value's type and the field's meaning. Every mutant
must either be refused with a `SpecError` whose every line starts with `<file>:<line>:<col>`, or render
(in process) output the real tools accept: `promtool check config`, `promtool check rules --lint=all
--lint-fatal`, `promtool test rules`, `amtool check-config` and `kubectl kustomize`.

Most of a mutant's output is byte-identical to the unmutated render, so each distinct input of a tool is
validated once, and a tool reads many mutants' files per call (each mutant's in a folder of its own). Two
specs are fuzzed at a time, in forked processes, each rendering while its tool calls run. What is keyed:

- a rule file, `prometheus.yml` (with the rule files it loads) and the `alertmanager/` tree are keyed by
  their bytes;
- a generated test group (one entry of a test file's `tests`) runs against the rules it observes: the
  alerts it names and, transitively, the recording rules their expressions read, cut line by line from the
  rendered rule file with their groups' settings. The group's bytes, its file's header and those rules
  are its key. A rule it does not observe cannot change what promtool reports for it, but for failing to
  evaluate on its input (which the rule's own groups show) or to load (which `check rules` shows); what
  it saves is most of promtool's time, which goes into evaluating every rule of the file at every step;
- `kubernetes/` by its bytes, except the files its kustomization packs into ConfigMaps with `files:`,
  which kustomize copies without reading (their names count, their contents do not).

A test group whose evaluations would take more than about ten times the examples' longest runs alone, and
is reported when it does not finish within HEAVY_TIMEOUT.

A mutant is reproduced from the seed and its number: `scripts/fuzz.py --seed S --show quickstart#17`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import posixpath
import random
import re
import shutil
import subprocess
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.spec import Spec, SpecError, load_spec, load_spec_text
from obsgen.units import duration_seconds

ROOT = Path(__file__).resolve().parents[1]
TOOLS_BIN = ROOT / ".tools" / "bin"

try:  # analysis of rendered files only; the tools read them for real
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


def fuzz_specs() -> list[Path]:
    """The example specs, and the fixture specs that are whole specs (they validate as they are)."""
    specs = sorted((ROOT / "examples").glob("*.yaml"))
    for path in sorted((ROOT / "tests/fixtures/specs").glob("*.yaml")):
        try:
            load_spec(path)
        except SpecError:
            continue
        specs.append(path)
    return specs


# --------------------------------------------------------------------------- mutants

PathT = tuple[Any, ...]


class _Absent:
    """A field that is not there (before a change adds it, after one removes it)."""

    def __deepcopy__(self, memo: Any) -> _Absent:
        return self

    def __repr__(self) -> str:
        return "(absent)"

    def __reduce__(self) -> str:
        return "_MISSING"  # unpickled as the one instance


_MISSING = _Absent()


class Raw(str):
    """A scalar written plain, for what YAML reads as a number the spec cannot hold (`1.0e+309`)."""


try:
    from yaml import CSafeDumper as _SafeDumper
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _SafeDumper  # type: ignore[assignment]


class _Dumper(_SafeDumper):
    pass


_Dumper.add_representer(Raw, lambda d, v: d.represent_scalar("tag:yaml.org,2002:float", str(v)))


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096)


def format_path(path: PathT) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def path_pattern(path: PathT) -> str:
    """services[2].alerts[0].expr -> services[*].alerts[*].expr; channel names -> channels.*"""
    out = ""
    for i, p in enumerate(path):
        if isinstance(p, int):
            out += "[*]"
        elif i and path[i - 1] in ("channels", "teams", "slo_classes", "accept_unproven", "labels", "headers",
                                   "external_labels", "pod_labels", "settings", "exp_labels", "exp_annotations"):
            out += ".*"
        else:
            out += f".{p}" if out else str(p)
    return out


def _short(value: Any, limit: int = 80) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, Raw) else str(value)
    return text if len(text) <= limit else f"{text[:limit - 20]}...({len(text)} chars)"


@dataclass(frozen=True)
class Change:
    path: PathT
    op: str
    old: Any
    new: Any

    def describe(self) -> str:
        return f"{format_path(self.path)}: {_short(self.old)} -> {_short(self.new)} [{self.op}]"


@dataclass
class Mutant:
    example: str  # file name, e.g. quickstart.yaml
    index: int
    seed: str  # the seed of this mutant's random.Random
    changes: list[Change]
    data: Any
    text: str = ""

    def __post_init__(self) -> None:
        self.text = self.text or dump(self.data)

    @property
    def id(self) -> str:
        return f"{Path(self.example).stem}#{self.index}"

    def describe(self) -> str:
        return "; ".join(c.describe() for c in self.changes)

    @property
    def main_change(self) -> Change | None:
        """The change a failure is most likely about: an expression's, else the last but the Kubernetes switch."""
        exprs = [c for c in self.changes if _is_expr(c.path)]
        others = [c for c in self.changes if c.op not in ("deploy to kubernetes", "operator mode")]
        chosen = exprs or others or self.changes
        return chosen[-1] if chosen else None


def _paths(node: Any, prefix: PathT = ()) -> Iterator[PathT]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _get(node: Any, path: PathT) -> Any:
    for p in path:
        node = node[p]
    return node


DURATION_KEYS = frozenset({"scrape_interval", "scrape_timeout", "evaluation_interval", "slo_period", "threshold_for",
                           "period", "for", "keep_firing_for", "interval", "down_for", "group_wait",
                           "group_interval", "repeat_interval", "retention", "eval_time"})
QUANTITY_KEYS = frozenset({"target", "warning", "critical", "threshold", "above"})
NUMBER_KEYS = frozenset({"objective", "availability", "min_request_rate", "error_lines_per_minute", "replicas",
                         "port", "max_alerts"})
FILE_KEYS_RE = re.compile(r"_file$")
URL_KEYS = frozenset({"url", "runbook_url", "grafana_url", "alertmanager_url", "http", "api_url"})
DURATION_RE = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
# Functions promtool refuses unless --enable-feature=promql-experimental-functions (Prometheus 3.5).
EXPERIMENTAL = ["sort_by_label({e}, \"job\")", "limitk(1, {e})", "limit_ratio(0.5, {e})",
                "mad_over_time(({e})[5m:])", "double_exponential_smoothing(({e})[5m:], 0.5, 0.5)"]


def _is_expr(path: PathT) -> bool:
    key = path[-1] if path else None
    return key in ("expr", "logql") or (key in ("errors", "total") and len(path) > 1 and path[-2] == "events")


def _is_duration(path: PathT, value: Any) -> bool:
    if not path:
        return False
    key = path[-1]
    if key in DURATION_KEYS or (isinstance(key, str) and key in ("warning", "critical") and len(path) > 1
                                and path[-2] == "for"):
        return True
    if len(path) > 2 and "slo_windows" in path[-4:-2] and key in (0, 1):
        return True
    return isinstance(value, str) and bool(DURATION_RE.match(value)) and key not in QUANTITY_KEYS


def _is_reference(path: PathT) -> bool:
    if not path or path[0] != "routing":
        return False
    return (path[-1] in ("default", "watchdog") and len(path) == 2) or (
        isinstance(path[-1], int) and len(path) > 2 and (path[1] in ("severity", "teams") or path[-2] == "receivers"))


def _is_name(path: PathT) -> bool:
    return bool(path) and path[-1] == "name" and len(path) > 2 and isinstance(path[-2], int)


def _siblings(root: Any, path: PathT) -> list[Any]:
    """Scalar values next to this one: in the same mapping or list, or under the same key of sibling entries."""
    out: list[Any] = []
    if not path:
        return out
    parent = _get(root, path[:-1])
    items = parent.values() if isinstance(parent, dict) else parent
    out += [v for v in items if not isinstance(v, dict | list)]
    if len(path) >= 2 and isinstance(path[-2], int):
        grand = _get(root, path[:-2])
        out += [e[path[-1]] for e in grand if isinstance(e, dict) and path[-1] in e]
    current = _get(root, path)
    return [v for v in out if v != current or type(v) is not type(current)]


def _string_ops(rng: random.Random, s: str) -> list[tuple[str, Any]]:
    i = rng.randrange(len(s) + 1)
    ops: list[tuple[str, Any]] = [
        ("empty", ""), ("blank", "  "), ("truncated", s[: len(s) // 2]),
        ("char appended", s + rng.choice("x-_.9 /:@")),
        ("quote", s[:i] + rng.choice(['"', "'", "`"]) + s[i:]),
        ("brace", s[:i] + rng.choice(["{", "}", "}}", "{{", "{{ .x }}", "${x}", "$x", "$", "\\", "#", "%"]) + s[i:]),
        ("unicode", s[:i] + rng.choice(["é", "日本", "🔥", "\u200b", "\u202e", "Ω", "\u00a0"]) + s[i:]),
        ("very long", (s or "x") * max(1, 5000 // max(1, len(s)))),
        ("padded", f" {s} "), ("newline", s + "\nnext line"), ("upper", s.upper()),
    ]
    if s:
        ops.append(("char removed", s[:i % len(s)] + s[i % len(s) + 1:]))
    return ops


def _expr_ops(rng: random.Random, e: str) -> list[tuple[str, Any]]:
    ops: list[tuple[str, Any]] = [
        ("unbalanced (", e + " + (1"), ("unbalanced )", e + ")"),
        ("range vector", f"({e})[5m]"), ("experimental function", rng.choice(EXPERIMENTAL).format(e=e)),
        ("unknown function", f"no_such_function({e})"), ("trailing operator", e + " >"),
        ("string", f'"{e}"'), ("empty", ""), ("comment only", "# nothing"), ("bool without comparison", f"({e}) bool"),
        # and rewrites Prometheus accepts, which the rest of the pipeline must carry through
        ("wrapped in sum", f"sum({e})"), ("wrapped in abs", f"abs({e})"), ("times one", f"({e}) * 1"),
        ("clamped", f"clamp_min({e}, 0)"), ("multi-line", e.replace(" ", "\n  ", 1)),
    ]
    if ")" in e:
        i = e.rindex(")")
        ops.append(("dropped )", e[:i] + e[i + 1:]))
    if "(" in e:
        i = e.index("(")
        ops.append(("dropped (", e[:i] + e[i + 1:]))
    if "}" in e:
        ops.append(("dropped }", e.replace("}", "", 1)))
    if "{" in e:
        ops.append(("dropped {", e.replace("{", "", 1)))
    if "{{window}}" in e:
        ops += [("{{window}} removed", e.replace("{{window}}", "")),
                ("{{window}} and range removed", e.replace("[{{window}}]", "")),
                ("{{window}} misspelt", e.replace("{{window}}", "{{windows}}"))]
    for op in (" > ", " < ", " >= ", " <= ", " == ", " / ", " * ", " + ", " - ", " and ", " or ", " unless "):
        if op in e:
            ops.append(("dropped operator", e.replace(op, " ", 1)))
    m = re.search(r"\(\s*[^(),]+,\s*", e)
    if m:
        ops.append(("dropped argument", e[:m.start() + 1] + e[m.end():]))
    m = re.search(r"\[[^\]]*\]", e)
    if m:
        ops += [("range removed", e[:m.start()] + e[m.end():]), ("range 0s", e[:m.start()] + "[0s]" + e[m.end():]),
                ("range 1h", e[:m.start()] + "[1h]" + e[m.end():])]
    if "|=" in e:
        ops.append(("line filter broken", e.replace("|=", "|", 1)))
    return ops


def _number_ops(rng: random.Random, v: Any) -> list[tuple[str, Any]]:
    return [("zero", 0), ("negative", -abs(v) if isinstance(v, int | float) and v else -1), ("huge", 1e300 * 10),
            ("huge int", 2**64), ("tiny", 1e-320), ("1e309 as a string", "1e309"), ("infinite", Raw("1.0e+309")),
            ("percentage", rng.choice(["50%", "150%", "-5%", "0%", "100%", "0.0001%"])), ("100", 100),
            ("fraction", 0.5), ("99.99999", 99.99999), ("not a number", "abc"), ("bool", True), ("one", 1),
            *_plausible_numbers(v)]


def _plausible_numbers(v: Any) -> list[tuple[str, Any]]:
    """Values a user might well write instead: ten times more or less, twice as much, one more."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        m = re.fullmatch(r"(\d+(?:\.\d+)?)(%|ms|s|m|h|k|M)?", str(v))
        if not m:
            return []
        n, unit = float(m.group(1)), m.group(2) or ""
        return [("scaled", f"{_num(n * f)}{unit}") for f in (10, 0.1, 2)]
    return [("scaled", _num(v * f)) for f in (10, 0.1, 2)] + [("plus one", v + 1)]


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(f"{x:.6g}")


def _duration_ops(rng: random.Random) -> list[tuple[str, Any]]:
    return [("zero", "0s"), ("zero bare", "0"), ("1ms", "1ms"), ("huge", "300y"), ("just below 292y", "290y"),
            ("malformed", rng.choice(["5", "5 m", "m", "-5m", "1h30", "1.5h", "5M", "P1D", "5mm", "1m1h"])),
            ("number", 300), ("compound", "1d2h3m4s5ms"), ("days", "90d"), ("1s", "1s"), ("long", "8w"),
            *[("plausible", d) for d in ("30s", "1m", "10m", "1h", "6h", "1d", "7d", "28d")]]


def _quantity_ops(rng: random.Random, v: Any) -> list[tuple[str, Any]]:
    return [*_number_ops(rng, v), ("duration", rng.choice(["0ms", "1ms", "100y", "5m", "-1s"])),
            ("unit", rng.choice(["10MB", "5Ki", "1k", "2x", "1e3", "0x10", "1_000"]))]


def _name_ops(root: Any, path: PathT) -> list[tuple[str, Any]]:
    """Names made equal to another name of the same kind (services, alerts, remote_write, SLOs)."""
    key = path[-1]
    pool: list[Any] = []
    for p in _paths(root):
        if p and p[-1] == key and len(p) == len(path) and p != path and p[0] == path[0]:
            pool.append(_get(root, p))
    return [("duplicated name", v) for v in pool if isinstance(v, str)][:4]


Ops = list[tuple[str, Any]]


def _scalar_ops(rng: random.Random, root: Any, path: PathT, value: Any) -> tuple[Ops, Ops]:
    """(operators for what the field means, operators for any value of its type)."""
    key = path[-1] if path else None
    ops: Ops = []
    if isinstance(value, bool):
        return [("flipped", not value)], [("string", "yes"), ("null", None)]
    if _is_expr(path) and isinstance(value, str):
        ops += _expr_ops(rng, value)
    elif _is_duration(path, value):
        ops += _duration_ops(rng)
    elif key in QUANTITY_KEYS:
        ops += _quantity_ops(rng, value)
    elif key in NUMBER_KEYS or (len(path) > 2 and "slo_windows" in path[-4:-2] and key == 2) or (
            isinstance(value, int | float) and not isinstance(value, bool)):
        ops += _number_ops(rng, value)
    if key == "severity" or (isinstance(value, str) and value in ("critical", "warning", "info")):
        ops += [("severity", v) for v in ("critical", "warning", "info", "page", "Critical", "")]
    if _is_reference(path):
        ops += [("broken reference", "no-such-channel"), ("broken reference", "")] * 2
    if isinstance(key, str) and FILE_KEYS_RE.search(key):
        ops += [("relative path", "secrets/key"), ("root", "/"), ("space", "/etc/a b"), ("dir", "/etc/")]
    if key in URL_KEYS:
        ops += [("credentials in URL", "https://user:pass@example.com/x"), ("no scheme", "example.com/x"),
                ("bad scheme", "ftp://example.com/x"), ("port out of range", "http://example.com:99999/"),
                ("token query", "https://example.com/x?token=abc")]
    if key == "matchers" or (len(path) > 1 and path[-2] == "matchers"):
        ops += [("matcher", m) for m in ('alertname=~"(["', "alertname", 'a="b', 'severity!~"warning|"', "=x")]
    if key == "times":
        ops += [("times", t) for t in ("25:00-18:00", "18:00-09:00", "09:00-09:00", "9:00-18:00", "00:00-24:00")]
    if key == "weekdays":
        ops += [("weekdays", w) for w in ("funday", "friday:monday", "saturday,sunday", "monday:")]
    if key == "timezone":
        ops += [("timezone", z) for z in ("Mars/Olympus", "UTC+5", "Asia/Kolkata", "America/New_York", "utc")]
    if key in ("series",):
        ops += [("series", s) for s in ("x{", 'x{a="b"', "x{a=b}", "{a=\"b\"}", "1x", 'x{a="b"}[5m]')]
    if key == "values":
        ops += [("values", s) for s in ("abc", "1x", "1+x3", "", "1x100000", "_x3 stale", "1e309x2")]
    if len(path) > 1 and path[-2] == "static":
        ops += [("target", t) for t in ("host", "host:99999", "http://x:80", "a b:80", "[::1]:80", "-:80")]
    if _is_name(path) or (len(path) > 1 and path[-2] in ("channels",)):
        ops += _name_ops(root, path)
    generic = _string_ops(rng, value) if isinstance(value, str) else []
    generic += [("type: null", None), ("type: list", [value]), ("type: mapping", {"value": value})]
    generic += [("copied from a sibling", v) for v in _siblings(root, path)[:3]]
    return ops, generic


# Values for a field the spec leaves out, by name; others by their type (`_sample`).
SAMPLES: dict[str, list[Any]] = {
    "for": ["1m", "30m", "0s"], "keep_firing_for": ["5m", "0s"], "scrape_timeout": ["10s", "1m"],
    "interval": ["30s", "5m"], "period": ["7d", "28d", "1d"], "min_request_rate": [0.1, 0], "direction": ["below", "above"],
    "description": ["An extra description.", "{{ $value }} now", "{{ $labels.nosuch }}"], "unit": ["short", "s", "bytes"],
    "labels": [{"tier": "gold"}, {"severity": "info"}], "team": ["platform", "payments"], "runbook_url": [
        "https://runbooks.example.com/x", "https://runbooks.example.com/{service}/{alert}"],
    "target": ["1%", 0.5], "warning": ["2%", 5], "critical": ["10%", 50], "tenant": ["t1"], "watchdog": ["deadman"],
    "alertmanager_url": ["https://am.example.com"], "grafana_url": ["https://grafana.example.com/g"],
    "external_labels": [{"region": "eu"}], "environment": ["staging"], "error_lines_per_minute": [0, 1000, None],
    "time_format": ["%Y-%m-%d %H:%M:%S"], "tag": ["logs.extra"], "class": ["critical", "nosuch"],
    "health": [{"http": "http://x:8080/healthz"}], "quiet_hours": [{"applies_to": "critical"}],
    "timezone": ["Asia/Kolkata"], "group_by": [["alertname"], ["..."]], "continue": [True],
}


def _model_at(data: Any, path: PathT) -> type[BaseModel] | None:
    """The pydantic model of the mapping at `path` in a spec's data, when there is one."""
    node: Any = data
    tp: Any = Spec
    for key in path:
        node = node[key] if isinstance(node, dict | list) else None
        tp = _step(tp, key, node)
        if tp is None:
            return None
    return _as_model(tp, node)


def _unwrap(tp: Any) -> list[Any]:
    origin = get_origin(tp)
    if origin is Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in (Union, UnionType):
        return [t for a in get_args(tp) for t in _unwrap(a)]
    return [tp]


def _as_model(tp: Any, node: Any) -> type[BaseModel] | None:
    models = [t for t in _unwrap(tp) if isinstance(t, type) and issubclass(t, BaseModel)]
    if isinstance(node, dict) and len(models) > 1:  # channels: the one whose `type` matches
        for m in models:
            literal = m.model_fields.get("type")
            if literal is not None and node.get("type") in get_args(literal.annotation):
                return m
    return models[0] if models else None


def _step(tp: Any, key: Any, node: Any) -> Any:
    for t in _unwrap(tp):
        model = _as_model(t, None) if isinstance(t, type) and issubclass(t, BaseModel) else None
        if model is not None and isinstance(key, str):
            for name, f in model.model_fields.items():
                if key in (name, f.alias):
                    return f.annotation
        origin = get_origin(t)
        if origin is list and isinstance(key, int):
            return get_args(t)[0]
        if origin is dict:
            return get_args(t)[1]
    return None


def _sample(rng: random.Random, name: str, annotation: Any) -> Any:
    if name in SAMPLES:
        return rng.choice(SAMPLES[name])
    if name in DURATION_KEYS:
        return rng.choice(["30s", "5m", "2h"])
    if FILE_KEYS_RE.search(name):
        return "/etc/obsgen/secrets/" + name
    kinds = _unwrap(annotation)
    literals = [a for k in kinds if get_origin(k) is Literal for a in get_args(k)]
    if literals:
        return rng.choice(literals)
    if any(isinstance(k, type) and issubclass(k, BaseModel) for k in kinds):
        return {}
    if bool in kinds:
        return rng.choice([True, False])
    if int in kinds or float in kinds:
        return rng.choice([1, 0, 2.5])
    if any(get_origin(k) is list for k in kinds):
        return []
    if any(get_origin(k) is dict for k in kinds):
        return {}
    return rng.choice(["extra", "5m", "1%"])


def _optional_fields(rng: random.Random, data: Any, path: PathT, value: dict[str, Any]) -> list[tuple[str, Any]]:
    """Fields the model of this mapping has and the spec leaves out, each with a value a user might write."""
    model = _model_at(data, path)
    if model is None:
        return []
    out = []
    for name, f in model.model_fields.items():
        key = f.alias or name
        if key not in value and not f.is_required():
            out.append((key, _sample(rng, key, f.annotation)))
    return rng.sample(out, min(3, len(out)))


def _deploy_kubernetes(data: Any, operator: bool) -> list[Change]:
    """Kubernetes among the deploy targets, and prometheus-operator mode switched to `operator`."""
    stack = data.get("stack") if isinstance(data, dict) else None
    if not isinstance(stack, dict):
        return []
    changes = []
    old = stack.get("deploy", _MISSING)
    if not (isinstance(old, list) and "kubernetes" in old):
        stack["deploy"] = [*(old if isinstance(old, list) else ["compose"]), "kubernetes"]
        changes.append(Change(("stack", "deploy"), "deploy to kubernetes", copy.deepcopy(old), stack["deploy"]))
    k8s = stack.get("kubernetes")
    if not isinstance(k8s, dict):
        if operator:
            before = copy.deepcopy(stack.get("kubernetes", _MISSING))
            stack["kubernetes"] = {"prometheus_operator": True}
            changes.append(Change(("stack", "kubernetes"), "operator mode", before, {"prometheus_operator": True}))
    elif k8s.get("prometheus_operator", False) != operator:
        changes.append(Change(("stack", "kubernetes", "prometheus_operator"), "operator mode",
                              k8s.get("prometheus_operator", _MISSING), operator))
        k8s["prometheus_operator"] = operator
    return changes


Where = Callable[[PathT], bool]
EXPR_WEIGHT = 6  # an expression is chosen as often as six other fields: they are where tools differ most


def is_expression(path: PathT) -> bool:
    return _is_expr(path)


class PathIs:
    """A `where` for paths of this shape: keys, and `int` for any list index."""

    def __init__(self, *shape: Any):
        self.shape = shape

    def __call__(self, path: PathT) -> bool:
        return len(path) == len(self.shape) and all(
            isinstance(p, int) if s is int else p == s for p, s in zip(path, self.shape, strict=True))


def _mutate_once(rng: random.Random, data: Any, where: Where | None = None) -> Change | None:
    paths = [p for p in _paths(data) if p and (where is None or where(p)) for _ in range(EXPR_WEIGHT if _is_expr(p) else 1)]
    if not paths:
        return None
    path = rng.choice(paths)
    parent, key = _get(data, path[:-1]), path[-1]
    value = parent[key]
    ops: list[tuple[str, Any]]
    if isinstance(value, dict):
        ops = [("mapping emptied", {}), ("unknown key", {**value, "extra_field": 1}), ("null", None)]
        ops += [(f"field {k} added", {**value, k: v}) for k, v in _optional_fields(rng, data, path, value)] * 3
        if value:
            k = rng.choice(list(value))
            ops += [(f"key {k} removed", {kk: v for kk, v in value.items() if kk != k}),
                    (f"key {k} renamed", {(f"{k}s" if kk == k else kk): v for kk, v in value.items()}),
                    (f"key {k} renamed", {(f"{k}_" if kk == k else kk): v for kk, v in value.items()})]
            if isinstance(value[k], dict) and path[-1] == "channels":  # a channel copied under a new name
                ops.append((f"entry {k} duplicated", {**value, f"{k}-copy": copy.deepcopy(value[k])}))
                ops.append((f"channel {k} renamed (references broken)",
                            {(f"{k}-renamed" if kk == k else kk): v for kk, v in value.items()}))
        if "warning" in value and "critical" in value:
            ops += [("warning/critical swapped", {**value, "warning": value["critical"], "critical": value["warning"]})] * 3
        if not value:
            ops.append(("unknown key", {"extra_field": 1}))
    elif isinstance(value, list):
        ops = [("list emptied", []), ("null", None)]
        if value:
            i = rng.randrange(len(value))
            ops += [("entry duplicated", [*value[: i + 1], copy.deepcopy(value[i]), *value[i + 1:]]),
                    ("entry removed", value[:i] + value[i + 1:]), ("reversed", value[::-1]),
                    ("entry null", [*value[:i], None, *value[i + 1:]])]
        if len(path) > 2 and "slo_windows" in path[-4:-2]:
            ops = [("window tuple shortened", value[:2]), ("window tuple reversed", value[::-1])]
        ops += [("copied from a sibling", v) for v in _siblings(data, path)[:2]]
    else:
        # what the field means, more often than what any value of its type could be
        semantic, generic = _scalar_ops(rng, data, path, value)
        ops = semantic if semantic and rng.random() < 0.7 else generic + semantic
    if isinstance(parent, dict) and (not isinstance(value, dict | list) or rng.random() < 0.5):
        ops.append(("field removed", _MISSING))
    op, new = rng.choice(ops)
    if new is _MISSING:
        del parent[key]
    else:
        parent[key] = new
    if new == value and type(new) is type(value):
        return None
    return Change(path, op, copy.deepcopy(value), copy.deepcopy(new))


def _drop_alert_tests(data: Any, change: Change) -> None:
    """A spec's own alert tests are the user's claims about the alert as written: a change to the alert
    itself may rightly falsify them, so they leave with it (a change inside the tests keeps them)."""
    p = change.path
    if len(p) >= 4 and p[0] == "services" and p[2] == "alerts" and p[4:5] != ("tests",):
        try:
            alert = data["services"][p[1]]["alerts"][p[3]]
        except (KeyError, IndexError, TypeError):
            return
        if isinstance(alert, dict):
            alert.pop("tests", None)


def make_mutant(source: Any, example: str, index: int, seed: str, attempt: int = 0,
                where: Where | None = None) -> Mutant:
    mseed = f"{seed}/{example}/{index}/{attempt}"
    rng = random.Random(mseed)
    data = copy.deepcopy(source)
    changes: list[Change] = []
    if rng.random() < 0.2:  # Kubernetes, often in operator mode, under the mutation that follows
        changes += _deploy_kubernetes(data, operator=rng.random() < 0.6)
    for _ in range(2 if rng.random() < 0.1 else 1):
        for _try in range(10):
            change = _mutate_once(rng, data, where)
            if change is not None:
                changes.append(change)
                _drop_alert_tests(data, change)
                break
    return Mutant(example, index, mseed, changes, data)


def mutants(spec: Path, count: int, seed: int | str, where: Where | None = None) -> list[Mutant]:
    """`count` distinct mutants of one spec, each differing from it; the same seed gives the same ones.
    `where` limits the fields mutated (the Kubernetes switch aside)."""
    source = load_yaml(spec.read_text("utf-8"))
    seen = {dump(source)}
    out = []
    for index in range(count):
        for attempt in range(50):
            m = make_mutant(source, spec.name, index, str(seed), attempt, where)
            text = m.text
            if text not in seen:
                break
        seen.add(text)
        out.append(m)
    return out


# --------------------------------------------------------------------------- what the tools read, keyed

def sha(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_ALERTNAME_EQ = re.compile(r'alertname\s*=\s*"([^"]*)"')
_ALERTNAME_OTHER = re.compile(r"alertname\s*(=~|!=|!~)")


def _mapping(node: yaml.Node | None) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise ValueError("not a mapping")
    return {str(k.value): v for k, v in node.value}


def _block_items(seq: yaml.Node, lines: list[str]) -> list[tuple[int, int]]:
    """The line range of each entry of a block sequence, from its `- ` line to the next entry's."""
    if not isinstance(seq, yaml.SequenceNode) or seq.flow_style:
        raise ValueError("not a block sequence")
    starts = [item.start_mark.line for item in seq.value]
    end = seq.end_mark.line + (seq.end_mark.column > 0)
    for line in starts:
        if not lines[line].lstrip().startswith("- "):
            raise ValueError("an entry does not start its line")
    return list(zip(starts, [*starts[1:], end], strict=True))


@dataclass
class _Rule:
    name: str
    alert: bool
    refs: frozenset[str]


class RuleAnalysis:
    """A rule file cut into its rules by lines, with the names each rule's expression reads; `cut()` writes
    the file back with only some of its rules, every line of them and of their groups as rendered."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.rules: list[_Rule] = []
        self.spans: list[tuple[int, int]] = []  # each rule's lines
        self.groups: list[tuple[int, int, int, int, range]] = []  # group start, rules start, rules end, group end
        self.head = 0  # lines before the first group
        self.ok = False
        try:
            root = _mapping(yaml.compose(text, Loader=_Loader))
            groups = _block_items(root["groups"], self.lines)
            self.head = groups[0][0] if groups else len(self.lines)
            for (gstart, gend), gnode in zip(groups, root["groups"].value, strict=True):
                rules_node = _mapping(gnode).get("rules")
                spans = _block_items(rules_node, self.lines) if rules_node is not None and rules_node.value else []
                first = len(self.rules)
                for (rstart, rend), rnode in zip(spans, rules_node.value if rules_node and spans else [],
                                                 strict=True):
                    rm = _mapping(rnode)
                    expr = rm.get("expr")
                    name = rm.get("alert") or rm.get("record")
                    self.rules.append(_Rule(str(name.value) if isinstance(name, yaml.ScalarNode) else "",
                                            "alert" in rm, frozenset(_IDENT.findall(
                                                str(expr.value) if isinstance(expr, yaml.ScalarNode) else ""))))
                    self.spans.append((rstart, rend))
                rs, re_ = (spans[0][0], spans[-1][1]) if spans else (gend, gend)
                self.groups.append((gstart, rs, re_, gend, range(first, len(self.rules))))
            self.ok = bool(self.groups) and self.groups[-1][3] >= len(self.lines) - 1
        except (yaml.YAMLError, ValueError, KeyError, IndexError, AttributeError, TypeError):
            self.ok = False
        self.by_name: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(self.rules):
            self.by_name[r.name].append(i)

    def closure(self, names: set[str], every_alert: bool) -> set[int] | None:
        """Every rule an observer of `names` can see (the rules recording or alerting them, and what their
        expressions read, transitively); None when that cannot be told (the whole file, then)."""
        if not self.ok:
            return None
        todo = set(names)
        chosen: set[int] = set()
        if every_alert:
            todo |= {r.name for r in self.rules if r.alert}
        while todo:
            name = todo.pop()
            if name == "__name__":
                return None
            if name in ("ALERTS", "ALERTS_FOR_STATE") and not every_alert:
                every_alert = True
                todo |= {r.name for r in self.rules if r.alert}
            for i in self.by_name.get(name, ()):
                if i not in chosen:
                    chosen.add(i)
                    todo |= self.rules[i].refs
        return chosen

    def cut(self, chosen: set[int] | None) -> str:
        if chosen is None:
            return self.text
        out = self.lines[: self.head]
        for gstart, rstart, rend, gend, members in self.groups:
            keep = [i for i in members if i in chosen]
            if keep:
                out += self.lines[gstart:rstart]
                for i in keep:
                    out += self.lines[self.spans[i][0]: self.spans[i][1]]
                out += self.lines[rend:gend]
        return "".join(out)


@dataclass
class TestGroup:
    text: str
    names: set[str]
    every_alert: bool
    steps: float = 0.0  # evaluations promtool makes: the last eval_time over the evaluation interval


class TestAnalysis:
    """A generated test file cut into its header and its test groups, each with what it observes."""

    def __init__(self, text: str):
        self.text = text
        self.header = text
        self.trailer = ""
        self.rule_files: list[str] = []
        self.groups: list[TestGroup] = []
        self.ordered = False
        self.ok = False
        try:
            lines = text.splitlines(keepends=True)
            root = yaml.compose(text, Loader=_Loader)
            m = _mapping(root)
            rf = m.get("rule_files")
            self.rule_files = [str(n.value) for n in rf.value] if isinstance(rf, yaml.SequenceNode) else []
            tests = m["tests"]
            if isinstance(tests, yaml.SequenceNode) and not tests.value:
                self.ok = True  # no groups: nothing for promtool to run
                return
            first = tests.value[0].start_mark.line
            self.header = "".join(lines[:first])
            header = yaml.load(self.header, Loader=_Loader)
            interval = _seconds(header.get("evaluation_interval", "1m"))
            # groups named in group_eval_order must all be there: such a file keeps its rule files whole
            self.ordered = bool(header.get("group_eval_order"))
            spans = _block_items(tests, lines)
            for start, end in spans:
                gtext = "".join(lines[start:end])
                data = yaml.load(gtext, Loader=_Loader)
                if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
                    raise ValueError("a group is not one mapping")
                self.groups.append(self._observes(gtext, data[0], interval))
            self.trailer = "".join(lines[spans[-1][1]:])
            self.ok = True
        except (yaml.YAMLError, ValueError, KeyError, IndexError, TypeError, AttributeError):
            self.ok = False

    @staticmethod
    def _observes(text: str, data: Any, interval: float) -> TestGroup:
        names: set[str] = set()
        every_alert = False
        last = max([_seconds(c.get("eval_time", "0")) for c in (data.get("alert_rule_test") or [])
                    + (data.get("promql_expr_test") or [])] or [0.0])
        for check in data.get("alert_rule_test") or []:
            names.add(str(check.get("alertname")))
        for check in data.get("promql_expr_test") or []:
            expr = str(check.get("expr", ""))
            refs = set(_IDENT.findall(expr))
            if refs & {"ALERTS", "ALERTS_FOR_STATE"}:
                exact = _ALERTNAME_EQ.findall(expr)
                if exact and not _ALERTNAME_OTHER.search(expr):
                    names |= set(exact)
                else:
                    every_alert = True
                refs -= {"ALERTS", "ALERTS_FOR_STATE"}
            names |= refs
        return TestGroup(text, names, every_alert, last / interval if interval > 0 else math.inf)


def _seconds(text: Any) -> float:
    try:
        return float(duration_seconds(str(text)))
    except ValueError:
        return 0.0


class _Cache:
    def __init__(self) -> None:
        self.rules: dict[str, RuleAnalysis] = {}
        self.tests: dict[str, TestAnalysis] = {}

    def rule(self, text: str) -> RuleAnalysis:
        key = sha(text)
        if key not in self.rules:
            self.rules[key] = RuleAnalysis(text)
        return self.rules[key]

    def test(self, text: str) -> TestAnalysis:
        key = sha(text)
        if key not in self.tests:
            self.tests[key] = TestAnalysis(text)
        return self.tests[key]


def _opaque_generator_files(kustomization: str) -> set[str]:
    """Files the kustomization packs into ConfigMaps or Secrets with `files:` (copied, never parsed)."""
    try:
        data = yaml.load(kustomization, Loader=_Loader)
    except yaml.YAMLError:
        return set()
    out: set[str] = set()
    if not isinstance(data, dict):
        return out
    for gen in (data.get("configMapGenerator") or []) + (data.get("secretGenerator") or []):
        for entry in (gen.get("files") or []) if isinstance(gen, dict) else []:
            out.add(posixpath.normpath("kubernetes/" + str(entry).split("=", 1)[-1]))
    return out


# --------------------------------------------------------------------------- running the tools

TOOLS = ("promtool check config", "promtool check rules", "promtool test rules", "amtool check-config",
         "kubectl kustomize")


@dataclass
class Check:
    """One distinct input of one tool, validated once for every mutant that renders it."""

    tool: str
    key: str
    target: str  # the file (or folder) the tool reads, relative to the work folder
    mutants: list[str] = field(default_factory=list)
    group: str | None = None  # test groups: the group's name
    failure: str | None = None
    skipped: bool = False  # a heavy group not run: every mutant that needs it has failed already


@dataclass
class Failure:
    mutant: Mutant
    kind: str  # the tool, "crash" or "unlocated error"
    target: str
    message: str

    def describe(self) -> str:
        return (f"{self.mutant.id} (seed {self.mutant.seed!r}) {self.mutant.describe()}\n"
                f"  {self.kind} {self.target}: {self.message.strip()[:2000]}")


@dataclass
class ExampleCount:
    mutants: int = 0
    refused: int = 0
    rendered: int = 0
    crashed: int = 0  # an exception from loading or rendering
    failed: int = 0
    falsified: int = 0  # a change inside a spec's own alert tests that promtool shows false


@dataclass
class Report:
    seed: str
    per_example: int
    counts: dict[str, ExampleCount]
    failures: list[Failure]
    distinct: Counter[str]
    seconds: float
    falsified: list[Failure] = field(default_factory=list)
    tool_seconds: dict[str, float] = field(default_factory=dict)
    tool_calls: Counter[str] = field(default_factory=Counter)
    seed_spec: str = ""  # the spec of a one-spec part

    def summary_line(self) -> str:
        return "; ".join(f"{name}: {c.mutants} mutants, {c.refused} refused, {c.rendered} rendered, {c.failed} failed"
                         for name, c in self.counts.items())

    @property
    def total(self) -> int:
        return sum(c.mutants for c in self.counts.values())

    def summary(self) -> str:
        lines = [f"mutation fuzz, seed {self.seed}: {self.total} mutants in {self.seconds:.0f} s; distinct inputs "
                 "checked (tool calls, seconds in the tool): "
                 + ", ".join(f"{t} {self.distinct[t]} ({self.tool_calls[t]}, {self.tool_seconds.get(t, 0):.0f} s)"
                             for t in TOOLS)]
        for name, c in self.counts.items():
            lines.append(f"  {name}: {c.mutants} mutants, {c.refused} refused, {c.rendered} rendered"
                         + (f", {c.crashed} crashed" if c.crashed else "") + f", {c.failed} failed"
                         + (f", {c.falsified} falsified their own alert tests" if c.falsified else ""))
        return "\n".join(lines)

    def failure_groups(self) -> dict[tuple[str, str], list[Failure]]:
        """Failures by the tool and the pattern of the mutated path: one group is usually one cause."""
        groups: dict[tuple[str, str], list[Failure]] = defaultdict(list)
        for f in self.failures:
            main = f.mutant.main_change
            groups[(f.kind, path_pattern(main.path) if main else "?")].append(f)
        return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def tool_paths() -> dict[str, str]:
    found = {}
    for name in ("promtool", "amtool", "kubectl"):
        candidate = TOOLS_BIN / name
        path = str(candidate) if candidate.exists() else shutil.which(name)
        if path:
            found[name] = path
    return found


@dataclass
class _Done:
    returncode: int | None  # None: timed out (and killed)
    output: str


def _run(cmd: list[str], cwd: Path, timeout: float, env: dict[str, str]) -> _Done:
    try:  # subprocess.run kills the tool when it times out
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        return _Done(None, out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out))
    return _Done(proc.returncode, (proc.stdout + proc.stderr).strip())


# A test group's cost: the evaluations promtool makes (its last eval_time over the evaluation interval)
# times the rules it evaluates. The examples' groups cost at most about 11,000 (a 30d SLO's budget test at
# 15s, 20 rules: 3 s); one costing more than HEAVY_COST runs alone, within HEAVY_TIMEOUT, and once a
# mutant has a group that did not finish, its other heavy groups are not run (it has failed already).
HEAVY_COST = 40_000
HEAVY_TIMEOUT = 20.0
BATCH_TIMEOUT = 300.0


class Checker:
    """Dedupes what each mutant renders, writes the new inputs into the mutant's own folder and runs the
    tools over them in batches, `jobs` at a time."""

    BATCH = {"promtool check config": 60, "promtool check rules": 120, "amtool check-config": 60,
             "promtool test rules": 24, "kubectl kustomize": 8, "heavy": 1}

    def __init__(self, work: Path, jobs: int = 2):
        self.work = work
        self.tools = tool_paths()
        self.pool = ThreadPoolExecutor(max_workers=jobs)
        self.futures: list[Future[None]] = []
        self.checks: dict[tuple[str, str], Check] = {}
        self.pending: dict[str, list[Check]] = defaultdict(list)
        self.cache = _Cache()
        self.by_mutant: dict[str, list[Check]] = defaultdict(list)
        self.seconds: defaultdict[str, float] = defaultdict(float)  # time in each tool, over all calls
        self.calls: Counter[str] = Counter()
        self.folders = 0
        self.timed_out: set[str] = set()  # mutants with a test group that did not finish
        # promtool's unit tests keep a TSDB per group in TMPDIR: in memory when there is a tmpfs, and in a
        # folder of this run's, so that what a killed promtool leaves goes with it. Go's collector at a
        # quarter of its default pace saves those tests a third of their CPU time.
        shm = Path("/dev/shm")
        self.tmp = Path(tempfile.mkdtemp(prefix="obsgen-fuzz-", dir=shm if os.access(shm, os.W_OK) else work))
        self.env = {**os.environ, "GOGC": "400", "TMPDIR": str(self.tmp)}

    def _claim(self, tool: str, key: str, target: str, mutant: Mutant, group: str | None = None,
               queue: str | None = None) -> bool:
        """Record that the mutant needs this input checked; True when it is new (the caller writes it)."""
        check = self.checks.get((tool, key))
        new = check is None
        if check is None:
            check = self.checks[(tool, key)] = Check(tool, key, target, group=group)
            self.pending[queue or tool].append(check)
        check.mutants.append(mutant.id)
        self.by_mutant[mutant.id].append(check)
        return new

    def add(self, mutant: Mutant, files: dict[str, str]) -> None:
        folder = f"{Path(mutant.example).stem}/{mutant.index}"
        to_write: set[str] = set()
        prom = {p: t for p, t in files.items() if p.startswith("prometheus/")}
        rule_paths = sorted(p for p in prom if p.startswith("prometheus/rules/"))
        if "prometheus/prometheus.yml" in prom:  # which reads the rule files too
            read = [f"{p}\n{t}" for p, t in sorted(prom.items()) if not p.startswith("prometheus/tests/")]
            if self._claim("promtool check config", sha(*read), f"{folder}/prometheus/prometheus.yml", mutant):
                to_write |= {p for p in prom if not p.startswith("prometheus/tests/")}
        for p in rule_paths:
            if self._claim("promtool check rules", sha(files[p]), f"{folder}/{p}", mutant):
                to_write.add(p)
        for p in sorted(x for x in prom if x.startswith("prometheus/tests/")):
            self._add_tests(mutant, folder, p, files)
        am = sorted(p for p in files if p.startswith("alertmanager/"))
        if "alertmanager/alertmanager.yml" in files:
            if self._claim("amtool check-config", sha(*(f"{p}\n{files[p]}" for p in am)),
                           f"{folder}/alertmanager/alertmanager.yml", mutant):
                to_write |= set(am)
        k8s = sorted(p for p in files if p.startswith("kubernetes/"))
        if "kubernetes/kustomization.yaml" in files:
            opaque = _opaque_generator_files(files["kubernetes/kustomization.yaml"])
            key = sha(*(p if p in opaque else f"{p}\n{files[p]}" for p in k8s))
            if self._claim("kubectl kustomize", key, f"{folder}/kubernetes", mutant):
                to_write |= set(k8s)
        self._write(folder, {p: files[p] for p in sorted(to_write)})
        self._flush(final=False)

    def _add_tests(self, mutant: Mutant, folder: str, path: str, files: dict[str, str]) -> None:
        """Claims each group of a test file, keyed by its bytes and the rules it observes; the new ones are
        written, with those rules cut from the rendered rule files, into a folder per set of rules."""
        analysis = self.cache.test(files[path])
        here = posixpath.dirname(path)
        loads: list[tuple[str, RuleAnalysis | None]] = []
        for rf in analysis.rule_files:
            target = posixpath.normpath(posixpath.join(here, rf))
            exact = target in files and not any(c in rf for c in "*?[")
            loads.append((target, self.cache.rule(files[target]) if exact else None))
        if not analysis.ok or any(r is None for _, r in loads):
            # not cut into groups, or a glob or missing rule file: the whole file is one check
            sources = {p: t for p, t in files.items() if p.startswith("prometheus/rules/")}
            key = sha(files[path], *(f"{p}\n{t}" for p, t in sorted(sources.items())))
            target = f"{folder}/whole/{path}"
            if self._claim("promtool test rules", key, target, mutant, group="(the whole file)"):
                self._write(f"{folder}/whole", {path: files[path], **sources})
            return
        buckets: dict[tuple[str, ...], tuple[str, list[str]]] = {}
        for i, g in enumerate(analysis.groups):
            chosen = [(r, None if analysis.ordered else r.closure(g.names, g.every_alert))
                      for _, r in loads if r is not None]
            cut = tuple(r.cut(c) for r, c in chosen)
            evaluated = sum(len(r.rules) if c is None else len(c) for r, c in chosen)
            heavy = g.steps * (evaluated + 1) > HEAVY_COST
            bucket = (*cut, f"heavy {i}") if heavy else cut  # a heavy group runs alone
            if bucket not in buckets:
                self.folders += 1
                buckets[bucket] = (f"{folder}/t{self.folders}", [])
            sub, texts = buckets[bucket]
            if self._claim("promtool test rules", sha(analysis.header, g.text, analysis.trailer, *cut),
                           f"{sub}/{path}", mutant, group=_group_name(g.text), queue="heavy" if heavy else None):
                texts.append(g.text)
        for bucket, (sub, texts) in buckets.items():
            if texts:
                rules = {p: t for (p, _), t in zip(loads, bucket, strict=False)}
                self._write(sub, {path: analysis.header + "".join(texts) + analysis.trailer, **rules})

    def _write(self, folder: str, files: dict[str, str]) -> None:
        for p, text in files.items():
            (self.work / folder / p).parent.mkdir(parents=True, exist_ok=True)
            (self.work / folder / p).write_text(text, "utf-8")

    def _flush(self, final: bool) -> None:
        for queue_name, queue in self.pending.items():
            size = self.BATCH[queue_name]
            while queue and (final or len(queue) >= size):
                if queue_name in ("promtool test rules", "heavy"):
                    # a batch is whole test files: the groups of one file run in one call
                    batch: list[Check] = []
                    files: set[str] = set()
                    while queue and (len(batch) < size or queue[0].target in files):
                        files.add(queue[0].target)
                        batch.append(queue.pop(0))
                    if queue_name == "heavy":
                        self.futures.append(self.pool.submit(self._heavy, batch))
                    else:
                        self.futures.append(self.pool.submit(self._test_rules, batch, BATCH_TIMEOUT))
                else:
                    batch, queue[:] = queue[:size], queue[size:]
                    self.futures.append(self.pool.submit(self._batch, queue_name, batch))

    def finish(self) -> None:
        self._flush(final=True)
        try:
            for f in self.futures:
                f.result()
            for check in self.checks.values():  # claimed, after it was skipped, by a mutant that had not failed
                if check.skipped and not set(check.mutants) <= self.timed_out:
                    check.skipped = False
                    self._test_rules([check], HEAVY_TIMEOUT)
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _heavy(self, batch: list[Check]) -> None:
        if all(set(c.mutants) <= self.timed_out for c in batch):
            for c in batch:
                c.skipped = True
            return
        self._test_rules(batch, HEAVY_TIMEOUT)
        for c in batch:
            if c.failure and c.failure.startswith("did not finish"):
                self.timed_out.update(c.mutants)

    def _call(self, tool: str, cmd: list[str], timeout: float = BATCH_TIMEOUT) -> _Done:
        start = time.monotonic()
        done = _run(cmd, self.work, timeout, self.env)
        self.seconds[tool] += time.monotonic() - start
        self.calls[tool] += 1
        return done

    def _command(self, tool: str, targets: list[str]) -> list[str]:
        if tool == "promtool check config":
            return [self.tools["promtool"], "check", "config", *targets]
        if tool == "promtool check rules":
            return [self.tools["promtool"], "check", "rules", "--lint=all", "--lint-fatal", *targets]
        if tool == "amtool check-config":
            return [self.tools["amtool"], "check-config", *targets]
        if tool == "kubectl kustomize":
            return [self.tools["kubectl"], "kustomize", *targets]
        raise ValueError(tool)

    def _batch(self, tool: str, batch: list[Check]) -> None:
        """One call over the whole batch; when it fails, halves it until each failing input is alone."""
        if tool == "kubectl kustomize":  # one folder per call
            for check in batch:
                done = self._call(tool, self._command(tool, [check.target]))
                check.failure = None if done.returncode == 0 else _message(done, BATCH_TIMEOUT)
            return
        done = self._call(tool, self._command(tool, [c.target for c in batch]))
        if done.returncode == 0:
            return
        if len(batch) == 1:
            batch[0].failure = _message(done, BATCH_TIMEOUT)
        else:
            half = len(batch) // 2
            self._batch(tool, batch[:half])
            self._batch(tool, batch[half:])

    def _test_rules(self, batch: list[Check], timeout: float) -> None:
        """One promtool call over whole test files; its JUnit report says which group failed."""
        files = list(dict.fromkeys(c.target for c in batch))
        junit = self.work / f"junit-{time.monotonic_ns()}-{id(batch)}.xml"
        done = self._call("promtool test rules",
                          [self.tools["promtool"], "test", "rules", f"--junit={junit}", *files], timeout)
        if done.returncode is None:
            if len(files) > 1:  # each file alone, to find the one that does not finish
                for f in files:
                    self._test_rules([c for c in batch if c.target == f], HEAVY_TIMEOUT)
            else:
                for c in batch:
                    c.failure = _message(done, timeout)
            return
        suites: dict[str, tuple[list[str | None], bool]] = {}  # file -> each group's failure, any failure
        try:
            for suite in ET.parse(junit).getroot().iter("testsuite"):
                suites[suite.get("name") or ""] = (
                    ["\n".join(e.text or "" for e in case if e.tag in ("failure", "error")) or None
                     for case in suite.iter("testcase")],
                    int(suite.get("failures") or 0) + int(suite.get("errors") or 0) > 0)
        except (ET.ParseError, OSError):
            pass  # no report at all: every group of the call carries promtool's output below
        junit.unlink(missing_ok=True)
        for target in files:
            mine = [c for c in batch if c.target == target]
            cases, failed = suites.get(target, ([], True))
            for i, check in enumerate(mine):
                if target not in suites:
                    check.failure = f"(no report of this file) {done.output[-3000:]}"
                elif len(cases) == len(mine):
                    check.failure = cases[i]
                elif failed:  # a file that could not be cut into groups is one check
                    check.failure = "\n".join(m for m in cases if m) or f"(the file failed) {done.output[-3000:]}"
        if done.returncode != 0 and not any(c.failure for c in batch):
            for c in batch:  # promtool failed and its report names nothing: say so on every group of the call
                c.failure = f"promtool exited {done.returncode}: {done.output[-3000:]}"


def _message(done: _Done, timeout: float) -> str:
    if done.returncode is None:
        return f"did not finish within {timeout:.0f} s (killed) {done.output[-1000:]}".strip()
    return done.output


def _group_name(text: str) -> str:
    m = re.match(r"\s*-\s*name:\s*(.*)", text)
    return m.group(1).strip().strip("'\"") if m else "(unnamed group)"


# --------------------------------------------------------------------------- the run

def _unlocated(err: SpecError, filename: str) -> list[str]:
    located = re.compile(re.escape(filename) + r":\d+:\d+[ :]")
    return [line for line in err.lines() if not located.match(line)]


def _user_groups(data: Any) -> dict[str, set[str]]:
    """Test groups copied from the spec's own alert tests: group name -> the alerts with a test so named."""
    out: dict[str, set[str]] = defaultdict(set)
    services = data.get("services") if isinstance(data, dict) else None
    for svc in services if isinstance(services, list) else []:
        alerts = svc.get("alerts") if isinstance(svc, dict) else None
        for alert in alerts if isinstance(alerts, list) else []:
            if not isinstance(alert, dict) or not isinstance(alert.get("tests"), list):
                continue
            for i, test in enumerate(alert["tests"]):
                name = test.get("name") if isinstance(test, dict) else None
                out[str(name) if name else f"{alert.get('name')}: test {i + 1} of the spec"].add(str(alert.get("name")))
    return out


_LABELS = re.compile(r"Labels:\{.*\}")


def _annotations_only(failure: str) -> bool:
    """Every mismatch promtool reports is in the annotations: the alerts carry the labels expected."""
    cases = re.split(r"^\s*(?:name|alertname|expr): ", failure, flags=re.M)
    mismatches = [c for c in cases if "exp:" in c and "got:" in c]
    if not mismatches:
        return False
    for c in mismatches:
        exp, got = c.split("got:", 1)
        if "Annotations:" not in exp or sorted(_LABELS.findall(exp)) != sorted(_LABELS.findall(got)):
            return False
    return True


def _falsified(m: Mutant, check: Check) -> bool:
    """A spec's own alert test that the mutant makes false, as promtool shows it: a claim of the user's
    (its expectations, or the annotations it wrote out), not obsgen's. A test that does not load, or an
    alert missing a label obsgen adds itself, is obsgen's."""
    if check.tool != "promtool test rules" or not check.failure or not m.changes:
        return False
    failure = check.failure
    alerts = {a for a in _user_groups(m.data).get(check.group or "", set())
              if re.search(rf'alertname(: |=\\?"){re.escape(a)}\b', failure)}
    if not alerts or not re.search(r"^\s*exp:", failure, re.M):
        return False
    return bool(alerts & _changed_tests(m)) or _annotations_only(failure)


def _changed_tests(m: Mutant) -> set[str]:
    """The alerts whose own tests the mutant changed."""
    out = set()
    for c in m.changes:
        p = c.path
        if len(p) > 4 and p[0] == "services" and p[2] == "alerts" and p[4] == "tests":
            try:
                out.add(str(m.data["services"][p[1]]["alerts"][p[3]]["name"]))
            except (KeyError, IndexError, TypeError):
                continue
    return out


def fuzz(specs: Iterable[Path], per_example: int, seed: int | str, work: Path, jobs: int = 2,
         where: Where | None = None, load: Callable[[str, str], Spec] | None = None,
         render: Callable[[Spec, str], dict[str, str]] | None = None,
         progress: Callable[[str], None] | None = None) -> Report:
    """Every mutant refused with a located message, or rendered into output the tools accept. `load` and
    `render` stand for `load_spec_text` and `resolve` + `render_all` (the tests of this module break them).

    With several specs and jobs, `jobs` forked processes take a spec at a time, each rendering while its
    tool calls run: rendering is as much of the work as the tools are."""
    global _FORKED
    start = time.monotonic()
    specs = list(specs)
    missing = [t for t in ("promtool", "amtool", "kubectl") if t not in tool_paths()]
    if missing:
        raise RuntimeError(f"not installed: {', '.join(missing)} (run `make tools`)")
    args: tuple[Any, ...] = (per_example, seed, work, where, load, render)
    parts: dict[str, Report] = {}
    if jobs > 1 and len(specs) > 1:
        _FORKED = (specs, args)  # inherited by the forked processes, never pickled (hooks are closures)
        try:
            with get_context("fork").Pool(min(jobs, len(specs))) as pool:
                # the costliest first (promtool's time goes with the generated tests), so that none is left
                # for the end
                order = sorted(range(len(specs)), key=lambda i: -_tests_size(specs[i]))
                for part in pool.imap_unordered(_fuzz_forked, order):
                    parts[part.seed_spec] = part
                    if progress:
                        progress(f"{part.summary_line()} ({time.monotonic() - start:.0f} s)")
        finally:
            _FORKED = None
    else:
        for spec in specs:
            part = parts[spec.name] = _fuzz_spec(spec, per_example, seed, work, where, load, render, jobs)
            if progress:
                progress(f"{part.summary_line()} ({time.monotonic() - start:.0f} s)")
    merged = Report(str(seed), per_example, {}, [], Counter(), 0.0)
    for spec in specs:
        part = parts[spec.name]
        merged.counts.update(part.counts)
        merged.failures += part.failures
        merged.falsified += part.falsified
        merged.distinct.update(part.distinct)
        for tool, seconds in part.tool_seconds.items():
            merged.tool_seconds[tool] = merged.tool_seconds.get(tool, 0.0) + seconds
        merged.tool_calls.update(part.tool_calls)
    merged.seconds = time.monotonic() - start
    return merged


_FORKED: tuple[list[Path], tuple[Any, ...]] | None = None


def _tests_size(spec: Path) -> int:
    try:
        files = render_all(resolve(load_spec(spec), spec.name))
    except SpecError:
        return 0
    return sum(len(t) for p, t in files.items() if p.startswith("prometheus/tests/"))


def _fuzz_forked(index: int) -> Report:
    assert _FORKED is not None
    specs, (per_example, seed, work, where, load, render) = _FORKED
    return _fuzz_spec(specs[index], per_example, seed, work, where, load, render, jobs=1)


def _fuzz_spec(spec: Path, per_example: int, seed: int | str, work: Path, where: Where | None,
               load: Callable[[str, str], Spec] | None, render: Callable[[Spec, str], dict[str, str]] | None,
               jobs: int) -> Report:
    start = time.monotonic()
    load = load or load_spec_text
    render = render or (lambda spec, source: render_all(resolve(spec, source)))
    checker = Checker(work, jobs)
    count = ExampleCount()
    failures: list[Failure] = []
    rendered: list[Mutant] = []
    try:
        for m in mutants(spec, per_example, seed, where):
            count.mutants += 1
            try:
                parsed = load(m.text, spec.name)
            except SpecError as e:
                count.refused += 1
                bad = _unlocated(e, spec.name)
                if bad or not e.problems:
                    failures.append(Failure(m, "unlocated error", spec.name, "\n".join(bad) or "no problems listed"))
                continue
            except Exception as e:  # noqa: BLE001 - any other exception is what this looks for
                count.crashed += 1
                failures.append(Failure(m, "crash", "load_spec_text", _trace(e)))
                continue
            try:
                files = render(parsed, spec.name)
            except Exception as e:  # noqa: BLE001
                count.crashed += 1
                failures.append(Failure(m, "crash", "resolve/render_all", _trace(e)))
                continue
            count.rendered += 1
            rendered.append(m)
            checker.add(m, files)
    finally:
        checker.finish()
    falsified: list[Failure] = []
    for m in rendered:
        for check in checker.by_mutant[m.id]:
            if check.failure is None:
                continue
            f = Failure(m, check.tool, check.target + (f" group {check.group!r}" if check.group else ""),
                        check.failure)
            (falsified if _falsified(m, check) else failures).append(f)
    count.failed = len({f.mutant.id for f in failures})
    count.falsified = len({f.mutant.id for f in falsified} - {f.mutant.id for f in failures})
    distinct = Counter(c.tool for c in checker.checks.values())
    report = Report(str(seed), per_example, {spec.name: count}, failures, distinct, time.monotonic() - start,
                    falsified, dict(checker.seconds), checker.calls)
    report.seed_spec = spec.name
    return report


def _trace(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)[-3:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    return f"{type(e).__name__}: {e} (at {where})"


def markdown(report: Report, limit: int = 5) -> str:
    """The failures grouped by tool and mutated path, a few examples each, for reading or a findings file."""
    out = [f"# mutation fuzz: {report.total} mutants, seed {report.seed}", "", "```", report.summary(), "```", ""]
    for (kind, pattern), fails in report.failure_groups().items():
        ops = Counter(c.op for f in fails if (c := f.mutant.main_change))
        out.append(f"## {kind} — {pattern} ({len(fails)} failures, {len({f.mutant.id for f in fails})} mutants; "
                   + ", ".join(f"{op} {n}" for op, n in ops.most_common()) + ")")
        first: dict[str, Failure] = {}  # each mutant's first failure, for a few mutants
        for f in fails:
            first.setdefault(f.mutant.id, f)
        for f in list(first.values())[:limit]:
            out += ["", "```", f.describe(), "```"]
        out.append("")
    return "\n".join(out)
