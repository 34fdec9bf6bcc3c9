"""HTML pages for the review cycle: trends, the three reviews, the near-miss log, the digest.

Each page calls the same `indexer` functions as its JSON twin in
`api/metrics_routes.py` or `api/incident_routes.py`. Charts are drawn in the
browser from the tables on the page (`indexer.tables`), and each table is a
CSV download too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import ValidationError

from api import web
from api.incident_routes import NearMissIn
from api.metrics_routes import AsOf, CacheDep, Days, PeriodQuery, Periods
from api.routes import GroupsDep, LibraryDep, SessionDep
from indexer import digest, metrics, nearmiss, periods, reviews, tables, targets

router = APIRouter(include_in_schema=False)
WINDOWS = (30, 90, 180, 365)
PERIOD_COUNTS = (6, 12, 24)
DIGEST_WEEKS = 8
MAX_FORM_BYTES = 16 * 1024
FORM_FIELDS = ("date", "service", "what_failed", "caught_by", "corrective_action")


def _today(as_of: Any) -> Any:
    return as_of or datetime.now(UTC).date()


TABLES: dict[str, Callable[[dict[str, Any]], tables.Table]] = {
    "failure-modes": tables.failure_modes,
    "services": tables.services,
    "mttr": tables.duration,
    "error-budget": tables.error_budget,
}


def _trend_reports(
    db: Any, cache: Any, as_of: Any, days: int, period: Any, count: int
) -> dict[str, Callable[[], dict[str, Any]]]:
    """The trends page's reports by name, each computed only when asked for."""
    return {
        "failure-modes": lambda: metrics.failure_modes(db, as_of, days),
        "services": lambda: metrics.services(db, as_of, days),
        "mttr": lambda: metrics.duration_trend(
            db, "mttr", as_of, period=period, count=count, cache=cache
        ),
        "error-budget": lambda: metrics.error_budget(db, as_of, period=period, count=count),
    }


@router.get("/trends", response_class=HTMLResponse)
def trends_page(
    request: Request,
    db: SessionDep,
    cache: CacheDep,
    as_of: AsOf = None,
    days: Days = 90,
    period: PeriodQuery = "month",
    periods: Periods = 12,
) -> HTMLResponse:
    """Failure modes, services, MTTR with its verdict, error budget; tables and CSV."""
    today = _today(as_of)
    reports = {
        name: make()
        for name, make in _trend_reports(db, cache, today, days, period, periods).items()
    }
    found = {name: TABLES[name](report) for name, report in reports.items()}
    params: dict[str, Any] = {"days": days, "period": period, "periods": periods}
    if as_of:
        params["as_of"] = as_of.isoformat()
    context = {"nav": "trends", "title": "Trends", "tables": found, "mttr": reports["mttr"]}
    context.update(params=params, query=urlencode(params), windows=WINDOWS)
    context.update(period_counts=PERIOD_COUNTS, as_of=today.isoformat())
    return web.render(request, "trends.html", context)


@router.get("/trends/{name}.csv")
def trend_csv(
    name: str,
    db: SessionDep,
    cache: CacheDep,
    as_of: AsOf = None,
    days: Days = 90,
    period: PeriodQuery = "month",
    periods: Periods = 12,
) -> Response:
    """One table of the trends page as CSV."""
    make = _trend_reports(db, cache, _today(as_of), days, period, periods).get(name)
    if make is None:
        raise HTTPException(404, f"no trend table '{name}'; use one of {', '.join(TABLES)}")
    return PlainTextResponse(
        TABLES[name](make()).csv(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/review/{cadence}", response_class=HTMLResponse)
def review_page(
    request: Request,
    cadence: Literal["weekly", "monthly", "quarterly"],
    library: LibraryDep,
    db: SessionDep,
    groups: GroupsDep,
    cache: CacheDep,
    as_of: AsOf = None,
) -> HTMLResponse:
    """What each review meeting walks through, from the review endpoints' functions."""
    today = _today(as_of)
    context: dict[str, Any] = {"nav": "review", "cadence": cadence, "as_of": today.isoformat()}
    if cadence == "weekly":
        context["review"] = reviews.weekly(db, today, groups)
    elif cadence == "monthly":
        review = reviews.monthly(db, today, cache)
        context["review"] = review
        context["tables"] = _monthly_tables(review)
    else:
        try:
            context["review"] = reviews.quarterly(db, library.root, today)
        except targets.TargetsError as error:
            raise HTTPException(409, f"{targets.FILE_NAME} cannot be used: {error}") from None
    context["title"] = f"{cadence.capitalize()} review"
    return web.render(request, f"review_{cadence}.html", context)


def _monthly_tables(review: dict[str, Any]) -> dict[str, tables.Table]:
    return {
        "failure-modes": tables.failure_modes(review["failure_modes"]),
        "services": tables.services(review["services"]),
        "mttr": tables.duration(review["mttr"]),
        "mtta": tables.duration(review["mtta"]),
        "mttd": tables.duration(review["mttd"]),
        "error-budget": tables.error_budget(review["error_budget"]),
    }


@router.get("/near-misses", response_class=HTMLResponse)
def near_misses_page(
    request: Request,
    db: SessionDep,
    as_of: AsOf = None,
    days: Annotated[int | None, Query(ge=1, le=3660)] = None,
    logged: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """The near-miss log, repeats grouped, and the form to add one."""
    return _near_miss_form(request, db, as_of, days, logged=logged)


def _near_miss_form(
    request: Request,
    db: Any,
    as_of: Any,
    days: int | None,
    *,
    logged: int | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    context = {
        "nav": "near-misses",
        "title": "Near-misses",
        "log": nearmiss.log(db, _today(as_of), days),
        "days": days,
        "logged": logged,
        "recommend_at": nearmiss.RECOMMEND_AT,
        "values": values or {"date": datetime.now(UTC).date().isoformat()},
        "errors": errors or {},
    }
    return web.render(request, "near_misses.html", context, 422 if errors else 200)


@router.post("/near-misses", response_class=HTMLResponse, response_model=None)
async def add_near_miss_page(request: Request, db: SessionDep) -> Response:
    """Log a near-miss from the form; errors show next to their fields, success redirects."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    values = {name: form.get(name, "").strip() for name in FORM_FIELDS}
    errors = _near_miss_errors(values)
    if not errors:
        try:
            entry = nearmiss.NearMiss(**NearMissIn(**_optional(values)).model_dump())
            recorded = nearmiss.record(db, entry, today=nearmiss.latest_day())
        except nearmiss.NearMissError as error:
            errors = {_field_of(str(error)): str(error)}
        else:
            db.commit()
            return RedirectResponse(f"/near-misses?logged={recorded['group_count']}", 303)
    return _near_miss_form(request, db, None, None, values=values, errors=errors)


def _optional(values: dict[str, str]) -> dict[str, str | None]:
    return {**values, "corrective_action": values["corrective_action"] or None}


def _near_miss_errors(values: dict[str, str]) -> dict[str, str]:
    """Field -> message, from the same model the JSON endpoint validates with."""
    try:
        NearMissIn(**_optional(values))
    except ValidationError as error:
        found: dict[str, str] = {}
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "form"
            found.setdefault(name, _message(name, values.get(name, ""), problem["msg"]))
        return found
    return {}


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


@router.get("/digest", response_class=HTMLResponse)
def digest_page(
    request: Request,
    db: SessionDep,
    week: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    """This week's digest (or `week`'s), earlier weeks, and the Markdown to copy."""
    today = datetime.now(UTC).date()
    chosen = week or periods.label(today, "week")
    result = _digest(db, chosen, str(request.base_url))
    recent = [label for label, _ in periods.last_periods(today, "week", DIGEST_WEEKS)][::-1]
    context = {"nav": "digest", "title": f"Digest {chosen}", "digest": result, "weeks": recent}
    return web.render(request, "digest.html", context)


@router.get("/digest.md")
def digest_download(request: Request, db: SessionDep, week: str | None = None) -> Response:
    """The digest as a Markdown file."""
    chosen = week or periods.label(datetime.now(UTC).date(), "week")
    result = _digest(db, chosen, str(request.base_url))
    return Response(
        result.markdown,
        media_type="text/markdown; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="digest-{result.week}.md"'},
    )


def _digest(db: Any, week: str, base_url: str) -> digest.Digest:
    try:
        return digest.build(db, week, base_url=base_url)
    except periods.PeriodError as error:
        raise HTTPException(400, str(error)) from None
