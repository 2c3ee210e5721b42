"""Loading a spec: YAML with places -> pydantic Spec -> semantic checks, every problem at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path as FsPath
from typing import TypeVar

from pydantic import ValidationError

from .errors import Problem, SpecError, resolve_places
from .load import FileCache, Loaded, load_file, load_folder, load_text
from .models import Spec

T = TypeVar("T")

__all__ = ["Spec", "SpecError", "Problem", "Loaded", "FileCache", "parse", "load_spec", "load_spec_and", "load_spec_text"]


def parse(loaded: Loaded, notes: list[str] | None = None) -> Spec:
    """Validate loaded data into a Spec, or raise SpecError listing every problem with its place.

    What could not be checked (LogQL without node, say) is appended to `notes`, when given: it is not a
    problem of the spec, but not proven either (`obsgen validate --strict` fails on it)."""
    return _parse(loaded, notes, _nothing, 1)[0]


def _nothing(spec: Spec) -> None:
    return None


def _parse(loaded: Loaded, notes: list[str] | None, work: Callable[[Spec], T], processes: int) -> tuple[Spec, T]:
    """`parse`, and `work(spec)` once the spec is valid (run beside its checks, see beside.py, with `processes`
    above one)."""
    from .beside import checked_beside
    from .validate import check_spec

    # Values the loader refused (control characters) come first; other complaints about the same
    # value would only repeat them.
    early = list(loaded.problems)
    refused = {p.path for p in early}
    try:
        spec = Spec.model_validate(loaded.data)
    except ValidationError as e:
        from .messages import structural_problems  # only a spec with problems needs it

        # one sentence per problem (union branches merged), at most one per path; see messages.py
        problems = [Problem(path, msg, loaded.mark_for(path))
                    for path, msg in structural_problems(e.errors(include_url=False), loaded.data)
                    if path not in refused]
        raise SpecError(loaded.filename, early + problems) from None
    found, result = checked_beside(spec, notes, check_spec, work, processes)
    problems = early + [Problem(p, resolve_places(m, loaded.mark_for), loaded.mark_for(p))
                        for p, m in found if p not in refused]
    if problems:
        raise SpecError(loaded.filename, problems)
    return spec, result()


def load_spec(path: str | FsPath, notes: list[str] | None = None, cache: FileCache | None = None) -> Spec:
    """A spec file, or a spec folder (load.load_folder; `cache`: its files loaded before). Every file's data
    is validated, cached or not."""
    return load_spec_and(path, _nothing, notes, cache)[0]


def load_spec_and(path: str | FsPath, work: Callable[[Spec], T], notes: list[str] | None = None,
                  cache: FileCache | None = None, processes: int = 1) -> tuple[Spec, T]:
    """`load_spec`, and what `work` makes of the valid spec (its model): with `processes` above one, a large
    spec's checks run in another process meanwhile (beside.py)."""
    folder = FsPath(path).is_dir()
    # First without the places of the values, which only a problem's message needs: a spec with problems is
    # loaded again below with every place (and without the cache, whose files have none).
    found: list[str] = []
    try:
        loaded = load_folder(path, cache, places=False) if folder else load_file(path, places=False)
        spec, done = _parse(loaded, found, work, processes)
    except SpecError:
        pass
    else:
        if notes is not None:
            notes += found
        return spec, done
    spec = parse(load_folder(path) if folder else load_file(path), notes)
    return spec, work(spec)


def load_spec_text(text: str | bytes, filename: str = "<spec>", notes: list[str] | None = None) -> Spec:
    return parse(load_text(text, filename), notes)
