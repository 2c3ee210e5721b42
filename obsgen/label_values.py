"""Label values for a regex as Prometheus reads it: one that matches, one that does not.

Prometheus matches label values against `=~`/`!~` regexes in RE2 syntax, anchored at both ends, with `.`
matching newlines too. The generated tests need series that a selector does (or does not) read, so they
ask here for such values:

- `matching(pattern)` and `not_matching(pattern)`: a value that fully matches, or fails, the pattern;
- `satisfying(constraints)`: a value that passes every matcher of one label (`=`, `!=`, `=~`, `!~`);
- `fullmatch(pattern, value)`: whether the value matches, as Prometheus decides it.

Realistic values come first (HTTP codes and classes, gRPC codes, words such as `error` or `ok`);
otherwise a value is synthesized from the parsed pattern: a breadth-first search over its Brzozowski
derivatives finds the shortest one (non-empty when possible), so `None` is returned only when no such
value exists: `not_matching(".*")`, `matching("[^\\x00-\\U0010ffff]")`. An empty value is a label the
series does not carry. A pattern RE2 reads but this module cannot (Unicode classes `\\pL`, word
boundaries, flags in mid-pattern) raises `ValueError`, saying which part.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from functools import lru_cache
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

# matching() is usually asked for an error value and not_matching() for a good one: each tries its kind first
ERROR_LIKE = ("500", "503", "5xx", "502", "504", "429", "Unavailable", "Internal", "DeadlineExceeded",
              "Unknown", "ResourceExhausted", "error", "ERROR", "failed", "failure", "false", "timeout", "1")
GOOD_LIKE = ("200", "204", "2xx", "OK", "ok", "success", "true", "good", "0")
OPS = ("=", "!=", "=~", "!~")
MAX_CHAR = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)  # not characters: a label value is UTF-8
# characters a synthesized value is made of, best first
_NICE = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-.:/@+=~"
_MAX_STATES = 20_000  # the search gives up (ValueError) beyond this many derivative states
_MAX_NODES = 20_000  # ... and a pattern whose counted repetitions expand beyond this many nodes

_POSIX = {"alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
          "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
          "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
          "xdigit": "0-9A-Fa-f"}


# --------------------------------------------------------------------------- the public functions


def fullmatch(pattern: str, value: str) -> bool:
    """Whether `value` matches `pattern` as a Prometheus regex matcher decides (anchored, `.` matches `\\n`)."""
    return _compiled(pattern).fullmatch(value) is not None


def matching(pattern: str) -> str | None:
    """A value that fully matches `pattern`; None when none does."""
    return satisfying((("=~", pattern),))


def not_matching(pattern: str) -> str | None:
    """A value that does not fully match `pattern`; None when every value does (`.*`)."""
    return satisfying((("!~", pattern),))


def satisfying(constraints: Iterable[tuple[str, str]]) -> str | None:
    """A value passing every (op, value) matcher of one label, e.g. `[("=~", "5.."), ("!=", "503")]`."""
    return _satisfying(tuple(constraints))


@lru_cache(maxsize=4096)  # the same conventions repeat over every service of a spec
def _satisfying(constraints: tuple[tuple[str, str], ...]) -> str | None:
    try:
        return _satisfying_search(constraints)
    except RecursionError:  # terms nest as deep as the pattern's optional parts are many
        raise ValueError("the matchers are too deeply nested to search for a value") from None


def _satisfying_search(constraints: tuple[tuple[str, str], ...]) -> str | None:
    for op, _ in constraints:
        if op not in OPS:
            raise ValueError(f"unknown matcher operator {op!r}")
    fixed = [v for op, v in constraints if op == "="]
    if fixed:
        return fixed[0] if _passes(fixed[0], constraints) else None
    hint = " ".join(v for _, v in constraints)
    positive = any(op == "=~" for op, _ in constraints)
    for value in _prefer(ERROR_LIKE + GOOD_LIKE if positive else GOOD_LIKE + ERROR_LIKE, hint):
        if _passes(value, constraints):
            return value
    parts = []
    for op, v in constraints:
        if op == "=~":
            parts.append(_node(v))
        elif op == "!~":
            parts.append(_not(_node(v)))
        else:  # !=
            parts.append(_not(_literal(v)))
    return _search(_and(parts))


def _passes(value: str, constraints: Sequence[tuple[str, str]]) -> bool:
    for op, v in constraints:
        ok = value == v if op in ("=", "!=") else fullmatch(v, value)
        if ok != (op in ("=", "=~")):
            return False
    return True


def _prefer(candidates: Sequence[str], hint: str) -> list[str]:
    """Candidates shaped like the pattern first: words for a pattern of words, codes for one of digits."""
    hint = re.sub(r"\\.", "", hint)  # escapes such as \\d are no letters
    digits, letters = any(c.isdigit() for c in hint), any(c.isalpha() for c in hint)
    upper = any(w[:1].isupper() for w in re.findall(r"[A-Za-z]+", hint))

    def key(c: str) -> tuple[int, int]:
        code = c[:1].isdigit()
        shape = 0 if digits == letters or code == digits else 1  # a mixed pattern keeps the order
        return shape, 0 if c[:1].isupper() == upper or code else 1

    return sorted(candidates, key=key)


# --------------------------------------------------------------------------- RE2 syntax into Python's


@lru_cache(maxsize=4096)
def _translated(pattern: str) -> str:
    """The pattern in Python's syntax: RE2's POSIX classes, `\\z`, `\\Q...\\E`, `\\x{...}`, `(?<name>`."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1:i + 2]
            if nxt == "":
                raise ValueError(f"`{pattern}` ends with a lone backslash")
            if nxt in ("p", "P"):
                raise ValueError(f"`{pattern}`: Unicode classes (\\{nxt}) are not supported")
            if nxt in ("b", "B") and not in_class:
                raise ValueError(f"`{pattern}`: word boundaries (\\{nxt}) are not supported")
            if nxt == "C":
                raise ValueError(f"`{pattern}`: \\C (any byte) is not supported")
            if nxt == "z":
                out.append("\\Z")
                i += 2
                continue
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                quoted = pattern[i + 2:] if end < 0 else pattern[i + 2:end]
                out.append(re.escape(quoted))
                i = len(pattern) if end < 0 else end + 2
                continue
            if nxt == "x" and pattern[i + 2:i + 3] == "{":
                end = pattern.find("}", i + 3)
                if end < 0:
                    raise ValueError(f"`{pattern}`: unterminated \\x{{")
                out.append(f"\\U{int(pattern[i + 3:end] or '0', 16):08x}")
                i = end + 1
                continue
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "[" and pattern[i + 1:i + 2] == ":":
                end = pattern.find(":]", i + 2)
                name = pattern[i + 2:end] if end > 0 else ""
                if name.startswith("^"):
                    raise ValueError(f"`{pattern}`: negated POSIX classes ([:^{name[1:]}:]) are not supported")
                if name in _POSIX:
                    out.append(_POSIX[name])
                    i = end + 2
                    continue
            if c in "[&~|":
                out.append("\\" + c)  # literals in RE2; Python reads (or warns of) nested sets and operations
            else:
                in_class = c != "]"
                out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if pattern[i:i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i:i + 1] == "]":  # a leading `]` is a literal
                out.append("\\]")
                i += 1
            continue
        if pattern.startswith("(?<", i) and pattern[i + 3:i + 4] not in ("=", "!"):
            out.append("(?P<")
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(_translated(pattern), re.DOTALL | re.ASCII)
    except re.error as err:
        raise ValueError(f"`{pattern}` is not a regex obsgen can read: {err}") from None


# --------------------------------------------------------------------------- regexes as terms
#
# A term is a hashable tuple, kept in a normal form (alternations and conjunctions as frozensets) so that
# the derivatives of any term are finitely many:
#   ("0",) nothing   ("e",) the empty string   ("c", intervals) one character of a set
#   (".", a, b) a then b   ("|", {...}) any   ("&", {...}) all   ("!", a) anything a does not match
#   ("*", a) repetition   ("^",) start of text   ("$",) end of text

Term = tuple
NOTHING: Term = ("0",)
EMPTY: Term = ("e",)
ANYTHING: Term = ("!", NOTHING)
BEGIN: Term = ("^",)
END: Term = ("$",)


def _cat(a: Term, b: Term) -> Term:
    if a == NOTHING or b == NOTHING:
        return NOTHING
    if a == EMPTY:
        return b
    if b == EMPTY:
        return a
    if a[0] == ".":  # right-associated
        return _cat(a[1], _cat(a[2], b))
    return (".", a, b)


def _alt(terms: Iterable[Term]) -> Term:
    flat: set[Term] = set()
    for t in terms:
        if t == ANYTHING:
            return ANYTHING
        if t[0] == "|":
            flat.update(t[1])
        elif t != NOTHING:
            flat.add(t)
    if not flat:
        return NOTHING
    return next(iter(flat)) if len(flat) == 1 else ("|", frozenset(flat))


def _and(terms: Iterable[Term]) -> Term:
    flat: set[Term] = set()
    for t in terms:
        if t == NOTHING:
            return NOTHING
        if t[0] == "&":
            flat.update(t[1])
        elif t != ANYTHING:
            flat.add(t)
    if not flat:
        return ANYTHING
    return next(iter(flat)) if len(flat) == 1 else ("&", frozenset(flat))


def _not(t: Term) -> Term:
    return t[1] if t[0] == "!" else ("!", t)


def _star(t: Term) -> Term:
    if t in (NOTHING, EMPTY):
        return EMPTY
    return t if t[0] == "*" else ("*", t)


def _chars(intervals: Iterable[tuple[int, int]]) -> Term:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return ("c", tuple(merged)) if merged else NOTHING


def _complement(intervals: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out, start = [], 0
    for lo, hi in sorted(intervals):
        if lo > start:
            out.append((start, lo - 1))
        start = max(start, hi + 1)
    if start <= MAX_CHAR:
        out.append((start, MAX_CHAR))
    return out


def _literal(text: str) -> Term:
    t = EMPTY
    for ch in reversed(text):
        t = _cat(_chars([(ord(ch), ord(ch))]), t)
    return t


# --------------------------------------------------------------------------- Python's parse tree into terms

_DIGIT = [(48, 57)]
_WORD = [(48, 57), (65, 90), (95, 95), (97, 122)]
_SPACE = [(9, 13), (32, 32)]  # Python's ASCII \s, with \v
_CATEGORIES = {
    sre.CATEGORY_DIGIT: _DIGIT, sre.CATEGORY_NOT_DIGIT: _complement(_DIGIT),
    sre.CATEGORY_WORD: _WORD, sre.CATEGORY_NOT_WORD: _complement(_WORD),
    sre.CATEGORY_SPACE: _SPACE, sre.CATEGORY_NOT_SPACE: _complement(_SPACE),
}


@lru_cache(maxsize=1024)
def _node(pattern: str) -> Term:
    _compiled(pattern)  # raises ValueError for what Python cannot read
    parsed = sre_parse.parse(_translated(pattern), re.DOTALL | re.ASCII)
    budget = [_MAX_NODES]
    return _seq(pattern, list(parsed), parsed.state.flags, budget)


def _fold(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """ASCII case folding (Python's IGNORECASE under re.ASCII)."""
    out = list(intervals)
    for lo, hi in intervals:
        for a, b, shift in ((65, 90, 32), (97, 122, -32)):
            s, e = max(lo, a), min(hi, b)
            if s <= e:
                out.append((s + shift, e + shift))
    return out


def _set(items: list[tuple[Any, Any]], flags: int) -> list[tuple[int, int]]:
    ivs: list[tuple[int, int]] = []
    negate = False
    for op, av in items:
        if op == sre.NEGATE:
            negate = True
        elif op == sre.LITERAL:
            ivs.append((int(av), int(av)))
        elif op == sre.RANGE:
            lo, hi = av
            ivs.append((lo, hi))
        elif op == sre.CATEGORY:
            ivs.extend(_CATEGORIES[av])
        else:
            raise ValueError(f"unsupported character class item {op}")
    if flags & re.IGNORECASE:
        ivs = _fold(ivs)
    return _complement(ivs) if negate else ivs


def _seq(pattern: str, items: list[tuple[Any, Any]], flags: int, budget: list[int]) -> Term:
    out = EMPTY
    for op, av in reversed(items):
        out = _cat(_item(pattern, op, av, flags, budget), out)
    return out


def _item(pattern: str, op: Any, av: Any, flags: int, budget: list[int]) -> Term:
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"`{pattern}` is too large to search for values")
    if op == sre.LITERAL:
        return _chars(_fold([(av, av)]) if flags & re.IGNORECASE else [(av, av)])
    if op == sre.NOT_LITERAL:
        one = [(av, av)]
        return _chars(_complement(_fold(one) if flags & re.IGNORECASE else one))
    if op == sre.ANY:
        return _chars([(0, MAX_CHAR)] if flags & re.DOTALL else _complement([(10, 10)]))
    if op == sre.IN:
        return _chars(_set(av, flags))
    if op == sre.BRANCH:
        return _alt(_seq(pattern, list(b), flags, budget) for b in av[1])
    if op == sre.SUBPATTERN:
        _, add, delete, sub = av
        return _seq(pattern, list(sub), (flags | add) & ~delete, budget)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        lo, hi, sub = av
        body = _seq(pattern, list(sub), flags, budget)
        budget[0] -= lo + (0 if hi == sre.MAXREPEAT else hi - lo)
        if budget[0] < 0:
            raise ValueError(f"`{pattern}` is too large to search for values")
        tail = _star(body) if hi == sre.MAXREPEAT else EMPTY
        if hi != sre.MAXREPEAT:
            for _ in range(hi - lo):
                tail = _alt([EMPTY, _cat(body, tail)])
        head = EMPTY
        for _ in range(lo):
            head = _cat(head, body)
        return _cat(head, tail)
    if op == sre.AT:
        if flags & re.MULTILINE and av in (sre.AT_BEGINNING, sre.AT_END):
            raise ValueError(f"`{pattern}`: ^ and $ in multi-line mode (?m) are not supported")
        if av in (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING):
            return BEGIN
        if av in (sre.AT_END, sre.AT_END_STRING):
            return END
        raise ValueError(f"`{pattern}`: word boundaries are not supported")
    what = {sre.GROUPREF: "back-references", sre.ASSERT: "lookarounds", sre.ASSERT_NOT: "lookarounds",
            sre.GROUPREF_EXISTS: "conditionals", sre.ATOMIC_GROUP: "atomic groups"}.get(op, str(op))
    raise ValueError(f"`{pattern}`: {what} are not RE2 syntax")


# --------------------------------------------------------------------------- derivatives and the search


def _nullable(t: Term, at_end: bool) -> bool:
    """Whether t matches the empty rest of a string; `$` holds only at its end, `^` only before any
    character (a `^` left after one has been read is removed by `_started`)."""
    kind = t[0]
    if kind in ("e", "*", "^"):
        return True
    if kind in ("0", "c"):
        return False
    if kind == "$":
        return at_end
    if kind == ".":
        return all(_nullable(part, at_end) for part in _chain(t))
    if kind == "|":
        return any(_nullable(s, at_end) for s in t[1])
    if kind == "&":
        return all(_nullable(s, at_end) for s in t[1])
    return not _nullable(t[1], at_end)  # "!"


def _derive(t: Term, c: int) -> Term:
    """The rest of t's language after one character c."""
    kind = t[0]
    if kind in ("0", "e", "^", "$"):
        return NOTHING
    if kind == "c":
        ivs = t[1]
        i = bisect_right(ivs, (c, MAX_CHAR + 1)) - 1
        return EMPTY if i >= 0 and ivs[i][0] <= c <= ivs[i][1] else NOTHING
    if kind == ".":
        first = _cat(_derive(t[1], c), t[2])
        return _alt([first, _derive(t[2], c)]) if _nullable(t[1], False) else first
    if kind == "|":
        return _alt(_derive(s, c) for s in t[1])
    if kind == "&":
        return _and(_derive(s, c) for s in t[1])
    if kind == "*":
        return _cat(_derive(t[1], c), t)
    return _not(_derive(t[1], c))  # "!"


def _started(t: Term) -> Term:
    """t once a character has been read: `^` can no longer hold."""
    kind = t[0]
    if kind == "^":
        return NOTHING
    if kind == ".":
        out = EMPTY
        for part in reversed(_chain(t)):
            out = _cat(_started(part), out)
        return out
    if kind == "|":
        return _alt(_started(s) for s in t[1])
    if kind == "&":
        return _and(_started(s) for s in t[1])
    if kind == "*":
        return _star(_started(t[1]))
    if kind == "!":
        return _not(_started(t[1]))
    return t


def _chain(t: Term) -> list[Term]:
    """The parts of a concatenation, in order: a long literal is a chain as long as it is, walked without
    recursing along it."""
    parts = []
    while t[0] == ".":
        parts.append(t[1])
        t = t[2]
    parts.append(t)
    return parts


def _sets(t: Term, out: list[tuple[tuple[int, int], ...]]) -> None:
    todo = [t]
    while todo:
        t = todo.pop()
        if t[0] == "c":
            out.append(t[1])
        elif t[0] == ".":
            todo.extend((t[1], t[2]))
        elif t[0] in ("|", "&"):
            todo.extend(t[1])
        elif t[0] in ("*", "!"):
            todo.append(t[1])


def _alphabet(t: Term) -> list[int]:
    """One character per class of characters no set of t tells apart, the nicest of each, best first."""
    found: list[tuple[tuple[int, int], ...]] = []
    _sets(t, found)
    cuts = {0, MAX_CHAR + 1, *_SURROGATES[:1], _SURROGATES[1] + 1}
    for ivs in found:
        for lo, hi in ivs:
            cuts.update((lo, hi + 1))
    edges = sorted(cuts)
    reps = []
    for lo, end in zip(edges, edges[1:], strict=False):
        if _SURROGATES[0] <= lo <= _SURROGATES[1]:
            continue
        nice = [ch for ch in _NICE if lo <= ord(ch) < end]
        printable = next((c for c in range(max(lo, 32), min(end, 127))), None)
        reps.append(ord(nice[0]) if nice else printable if printable is not None else lo)

    def rank(c: int) -> tuple[int, int]:
        ch = chr(c)
        return (_NICE.index(ch), 0) if ch in _NICE else (len(_NICE) + (0 if 32 <= c < 127 else 1), c)

    return sorted(reps, key=rank)


def _search(start: Term) -> str | None:
    """The shortest non-empty string `start` matches (its nicest), else "" when it matches that, else None."""
    empty_ok = _nullable(start, True)
    if start == NOTHING:
        return None
    alphabet = _alphabet(start)
    seen = {start}
    queue: deque[tuple[Term, str]] = deque([(start, "")])
    while queue:
        state, text = queue.popleft()
        for c in alphabet:
            nxt = _derive(state, c)
            if not text:
                nxt = _started(nxt)
            if nxt == NOTHING or nxt in seen:
                continue
            if _nullable(nxt, True):
                return text + chr(c)
            seen.add(nxt)
            if len(seen) > _MAX_STATES:
                raise ValueError("the matchers are too complex to search for a value")
            queue.append((nxt, text + chr(c)))
    return "" if empty_ok else None
