"""Following a git repository: its incident history and targets load with each sync."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from indexer.config import Settings
from indexer.db import store
from indexer.filters import INCIDENT_FIELDS, Filters
from indexer.incidents import query
from indexer.indexing import gitsync
from indexer.reports import targets
from tests.conftest import postmortem_text
from tests.gitrepo import Repo

HISTORY = (
    "source_id,title,service,severity,started_at,detected_at,acknowledged_at,mitigated_at,"
    "resolved_at,error_class,error_budget_minutes,postmortem\n"
    "INC-1,Pool exhausted,Orders API,SEV2,2025-08-01T10:00:00Z,,,,2025-08-01T11:00:00Z,,,a\n"
    "INC-2,Pool again,orders,SEV3,2025-08-09T10:00:00Z,,,,,connection-pool-exhaustion,,\n"
)
TARGETS = """\
targets:
  - id: pool-to-1
    error_class: connection-pool-exhaustion
    baseline: 4
    target: 1
    start: 2025-Q3
    deadline: 2025-Q4
"""
TAXONOMY = "services:\n  - id: orders\n    aliases: [Orders API]\n"


@pytest.fixture
def origin(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "origin")
    repo.write(
        "2025/a.md",
        postmortem_text(
            id="a", title="Pool exhausted", error_classes=["connection-pool-exhaustion"]
        ),
    )
    repo.write("taxonomy.yaml", TAXONOMY)
    repo.write("incidents.csv", HISTORY)
    repo.write("targets.yaml", TARGETS)
    repo.commit("Library with history and targets")
    return repo


def test_sync_loads_the_repositorys_history_and_targets(
    settings: Settings, origin: Repo, open_library: Any
) -> None:
    following = settings.model_copy(update={"git_url": str(origin.path)})
    assert not (following.library / "incidents.csv").exists()  # nothing in the folder
    target = open_library(following)
    gitsync.sync(target)
    with store.session(target.engine) as db:
        total, items = query.incidents(db, frozenset(), Filters(fields=INCIDENT_FIELDS))
        report = targets.report(db, target.root, dt.date(2025, 9, 30))
    assert total == 2
    first = next(i for i in items if i["source_id"] == "INC-1")
    assert first["service"] == "orders" and first["postmortem"] == "a"  # alias, link
    assert first["error_classes"] == ["connection-pool-exhaustion"]
    assert [item["id"] for item in report["items"]] == ["pool-to-1"]
    # A later commit changes the history and drops the targets: both follow.
    origin.write(
        "incidents.csv", HISTORY + HISTORY.splitlines()[1].replace("INC-1", "INC-3") + "\n"
    )
    (origin.path / "postmortems" / "targets.yaml").unlink()
    origin.commit("More history, no targets")
    gitsync.sync(target)
    with store.session(target.engine) as db:
        assert query.incidents(db, frozenset(), Filters(fields=INCIDENT_FIELDS))[0] == 3
        assert targets.report(db, target.root, dt.date(2025, 9, 30))["items"] == []
