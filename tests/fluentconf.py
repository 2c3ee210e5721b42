"""The fluent.conf parser the tests read generated configs back with; it lives in obsgen.fluentconf,
which `obsgen check` uses too."""

from obsgen.fluentconf import (
    Element,
    FluentConfError,
    parse,
    ruby_single_quoted_value,
    ruby_string_end,
    tag_matches,
)

__all__ = ["Element", "FluentConfError", "parse", "ruby_single_quoted_value", "ruby_string_end", "tag_matches"]
