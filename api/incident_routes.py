"""HTTP routes that take data in: incident imports, Alertmanager webhooks, the near-miss log."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError

from api.metrics_routes import AsOf
from api.routes import LibraryDep, SessionDep
from indexer import alerts, importers, nearmiss

router = APIRouter()
MAX_ALERT_BYTES = 1024 * 1024  # Alertmanager payloads are small; bigger ones are not ours


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body is larger than the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class Rejected(BaseModel):
    """A refused request: `detail` (a sentence, or FastAPI's list for malformed input) says why."""

    detail: str | list[dict[str, Any]]
    message: str | None = None


# These routes also answer 422 with a sentence (a well-formed but unusable payload), so the
# schema documents both forms instead of FastAPI's list-only default.
REJECTED: dict[int | str, dict[str, Any]] = {422: {"model": Rejected}}
IMPORT_REJECTED: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "Every record was rejected (the import report), or malformed input.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post("/api/incidents/import", tags=["incidents"], responses=IMPORT_REJECTED)
async def import_incidents(
    request: Request,
    library: LibraryDep,
    source: Annotated[str, Query(description="pagerduty, opsgenie, firehydrant or csv")],
) -> JSONResponse:
    """Upsert the incidents in the request body (the exported file, as is)."""
    if source not in importers.SOURCES:
        raise HTTPException(
            400, f"unknown source '{source}'; use one of {', '.join(importers.SOURCES)}"
        )
    data = await _read_body(request, library.settings.import_max_bytes)
    if not data.strip():
        raise HTTPException(400, "the body is empty: send the exported file as the request body")
    try:
        report = await run_in_threadpool(importers.import_bytes, library.engine, source, data)
    except importers.ImportFormatError as error:
        raise HTTPException(400, str(error)) from None
    body = report.as_dict()
    nothing = report.errors and not (report.added or report.updated)
    return JSONResponse(body, status_code=422 if nothing else 200)


@router.post("/api/alerts/alertmanager", tags=["incidents"], responses=REJECTED)
async def alertmanager(request: Request, library: LibraryDep) -> dict[str, Any]:
    """Alertmanager webhook (version 4). Repeats answer 200; only unusable payloads get 4xx."""
    data = await _read_body(request, MAX_ALERT_BYTES)
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HTTPException(400, "body is not JSON") from None
    window = library.settings.near_miss_window_minutes
    try:
        report = await run_in_threadpool(alerts.receive, library.engine, payload, window)
    except alerts.AlertPayloadError as error:
        raise HTTPException(422, str(error)) from None
    except OperationalError:
        # Busy or unreachable database: Alertmanager retries on 5xx, so nothing is lost.
        raise HTTPException(503, "database unavailable; retry", {"Retry-After": "30"}) from None
    return report.as_dict()


class NearMissIn(BaseModel):
    date: date
    service: str = Field(min_length=1, max_length=128)
    what_failed: str = Field(min_length=1, max_length=500)
    caught_by: str = Field(min_length=1, max_length=500)
    corrective_action: str | None = Field(default=None, max_length=2000)


@router.post("/api/near-misses", tags=["near-misses"], status_code=201, responses=REJECTED)
def add_near_miss(entry: NearMissIn, db: SessionDep) -> dict[str, Any]:
    """Log a near-miss; the answer says how often this one has been seen."""
    try:
        entry_in = nearmiss.NearMiss(**entry.model_dump())
        recorded = nearmiss.record(db, entry_in, today=nearmiss.latest_day())
    except nearmiss.NearMissError as error:
        raise HTTPException(422, str(error)) from None
    db.commit()
    return recorded


@router.get("/api/near-misses", tags=["near-misses"])
def list_near_misses(
    db: SessionDep,
    as_of: AsOf = None,
    days: Annotated[int | None, Query(ge=1, le=3660)] = None,
) -> dict[str, Any]:
    """Near-misses grouped by repeat, "postmortem recommended" from the third on."""
    return nearmiss.log(db, as_of or datetime.now(UTC).date(), days)
