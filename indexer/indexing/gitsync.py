"""Following a git repository: fetch the branch, index what changed, remember where we are.

`sync(library)` is the one entry point; `pml sync`, the background follower
of `pml serve` and the push webhooks all run it. It fetches PML_GIT_BRANCH of
PML_GIT_URL into a bare mirror in the data directory, diffs the tree of the
new head against the commit indexed last time and reads only the blobs that
were added, changed or renamed. A rewritten history (force push), another
library folder or a library indexed by something else since falls back to a
full comparison by content hash. A failed sync changes nothing that serves:
the previous index stays, and the error is recorded for `/readyz`.

Where the library lives in the repository: PML_GIT_PATH, `postmortems` by
default (`.` for the repository root). It is never guessed: when that folder
is missing at the fetched commit the sync fails (visibly, in `/readyz` and
the log) and the last good library keeps serving, rather than widening to
the repository root and publishing whatever Markdown lives there.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import PurePosixPath
from typing import Any

from indexer.db import store
from indexer.format import files, taxonomy
from indexer.format.postmortem import MalformedPostmortem
from indexer.incidents import HISTORY_FILE, importers
from indexer.indexing import git, githistory, ingest
from indexer.indexing.git import BlobReader, GitError, Mirror, TreeDiff, TreeEntry
from indexer.indexing.scheduler import CoalescingRunner
from indexer.indexing.stores import LibraryStores
from indexer.reports import targets
from indexer.serverpaths import hide_paths

log = logging.getLogger("pml.gitsync")

DEFAULT_FOLDER = "postmortems"
MIRROR_DIR = "git/mirror.git"
MAX_FILES = 50_000  # postmortem files in the library folder
MAX_ENTRIES = 200_000  # anything under the library folder, to bound memory
MAX_ERROR_CHARS = 2000
SETTLE_SECONDS = 0.5  # webhooks of one burst of pushes share a sync
# Meta keys (the indexed commit's key lives in githistory, which links to it).
ROOT = "git_root"
INDEXED_AT = "git_indexed_at"
SYNCED_AT = "git_synced_at"
ERROR = "git_error"
ERROR_AT = "git_error_at"


class SyncError(Exception):
    """A sync could not finish; the message says why and is safe to show."""


@dataclass
class SyncReport:
    """What one sync did."""

    commit: str
    previous: str | None
    incremental: bool
    index: ingest.Report
    files_read: int
    history_updated: int
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        how = "changed files only" if self.incremental else "full comparison"
        return (
            f"synced {self.commit[:12]} ({how}; {self.files_read} files read) "
            f"in {self.seconds:.2f}s: {self.index.summary()}"
        )


@dataclass
class _Tree:
    """The library folder at one commit: postmortem blobs, the taxonomy, what was skipped."""

    folder: str
    files: list[TreeEntry] = field(default_factory=list)
    taxonomy: TreeEntry | None = None
    history: TreeEntry | None = None  # incidents.csv
    targets: TreeEntry | None = None  # targets.yaml
    warnings: list[str] = field(default_factory=list)

    def inside(self, path: str) -> str:
        """A repository path made relative to the library folder."""
        return path.removeprefix(f"{self.folder}/") if self.folder else path


def sync(library: LibraryStores, *, force: bool = False) -> SyncReport:
    """Bring the library in line with the branch head; `SyncError` if it cannot."""
    try:
        report = _sync(library, force=force)
    except (GitError, SyncError, taxonomy.TaxonomyError) as error:
        message = git.redact(str(error))
        _record_failure(library, message)
        raise SyncError(message) from error
    except Exception as error:
        _record_failure(library, f"internal error ({type(error).__name__}); see the server log")
        raise
    log.info("%s", report.summary())
    return report


def _sync(library: LibraryStores, *, force: bool) -> SyncReport:
    started = time.perf_counter()
    settings = library.settings
    if not settings.git_url:
        raise SyncError("PML_GIT_URL is not set: there is no repository to sync from")
    remote = git.check_remote(settings.git_url)
    branch = git.check_branch(settings.git_branch)
    mirror = Mirror(settings.data_dir / MIRROR_DIR)
    mirror.ensure()
    commit = mirror.fetch(remote, branch)
    tree = _read_tree(mirror, commit, _library_folder(mirror, commit, settings.git_path))
    previous, diff = _since_last(library, mirror, commit, tree.folder, force)
    with BlobReader(mirror) as reader:
        taxonomy_text = _taxonomy_text(tree, reader)
        before = reader.count
        sources = _sources(library, tree, reader, diff)
        report = ingest.run(library, sources, taxonomy_text, force=force)
        _load_history_and_targets(library, tree, reader)
        files_read = reader.count - before
    since = previous if diff is not None else None
    updated = _record_success(library, mirror, commit, tree, since, diff)
    return SyncReport(
        commit=commit,
        previous=previous,
        incremental=diff is not None,
        index=report,
        files_read=files_read,
        history_updated=updated,
        warnings=tree.warnings,
        seconds=time.perf_counter() - started,
    )


def _library_folder(mirror: Mirror, commit: str, configured: str | None) -> str:
    """The library's folder in the repository ('' for the root): configured, never guessed."""
    configured = DEFAULT_FOLDER if configured is None else configured
    folder = configured.strip().strip("/")
    if folder in ("", "."):
        return ""
    if folder.startswith("-") or ".." in PurePosixPath(folder).parts:
        raise SyncError(f"PML_GIT_PATH '{configured}' is not a folder inside the repository")
    if not _is_folder(mirror, commit, folder):
        raise SyncError(
            f"the repository has no folder '{folder}' at {commit[:12]} (PML_GIT_PATH; "
            "'.' for the repository root): the last good library keeps serving"
        )
    return folder


def _is_folder(mirror: Mirror, commit: str, folder: str) -> bool:
    entries = mirror.tree(commit, folder, recursive=False)
    return any(entry.kind == "tree" and entry.path == folder for entry in entries)


def _read_tree(mirror: Mirror, commit: str, folder: str) -> _Tree:
    entries = mirror.tree(commit, folder)
    if len(entries) > MAX_ENTRIES:
        raise SyncError(
            f"the library folder holds {len(entries)} entries; the limit is {MAX_ENTRIES}"
        )
    tree = _Tree(folder)
    for entry in entries:
        path = tree.inside(entry.path)
        if entry.mode == "120000" or entry.kind == "commit":
            what = "symlink" if entry.mode == "120000" else "submodule"
            tree.warnings.append(f"{entry.path}: {what} ignored; only regular files are read")
        elif entry.is_file and path == taxonomy.FILE_NAME:
            tree.taxonomy = entry
        elif entry.is_file and path == HISTORY_FILE:
            tree.history = entry
        elif entry.is_file and path == targets.FILE_NAME:
            tree.targets = entry
        elif entry.is_file and files.is_postmortem_path(PurePosixPath(path)):
            tree.files.append(entry)
    if len(tree.files) > MAX_FILES:
        raise SyncError(
            f"the library holds {len(tree.files)} postmortems; the limit is {MAX_FILES}"
        )
    for warning in tree.warnings:
        log.warning("%s", warning)
    return tree


def _since_last(
    library: LibraryStores, mirror: Mirror, commit: str, folder: str, force: bool
) -> tuple[str | None, TreeDiff | None]:
    """The commit synced last time and the diff from it; no diff means compare everything."""
    with store.session(library.engine) as db:
        previous = store.get_meta(db, githistory.INDEXED_COMMIT)
        same_folder = store.get_meta(db, ROOT) == folder
        # Indexed by something else (a folder refresh) since: stored hashes are not ours.
        ours = store.get_meta(db, "indexed_at") == store.get_meta(db, INDEXED_AT)
    if force or previous is None or not same_folder or not ours:
        return previous, None
    if not mirror.has_commit(previous) or not mirror.is_ancestor(previous, commit):
        log.warning("history was rewritten since %s: comparing every file", previous[:12])
        return previous, None
    return previous, mirror.diff(previous, commit, folder)


def _sources(
    library: LibraryStores, tree: _Tree, reader: BlobReader, diff: TreeDiff | None
) -> list[files.SourceFile]:
    """Source files for indexing; the unchanged ones carry their stored hash and are not read."""
    known: dict[str, tuple[str, str]] = {}
    if diff is not None:
        with store.session(library.engine) as db:
            known = store.known_hashes(db)
    sources = []
    for entry in tree.files:
        path = tree.inside(entry.path)
        stored = known.get(path)
        unchanged = stored is not None and diff is not None and entry.path not in diff.changed
        digest = stored[1] if stored and unchanged else None
        sources.append(files.SourceFile(path, _reader(reader, entry, path), digest))
    return sources


def _reader(reader: BlobReader, entry: TreeEntry, display: str) -> Callable[[], str]:
    return partial(_blob_text, reader, entry, display)


def _blob_text(reader: BlobReader, entry: TreeEntry, display: str) -> str:
    """A blob's text, with the same checks and newlines as a file read from a folder."""
    if entry.size is not None and entry.size > files.MAX_FILE_BYTES:
        limit = files.MAX_FILE_BYTES
        raise MalformedPostmortem(display, 1, f"file is {entry.size} bytes; the limit is {limit}")
    try:
        text = reader.read(entry.sha).decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedPostmortem(display, 1, f"file is not UTF-8 text ({error.reason})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _load_history_and_targets(library: LibraryStores, tree: _Tree, reader: BlobReader) -> None:
    """The repository's incident history (imported when changed) and its targets."""
    if tree.history is not None:
        data = reader.read(tree.history.sha)
        importers.load_history_data(library.engine, data, tree.history.path, library.taxonomy)
    text = _blob_text(reader, tree.targets, tree.targets.path) if tree.targets else ""
    with store.session(library.engine) as db:
        store.set_meta(db, targets.SYNCED_KEY, text)
        db.commit()


def _taxonomy_text(tree: _Tree, reader: BlobReader) -> str:
    if tree.taxonomy is None:
        return ""
    try:
        return _blob_text(reader, tree.taxonomy, tree.taxonomy.path)
    except MalformedPostmortem as error:
        raise SyncError(f"{tree.taxonomy.path}: {error.finding.message}") from None


def _record_success(
    library: LibraryStores,
    mirror: Mirror,
    commit: str,
    tree: _Tree,
    previous: str | None,
    diff: TreeDiff | None,
) -> int:
    """Store the history and the commit now indexed; returns the files whose history changed."""
    paths = [entry.path for entry in tree.files]
    removed = diff.removed if diff else frozenset()
    with store.session(library.engine) as db:
        updated = githistory.refresh(db, mirror, commit, previous, tree.folder, paths, removed)
        store.set_meta(db, githistory.INDEXED_COMMIT, commit)
        store.set_meta(db, ROOT, tree.folder)
        store.set_meta(db, INDEXED_AT, store.get_meta(db, "indexed_at") or "")
        store.set_meta(db, SYNCED_AT, _now())
        db.commit()
    return updated


def _record_failure(library: LibraryStores, message: str) -> None:
    log.error("git sync failed: %s", message)
    try:
        with store.session(library.engine) as db:
            store.set_meta(db, ERROR, message[:MAX_ERROR_CHARS])
            store.set_meta(db, ERROR_AT, _now())
            db.commit()
    except Exception:  # the database may be what failed; the log line above has the error
        log.exception("could not record the sync failure")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def status(library: LibraryStores, *, admin: bool = True) -> dict[str, Any]:
    """The sync section of `/readyz`: where we are and whether the last attempt failed.

    Others than admins get the error with server paths taken out.
    """
    keys = (githistory.INDEXED_COMMIT, SYNCED_AT, ERROR, ERROR_AT)
    with store.session(library.engine) as db:
        commit, synced_at, error, error_at = (store.get_meta(db, key) for key in keys)
    failing = bool(error_at) and (synced_at is None or (error_at or "") > synced_at)
    return {
        "state": "failing" if failing else ("ok" if commit else "not synced yet"),
        "branch": library.settings.git_branch,
        "commit": commit,
        "last_success_at": synced_at,
        "last_error": error if admin or error is None else hide_paths(error),
        "last_error_at": error_at,
    }


def follower(library: LibraryStores) -> CoalescingRunner:
    """The background runner of `pml serve`: syncs on request and every PML_SYNC_INTERVAL."""
    interval = library.settings.sync_interval or None
    job = partial(_sync_logged, library)
    return CoalescingRunner(job, interval=interval, name="pml-git-sync", settle=SETTLE_SECONDS)


def _sync_logged(library: LibraryStores) -> None:
    # A failure is recorded and logged by sync(); the previous index keeps serving.
    with contextlib.suppress(SyncError):
        sync(library)
