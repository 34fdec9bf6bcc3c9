"""Schema migrations with Alembic: `pml migrate`, and every start-up through `store.make_engine`.

The revisions live in `indexer/db/migrations/versions` (inside the package, so an
installed wheel or the container has them). Databases made before migrations
existed (by `create_all`) have tables but no `alembic_version`: the first
revision creates only the tables that are missing, so they end at head too.
Replicas starting together on PostgreSQL take turns (an advisory lock).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

FOLDER = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 7_340_017  # any constant shared by every replica


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision in the package."""
    script = ScriptDirectory.from_config(_config(None))  # type: ignore[arg-type]
    found = script.get_current_head()
    assert found is not None, "no migrations in the package"
    return found


def current(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision (idempotent; safe to run on every start)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        command.upgrade(_config(connection), "head")
