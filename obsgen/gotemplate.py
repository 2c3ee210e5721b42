"""Go's text/template, as Prometheus expands annotations and Alertmanager its receivers' fields."""

from __future__ import annotations


def go_literal(text: str) -> str:
    """`text` as a Go template that renders as exactly `text`: each `{{` becomes an action printing `{{`.
    Only for values meant literally (links, channel names); fields meant to hold templates (alert
    summaries, descriptions) are left as written."""
    return text.replace("{{", '{{ "{{" }}') if "{{" in text else text
