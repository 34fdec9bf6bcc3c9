"""Incident data coming in: imports, Alertmanager webhooks, and the near-miss log.

Two routers: `router` holds the JSON API, `page_router` the near-miss page
and its form (left out of the OpenAPI schema). The form and
`POST /api/near-misses` validate with the same model (`NearMissIn`) and
record through the same function (`record_near_miss`); the page and
`GET /api/near-misses` read the same log (`near_miss_log`).
"""

from __future__ import annotations

import email.policy
import io
import tempfile
from datetime import UTC, date, datetime
from email.parser import BytesParser
from functools import partial
from typing import IO, Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from api import schemas, security, web, webhooks
from api.deps import GroupsDep, IncidentFiltersDep, LibraryDep
from api.reports import AsOf, today
from indexer import storable, usecases
from indexer.format import authoring, taxonomy
from indexer.incidents import importers, nearmiss, query
from indexer.library import Library

router = APIRouter()
page_router = APIRouter(include_in_schema=False)
MAX_ALERT_BYTES = 1024 * 1024  # Alertmanager payloads are small; bigger ones are not ours
MAX_FORM_BYTES = 16 * 1024
FORM_FIELDS = ("date", "service", "what_failed", "caught_by", "corrective_action")
LogDays = Annotated[int | None, Query(ge=1, le=3660)]


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


SPOOL_BYTES = 1024 * 1024  # an import body past this goes to a temporary file, not memory


async def _spool_body(request: Request, limit: int, spooled: IO[bytes]) -> None:
    """Write the body to `spooled` as it arrives; 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body is larger than the limit of {limit} bytes")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body is larger than the limit of {limit} bytes")
        spooled.write(chunk)
    spooled.seek(0)


def _uploaded_handle(content_type: str, spooled: IO[bytes]) -> IO[bytes]:
    """The uploaded file: the body itself, or a multipart upload's file part (read whole)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return spooled
    return io.BytesIO(uploaded_file(content_type, spooled.read()))


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


JSON_ONLY = [Depends(security.require_json)]
SOURCE_NAMES = ", ".join(importers.SOURCES)
FILE_TYPES = {"csv": "text/csv"}  # the vendor exports are JSON


@router.post(
    "/api/incidents/import",
    tags=["incidents"],
    response_model=schemas.ImportReport,
    responses=IMPORT_REJECTED,
)
async def import_incidents(
    request: Request,
    library: LibraryDep,
    source: Annotated[str, Query(description=SOURCE_NAMES)],
    dry_run: Annotated[bool, Query(description="Only report what would change.")] = False,
    timezone: Annotated[
        str | None, Query(description="IANA zone of times written without one, e.g. Europe/Berlin")
    ] = None,
    urgency: Annotated[
        str | None, Query(description="PagerDuty urgency -> severity, e.g. high=SEV2,low=SEV4")
    ] = None,
) -> JSONResponse:
    """Upsert the incidents of an exported file: the raw body, or a multipart `file` part."""
    if source not in importers.SOURCES:
        raise HTTPException(
            400, f"unknown source '{source}'; use one of {', '.join(importers.SOURCES)}"
        )
    if not _script_upload(request):
        security.refuse_form_types(request, FILE_TYPES.get(source, "application/json"))
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spooled:
        await _spool_body(request, library.settings.import_max_bytes, spooled)
        handle = _uploaded_handle(request.headers.get("content-type", ""), spooled)
        if not handle.read(65536).strip():
            raise HTTPException(
                400, "the body is empty: send the exported file as the request body"
            )
        handle.seek(0)
        try:
            options = import_options(timezone, urgency)
            report = await run_in_threadpool(
                partial(
                    importers.import_file,
                    library.engine,
                    source,
                    handle,
                    vocabulary=library.taxonomy,
                    options=options,
                    dry_run=dry_run,
                )
            )
        except importers.ImportFormatError as error:
            raise HTTPException(400, str(error)) from None
    body_out = report.as_dict()
    nothing = report.errors and not (report.added or report.updated)
    return JSONResponse(body_out, status_code=422 if nothing else 200)


def import_options(timezone: str | None, urgency: str | None) -> importers.Options:
    """Importer options from their text forms; ImportFormatError names a wrong one."""
    defaults = importers.Options()
    return importers.Options(
        timezone=importers.zone(timezone) if timezone else None,
        urgency=importers.urgency_rule(urgency) if urgency else defaults.urgency,
    )


def _script_upload(request: Request) -> bool:
    """A multipart upload (`curl -F file=@export.json`) that no other site's page sent.

    Browsers mark every request with `Sec-Fetch-Site`, and a page on another
    site is refused before this (api/security.py) by it or by `Origin`; a
    script sends neither. Text and urlencoded bodies stay refused: `curl
    --data-binary` labels a file urlencoded, which says nothing about it.
    """
    multipart = security.media_type(request) == "multipart/form-data"
    return multipart and request.headers.get("sec-fetch-site") in (None, "same-origin")


def uploaded_file(content_type: str, body: bytes) -> bytes:
    """The file of a multipart upload (`curl -F file=@export.json`), else the body as sent."""
    if not content_type.lower().startswith("multipart/form-data"):
        return body
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise HTTPException(400, "the multipart body could not be read (no boundary?)")
    parts = list(message.iter_parts())
    for part in parts:
        if part.get_filename() or part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    raise HTTPException(400, "the multipart upload has no file part: send -F file=@<export>")


# The incident page's filter form: the declared fields, then the start-day window.
IncidentLimit = Annotated[int, Query(ge=1, le=query.MAX_PAGE)]
IncidentOffset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get(
    "/api/incidents",
    tags=["incidents"],
    responses=REJECTED,
    response_model=schemas.IncidentPage,
)
def list_incidents(
    library: LibraryDep,
    groups: GroupsDep,
    chosen: IncidentFiltersDep,
    limit: IncidentLimit = 50,
    offset: IncidentOffset = 0,
) -> dict[str, Any]:
    """Stored incidents, newest first; postmortems and their classes only where visible."""
    return usecases.incident_list(library, groups, chosen, limit, offset)


@router.get(
    "/api/incidents/{source}/{source_id}", tags=["incidents"], response_model=schemas.Incident
)
def get_incident(
    source: str, source_id: str, library: LibraryDep, groups: GroupsDep
) -> dict[str, Any]:
    """One stored incident by its source and the source's id."""
    found = usecases.incident(library, groups, source, source_id)
    if found is None:
        raise HTTPException(404, f"no incident {source_id!r} from {source!r}")
    return found


@router.get("/api/services/unmapped", tags=["incidents"], response_model=schemas.UnmappedServices)
def unmapped_services(library: LibraryDep) -> dict[str, Any]:
    """Service names of stored incidents that no taxonomy service or alias claims."""
    return {"items": usecases.unmapped_services(library)}


@page_router.get("/incidents", response_class=HTMLResponse)
def incidents_page(
    request: Request,
    groups: GroupsDep,
    library: LibraryDep,
    chosen: IncidentFiltersDep,
    limit: IncidentLimit = 50,
    offset: IncidentOffset = 0,
) -> HTMLResponse:
    """What the imports stored, filterable, with the service names nothing maps yet."""
    context = {
        "nav": "incidents",
        "title": "Incidents",
        "filters": {
            **{field.name: next(iter(chosen.get(field.name)), None) for field in chosen.fields},
            "since": chosen.since,
            "until": chosen.until,
        },
        "page": usecases.incident_list(library, groups, chosen, limit, offset),
        "unmapped": usecases.unmapped_services(library),
        "choices": usecases.incident_choices(library, groups),
    }
    return web.render(request, "incidents.html", context)


@router.post(
    "/api/alerts/alertmanager",
    tags=["incidents"],
    response_model=schemas.IntakeAnswer,
    responses={**webhooks.KEPT, **REJECTED},
    dependencies=JSON_ONLY,
)
async def alertmanager(request: Request, library: LibraryDep) -> Response:
    """Alertmanager webhook (version 4). Repeats answer 200; only unusable payloads get 4xx.

    Stored first like every webhook (`api.webhooks.receive`): a notification that
    fails to process is kept for `pml intake replay` and answered 202.
    """
    return await webhooks.alertmanager(request, library, MAX_ALERT_BYTES)


StorableText = Annotated[str, AfterValidator(storable.storable_text)]


class NearMissIn(BaseModel):
    date: date
    service: StorableText = Field(min_length=1, max_length=128)
    what_failed: StorableText = Field(min_length=1, max_length=500)
    caught_by: StorableText = Field(min_length=1, max_length=500)
    corrective_action: StorableText | None = Field(default=None, max_length=2000)


def record_near_miss(library: Library, entry: NearMissIn) -> dict[str, Any]:
    """Log and commit a near-miss; raises nearmiss.NearMissError for an unusable entry."""
    return usecases.record_near_miss(library, nearmiss.NearMiss(**entry.model_dump()))


@router.post(
    "/api/near-misses",
    tags=["near-misses"],
    status_code=201,
    response_model=schemas.NearMissRecorded,
    responses=REJECTED,
    dependencies=JSON_ONLY,
)
def add_near_miss(entry: NearMissIn, library: LibraryDep) -> dict[str, Any]:
    """Log a near-miss; the answer says how often this one has been seen."""
    try:
        return record_near_miss(library, entry)
    except nearmiss.NearMissError as error:
        raise HTTPException(422, str(error)) from None


@router.get("/api/near-misses", tags=["near-misses"], response_model=schemas.NearMissLog)
def list_near_misses(
    library: LibraryDep, as_of: AsOf = None, days: LogDays = None
) -> dict[str, Any]:
    """Near-misses grouped by repeat, "postmortem recommended" from the third on."""
    return usecases.near_miss_log(library, today(as_of), days)


@page_router.get("/near-misses", response_class=HTMLResponse)
def near_misses_page(
    request: Request,
    library: LibraryDep,
    groups: GroupsDep,
    as_of: AsOf = None,
    days: LogDays = None,
    logged: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """The near-miss log, repeats grouped, the library's near-miss postmortems, and the form."""
    return _near_miss_form(request, library, groups, as_of, days, logged=logged)


def _near_miss_form(
    request: Request,
    library: Library,
    groups: frozenset[str],
    as_of: date | None,
    days: int | None,
    *,
    logged: int | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    context = {
        "nav": "near-misses",
        "title": "Near-misses",
        "log": usecases.near_miss_log(library, today(as_of), days),
        "postmortems": usecases.near_miss_postmortems(library, groups, today(as_of), days),
        "services": sorted(library.taxonomy.services),
        "days": days,
        "logged": logged,
        "recommend_at": nearmiss.RECOMMEND_AT,
        "values": values or {"date": datetime.now(UTC).date().isoformat()},
        "errors": errors or {},
    }
    return web.render(request, "near_misses.html", context, 422 if errors else 200)


def _unknown_service(library: Library, service: str) -> str | None:
    """The form offers the taxonomy's services; anything else is a typo that would start a group."""
    known = library.taxonomy.services
    if not known or not service or service in known:
        return None
    hint = taxonomy.suggest(service, known)
    return f"Service '{service}' is not in taxonomy.yaml" + (
        f": did you mean '{hint}'?" if hint else ": choose one from the list."
    )


@page_router.post("/near-misses", response_class=HTMLResponse, response_model=None)
async def add_near_miss_page(request: Request, library: LibraryDep, groups: GroupsDep) -> Response:
    """Log a near-miss from the form; errors show next to their fields, success redirects."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    security.check_form_token(request, form.get(security.CSRF_FIELD))
    values = {name: form.get(name, "").strip() for name in FORM_FIELDS}
    unknown = _unknown_service(library, values["service"])
    try:
        entry = NearMissIn.model_validate(_optional(values))
        if unknown:
            raise nearmiss.NearMissError(unknown)
        recorded = record_near_miss(library, entry)
    except ValidationError as error:
        errors = _field_errors(error, values)
        if unknown:
            errors.setdefault("service", unknown)
    except nearmiss.NearMissError as error:
        errors = {"service" if unknown else _field_of(str(error)): str(error)}
    else:
        return RedirectResponse(f"/near-misses?logged={recorded['group_count']}", 303)
    return _near_miss_form(request, library, groups, None, None, values=values, errors=errors)


@page_router.get("/near-misses/draft.md")
def near_miss_draft(
    library: LibraryDep,
    service: Annotated[str, Query(max_length=128)],
    what_failed: Annotated[str, Query(max_length=500)],
) -> Response:
    """A draft postmortem (the library's template) pre-filled from a group of the near-miss log."""
    group = usecases.near_miss_group(library, service, what_failed)
    if group is None:
        raise HTTPException(404, f"no near-miss '{what_failed}' for {service} in the log")
    text, identifier = draft(library, group, datetime.now(UTC).date())
    return Response(
        text,
        media_type="text/markdown; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{identifier}.md"'},
    )


def draft(library: Library, group: dict[str, Any], day: date) -> tuple[str, str]:
    """The template filled for a near-miss group, with what the log knows quoted before the body."""
    title = f"Near-miss: {group['what_failed']}"[: authoring.MAX_TITLE]
    root = library.settings.library
    custom = root / authoring.TEMPLATE_NAME
    template = custom.read_text("utf-8") if custom.is_file() else authoring.DEFAULT_TEMPLATE
    identifier = authoring.fresh_id(root, title, day)
    services = [group["service"]] if group["service"] in library.taxonomy.services else []
    text = authoring.render(template, identifier, title, day, services=services, error_classes=[])
    text = text.replace("# type: outage ", "type: near_miss ", 1)
    lines = [
        f"> Drafted from the near-miss log: seen {group['count']} times on {group['service']},"
        f" {group['first_date']} to {group['last_date']}.",
        ">",
        *[
            f"> - {e['date']}: caught by {e['caught_by']}"
            + (f"; corrective action: {e['corrective_action']}" if e["corrective_action"] else "")
            for e in group["entries"]
        ],
        "",
    ]
    head, marker, body = text.partition("\n---\n")  # the front matter ends here
    return head + marker + "\n" + "\n".join(lines) + body, identifier


def _optional(values: dict[str, str]) -> dict[str, str | None]:
    return {**values, "corrective_action": values["corrective_action"] or None}


def _field_errors(error: ValidationError, values: dict[str, str]) -> dict[str, str]:
    """Field -> message, from the same model the JSON endpoint validates with."""
    found: dict[str, str] = {}
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "form"
        found.setdefault(name, _message(name, values.get(name, ""), problem["msg"]))
    return found


def _message(name: str, value: str, pydantic_message: str) -> str:
    label = name.replace("_", " ")
    if not value:
        return f"{label.capitalize()} is required."
    if name == "date":
        return "Date must be a day like 2026-11-26."
    return f"{label.capitalize()}: {pydantic_message}."


def _field_of(message: str) -> str:
    word = message.split(" ", 1)[0]
    return word if word in FORM_FIELDS else "form"
