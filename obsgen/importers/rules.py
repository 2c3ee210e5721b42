"""`obsgen import rules`: Prometheus rule files as free-form alerts and recording rules of obsgen services.

Read: rule files (`groups:`) and prometheus-operator's PrometheusRule (`spec.groups`), and, with `--tests`,
promtool test files of those rules. Each alerting rule becomes an entry of `alerts:`, and each recording
rule one of `recording_rules:`, of the service it names: with `--service-label L`, the rule's own label L,
else the value of an `L="..."` matcher its expression selects with (`job="checkout"`), else the service of
the recording rules it reads by name (the recordings are read first); `--service NAME` for the rules that
name none (all of them without `--service-label`). How each part maps, and where obsgen differs (a comment
in the written spec):

- the name: kept when it fits obsgen's naming (CamelCase, starting with the service's name), else the
  service's name is put before it (routes and silences matching the old name must change);
- `labels.severity` is the alert's `severity` (critical, warning, info; another value is said and the
  alert gets warning); the service label and `alertname` are obsgen's; other labels stay;
- `annotations.summary`, `description` and `runbook_url` stay; obsgen's free-form alerts hold no others,
  so each other annotation is said and dropped; a rule without a summary gets one;
- `for` and `keep_firing_for` stay; a group's `interval`, `limit` and `query_offset` do not (obsgen
  evaluates every group at `defaults.evaluation_interval`);
- recording rules are kept as they are (`record`, `expr`, every label, the service label too: obsgen adds
  none to a free recording), and the alerts read them by name as written. A name obsgen records itself
  (`slo:...`), one recorded for two services, or a series (name and labels) recorded twice is refused; an
  alert reading another service's recording is said (its tests load its own service's rule file only);
- a test's `alert_rule_test` checks become the tests of the alert they name (its `exp_labels` without the
  labels obsgen sets from the rule itself); `promql_expr_test` checks have no place and are said.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path as FsPath
from typing import Any

from ..naming import alert_name_problem, camel, derived_alert_name, snake
from ..spec.errors import Path, Problem
from ..spec.models import METRIC_NAME_RE as METRIC_NAME_PATTERN
from ..spec.models import _label_value
from .source import Document, Refusals, SourceError, mapping, read_all, string_map, text
from .spec_writer import Imported, Map, Seq

SEVERITIES = ("critical", "warning", "info")
METRIC_NAME_RE = re.compile(METRIC_NAME_PATTERN)
KEPT_ANNOTATIONS = ("summary", "description", "runbook_url")
RULE_KEYS = ("alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations")
GROUP_KEYS = ("name", "interval", "limit", "query_offset", "rules", "labels")


def slug(name: str) -> str:
    out = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not out or not out[0].isalpha():
        out = "s-" + out
    return out[:63].rstrip("-")


def _matchers(expr: str, label: str) -> set[str] | None:
    """The values of every `label="v"` matcher in the expression (None when it does not parse)."""
    from ..spec.expressions import nodes, parse_promql

    parsed = parse_promql(expr)
    if parsed is None:
        return None
    pp, tree = parsed
    found = set()
    for node in nodes(pp, tree):
        if isinstance(node, pp.VectorSelector):
            for m in node.matchers.matchers:
                if m.name == label and str(m.op).endswith("Equal") and "Not" not in str(m.op):
                    found.add(m.value)
    return found


def _alert_name(name: str, service: str) -> tuple[str | None, str | None]:
    """(name obsgen can use, note) for a rule's alert name."""
    if alert_name_problem(name, service) is None:
        return name, None
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name) if w]
    camelled = "".join(w[:1].upper() + w[1:] for w in words)
    prefix = camel(service)
    rest = camelled[len(prefix):] if camelled.lower().startswith(prefix.lower()) else camelled
    candidate = prefix + rest
    problem = alert_name_problem(candidate, service)
    if problem:
        return None, problem
    return candidate, (f"the rule's alert {name}: obsgen's alert names are CamelCase and start with the service's "
                       f"name ({prefix}); routes, silences and inhibitions matching alertname={name} must change")


class _Rules:
    def __init__(self, service_label: str | None, service: str | None) -> None:
        self.service_label, self.service = service_label, service
        self.refusals = Refusals()
        self.services: dict[str, Map] = {}
        # record -> (service, the rules' name of it, where) of its first rule; (record, labels) -> where
        self.recordings: dict[str, tuple[str, str, str]] = {}
        self.recorded: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        # source name -> its rules (a warning and a critical variant share a name): (alert, own labels, service)
        self.alerts: dict[str, list[tuple[Map, dict[str, str], str]]] = {}
        self.head: list[str] = []
        self.pending: list[tuple[Document, Path, Any]] = []  # every rule of the files, read by `rules`

    def service_of(self, doc: Document, path: Path, labels: dict[str, str], expr: str) -> str | None:
        value = None
        if self.service_label:
            value = labels.get(self.service_label)
            if value is None:
                found = _matchers(expr, self.service_label) or set()
                if len(found) == 1:
                    value = found.pop()
                elif len(found) > 1:
                    self.refusals.add(doc, (*path, "expr"), (
                        f"selects with several values of {self.service_label} ({', '.join(sorted(found))}): "
                        "which service it belongs to is not clear; give the rule a label "
                        f"{self.service_label}: <service>"))
                    return None
            if value is None:  # what it reads by a recording's name: that recording's service
                read = {self.recordings[n][1] for n in _all_names(expr) if n in self.recordings}
                if len(read) > 1:
                    self.refusals.add(doc, (*path, "expr"), (
                        f"reads recording rules of several services ({', '.join(sorted(read))}): which service it "
                        f"belongs to is not clear; give the rule a label {self.service_label}: <service>"))
                    return None
                value = read.pop() if read else None
        value = value or self.service
        if value is None:
            hint = (f"no label {self.service_label} and no {self.service_label}=\"...\" matcher in its expression, "
                    "nor a recording rule of one service read; " if self.service_label else "")
            self.refusals.add(doc, path, f"names no service: {hint}pass --service NAME (or --service-label)")
            return None
        return value

    def group(self, doc: Document, path: Path, raw: Any) -> None:
        g = mapping(doc, path, raw, GROUP_KEYS, "a rule group", self.refusals)
        name = text(doc, (*path, "name"), g.get("name"), self.refusals, required=True)
        for key in ("interval", "limit", "query_offset", "labels"):
            if g.get(key) is not None:
                self.head.append(f"The group {name}'s {key} ({doc.where((*path, key))}) is not kept: obsgen "
                                 "evaluates every group at `defaults.evaluation_interval`, with no limit or offset"
                                 + (" (its labels are not on its rules)" if key == "labels" else ""))
        rules = g.get("rules")
        if not isinstance(rules, list):
            self.refusals.add(doc, (*path, "rules"), "must be a list of rules")
            return
        self.pending += [(doc, (*path, "rules", i), rule) for i, rule in enumerate(rules)]

    def rules(self) -> None:
        """The recording rules, then the alerting rules (which may take their service from a recording they
        read), each in the files' order."""
        recording = [isinstance(raw, dict) and raw.get("record") is not None for _, _, raw in self.pending]
        for first in (True, False):
            for (doc, path, raw), is_recording in zip(self.pending, recording, strict=True):
                if is_recording == first:
                    self.rule(doc, path, raw)

    def rule(self, doc: Document, path: Path, raw: Any) -> None:
        r = mapping(doc, path, raw, RULE_KEYS, "a rule", self.refusals)
        expr = text(doc, (*path, "expr"), r.get("expr"), self.refusals, required=True)
        labels = string_map(doc, (*path, "labels"), r.get("labels"), self.refusals)
        if expr is None:
            return
        expr = expr.strip()
        if r.get("record") is not None:
            self.recording(doc, path, r, expr, labels)
            return
        name = text(doc, (*path, "alert"), r.get("alert"), self.refusals)
        if name is None:
            self.refusals.add(doc, path, "is neither an alerting rule (`alert`) nor a recording rule (`record`)")
            return
        svc_value = self.service_of(doc, path, labels, expr)
        if svc_value is None:
            return
        service = slug(svc_value)
        new, note = _alert_name(name, service)
        if new is None:
            self.refusals.add(doc, (*path, "alert"), f"{name!r} cannot be an obsgen alert name: {note}")
            return
        alert = Map(name=new)
        alert.note(None, f"from {doc.where(path)}")
        if note:
            alert.note("name", note)
        alert["expr"] = expr
        for key in ("for", "keep_firing_for"):
            value = text(doc, (*path, key), r.get(key), self.refusals)
            if value:
                alert[key] = value
        severity = labels.get("severity")
        own: dict[str, str] = {}
        if severity in SEVERITIES:
            alert["severity"] = severity
            own["severity"] = severity
        else:
            alert["severity"] = "warning"
            alert.note("severity", f"the rule's severity label is {severity or 'unset'}; obsgen's severities are "
                                   f"{', '.join(SEVERITIES)}")
        annotations = string_map(doc, (*path, "annotations"), r.get("annotations"), self.refusals)
        summary = annotations.get("summary")
        if summary:
            alert["summary"] = summary
        else:
            alert["summary"] = f"{new} is firing."
            alert.note("summary", "the rule has no summary annotation, which every obsgen alert has")
        if annotations.get("description"):
            alert["description"] = annotations["description"]
        if annotations.get("runbook_url"):
            alert["runbook_url"] = annotations["runbook_url"]
        dropped = [k for k in annotations if k not in KEPT_ANNOTATIONS]
        if dropped:
            alert.note(None, f"annotations not kept ({', '.join(dropped)}): obsgen's free-form alerts have "
                             "summary, description and runbook_url only")
        kept: dict[str, str] = {}
        for k, v in labels.items():
            if k in ("severity", "alertname", "service") or k == self.service_label or k.startswith("__"):
                if k not in ("severity", self.service_label):
                    alert.note(None, f"the label {k}={v} is dropped: obsgen sets `{k}`")
                continue
            try:
                _label_value(v)
            except ValueError as e:
                self.refusals.add(doc, (*path, "labels", k), str(e))
                continue
            kept[k] = v
        if kept:
            alert["labels"] = Map(sorted(kept.items()))
            own.update(kept)
        own["service"] = service
        if self.service_label in labels:  # the rule's own label (dropped); one from a matcher is the series'
            own[self.service_label] = svc_value
        variants = self.alerts.setdefault(name, [])
        if variants:  # obsgen's free-form alert names are unique: the variant's severity tells it apart
            taken = {v[0]["severity"] for v in variants}
            suffix = alert["severity"].title() if alert["severity"] not in taken else str(len(variants) + 1)
            renamed = f"{new}{suffix}"
            if alert_name_problem(renamed, service):  # too long: whole words dropped, a hash of the full name added
                renamed = derived_alert_name(service, snake(new[len(camel(service)):]), suffix)
            problem = alert_name_problem(renamed, service)
            if problem:
                self.refusals.add(doc, (*path, "alert"), f"a second rule named {name}, and {problem}")
                return
            alert["name"] = renamed
            alert.note("name", f"a second rule named {name} (the first: {variants[0][0]['name']}): obsgen's free-form "
                               "alert names are unique, so this one is renamed, and Alertmanager's inhibition of a "
                               "warning by a critical of the same name no longer joins them")
        variants.append((alert, own, service))
        self.service_map(service, svc_value)["alerts"].append(alert)

    def service_map(self, service: str, svc_value: str) -> Map:
        svc = self.services.get(service)
        if svc is None:  # recordings first: what the alerts read (a list left empty is dropped at the end)
            svc = self.services[service] = Map(name=service, recording_rules=Seq(), alerts=Seq())
            if service != svc_value:
                svc.note("name", f"the rules' service {svc_value!r}: obsgen's service names are slugs")
        return svc

    def recording(self, doc: Document, path: Path, r: dict[str, Any], expr: str, labels: dict[str, str]) -> None:
        """A recording rule, as written, in `recording_rules` of its service."""
        record = text(doc, (*path, "record"), r.get("record"), self.refusals, required=True)
        for key in ("alert", "for", "keep_firing_for", "annotations"):
            if r.get(key) is not None:
                self.refusals.add(doc, (*path, key), f"a recording rule (`record`) takes no `{key}`; Prometheus "
                                                     "refuses it")
        if record is None:
            return
        if not METRIC_NAME_RE.match(record):
            self.refusals.add(doc, (*path, "record"), f"{record!r} is not a Prometheus metric name (letters, digits, "
                                                      "_ and :, not starting with a digit)")
            return
        if record.startswith("slo:"):
            self.refusals.add(doc, (*path, "record"), (
                f"{record}: `slo:` names are obsgen's own SLO recordings, which its dashboards and burn-rate alerts "
                "read by name; rename this recording (and the rules reading it), or import the SLO from its source "
                "(obsgen import sloth, pyrra or openslo)"))
            return
        svc_value = self.service_of(doc, path, labels, expr)
        if svc_value is None:
            return
        service = slug(svc_value)
        kept: dict[str, str] = {}
        for k, v in labels.items():
            if k.startswith("__"):
                self.refusals.add(doc, (*path, "labels", k), "label names starting with __ are Prometheus' own")
                continue
            try:
                _label_value(v)
            except ValueError as e:
                self.refusals.add(doc, (*path, "labels", k), str(e))
                continue
            kept[k] = v
        where = doc.where(path)
        first = self.recordings.setdefault(record, (service, svc_value, where))
        if first[0] != service:
            self.refusals.add(doc, (*path, "record"), (
                f"{record} is recorded for the service {first[0]} too ({first[2]}), and obsgen keeps a recorded "
                f"name to one service: give both rules the same service (--service, or the rules' "
                f"{self.service_label or 'service'} label)"))
            return
        series = (record, tuple(sorted(kept.items())))
        if series in self.recorded:
            self.refusals.add(doc, (*path, "record"), (
                f"records the series of the rule at {self.recorded[series]} again ({record}, the same labels): "
                "the two would write one series (promtool's lint refuses them); drop one, or tell them apart by "
                "a label"))
            return
        self.recorded[series] = where
        entry = Map(record=record)
        entry.note(None, f"from {where}")
        entry["expr"] = expr
        if kept:
            entry["labels"] = Map(sorted(kept.items()))
        self.service_map(service, svc_value)["recording_rules"].append(entry)

    def recordings_read(self) -> None:
        """An alert reading the recording of another service is said: the alert's tests cannot see it."""
        for alert, _, service in (v for vs in self.alerts.values() for v in vs):
            for n in sorted(set(_all_names(alert["expr"])) & set(self.recordings)):
                other, _, where = self.recordings[n]
                if other != service:
                    alert.note("expr", (
                        f"reads the recording rule {n} of the service {other} ({where}): Prometheus evaluates it "
                        f"beside this alert, but this alert's tests load prometheus/rules/{service}.yml only, so "
                        "they do not see it"))

    def tests(self, doc: Document) -> None:
        data = mapping(doc, (), doc.data, ("rule_files", "evaluation_interval", "group_eval_order", "tests",
                                           "fuzzy_compare"), "a promtool test file", self.refusals)
        interval = data.get("evaluation_interval")
        if interval not in (None, "15s"):
            self.head.append(f"The tests of {doc.file} evaluate every {interval}; obsgen's test files evaluate at "
                             "`defaults.evaluation_interval` (15s unless set): an alert with `for` may fire at "
                             "another step")
        groups = data.get("tests")
        if not isinstance(groups, list):
            self.refusals.add(doc, ("tests",), "must be a list of test groups")
            return
        for i, raw in enumerate(groups):
            p: Path = ("tests", i)
            g = mapping(doc, p, raw, ("name", "interval", "input_series", "alert_rule_test", "promql_expr_test",
                                      "external_labels", "external_url"), "a test group", self.refusals)
            if g.get("promql_expr_test"):
                self.head.append(f"promql_expr_test checks of {doc.where((*p, 'promql_expr_test'))} are not kept: "
                                 "obsgen keeps an alert's checks only")
            series = Seq()
            for k, s in enumerate(g.get("input_series") or []):
                sp = (*p, "input_series", k)
                sm = mapping(doc, sp, s, ("series", "values"), "an input series", self.refusals)
                name = text(doc, (*sp, "series"), sm.get("series"), self.refusals, required=True)
                values = text(doc, (*sp, "values"), sm.get("values"), self.refusals, required=True)
                if name and values:
                    series.append(Map(series=name, values=values))
            by_alert: dict[tuple[str, int], Seq] = {}
            for k, check in enumerate(g.get("alert_rule_test") or []):
                cp = (*p, "alert_rule_test", k)
                c = mapping(doc, cp, check, ("eval_time", "alertname", "exp_alerts"), "an alert check",
                            self.refusals)
                alertname = text(doc, (*cp, "alertname"), c.get("alertname"), self.refusals, required=True)
                eval_time = text(doc, (*cp, "eval_time"), c.get("eval_time"), self.refusals, required=True)
                if alertname is None or eval_time is None:
                    continue
                if alertname not in self.alerts:
                    self.refusals.add(doc, (*cp, "alertname"), f"no alerting rule of the imported files is named "
                                                               f"{alertname}")
                    continue
                variants = self.alerts[alertname]
                # each variant's own check: the expected alerts of its severity (none: it is silent then)
                expected: list[Seq] = [Seq() for _ in variants]
                for n, exp in enumerate(c.get("exp_alerts") or []):
                    ep = (*cp, "exp_alerts", n)
                    e = mapping(doc, ep, exp, ("exp_labels", "exp_annotations"), "an expected alert", self.refusals)
                    labels = string_map(doc, (*ep, "exp_labels"), e.get("exp_labels"), self.refusals)
                    which = [i for i, v in enumerate(variants) if len(variants) == 1
                             or v[0]["severity"] == labels.get("severity")]
                    if len(which) != 1:
                        self.refusals.add(doc, (*ep, "exp_labels"), (
                            f"{len(variants)} rules are named {alertname}, and this alert's severity "
                            f"({labels.get('severity', 'unset')}) names {'none' if not which else 'several'} of them"))
                        continue
                    alert, own, _ = variants[which[0]]
                    item = Map(exp_labels=Map({k: v for k, v in labels.items() if own.get(k) != v
                                               and k not in ("severity", "service")}))
                    if e.get("exp_annotations") is not None:
                        ann = string_map(doc, (*ep, "exp_annotations"), e.get("exp_annotations"), self.refusals)
                        kept = {k: v for k, v in ann.items() if k in KEPT_ANNOTATIONS}
                        if "summary" not in ann:
                            kept["summary"] = alert["summary"]
                        item["exp_annotations"] = Map(sorted(kept.items()))
                    expected[which[0]].append(item)
                for i, exp_alerts in enumerate(expected):
                    by_alert.setdefault((alertname, i), Seq()).append(Map(eval_time=eval_time, exp_alerts=exp_alerts))
            for (alertname, i), checks in by_alert.items():
                alert = self.alerts[alertname][i][0]
                test = Map()
                if g.get("name"):
                    test["name"] = str(g["name"])
                test["interval"] = str(g.get("interval") or "1m")
                test["input_series"] = series
                test["alert_rule_test"] = checks
                test.note(None, f"from {doc.where(p)}")
                alert.setdefault("tests", Seq()).append(test)


def _all_names(expr: str) -> list[str]:
    from ..spec.expressions import nodes, parse_promql

    parsed = parse_promql(expr)
    if parsed is None:
        return []
    pp, tree = parsed
    return [n.name for n in nodes(pp, tree) if isinstance(n, pp.VectorSelector) and n.name]


def import_rules(paths: Sequence[str | FsPath], service_label: str | None, service: str | None,
                 tests: Sequence[str | FsPath] = ()) -> Imported:
    """The alerts (and tests) of Prometheus rule files; SourceError listing every refusal."""
    if service_label is None and service is None:
        raise SourceError([Problem((), "say which service the alerts belong to: --service-label LABEL (a rule's "
                                       "label or a matcher of its expression) or --service NAME", None,
                                   "command line")])
    r = _Rules(service_label, service)
    for doc in read_all(paths):
        data = doc.data
        if isinstance(data, dict) and data.get("kind") == "PrometheusRule":
            mapping(doc, (), data, ("apiVersion", "kind", "metadata", "spec"), "a PrometheusRule", r.refusals)
            spec = mapping(doc, ("spec",), data.get("spec"), ("groups",), "a PrometheusRule's spec", r.refusals)
            base: Path = ("spec", "groups")
            groups = spec.get("groups")
        elif isinstance(data, dict) and "groups" in data:
            mapping(doc, (), data, ("groups",), "a rule file", r.refusals)
            base, groups = ("groups",), data["groups"]
        else:
            r.refusals.add(doc, (), "is no Prometheus rule file (`groups:`) nor a PrometheusRule")
            continue
        if not isinstance(groups, list):
            r.refusals.add(doc, base, "must be a list of rule groups")
            continue
        for i, g in enumerate(groups):
            r.group(doc, (*base, i), g)
    r.rules()
    r.refusals.raise_any()
    r.recordings_read()
    for doc in read_all(tests):
        r.tests(doc)
    r.refusals.raise_any()
    for svc in r.services.values():
        for key in ("recording_rules", "alerts"):
            if not svc[key]:
                del svc[key]
    imported = Imported("Prometheus rules", services=list(r.services.values()))
    files = ", ".join(str(p) for p in paths)
    imported.head = [f"Imported from Prometheus rule files by `obsgen import rules` ({files})."] + r.head
    if not imported.services:
        raise SourceError([Problem((), "no alerting or recording rule in the files", None, files)])
    return imported
