"""The `pml` command line: a thin shell over the `indexer` library."""

from __future__ import annotations

import getpass
import html
import json
import re
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import click

from indexer import auth
from indexer.config import Settings
from indexer.db import catalog, migrate, store
from indexer.filters import FIELDS, FilterError, Filters
from indexer.format import authoring, lint, taxonomy
from indexer.format.postmortem import Finding, Postmortem
from indexer.incidents import importers
from indexer.indexing import githistory, gitsync
from indexer.library import Library
from indexer.reports import digest
from indexer.search import (
    MAX_LIMIT,
    EmbeddingError,
    SearchQueryError,
    SemanticUnavailable,
    duplicate_findings,
    load_embedder,
    related,
)

_TAG = re.compile(r"</?b>")


def _settings(library: Path | None = None) -> Settings:
    settings = Settings()
    if library is not None:
        settings.library = library
    return settings


def _bar(label: str) -> Callable[[int, int], None]:
    """A progress callback that draws a bar on stderr once there is work to show."""
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
        lib.refresh()
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

    from api.app import create_app

    settings = _settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
    )


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
        report = library.refresh(force=force, progress=_bar("Reading postmortems"))
        embedded = library.semantic.sync(progress=_bar("Embedding passages"))
    for problem in report.problems:
        click.echo(
            f"{library.root / problem.path}:{problem.line}: skipped: {problem.message}", err=True
        )
    click.echo(report.summary())
    if library.semantic.state == "ready":
        click.echo(f"semantic: {embedded} passages embedded, the rest from the vector cache")
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
@click.argument("title")
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
def new(
    title: str, service: tuple[str, ...], error_class: tuple[str, ...], root: Path | None
) -> None:
    """Start a postmortem from the template: pml new "Checkout errors after a deploy"."""
    try:
        path = authoring.new_postmortem(
            root or _settings().library,
            title,
            services=service,
            error_classes=error_class,
            today=date.today(),
        )
    except authoring.AuthoringError as error:
        raise click.UsageError(str(error)) from None
    click.echo(str(path))
    click.echo(
        "Replace every TODO, set status: published once reviewed; `pml lint` lists what is left.",
        err=True,
    )


@main.command()
@click.argument("query", nargs=-1)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, MAX_LIMIT))
@click.option("--offset", default=0, type=click.IntRange(0, None))
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as GET /api/search.")
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "fulltext", "semantic"]),
    default="hybrid",
    show_default=True,
)
@_filter_options
def search(
    query: tuple[str, ...],
    limit: int,
    offset: int,
    as_json: bool,
    mode: str,
    **chosen: Any,
) -> None:
    """Search the library: `pml search connection pool exhaustion --severity SEV1`."""
    filters = _filters(chosen)
    with _open() as library:
        try:
            if mode != "fulltext":
                library.semantic.sync(progress=_bar("Embedding passages"))
            results = library.searcher.search(
                " ".join(query), filters, mode=mode, limit=limit, offset=offset
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
        body = asdict(results)
        body.update(limit=limit, offset=offset)
        click.echo(json.dumps(body, indent=2))
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
def lint_command(paths: tuple[Path, ...], style: str, duplicates: bool) -> None:
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
    try:
        vocabulary = taxonomy.load(taxonomy.find_root(roots[0]))
    except taxonomy.TaxonomyError as error:
        click.echo(f"{error.path}:{error.line}: error: {error.message}", err=True)
        sys.exit(1)
    if _settings().auth == "off":
        checks.append(lint.hidden_while_auth_off)
    findings = lint.lint_paths(roots, vocabulary, checks)
    # A deployment note rather than a fault of the file: stderr, not counted, exit code unchanged.
    for note in (f for f in findings if f.code == lint.RESTRICTED_HIDDEN):
        click.echo(str(note), err=True)
    findings = [f for f in findings if f.code != lint.RESTRICTED_HIDDEN]
    output = lint.format_findings(findings, style)
    if output:
        click.echo(output)
    errors = sum(1 for f in findings if f.level == "error")
    warnings = len(findings) - errors
    if style == "text":
        click.echo(f"{errors} errors, {warnings} warnings", err=True)
    sys.exit(1 if errors else 0)


@main.command(name="related")
@click.argument("postmortem_id")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--all", "everything", is_flag=True, help="Include later postmortems too.")
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as the API.")
def related_command(postmortem_id: str, limit: int, everything: bool, as_json: bool) -> None:
    """Postmortems related to one, with the reason for each."""
    with _open() as library:
        library.semantic.sync(progress=_bar("Embedding passages"))
        items = related(
            library.engine, library.semantic, postmortem_id, limit=limit, past_only=not everything
        )
    if items is None:
        raise click.ClickException(f"no postmortem with id '{postmortem_id}'")
    if as_json:
        click.echo(json.dumps({"id": postmortem_id, "items": items}, indent=2))
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
    with _open() as library, store.session(library.engine) as db:
        record = catalog.get_postmortem(db, postmortem_id, today=date.today())
        if record is not None:
            web_url = library.settings.git_web_url
            record["history"] = githistory.describe(db, record["path"], web_url)
    if record is None:
        raise click.ClickException(f"no postmortem with id '{postmortem_id}'")
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
    """Bring outside data into the library's database."""


@import_group.command(name="incidents")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", required=True, type=click.Choice(sorted(importers.SOURCES)))
def import_incidents(file: Path, source: str) -> None:
    """Upsert the incidents in FILE; rows that cannot be read are listed and exit 1."""
    with Library.open(_settings()) as library:
        try:
            auth.record(
                library.engine, getpass.getuser(), "write", f"pml import incidents {file}", "cli"
            )
            report = importers.import_bytes(library.engine, source, file.read_bytes())
        except importers.ImportFormatError as error:
            raise click.ClickException(f"{file}: {error}") from None
    for row, message in report.errors:
        where = "line" if source == "csv" else "record"
        click.echo(f"{file}: {where} {row}: {message}", err=True)
    click.echo(f"{report.added} added, {report.updated} updated, {len(report.errors)} rejected")
    sys.exit(1 if report.errors else 0)


@main.command(name="digest")
@click.option("--week", default=None, help="ISO week, e.g. 2025-W07 (default: this week).")
@click.option("--html", "as_html", is_flag=True, help="Print HTML instead of Markdown.")
@click.option("--base-url", default="", help="Prefix for the postmortem links.")
def digest_command(week: str | None, as_html: bool, base_url: str) -> None:
    """The weekly digest: three anonymised postmortem summaries, never restricted ones."""
    from indexer.periods import PeriodError, label

    with _open() as library:
        try:
            with store.session(library.engine) as db:
                result = digest.build(db, week or label(date.today(), "week"), base_url=base_url)
        except PeriodError as error:
            raise click.BadParameter(str(error), param_hint="--week") from None
    click.echo(result.html if as_html else result.markdown)


@main.command(name="migrate")
def migrate_command() -> None:
    """Bring the database schema to the newest revision (start-up does this too)."""
    engine = store.plain_engine(_settings().resolved_database_url)
    try:
        before = migrate.current(engine)
        migrate.upgrade(engine)
        click.echo(f"database at revision {migrate.current(engine)} (was {before or 'empty'})")
    finally:
        engine.dispose()


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


if __name__ == "__main__":
    main()
