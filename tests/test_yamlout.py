"""The YAML emitter: whatever plain data it writes, YAML loaders read back unchanged."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from obsgen.render import yamlout

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.text(), st.sampled_from(["yes", "no", "on", "null", "~", "1e3", "0x1f", "-", "- a", "-5m", ": x", "a: b",
                                "a #b", "#c", "'q'", '"d"', "x\n", "a\nb\n", "\n", " lead", "trail ", "{{ $value }}",
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
