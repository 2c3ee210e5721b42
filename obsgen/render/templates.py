"""Jinja2 for the outputs that are text, not YAML or JSON (templates live in the top-level templates/)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import jinja2


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: files("obsgen.templates").joinpath(name).read_text("utf-8")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(name: str, **context: Any) -> str:
    return _env().get_template(name).render(**context)
