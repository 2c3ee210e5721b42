"""`obsgen import rules --prove`: the rule files' own promtool tests, run against the original rules and
against the rules obsgen renders from the imported spec.

The source's rules are the rule files themselves. Each check of the test files (`--tests`) becomes a test
group of its own (its group's input series, one check), so promtool's report says which check failed, and
runs twice: on the original rule files, at the test file's `evaluation_interval` (its `group_eval_order`
kept), and on obsgen's rendered rule files of the imported services, at `defaults.evaluation_interval`
(recording groups evaluated first). On obsgen's side an alert check names obsgen's alert (a rule that
became two alerts, a warning and a critical variant, gets one check per variant, its expected alerts split
by severity), expects the labels of obsgen's rule instead of the source rule's own (the series' labels
stay) and the annotations obsgen keeps. An expression check (`promql_expr_test`) runs as written on both
sides; one reading a recording obsgen's rendered rules lack fails on obsgen's side, with that reason.

Per alert the report says: every check passing on both, or each check where they differ with promtool's
words; for every alert, what differs between the imported alert and the source rule after obsgen's
mapping (name, expr, for, keep_firing_for, labels, annotations); and an alert no check of the tests
expects to fire is said to be not proven by a test. The bound: every alert check that passes on the
source's rules passes on obsgen's. With `strict`, also every expression check, and every alert proven.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import Model
from ..render.common import dump_yaml
from ..render.prometheus import service_rule_groups
from ..units import duration_seconds
from .sloth_proof import TIMEOUT, ProofUnavailable, _promtool
from .source import Document, read_all
from .spec_writer import Imported

_FAILURE = re.compile(r'^\s*(?:name: (?P<group>c\d+),|alertname: |expr: "(?P<expr>(?:[^"\\]|\\.)*)", time: (?P<time>[^,\s]+),)',
                      re.M)
_LITERAL = re.compile(r'^\{\{\s*"((?:[^"\\]|\\.)*)"\s*\}\}$')  # go_literal's form of a link


@dataclass
class SourceAlert:
    name: str
    where: str
    rule: dict[str, Any]
    service: str = ""  # the obsgen service and alert it became ("" when it was not imported)
    alert: str = ""
    rendered: dict[str, Any] = field(default_factory=dict)


@dataclass
class Check:
    """One check of the test files, and how each side did (None: passed; else promtool's words)."""

    where: str
    kind: str  # "alert" | "expr"
    alertname: str
    eval_time: str
    fires: bool
    source: dict[str, Any]  # the test group of the source side
    obsgen: dict[str, Any] | None  # ... and of obsgen's (None: not comparable, `why`)
    why: str = ""
    results: dict[str, str | None] = field(default_factory=dict)


def _source_alerts(paths: Sequence[str | Path]) -> tuple[list[Document], list[SourceAlert], dict[str, str]]:
    """The rule files' documents, their alerting rules (with their place) and their recordings."""
    docs = read_all(paths)
    alerts, records = [], {}
    for doc in docs:
        data = doc.data
        base = ("spec", "groups") if data.get("kind") == "PrometheusRule" else ("groups",)
        for i, g in enumerate(_groups_of(doc)):
            for k, r in enumerate(g.get("rules") or []):
                if "alert" in r:
                    alerts.append(SourceAlert(str(r["alert"]), doc.where((*base, i, "rules", k)), r))
                elif "record" in r:
                    records[str(r["record"])] = doc.where((*base, i, "rules", k))
    return docs, alerts, records


def _groups_of(doc: Document) -> list[dict[str, Any]]:
    data = doc.data
    return list((data.get("spec") or {}).get("groups") or []) if data.get("kind") == "PrometheusRule" \
        else list(data.get("groups") or [])


def _plain(value: str) -> str:
    m = _LITERAL.match(value.strip())
    return m.group(1).replace('\\"', '"').replace("\\\\", "\\") if m else value


def _names(expr: str) -> set[str]:
    from ..spec.expressions import nodes, parse_promql

    parsed = parse_promql(expr)
    if parsed is None:
        return set()
    pp, tree = parsed
    return {n.name for n in nodes(pp, tree) if isinstance(n, pp.VectorSelector) and n.name}


def _dur(value: Any) -> int:
    return int(duration_seconds(str(value))) if value else 0


def mapping_differences(a: SourceAlert) -> list[str]:
    """What differs between the source rule and obsgen's rendered alert, after obsgen's mapping."""
    r, o = a.rule, a.rendered
    out = []
    if a.alert != a.name:
        out.append(f"named {a.alert} (routes, silences and inhibitions matching alertname={a.name} must change)")
    if str(r.get("expr", "")).strip() != o.get("expr", ""):
        out.append(f"expr: obsgen's is {o.get('expr')!r}")
    for key in ("for", "keep_firing_for"):
        if _dur(r.get(key)) != _dur(o.get(key)):
            out.append(f"{key}: the source's {r.get(key) or '0s'}, obsgen's {o.get(key) or '0s'}")
    src = {str(k): str(v) for k, v in (r.get("labels") or {}).items()}
    mine = o.get("labels") or {}
    for k in sorted(set(src) | set(mine)):
        if src.get(k) != mine.get(k):
            out.append(f"label {k}: the source's {src.get(k, '(none)')}, obsgen's {mine.get(k, '(none)')}")
    src_ann = {str(k): str(v) for k, v in (r.get("annotations") or {}).items()}
    ann = {k: _plain(v) for k, v in (o.get("annotations") or {}).items()}
    for k in sorted(set(src_ann) | set(ann)):
        if src_ann.get(k) != ann.get(k):
            out.append(f"annotation {k}: " + ("not kept" if k not in ann else
                                               f"the source's {src_ann.get(k, '(none)')!r}, obsgen's {ann[k]!r}"))
    return out


def _translate(check: dict[str, Any], variants: list[SourceAlert]) -> tuple[list[dict[str, Any]] | None, str]:
    """The source's alert check as checks of obsgen's alerts (None and why, when it cannot be)."""
    out = []
    exp = check.get("exp_alerts") or []
    for v in variants:
        if not v.alert:
            return None, f"the rule {v.name} ({v.where}) was not imported"
        own = {str(k): str(val) for k, val in (v.rule.get("labels") or {}).items()}
        ann_o = v.rendered.get("annotations") or {}
        src_ann = {str(k): str(val) for k, val in (v.rule.get("annotations") or {}).items()}
        mine = []
        for e in exp:
            labels = {str(k): str(val) for k, val in (e.get("exp_labels") or {}).items()}
            if len(variants) > 1 and labels.get("severity") != own.get("severity"):
                continue
            item: dict[str, Any] = {"exp_labels": {**{k: val for k, val in labels.items() if own.get(k) != val},
                                                   **v.rendered.get("labels", {})}}
            if e.get("exp_annotations") is not None:
                got = {str(k): str(val) for k, val in e["exp_annotations"].items()}
                ann = {}
                for k, val in ann_o.items():
                    if k in got and k in src_ann:
                        ann[k] = got[k]  # the source's template, expanded as its test expects
                    elif "{{" not in _plain(val) or _LITERAL.match(val.strip()):
                        ann[k] = _plain(val)
                    else:
                        return None, f"obsgen's annotation {k} of {v.alert} is a template the source's test does not expect"
                item["exp_annotations"] = ann
            mine.append(item)
        out.append({"eval_time": check["eval_time"], "alertname": v.alert, "exp_alerts": mine})
    if len(variants) > 1 and sum(len(c["exp_alerts"]) for c in out) != len(exp):
        return None, f"{len(variants)} rules are named {variants[0].name}, and an expected alert's severity names none"
    return out, ""


def _run(tool: str, folder: Path, test: dict[str, Any]) -> dict[str | tuple[str, int], str]:
    """promtool's words on each failing check: by group name for an alert check (promtool names the group
    of those), by (expression, seconds) for an expression check (it names only the expression and time)."""
    path = folder / "prove.test.yml"
    path.write_text(dump_yaml(test), "utf-8")
    try:
        proc = subprocess.run([tool, "test", "rules", str(path)], capture_output=True, text=True,
                              timeout=TIMEOUT, cwd=folder)
    except subprocess.TimeoutExpired:
        raise ProofUnavailable(f"promtool took more than {TIMEOUT}s") from None
    out = proc.stdout + proc.stderr
    marks = list(_FAILURE.finditer(out))
    if proc.returncode and not marks:
        raise ProofUnavailable(f"promtool failed without running the tests:\n{out.strip()}")
    found: dict[str | tuple[str, int], str] = {}
    group = None
    for n, m in enumerate(marks):
        if m.group("group"):
            group = m.group("group")
            continue
        text = out[m.start():marks[n + 1].start() if n + 1 < len(marks) else len(out)]
        words = " ".join(text.split())
        words = words if len(words) < 400 else words[:400] + " ..."
        key: str | tuple[str, int] | None = group
        if m.group("expr") is not None:
            key = (json.loads(f'"{m.group("expr")}"'), int(duration_seconds(m.group("time"))))
        if key is not None:
            found[key] = (found[key] + "; " if key in found else "") + words
    return found


def prove_rules(model: Model, imported: Imported, paths: Sequence[str | Path], tests: Sequence[str | Path],
                strict: bool = False) -> tuple[str, bool]:
    """The report, and whether every alert check passing on the source's rules passes on obsgen's."""
    tool = _promtool()
    docs, alerts, records = _source_alerts(paths)
    by_where = {a.where: a for a in alerts}
    services = set()
    for svc in imported.services:
        for item in svc.get("alerts") or []:
            origin = next((n[5:] for n in item.notes.get(None, []) if n.startswith("from ")), None)
            if origin in by_where:
                by_where[origin].service, by_where[origin].alert = svc["name"], item["name"]
                services.add(svc["name"])
    groups = {s: service_rule_groups(model, model.service(s)) for s in sorted(services)}
    rendered = {r["alert"]: r for gs in groups.values() for g in gs for r in g["rules"] if "alert" in r}
    recorded = {r["record"] for gs in groups.values() for g in gs for r in g["rules"] if "record" in r}
    for a in alerts:
        a.rendered = rendered.get(a.alert, {})
    by_name: dict[str, list[SourceAlert]] = {}
    for a in alerts:
        by_name.setdefault(a.name, []).append(a)

    checks: list[Check] = []
    source_interval, order = "1m", None
    for doc in read_all(tests):
        data = doc.data
        source_interval = str(data.get("evaluation_interval") or "1m")
        order = data.get("group_eval_order") or order
        for i, g in enumerate(data.get("tests") or []):
            base = {k: g[k] for k in ("input_series", "external_labels", "external_url") if k in g}
            base["interval"] = str(g.get("interval") or "1m")
            for k, c in enumerate(g.get("alert_rule_test") or []):
                where = doc.where(("tests", i, "alert_rule_test", k))
                name = str(c.get("alertname"))
                translated, why = _translate(c, by_name.get(name, []))
                checks.append(Check(where, "alert", name, str(c.get("eval_time")), bool(c.get("exp_alerts")),
                                    {**base, "alert_rule_test": [c]},
                                    {**base, "alert_rule_test": translated} if translated else None, why))
            for k, c in enumerate(g.get("promql_expr_test") or []):
                where = doc.where(("tests", i, "promql_expr_test", k))
                lacks = sorted(n for n in _names(str(c.get("expr", ""))) if n in records and n not in recorded)
                checks.append(Check(where, "expr", str(c.get("expr")), str(c.get("eval_time")), False,
                                    {**base, "promql_expr_test": [c]}, {**base, "promql_expr_test": [c]},
                                    "reads " + ", ".join(f"{n} (recorded by the source, {records[n]})" for n in lacks)
                                    + ", which obsgen's rendered rules do not record" if lacks else ""))
    with tempfile.TemporaryDirectory(prefix="obsgen-prove-") as tmp:
        folder = Path(tmp)
        src_files = []
        for n, doc in enumerate(docs):
            (folder / f"source-{n}.yml").write_text(dump_yaml({"groups": _groups_of(doc)}), "utf-8")
            src_files.append(f"source-{n}.yml")
        ours = []
        for s, gs in groups.items():
            (folder / f"obsgen-{s}.yml").write_text(dump_yaml({"groups": gs}), "utf-8")
            ours.append(f"obsgen-{s}.yml")
        src_test: dict[str, Any] = {"rule_files": src_files, "evaluation_interval": source_interval}
        if order:
            src_test["group_eval_order"] = order
        src_test["tests"] = [{"name": f"c{n}", **c.source} for n, c in enumerate(checks)]
        rec_first = [g["name"] for gs in groups.values() for g in gs if any("record" in r for r in g["rules"])]
        our_test = {"rule_files": ours, "evaluation_interval": model.evaluation_interval,
                    "group_eval_order": rec_first + [g["name"] for gs in groups.values() for g in gs
                                                     if g["name"] not in rec_first],
                    "tests": [{"name": f"c{n}", **c.obsgen} for n, c in enumerate(checks) if c.obsgen]}
        failed_src = _run(tool, folder, src_test) if checks else {}
        failed_ours = _run(tool, folder, our_test) if our_test["tests"] else {}
    for n, c in enumerate(checks):
        key: str | tuple[str, int] = f"c{n}" if c.kind == "alert" else (c.alertname, _dur(c.eval_time))
        c.results = {"source": failed_src.get(key), "obsgen": failed_ours.get(key)}
    return _report(model, alerts, checks, source_interval, strict)


def _report(model: Model, alerts: list[SourceAlert], checks: list[Check], source_interval: str,
            strict: bool) -> tuple[str, bool]:
    out = [f"--prove: the rule files' own tests, on the original rules (evaluation every {source_interval}) and on "
           f"obsgen's rendered rules (every {model.evaluation_interval}); bound: every alert check that passes on "
           "the original passes on obsgen's"]
    ok, held, unproven, expr_bad = True, 0, 0, 0

    def verdict(c: Check) -> tuple[str, bool]:
        src, ours = c.results.get("source"), c.results.get("obsgen")
        what = f"{c.where} at {c.eval_time}"
        if c.obsgen is None:
            return f"{what}: not compared: {c.why}", src is not None
        if src is None and ours is None:
            return f"{what}: passes on both", True
        if src is not None and ours is not None:
            return f"{what}: fails on both (source: {src})", True
        if src is not None:
            return f"{what}: fails on the original only: {src}", True
        return f"{what}: passes on the original, FAILS on obsgen's{': ' + c.why if c.why else ''}: {ours}", False

    seen: set[str] = set()
    for a in alerts:
        title = f"{a.name} ({a.where})" + (f" -> {a.service}/{a.alert}" if a.alert else ": not imported")
        out.append(title + ":")
        mine = [c for c in checks if c.kind == "alert" and c.alertname == a.name]
        if a.name not in seen:
            seen.add(a.name)
            for c in mine:
                line, good = verdict(c)
                out.append("  " + line)
                ok, held = ok and good, held + good
        else:
            out.append(f"  its checks are the ones of the first rule named {a.name}, above" if mine else "")
        fired = any(c.fires and (c.obsgen is None or any(
            x["exp_alerts"] for x in c.obsgen["alert_rule_test"] if x["alertname"] == a.alert)) for c in mine)
        if not fired:
            unproven += 1
            out.append("  not proven by a test: " + ("no test in the source fires it" if mine
                                                     else "no test in the source checks it"))
        for d in mapping_differences(a) if a.alert else []:
            out.append(f"  differs: {d}")
    out = [line for line in out if line]
    exprs = [c for c in checks if c.kind == "expr"]
    if exprs:
        out.append("expression checks (promql_expr_test):")
        for c in exprs:
            line, good = verdict(c)
            out.append(f"  {c.alertname!r} " + line)
            expr_bad += not good
    n_alert = len([c for c in checks if c.kind == "alert"])
    compared = any(c.kind == "alert" and c.obsgen is not None for c in checks)
    out.append(f"{held} of {n_alert} alert checks hold on obsgen's rules"
               + (f"; {expr_bad} of {len(exprs)} expression checks fail on obsgen's side only" if expr_bad else "")
               + (f"; {unproven} of {len(alerts)} alerts not proven by a test" if unproven else "")
               + ("; nothing compared: no alert check of the tests (--tests FILE) could run on both" if not compared
                  else "; the bound held" if ok else "; the bound did NOT hold"))
    ok = ok and compared  # a proof that compared nothing proves nothing
    if strict and (expr_bad or unproven):
        out.append("--strict: " + ", ".join(x for x in ("an expression check differs" if expr_bad else "",
                                                         "an alert is not proven by a test" if unproven else "") if x))
        ok = False
    return "\n".join(out), ok
