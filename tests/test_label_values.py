"""Label values for Prometheus regexes: what `matching` returns matches, what `not_matching` returns does not,
None only when no value exists (checked against values hypothesis finds), realistic values first."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obsgen.label_values import fullmatch, matching, not_matching, satisfying

ALPHABET = "ab5Z0-.\n"  # the characters the generated patterns and probe strings are made of
FLAGS = re.DOTALL | re.ASCII  # Prometheus: anchored, `.` matches a newline


def _atom() -> st.SearchStrategy[str]:
    literal = st.sampled_from([re.escape(c) for c in ALPHABET])
    classes = st.sampled_from(["[a-b]", "[^a]", "[05]", "[^\\n]", "\\d", "\\w", "\\D", ".", "[Z-a]", "[-.]"])
    anchors = st.sampled_from(["\\A", "\\Z"])  # start and end of text (RE2: `^` and `\z`)
    return st.one_of(literal, classes, anchors)


def _regex() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        repeat = st.tuples(inner, st.sampled_from(["*", "+", "?", "{2}", "{0,2}", "{1,3}", "{2,}"])).map(
            lambda t: f"(?:{t[0]}){t[1]}")
        concat = st.lists(inner, min_size=2, max_size=3).map("".join)
        branch = st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(?:" + "|".join(xs) + ")")
        return st.one_of(repeat, concat, branch)

    return st.recursive(_atom(), extend, max_leaves=6)


PROBES = st.text(alphabet=ALPHABET, max_size=6)
SLOW = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(pattern=_regex(), probe=PROBES)
def test_matching_returns_a_value_that_matches(pattern: str, probe: str) -> None:
    value = matching(pattern)
    if value is None:
        assert re.fullmatch(pattern, probe, FLAGS) is None, f"{pattern!r} matches {probe!r}, yet None"
    else:
        assert re.fullmatch(pattern, value, FLAGS) is not None, (pattern, value)


@SLOW
@given(pattern=_regex(), probe=PROBES)
def test_not_matching_returns_a_value_that_does_not_match(pattern: str, probe: str) -> None:
    value = not_matching(pattern)
    if value is None:
        assert re.fullmatch(pattern, probe, FLAGS) is not None, f"{pattern!r} fails {probe!r}, yet None"
    else:
        assert re.fullmatch(pattern, value, FLAGS) is None, (pattern, value)


@SLOW
@given(data=st.data(), pattern=_regex())
def test_a_value_exists_whenever_hypothesis_finds_one(data: st.DataObject, pattern: str) -> None:
    found = data.draw(st.from_regex(re.compile(pattern, FLAGS), fullmatch=True))
    assert matching(pattern) is not None, (pattern, found)


@SLOW
@given(constraints=st.lists(st.tuples(st.sampled_from(["=~", "!~", "!="]), _regex()), min_size=1, max_size=3),
       probe=PROBES)
def test_satisfying_passes_every_matcher(constraints: list[tuple[str, str]], probe: str) -> None:
    def passes(v: str) -> bool:
        return all((v != p) if op == "!=" else (re.fullmatch(p, v, FLAGS) is not None) == (op == "=~")
                   for op, p in constraints)

    value = satisfying(constraints)
    if value is None:
        assert not passes(probe), (constraints, probe)
    else:
        assert passes(value), (constraints, value)


def test_realistic_values_come_first() -> None:
    assert (matching("5.."), not_matching("5..")) == ("500", "200")
    grpc = "Unavailable|Internal|DeadlineExceeded|ResourceExhausted|Unknown"
    assert (matching(grpc), not_matching(grpc)) == ("Unavailable", "OK")
    assert (matching("failed|timeout"), not_matching("failed|timeout")) == ("failed", "ok")
    assert (matching("true"), not_matching("true")) == ("true", "ok")
    assert satisfying([("=~", "5.."), ("!=", "500"), ("!~", "503")]) == "5xx"


def test_synthesized_values_are_the_shortest_and_plain() -> None:
    assert matching("abc[0-9]{3}") == "abc000"
    assert matching("[^\\x00-\\U0010ffff]") is None  # an empty class: nothing matches
    assert not_matching(".*") is None and not_matching("(?s:.*)|x") is None
    assert not_matching("[^a]*|.*a.*") is None  # every string, though no branch alone is
    assert not_matching(".+") == ""  # only the empty value (a label the series does not carry)
    assert not_matching(".{0,20}|.{22,}") == "0" * 21
    assert matching("a^b") is None and matching("a$b") is None
    assert satisfying([("=~", "a|b"), ("!~", "a|b")]) is None


@pytest.mark.parametrize(("pattern", "value", "other"), [
    ("[[:digit:]]+x", "0x", "x"),  # POSIX classes
    ("a\\z", "a", "a\n"),  # RE2's end of text
    ("\\Qa.b\\E", "a.b", "axb"),  # quoted literal text
    ("(?<code>5)..", "500", "400"),  # RE2's named group
    ("\\x{41}", "A", "a"),
    ("(?i)error", "error", "rror"),
    ("a.b", "a\nb", "ab"),  # `.` matches a newline, as in Prometheus
])
def test_re2_syntax_is_read_as_prometheus_does(pattern: str, value: str, other: str) -> None:
    assert fullmatch(pattern, value) and not fullmatch(pattern, other)
    m, n = matching(pattern), not_matching(pattern)
    assert m is not None and fullmatch(pattern, m)
    assert n is not None and not fullmatch(pattern, n)


@pytest.mark.parametrize(("pattern", "says"), [
    ("\\pL+", "Unicode classes"), ("(?=a)a", "lookarounds"), ("(a)\\1", "back-references"),
    ("\\bword", "word boundaries"), ("(", "not a regex"),
])
def test_unreadable_patterns_say_why(pattern: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        matching(pattern)


def test_a_long_pattern_is_searched_without_recursing_along_it() -> None:
    long = "5.." * 1700  # 5,100 characters: once a RecursionError out of `obsgen render`
    value = matching(long)
    assert value is not None and fullmatch(long, value)
    assert not fullmatch(long, not_matching(long) or "")
    with pytest.raises(ValueError, match="too deeply nested"):
        matching("a?" * 3000)  # optional parts nest the terms; this is refused, not a crash
