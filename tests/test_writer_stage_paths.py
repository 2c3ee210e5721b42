"""A Stage over an earlier output checks a path the manifest does not list as `write` does; the listed ones
were checked when the manifest was read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from obsgen.write import MANIFEST, stage, write


@pytest.mark.parametrize("path", ["../x.yml", "/abs.yml", "a/./b.yml", "a\\b.yml", MANIFEST, "a//b.yml"])
def test_a_stage_in_place_refuses_a_generated_path_outside_the_normal_form(tmp_path: Path, path: str) -> None:
    out = tmp_path / "out"
    write({"a/b.yml": "1\n", "c.yml": "2\n"}, out, "s")
    with pytest.raises(ValueError, match="generated path"), stage(out) as st:
        assert st.in_place
        st.put({"a/b.yml": "1\n"})  # listed: taken as it is
        st.put({path: "x\n"})
    assert (out / "a/b.yml").read_text() == "1\n" and not (tmp_path / "x.yml").exists()


def test_a_stage_in_place_takes_the_listed_paths(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write({"a/b.yml": "1\n", "c.yml": "2\n"}, out, "s")
    with stage(out) as st:
        st.put({"a/b.yml": "1\n", "c.yml": "3\n", "d/e.yml": "4\n"})
        changes = st.commit("s", None)
    assert (changes.unchanged, changes.changed, changes.added) == (["a/b.yml"], ["c.yml"], ["d/e.yml"])
    assert (out / "c.yml").read_text() == "3\n" and (out / "d/e.yml").read_text() == "4\n"


@pytest.mark.parametrize("fresh", [True, False], ids=["new-tree", "in-place"])
def test_a_staged_text_is_its_utf8_bytes_under_its_sha(tmp_path: Path, fresh: bool) -> None:
    out = tmp_path / "out"
    if not fresh:
        write({"a.yml": "old\n"}, out, "s")
    texts = {"a.yml": "naïve ✓ \u2028 line\r\nnext\n", "b/c.json": "{}\n" * 1000}
    with stage(out) as st:
        st.put(texts)
        st.commit("s", None)
    listed = json.loads((out / MANIFEST).read_text())["files"]
    for path, text in texts.items():
        data = (out / path).read_bytes()
        assert data == text.encode("utf-8")
        assert listed[path] == hashlib.sha256(data).hexdigest()
