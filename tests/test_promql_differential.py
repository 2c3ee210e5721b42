"""obsgen's PromQL check against promtool 3.5, on a corpus of valid and invalid expressions.

`obsgen validate` parses every user expression with promql-parser plus the tree checks of
obsgen/spec/expressions.py; what it accepts, promtool must accept, and what promtool refuses it must refuse.
The whole corpus goes to promtool in one rule file, each expression as a recording rule and as an alert:
`promtool check rules` parses them, then `promtool test rules` evaluates those that parse (a rule of a range
vector or a string parses, and fails only at evaluation: "rule result is not a vector or scalar").
The function names Prometheus 3.5 has without a feature flag are derived from promtool here as well.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from obsgen.spec.expressions import (
    EXPERIMENTAL_AGGREGATIONS,
    EXPERIMENTAL_FUNCTIONS,
    FUNCTIONS,
    Unparsable,
    promql_problem,
)

CORPUS = [
    'up', 'up{job="x"}', 'up{job="x",instance=~"a.*"}', 'up{job!="x"}', 'up{job!~"x|y"}', '{job="x"}',
    '{__name__="up"}', '{__name__=~"up|down"}', 'up{job="x",}', 'rate(x[5m])', 'irate(x[1m])',
    'increase(x[1h])', 'sum(rate(x[5m]))', 'sum by (job) (rate(x[5m]))', 'sum(rate(x[5m])) by (job)',
    'sum without (instance) (x)', 'sum without () (x)', 'count_values("v", x)', 'quantile(0.9, x)',
    'topk(3, x)', 'bottomk(3, x)', 'stddev(x)', 'stdvar(x)', 'group(x)', 'avg(x)', 'min(x)', 'max(x)',
    'count(x)', 'histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))', 'x / y', 'x * 2', 'x % 3',
    'x ^ 2', '2 ^ x', '-x', '+x', '- -x', 'x - -1', 'x > 1', 'x == bool 1', 'x > bool 1', 'x and y', 'x or y',
    'x unless y', 'x and on(job) y', 'x + on(job) group_left(instance) y', 'x + ignoring(instance) y',
    'x * on() group_right y', 'x > on(a) group_left y', 'time() - x', 'vector(1)', 'vector(time())',
    'scalar(x)', 'absent(x{job="y"})', 'absent_over_time(x[5m])', 'x offset 5m', 'x offset -5m', 'x @ 100',
    'x @ 100 offset 5m', 'x offset 5m @ 100', 'x @ start()', 'x @ end()', 'rate(x[5m] @ end())',
    'rate(x[5m] offset 1h)', 'sum_over_time(x[1h:5m])', 'max_over_time(rate(x[5m])[1h:])',
    'rate(x[5m])[30m:1m] offset 5m', 'x[5m:1m] @ 100', 'predict_linear(x[1h], 3600)', 'round(x)',
    'round(x, 0.1)', 'clamp(x, 0, 1)', 'clamp_min(x, 0)', 'label_replace(x, "a", "$1", "b", "(.*)")',
    'label_join(x, "a", ",", "b", "c")', 'sort(x)', 'sort_desc(x)', 'timestamp(x)', 'changes(x[5m])',
    'resets(x[5m])', 'deriv(x[5m])', 'delta(x[5m])', 'idelta(x[5m])', 'holt_winters(x[5m], 0.5, 0.5)',
    'quantile_over_time(0.5, x[5m])', 'present_over_time(x[5m])', 'last_over_time(x[5m])', 'day_of_week()',
    'hour(x)', 'days_in_month()', 'pi()', 'sgn(x)', 'ln(x)', 'exp(x)', 'histogram_count(x)',
    'histogram_sum(x)', 'histogram_avg(x)', 'histogram_fraction(0, 1, x)', 'histogram_stddev(x)',
    'histogram_stdvar(x)', 'sin(x)', 'atan2(x, y)', 'x atan2 y', '1', '1.5', '.5', '5.', '1e3', '1E-3', '0x1F',
    'Inf', '-Inf', 'NaN', '+Inf', 'inf', '1e309', '-1e309', '1e308', '1e-400', '0x', '1_000', '1h',
    'x{le="+Inf"}', 'ALERTS{alertname="X",alertstate="firing"}', 'x # a comment', 'x\n+\ny', '(x)', '((x))',
    '(x + y) * 2', 'sum(x) > 1 unless y', 'x[5m]', 'x[5m] offset 1m', 'x[1h30m]', 'x[90s]', 'x[5ms]', 'x[1y]',
    'x[0s]', 'x[5]', 'x[1.5h]', 'x[15s5m]', 'x[5m:0s]', '"foo"', '`foo`', "'foo'", '"a\\q"', 'x{a="\\u00e9"}',
    'x{a="é"}', 'x{a=~"é.*"}', 'mé_metric', '{"my.metric"}', 'x{"a.b"="c"}', '{"my.metric", job="x"}',
    'x{a="b" or a="c"}', '{__name__="x", __name__="y"}', 'x{__name__="y"}', 'x{__name__="x"}', 'x{a=~"("}',
    'x{a=~"a{2,1}"}', 'x{a=~"(?=a)"}', 'x{a=~"\\\\pL"}', 'x{a=~"[[:alpha:]]"}', 'x{a=~"\\\\C"}',
    'x{a=~"a{1001}"}', 'x{a=~"\\\\z"}', 'x{a=~"(?i)abc"}', 'x{a=~"(?P<n>a)"}',
    'label_replace(x, "a", "$1", "b", "(")', 'label_replace(x, "1a", "$1", "b", ".*")', '', ' ', 'x}y',
    'sum(rate(x[5m]) > 1', 'sum(rate(x[5m])))', 'rate(x)', 'rate(x[5m]', 'x{', 'x{a="b"', 'x{a=b}', 'x{a}',
    '{}', 'x{}', '{a=""}', '{a=~".*"}', '{a!="b"}', '{a=~".+"}', 'sum(x[5m])', 'abs(x[5m])', 'rate(1)',
    'rate("a")', 'topk("a", x)', 'quantile("a", x)', 'count_values(1, x)', 'x and 1', '1 and x', 'x or 1',
    '1 > 2', '1 > bool 2', '"a" + 1', 'x + "a"', 'x == "a"', 'sum()', 'rate()', 'clamp(x, 0)',
    'round(x, 1, 2)', 'label_replace(x, "a")', 'vector(x)', 'scalar(1)', 'time(x)', 'nosuchfn(x)',
    'limitk(1, x)', 'limit_ratio(0.5, x)', 'sort_by_label(x, "a")', 'sort_by_label_desc(x, "a")', 'info(x)',
    'info(x, {a="b"})', 'double_exponential_smoothing(x[5m], 0.5, 0.5)', 'mad_over_time(x[5m])',
    'ts_of_max_over_time(x[5m])', 'ts_of_min_over_time(x[5m])', 'ts_of_last_over_time(x[5m])',
    'first_over_time(x[5m])', 'ts_of_first_over_time(x[5m])', 'histogram_quantiles(x, "q", 0.5)', 'start()',
    'end()', 'range()', 'step()', 'integral(x[5m])', 'x[5m+1m]', 'x offset (5m)', 'x offset 1m offset 2m',
    'x @ 1 @ 2', 'x[5m][5m]', 'x[5m:1m][5m:1m]', 'sum(x) by', 'sum by (a, ) (x)', 'sum by (1a) (x)',
    'x + on(a) group_left(a) y', 'x and on(a) group_left y', 'x + bool y', 'x @ start', 'x @ "1"', '1 +',
    '* 1', 'x y', 'x,y', 'x;', 'x{a="b"}{c="d"}', 'sum(x) (y)', 'by', 'sum', 'on', 'offset', 'bool',
    'x{a="\\x"}', '"unterminated', 'x{a="b\n"}', 'x[5m', 'x[]', 'x[5m:1m:1m]', 'x offset', 'x @',
    'rate(x[5m]) by (a)', 'sum(sum)', 'x{a=~"b"', '(', ')', '()', 'x)', '(x', 'rate(x[5m]) ==',
    'count_over_time(x)', 'avg_over_time(x[5m], 1)', 'histogram_quantile(x, 0.9)', 'abs(x) @ 1',
    'vector(1) offset 1m', '1 offset 1m', '"a" offset 1m', 'sum(x) @ 100', '(x) offset 1m', 'x offset 1m[5m]',
    'rate(x[5m] @ start() offset 1m)', '{{window}}', 'x[{{window}}]', 'x[$__rate_interval]',
    'x{instance=~"$instance"}', '$x', '1_000.5', '0x_1F', '0x1_F', '1__0', '1_e3', '1e1_0', '_1', '1_',
    'x[1_0m]', 'x offset 1_0m', 'x_1_2', 'a1_2 + 1_0', 'x{a=~"[a&&b]"}', 'x{a=~"\\\\b{start}"}',
    'x{a=~"\\\\<"}', 'x{a=~"[[a-z]--[aeiou]]"}', 'x{a=~"(?<n>a)"}', 'x{a=~"\\\\Q.\\\\E"}', 'x{a=~"(?U)a+"}',
    'x{a=~"\\\\x{10FFFF}"}', 'x{a=~"\\\\p{Greek}"}', 'x{a=~"a**"}', 'x{a=~"a{,3}"}', 'x{a=~"(?s:.)"}',
    'x{a=~"\\\\d"}', 'x{a=~"\\\\h"}', 'x{a=~"(?R)"}', 'label_replace(x, "a", "$1", "b", "a{1001}")',
    'label_replace(x, "a", "$1", "b", "(?=a)")', 'label_replace(x, "a-b", "$1", "b", ".*")',
    'label_join(x, "a-b", ",", "c")', 'count_values("a-b", x)', 'count_values("__name__", x)',
    'sum by (__name__) (x)', 'x{a="b"}[5m:]', '0.5e-3', '1e+3', '0X1f', '0o17', '017', '0b101', '1.e3',
    'x > 1e309', 'x offset 1e309s', '9223372036854775807', 'x[9999999999y]', 'x[300y]', 'x @ 1e20', 'x @ -1',
    'x @ 1.5', 'x @ Inf', 'sum(x) by (le) > 0', 'x{job="a"} unless on(instance) y{job="b"}', 'topk(1e309, x)',
    'histogram_quantile(0.5, rate(x[5m])) > 1e308 * 10', 'x # comment with "quote', '# only a comment',
    'x{a="b"} # }', 'x{a="b#"}', 'sum(x) without (a)', 'sum(x) by (a) by (b)', 'x == bool on(a) y',
    'x + on(a) group_left y', 'sgn(vector(1))', 'day_of_week(vector(time()))', 'absent(nonexistent)',
    'absent(sum(x))', 'x and on() absent(y)', 'x{a="b",a="c"}', 'x{a=~"b",a!~"c"}', 'x{a!~""}', '{a!~""}',
    'x{__name__=~"x"}', 'rate(x[5m:1m])', 'rate(x[5m:1m] offset 1m)', 'x[5m] @ 100',
    'sum(rate(x[5m])) / sum(rate(y[5m])) > 0.1 and sum(rate(y[5m])) > 1', '(sum(rate(x[5m])) > 1) > 2',
    'vector(1) > 0', '-vector(1)', 'x ^ -1', '2 ^ 3 ^ 2', '1 + 2 * 3', '(1)', '-(1)', 'scalar(x) > bool 1',
    'time()', 'x > bool 1 and y', 'x{a="\\"quoted\\""}', "x{a='single'}", 'x{a=`raw`}', 'x{a="\\n"}',
    'x{a="\\t\\\\"}', 'x{a="\\U0001F600"}', 'x{a="😀"}', 'x{a="\\xff"}', 'x{a="\\377"}', 'x offset 300y',
    'x[5m:300y]', 'x @ 1e15', 'x @ 9e15', 'x @ 1e16', 'x @ 9e18', 'x @ 1e19', 'x @ -1e19', 'x @ -9e18',
    'x[5m] offset 300y', 'x{a="b" or c="d"}[5m]', 'rate(x{a=~"a**"}[5m])',
    'label_replace(x, "a", "$1", "b", "a**")', 'x{a=~"\\\\Q.\\\\E", b="c"}', 'x{a=~"\\\\Q\\\\E"}',
    'x{a!~"\\\\Q.\\\\E"}', 'sum(x{a=~`\\d+`})', "x{a=~'a|b'}", 'x{a=~"a\\\\"}', 'x{a=~"\\\\"}',
    'vector(1e309)', 'x * 1_000_000', 'x > 0x_FF', '1e1_0 + x', 'x_1_000', 'x1_000 > 1_000',
    'x{a=`\\d`}', '`\\d`', 'label_replace(x, "a", "$1", "b", `(\\d+)`)', 'x{a=`a"b`}', 'x{a=~`(`}',
    'x{a="\\\\d"}',
]
# Accepted by promtool as alert expressions, refused by obsgen on purpose: a number is one series that is
# always there (the alert fires at every evaluation whatever the value), and a comparison with `bool`
# returns every series (0 or 1), so such an alert fires for all of them.
ALERT_STRICTER = {
    "1", "1.5", ".5", "5.", "1e3", "1E-3", "0x1F", "Inf", "-Inf", "NaN", "+Inf", "inf", "1e308", "1e-400", "1h",
    "scalar(x)", "time()", "pi()", "1 > bool 2", "(1)", "-(1)", "2 ^ 3 ^ 2", "1 + 2 * 3", "9223372036854775807",
    "017", "0X1f", "0.5e-3", "1e+3", "1.e3", "1_000", "1_000.5", "0x_1F", "0x1_F", "1e1_0", "x == bool 1",
    "x > bool 1", "scalar(x) > bool 1", "x == bool on(a) y",
}

# Every function of Prometheus' promql/parser/functions.go (its main branch, a superset of 3.5's), the
# functions 3.0 removed, and names only newer versions or other dialects have.
FUNCTION_CANDIDATES = sorted(FUNCTIONS | EXPERIMENTAL_FUNCTIONS | {
    "end", "first_over_time", "histogram_quantiles", "integral", "range", "start", "step",
    "ts_of_first_over_time", "holt_winters", "absent_over_time", "last_over_time", "label_join",
})
AGGREGATIONS = {"sum": "sum(x)", "min": "min(x)", "max": "max(x)", "avg": "avg(x)", "group": "group(x)",
                "stddev": "stddev(x)", "stdvar": "stdvar(x)", "count": "count(x)",
                "count_values": 'count_values("v", x)', "bottomk": "bottomk(1, x)", "topk": "topk(1, x)",
                "quantile": "quantile(0.5, x)", "limitk": "limitk(1, x)", "limit_ratio": "limit_ratio(0.5, x)"}


def _rules(exprs: list[str]) -> str:
    lines = ["groups:", "- name: corpus", "  rules:"]
    for i, e in enumerate(exprs):
        quoted = json.dumps(e, ensure_ascii=False)  # JSON strings are YAML double-quoted strings
        lines += [f"  - record: corpus:e{i}", f"    expr: {quoted}", f"  - alert: E{i}", f"    expr: {quoted}"]
    return "\n".join(lines) + "\n"


def _promtool(promtool: str, tmp: Path, exprs: list[str]) -> dict[str, str]:
    """rule name (`corpus:e<i>`, `E<i>`) -> why promtool refuses it; a rule it accepts is not in it."""
    (tmp / "corpus.yml").write_text(_rules(exprs), "utf-8")
    proc = subprocess.run([promtool, "check", "rules", "--lint=none", "corpus.yml"], cwd=tmp, capture_output=True,
                          text=True, timeout=120)
    out = proc.stdout + proc.stderr
    refused = {m.group(1): m.group(2) for m in re.finditer(r'rule \d+, "([^"]+)": (.*)', out)}
    assert proc.returncode in (0, 1) and (proc.returncode == 0) == (not refused), out
    parsed = [e for i, e in enumerate(exprs) if f"corpus:e{i}" not in refused and f"E{i}" not in refused]
    (tmp / "corpus.yml").write_text(_rules(parsed), "utf-8")
    (tmp / "corpus.test.yml").write_text(
        "rule_files: [corpus.yml]\ntests:\n- interval: 1m\n  input_series: []\n  promql_expr_test:\n"
        "  - {expr: vector(1), eval_time: 0s, exp_samples: [{labels: '{}', value: 1}]}\n", "utf-8")
    proc = subprocess.run([promtool, "test", "rules", "corpus.test.yml"], cwd=tmp, capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout + proc.stderr
    index = {e: i for i, e in enumerate(exprs)}
    for m in re.finditer(r"rule: (corpus:e|E)(\d+), time: [^,]*, err: (.*)", out):
        name = f"{m.group(1)}{index[parsed[int(m.group(2))]]}"
        refused.setdefault(name, "evaluation: " + m.group(3))
    assert proc.returncode == 0 or "err:" in out, out
    return refused


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _promtool(require_tool("promtool"), tmp_path_factory.mktemp("corpus"), CORPUS)


def _ours(expr: str, role: str) -> str | None:
    try:
        return promql_problem(expr, role)
    except Unparsable as e:
        return f"not checked: {e}"


def test_the_corpus_is_large_and_mixed(verdicts: dict[str, str]) -> None:
    refused = {i for i in range(len(CORPUS)) if f"corpus:e{i}" in verdicts}
    assert len(set(CORPUS)) == len(CORPUS) >= 400
    assert 150 <= len(refused) <= len(CORPUS) - 150  # both kinds, plenty of each


def test_recording_rules_agree_with_promtool(verdicts: dict[str, str]) -> None:
    """A custom threshold's expression becomes a recording rule: obsgen refuses exactly what promtool does."""
    wrong = []
    for i, expr in enumerate(CORPUS):
        ours, theirs = _ours(expr, "record"), verdicts.get(f"corpus:e{i}")
        if (ours is None) != (theirs is None):
            wrong.append(f"{expr!r}: promtool {theirs or 'accepts'}; obsgen {ours or 'accepts'}")
    assert not wrong, "\n".join(wrong)


def test_alerts_agree_with_promtool_but_for_numbers_and_bool(verdicts: dict[str, str]) -> None:
    missed, stricter = [], set()
    for i, expr in enumerate(CORPUS):
        ours, theirs = _ours(expr, "alert"), verdicts.get(f"E{i}")
        if theirs is not None and ours is None:
            missed.append(f"{expr!r}: promtool {theirs}")
        if theirs is None and ours is not None:
            stricter.add(expr)
    assert not missed, "\n".join(missed)
    assert stricter == ALERT_STRICTER


def _probe(promtool: str, tmp: Path, exprs: dict[str, str]) -> dict[str, str | None]:
    """name -> promtool's parse error of its probe expression (None: accepted)."""
    lines = ["groups:", "- name: probe", "  rules:"]
    names = sorted(exprs)
    lines += [f"  - {{record: 'probe:{i}', expr: {json.dumps(exprs[n])}}}" for i, n in enumerate(names)]
    (tmp / "probe.yml").write_text("\n".join(lines) + "\n", "utf-8")
    proc = subprocess.run([promtool, "check", "rules", "--lint=none", "probe.yml"], cwd=tmp, capture_output=True,
                          text=True, timeout=120)
    errors = {int(m.group(1)): m.group(2) for m in re.finditer(r'"probe:(\d+)": could not parse expression: (.*)',
                                                                proc.stdout + proc.stderr)}
    return {n: errors.get(i) for i, n in enumerate(names)}


def test_function_sets_are_promtools(promtool: str, tmp_path: Path) -> None:
    """FUNCTIONS is what promtool 3.5 accepts without a feature flag, EXPERIMENTAL_FUNCTIONS what it refuses
    as not enabled; every other candidate it does not know at all."""
    # `name()` makes promtool say which: "not enabled", "unknown function", or a complaint about arguments
    found = _probe(promtool, tmp_path, {n: f"{n}()" for n in FUNCTION_CANDIDATES})
    enabled = {n for n, err in found.items() if err is None or "argument" in err}
    experimental = {n for n, err in found.items() if err and "is not enabled" in err}
    unknown = {n for n, err in found.items() if err and ("unknown function" in err or 'unexpected "("' in err)}
    assert enabled | experimental | unknown == set(FUNCTION_CANDIDATES), found
    assert enabled == FUNCTIONS
    assert experimental == EXPERIMENTAL_FUNCTIONS
    assert unknown and not unknown & (FUNCTIONS | EXPERIMENTAL_FUNCTIONS)
    aggregations = _probe(promtool, tmp_path, AGGREGATIONS)
    assert {n for n, err in aggregations.items() if err} == EXPERIMENTAL_AGGREGATIONS
    assert all("experimental" in err for err in aggregations.values() if err)


def test_the_parser_knows_every_function_promtool_has() -> None:
    """promql-parser refusing a function Prometheus has would refuse good specs: it must know them all."""
    import promql_parser

    unknown = []
    for name in sorted(FUNCTIONS | EXPERIMENTAL_FUNCTIONS):
        try:
            promql_parser.parse(f"{name}()")
        except ValueError as e:
            if "unknown function" in str(e):
                unknown.append(name)
    assert not unknown
