"""The obsgen command line. Thin: parse arguments, call the pipeline, print, choose the exit code.

Exit codes: 0 ok; 1 stale output (`render --check`), differences (`diff`) or a failed validator (`check`);
2 invalid spec or unusable output folder. Bad input never shows a traceback.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

# obsgen uses no pydantic plugins; not scanning every installed package for them keeps start-up short
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer  # noqa: E402  (after the setting above: typer imports pydantic)

from . import __version__

if TYPE_CHECKING:  # imported lazily at run time: `--help` and `validate` stay fast
    from rich.console import Console

    from .model import Model
    from .spec import FileCache, Spec
    from .write import Changes, Recorded

app = typer.Typer(
    name="obsgen",
    help="One declarative spec in, a validated monitoring stack out.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

SpecArg = Annotated[Path, typer.Argument(help="The spec file.", show_default=True)]
OutOpt = Annotated[Path, typer.Option("--output", "-o", help="Output folder.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only problems.")]
SUMMARY_HEAD = 1 << 16  # characters of proof/alerts.json read for its summary (else it is read whole)

def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    # colour only on a terminal; rich decides from isatty and NO_COLOR
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _fail(lines: list[str], code: int = 2) -> NoReturn:
    err = _console(stderr=True)
    for line in lines:
        err.print(line, markup=False)
    raise typer.Exit(code)


def _load(spec_path: Path, strict: bool = False, notes: list[str] | None = None) -> Model:
    """Spec -> Model, or exit 2 listing every problem. What validation could not check is printed as a
    warning on stderr (and added to `notes`); with `strict` it is a failure too (exit 2)."""
    return _load_spec(spec_path, strict, notes)[1]


def _load_spec(spec_path: Path, strict: bool = False, notes: list[str] | None = None,
               cache: FileCache | None = None) -> tuple[Spec, Model]:
    from .model import resolve
    from .spec import SpecError, load_spec_and

    notes = notes if notes is not None else []
    processes = _processes()
    if spec_path.is_dir():  # its files parsed side by side first, into a cache (of this run only, if none)
        from .spec import FileCache
        from .spec.prefill import prefill

        cache = cache if cache is not None else FileCache("")
        prefill(cache, spec_path, processes)
    try:  # a large spec's model is resolved while another process checks it
        spec, model = load_spec_and(spec_path, lambda s: resolve(s, spec_path.name), notes, cache, processes)
    except SpecError as e:
        n = len(e.problems)
        _fail([f"warning: {note}" for note in notes] + e.lines()
              + [f"{n} problem{'s' if n != 1 else ''} in {spec_path}"])
    warnings = [f"warning: {note}" for note in notes]
    if warnings and strict:
        n = len(warnings)
        _fail(warnings + [f"{n} warning{'s' if n != 1 else ''} in {spec_path}, which --strict does not accept"])
    for line in warnings:
        print(line, file=sys.stderr)
    return spec, model


def _render(spec_path: Path) -> tuple[Model, dict[str, str]]:
    from .render import JobsError, render_all

    model = _load(spec_path)
    try:
        return model, render_all(model)
    except JobsError as e:
        _fail([f"obsgen: {e}"])


@app.callback(invoke_without_command=True)
def main_callback(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        print(f"obsgen {__version__}")
        raise typer.Exit(0)


@app.command()
def init(path: Annotated[Path, typer.Argument(help="Where to write the starter spec.")] = Path("obsgen.yaml"),
         force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False) -> None:
    """Write a commented starter spec."""
    from importlib.resources import files

    if path.exists() and not force:
        _fail([f"{path} exists; pass --force to overwrite it"])
    text = files("obsgen.templates").joinpath("starter.yaml").read_text("utf-8")
    try:
        path.write_text(text, "utf-8")
    except OSError as e:
        _fail([f"obsgen: cannot write {path}: {e.strerror or e}"])
    print(f"wrote {path}; next: obsgen render {path}")


@app.command()
def validate(spec: SpecArg = Path("obsgen.yaml"), quiet: QuietOpt = False,
             strict: Annotated[bool, typer.Option(
                 "--strict", help="Also fail (exit 2) on a warning: an expression that could not be checked.")
             ] = False) -> None:
    """Load and check the spec; print every problem at once."""
    model = _load(spec, strict)
    if not quiet:
        n = len(model.services)
        print(f"{spec}: valid ({n} service{'s' if n != 1 else ''})")


@app.command()
def render(
    spec: SpecArg = Path("obsgen.yaml"),
    output: OutOpt = Path("out"),
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if the output is stale.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Validate, render and write the monitoring stack."""
    from . import digest
    from .progress import Progress, wanted
    from .render import STEPS
    from .write import WriteError, recorded, recover

    try:
        # What the output was rendered from, beside it: when the spec's bytes and obsgen are the same, the
        # output is what they render, and only the files on disk need comparing with the manifest.
        source = digest.source_digest(spec, spec.name)
        before = recorded(output)
    except (OSError, ValueError, WriteError):  # an unreadable spec (a NUL in its name) or output: the full path below says why
        source, before = "", None
    if before is not None and before.inputs.get("source") == source:
        for note in before.inputs.get("warnings", []):
            print(f"warning: {note}", file=sys.stderr)
        if check or not before.changes.stale:
            if before.litter and not check:  # a run stopped while staging (its tree is not the output)
                try:
                    recover(output)
                except (OSError, WriteError) as e:
                    _fail([f"obsgen: {e}"])
            _done(spec, output, check, quiet, before.files, before.changes, before.inputs.get("summary"))
            return
    with Progress("obsgen render", STEPS + 2, wanted(quiet)) as progress:
        files, changes, summary = _render_and_write(spec, output, check, source, before, progress.step)
    _done(spec, output, check, quiet, files, changes, summary)


def _processes() -> int:
    """How many processes loading may use (as many as render may); a wrong OBSGEN_JOBS is said by the
    render, after the spec's own problems."""
    from .forking import JobsError, jobs

    try:
        return jobs()
    except JobsError:
        return 1


def _render_and_write(spec: Path, output: Path, check: bool, source: str, before: Recorded | None,
                      step: Callable[[str], None]) -> tuple[Mapping[str, str], Changes, dict[str, int] | None]:
    from . import digest
    from .render import JobsError, own_files, render_all, render_into
    from .render.parts import Record
    from .spec import FileCache
    from .write import ON_DISK, WriteError, plan, read_kept, read_spec_cache, stage, write_spec_cache

    step("loading the spec")
    notes: list[str] = []
    files_cache = FileCache(digest.code_digest(), read_spec_cache(output)) if spec.is_dir() else None
    spec_data, model = _load_spec(spec, notes=notes, cache=files_cache)
    digests = digest.digests(spec_data, model.source, source)
    kept: dict[str, str] = {}
    record = Record()
    own_kept: list[str] = []  # the own files of the services whose digest is the one recorded
    if before is not None:
        # the own files of the services whose digest is the one recorded are kept, not rendered again, and
        # so are their parts of the aggregate files (at the spans recorded for those files' texts)
        recorded_digests = {name: d for name, d in before.inputs.get("services", [])}
        same = {name for name, d in digests.services if recorded_digests.get(name) == d}
        spans = before.inputs.get("parts")
        spans = spans if isinstance(spans, dict) else {}
        joined = list(spans) if same else []
        own_kept = [p for svc in model.services if svc.name in same for p in own_files(svc) if p in before.files]
        if check:  # a check reads the kept texts and the joined files' (their parts are cut from them)
            try:
                texts = read_kept(output, before, own_kept + joined)
            except (OSError, WriteError):
                texts = {}
            for path in joined:
                text = texts.pop(path, None)
                if text is not None:
                    record.keep(path, text, spans[path], same, before.files[path])
            kept = texts
        else:  # a render reads the joined files where it joins them (from the stage: `Stage.read_held`)
            for path in joined:
                if path in before.files:
                    record.keep_later(path, spans[path], same, before.files[path])
        record.keep_sizes(before.inputs.get("sizes"))
    try:
        if check:
            files: Mapping[str, str] = render_all(model, kept, step, record)
            step("comparing")
            changes = plan(dict(files), output)
            summary = _proof_summary(files)
        else:
            # staged as they are rendered, under the output's lock, and committed at the end
            with stage(output, seen=before) as sink:
                if before is not None:  # the kept files the output still holds stay there, never read
                    kept = dict.fromkeys(sink.intact({p: before.files[p] for p in own_kept}), ON_DISK)
                files = render_into(sink, model, kept, step, record)
                step("writing")
                summary = _proof_summary(files)
                inputs = {"source": source, "global": digests.global_,
                          "services": [list(s) for s in digests.services],
                          "warnings": notes, "summary": summary, "parts": record.made,
                          "sizes": record.made_sizes}
                changes = sink.commit(spec.name, inputs if source else None)
    except JobsError as e:
        _fail([f"obsgen: {e}"])
    except WriteError as e:
        _fail([f"obsgen: {e}"])
    except OSError as e:
        _fail([f"obsgen: cannot write {output}: {e.strerror or e}"])
    if files_cache is not None and not check and files_cache.new != files_cache.old:
        write_spec_cache(output, files_cache.new)
    return files, changes, summary


def _done(spec: Path, output: Path, check: bool, quiet: bool, files: Mapping[str, str], changes: Changes,
          summary: dict[str, int] | None) -> None:
    """Report a render or check: the stale files (exit 1) or the summary table."""
    if check:
        if changes.stale:
            lines = [f"{output} is stale; run: obsgen render {spec} -o {output}"]
            lines += [f"  {kind}: {p}" for kind, paths in
                      (("missing", changes.added), ("differs", changes.changed), ("no longer generated", changes.removed),
                       ("interrupted", changes.interrupted))
                      for p in paths]
            _fail(lines, 1)
        if not quiet:
            print(f"{output} is up to date ({len(files)} files)")
        return
    if not quiet:
        _summary(files, changes, output)
        if summary is not None:
            _coverage(summary, output)


def _proof_summary(files: Mapping[str, str]) -> dict[str, int] | None:
    from .render import Staged
    from .render.proof import PATH, summary_of

    if PATH not in files:
        return None
    if isinstance(files, Staged):  # the counts stand at the head of a hundred MB: read that far only
        with suppress(ValueError):
            return summary_of(files.head(PATH, SUMMARY_HEAD))
    return summary_of(files[PATH])


def _coverage(counts: dict[str, int], output: Path) -> None:
    """One line: how many alerts the generated tests prove (the output README lists the others)."""
    from . import coverage

    text = coverage.line(counts)
    if counts["unproven"] or counts["accepted"]:
        text += f" (why: {output / 'README.md'})"
    print(text)


def _summary(files: Mapping[str, str], changes: Changes, output: Path) -> None:
    from rich.table import Table

    families: dict[str, list[str]] = {}
    for path in files:
        families.setdefault(path.split("/")[0] if "/" in path else "(root)", []).append(path)
    status = {p: "added" for p in changes.added} | {p: "changed" for p in changes.changed}
    table = Table(title=f"obsgen rendered {output}", title_justify="left")
    for col in ("component", "files", "added", "changed"):
        table.add_column(col, justify="left" if col == "component" else "right")
    for fam, paths in sorted(families.items()):
        table.add_row(fam, str(len(paths)), str(sum(status.get(p) == "added" for p in paths)),
                      str(sum(status.get(p) == "changed" for p in paths)))
    console = _console()
    console.print(table)
    if changes.removed:
        console.print(f"removed {len(changes.removed)} file(s) no longer generated", markup=False)


@app.command()
def diff(spec: SpecArg = Path("obsgen.yaml"), output: OutOpt = Path("out")) -> None:
    """Show a unified diff of what render would change; exit 1 when there is one (as `git diff --exit-code`)."""
    from .write import WriteError
    from .write import diff as diff_text

    _model, files = _render(spec)
    try:
        text = diff_text(files, output)
    except WriteError as e:
        _fail([f"obsgen: {e}"])
    except OSError as e:
        _fail([f"obsgen: cannot read {output}: {e.strerror or e}"])
    sys.stdout.write(text)
    raise typer.Exit(1 if text else 0)


@app.command()
def check(
    directory: Annotated[Path, typer.Argument(help="A rendered output folder.")] = Path("out"),
    strict: Annotated[bool, typer.Option(
        "--strict", help="Also fail on an unproven alert, a skipped check, a missing validator, an unchecked file.")
    ] = False,
    allow_missing: Annotated[bool, typer.Option(
        "--allow-missing", help="Do not fail because a validator is not installed (ignored with --strict).")] = False,
    live: Annotated[bool, typer.Option(
        "--live", help="Also run the real Alertmanager on 127.0.0.1 and prove delivery, inhibition, quiet hours.")
    ] = False,
) -> None:
    """Run the real validators and obsgen's proofs over an output tree; say what was not checked."""
    from rich.table import Table

    from .check import UNPROVEN, exit_code, run_checks, unchecked_files
    from .forking import JobsError, jobs
    from .progress import Progress, wanted

    if not directory.is_dir():
        _fail([f"{directory}: not a folder; run obsgen render first"])
    try:
        processes = jobs()
    except JobsError as e:
        _fail([f"obsgen: {e}"])
    with Progress("obsgen check", None, wanted(quiet=False)) as progress:
        results = run_checks(directory, live=live, step=progress.step, processes=processes)
    unchecked = unchecked_files(directory, results)
    table = Table(title=f"obsgen check {directory}", title_justify="left")
    for col in ("validator", "target", "result"):
        table.add_column(col)
    colours = {"passed": "green", "failed": "red", "not found": "yellow", "skipped": "yellow", UNPROVEN: "yellow"}
    for r in results:
        table.add_row(r.tool, r.target, f"[{colours[r.status]}]{r.status}[/]")
    console = _console()
    console.print(table)
    for r in results:
        if r.status != "passed" and r.output:
            console.print(f"\n{r.tool} {r.target} ({r.status}):\n{r.output.rstrip()}", markup=False)
    if unchecked:
        console.print(f"\nnot checked by anything ({len(unchecked)} files):", markup=False)
        for f in unchecked:
            console.print(f"  {f}", markup=False)
    code = exit_code(results, unchecked, strict, allow_missing)
    missing = [r for r in results if r.status == "not found"]
    if missing and code:
        console.print("\nvalidators not installed (install them, or pass --allow-missing):", markup=False)
    raise typer.Exit(code)


import_app = typer.Typer(help="Write a spec from other tools' files (Sloth, Pyrra, OpenSLO, Prometheus rule files).",
                          no_args_is_help=True, rich_markup_mode=None)
app.add_typer(import_app, name="import")
ImportFiles = Annotated[list[Path], typer.Argument(help="The files to import.")]
ImportOut = Annotated[Path, typer.Option(
    "--output", "-o", help="The spec to write; an existing one gets the imported services merged in.")]
ProjectOpt = Annotated[str, typer.Option("--project", help="Project name of a new spec.")]


def _print_proof(prove: Callable[[], tuple[str, bool]]) -> None:
    """An import's --prove: its report printed, exit 1 where the bound did not hold or promtool could not run."""
    from .importers.sloth_proof import ProofUnavailable

    try:
        report, ok = prove()
    except ProofUnavailable as e:
        _fail([f"--prove: {e}"], 1)
    print(report)
    if not ok:
        raise typer.Exit(1)


def _imported(write: Callable[[], tuple[str, Model]], output: Path, quiet: bool) -> Model:
    """Run an importer's write, turning located problems into exit 2 (nothing written)."""
    from .importers.source import SourceError

    try:
        text, model = write()
    except SourceError as e:
        n = len(e.problems)
        _fail(e.lines() + [f"{n} problem{'s' if n != 1 else ''}; nothing written"])
    except OSError as e:
        _fail([f"obsgen: cannot write {output}: {e.strerror or e}"])
    if not quiet:
        notes = sum(1 for line in text.splitlines() if line.lstrip().startswith("#"))
        print(f"wrote {output} ({len(model.services)} services); {notes} comment lines say what did not map "
              f"exactly; next: obsgen render {output}")
    return model


@import_app.command("sloth")
def import_sloth(
    files: ImportFiles,
    output: ImportOut = Path("obsgen.yaml"),
    period: Annotated[str, typer.Option(
        "--period", help="Period of every SLO (Sloth's --default-slo-period).")] = "30d",
    project: ProjectOpt = "imported",
    prove: Annotated[bool, typer.Option(
        "--prove", help="Also run Sloth's own rules and obsgen's through promtool on the same scenarios.")] = False,
    sloth_series: Annotated[bool, typer.Option(
        "--sloth-series", help="Also record Sloth's series names (sloth_compatible), for Sloth's dashboards.")
    ] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="With --prove: also fail when an SLO could not be compared.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Sloth prometheus/v1 specs, PrometheusServiceLevel resources and AlertWindows -> an obsgen spec."""
    from .importers import sloth
    from .importers.spec_writer import write_spec

    found: list[list[sloth.SlothSlo]] = []

    def write() -> tuple[str, Model]:
        imported, records = sloth.import_sloth(files, period, sloth_series)
        found.append(records)
        return write_spec(imported, output, project)

    model = _imported(write, output, quiet)
    if prove:
        from .importers.sloth_proof import prove_all

        _print_proof(lambda: prove_all(model, found[0], strict))


@import_app.command("pyrra")
def import_pyrra(
    files: ImportFiles,
    output: ImportOut = Path("obsgen.yaml"),
    service: Annotated[str | None, typer.Option(
        "--service", help="Service of every SLO (else each SLO's namespace).")] = None,
    project: ProjectOpt = "imported",
    prove: Annotated[bool, typer.Option(
        "--prove", help="Also run Pyrra's own rules and obsgen's through promtool on the same scenarios.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="With --prove: also fail when an SLO could not be compared.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Pyrra ServiceLevelObjective resources (pyrra.dev/v1alpha1) -> an obsgen spec."""
    from .importers import pyrra
    from .importers.spec_writer import write_spec

    found: list[list[pyrra.PyrraSlo]] = []

    def write() -> tuple[str, Model]:
        imported, records = pyrra.import_pyrra(files, service)
        found.append(records)
        return write_spec(imported, output, project)

    model = _imported(write, output, quiet)
    if prove:
        from .importers.pyrra_proof import prove_all

        _print_proof(lambda: prove_all(model, found[0], strict))


@import_app.command("openslo")
def import_openslo(
    files: ImportFiles,
    output: ImportOut = Path("obsgen.yaml"),
    project: ProjectOpt = "imported",
    prove: Annotated[bool, typer.Option(
        "--prove", help="Also run the conditions as OpenSLO defines them and obsgen's rules through promtool on "
                        "the same scenarios.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="With --prove: also fail when an SLO could not be compared.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """OpenSLO v1 documents (SLO, SLI, Service, AlertPolicy, AlertCondition, AlertNotificationTarget, DataSource)
    -> an obsgen spec."""
    from .importers import openslo
    from .importers.spec_writer import write_spec

    found: list[list[openslo.OpenSloSlo]] = []

    def write() -> tuple[str, Model]:
        imported, records = openslo.read_openslo(files)
        found.append(records)
        return write_spec(imported, output, project)

    model = _imported(write, output, quiet)
    if prove:
        from .importers.openslo_proof import prove_all

        _print_proof(lambda: prove_all(model, found[0], strict))


@import_app.command("rules")
def import_rules(
    files: ImportFiles,
    output: ImportOut = Path("obsgen.yaml"),
    service_label: Annotated[str | None, typer.Option(
        "--service-label", help="Label naming each rule's service: the rule's own label, else an equality "
                                "matcher of its expression (e.g. job), else the recordings it reads.")] = None,
    service: Annotated[str | None, typer.Option(
        "--service", help="Service of the rules no --service-label names (all of them without it).")] = None,
    tests: Annotated[list[Path] | None, typer.Option(
        "--tests", help="promtool test files of the rules: their alert checks become the alerts' tests.")] = None,
    project: ProjectOpt = "imported",
    prove: Annotated[bool, typer.Option(
        "--prove", help="Also run the --tests files' checks through promtool on the original rules and on "
                        "obsgen's rendered ones.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="With --prove: also fail on an expression check that differs or an alert no test "
                         "proves.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Prometheus rule files (groups:) -> free-form alerts and recording rules of obsgen services."""
    from .importers import rules
    from .importers.spec_writer import Imported, write_spec

    found: list[Imported] = []

    def write() -> tuple[str, Model]:
        imported = rules.import_rules(files, service_label, service, tests or [])
        found.append(imported)
        return write_spec(imported, output, project)

    model = _imported(write, output, quiet)
    if prove:
        from .importers.rules_proof import prove_rules

        _print_proof(lambda: prove_rules(model, found[0], files, tests or [], strict))


@app.command()
def schema() -> None:
    """Print the spec's JSON Schema."""
    from .schema import schema_text

    sys.stdout.write(schema_text())


class _Stopped(BaseException):
    """SIGTERM or SIGHUP, raised wherever the program is, so the writer cleans up as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_STOP_SIGNALS = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]


def _stop(signum: int, _frame: object) -> None:
    for s in _STOP_SIGNALS:  # a second signal must not interrupt the cleanup the first one started
        signal.signal(s, signal.SIG_IGN)
    raise _Stopped(signum)


def main() -> None:
    for s in _STOP_SIGNALS:
        signal.signal(s, _stop)
    # One short run that allocates millions of objects and frees them by reference counting: the cycle
    # collector's passes over them were a sixth of rendering a thousand services, and freed about 15 MB.
    gc.disable()
    try:
        app()
        code: int | str | None = 0
    except SystemExit as e:  # how typer ends every command
        code = e.code
    except KeyboardInterrupt:
        code = 130
    except _Stopped as e:
        print(f"obsgen: stopped by {signal.Signals(e.signum).name}", file=sys.stderr)
        code = 128 + e.signum
    except Exception as e:  # a bug in obsgen, not bad input: say so briefly
        if os.environ.get("OBSGEN_DEBUG"):
            raise
        print(f"obsgen: internal error: {type(e).__name__}: {e} (set OBSGEN_DEBUG=1 for details)",
              file=sys.stderr)
        code = 3
    _leave(code)


def _leave(code: int | str | None) -> NoReturn:
    """Exit with `code` as sys.exit would, without tearing down the interpreter: freeing a large spec's
    model object by object took most of a second at 10,000 services, after everything was written. Every
    file and process obsgen opened is closed by then; only the standard streams need flushing."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    status = code if isinstance(code, int) else 0
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`obsgen diff | head`): what was not read is lost
            status = status or 1
    os._exit(status & 0xFF)
