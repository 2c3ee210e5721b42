"""A spec may be a folder: one project file and any number of files of `services`, merged in the order of
their paths; every message names the file, line and column it is about; each file has a spec file's limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, ROOT, obsgen

from obsgen.model import resolve
from obsgen.render import render_all
from obsgen.spec import SpecError, load_spec
from obsgen.spec import load as spec_load

LEDGER = ROOT / "tests/fixtures/specs/ledger.yaml"


def split(spec: Path, folder: Path, per_file: int = 1) -> Path:
    """The spec as a folder: the project settings in `project.yaml`, its services `per_file` to a file under
    nested folders, named so that their order is the spec's."""
    data = yaml.safe_load(spec.read_text())
    services = data.pop("services")
    folder.mkdir(parents=True)
    (folder / "project.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    for n, i in enumerate(range(0, len(services), per_file)):
        path = folder / "services" / f"team-{n // 2}" / f"{n:03d}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"services": services[i:i + per_file]}, sort_keys=False))
    return folder


@pytest.mark.parametrize("spec", [*EXAMPLES, LEDGER], ids=lambda p: p.stem)
def test_a_folder_renders_what_the_one_file_renders(spec: Path, tmp_path: Path) -> None:
    folder = split(spec, tmp_path / "spec", per_file=1 if spec.stem != "platform-four-services" else 2)
    assert render_all(resolve(load_spec(folder), spec.name)) == render_all(resolve(load_spec(spec), spec.name))


def test_the_order_is_the_files_paths_not_how_they_were_made(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    services = data.pop("services")
    orders = []
    for name, seq in (("a", services), ("b", services[::-1])):
        folder = tmp_path / name
        folder.mkdir()
        for svc in seq:  # created in another order each time
            (folder / f"svc-{svc['name']}.yaml").write_text(yaml.safe_dump({"services": [svc]}))
        (folder / "zz-project.yaml").write_text(yaml.safe_dump(data))
        (folder / ".hidden.yaml").write_text("not: [a spec")  # skipped, as are other names
        (folder / "notes.txt").write_text("services: 3")
        orders.append([s.name for s in load_spec(folder).services])
    assert orders[0] == orders[1] == sorted(s["name"] for s in services)


def _problems(folder: Path) -> list[str]:
    with pytest.raises(SpecError) as e:
        load_spec(folder)
    return e.value.lines()


def test_every_message_names_its_file_line_and_column(tmp_path: Path) -> None:
    folder = split(ROOT / "examples/quickstart.yaml", tmp_path / "spec")
    third = folder / "services/team-0/001.yml"
    text = third.read_text()
    third.write_text(text.replace("thresholds:", "thresholdz:", 1))
    project = folder / "project.yaml"
    assert "evaluation_interval: 15s" in project.read_text()
    project.write_text(project.read_text().replace("evaluation_interval: 15s", "evaluation_interval: 15 seconds"))
    lines = _problems(folder)
    line_no = next(i for i, line in enumerate(third.read_text().splitlines(), 1) if "thresholdz" in line)
    assert any(line.startswith(f"{third}:{line_no}:") and "services[1].thresholdz" in line for line in lines), lines
    assert any(line.startswith(f"{project}:") for line in lines), lines


def test_a_service_defined_in_two_files_is_one_error_naming_both(tmp_path: Path) -> None:
    folder = split(ROOT / "examples/quickstart.yaml", tmp_path / "spec")
    first = folder / "services/team-0/000.yml"
    again = folder / "services/team-9/copy.yml"
    again.parent.mkdir()
    again.write_text(first.read_text())
    (line,) = [x for x in _problems(folder) if "already" in x]
    assert line.startswith(f"{again}:2:") and f"({first} line 2)" in line, line


def test_the_same_bad_value_in_two_files_is_told_at_each_place(tmp_path: Path) -> None:
    # parsing and checks may remember a value (`10%`), never where it was written
    folder = split(ROOT / "examples/quickstart.yaml", tmp_path / "spec")
    places = []
    for name, pad in (("a.yaml", ""), ("b.yaml", "\n\n# the second\n")):
        path = folder / name
        path.write_text(f"{pad}services:\n- name: svc-{name[0]}\n  scrape: {{static: ['x:80']}}\n  thresholds:\n"
                        "  - indicator: latency_p95\n    warning: 10%\n")
        places.append(f"{path}:{pad.count(chr(10)) + 6}:14 ")
    lines = [x for x in _problems(folder) if "compares a duration" in x]
    assert len(lines) == 2 and all(x.startswith(p) for x, p in zip(lines, places, strict=True)), lines


def test_a_place_is_found_in_the_file_of_its_service(tmp_path: Path) -> None:
    # a service's places stay in its own file, by its index there: services of the project file come first,
    # a file without services holds none of the indexes
    folder = split(ROOT / "examples/quickstart.yaml", tmp_path / "spec")
    project = folder / "project.yaml"
    project.write_text(project.read_text() + "services:\n- name: first\n  scrape: {static: ['first:80']}\n")
    (folder / "a-none.yaml").write_text("services: []\n")
    last = sorted(folder.rglob("*.yml"))[-1]  # its one service is the last: one more than the quickstart's others
    last.write_text(last.read_text().replace("- name: ", "- thresholdz: 1\n  name: ", 1))
    n = len(load_spec(ROOT / "examples/quickstart.yaml").services)
    (line,) = [x for x in _problems(folder) if "thresholdz" in x]
    assert line.startswith(f"{last}:2:15 services[{n}].thresholdz"), line


@pytest.mark.parametrize("case, words", [
    ("empty", "holds no spec file"),
    ("no-project", "no file of the folder holds the project settings"),
    ("two-projects", "holds the project settings already"),
    ("not-a-list", "a list of services"),
    ("other-version", "differs from the project file's"),
    ("bad-yaml", "YAML syntax error"),
])
def test_a_folder_that_cannot_be_one_spec_is_refused_at_its_place(tmp_path: Path, case: str, words: str) -> None:
    folder = tmp_path / "spec"
    if case == "empty":
        folder.mkdir()
        (folder / "README.md").write_text("services:\n")
        bad = folder
    else:
        split(ROOT / "examples/quickstart.yaml", folder)
        bad = folder / "services/team-0/000.yml"
        if case == "no-project":
            (folder / "project.yaml").unlink()
            bad = folder
        elif case == "two-projects":
            bad = folder / "services/extra.yaml"
            bad.write_text((folder / "project.yaml").read_text())
        elif case == "not-a-list":
            bad.write_text("services: {name: x}\n")
        elif case == "other-version":
            bad.write_text("version: 2\n" + bad.read_text())
        else:
            bad.write_text("services: [\n")
    lines = _problems(folder)
    assert any(line.startswith(f"{bad}") and words in line for line in lines), lines


def test_each_file_has_the_size_limit_and_the_folder_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = split(ROOT / "examples/quickstart.yaml", tmp_path / "spec")
    big = folder / "services/big.yaml"
    big.write_text("services: []\n" + "#" * (spec_load.MAX_BYTES + 1) + "\n")
    (line,) = _problems(folder)
    assert line.startswith(f"{big}: the spec is") and "larger than 4 MiB are refused" in line
    big.unlink()
    monkeypatch.setattr(spec_load, "MAX_FOLDER_BYTES", 1_000)
    (line,) = _problems(folder)
    assert line.startswith(f"{folder}: the folder's spec files hold") and "refused" in line


def _services_files(n: int) -> list[dict[str, Any]]:
    return [{"services": [{"name": f"svc-{i}", "scrape": {"static": [f"svc-{i}:8080"]}}]} for i in range(n)]


def test_the_command_line_renders_a_folder_and_refuses_a_broken_one_writing_nothing(tmp_path: Path) -> None:
    folder = split(ROOT / "examples/quickstart.yaml", tmp_path / "spec")
    for i, doc in enumerate(_services_files(3)):
        (folder / f"extra-{i}.yaml").write_text(yaml.safe_dump(doc))
    proc = obsgen("render", str(folder), "-o", str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out/prometheus/rules/svc-2.yml").is_file()
    assert "Generated by obsgen from spec." in (tmp_path / "out/prometheus/prometheus.yml").read_text()
    (folder / "extra-1.yaml").write_text("services:\n  - name: svc-0\n")
    proc = obsgen("render", str(folder), "-o", str(tmp_path / "out2"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"{folder / 'extra-1.yaml'}:2:"), proc.stderr
    assert not (tmp_path / "out2").exists()
