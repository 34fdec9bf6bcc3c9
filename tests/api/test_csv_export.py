"""CSV downloads never carry a formula: text starting with = + - @ tab or CR is escaped.

The cells come from imported incident data (service and error class names),
which anyone with write access (or a vendor export) controls.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.reports import TABLES
from indexer.config import Settings
from indexer.reports.tables import csv_cell

# Leading tab and CR are covered by test_the_escaping_rule: the CSV importer strips
# whitespace around names and splits rows at any CR, so no imported name starts with one.
NASTY = ["=cmd|' /C calc'!A0", "+1+cmd", "-2+cmd", "@SUM(A1)"]
HEADER = [
    "source_id", "title", "service", "severity", "started_at", "detected_at", "acknowledged_at",
    "mitigated_at", "resolved_at", "error_class", "error_budget_minutes", "postmortem",
]  # fmt: skip


def _incidents() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for n, name in enumerate(NASTY):
        writer.writerow([
            f"INC-{n}", "Errors", name, "SEV2", "2025-03-10T10:00:00Z", "", "", "",
            "2025-03-10T11:00:00Z", name, "30", "",
        ])  # fmt: skip
    # An earlier window with more incidents, so the change column goes negative.
    for n in range(3):
        writer.writerow([
            f"OLD-{n}", "Errors", "orders", "SEV2", "2024-12-20T10:00:00Z", "", "", "",
            "2024-12-20T11:00:00Z", "deployment-regression", "5", "",
        ])  # fmt: skip
    return out.getvalue()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        reply = test_client.post(
            "/api/incidents/import",
            params={"source": "csv"},
            content=_incidents(),
            headers={"content-type": "text/csv"},
        )
        assert reply.status_code == 200 and reply.json()["added"] == len(NASTY) + 3, reply.text
        yield test_client


def test_every_csv_download_escapes_formula_cells(client: TestClient) -> None:
    params = {"as_of": "2025-03-31", "days": 90, "period": "month", "periods": 6}
    seen: set[str] = set()
    for name in TABLES:
        reply = client.get(f"/trends/{name}.csv", params=params)
        assert reply.status_code == 200, name
        for row in csv.reader(io.StringIO(reply.text, newline="")):
            for cell in row:
                seen.add(cell)
                if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                    float(cell)  # only a genuine number may start with a sign
    for name in NASTY:
        assert "'" + name in seen, name  # the imported names are there, escaped
    assert any(cell.startswith("-") and float(cell) < 0 for cell in seen), "no negative figure"


def test_the_escaping_rule() -> None:
    assert csv_cell("=1+1") == "'=1+1" and csv_cell("-5") == "'-5" and csv_cell("a=b") == "a=b"
    assert csv_cell("\rx") == "'\rx" and csv_cell("\tx") == "'\tx"
    assert csv_cell(-5) == -5 and csv_cell(-0.5) == -0.5 and csv_cell(None) == ""
