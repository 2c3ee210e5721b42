"""PromQL text shared by the generators and the checkers."""

from __future__ import annotations

import re

# RE2 metacharacters (Go's regexp.QuoteMeta set); everything else is literal (RE2 refuses escapes of
# letters, digits and space)
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def quote(value: str) -> str:
    """A label value as a double-quoted PromQL string (Alertmanager's matchers read it the same way)."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{value}"'


def regex_literal(value: str) -> str:
    """`value` as an RE2 pattern matching only itself (Prometheus anchors relabel and `=~` regexes)."""
    return _RE2_SPECIAL.sub(r"\\\1", value)
