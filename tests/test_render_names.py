"""The quick forms of small functions called once per service's file: the same answers as the plain ones
they stand for, over many strings of the characters that matter to them."""

from __future__ import annotations

import posixpath
import random
import re

from obsgen.render.fluentd import fluent_string
from obsgen.render.kubernetes import dns_name


def _strings(alphabet: str, seed: int, n: int = 20_000) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(n)]


def test_dns_name_takes_the_stem_posixpath_takes() -> None:
    def plain(path: str) -> str:
        stem = posixpath.splitext(posixpath.basename(path))[0]
        return stem.replace("_", "0-", 1) if stem.startswith("_") else stem.replace("_", "-")

    for path in [*_strings("ab._/", 1), "prometheus/rules/svc.yml", "grafana/dashboards/_overview.json",
                 ".hidden", "a/..", "a/.b.yml", "x.test.yml", "..."]:
        assert dns_name(path) == plain(path), path


def test_fluent_string_escapes_as_the_plain_substitution_does() -> None:
    def plain(value: str) -> str:
        escaped = re.sub(r'([\\"#])', r"\\\1", value)
        return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'

    for value in [*_strings('ab\\"#\n\r\t {}$', 2), "", "/var/log/app/*.log", "#{`id`}"]:
        assert fluent_string(value) == plain(value), repr(value)
