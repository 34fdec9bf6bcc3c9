"""Shared fixtures: temporary libraries, both database backends, an HTTP client."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from indexer.config import Settings

# Tests use the small deterministic embedder unless they ask for the real model.
os.environ["PML_EMBEDDING_MODEL"] = "hash"
# The hosts test clients address (Starlette's `testserver`, live servers on loopback).
os.environ["PML_ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1,::1"

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LIBRARY = ROOT / "postmortems"
SHARED = ROOT.parent / "shared"
PG_URL = os.environ.get(
    "PML_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

BODY = """## Summary
{summary}

## Impact
Some customers saw errors.

## Timeline
- 10:00 it started

## Contributing factors
Nobody expected it.

## Detection
An alert fired.

## Response and recovery
We rolled back.

## Lessons learned
Check first.

## Action items
- AI-1
"""


def postmortem_text(
    *, body: str | None = None, summary: str = "Something broke.", **fields: Any
) -> str:
    """A valid postmortem file; keyword arguments override front-matter fields."""
    front: dict[str, Any] = {
        "schema": 1,
        "title": "Orders API returned errors",
        "date": "2025-03-14",
        "status": "published",
        "severity": "SEV2",
        "services": ["orders"],
        "error_classes": ["deployment-regression"],
    }
    front.update(fields)
    front = {k: v for k, v in front.items() if v is not None}
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True)
    return f"---\n{header}---\n{body if body is not None else BODY.format(summary=summary)}"


def write(folder: Path, name: str, content: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def _postgres_available() -> bool:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    return _postgres_available()


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh private schema in the test PostgreSQL server, dropped afterwards."""
    schema = f"pml_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_available: bool
) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema in PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pml.sqlite3'}"
        return
    if not postgres_available:
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    schema = f"pml_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    """An empty library folder with the sample taxonomy."""
    folder = tmp_path / "library"
    folder.mkdir()
    shutil.copy(SAMPLE_LIBRARY / "taxonomy.yaml", folder / "taxonomy.yaml")
    return folder


@pytest.fixture
def settings(tmp_path: Path, library_dir: Path, database_url: str) -> Settings:
    return Settings(
        library=library_dir,
        data_dir=tmp_path / "data",
        database_url=database_url,
        embedding_model="hash",
    )


@pytest.fixture
def sample_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings that serve the shipped sample library."""
    return Settings(
        library=SAMPLE_LIBRARY,
        data_dir=tmp_path / "data",
        database_url=database_url,
        embedding_model="hash",
    )


@pytest.fixture
def open_library() -> Iterator[Any]:
    """Open a `Library`; every one opened is closed when the test ends, pass or fail."""
    from indexer.library import Library

    opened: list[Library] = []

    def _open(settings: Settings) -> Library:
        library = Library.open(settings)
        opened.append(library)
        return library

    yield _open
    for library in opened:
        library.close()
