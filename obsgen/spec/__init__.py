"""Loading a spec: YAML with places -> pydantic Spec -> semantic checks, every problem at once."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from .errors import Path, Problem, SpecError
from .load import Loaded, load_file, load_text
from .models import Spec

__all__ = ["Spec", "SpecError", "Problem", "Loaded", "parse", "load_spec", "load_spec_text"]


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path:
    """Turn a pydantic error location into a path through the user's data.

    pydantic puts union tags (`slack`, `str`, `function-after[...]`) into locations; those do not
    exist in the data and are dropped.
    """
    path: list[str | int] = []
    node = data
    for i, elem in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and isinstance(elem, str) and (elem in node or last):
            path.append(elem)
            node = node.get(elem)
        elif isinstance(node, list) and isinstance(elem, int):
            path.append(elem)
            node = node[elem] if 0 <= elem < len(node) else None
        elif isinstance(node, dict) and isinstance(elem, str) and elem.endswith("_") and elem[:-1] in node:
            path.append(elem[:-1])  # python names for `for`, `class`, `from`, `continue`
            node = node.get(elem[:-1])
    return tuple(path)


def _message(err: Any) -> str:
    kind = err["type"]
    msg: str = err["msg"]
    if kind == "extra_forbidden":
        return "unknown field (check its spelling; `obsgen schema` lists every field)"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        return f"unknown type {err.get('input')!r}; expected one of {err['ctx']['expected_tags']}"
    if kind == "union_tag_not_found":
        return "needs a `type` (slack, email, pagerduty, webhook, opsgenie, msteams)"
    if kind == "string_pattern_mismatch":
        pattern = err["ctx"]["pattern"]
        friendly = {
            r"^[a-z][a-z0-9-]{0,62}$": "lower-case letters, digits and dashes, starting with a letter",
            r"^[a-zA-Z_][a-zA-Z0-9_]*$": "a Prometheus label name (letters, digits, _)",
        }.get(pattern, f"must match {pattern}")
        return f"{err.get('input')!r} is not valid: {friendly}"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def parse(loaded: Loaded) -> Spec:
    """Validate loaded data into a Spec, or raise SpecError listing every problem with its place."""
    from .validate import check_spec

    # Values the loader refused (control characters) come first; other complaints about the same
    # value would only repeat them.
    early = list(loaded.problems)
    refused = {p.path for p in early}
    try:
        spec = Spec.model_validate(loaded.data)
    except ValidationError as e:
        problems = []
        seen = set()
        for err in e.errors(include_url=False):
            path = _data_path(loaded.data, err["loc"])
            msg = _message(err)
            if (path, msg) in seen or path in refused or (path[-1:] == ("[key]",) and path[:-1] in refused):
                continue
            seen.add((path, msg))
            problems.append(Problem(path, msg, loaded.mark_for(path)))
        raise SpecError(loaded.filename, early + problems) from None
    problems = early + [Problem(p, m, loaded.mark_for(p)) for p, m in check_spec(spec) if p not in refused]
    if problems:
        raise SpecError(loaded.filename, problems)
    return spec


def load_spec(path: str | FsPath) -> Spec:
    return parse(load_file(path))


def load_spec_text(text: str | bytes, filename: str = "<spec>") -> Spec:
    return parse(load_text(text, filename))
