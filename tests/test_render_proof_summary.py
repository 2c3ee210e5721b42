"""The render's proof summary is read from the head of proof/alerts.json where the files are staged (the
file is a hundred MB at 10,000 services), and from the whole text where that head does not hold it."""

from __future__ import annotations

import json

import pytest

from obsgen import cli
from obsgen.render import Staged
from obsgen.render.proof import PATH

COUNTS = {"alerts": 3, "proven": 2, "accepted": 0, "unproven": 1}


class _Sink:
    def __init__(self, text: str) -> None:
        self.text = text
        self.reads: list[int | None] = []

    def put(self, files: object) -> None: ...

    def copy(self, path: str, source: str) -> None: ...

    def sha(self, path: str) -> str:
        return ""

    def read(self, path: str, limit: int | None = None) -> str:
        self.reads.append(limit)
        return self.text if limit is None else self.text[:limit]


def _report(alerts: int) -> str:
    return json.dumps({"summary": COUNTS, "alerts": [{"alert": f"A{i}", "proven": True} for i in range(alerts)]},
                      indent=2) + "\n"


def test_the_summary_is_read_from_the_head_only() -> None:
    sink = _Sink(_report(10_000))
    assert cli._proof_summary(Staged(sink, {PATH: None})) == COUNTS
    assert sink.reads == [cli.SUMMARY_HEAD]


def test_a_head_that_does_not_hold_the_summary_falls_back_to_the_whole_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "SUMMARY_HEAD", 20)  # within the summary's braces
    sink = _Sink(_report(3))
    assert cli._proof_summary(Staged(sink, {PATH: None})) == COUNTS
    assert sink.reads == [20, None]


def test_no_proof_file_no_summary() -> None:
    assert cli._proof_summary(Staged(_Sink(""), {"other.yml": None})) is None
    assert cli._proof_summary({PATH: _report(2)}) == COUNTS
