"""A YAML emitter for the plain data renderers build (dicts, lists, str, int, float, bool, None).

PyYAML turns every value into a node object before its (C) emitter writes it; for a thousand services'
rules and tests that representation step was most of the render time. Plain data needs none of it:
this writes block YAML directly. A string is written plain only when PyYAML's own resolver (YAML 1.1)
and Go's yaml.v2 and yaml.v3 (every Go tool that reads these files: Prometheus, Alertmanager, Loki,
kustomize, kubectl) all read it back as that same string; otherwise it is quoted, or written as a literal
block when it spans lines. Characters YAML does not allow raw (DEL, C1 controls such as NEL, U+2028 and
U+2029, which some readers take for line breaks) only ever appear escaped in a double-quoted scalar.
Round-tripping through `yaml.safe_load` is tested on every rendered file.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import yaml

_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
# PyYAML's implicit resolvers are looked up by a scalar's first character: one starting with any other
# (and there are no resolvers for every character, nor path resolvers) is a string without asking it
_RESOLVED_FIRST = frozenset(_RESOLVER.yaml_implicit_resolvers)
_RESOLVE_EVERY = None in _RESOLVER.yaml_implicit_resolvers or bool(_RESOLVER.yaml_path_resolvers)
# characters that would start some other YAML construct, or end a plain scalar early
_BAD_FIRST = set(",[]{}#&*!|>'\"%@`")
_BAD_FIRST_ALONE = set("-?:")  # fine when a non-space follows: `-5m`, `--config.file=...`
# (a plain scalar must not hold ": " or " #", nor end in ":"; tabs are not printable, so never get here)

# Go's YAML resolvers (yaml.v3 resolve.go, and yaml.v2's YAML 1.1 booleans): a plain scalar starting with
# one of these may be read as something other than a string.
_GO_HINT = set("+-.0123456789yYnNtTfFoO~<")
_GO_WORDS = frozenset(
    "~ null Null NULL true True TRUE false False FALSE .nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf "
    "-.Inf -.INF << y Y yes Yes YES n N no No NO on On ON off Off OFF".split())
# strconv.ParseInt(s, 0, 64) once `_` are removed: decimal, 0x, 0o, 0b and a leading 0 (octal)
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")  # resolve.go's yamlStyleFloat
# yaml.v3 reads what follows 0b / 0o with ParseInt, which takes a sign
_GO_PREFIXED = re.compile(r"-?0[bo][-+]?[0-9]+")
_GO_TIMESTAMP = re.compile(r"[0-9]{4}-")  # resolve.go tries a timestamp only after four digits and a dash


def go_reads_non_string(text: str) -> bool:
    """Whether Go's yaml.v2 or yaml.v3 reads `text`, written as a plain scalar, as a null, bool, number or
    timestamp. Errs towards yes: a needlessly quoted string is still that string."""
    if not text or text[0] not in _GO_HINT:
        return False
    if text in _GO_WORDS:
        return True
    if text[0] == ".":
        return bool(re.fullmatch(r"\.[0-9_]*[0-9][0-9_]*(?:[eE][-+]?[0-9_]+)?", text))  # strconv.ParseFloat
    plain = text.replace("_", "")
    return bool(_GO_INT.fullmatch(plain) or _GO_FLOAT.fullmatch(plain) or _GO_PREFIXED.fullmatch(plain)
                or _GO_TIMESTAMP.match(text))


@lru_cache(maxsize=65536)
def scalar(text: str) -> str:
    """A one-line YAML scalar for a string (not a block): plain, single- or double-quoted."""
    if (
        text
        and text[0] not in _BAD_FIRST
        and not (text[0] in _BAD_FIRST_ALONE and (len(text) == 1 or text[1] == " "))
        and text == text.strip()
        and text.isprintable()
        and ": " not in text and text[-1] != ":" and " #" not in text
        and (text[0] not in _RESOLVED_FIRST and not _RESOLVE_EVERY
             or _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG)
        and not go_reads_non_string(text)
    ):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return '"' + "".join(_escape(c) for c in text) + '"'


# What YAML allows unescaped in a double-quoted scalar (its printable set, less line breaks).
_YAML_PRINTABLE = re.compile("[\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}


def _escape(c: str) -> str:
    if c in _ESCAPES:
        return _ESCAPES[c]
    if _YAML_PRINTABLE.match(c):
        return c
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def _literal_ok(text: str) -> bool:
    lines = text.split("\n")
    return (
        not text.startswith((" ", "\n"))
        and not text.endswith("\n\n")
        and all(line.isprintable() and line == line.rstrip() for line in lines)
    )


def _number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    # YAML 1.1 reads `1e-05` as a string: write `1.0e-05`, as PyYAML does
    return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text


def _inline(value: Any) -> str | None:
    """The value written on its key's line, or None when it needs lines of its own."""
    kind = type(value)  # exact types first: most values are strings, and this runs for every one
    if kind is str:
        return None if "\n" in value and _literal_ok(value) else scalar(value)
    if kind is dict or kind is list:
        return None if value else "{}" if kind is dict else "[]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        if "\n" in value and _literal_ok(value):
            return None
        return scalar(value)
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    if isinstance(value, (dict, list)):
        return None
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _block(text: str, indent: str) -> str:
    chomp = "" if text.endswith("\n") else "-"
    body = text[:-1] if text.endswith("\n") else text
    return f"|{chomp}\n" + "\n".join(indent + line if line else "" for line in body.split("\n"))


def _write(value: Any, indent: str, out: list[str], first: str | None = None) -> None:
    """Lines of a dict or list at `indent` (both non-empty); a dict's first line led by `first` instead
    (`- ` for a mapping in a list: "- first: 1" then the other keys under it). Hot: one call per mapping
    or list of ten thousand services' rules and tests, so the common values (exact str, non-empty dict
    and list) are handled here rather than through `_inline`, which the rest goes through."""
    append = out.append
    child = indent + "  "
    if type(value) is dict or isinstance(value, dict):
        lead = indent if first is None else first
        for key, item in value.items():
            if type(key) is not str and not isinstance(key, str):
                raise TypeError(f"mapping keys must be strings, got {type(key).__name__}")
            kind = type(item)
            if kind is str:
                if "\n" in item and _literal_ok(item):
                    append(f"{lead}{scalar(key)}: {_block(item, child)}")
                else:
                    append(f"{lead}{scalar(key)}: {scalar(item)}")
            elif kind is dict and item:
                append(f"{lead}{scalar(key)}:")
                _write(item, child, out)
            elif kind is list and item:  # a list under a key is indentless, as libyaml writes it
                append(f"{lead}{scalar(key)}:")
                _write(item, indent, out)
            else:
                inline = _inline(item)
                if inline is not None:
                    append(f"{lead}{scalar(key)}: {inline}")
                elif isinstance(item, str):
                    append(f"{lead}{scalar(key)}: {_block(item, child)}")
                else:
                    append(f"{lead}{scalar(key)}:")
                    _write(item, child if isinstance(item, dict) else indent, out)
            lead = indent
        return
    dash = indent + "- "
    for item in value:
        kind = type(item)
        if kind is str:
            if "\n" in item and _literal_ok(item):
                append(f"{dash}{_block(item, child)}")
            else:
                append(dash + scalar(item))
        elif kind is dict and item:
            _write(item, child, out, dash)
        else:
            inline = None if kind is list and item else _inline(item)
            if inline is not None:
                append(dash + inline)
            elif isinstance(item, str):
                append(f"{dash}{_block(item, child)}")
            elif isinstance(item, dict):
                _write(item, child, out, dash)
            else:  # a list in a list: its items under the dash's child indent
                append(f"{indent}-")
                _write(item, child, out)


def dump(data: dict[str, Any] | list[Any]) -> str:
    out: list[str] = []
    if isinstance(data, (dict, list)) and data:
        _write(data, "", out)
        return "\n".join(out) + "\n"
    inline = _inline(data)
    assert inline is not None
    return inline + "\n"
