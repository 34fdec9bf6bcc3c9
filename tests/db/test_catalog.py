"""The database listing (`catalog.list_postmortems`) over a small indexed library in SQLite."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from indexer.config import Settings
from indexer.db import catalog, store
from indexer.filters import Filters
from indexer.library import Library
from tests.conftest import SAMPLE_LIBRARY, postmortem_text, write
from tests.filter_samples import NAMES, pair, sample

# Newest first: the order the listing must come back in.
DATED = [("newest", "2026-02-01"), ("middle", "2025-09-15"), ("oldest", "2023-04-30")]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("catalog")
    folder = root / "library"
    folder.mkdir()
    shutil.copy(SAMPLE_LIBRARY / "taxonomy.yaml", folder / "taxonomy.yaml")
    a, b = pair()
    write(folder, "pair/a.md", postmortem_text(id="a", title="Twin a", **a))
    write(folder, "pair/b.md", postmortem_text(id="b", title="Twin b", **b))
    for identifier, day in reversed(DATED):
        write(folder, f"dated/{identifier}.md", postmortem_text(id=identifier, date=day))
    write(
        folder,
        "dated/secret.md",
        postmortem_text(id="secret", date="2025-09-16", visibility="restricted", audience=["sec"]),
    )
    settings = Settings(library=folder, data_dir=root / "data", embedding_model="hash")
    with Library.open(settings) as opened:
        report = opened.refresh()
        assert (report.added, report.problems) == (6, []), report.summary()
        yield opened


@pytest.fixture
def db(library: Library) -> Iterator[Session]:
    with store.session(library.engine) as session:
        yield session


def listed(db: Session, filters: Filters | None = None, **options: Any) -> tuple[int, list[str]]:
    total, page = catalog.list_postmortems(db, filters or Filters(), **options)
    return total, [item["id"] for item in page]


def pair_only(db: Session, filters: Filters) -> list[str]:
    """The twins among what `filters` list (the dated postmortems may match some filters too)."""
    return [
        identifier for identifier in listed(db, filters, limit=100)[1] if identifier in {"a", "b"}
    ]


@pytest.mark.parametrize("name", NAMES)
def test_every_filter_field_narrows_the_listing(db: Session, name: str) -> None:
    _, _, picks_a, picks_b = sample(name)
    assert pair_only(db, Filters({name: [picks_a]})) == ["a"]
    assert pair_only(db, Filters({name: [picks_b]})) == ["b"]
    assert sorted(pair_only(db, Filters({name: [picks_a, picks_b]}))) == ["a", "b"]
    total, found = listed(db, Filters({name: ["no-such-value"]}))
    assert (total, found) == (0, [])


def test_the_total_counts_what_the_filters_leave(db: Session) -> None:
    _, _, picks_a, _ = sample("team")
    assert listed(db, Filters({"team": [picks_a]})) == (1, ["a"])
    assert listed(db, Filters({"year": ["2026"]})) == (1, ["newest"])
    total, _ = listed(db, Filters({"year": ["2023", "2026"]}))
    assert total == 2


def test_filter_fields_are_and_ed(db: Session) -> None:
    a, _ = pair()
    year = a["date"][:4]
    assert listed(db, Filters({"tag": ["kafka"], "year": [year]}))[1] == ["a"]
    assert listed(db, Filters({"tag": ["kafka"], "year": ["2026"]})) == (0, [])


def test_a_year_that_is_not_a_year_matches_nothing(db: Session) -> None:
    assert listed(db, Filters({"year": ["x"]})) == (0, [])
    assert listed(db, Filters({"year": ["x", "2026"]})) == (1, ["newest"])


def test_newest_first_page_by_page(db: Session) -> None:
    total, rows = catalog.list_postmortems(db, Filters(), limit=100)
    days = [row["date"] for row in rows]
    assert days == sorted(days, reverse=True)
    assert total == len(rows) == 5  # the restricted one is not listed
    names = [name for name, _ in DATED]
    assert [row["id"] for row in rows if row["id"] in names] == names
    first, second, third = (listed(db, limit=2, offset=n)[1] for n in (0, 2, 4))
    assert (len(first), len(second), len(third)) == (2, 2, 1)
    assert first + second + third == [row["id"] for row in rows]
    assert listed(db, limit=2, offset=100) == (5, [])


def test_since_and_until_are_inclusive(db: Session) -> None:
    day = date(2025, 9, 15)
    assert listed(db, Filters(since=day, until=day)) == (1, ["middle"])
    assert listed(db, Filters(since=date(2026, 2, 1))) == (1, ["newest"])
    assert listed(db, Filters(until=date(2023, 4, 30))) == (1, ["oldest"])


def test_restricted_postmortems_are_listed_only_for_their_audience(db: Session) -> None:
    hidden = listed(db, limit=100)
    assert "secret" not in hidden[1]
    assert listed(db, limit=100, groups=frozenset({"other"})) == hidden
    total, shown = listed(db, limit=100, groups=frozenset({"sec"}))
    assert total == hidden[0] + 1
    assert shown.index("secret") == shown.index("middle") - 1  # in date order among the rest
    restricted = Filters({"year": ["2025"]})
    assert "secret" not in listed(db, restricted)[1]
    assert "secret" in listed(db, restricted, groups=frozenset({"sec"}))[1]


def test_a_listed_postmortem_reads_as_written(db: Session, library: Library) -> None:
    a, _ = pair()
    _, page = catalog.list_postmortems(db, Filters({"team": ["payments"]}))
    (item,) = page
    assert item["title"] == "Twin a"
    assert item["date"] == a["date"]
    assert item["services"] == a["services"]
    assert item["error_classes"] == a["error_classes"]
    assert item["contributing_factors"] == a["contributing_factors"]
    assert (item["severity"], item["type"], item["status"]) == (
        a["severity"],
        a["type"],
        a["status"],
    )
    assert item["path"] == "pair/a.md"
    assert Path(library.root / item["path"]).is_file()
