"""PromQL text shared by the generators and the checkers."""

from __future__ import annotations


def quote(value: str) -> str:
    """A label value as a double-quoted PromQL string (Alertmanager's matchers read it the same way)."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{value}"'
