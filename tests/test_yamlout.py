"""The YAML emitter: whatever plain data it writes, YAML loaders read back unchanged."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from obsgen.render import yamlout

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.text(), st.sampled_from(["yes", "no", "on", "null", "~", "1e3", "0x1f", "-", "- a", "-5m", ": x", "a: b",
                                "a #b", "#c", "a:", "http://x:80", "1:20", "'q'", '"d"', "x\n", "a\nb\n", "\n", " lead", "trail ", "{{ $value }}",
                                "|", ">", "*a", "&a", "!t", "%x", "@x", "`x`", "5..", "1_000", ".inf", "=", "\u2028"]),
)
plain_data = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8) | st.sampled_from(["for", "on", "1"]), inner,
                                                 max_size=4)), max_leaves=25)


@given(st.dictionaries(st.text(max_size=8), plain_data, max_size=5))
def test_round_trips_through_pyyaml(data: dict) -> None:
    assert yaml.safe_load(yamlout.dump(data)) == data


@pytest.mark.parametrize("value", [1e-05, 1.5, float("inf"), float("-inf"), -0.0, 10**30, 0.1 + 0.2])
def test_numbers(value: float) -> None:
    assert yaml.safe_load(yamlout.dump({"k": value})) == {"k": value}


def test_nan() -> None:
    assert math.isnan(yaml.safe_load(yamlout.dump({"k": float("nan")}))["k"])


def test_multi_line_strings_are_literal_blocks() -> None:
    text = yamlout.dump({"rules": [{"expr": "sum(x)\n/\nsum(y)"}]})
    assert text == "rules:\n- expr: |-\n    sum(x)\n    /\n    sum(y)\n"


def test_refuses_what_is_not_plain_data() -> None:
    with pytest.raises(TypeError):
        yamlout.dump({"k": object()})
    with pytest.raises(TypeError):
        yamlout.dump({1: "x"})


# Strings Go's YAML (yaml.v3's resolve.go, yaml.v2's YAML 1.1 booleans) reads as numbers, bools or nulls
# when plain, strings that stay plain, and characters that are never written raw.
GO_NON_STRINGS = ["1e3", "0o17", "09", "0x1F", "1_000", "+1", ".5", "0b101", "on", "yes", "y", "n", "N", "Off",
                  "-0b1", "0b-1", "1.", "-.5e-3", "2024-01-01", "017", "0", "~", "<<", "1e+3", "+.inf"]
GO_STRINGS = ["5m", "30s", "1h30m", "100ms", "v1.2", "1e", "e3", "Infinity", "+Inf", "-5m", "1.2.3", "0x", "ok"]
UNSAFE_CHARS = ["a\x85b", "a\u2028b", "a\u2029b", "a\x7fb", "a\x9bb", "\ufeffa", "x\n\x85y", "x\ny\u2028"]


@pytest.mark.parametrize("text", GO_NON_STRINGS)
def test_what_go_reads_as_a_number_or_bool_is_quoted(text: str) -> None:
    assert yamlout.go_reads_non_string(text)
    assert yamlout.scalar(text)[0] in "'\""


@pytest.mark.parametrize("text", GO_STRINGS)
def test_durations_and_other_strings_stay_plain(text: str) -> None:
    assert not yamlout.go_reads_non_string(text)
    assert yamlout.scalar(text) == text


@pytest.mark.parametrize("text", UNSAFE_CHARS)
def test_line_breaks_and_controls_are_only_ever_escaped(text: str) -> None:
    written = yamlout.dump({"k": text})
    assert written.startswith('k: "') and written.isascii() or all(c.isprintable() for c in written[:-1])
    assert not any(c in written for c in "\x85\u2028\u2029\x7f\x9b\ufeff")
    assert yaml.safe_load(written) == {"k": text}


def test_go_tools_read_every_case_back_as_that_string(tmp_path) -> None:
    """kustomize (kyaml on yaml.v3, then sigs.k8s.io/yaml) rewrites what it reads: a plain `1e3` comes out
    as 1000. Every case in a ConfigMap's data must come out as the string it went in as. (Not the control
    characters: kustomize reads them escaped, then refuses DEL and C1 and writes NEL and U+2028 raw, which is
    why validation refuses them in names, paths and labels.)"""
    from conftest import require_tool, run

    kubectl = require_tool("kubectl")
    cases = [c for c in GO_NON_STRINGS + GO_STRINGS if c != "<<"]  # kustomize writes `<<` back plain
    data = {f"k{i}": text for i, text in enumerate(cases)}
    (tmp_path / "cm.yaml").write_text(yamlout.dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cases"}, "data": data}), "utf-8")
    (tmp_path / "kustomization.yaml").write_text(yamlout.dump({"resources": ["cm.yaml"]}))
    proc = run([kubectl, "kustomize", str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["data"] == data


# ---------------------------------------------------------------------------- the writer's shortcuts

def reference_write(value: Any, indent: str, out: list[str]) -> None:
    """The writer as it was: a mapping in a list written at its indent, then its first line rewritten."""
    append = out.append
    child = indent + "  "
    if isinstance(value, dict):
        for key, item in value.items():
            if type(key) is not str and not isinstance(key, str):
                raise TypeError(f"mapping keys must be strings, got {type(key).__name__}")
            lead = f"{indent}{yamlout.scalar(key)}:"
            kind = type(item)
            if kind is str:
                if "\n" in item and yamlout._literal_ok(item):
                    append(f"{lead} {yamlout._block(item, child)}")
                else:
                    append(f"{lead} {yamlout.scalar(item)}")
                continue
            if kind is dict and item:
                append(lead)
                reference_write(item, child, out)
                continue
            if kind is list and item:  # a list under a key is indentless, as libyaml writes it
                append(lead)
                reference_write(item, indent, out)
                continue
            inline = yamlout._inline(item)
            if inline is not None:
                append(f"{lead} {inline}")
            elif isinstance(item, str):
                append(f"{lead} {yamlout._block(item, child)}")
            elif isinstance(item, dict):
                append(lead)
                reference_write(item, child, out)
            else:
                append(lead)
                reference_write(item, indent, out)
        return
    for item in value:
        kind = type(item)
        if kind is str:
            if "\n" in item and yamlout._literal_ok(item):
                append(f"{indent}- {yamlout._block(item, child)}")
            else:
                append(f"{indent}- {yamlout.scalar(item)}")
            continue
        inline = None if (kind is dict or kind is list) and item else yamlout._inline(item)
        if inline is not None:
            append(f"{indent}- {inline}")
        elif isinstance(item, str):
            append(f"{indent}- {yamlout._block(item, child)}")
        elif isinstance(item, dict):  # "- first: 1" then the other keys under it
            first = len(out)
            reference_write(item, child, out)
            out[first] = f"{indent}- {out[first][len(child):]}"
        else:  # a list in a list: its items under the dash's child indent
            append(f"{indent}-")
            reference_write(item, child, out)


def reference_dump(data: Any) -> str:
    out: list[str] = []
    if isinstance(data, (dict, list)) and data:
        reference_write(data, "", out)
        return "\n".join(out) + "\n"
    return yamlout._inline(data) + "\n"


class Sub(dict):  # subclasses take the general path
    pass


class SubList(list):
    pass


class SubStr(str):
    __slots__ = ()


@given(st.dictionaries(st.text(max_size=8), plain_data, max_size=5) | st.lists(plain_data, max_size=5))
def test_writes_what_the_plain_writer_wrote(data: Any) -> None:
    """The writer (a mapping in a list led by its dash, the common shapes first) writes the bytes of the one
    it replaced (a mapping in a list written at its indent, then its first line rewritten)."""
    assert yamlout.dump(data) == reference_dump(data)


@pytest.mark.parametrize("data", [
    [{"a": 1}, [{"b": [{"c": {"d": "x\ny"}}]}], [[]], [{}], {}, "s", None, [[["deep"]]]],
    {"k": [{"first": [], "second": {}, "third": "multi\nline\n", "4": [{"x": "é\u2028"}]}]},
    {"sub": Sub(a=Sub(b=SubList([Sub(c=SubStr("v")), SubStr("w\nz")]))), "e": Sub(), "l": SubList()},
    [Sub(x=1, y=[Sub(z="q: r")]), SubList([SubList([1]), Sub()])],
    {"rules": [{"alert": "A", "expr": "sum(x)\n/\nsum(y)", "labels": {"severity": "critical"}}]},
])
def test_writes_nested_and_subclassed_shapes_as_the_plain_writer(data: Any) -> None:
    assert yamlout.dump(data) == reference_dump(data)
