"""A fluent.conf parser following Fluentd's own (lib/fluent/config/v1_parser.rb and literal_parser.rb):
sections, parameters, the three string forms and `#{...}` embedded Ruby.

Fluentd is a Ruby daemon obsgen cannot run, so `obsgen check` and the tests read generated configs back
with this the way Fluentd would: a value that escapes its quotes, an unbalanced section or a stray `#{`
shows up as a parse error or as a value that differs from what was rendered.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

SPACING = re.compile(r"(?:[ \t\r\n]|#.*?(?:\Z|[\r\n]))+")
LINE_END = re.compile(r"(?:[ \t]*(?:#.*)?(?:\Z|[\r\n]))+")
ELEMENT_NAME = re.compile(r"[a-zA-Z0-9_]+")
ESCAPES = {'"': '"', "'": "'", "r": "\r", "n": "\n", "t": "\t", "f": "\f", "b": "\b"}


class FluentConfError(ValueError):
    pass


@dataclass
class Element:
    name: str
    arg: str
    line: int
    attrs: dict[str, str] = field(default_factory=dict)
    elements: list[Element] = field(default_factory=list)
    embedded: dict[str, list[str]] = field(default_factory=dict)  # parameter -> Ruby code it embeds

    def all(self, name: str) -> list[Element]:
        return [e for e in self.elements if e.name == name]

    def walk(self) -> list[Element]:
        out = [self]
        for e in self.elements:
            out.extend(e.walk())
        return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.pos = 0

    def error(self, message: str) -> FluentConfError:
        line = self.s.count("\n", 0, self.pos) + 1
        return FluentConfError(f"line {line}: {message}")

    def skip(self, pattern: re.Pattern[str] | str) -> str | None:
        m = re.compile(pattern).match(self.s, self.pos) if isinstance(pattern, str) else pattern.match(
            self.s, self.pos)
        if m is None or (m.end() == self.pos and m.group(0) == ""):
            return None
        self.pos = m.end()
        return m.group(0)

    def eof(self) -> bool:
        return self.pos >= len(self.s)

    def line_end(self) -> bool:
        return self.eof() or self.skip(LINE_END) is not None

    def element(self, elem: Element, root: bool) -> Element:
        while True:
            self.skip(SPACING)
            if self.eof():
                if root:
                    return elem
                raise self.error(f"expected end tag </{elem.name}> but got end of file: "
                                 f"<{elem.name} {elem.arg}> opened at line {elem.line} is not closed")
            if self.skip(r"</"):
                name = self.skip(ELEMENT_NAME) or ""
                self.skip(SPACING)
                if not self.skip(r">") or not self.line_end():
                    raise self.error("malformed end tag")
                if root:
                    raise self.error(f"unmatched end tag </{name}>")
                if name != elem.name:
                    raise self.error(f"unmatched end tag </{name}>: <{elem.name} {elem.arg}> opened at line "
                                     f"{elem.line} is not closed")
                return elem
            if self.skip(r"<"):
                name = self.skip(ELEMENT_NAME) or ""
                self.skip(SPACING)
                arg = self.skip(r"[^ \t\r\n>]+") or ""  # `#` is literal here, as in Fluentd
                self.skip(SPACING)
                if not name or not self.skip(r">") or not self.line_end():
                    raise self.error(f"malformed tag <{name} {arg}")
                line = self.s.count("\n", 0, self.pos)
                elem.elements.append(self.element(Element(name, arg, line), root=False))
                continue
            key = self.string(SPACING)
            gap = self.skip(SPACING) or ""
            if "\n" in gap:  # a parameter without a value
                elem.attrs[key] = ""
                continue
            code: list[str] = []
            elem.attrs[key] = self.literal(code)
            if code:
                elem.embedded[key] = code
            if not self.line_end():
                raise self.error(f"expected end of line after {key}")

    def literal(self, code: list[str]) -> str:
        self.skip(r"[ \t]+")
        if self.s.startswith(("[", "{"), self.pos):
            try:
                value, end = json.JSONDecoder().raw_decode(self.s, self.pos)
            except json.JSONDecodeError as e:
                raise self.error(f"bad JSON value: {e.msg}") from None
            self.pos = end
            return json.dumps(value)
        return self.string(LINE_END, code)

    def string(self, boundary: re.Pattern[str], code: list[str] | None = None) -> str:
        if self.skip(r'"'):
            return self.double_quoted(code if code is not None else [])
        if self.skip(r"'"):
            return self.single_quoted()
        out: list[str] = []
        while not self.eof():
            end = boundary.match(self.s, self.pos)
            if self.s[self.pos] == "#":
                out.append("#")
                self.pos += 1
            elif end is not None and end.end() > self.pos:
                break
            else:
                out.append(self.s[self.pos])
                self.pos += 1
        if not out:
            raise self.error("expected a value")
        return "".join(out)

    def double_quoted(self, code: list[str]) -> str:
        out: list[str] = []
        while True:
            if self.eof() or self.s[self.pos] == "\n":
                raise self.error("unterminated double-quoted string")
            c = self.s[self.pos]
            if c == '"':
                self.pos += 1
                return "".join(out)
            if c == "\\":
                if self.pos + 1 >= len(self.s):
                    raise self.error("unterminated double-quoted string")
                e = self.s[self.pos + 1]
                if e.isalnum() and e not in ESCAPES:
                    raise self.error(f"unexpected back-slash escape character {e!r}")
                out.append(ESCAPES.get(e, e))
                self.pos += 2
            elif self.s.startswith("#{", self.pos):
                self.pos += 2
                snippet = self.ruby_code()
                code.append(snippet)
                out.append("#{" + snippet + "}")
            else:
                out.append(c)
                self.pos += 1

    def single_quoted(self) -> str:
        out: list[str] = []
        while True:
            if self.eof() or self.s[self.pos] == "\n":
                raise self.error("unterminated single-quoted string")
            if self.s[self.pos] == "'":
                self.pos += 1
                return "".join(out)
            if self.s.startswith(("\\'", "\\\\"), self.pos):
                out.append(self.s[self.pos + 1])
                self.pos += 2
            else:
                out.append(self.s[self.pos])
                self.pos += 1

    def ruby_code(self) -> str:
        """Ruby up to the `}` closing `#{` (string literals and nested braces skipped, as RubyLex does)."""
        start, depth = self.pos, 0
        while not self.eof():
            c = self.s[self.pos]
            if c in "'\"":
                self.pos = ruby_string_end(self.s, self.pos)
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                if depth == 0:
                    self.pos += 1
                    return self.s[start:self.pos - 1]
                depth -= 1
            self.pos += 1
        raise self.error("unterminated embedded Ruby code")


def ruby_string_end(text: str, pos: int) -> int:
    """Index after the Ruby string literal starting at `pos` (single- or double-quoted)."""
    quote, i = text[pos], pos + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == quote:
            return i + 1
        else:
            i += 1
    raise FluentConfError("unterminated Ruby string literal")


def ruby_single_quoted_value(literal: str) -> str:
    """The value of a Ruby single-quoted literal such as 'it\\'s'."""
    if len(literal) < 2 or literal[0] != "'" or literal[-1] != "'":
        raise FluentConfError(f"not a single-quoted Ruby literal: {literal}")
    return re.sub(r"\\([\\'])", r"\1", literal[1:-1])


def parse(text: str) -> Element:
    return _Parser(text).element(Element("ROOT", "", 0), root=True)


def tag_matches(pattern: str, tag: str) -> bool:
    """Fluentd's <match>/<filter> patterns: `*` one tag part, `**` zero or more, `{a,b}`, spaces = or."""
    return any(re.fullmatch(_glob(p), tag) for p in pattern.split())


def _glob(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            before, after = out.endswith(r"\."), pattern.startswith(".", i + 2)
            if before:  # `a.**` also matches `a`
                out = out[:-2] + r"(?:\..*)?"
            elif after:  # `**.b` also matches `b`
                out += r"(?:.*\.)?"
                i += 1
            else:
                out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += r"[^.]*"
            i += 1
        elif pattern[i] == "{":
            end = pattern.index("}", i)
            out += "(?:" + "|".join(_glob(p) for p in pattern[i + 1:end].split(",")) + ")"
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return out
