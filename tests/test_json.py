"""`dump_json` (pydantic's Rust serializer, for speed) writes what Python's json module writes: the same
bytes for strings, integers, booleans and nulls in any nesting, and floats that read back as the same
double (only the spelling of some exponents differs: `0.00001` for `1e-05`)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from obsgen.render.common import dump_json

leaves = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1), st.text())
floats = st.floats(allow_nan=False, allow_infinity=False)


def nested(scalars: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=30)


@settings(max_examples=300)
@given(nested(leaves))
def test_same_bytes_as_the_json_module(data: object) -> None:
    assert dump_json(data) == json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@settings(max_examples=300)
@given(nested(leaves | floats))
def test_reads_back_unchanged(data: object) -> None:
    text = dump_json(data)
    assert json.loads(text) == data
    assert text.count("\n") == json.dumps(data, indent=2).count("\n") + 1  # the same layout


def test_escapes_and_floats() -> None:
    text = "tab\t nl\n quote\" back\\ nul\x00 unit\x1f del\x7f é \u2028 😀"
    assert dump_json({"s": text}) == json.dumps({"s": text}, indent=2, ensure_ascii=False) + "\n"
    values = [1e-05, 1e16, 0.1 + 0.2, -0.0, 5e-324, 1.7976931348623157e308, 100.0, 0.5]
    assert json.loads(dump_json(values)) == values
    assert dump_json([0.5, 100.0, 0.001]) == "[\n  0.5,\n  100.0,\n  0.001\n]\n"
