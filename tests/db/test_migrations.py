"""Schema migrations: empty and create_all-made databases both end at head, matching the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

import indexer.db.models  # noqa: F401  (registers every table)
from api.cli import main
from indexer.db import migrate, store


def _differences(url: str) -> list[object]:
    engine = create_engine(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        found = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    return list(found)


def test_an_empty_database_migrates_to_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    engine.dispose()
    assert _differences(database_url) == []


def test_a_database_made_by_create_all_is_brought_to_head(database_url: str) -> None:
    engine = create_engine(database_url)
    tables = [t for name, t in SQLModel.metadata.tables.items() if name != "audit_log"]
    SQLModel.metadata.create_all(engine, tables=tables)  # as an older version left it
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO pml_meta (key, value) VALUES ('kept', 'yes')"))
    engine.dispose()
    engine = store.make_engine(database_url)  # what every start-up does
    assert migrate.current(engine) == migrate.head()
    assert "audit_log" in inspect(engine).get_table_names()
    with store.session(engine) as db:
        assert store.get_meta(db, "kept") == "yes"
    engine.dispose()
    assert _differences(database_url) == []


def test_pml_migrate(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PML_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 0, result.output
    assert f"at revision {migrate.head()}" in result.output
    again = CliRunner().invoke(main, ["migrate"])
    assert again.exit_code == 0 and migrate.head() in again.output
