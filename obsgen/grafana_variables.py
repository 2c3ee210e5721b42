"""Grafana's template variables in a query: its syntax, and stand-ins for its built-in variables.

A dashboard query is sent to Prometheus or Loki only after Grafana has replaced its variables; a parser
checking the query must read it the same way. `obsgen check` (file_checks) and `obsgen validate`
(spec/expressions, for the spec's extra panels) share these.
"""

from __future__ import annotations

import re

# Sample values for Grafana's built-in variables, so an expression parses as Prometheus or Loki gets it.
BUILTIN_VALUES = {
    "__rate_interval": "5m", "__interval": "1m", "__auto": "1m", "__range": "1h", "__range_s": "3600",
    "__range_ms": "3600000", "__interval_ms": "60000", "__rate_interval_ms": "300000",
    "__from": "1700000000000", "__to": "1700003600000", "__url_time_range": "",
}
# Grafana's variable syntax (templateSrv's variableRegex): $name, [[name:format]], ${name.field:format}
VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")


def substitute(expr: str, values: dict[str, str]) -> tuple[str, set[str]]:
    """`expr` with the variables of `values` replaced as Grafana does, and the names it does not know
    (positional `$1` of label_replace is not a variable)."""
    unknown: set[str] = set()

    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        if name in values:
            return values[name]
        if not name.isdigit():
            unknown.add(name)
        return m.group(0)

    return VARIABLE.sub(replace, expr), unknown
