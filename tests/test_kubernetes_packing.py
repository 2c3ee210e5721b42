"""The packing of kubernetes/ at scale: what it writes its own way (long lists of objects, files of known
size, texts too long to measure whole) is what the general path writes, byte for byte."""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from test_parallel_render import many_services

from obsgen.render import kubernetes, yamlout
from obsgen.render.common import dump_yaml

# values yamlout quotes, writes as blocks, or reads as other types; and plain ones
ODD = ["yes", "true", "Null", "0x1f", "1e3", "a: b", "x #y", "-", "- x", "", " lead", "it's", "a\nb", "a\nb\n",
       "line\n\nafter\n", "\u2028", "caf\u00e9-dashboard", "~", "<<", "=", "2024-01-01", ".inf", "svc-0001.json",
       "falsey", "config/grafana/dashboards/svc-0001.json", "a=b", "x" * 300, "/var/log/svc-0001", "/", "/a b",
       "/x:", "Directory", "logs-12"]


def _value(rng: random.Random) -> Any:
    return rng.choice([*ODD, *ODD, 7, True, False, None, 1.5, {}, [], {"k": "v"}, ["a", "b"], [["x"]]])


def _item(rng: random.Random) -> dict[str, Any]:
    """An item of one of the shapes `_long_list` formats, some of whose values are odd, or of another shape."""
    shape = rng.randrange(5)
    if shape == 0:
        return {"name": rng.choice(ODD), "files": [rng.choice(ODD) for _ in range(rng.randint(0, 3))]}
    if shape == 1:
        return {"configMap": {"name": rng.choice(ODD)} if rng.random() < 0.8 else _value(rng)}
    if shape == 2:
        return {"name": rng.choice(ODD), "hostPath": {"path": rng.choice(ODD), "type": _value(rng)}}
    if shape == 3:
        return {"name": rng.choice(ODD), "mountPath": rng.choice(ODD), "readOnly": rng.choice([True, False, "true"])}
    return {rng.choice(ODD) or "k": _value(rng) for _ in range(rng.randint(1, 3))}


def test_long_lists_are_written_as_the_general_emitter_writes_them() -> None:
    rng = random.Random("long-lists")
    for _ in range(300):
        items = [_item(rng) for _ in range(kubernetes.LONG_LIST + rng.randint(0, 5))]
        short = [_item(rng) for _ in range(3)]
        # at the top, under a mapping, as the first key of a mapping in a list, and deeper still
        data = rng.choice([
            {"configMapGenerator": items, "resources": ["a.yaml"]},
            {"kind": "x", "spec": {"volumes": items, "other": short}},
            {"list": [{"sources": items, "after": 1}, {"k": [{"deep": {"sources": items}}]}]},
            {"a": {"b": [{"c": items}], "d": items}},
        ])
        assert kubernetes.dump_objects(data) == dump_yaml(data)


def test_a_string_like_the_stand_in_is_no_place_for_a_long_list() -> None:
    items = [{"configMap": {"name": f"cm-{i}"}} for i in range(kubernetes.LONG_LIST)]
    data = {"note": f"{kubernetes._SPLICE}0", "sources": items, "copy": {"x": f"{kubernetes._SPLICE}0"}}
    assert kubernetes.dump_objects(data) == dump_yaml(data)


def test_what_is_written_plain_without_asking_yamlout_is_what_yamlout_writes_plain() -> None:
    rng = random.Random("plain")
    alphabet = string.ascii_letters + string.digits + "._/=-"
    for _ in range(20000):
        text = rng.choice(string.ascii_letters) + "".join(rng.choice(alphabet) for _ in range(rng.randint(5, 12)))
        path = "/" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert kubernetes._PLAIN(text) and kubernetes._PLAIN(path)
        assert yamlout.scalar.__wrapped__(path) == path, path
        assert yamlout.scalar.__wrapped__(text) == text, text
    for word in ["false", "FALSE", "Null", "yes", "on", "off", "true", "y", "n", "no"]:  # too short to pass
        assert not kubernetes._PLAIN(word)


class Staged(dict[str, str]):
    """Files as the staging holds them: their shas known without reading, each text read counted."""

    def __init__(self, files: Mapping[str, str]) -> None:
        super().__init__(files)
        self.read: list[str] = []

    def __getitem__(self, path: str) -> str:
        self.read.append(path)
        return super().__getitem__(path)

    def sha(self, path: str) -> str:
        return hashlib.sha256(dict.__getitem__(self, path).encode()).hexdigest()


@pytest.fixture(scope="module")
def rendered() -> tuple[Any, dict[str, str]]:
    from obsgen.render import render_all

    model = many_services(40, ("kubernetes",))
    files = render_all(model)
    return model, {p: t for p, t in files.items() if not p.startswith("kubernetes/")}


def test_files_of_known_size_are_packed_unread_as_the_measured_are(rendered: tuple[Any, dict[str, str]]) -> None:
    model, files = rendered
    plain = kubernetes.render(model, files)  # no shas: every text measured
    staged = Staged(files)
    packed = {p for p in files if p.startswith(kubernetes.PACKED)}
    sizes = {staged.sha(p): kubernetes.apply_size(files[p]) for p in packed}
    model.memo[kubernetes.SIZES] = dict(sizes)
    own, copies = kubernetes.package(model, staged)
    assert {**own, **{p: files[s] for p, s in copies.items()}} == plain
    overview = "grafana/dashboards/_overview.json"
    assert any(kubernetes.PART in p for p in own)  # the overview in parts: read, its size known or not
    assert set(staged.read) & packed == {overview}
    # unknown sizes are measured and kept by sha; the overview's, from its parts, is its apply_size
    model.memo[kubernetes.SIZES] = {}
    kubernetes.package(model, Staged(files))
    assert model.memo[kubernetes.SIZES] == {staged.sha(p): kubernetes.apply_size(files[p]) for p in files
                                            if staged.sha(p) in model.memo[kubernetes.SIZES]}
    assert model.memo[kubernetes.SIZES].items() >= sizes.items()


def test_a_text_too_long_for_a_configmap_is_not_measured_whole(rendered: tuple[Any, dict[str, str]],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    model, files = rendered
    overview = files["grafana/dashboards/_overview.json"]
    assert len(overview) > kubernetes.CONFIGMAP_DATA_BUDGET
    measured: list[int] = []
    real = kubernetes.apply_size
    monkeypatch.setattr(kubernetes, "apply_size", lambda text: measured.append(len(text)) or real(text))
    model.memo[kubernetes.SIZES] = {}
    own, _ = kubernetes.package(model, Staged(files))
    assert measured and max(measured) <= kubernetes.CONFIGMAP_DATA_BUDGET  # parts and lines, never all of it
    parts = [t for p, t in sorted(own.items()) if p.startswith("kubernetes/config/grafana/dashboards/_overview")]
    assert "".join(parts) == overview


def test_the_kustomization_reads_back_as_its_data(rendered: tuple[Any, dict[str, str]]) -> None:
    model, files = rendered
    k = kubernetes.Kustomization(model, files)
    out = k.files()
    text = out["kubernetes/kustomization.yaml"]
    assert len(k.generators) >= kubernetes.LONG_LIST  # written by `_long_list`
    assert yaml.safe_load(text) == k.kustomization()
    assert text.endswith(dump_yaml(k.kustomization()))


def test_the_cut_guessed_from_the_last_parts_escapes_is_the_cut_line_by_line() -> None:
    """Each part's end is guessed from the density of escapes in the part before (one measure per part, not
    two): wherever that density changes, the parts are those of the plain line-by-line cut."""
    rng = random.Random("guessed-cut")
    plain, escaped = ["abc", "0.99", " " * 8, "x" * 40], ['"', "<", "&", "\\", '"expr": "a"', "\x01"]
    for _ in range(400):
        lines = []
        for _ in range(rng.randint(1, 12)):  # stretches of lines, some with many escapes, some with none
            words = rng.choice([plain, escaped, plain + escaped])
            lines += ["".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(1, 40))]
        text = "\n".join(lines) + rng.choice(["", "\n"])
        budget = rng.randint(200, 3000)
        if max(kubernetes.apply_size(line + "\n") for line in lines) > budget:
            continue
        assert kubernetes.sized_parts(text, budget) == kubernetes._parts_by_line(text, budget)
