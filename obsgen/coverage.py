"""Proof coverage: which alert rules the generated promtool tests show firing, and staying silent.

An alert counts as proven when the test files hold, for it, a case where it fires with its labels asserted
and a case where it is asserted not to fire. Coverage is read from the test data itself, in the two forms
promtool compares exactly:

- an `alert_rule_test` item (`alertname: X` at an `eval_time`) fires a rule of X when one of its
  `exp_alerts` carries every label of the rule, and shows it silent when none does (promtool asserts the
  whole set of X's alerts at that time);
- a `promql_expr_test` item whose `expr` is a plain `ALERTS{...}` selector fires a rule when one of its
  `exp_samples` is the alert's whole label set (`alertname`, `alertstate="firing"` and every label of the
  rule); one whose `expr` is `ALERTS{...}` or `max_over_time(ALERTS{...}[range])` with no `exp_samples` shows
  silent every rule the selector selects.

A rule whose expression is constant (the Watchdog's `vector(1)`) can never be silent: its firing case is its
whole proof.

The same function reads the data a render builds and the files `obsgen check` loads, so what `render`
reports and what `check` verifies cannot drift apart. Whether the tests pass is promtool's job.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ALERTS_SELECTOR = re.compile(r"^\s*(?:max_over_time\(\s*)?ALERTS\s*(\{[^{}]*\})\s*(?:\[[^\]]+\]\s*\))?\s*$")
ALWAYS = re.compile(r"^\s*vector\(\s*1\s*\)\s*$")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True)
class AlertRule:
    alert: str
    file: str  # output-relative path of the rule file
    labels: Mapping[str, str]  # the rule's `labels:` block
    evaluator: str = "prometheus"  # "prometheus" | "loki"
    expr: str = ""

    @property
    def always_fires(self) -> bool:
        """A constant expression (the Watchdog's `vector(1)`) has no input under which it is silent."""
        return ALWAYS.match(self.expr) is not None

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")


@dataclass
class Proof:
    rule: AlertRule
    fires: list[str] = field(default_factory=list)  # names of the test groups where it fires
    silent: list[str] = field(default_factory=list)  # ... and where it is asserted silent
    reason: str | None = None  # why it is unproven, from the generator that could not prove it
    accepted: str | None = None  # the spec's reason for accepting it unproven

    @property
    def proven(self) -> bool:
        return bool(self.fires and (self.silent or self.rule.always_fires))

    def why(self) -> str:
        """The reason a person reads: the generator's, else what the tests lack."""
        if self.reason:
            return self.reason
        missing = [what for what, found in (("fires", self.fires),
                                            ("stays silent", self.silent or self.rule.always_fires)) if not found]
        return "no generated case where it " + " and none where it ".join(missing)


def alerting(groups: Any) -> list[dict[str, Any]]:
    """The alerting rules (not the recording rules) of a rule file's groups, in order."""
    return [rule for group in groups or () for rule in group.get("rules") or () if "alert" in rule]


def alert_rules(groups_by_file: Mapping[str, Any], evaluator: str = "prometheus",
                ) -> list[AlertRule]:
    """The alerting rules of rule files ({path: groups}), in file order, then rule order."""
    return [AlertRule(str(rule["alert"]), path, {str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                      evaluator, str(rule.get("expr", "")))
            for path, groups in groups_by_file.items() for rule in alerting(groups)]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value) if "\\" in value else value


def parse_labels(text: str) -> dict[str, str] | None:
    """`ALERTS{a="b", c="d"}` (or `{...}`) -> {"__name__": "ALERTS", "a": "b", ...}; None if not equality-only."""
    name, _, rest = text.strip().partition("{")
    if not rest.endswith("}"):
        return None
    out = {"__name__": name.strip()} if name.strip() else {}
    for label, op, value in _MATCHER.findall(rest[:-1]):
        if op != "=":
            return None
        out[label] = _unescape(value)
    return out


Matcher = tuple[str, str, str]


# A test file asserts the same few selectors and label sets at many times (each alert's, in every proof
# that shows it): read once each, and never changed by their readers.
@lru_cache(maxsize=4096)
def _matchers(selector: str) -> tuple[Matcher, ...]:
    return tuple((label, op, _unescape(raw)) for label, op, raw in _MATCHER.findall(selector[1:-1]))


@lru_cache(maxsize=4096)
def _sample_labels(text: str) -> dict[str, str] | None:
    return parse_labels(text)


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _selects(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    for label, op, value in matchers:
        actual = labels.get(label, "")
        if op == "=":
            ok = actual == value
        elif op == "!=":
            ok = actual != value
        else:
            ok = (_regex(value).fullmatch(actual) is not None) == (op == "=~")
        if not ok:
            return False
    return True


def _carries(alert_labels: Mapping[str, str], rule: AlertRule) -> bool:
    # every (label, value) of the rule among the alert's: a set comparison of the two items views (in C
    # for dicts), as `all(alert_labels.get(k) == v ...)` would say it (the values are strings, never None)
    return alert_labels.get("alertname", rule.alert) == rule.alert and rule.labels.items() <= alert_labels.items()


def _add(names: list[str], name: str) -> None:
    # a group's checks come one after another: a name just added is not added again (the lists are
    # deduplicated at the end all the same, for a group name that comes back later)
    if not names or names[-1] != name:
        names.append(name)


def proofs(rules: list[AlertRule], tests_by_file: Mapping[str, Mapping[str, Any]]) -> list[Proof]:
    """Each rule with the test groups that fire it and that show it silent."""
    found = {id(r): Proof(r) for r in rules}
    by_file: dict[str, list[AlertRule]] = {}
    for r in rules:
        by_file.setdefault(r.file, []).append(r)
    for test_path, data in tests_by_file.items():
        base = posixpath.dirname(test_path)
        covered = [r for f in data.get("rule_files") or () for r in
                   by_file.get(posixpath.normpath(posixpath.join(base, str(f))), ())]
        if not covered:
            continue
        # A check only ever concerns the rules of its alert name (every label set it matches carries one):
        # the rules by name, in file order, and each rule's whole label set as ALERTS has it, built once.
        named: dict[str, list[AlertRule]] = {}
        for r in covered:
            named.setdefault(r.alert, []).append(r)
        full = {id(r): {**r.labels, "alertname": r.alert, "alertstate": "firing"} for r in covered}
        for group in data.get("tests") or ():
            name = str(group.get("name", ""))
            for item in group.get("alert_rule_test") or ():
                alertname = str(item.get("alertname", ""))
                same = named.get(alertname)
                if not same:
                    continue
                expected = [{**{str(k): str(v) for k, v in (a.get("exp_labels") or {}).items()},
                             "alertname": alertname} for a in item.get("exp_alerts") or ()]
                for r in same:
                    fired = any(_carries(e, r) for e in expected)
                    _add(found[id(r)].fires if fired else found[id(r)].silent, name)
            for item in group.get("promql_expr_test") or ():
                m = ALERTS_SELECTOR.match(str(item.get("expr", "")))
                if m is None:
                    continue
                samples = item.get("exp_samples") or []
                if not samples:
                    matchers = _matchers(m.group(1))
                    # an `alertname="X"` matcher selects none but X's rules (the others fail it anyway)
                    pinned = [v for label, op, v in matchers if label == "alertname" and op == "="]
                    candidates = named.get(pinned[0], []) if pinned else covered
                    for r in candidates:
                        if _selects(matchers, full[id(r)]):
                            _add(found[id(r)].silent, name)
                    continue
                if not str(item["expr"]).strip().startswith("ALERTS"):
                    continue  # a function of ALERTS: its samples are not the alerts' label sets
                firing = [labels for sample in samples
                          if (labels := _sample_labels(str(sample.get("labels", ""))))
                          and labels.get("__name__") == "ALERTS" and labels.get("alertstate") == "firing"]
                for fired_name in dict.fromkeys(labels.get("alertname") for labels in firing):
                    for r in named.get(fired_name, []) if fired_name is not None else []:
                        if any(labels.get("alertname") == r.alert and _carries(labels, r) for labels in firing):
                            _add(found[id(r)].fires, name)
    for p in found.values():  # a group counts once however many of its checks show it
        if len(p.fires) > 1:  # (one name or none is unique already: most rules' lists)
            p.fires = list(dict.fromkeys(p.fires))
        if len(p.silent) > 1:
            p.silent = list(dict.fromkeys(p.silent))
    return [found[id(r)] for r in rules]


def summary(items: Iterable[Proof]) -> dict[str, int]:
    items = list(items)
    proven = sum(p.proven for p in items)
    accepted = sum(1 for p in items if not p.proven and p.accepted)
    return {"alerts": len(items), "proven": proven, "accepted": accepted,
            "unproven": len(items) - proven - accepted}


def line(counts: Mapping[str, int]) -> str:
    """`alerts: 44, proven 44` (and what is not), as `render` prints it."""
    text = f"alerts: {counts['alerts']}, proven {counts['proven']}"
    if counts["accepted"]:
        text += f", accepted unproven {counts['accepted']}"
    if counts["unproven"]:
        text += f", unproven {counts['unproven']}"
    return text
