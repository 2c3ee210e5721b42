"""LogQL building blocks: string literals, stream selectors and the expressions obsgen's log alerts use.

Every value that reaches a LogQL expression goes through `string()`, so a quote, backslash or newline in
it stays inside its string literal; every value used in a regex goes through `regex_literal()` first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from .promql import regex_literal as _re2_literal

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def string(value: str) -> str:
    """A LogQL (Go) double-quoted string literal that reads back as exactly `value`."""
    # JSON's escapes (\" \\ \n \t \uXXXX ...) are a subset of Go's, which Loki's parser uses.
    return json.dumps(value, ensure_ascii=False)


def regex_literal(value: str) -> str:
    """`value` as an RE2 pattern matching only itself."""
    return _re2_literal(value)


def any_of(values: Iterable[str]) -> str:
    """An RE2 alternation matching exactly one of `values` (Loki anchors label regexes)."""
    return _any_of(tuple(values))


@lru_cache(maxsize=256)  # every service of a spec asks for the same error levels
def _any_of(values: tuple[str, ...]) -> str:
    return "|".join(regex_literal(v) for v in values)


def matcher(name: str, op: str, value: str) -> str:
    if not LABEL_NAME.match(name):
        raise ValueError(f"{name!r} is not a LogQL label name")
    if op not in ("=", "!=", "=~", "!~"):
        raise ValueError(f"{op!r} is not a LogQL matcher operator")
    return f"{name}{op}{string(value)}"


def selector(labels: Mapping[str, str], *extra: str) -> str:
    """`{a="x", b="y", <extra matchers>}` for equality on `labels` plus already-built matchers."""
    parts = [matcher(k, "=", v) for k, v in labels.items()] + list(extra)
    return "{" + ", ".join(parts) + "}"


def error_lines_per_minute(
    stream: Mapping[str, str], level_key: str, levels: Iterable[str], level_is_label: bool, window: str = "5m"
) -> str:
    """Error-level lines per minute of a JSON log stream, averaged over `window`.

    With the level promoted to a stream label the index does the filtering; otherwise each line is
    parsed and lines that are not JSON (`__error__`) are dropped first, as Loki refuses metric queries
    that still carry parse errors.
    """
    levels_re = any_of(levels)
    if level_is_label:
        logs = selector(stream, matcher("level", "=~", levels_re))
    else:
        logs = f'{selector(stream)} | json | __error__="" | {matcher(level_key, "=~", levels_re)}'
    return f"sum(rate({logs} [{window}])) * 60"
