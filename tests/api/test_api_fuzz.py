"""API fuzzing: schemathesis generates requests from our own OpenAPI schema against a real server.

Every operation gets `EXAMPLES` generated requests (over 1,000 in all) over
real HTTP to `pml serve` on the sample library. A 5xx or a body that does not
match the documented response schema fails the test. Status codes the schema
does not list (400, 404, 413, 503 with their JSON `detail`) are allowed: they
are the documented error policy of the README.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.conftest import postgres_schema
from tests.live_server import serve

EXAMPLES = 60  # per operation (operations without parameters need only one)
pytestmark = pytest.mark.reliability


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def base_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_available: bool,
) -> Iterator[str]:
    """`pml serve` on the sample library, on SQLite and on PostgreSQL (issue 29)."""
    data_dir: Path = tmp_path_factory.mktemp("fuzz-data")
    if request.param == "sqlite":
        with serve(data_dir) as base:
            yield base
        return
    if not postgres_available:
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    with postgres_schema() as url, serve(data_dir, extra={"PML_DATABASE_URL": url}) as base:
        yield base


def test_no_server_errors_and_responses_match_the_schema(base_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same requests every run: a failure here reproduces
        )
        def call(case: schemathesis.Case) -> None:
            nonlocal sent
            sent += 1
            case.call_and_validate(
                checks=[not_a_server_error, response_schema_conformance], timeout=30
            )

        call()
    assert sent >= 1000, f"only {sent} requests were generated"
