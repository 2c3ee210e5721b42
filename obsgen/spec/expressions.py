"""Every PromQL and LogQL expression a spec's user writes, parsed at validate time.

Each expression is read the way the output hands it to Prometheus, Grafana or Loki: `{{window}}` of an
SLI as the 5m of its recording rule, and inside the `sum(...)` / `avg(...)` that rule wraps it in;
Grafana's variables of an extra panel replaced by stand-ins, as the dashboard gets them; a log alert as
its own query and inside `(...) > above`. A problem is reported once, at the spec field, in the shape of
`validate.check_spec`; what could not be checked (node or Grafana's LogQL grammar missing) becomes a note.

PromQL is parsed by promql-parser (a Rust port of Prometheus' parser, declared compatible with 2.45).
Where it accepts what Prometheus 3.5 refuses, this module checks the tree itself (measured against
promtool by tests/test_promql_differential.py): the kind of value the field needs (an alert an instant
vector, a recording no range vector or string), functions Prometheus 3.5 has without a feature flag,
`or` inside a selector, float64 overflow of numbers, durations past Go's 292 years, and regexes (Go's
RE2 dialect, which differs from the Rust crate's, is checked by `validate.re2_problem`). PromQL with
digit separators (`1_000`), which Prometheus reads and the Rust lexer does not, is read without them.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..grafana_variables import BUILTIN_VALUES, substitute
from .errors import Path, format_path
from .models import Spec

# What a service dashboard's variables stand for in a query Grafana sends (obsgen/render/grafana.py:
# `$instance` is a multi-value variable whose "All" is `.+`; `$datasource` picks the Prometheus datasource;
# a service with logs also has the `$search` text box of its logs panel, empty until someone types).
DASHBOARD_VARIABLES = {"instance": ".+", "datasource": "prometheus"}
LOGS_VARIABLES = {"search": ""}
SLI_WINDOW = "5m"  # the one window the SLO engine puts into the user's SLI (its 5m recording rules)

# Functions promtool 3.5 accepts without `--enable-feature`, and those it refuses as experimental.
# tests/test_promql_differential.py derives both sets from promtool and fails when they drift.
FUNCTIONS = frozenset({
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time",
    "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "exp", "floor", "histogram_avg",
    "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev", "histogram_stdvar",
    "histogram_sum", "hour", "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time",
    "ln", "log10", "log2", "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
    "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin",
    "sinh", "sort", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan",
    "tanh", "time", "timestamp", "vector", "year",
})
EXPERIMENTAL_FUNCTIONS = frozenset({
    "double_exponential_smoothing", "info", "mad_over_time", "sort_by_label", "sort_by_label_desc",
    "ts_of_last_over_time", "ts_of_max_over_time", "ts_of_min_over_time",
})
EXPERIMENTAL_AGGREGATIONS = frozenset({"limitk", "limit_ratio"})
RENAMED = {"holt_winters": "double_exponential_smoothing (experimental in Prometheus 3)"}
FEATURE = ("Prometheus 3.5 refuses it unless started with --enable-feature=promql-experimental-functions, "
           "which the generated stack does not set")
# Go's time.Duration is int64 nanoseconds: Prometheus refuses a longer range, offset or step.
MAX_DURATION = timedelta(microseconds=(2**63 - 1) // 1000)
# promql-parser recurses per level of the tree (some 6,000 levels of `a + a + ...` crash the process) and
# slows down with depth; so does reading a deep tree here. An expression whose operators and brackets could
# nest deeper than this is not parsed (legible PromQL stays far below it).
MAX_NESTING = 500

Problems = list[tuple[Path, str]]


@dataclass(frozen=True)
class Expression:
    """One expression of the spec, as the output holds it."""

    path: Path
    language: str  # "promql" | "logql"
    text: str  # as written (stripped, as the model strips it)
    prepared: str  # what the parser gets: placeholders and variables replaced
    role: str  # what kind of value the field needs: a key of ROLES, or "log-alert"
    wrap: str = "{}"  # how the output embeds it ("sum({})"); parsed too, when it differs
    read_as: str = ""  # " (read with {{window}} as 5m)": what was replaced, for messages
    problem: str | None = None  # found while preparing (an unknown Grafana variable)


# role -> (value types it may have, what obsgen does with it, for messages)
ROLES = {
    "alert": ({"vector"}, "an alert fires for each series it returns"),
    "record": ({"vector", "scalar"}, "obsgen records it and compares the recording with the levels"),
    "recording": ({"vector", "scalar"}, "Prometheus records each series it returns"),
    "sum": ({"vector"}, "obsgen sums it (sum(...)) into the SLO's 5m recording"),
    "avg": ({"vector"}, "obsgen averages it (avg(...)) into the SLO's 5m recording"),
    "panel": ({"vector", "scalar"}, "Grafana draws it as a time series"),
}


def expression_problems(spec: Spec) -> tuple[Problems, list[str]]:
    """(path, message) for every user expression that Prometheus, Grafana or Loki would refuse, and notes
    naming those that could not be checked."""
    problems: Problems = []
    notes: list[str] = []
    logql: list[Expression] = []
    unchecked: dict[str, list[Path]] = {}
    for expr in collect(spec):
        if expr.problem:
            problems.append((expr.path, expr.problem))
        elif expr.language == "logql":
            logql.append(expr)
        else:
            message, note = promql_verdict(expr)
            if message:
                problems.append((expr.path, message))
            if note:
                unchecked.setdefault(note, []).append(expr.path)
    if logql:
        found, note = _logql_problems(logql)
        problems += found
        if note:
            notes.append(note)
    for reason, paths in unchecked.items():
        notes.append(f"PromQL of {_places(paths)} not checked: {reason}")
    return problems, notes


def checked(spec: Spec, notes: list[str] | None = None) -> Iterator[tuple[Path, str]]:
    """`expression_problems` as `validate._check` consumes it: the problems, with the notes appended to
    `notes` (when given)."""
    problems, found = expression_problems(spec)
    if notes is not None:
        notes.extend(found)
    yield from problems


# --------------------------------------------------------------------------- collecting


def collect(spec: Spec) -> list[Expression]:
    """Every user-written expression the output holds, prepared for its parser.

    A field validate.py refuses on its own terms (an SLI without `{{window}}`, a threshold with both an
    indicator and an expression) is not read here: the output never holds it as written, and its field
    has its problem already.
    """
    out: list[Expression] = []
    window = "{{window}}"
    read_window = f" (read with {window} as {SLI_WINDOW})"
    for i, svc in enumerate(spec.services):
        base: Path = ("services", i)
        for j, th in enumerate(svc.thresholds):
            if th.expr is not None and th.indicator is None:
                text = th.expr.strip()
                out.append(Expression(base + ("thresholds", j, "expr"), "promql", text, text, "record"))
        for j, al in enumerate(svc.alerts):
            text = al.expr.strip()
            out.append(Expression(base + ("alerts", j, "expr"), "promql", text, text, "alert"))
        for j, rr in enumerate(svc.recording_rules):
            text = rr.expr.strip()
            out.append(Expression(base + ("recording_rules", j, "expr"), "promql", text, text, "recording"))
        for j, slo in enumerate(svc.slos):
            sli = slo.sli
            if sli.type not in ("events", "bool_gauge", "latency_native", "ratio"):
                continue  # availability and latency: obsgen writes their expressions
            spath = base + ("slos", j, "sli")
            if sli.type == "events" and sli.events is not None:
                for key in ("errors", "good", "total"):
                    text = (getattr(sli.events, key) or "").strip()
                    if window in text:
                        out.append(Expression(spath + ("events", key), "promql", text,
                                              text.replace(window, SLI_WINDOW), "sum", "sum({})", read_window))
            metric = (sli.metric or "").strip()
            if sli.type in ("bool_gauge", "latency_native") and metric and window not in metric:
                text = metric  # parsed here; validate.py says when it is no selector
                out.append(Expression(spath + ("metric",), "promql", text, text, "selector"))
            if sli.type == "ratio" and sli.expr and window in sli.expr:
                text = sli.expr.strip()
                out.append(Expression(spath + ("expr",), "promql", text, text.replace(window, SLI_WINDOW), "avg",
                                      "avg({})", read_window))
        for j, panel in enumerate(svc.panels):
            variables = {**DASHBOARD_VARIABLES, **(LOGS_VARIABLES if svc.logs is not None else {})}
            out.append(_panel(base + ("panels", j, "expr"), panel.expr.strip(), variables))
        if svc.logs is not None:
            for j, la in enumerate(svc.logs.alerts):
                text = la.logql.strip()
                out.append(Expression(base + ("logs", "alerts", j, "logql"), "logql", text, text, "log-alert",
                                      "({}) > 1"))
    return out


def _panel(path: Path, text: str, variables: dict[str, str]) -> Expression:
    values = {**BUILTIN_VALUES, **variables}
    prepared, unknown = substitute(text, values)
    problem = None
    if unknown:
        names = ", ".join(f"${n}" for n in sorted(unknown))
        own = ", ".join(f"${n}" for n in sorted(variables))
        problem = (f"{names} {'is not a variable' if len(unknown) == 1 else 'are not variables'} of the service "
                   f"dashboard ({own}) nor Grafana's ($__rate_interval, $__interval, $__range, ...); Grafana "
                   "would send it as written and Prometheus refuse it")
    used = sorted({name for found in re.findall(r"\$\{?(\w+)|\[\[(\w+)", text) for name in found if name in values})
    read_as = f" (read with {', '.join(f'${n} as {values[n]}' for n in used)})" if used else ""
    return Expression(path, "promql", text, prepared, "panel", read_as=read_as, problem=problem)


def _places(paths: list[Path]) -> str:
    return ", ".join(format_path(p) for p in paths)


# --------------------------------------------------------------------------- PromQL

_pp: Any = None


def _parser() -> Any:
    global _pp
    if _pp is None:
        import promql_parser  # here: 8 ms that only validate pays, not every import of the spec package

        _pp = promql_parser
    return _pp


def promql_verdict(expr: Expression) -> tuple[str | None, str | None]:
    """(problem message, reason it was not checked) of one PromQL expression; both None when it is fine."""
    for text in dict.fromkeys([expr.prepared, expr.wrap.format(expr.prepared)]):
        try:
            problem = promql_problem(text, expr.role if text == expr.prepared else "any")
        except Unparsable as e:
            return None, str(e)
        if problem:
            if text != expr.prepared:  # the expression parses alone but not where the output puts it
                problem = (f"does not parse inside {expr.wrap.format('...')}, where obsgen puts it: {problem}; "
                           "it must be one expression (check its brackets)")
            return f"PromQL{expr.read_as} {problem}", None
    return None, None


def parse_promql(text: str) -> tuple[Any, Any] | None:
    """(promql_parser module, tree) of `text` read as Prometheus reads it (see `_prepare`), or None when it
    does not parse."""
    try:
        code, neutral, _problems = _prepare(text)
    except Unparsable:
        return None
    pp = _parser()
    for candidate in dict.fromkeys([code, neutral]):
        try:
            return pp, pp.parse(candidate)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: B036  (ValueError, or a Rust panic)
            continue
    return None


class Unparsable(Exception):
    """The parser cannot be trusted with this text (too deeply nested, or it failed inside)."""


def promql_problem(text: str, role: str = "any") -> str | None:
    """Why Prometheus 3.5 would refuse `text` where a field of `role` puts it (see ROLES), or None.

    The message starts with a verb: `does not parse: ...`, `is a range vector ...`.
    """
    code, neutral, problems = _prepare(text)
    if problems:
        return problems[0]
    pp = _parser()
    try:
        try:
            tree = pp.parse(code)
        except ValueError as e:
            if not str(e).startswith("illegal regex for"):
                raise
            tree = pp.parse(neutral)  # a regex Go's dialect accepts (checked above) and the Rust crate not
    except ValueError as e:
        return f"does not parse: {_explain(str(e))}"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: B036  (a Rust panic is a BaseException)
        raise Unparsable(f"the PromQL parser failed on it ({type(e).__name__})") from None
    found = _tree_problems(pp, tree)
    if found:
        return found[0]
    if role in ROLES:
        kinds, what = ROLES[role]
        kind = value_type(pp, tree)
        if kind not in kinds:
            return _type_problem(kind, role, what)
        if role == "alert" and _bool_comparison(pp, tree):
            return ("compares with `bool`, which returns 0 or 1 for every series instead of dropping those "
                    f"that do not match: {what}, so it would fire for all of them; drop `bool`")
    return None


# One lexical piece of PromQL: a string literal ("", '', ``), a comment, or code up to the next of them.
_PIECE = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|`[^`]*`|#[^\n]*|[^"\'`#]+|.', re.S)
_NUMBER = re.compile(r"(?<![\w:.])(0[xX]_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*|(?:\d+(?:_\d+)*(?:\.(?:\d+(?:_\d+)*)?)?"
                     r"|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+(?:_\d+)*)?)(?![\w.])")
_AT = re.compile(r"@\s*([-+]?\s*(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))")
_OPERATOR = re.compile(r"[-+*/%^<>]=?|[!=]=|\b(?:and|or|unless|atan2)\b")
_GO_ESCAPE = re.compile(r"\\(?:([abfnrtv\\'\"])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))",
                        re.S)


def _prepare(text: str) -> tuple[str, str, list[str]]:
    """The text promql-parser gets, the same with every regex of a matcher replaced by a neutral one, and
    problems found on the way.

    Regexes of matchers are checked here in Go's dialect (the Rust crate judges them in its own, which
    differs: `\\Q...\\E`, `a**`); digit separators are dropped; numbers past float64 are refused.
    """
    pieces = [m.group() for m in _PIECE.finditer(text)]
    code_only = "".join(p for p in pieces if p[:1] not in ('"', "'", "`", "#"))
    if _nesting(code_only) > MAX_NESTING:
        raise Unparsable(f"its operators and brackets nest more than {MAX_NESTING} deep; split it into "
                         "recording rules")
    problems: list[str] = []
    out: list[str] = []
    neutral: list[str] = []
    for piece in pieces:
        neutral_piece = None
        if piece[:1] in ('"', "'", "`") and len(piece) > 1 and piece[-1] == piece[0]:
            if "".join(out[-2:]).rstrip().endswith(("=~", "!~")):
                pattern = _unquote(piece)
                if pattern is not None:
                    problem = _regex_problem(pattern)
                    if problem:
                        short = pattern if len(pattern) <= 60 else pattern[:50] + "..."
                        problems.append(f"has the regex {short!r}, which Prometheus (Go's RE2) refuses: {problem}")
                    neutral_piece = '".*"' if _matches_empty(pattern) else '".+"'
        if piece[:1] == "`" and len(piece) > 1 and piece[-1] == "`":
            # promql-parser reads escapes inside raw strings, which Prometheus leaves alone
            piece = '"' + piece[1:-1].replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        elif piece[:1] not in ('"', "'", "`", "#"):
            piece = _NUMBER.sub(lambda m: _number(m.group(), problems), piece)
            for at in _AT.findall(piece):  # promql-parser holds them as unsigned, saturated
                if not abs(float(at.replace(" ", ""))) < 2**63:
                    problems.append(f"has the timestamp @ {at}, beyond what Prometheus reads (an int64 of "
                                    "seconds)")
        out.append(piece)
        neutral.append(piece if neutral_piece is None else neutral_piece)
    return "".join(out), "".join(neutral), problems


def _nesting(code: str) -> int:
    """How deep the tree of `code` can be at most: its operators (a chain `a + b + c` nests one level
    each) and its deepest bracket."""
    depth = deepest = 0
    for c in code:
        if c in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")]}":
            depth -= 1
    return len(_OPERATOR.findall(code)) + deepest


def _number(token: str, problems: list[str]) -> str:
    plain = token.replace("_", "")
    if not token.lower().startswith("0x") and math.isinf(float(plain)):
        problems.append(f"has the number {token}, beyond the range of a float64 (about 1.8e308); Prometheus "
                        "refuses it (write Inf for infinity)")
    return plain


def _unquote(literal: str) -> str | None:
    """The value of a PromQL (Go) string literal, or None when its escapes are not Go's (the parser says so)."""
    if literal[0] == "`":
        return literal[1:-1]
    bad = False

    def one(m: re.Match[str]) -> str:
        nonlocal bad
        simple, hex2, octal, u4, u8, other = m.groups()
        if simple:
            return {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}.get(simple, simple)
        if other is not None:
            bad = True
            return ""
        code = int(hex2 or u4 or u8, 16) if not octal else int(octal, 8)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            bad = True
            return ""
        return chr(code)

    value = _GO_ESCAPE.sub(one, literal[1:-1])
    return None if bad else value


def _regex_problem(pattern: str) -> str | None:
    from .validate import re2_problem  # here: validate.py calls this module

    problem = re2_problem(pattern)
    if problem is None and re.search(r"(?<!\\)(?:\\\\)*\\C", pattern):
        problem = "\\C (any byte) is C++ RE2's, not in Go's regexp"
    return problem


def _matches_empty(pattern: str) -> bool:
    """Whether a regex matches the empty string (Prometheus refuses a selector of only such matchers).
    Read by Python's engine: good enough to keep that one property of a replaced regex."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return re.fullmatch(pattern, "") is not None
        except (re.error, RecursionError, OverflowError):
            return False


def _explain(message: str) -> str:
    """promql-parser's message with what to do about it."""
    m = re.match(r"expected type (\w+) in (call to function '(\w+)'|aggregation expression), got (\w+)", message)
    if m:
        where = f"{m.group(3)}()" if m.group(3) else "an aggregation (sum, max, ...)"
        hint = " (add a range, e.g. rate(x[5m]))" if m.group(1) == "matrix" and m.group(4) == "vector" else ""
        return f"{where} needs {_KIND_NAMES[m.group(1)]}, got {_KIND_NAMES[m.group(4)]}{hint}"
    m = re.match(r"unknown function with name '(\w+)'", message)
    if m:
        name = m.group(1)
        renamed = f" (renamed {RENAMED[name]})" if name in RENAMED else ""
        return f"Prometheus has no function {name}(){renamed}"
    lowered = message.lower()
    if "no expression found" in lowered:
        return "the expression is empty"
    if "invalid promql query" in lowered:
        return "an operator or an operand is missing or out of place"
    if any(w in lowered for w in ("brace", "bracket", "parenthes", "quot", "unterminated")):
        return f"{message} (check brackets and quotes)"
    if lowered in ("invalid syntax", "unknown escape sequence") or "escape" in lowered:
        return f"{message} (check the escapes in quoted strings: \\\\, \\\", \\n)"
    return message


_KIND_NAMES = {"matrix": "a range vector (e.g. x[5m])", "vector": "an instant vector", "scalar": "a number",
               "string": "a string"}


def value_type(pp: Any, node: Any) -> str:
    """"vector", "matrix", "scalar" or "string": what the expression evaluates to (Prometheus' ValueType).

    A binary expression is a scalar when every operand of it is (the parser refuses other mixes)."""
    pending, operands = [node], set()
    while pending:
        node = pending.pop()
        while isinstance(node, (pp.ParenExpr, pp.UnaryExpr)):
            node = node.expr
        if isinstance(node, pp.BinaryExpr):
            pending += [node.lhs, node.rhs]
            continue
        if isinstance(node, (pp.MatrixSelector, pp.SubqueryExpr)):
            kind = "matrix"
        elif isinstance(node, pp.NumberLiteral):
            kind = "scalar"
        elif isinstance(node, pp.StringLiteral):
            kind = "string"
        elif isinstance(node, pp.Call):
            returns = node.func.return_type  # an enum of the extension, not hashable
            kind = next((name for name, t in (("scalar", pp.ValueType.Scalar), ("matrix", pp.ValueType.Matrix),
                                              ("string", pp.ValueType.String)) if returns == t), "vector")
        else:
            kind = "vector"  # selectors, aggregations
        operands.add(kind)
    return operands.pop() if len(operands) == 1 else "vector"


def nodes(pp: Any, tree: Any) -> Iterator[Any]:
    """Every node of a promql-parser tree, parents first. (promql_parser.walk takes minutes on a tree a
    few hundred levels deep; reading the attributes takes microseconds.)"""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, pp.BinaryExpr):
            pending += [node.rhs, node.lhs]
        elif isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
            pending.append(node.expr)
        elif isinstance(node, pp.AggregateExpr):
            pending += [node.expr] + ([node.param] if node.param is not None else [])
        elif isinstance(node, pp.Call):
            pending += reversed(node.args)
        elif isinstance(node, pp.MatrixSelector):
            pending.append(node.vector_selector)


def _type_problem(kind: str, role: str, what: str) -> str:
    if kind == "matrix":
        return (f"is a range vector (x[5m] or a subquery), a value Prometheus cannot evaluate as a rule or "
                f"Grafana draw ({what}); take a function of it, e.g. rate(x[5m]) or max_over_time(x[5m])")
    if kind == "string":
        return f"is a string literal, not a value ({what}); write a query of series"
    if role == "alert":
        return (f"is a number, not series: {what}, and a number is one series that is always there, so the "
                "alert would fire at every evaluation whatever its value; compare series, e.g. "
                "sum(rate(x[5m])) > 1 (vector(1) if it is meant to fire always)")
    return f"is a number, not series ({what}); select series, e.g. rate(x[5m])"


def _bool_comparison(pp: Any, node: Any) -> bool:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    return (isinstance(node, pp.BinaryExpr) and str(node.op) in ("==", "!=", ">", "<", ">=", "<=")
            and node.modifier is not None and node.modifier.return_bool)


def _tree_problems(pp: Any, tree: Any) -> list[str]:
    """What Prometheus 3.5 refuses in a tree promql-parser built."""
    found: list[str] = []
    durations: list[tuple[str, timedelta | None]] = []

    def visit(node: Any) -> None:
        if isinstance(node, pp.Call):
            name = node.func.name
            if name in EXPERIMENTAL_FUNCTIONS:
                found.append(f"uses {name}(), an experimental function: {FEATURE}")
            elif name not in FUNCTIONS:
                found.append(f"uses {name}(), which Prometheus 3.5 does not have")
            elif name == "label_replace" and len(node.args) == 5 and isinstance(node.args[4], pp.StringLiteral):
                problem = _regex_problem(node.args[4].val)
                if problem:
                    found.append(f"passes label_replace() the regex {node.args[4].val!r}, which Prometheus (Go's "
                                 f"RE2) refuses: {problem}")
        elif isinstance(node, pp.AggregateExpr):
            op = str(node.op)
            if op in EXPERIMENTAL_AGGREGATIONS:
                found.append(f"uses {op}(), an experimental aggregation: {FEATURE}")
        elif isinstance(node, pp.VectorSelector):
            if node.matchers.or_matchers:
                found.append("has `or` between matchers inside a selector, which Prometheus 3.5 does not read; "
                             "join two selectors instead: x{a=\"1\"} or x{b=\"2\"}")
            durations.append(("an offset", node.offset))
        elif isinstance(node, pp.MatrixSelector):
            durations.append(("a range", node.range))
        elif isinstance(node, pp.SubqueryExpr):
            durations.extend([("a subquery range", node.range), ("a subquery step", node.step),
                              ("an offset", node.offset)])

    for node in nodes(pp, tree):
        visit(node)
    for what, value in durations:
        if value is not None and abs(value) > MAX_DURATION:
            found.append(f"has {what} longer than Prometheus can hold (about 292 years, Go's int64 nanoseconds)")
    return found


# --------------------------------------------------------------------------- LogQL


def _logql_problems(exprs: list[Expression]) -> tuple[Problems, str | None]:
    """Each LogQL expression alone (it must be a metric query) and as the Loki rule holds it, in one node."""
    from .. import logql_parse  # here: only a spec with LogQL of its own pays for it

    texts = list(dict.fromkeys(t for e in exprs for t in (e.prepared, e.wrap.format(e.prepared))))
    verdicts = logql_parse.parse(texts, timeout=60)
    if isinstance(verdicts, logql_parse.Unavailable):
        what = ("node not found; " if verdicts.tool == "node" and verdicts.status == "not found" else
                "Grafana's LogQL grammar failed: " if verdicts.status == "failed" else "")
        return [], f"LogQL of {_places([e.path for e in exprs])} not checked: {what}{verdicts.reason}"
    by_text: dict[str, dict[str, Any]] = dict(zip(texts, verdicts, strict=True))
    problems: Problems = []
    for e in exprs:
        alone, wrapped = by_text[e.prepared], by_text[e.wrap.format(e.prepared)]
        if not alone.get("ok"):
            problems.append((e.path, f"LogQL does not parse: {alone.get('error', 'not parsed')} "
                                     "(check brackets, quotes and the |-pipeline)"))
        elif alone.get("kind") != "metric":
            example = f"sum(count_over_time({e.text} [5m]))" if len(e.text) <= 80 else "sum(count_over_time({...} [5m]))"
            problems.append((e.path, "is a log query (it returns log lines), and the Loki ruler alerts on numbers: "
                                     f"wrap it in count_over_time(...[5m]), e.g. {example}"))
        elif not wrapped.get("ok"):
            problems.append((e.path, "LogQL does not parse where obsgen puts it, `(...) > above`: "
                                     f"{wrapped.get('error', 'not parsed')}; it must be one expression"))
    return problems, None

