"""The `pml` command line: a thin shell over the `indexer` library."""

from __future__ import annotations

import getpass
import html
import io
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import click
from pydantic import ValidationError

from indexer import auth, usecases
from indexer.config import Settings
from indexer.filters import FIELDS, FilterError, Filters
from indexer.format import authoring, backstage, convert, fixer, lint, taxonomy
from indexer.format.postmortem import (
    REF_SOURCES,
    SEVERITIES,
    Finding,
    Postmortem,
    parse_timestamp,
)
from indexer.incidents import deliveries, importers, pull
from indexer.indexing import gitsync
from indexer.library import Library
from indexer.search import (
    MAX_LIMIT,
    EmbeddingError,
    SearchQueryError,
    SemanticUnavailable,
    duplicate_findings,
    load_embedder,
)

_TAG = re.compile(r"</?b>")
# The CLI reads the library as a reader outside every audience: no restricted postmortem.
CLI_READER: frozenset[str] = frozenset()


def _settings(library: Path | None = None) -> Settings:
    """The settings from PML_* variables; a bad value is an error naming the variable."""
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"PML_{'_'.join(map(str, problem['loc'])).upper()}={problem.get('input')!r}: "
            f"{problem['msg']}"
            for problem in error.errors()
        )
        raise click.ClickException(f"invalid setting: {problems}") from None
    if library is not None:
        settings.library = library
    return settings


def _bar(label: str) -> Callable[[int, int], None] | None:
    """A progress callback that draws a bar on stderr once there is work to show.

    Only on a terminal: in CI logs and service logs a bar is a wall of noise.
    """
    if not sys.stderr.isatty():
        return None
    state: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
            state["done"] = 0
        state["bar"].update(done - state["done"])
        state["done"] = done
        if done >= total:
            state.pop("bar").__exit__(None, None, None)

    return progress


def _open(library: Path | None = None, *, refresh: bool = True) -> Library:
    lib = Library.open(_settings(library))
    # A library that follows a git repository is brought up to date by `pml sync`.
    if refresh and not lib.settings.git_url:
        usecases.refresh(lib)
    return lib


def _filter_options(command: Callable[..., None]) -> Callable[..., None]:
    """One repeatable option per filter field (indexer.filters.FIELDS), plus --since/--until."""
    for field in reversed(FIELDS):
        flag = "--" + field.name.replace("_", "-")
        command = click.option(flag, field.name, multiple=True, help=field.help)(command)
    for name in ("until", "since"):
        command = click.option(f"--{name}", type=click.DateTime(["%Y-%m-%d"]))(command)
    return command


def _filters(chosen: dict[str, Any]) -> Filters:
    since, until = chosen.pop("since"), chosen.pop("until")
    values = {name: list(given) for name, given in chosen.items() if given}
    try:
        return Filters(values, since.date() if since else None, until.date() if until else None)
    except FilterError as error:
        raise click.UsageError(str(error)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="postmortem-library")
def main() -> None:
    """Postmortem Library: search and lint a library of Markdown postmortems.

    Configuration comes from PML_* environment variables (see the README).
    """


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Index the library if it changed, then serve the API and UI."""
    import uvicorn

    import frontend
    from api.app import create_app

    settings = _settings()
    _log_to_stderr(settings.log_level)
    try:
        app = create_app(settings)
    except frontend.MissingAssets as error:
        raise click.ClickException(str(error)) from None
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        # The app reads X-Forwarded-For itself, from PML_TRUSTED_PROXIES only and keeping
        # the real peer for the trust check (api.security.ClientAddress); uvicorn's own
        # handling would trust 127.0.0.1 by default and hide that peer.
        proxy_headers=False,
        server_header=False,
    )


def _log_to_stderr(level: str) -> None:
    """The service's own lines (`pml.*` loggers: indexed, semantic ready, intake) on
    stderr at PML_LOG_LEVEL, in uvicorn's format, beside its request lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(_UvicornStyle("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("pml")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


class _UvicornStyle(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        shown = logging.makeLogRecord(record.__dict__)
        shown.levelname = f"{record.levelname}:".ljust(9)
        return super().format(shown)


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Rebuild everything, not just what changed.")
def index(path: Path | None, force: bool) -> None:
    """Index the library folder (default: PML_LIBRARY) into the data directory."""
    if path is None and _settings().git_url:
        raise click.UsageError(
            "PML_GIT_URL is set, so the library follows that repository: run `pml sync`"
        )
    with Library.open(_settings(path)) as library:
        report, history = usecases.refresh(
            library, force=force, progress=_bar("Reading postmortems")
        )
        # Every passage has its vector (nothing changed, or only text outside the
        # embedded sections): the model need not load (~20 s). A running `pml serve`
        # catches up on the related lists when it next syncs.
        skip = not force and library.semantic.up_to_date()
        embedded = 0 if skip else library.semantic.sync(progress=_bar("Embedding passages"))
    for problem in report.problems:
        click.echo(
            f"{library.root / problem.path}:{problem.line}: skipped: {problem.message}", err=True
        )
    for flagged in report.flagged:
        click.echo(f"{library.root / flagged.path}:{flagged.line}: {flagged.message}", err=True)
    click.echo(report.summary())
    if history is not None:
        click.echo(f"incident history: {history.added} added, {history.updated} updated")
    if skip:
        click.echo("semantic: nothing to embed (the model was not loaded)")
    elif library.semantic.state == "ready":
        passages = "passage" if embedded == 1 else "passages"
        click.echo(
            f"semantic: {embedded} new {passages} embedded "
            f"(from {report.indexed} added or changed postmortems); the rest were unchanged"
        )
    elif library.semantic.error:
        click.echo(f"semantic search unavailable: {library.semantic.error}", err=True)


@main.command()
@click.option("--force", is_flag=True, help="Compare every file, not just what changed.")
def sync(force: bool) -> None:
    """Fetch PML_GIT_BRANCH of PML_GIT_URL and index what changed since the last sync."""
    with Library.open(_settings()) as library:
        try:
            report = gitsync.sync(library, force=force)
        except gitsync.SyncError as error:
            raise click.ClickException(f"sync failed: {error}") from None
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for problem in report.index.problems:
        click.echo(f"{problem.path}:{problem.line}: skipped: {problem.message}", err=True)
    click.echo(report.summary())


@main.command()
@click.argument("title", required=False)
@click.option("--service", multiple=True, help="A service id from taxonomy.yaml (repeatable).")
@click.option(
    "--error-class", multiple=True, help="An error class id from taxonomy.yaml (repeatable)."
)
@click.option(
    "--library",
    "root",
    type=click.Path(path_type=Path, file_okay=False),
    help="Library folder (default: PML_LIBRARY).",
)
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Day a past incident started (default today): sets the id, folder and date.",
)
@click.option(
    "--started-at",
    help="When it started, ISO 8601 with a time zone (2025-03-14T18:02:00+00:00), "
    "or a time with a zone (18:02Z) together with --date.",
)
@click.option(
    "--from-incident",
    "incident",
    metavar="SOURCE:ID",
    help="Fill date, timestamps, service, severity and external_refs from an imported "
    "incident (e.g. pagerduty:Q1ORDERS0314); TITLE defaults to its title.",
)
def new(
    title: str | None,
    service: tuple[str, ...],
    error_class: tuple[str, ...],
    root: Path | None,
    day: Any,
    started_at: str | None,
    incident: str | None,
) -> None:
    """Start a postmortem from the template: pml new "Checkout errors after a deploy"."""
    facts, known_title = _incident_facts(incident) if incident else (authoring.Facts(), None)
    title = title or known_title
    if not title:
        raise click.UsageError("give a TITLE (or --from-incident to take the incident's title)")
    if day is not None:
        facts.day = day.date()
    if started_at is not None:
        start = _started_at(started_at, facts.day)
        if facts.day is not None and start.date() != facts.day:
            raise click.BadParameter(
                f"{start.isoformat()} is not on {facts.day}", param_hint="--started-at"
            )
        facts.day = start.date()
        facts.timestamps["started_at"] = start
    try:
        path = authoring.new_postmortem(
            root or _settings().library,
            title,
            services=service,
            error_classes=error_class,
            today=date.today(),
            facts=facts,
        )
    except authoring.AuthoringError as error:
        raise click.UsageError(str(error)) from None
    click.echo(str(path))
    click.echo(
        "Replace every TODO, set status: published once reviewed; `pml lint` lists what is left.",
        err=True,
    )


def _started_at(value: str, day: date | None) -> datetime:
    """`--started-at`: a full timestamp, or a time of `day`; never without a time zone."""
    text = value.strip()
    if "T" not in text.upper() and " " not in text and day is not None:
        text = f"{day.isoformat()}T{text}"
    normalised = fixer.normalise_timestamp(text)
    parsed = parse_timestamp(normalised) if normalised else None
    if parsed is None:
        raise click.BadParameter(
            f"'{value}' is not a timestamp with a time zone, like 2025-03-14T18:02:00+00:00 "
            "(or 18:02Z with --date)",
            param_hint="--started-at",
        )
    return parsed


def _incident_facts(reference: str) -> tuple[authoring.Facts, str]:
    """What an imported incident says, for `pml new --from-incident SOURCE:ID`."""
    source, _, source_id = reference.partition(":")
    if not source or not source_id:
        raise click.BadParameter(
            "expected SOURCE:ID, e.g. pagerduty:Q1ORDERS0314", param_hint="--from-incident"
        )
    with Library.open(_settings()) as library:
        row = usecases.incident_facts(library, source, source_id)
    if row is None:
        raise click.BadParameter(
            f"no incident {reference} in the database; import it first with "
            f"`pml import incidents FILE --source {source}`",
            param_hint="--from-incident",
        )
    facts = authoring.Facts(
        day=row.timestamps["started_at"].date(),
        timestamps=row.timestamps,
        severity=row.severity if row.severity in SEVERITIES else None,
        services=row.services,
        external_refs={source: [source_id]} if source in REF_SOURCES else {},
    )
    return facts, row.title


@main.command()
@click.argument("query", nargs=-1)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, MAX_LIMIT))
@click.option("--offset", default=0, type=click.IntRange(0, None))
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as GET /api/search.")
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "fulltext", "semantic"]),
    default=None,
    help="fulltext (default here: answers in a second, no model to load), hybrid or semantic "
    "(both load the embedding model first, ~20 s).",
)
@click.option(
    "--sort",
    type=click.Choice(["relevance", "date"]),
    default="relevance",
    show_default=True,
    help=f"date: the {usecases.SORTED_WINDOW} best matches, newest first.",
)
@_filter_options
def search(
    query: tuple[str, ...],
    limit: int,
    offset: int,
    as_json: bool,
    mode: str | None,
    sort: usecases.Sort,
    **chosen: Any,
) -> None:
    """Search the library: `pml search connection pool exhaustion --severity SEV1`.

    Full-text unless `--mode` asks for meaning too: an author checking a
    draft wants an answer in a second, not a model load.
    """
    filters = _filters(chosen)
    if mode is None:
        mode = "fulltext"
        if not as_json and sys.stderr.isatty():
            click.echo("(full-text; --mode hybrid also matches by meaning)", err=True)
    with _open() as library:
        try:
            if mode != "fulltext":
                library.semantic.sync(progress=_bar("Embedding passages"))
            results = usecases.search(
                library,
                " ".join(query),
                filters,
                groups=None,
                mode=mode,
                limit=limit,
                offset=offset,
                sort=sort,
            )
        except SearchQueryError as error:
            raise click.UsageError(str(error)) from None
        except SemanticUnavailable as error:
            raise click.ClickException(str(error)) from None
    if mode != results.mode:
        click.echo(
            f"({mode} search unavailable: {library.semantic.error}; showing full-text)", err=True
        )
    if as_json:
        click.echo(json.dumps(usecases.search_answer(results, limit, offset), indent=2))
        return
    if not results.results:
        click.echo("No results: try fewer words, or drop a filter.")
        return
    if results.corrected:
        click.echo(f"Showing results for: {results.did_you_mean}\n")
    click.echo(f"{results.total} postmortems match ({results.took_ms:.1f} ms)\n")
    for hit in results.results:
        labels = ", ".join([*hit.services, *hit.error_classes])
        click.echo(click.style(f"{hit.date}  {hit.severity or '-':4}  {hit.title}", bold=True))
        click.echo(f"    {hit.id}  [{labels}]")
        snippet = _TAG.sub("", hit.snippet)
        click.echo(f"    {html.unescape(snippet)}\n")


@main.command(name="lint")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "style",
    type=click.Choice(["text", "github", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--duplicates",
    is_flag=True,
    help="Also flag postmortems that say nearly what another says (loads the embedding model).",
)
@click.option(
    "--fix",
    is_flag=True,
    help="First rewrite what can be fixed (dates, missing ids, field order), showing the diff.",
)
def lint_command(paths: tuple[Path, ...], style: str, duplicates: bool, fix: bool) -> None:
    """Check postmortems; exits 1 when there are errors."""
    roots = list(paths) or [_settings().library]
    checks: list[Callable[[list[Postmortem]], list[Finding]]] = []
    if duplicates:
        try:
            settings = _settings()
            embedder = load_embedder(
                settings.embedding_model,
                settings.embedding_threads,
                settings.embedding_bulk_threads,
                settings.embedding_precision,
            )
        except EmbeddingError as error:
            raise click.ClickException(str(error)) from None
        checks.append(partial(duplicate_findings, embedder=embedder))
    library_root = _library_root(roots[0])
    try:
        vocabulary = taxonomy.load(taxonomy.find_root(roots[0]))
    except taxonomy.TaxonomyError as error:
        click.echo(f"{error.path}:{error.line}: error: {error.message}", err=True)
        sys.exit(1)
    if _settings().auth == "off":
        checks.append(lint.hidden_while_auth_off)
    if fix:
        _fix(roots, style)
    findings = lint.lint_paths(roots, vocabulary, checks, library_root=library_root)
    # A deployment note rather than a fault of the file: stderr, counted apart, exit code unchanged.
    notes = [f for f in findings if f.code == lint.RESTRICTED_HIDDEN]
    for note in notes:
        click.echo(f"{note.path}:{note.line}: note: {note.message}", err=True)
    findings = [f for f in findings if f.code != lint.RESTRICTED_HIDDEN]
    output = lint.format_findings(findings, style)
    if output:
        click.echo(output)
    errors = sum(1 for f in findings if f.level == "error")
    warnings = len(findings) - errors
    if style == "text":
        summary = f"{plural(errors, 'error')}, {plural(warnings, 'warning')}"
        click.echo(summary + (f", {plural(len(notes), 'note')}" if notes else ""), err=True)
    sys.exit(1 if errors else 0)


def plural(count: int, noun: str) -> str:
    """`1 error`, `2 errors`, `0 errors`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _library_root(path: Path) -> Path | None:
    """The library a linted path belongs to: where its taxonomy.yaml is, or PML_LIBRARY."""
    found = taxonomy.find_root(path)
    if (found / taxonomy.FILE_NAME).is_file():
        return found
    library = _settings().library
    try:
        path.resolve().relative_to(library.resolve())
    except ValueError:
        return None
    return library


def _fix(roots: list[Path], style: str) -> None:
    """Rewrite what `pml lint --fix` can, printing each change as a diff."""
    for path, diff in fixer.fix_paths(roots):
        if style == "text":
            click.echo(diff, nl=False, err=True)
        else:
            click.echo(f"fixed {path}", err=True)


@main.command(name="related")
@click.argument("postmortem_id")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option(
    "--scope",
    type=click.Choice(["all", "past"]),
    default="all",
    show_default=True,
    help="all: earlier and later postmortems; past: only earlier ones (as the API's scope).",
)
@click.option("--all", "everything", is_flag=True, hidden=True)  # the default now; kept working
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as the API.")
def related_command(
    postmortem_id: str, limit: int, scope: usecases.RelatedScope, everything: bool, as_json: bool
) -> None:
    """Postmortems related to one, earlier and later, with the reason for each."""
    with _open() as library:
        library.semantic.sync(progress=_bar("Embedding passages"))
        try:
            found = usecases.related_postmortems(
                library, postmortem_id, CLI_READER, limit, "all" if everything else scope
            )
        except usecases.NotFound as error:
            raise click.ClickException(str(error)) from None
    items = found["items"]
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not items:
        click.echo("No related postmortems.")
    for item in items:
        click.echo(click.style(f"{item['date']}  {item['title']}", bold=True))
        click.echo(f"    {item['id']}  score {item['score']}")
        for reason in item["reasons"]:
            if reason["kind"] == "similar_passage":
                click.echo(f"    similar {reason['value'] or 'passage'}: {reason['passage']}")
            else:
                click.echo(f"    shared {reason['kind'].replace('_', ' ')}: {reason['value']}")
        click.echo()


@main.command()
@click.argument("postmortem_id")
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as the API.")
def show(postmortem_id: str, as_json: bool) -> None:
    """Show one postmortem."""
    with _open() as library:
        try:
            record = usecases.postmortem_record(library, postmortem_id, CLI_READER)
        except usecases.NotFound as error:
            raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(click.style(record["title"], bold=True))
    facts = [
        record["date"],
        record["severity"],
        record["status"],
        ", ".join(record["services"]),
        ", ".join(record["error_classes"]),
    ]
    click.echo(" | ".join(str(f) for f in facts if f))
    click.echo(record["path"] + "\n")
    click.echo(record["body_markdown"].strip())


@main.group(name="import")
def import_group() -> None:
    """Bring outside data in: incidents into the database, postmortems into the library."""


@import_group.command(name="incidents")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--source", type=click.Choice(sorted(importers.SOURCES)), help="FILE's format.")
@click.option(
    "--from",
    "vendor",
    type=click.Choice(sorted(pull.TOKEN_VARIABLES)),
    help="Pull from the vendor's API instead of a FILE (token from PML_<VENDOR>_TOKEN).",
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="With --from: first day.")
@click.option("--base-url", default=None, help="With --from: the API's base URL (EU, proxy).")
@click.option("--dry-run", is_flag=True, help="Only report what would be added and updated.")
@click.option("--timezone", default=None, help="IANA zone of times written without one.")
@click.option("--urgency", default=None, help="PagerDuty urgency -> severity: high=SEV2,low=SEV4.")
def import_incidents(
    file: Path | None,
    source: str | None,
    vendor: str | None,
    since: Any,
    base_url: str | None,
    dry_run: bool,
    timezone: str | None,
    urgency: str | None,
) -> None:
    """Upsert the incidents in FILE (or pulled --from a vendor); rejects are listed, exit 1."""
    if vendor:
        if file is not None or since is None:
            raise click.UsageError("--from takes no FILE and needs --since YYYY-MM-DD")
        pulled = _pull(vendor, since.date(), base_url)
        opened: BinaryIO = io.BytesIO(pulled)
        origin, source = f"{vendor} API", vendor
    elif file is not None and source:
        opened, origin = file.open("rb"), str(file)  # a CSV streams: memory stays bounded
    else:
        raise click.UsageError("give FILE and --source, or --from VENDOR --since DATE")
    with opened, Library.open(_settings()) as library:
        try:
            options = importers.Options(
                timezone=importers.zone(timezone) if timezone else None,
                urgency=importers.urgency_rule(urgency) if urgency else importers.Options().urgency,
            )
            if not dry_run:
                auth.record(
                    library.engine,
                    getpass.getuser(),
                    "write",
                    f"pml import incidents {origin}",
                    "cli",
                )
            report = importers.import_file(
                library.engine,
                source,
                opened,
                vocabulary=library.taxonomy,
                options=options,
                dry_run=dry_run,
            )
        except importers.ImportFormatError as error:
            raise click.ClickException(f"{origin}: {error}") from None
    _print_import(origin, report)
    sys.exit(1 if report.errors else 0)


@import_group.command(name="postmortems")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Library folder to write into (files go to OUT/YYYY/); existing files are never replaced.",
)
@click.option(
    "--base-url",
    default=None,
    help="Where SOURCE is published (e.g. https://github.com/org/repo/blob/main/): "
    "source_url becomes this plus each file's path.",
)
def import_postmortems(source: Path, out: Path, base_url: str | None) -> None:
    """Convert postmortems written elsewhere (Markdown in any template, Confluence HTML,
    Word .docx, Notion exports) into library files; one report line per file."""
    report = convert.convert(source, out, base_url=base_url)
    for line in report.files:
        click.echo(str(line))
    click.echo(report.summary(), err=True)
    if report.files and not report.count("failed"):
        click.echo(f"Next: `pml lint {out}` lists what to review in each file.", err=True)
    sys.exit(1 if report.count("failed") else 0)


def _pull(vendor: str, since: date, base_url: str | None) -> bytes:
    variable = pull.TOKEN_VARIABLES[vendor]
    token = os.environ.get(variable, "").strip()
    if not token:
        raise click.ClickException(f"set {variable} to an API token to pull from {vendor}")
    try:
        data, pages = pull.fetch(pull.Pull(vendor, token, since, base_url))
    except pull.PullError as error:
        raise click.ClickException(f"{vendor}: {error}") from None
    click.echo(f"{vendor}: read {pages} pages", err=True)
    return data


def _print_import(origin: str, report: Any) -> None:
    where = "line" if report.source == "csv" else "record"
    for row, message in report.errors:
        click.echo(f"{origin}: {where} {row}: {message}", err=True)
    for row, message in report.warnings:
        click.echo(f"{origin}: {where} {row}: warning: {message}", err=True)
    if report.unmapped_services:
        names = ", ".join(report.unmapped_services)
        click.echo(f"{origin}: services no taxonomy service claims (kept as is): {names}", err=True)
    if report.unlisted_errors or report.unlisted_warnings:
        click.echo(
            f"{origin}: {report.unlisted_errors} more errors and {report.unlisted_warnings} more "
            "warnings not listed",
            err=True,
        )
    verbs = ("would be added", "would be updated") if report.dry_run else ("added", "updated")
    rejected = len(report.errors) + report.unlisted_errors
    warned = len(report.warnings) + report.unlisted_warnings
    click.echo(
        f"{report.added} {verbs[0]}, {report.updated} {verbs[1]}, {rejected} rejected, "
        f"{plural(warned, 'warning')}"
    )


@import_group.command(name="services")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--dry-run", is_flag=True, help="Only print what would change.")
def import_services(files: tuple[Path, ...], dry_run: bool) -> None:
    """Add a Backstage catalog's components to taxonomy.yaml: services, teams, vendor aliases.

    FILES are catalog-info.yaml files or the catalog API's entity list
    (`curl $BACKSTAGE/api/catalog/entities > entities.json`). Nothing is removed.
    """
    found: list[backstage.Service] = []
    for path in files:
        try:
            found += backstage.services(backstage.entities(path.read_bytes()))
        except backstage.CatalogError as error:
            raise click.ClickException(f"{path}: {error}") from None
    settings = _settings()
    target = settings.library / taxonomy.FILE_NAME
    current = target.read_text(encoding="utf-8") if target.is_file() else ""
    try:
        change = backstage.plan(found, current)
        text = backstage.merged(current, change)
    except backstage.CatalogError as error:
        raise click.ClickException(str(error)) from None
    for service in change.added:
        click.echo(f"new service {service.id} (team {service.team or '-'}): "
                   f"{', '.join(service.aliases) or 'no aliases'}")  # fmt: skip
    for identifier, aliases in change.extended.items():
        click.echo(f"{identifier}: aliases added: {', '.join(aliases)}")
    for identifier, team in change.teams.items():
        click.echo(f"{identifier}: team {team}")
    if not dry_run and (change.added or change.extended or change.teams):
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target}; re-index (or the next sync) picks it up", err=True)
    elif not (change.added or change.extended or change.teams):
        click.echo("taxonomy.yaml already has every component", err=True)


@main.group(name="services")
def services_group() -> None:
    """The services incidents are counted under."""


@services_group.command(name="unmapped")
def services_unmapped() -> None:
    """Service names of stored incidents that no taxonomy service or alias claims."""
    with Library.open(_settings()) as library:
        found = usecases.unmapped_services(library)
    for entry in found:
        hint = f"  (maybe {entry['suggestion']}?)" if entry["suggestion"] else ""
        sources = ",".join(entry["sources"])
        click.echo(f"{entry['service']}\t{entry['incidents']}\t{sources}{hint}")
    if not found:
        click.echo("every service name maps to the taxonomy", err=True)


@main.command(name="digest")
@click.option("--week", default=None, help="ISO week, e.g. 2025-W07 (default: this week).")
@click.option("--html", "as_html", is_flag=True, help="Print HTML instead of Markdown.")
@click.option(
    "--base-url", default="", help="Prefix for the postmortem links (default: PML_PUBLIC_URL)."
)
@click.option(
    "--send",
    is_flag=True,
    help="Send it by e-mail and to the chat webhooks (PML_SMTP_*, PML_DIGEST_*) "
    "instead of printing it; links go to PML_PUBLIC_URL.",
)
@click.option("--force", is_flag=True, help="With --send: send again where it was sent before.")
def digest_command(week: str | None, as_html: bool, base_url: str, send: bool, force: bool) -> None:
    """The weekly digest: three anonymised postmortem summaries, never restricted ones."""
    from indexer.periods import PeriodError, label
    from indexer.reports import sending

    chosen = week or label(date.today(), "week")
    with _open() as library:
        if send and not library.settings.public_url:
            fallback = sending.base_url(library.settings)
            click.echo(f"warning: PML_PUBLIC_URL is not set; links go to {fallback}", err=True)
        try:
            if send:
                outcomes = usecases.send_digest(library, chosen, force=force)
            else:
                result = usecases.weekly_digest(library, chosen, base_url or None)
        except PeriodError as error:
            raise click.BadParameter(str(error), param_hint="--week") from None
        except sending.SendError as error:
            raise click.ClickException(str(error)) from None
    if not send:
        click.echo(result.html if as_html else result.markdown)
        return
    for outcome in outcomes:
        click.echo(f"digest {chosen}: {outcome}", err=outcome.status == "failed")
    sys.exit(1 if any(outcome.status == "failed" for outcome in outcomes) else 0)


@main.command(name="migrate")
def migrate_command() -> None:
    """Bring the database schema to the newest revision (start-up does this too)."""
    before, now = usecases.migrate_database(_settings())
    click.echo(f"database at revision {now} (was {before or 'empty'})")


@main.group(name="token")
def token_group() -> None:
    """API tokens for scripts and imports (PML_AUTH=token or proxy)."""


@token_group.command(name="create")
@click.argument("name")
@click.option("--group", "groups", multiple=True, help="A group the token belongs to (repeat).")
def token_create(name: str, groups: tuple[str, ...]) -> None:
    """Create a token; its secret is printed once and only its hash is kept."""
    with Library.open(_settings()) as library:
        try:
            row, secret = auth.create_token(library.engine, name, list(groups))
        except auth.AuthError as error:
            raise click.ClickException(str(error)) from None
    click.echo(secret)
    click.echo(f"token {row.id} '{row.name}' groups: {', '.join(row.groups) or '-'}", err=True)
    click.echo("Store the secret now: it cannot be shown again.", err=True)


@token_group.command(name="revoke")
@click.argument("name_or_id")
def token_revoke(name_or_id: str) -> None:
    """Revoke a token by name or id; requests with it get 401 from now on."""
    with Library.open(_settings()) as library:
        try:
            row = auth.revoke_token(library.engine, name_or_id)
        except auth.AuthError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"revoked token {row.id} '{row.name}'")


@token_group.command(name="list")
def token_list() -> None:
    """Every token: id, name, groups, created, revoked."""
    with Library.open(_settings()) as library:
        rows = auth.list_tokens(library.engine)
    for row in rows:
        revoked = row.revoked_at.isoformat() if row.revoked_at else "active"
        groups = ",".join(row.groups) or "-"
        click.echo(f"{row.id}\t{row.name}\t{groups}\t{row.created_at.isoformat()}\t{revoked}")


@main.command(name="audit")
@click.option("--since", type=click.DateTime(), default=None, help="Only entries from then on.")
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True)
def audit_command(since: Any, limit: int) -> None:
    """The audit log: writes and reads of restricted postmortems (when, who, from, what)."""
    with Library.open(_settings()) as library:
        rows = auth.entries(library.engine, since, limit)
    for row in rows:
        at = row.at.isoformat() if row.at else ""
        click.echo(f"{at}\t{row.actor}\t{row.address or '-'}\t{row.action}\t{row.target}")


@main.group(name="intake")
def intake_group() -> None:
    """Webhook deliveries: every one is stored before processing (docs/metrics.md)."""


@intake_group.command(name="list")
@click.option(
    "--outcome",
    "outcomes",
    multiple=True,
    type=click.Choice(deliveries.OUTCOMES),
    help="Only these outcomes (repeat); default: failed.",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
def intake_list(outcomes: tuple[str, ...], limit: int) -> None:
    """Deliveries, newest first: id, received, vendor, event, outcome, detail."""
    with Library.open(_settings()) as library:
        rows = deliveries.listing(library.engine, outcomes or ("failed",), limit)
    for row in rows:
        entry = deliveries.as_dict(row)
        click.echo(
            f"{entry['id']}\t{entry['received_at']}\t{row.vendor}\t{row.event or '-'}\t"
            f"{row.outcome}\t{row.detail or '-'}"
        )


@intake_group.command(name="replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--failed", "all_failed", is_flag=True, help="Every failed delivery.")
def intake_replay(ids: tuple[int, ...], all_failed: bool) -> None:
    """Process stored deliveries again (after a fix), oldest first; prints each outcome.

    A replayed event never rolls stored data back: an incident already updated
    by a later event keeps its newer values. A push replayed here runs the sync.
    """
    if not ids and not all_failed:
        raise click.UsageError("name delivery ids, or --failed for every failed one")
    with Library.open(_settings()) as library:
        found = deliveries.chosen(library.engine, ids) if ids else []
        if all_failed:
            found += deliveries.listing(library.engine, ("failed",), limit=10_000)
        missing = sorted(set(ids) - {row.id for row in found})
        if missing:
            raise click.ClickException(f"no delivery {', '.join(map(str, missing))}")

        def push() -> bool:
            gitsync.sync(library)
            return True

        done = deliveries.replay(library, {row.id: row for row in found}.values(), on_push=push)
    for row, outcome in done:
        click.echo(f"{row.id}\t{row.vendor}\t{outcome.status}\t{outcome.detail or '-'}")
    if any(outcome.status in ("failed", "refused") for _, outcome in done):
        raise SystemExit(1)


@main.command(name="mcp")
@click.option(
    "--group",
    "groups",
    multiple=True,
    help="A group whose restricted postmortems the assistant may read (repeatable); "
    "none: the outsider's view.",
)
def mcp_command(groups: tuple[str, ...]) -> None:
    """Serve the library to an AI assistant over MCP (stdio).

    Tools: search_postmortems, get_postmortem, related_postmortems,
    seen_before_alert, service_incidents, service_trends. Nothing but the
    protocol is written to stdout.
    """
    from api import mcp  # the SDK is only loaded for this command

    with _open() as library:
        library.semantic.start()  # full-text answers at once; semantic joins when loaded
        mcp.build(library, frozenset(groups)).run("stdio")


if __name__ == "__main__":
    main()
