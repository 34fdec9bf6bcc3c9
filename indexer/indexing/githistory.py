"""Created and last-updated dates and authors of each postmortem, from git history.

One `git log --name-status -M` pass replaces a `git log --follow` per file:
walking from the newest commit back, each file is followed through its
renames, as --follow does, until the commit that added it. A sync after a
fast-forward walks only the new commits and continues the stored history of
the files they touched. Dates are author dates: when the change was written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import insert
from sqlmodel import Session, col, delete, select

from indexer.db import store
from indexer.db.models import HistoryRow
from indexer.indexing.git import Mirror

INDEXED_COMMIT = "git_commit"  # meta key: the commit the library was last synced to
CHUNK = 500  # rows per statement, well under every database's parameter limit
T = TypeVar("T")


@dataclass(frozen=True)
class Change:
    """One line of `--name-status`: A, M, T, D, or R with the path before the rename."""

    status: str
    path: str
    old_path: str | None = None


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    when: datetime
    changes: tuple[Change, ...]


@dataclass
class Trace:
    """The commits that touched one file within the walked range, newest first."""

    commits: list[Commit] = field(default_factory=list)
    created: bool = False  # the walk reached the commit that added the file
    origin: str | None = None  # otherwise its path before the range, where history continues


def parse_log(raw: bytes) -> list[Commit]:
    """Commits of `Mirror.log` output (`-z`, a \\x01 before each header)."""
    commits = []
    for chunk in raw.split(b"\x01")[1:]:
        header, _, rest = chunk.partition(b"\0")
        sha, author, when = header.decode("utf-8", "replace").split("\x1f")
        changes = tuple(_changes(rest.split(b"\0")))
        commits.append(Commit(sha, author, datetime.fromisoformat(when), changes))
    return commits


def _changes(tokens: list[bytes]) -> Iterable[Change]:
    position = 0
    while position < len(tokens):
        status = tokens[position].lstrip(b"\n").decode()
        if not status:
            position += 1
            continue
        if status[0] in "RC":
            old, new = (
                t.decode("utf-8", "surrogateescape") for t in tokens[position + 1 : position + 3]
            )
            # A copy starts a new file's history, as an add does.
            yield Change("R", new, old) if status[0] == "R" else Change("A", new)
            position += 3
            continue
        yield Change(status[0], tokens[position + 1].decode("utf-8", "surrogateescape"))
        position += 2


def trace(commits: list[Commit], paths: Iterable[str]) -> dict[str, Trace]:
    """For each of `paths` (names at the newest commit) the commits that touched it."""
    names = {path: path for path in paths}  # name at this point of the walk -> newest name
    traces: dict[str, Trace] = {}
    for commit in commits:
        for change in commit.changes:
            current = names.get(change.path)
            if current is None or change.status == "D":
                continue
            found = traces.setdefault(current, Trace())
            if not found.commits or found.commits[-1] is not commit:
                found.commits.append(commit)
            if change.status == "R" and change.old_path is not None:
                del names[change.path]
                names[change.old_path] = current
            elif change.status == "A":
                del names[change.path]
                found.created = True
    for name, current in names.items():
        if current in traces:
            traces[current].origin = name
    return traces


def combine(found: Trace, earlier: HistoryRow | None) -> tuple[datetime, datetime, list[str]]:
    """(created, updated, authors oldest first) from a trace and the history before it."""
    newest, oldest = found.commits[0], found.commits[-1]
    continued = earlier is not None and not found.created
    authors = list(earlier.authors) if continued and earlier else []
    for commit in reversed(found.commits):
        if commit.author not in authors:
            authors.append(commit.author)
    created = store.as_utc(earlier.created_at) if continued and earlier else None
    return created or oldest.when, newest.when, authors


def refresh(
    db: Session,
    mirror: Mirror,
    commit: str,
    previous: str | None,
    folder: str,
    paths: list[str],
    removed: Iterable[str] = (),
) -> int:
    """Bring the history table up to `commit`; returns the number of files updated.

    `previous` is the commit the table describes (walk only the new commits)
    or None (walk everything and start over). `paths` are the postmortem files
    at `commit` and `removed` the ones that left since `previous`, all
    relative to the repository root.
    """
    revisions = [f"{previous}..{commit}"] if previous else [commit]
    traces = trace(parse_log(mirror.log(revisions, folder)), paths)
    inside = _library_path(folder)
    earlier = _earlier(db, [inside(t.origin) for t in traces.values() if t.origin])
    if previous is None:
        db.exec(delete(HistoryRow))
    else:
        stale = {inside(p) for p in [*removed, *traces]} | set(earlier)
        for paths_chunk in _chunks(sorted(stale)):
            db.exec(delete(HistoryRow).where(col(HistoryRow.path).in_(paths_chunk)))
    rows = [_row(path, found, earlier, inside) for path, found in traces.items()]
    # One multi-row insert per chunk: a first sync writes a row per postmortem.
    for chunk in _chunks(rows):
        db.execute(insert(HistoryRow.__table__), chunk)  # type: ignore[attr-defined]
    return len(traces)


def _row(
    path: str, found: Trace, earlier: dict[str, HistoryRow], inside: Callable[[str], str]
) -> dict[str, Any]:
    origin = earlier.get(inside(found.origin)) if found.origin else None
    created, updated, authors = combine(found, origin)
    return {
        "path": inside(path),
        "repo_path": path,
        "created_at": created,
        "updated_at": updated,
        "authors": authors,
        "commit": found.commits[0].sha,
    }


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _earlier(db: Session, paths: list[str]) -> dict[str, HistoryRow]:
    """Stored history rows by path (where renamed files continue their history)."""
    found: dict[str, HistoryRow] = {}
    for chunk in _chunks(sorted(set(paths))):
        rows = db.exec(select(HistoryRow).where(col(HistoryRow.path).in_(chunk)))
        found.update((row.path, row) for row in rows)
    return found


def _library_path(folder: str) -> Callable[[str], str]:
    prefix = f"{folder}/" if folder else ""
    return lambda path: path.removeprefix(prefix)


def describe(db: Session, path: str, web_url: str | None) -> dict[str, Any] | None:
    """The `history` of a postmortem in the API, or None when it does not come from git."""
    row = db.get(HistoryRow, path)
    if row is None:
        return None
    indexed = store.get_meta(db, INDEXED_COMMIT) or row.commit
    created, updated = store.as_utc(row.created_at), store.as_utc(row.updated_at)
    return {
        "created_at": created.isoformat() if created else None,
        "updated_at": updated.isoformat() if updated else None,
        "authors": list(row.authors),
        "commit": row.commit,
        "web_url": link(web_url, indexed, row.repo_path),
    }


def link(template: str | None, commit: str, repo_path: str) -> str | None:
    """The file at a commit in the repository's web UI, from PML_GIT_WEB_URL."""
    if not template:
        return None
    return template.replace("{commit}", commit).replace("{path}", quote(repo_path))
