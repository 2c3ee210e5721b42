"""validate.check_spec finds the same problems, in the same order, with the same messages and paths, as the
check recorded in tests/fixtures/validate/problems.json.gz: seeded mutants of the example and fixture specs,
and per spec one spec of many services, each a renamed copy of a mutant's (so that what check_spec works out
once for values many services share is seen to differ where their values differ).

The record is of the check before its per-spec memos and fast paths; `python tests/test_validate_same_problems.py
--write` writes it again, which is only right when a problem is meant to change (review the difference).
"""

from __future__ import annotations

import gzip
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import fuzzing
from pydantic import ValidationError

from obsgen.spec import Spec
from obsgen.spec.validate import check_spec

RECORD = Path(__file__).parent / "fixtures" / "validate" / "problems.json.gz"
SEED = "same-problems"
PER_SPEC = 60
MERGED = 40  # mutants whose services one spec holds


def _spec(data: Any) -> Spec | None:
    try:
        return Spec.model_validate(data)
    except ValidationError:
        return None  # refused before check_spec sees it


def _merged(source: Any, mutants: list[fuzzing.Mutant]) -> Any:
    """The spec `source` with, after its own services, those of every mutant pydantic accepts, each renamed
    after its mutant."""
    data = fuzzing.load_yaml(fuzzing.dump(source))
    services = list(data.get("services") or [])
    for k, m in enumerate(mutants):
        mdata = fuzzing.load_yaml(m.text)
        if _spec(mdata) is None:
            continue
        for svc in mdata["services"]:
            if isinstance(svc, dict) and isinstance(svc.get("name"), str):
                svc = {**svc, "name": f"{svc['name']}-m{k}"}
            services.append(svc)
    data["services"] = services
    return data


def cases() -> dict[str, Any]:
    """Case name -> spec data: the mutants, and the merged spec of each spec."""
    out: dict[str, Any] = {}
    for path in fuzzing.fuzz_specs():
        source = fuzzing.load_yaml(path.read_text("utf-8"))
        mutants = fuzzing.mutants(path, PER_SPEC, SEED)
        for m in mutants:
            out[m.id] = fuzzing.load_yaml(m.text)
        out[f"{path.stem}#merged"] = _merged(source, mutants[:MERGED])
        for block in ("slos", "thresholds"):  # each field of these, changed in one copy of many alike
            changed = fuzzing.mutants(path, MERGED, SEED, where=lambda p, b=block: p[:1] == ("services",)
                                      and len(p) > 3 and p[2] == b)
            out[f"{path.stem}#{block}"] = _merged(source, changed)
    return out


def problems() -> dict[str, list[list[Any]] | None]:
    """Case name -> its problems as [path, message] (None: the spec does not get past pydantic)."""
    out: dict[str, list[list[Any]] | None] = {}
    for name, data in cases().items():
        spec = _spec(data)
        out[name] = None if spec is None else [[list(p), m] for p, m in check_spec(spec, [])]
    return out


def _read() -> dict[str, Any]:
    with gzip.open(RECORD, "rt", encoding="utf-8") as f:
        return dict(json.load(f))


def test_the_record_covers_many_problems() -> None:
    record = _read()
    checked = [v for v in record.values() if v is not None]
    assert len(checked) >= 300
    assert sum(bool(v) for v in checked) >= 100  # mutants check_spec refuses
    assert sum(len(v) for v in checked) >= 1000
    merged = [v for k, v in record.items() if k.rsplit("#", 1)[1] in ("merged", "slos", "thresholds")]
    assert len(merged) >= 24 and sum(bool(v) for v in merged) >= 20


def test_check_spec_finds_the_recorded_problems() -> None:
    record = _read()
    found = problems()
    assert sorted(found) == sorted(record)
    differ = [name for name in record if found[name] != record[name]]
    assert not differ, (f"{len(differ)} cases differ, e.g. {differ[0]}: "
                        f"{found[differ[0]]!r} != {record[differ[0]]!r}")


def test_camel_case_is_the_alert_name_pattern() -> None:
    from obsgen.naming import CAMEL_CASE_RE  # (here: the record is written with the check before it)
    from obsgen.spec.models import ALERT_NAME_RE

    # every string of up to 6 of these characters: capitals, small letters, digits, and what either refuses
    alphabet = "Aa0Z9z-_\nÉ "
    strings = ["".join(p) for n in range(6) for p in itertools.product(alphabet, repeat=n)]
    differ = [s for s in strings if bool(CAMEL_CASE_RE.match(s)) != bool(ALERT_NAME_RE.match(s))]
    assert not differ, differ[:10]
    assert sum(bool(CAMEL_CASE_RE.match(s)) for s in strings) > 1000


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(problems(), ensure_ascii=False, sort_keys=True, indent=0)
    RECORD.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
