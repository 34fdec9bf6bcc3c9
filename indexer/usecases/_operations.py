"""Operations: the files indexing skipped (with their access rule), readiness, shared secrets.

`problems` decides who may see which skipped file: a file that might be a
restricted postmortem names nothing outside PML_ADMIN_GROUP, not even its path.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.exc import IntegrityError

from indexer import auth
from indexer.config import Settings
from indexer.db import catalog, migrate, store
from indexer.incidents import model
from indexer.incidents.model import ImportReport
from indexer.indexing import ingest
from indexer.library import Library
from indexer.reports import metrics
from indexer.usecases import _incidents


def problems(library: Library, identity: auth.Identity | None) -> dict[str, Any]:
    """Files the indexing runs could not read, or indexed with a lint error (`indexed`),
    with the reason, as `identity` may see them: possibly restricted files for admins only."""
    admin = auth.is_admin(library.settings, identity)
    with store.session(library.engine) as db:
        return {"items": store.list_problems(db, restricted=admin)}


def database_checks(library: Library, groups: frozenset[str] | None) -> dict[str, Any]:
    """Whether the database answers and, when it does, what the reader may count in it.

    `groups` None counts every postmortem (PML_ADMIN_GROUP's view).
    """
    checks: dict[str, Any] = {}
    try:
        store.ping(library.engine)
        checks["database"] = True
    except Exception as error:  # any driver error means not ready
        checks["database"] = False
        checks["database_error"] = type(error).__name__
    if checks["database"]:
        with store.session(library.engine) as db:
            checks["postmortems"] = catalog.count_visible(db, groups)
            checks["indexed_at"] = store.get_meta(db, "indexed_at")
    return checks


def shared_secret(library: Library, key: str) -> bytes:
    """A random key made once and shared through the database by every replica."""
    with store.session(library.engine) as db:
        found = store.get_meta(db, key)
        if found is None:
            store.set_meta(db, key, secrets.token_hex(32))
            try:
                db.commit()
            except IntegrityError:  # another replica made it first: use theirs
                db.rollback()
            found = store.get_meta(db, key)
    assert found is not None
    return bytes.fromhex(found)


def incident_totals(library: Library, cache: dict[str, Any]) -> list[dict[str, Any]]:
    """Incident counts, resolve times and error budget by service and class (for /metrics).

    Recomputed only when the incident table changed since `cache` was filled.
    """
    with store.session(library.engine) as db:
        version = model.version(db)
        if cache.get("version") != version:
            cache.update(version=version, rows=metrics.totals(db))
    rows: list[dict[str, Any]] = cache["rows"]
    return rows


def refresh(
    library: Library, *, force: bool = False, progress: ingest.Progress | None = None
) -> tuple[ingest.Report, ImportReport | None]:
    """Bring a library folder's stores up to date: index what changed, then load its incident
    history. `pml serve` (folder mode) and `pml index` both come here; a followed git
    repository is brought up to date by `gitsync.sync`, which loads the same two things."""
    report = library.refresh(force=force, progress=progress)
    return report, _incidents.load_history(library)


def migrate_database(settings: Settings) -> tuple[str | None, str | None]:
    """Bring the database schema to the newest revision: (revision before, revision now)."""
    engine = store.plain_engine(settings.resolved_database_url)
    try:
        before = migrate.current(engine)
        migrate.upgrade(engine)
        return before, migrate.current(engine)
    finally:
        engine.dispose()
