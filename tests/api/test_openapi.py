"""/openapi.json documents what every JSON route answers, and the answers fit what it says.

A route added with a bare `dict[str, Any]` (or a `JSONResponse` and no model)
is documented as `{}` or an object without properties: a client generator
learns nothing from it. The walk below fails for such a route, so each new
one needs a model in `api/schemas.py`. The answers of the write routes are
checked against their documented models with real requests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api import schemas
from api.app import create_app
from indexer.config import Settings
from tests.conftest import SAMPLE_LIBRARY
from tests.routes import every_route

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
JSON = "application/json"
HIKARI = "2026-03-09-checkout-hikari-pool-saturation"
STATISTICS = ("median", "mean", "p90")  # of a duration trend's periods
UNMAPPED = b"INC-90,Ledger batch late,ledger-batch,SEV3,2025-02-14T10:00:00Z,,,,,,,\n"


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def described(schema: dict[str, Any], spec: dict[str, Any]) -> bool:
    """Whether `schema` says something: named properties, typed items, or a scalar type."""
    schema = _resolve(schema, spec)
    if "anyOf" in schema or "oneOf" in schema:
        return all(described(part, spec) for part in schema.get("anyOf", schema.get("oneOf")))
    kind = schema.get("type")
    if kind == "object":
        return bool(schema.get("properties"))
    if kind == "array":
        return described(schema.get("items", {}), spec)
    return kind is not None


def undocumented(spec: dict[str, Any]) -> list[str]:
    """Operations answering JSON whose every 2xx JSON schema is missing or says nothing."""
    missing = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = [
                response.get("content", {}).get(JSON)
                for status, response in operation.get("responses", {}).items()
                if status.startswith("2")
            ]
            json_answers = [answer for answer in answers if answer is not None]
            if not answers or any(
                not described(answer.get("schema", {}), spec) for answer in json_answers
            ):
                missing.append(f"{method.upper()} {path}")
    return missing


def hidden_api_routes(app: FastAPI, spec: dict[str, Any]) -> list[str]:
    """API routes under /api that the schema leaves out altogether."""
    return [
        route.path
        for route in every_route(app.routes)
        if isinstance(route, APIRoute)
        and route.path.startswith("/api/")
        and route.path not in spec["paths"]
    ]


def test_every_json_route_documents_its_answer(settings: Settings) -> None:
    app = create_app(settings)
    spec = app.openapi()
    assert undocumented(spec) == []
    assert hidden_api_routes(app, spec) == []
    documented = {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}
    # The routes this check exists for are really in the walk.
    assert {"POST /api/incidents/import", "POST /api/webhooks/jsm", "GET /api/services/{name}"} <= (
        documented
    )


def test_the_walk_catches_a_route_without_a_model() -> None:
    app = FastAPI()

    @app.get("/api/loose")
    def loose() -> dict[str, Any]:
        return {"anything": 1}

    @app.get("/api/typed", response_model=schemas.Health)
    def typed() -> dict[str, Any]:
        return {"status": "ok"}

    @app.post("/api/raw")
    def raw() -> Any:
        return {}

    assert undocumented(app.openapi()) == ["GET /api/loose", "POST /api/raw"]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_write_answers_fit_their_documented_models(client: TestClient) -> None:
    csv = (FIXTURES / "incidents.csv").read_bytes()
    imported = client.post(
        "/api/incidents/import",
        params={"source": "csv"},
        content=csv,
        headers={"content-type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    report = schemas.ImportReport.model_validate(imported.json())
    assert report.added > 0

    alert = {
        "version": "4",
        "status": "firing",
        "receiver": "pml",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "PoolSaturated", "service": "orders"},
                "annotations": {},
                "startsAt": "2026-11-20T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "abc123",
            }
        ],
    }
    alerted = client.post("/api/alerts/alertmanager", json=alert)
    assert alerted.status_code == 200, alerted.text
    answer = schemas.IntakeAnswer.model_validate(alerted.json())
    assert answer.status == "stored" and answer.delivery is not None
    assert answer.model_extra and answer.model_extra["received"] == 1

    entry = {
        "date": "2026-11-20",
        "service": "orders",
        "what_failed": "pool nearly full",
        "caught_by": "dashboard",
    }
    logged = client.post("/api/near-misses", json=entry)
    assert logged.status_code == 201, logged.text
    recorded = schemas.NearMissRecorded.model_validate(logged.json())
    assert recorded.group_count == 1
    assert set(logged.json()) == {*schemas.NearMissRecorded.model_fields}


def undeclared(answer: BaseModel, where: str = "") -> list[str]:
    """The keys of an answer that its model (and the models inside it) leave undocumented
    (all of a part typed as a bare `Item`)."""
    listed = type(answer).model_json_schema()["properties"]  # fields and keys only some carry
    found = [f"{where}.{key}" for key in answer.model_extra or {} if key not in listed]
    for name in type(answer).model_fields:
        found += _undeclared_in(getattr(answer, name), f"{where}.{name}")
    return found


def _undeclared_in(value: object, where: str) -> list[str]:
    if isinstance(value, BaseModel):
        return undeclared(value, where)
    if isinstance(value, list):
        return sorted({key for item in value for key in _undeclared_in(item, f"{where}[]")})
    return []


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("openapi")
    settings = Settings(library=SAMPLE_LIBRARY, data_dir=data, embedding_model="hash")
    with TestClient(create_app(settings)) as test_client:
        deadline = time.monotonic() + 60  # related passages need the semantic index
        while not test_client.get("/readyz").json()["semantic"]:
            assert time.monotonic() < deadline, "semantic search never became ready"
            time.sleep(0.05)
        yield test_client


def test_packs_drill_downs_and_near_misses_answer_what_openapi_documents(
    sample: TestClient,
) -> None:
    chosen = "2026-04-14-data-pipeline-kafka-broker-disk-full"
    pack = sample.get(f"/api/postmortems/{HIKARI}/pack", params={"add": chosen}).json()
    presenter = schemas.PresenterPack.model_validate(pack)
    assert chosen in presenter.added and presenter.comparison
    assert {item.chosen for item in presenter.related} == {True, None}  # added and related
    assert undeclared(presenter) == []

    class_pack = schemas.ClassPack.model_validate(
        sample.get("/api/error-classes/connection-pool-exhaustion/pack").json()
    )
    assert class_pack.postmortems and undeclared(class_pack) == []

    record = schemas.PostmortemRecord.model_validate(
        sample.get(f"/api/postmortems/{HIKARI}").json()
    )
    assert record.action_items and undeclared(record) == []

    for _ in range(3):  # a third repeat recommends a postmortem
        entry = {"date": "2026-11-20", "service": "orders", "what_failed": "pool nearly full",
                 "caught_by": "dashboard"}  # fmt: skip
        assert sample.post("/api/near-misses", json=entry).status_code == 201
    log = schemas.NearMissLog.model_validate(sample.get("/api/near-misses").json())
    assert [group.count for group in log.groups] == [3] and log.groups[0].postmortem_recommended
    assert undeclared(log) == []

    service = sample.get("/api/services/orders", params={"as_of": "2026-11-26"}).json()
    overview = schemas.ServiceOverview.model_validate(service)
    assert overview.trends.mttr.rows and overview.trends.failure_modes.links
    assert [group.count for group in overview.near_misses] == [3]
    assert undeclared(overview) == []
    error_class = sample.get("/api/error-classes/connection-pool-exhaustion").json()
    assert undeclared(schemas.ErrorClassOverview.model_validate(error_class)) == []


def test_duplicates_trends_targets_digest_and_readiness_answer_what_openapi_documents(
    sample: TestClient,
) -> None:
    pairs = schemas.DuplicatePairs.model_validate(
        sample.get("/api/duplicates", params={"threshold": 0.6}).json()
    )
    assert pairs.items and pairs.items[0].postmortem.id != pairs.items[0].possible_duplicate_of.id
    assert undeclared(pairs) == []

    as_of = {"as_of": "2026-11-26"}
    for metric in ("mttr", "mtta", "mttd"):
        trend = schemas.DurationTrend.model_validate(
            sample.get(f"/api/trends/{metric}", params=as_of).json()
        )
        measured = [point for point in trend.series if point.measured]
        assert measured and measured[0].model_extra
        assert set(measured[0].model_extra) == {f"{metric}_seconds_{s}" for s in STATISTICS}
        assert undeclared(trend) == []
    budget = schemas.ErrorBudget.model_validate(
        sample.get("/api/trends/error-budget", params=as_of).json()
    )
    assert budget.items and len(budget.items[0].series) == len(budget.periods)
    assert undeclared(budget) == []

    targets = schemas.Targets.model_validate(sample.get("/api/targets", params=as_of).json())
    assert targets.items and targets.items[0].quarters
    assert undeclared(targets) == []

    digest = schemas.Digest.model_validate(
        sample.get("/api/digest", params={"week": "2025-W07"}).json()
    )
    assert digest.items and digest.items[0].this_week
    assert undeclared(digest) == []

    ready = schemas.Readiness.model_validate(sample.get("/readyz").json())
    assert ready.semantic_status.state == "ready" and undeclared(ready) == []


def test_the_audit_log_and_unmapped_services_answer_what_openapi_documents(
    settings: Settings,
) -> None:
    secured = settings.model_copy(
        update={"auth": "proxy", "trusted_proxies": "10.0.0.5/32", "admin_group": "sre-admin"}
    )
    admin = {"X-Forwarded-User": "root", "X-Forwarded-Groups": "sre-admin"}
    with TestClient(create_app(secured), client=("10.0.0.5", 4321)) as client:
        imported = client.post(
            "/api/incidents/import",
            params={"source": "csv"},
            content=(FIXTURES / "incidents.csv").read_bytes() + UNMAPPED,
            headers={"content-type": "text/csv", **admin},
        )
        assert imported.status_code == 200, imported.text
        log = schemas.AuditLog.model_validate(client.get("/api/audit", headers=admin).json())
        assert [entry.target.split("?")[0] for entry in log.items] == ["POST /api/incidents/import"]
        assert undeclared(log) == []
        unmapped = schemas.UnmappedServices.model_validate(
            client.get("/api/services/unmapped", headers=admin).json()
        )
        assert unmapped.items and undeclared(unmapped) == []
