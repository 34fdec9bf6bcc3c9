"""HTTP routes for the learning loop: trends, targets, investments, reviews, digest, action items.

Each route parses its query, calls one `indexer` function and returns its
JSON; every figure takes `as_of` (default: today, UTC).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from api.routes import GroupsDep, LibraryDep, SessionDep
from indexer import digest, investments, metrics, periods, reviews, targets

router = APIRouter()

# Bounded so that windows and period boundaries stay inside the calendar (year 1 .. 9999).
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)
AsOf = Annotated[
    date | None,
    Query(ge=EARLIEST, le=LATEST, description="Compute as of this day (default: today, UTC)."),
]
Days = Annotated[int, Query(ge=1, le=3660, description="Window length in days, ending on as_of.")]
PeriodQuery = Annotated[Literal["week", "month", "quarter"], Query()]
Periods = Annotated[int, Query(ge=1, le=120, description="How many periods, ending with as_of's.")]
Name = Annotated[str | None, Query(max_length=128)]


def get_trend_cache(request: Request) -> metrics.TrendCache:
    """The app's cache of settled periods (created on first use; see metrics.TrendCache)."""
    cache: metrics.TrendCache | None = getattr(request.app.state, "trend_cache", None)
    if cache is None:
        cache = request.app.state.trend_cache = metrics.TrendCache()
    return cache


CacheDep = Annotated[metrics.TrendCache, Depends(get_trend_cache)]


def _today(as_of: date | None) -> date:
    return as_of or datetime.now(UTC).date()


@contextmanager
def _bad_request() -> Iterator[None]:
    """Turn a period the caller got wrong into a 400 with the reason."""
    try:
        yield
    except periods.PeriodError as error:
        raise HTTPException(400, str(error)) from None


@router.get("/api/trends/failure-modes", tags=["trends"])
def failure_modes(db: SessionDep, as_of: AsOf = None, days: Days = 90) -> dict[str, Any]:
    """Incidents per error class in the window, with the window before for comparison."""
    return metrics.failure_modes(db, _today(as_of), days)


@router.get("/api/trends/services", tags=["trends"])
def services(db: SessionDep, as_of: AsOf = None, days: Days = 90) -> dict[str, Any]:
    """Incidents per service in the window, most pages first."""
    return metrics.services(db, _today(as_of), days)


def _duration(
    db: Any,
    cache: metrics.TrendCache,
    metric: metrics.Metric,
    as_of: date | None,
    period: periods.Period,
    count: int,
    service: str | None,
    error_class: str | None,
) -> dict[str, Any]:
    scope = metrics.Scope(service=service, error_class=error_class)
    with _bad_request():
        return metrics.duration_trend(
            db, metric, _today(as_of), period=period, count=count, scope=scope, cache=cache
        )


@router.get("/api/trends/mttr", tags=["trends"])
def mttr(
    db: SessionDep,
    cache: CacheDep,
    as_of: AsOf = None,
    period: PeriodQuery = "month",
    periods: Periods = 12,
    service: Name = None,
    error_class: Name = None,
) -> dict[str, Any]:
    """Time to resolve (started -> resolved): median, mean, p90 per period, and the trend."""
    return _duration(db, cache, "mttr", as_of, period, periods, service, error_class)


@router.get("/api/trends/mtta", tags=["trends"])
def mtta(
    db: SessionDep,
    cache: CacheDep,
    as_of: AsOf = None,
    period: PeriodQuery = "month",
    periods: Periods = 12,
    service: Name = None,
    error_class: Name = None,
) -> dict[str, Any]:
    """Time to acknowledge (detected -> acknowledged), the same way as MTTR."""
    return _duration(db, cache, "mtta", as_of, period, periods, service, error_class)


@router.get("/api/trends/mttd", tags=["trends"])
def mttd(
    db: SessionDep,
    cache: CacheDep,
    as_of: AsOf = None,
    period: PeriodQuery = "month",
    periods: Periods = 12,
    service: Name = None,
    error_class: Name = None,
) -> dict[str, Any]:
    """Time to detect (started -> detected), the same way as MTTR."""
    return _duration(db, cache, "mttd", as_of, period, periods, service, error_class)


@router.get("/api/trends/error-budget", tags=["trends"])
def error_budget(
    db: SessionDep,
    cache: CacheDep,
    as_of: AsOf = None,
    period: PeriodQuery = "month",
    periods: Periods = 12,
    service: Name = None,
) -> dict[str, Any]:
    """Error-budget minutes consumed per service and period."""
    with _bad_request():
        return metrics.error_budget(
            db, _today(as_of), period=period, count=periods, service=service, cache=cache
        )


@router.get("/api/targets", tags=["planning"])
def target_status(library: LibraryDep, db: SessionDep, as_of: AsOf = None) -> dict[str, Any]:
    """Each resilience target's incidents per quarter and its status."""
    try:
        return targets.report(db, library.root, _today(as_of))
    except targets.TargetsError as error:
        raise HTTPException(409, f"{targets.FILE_NAME} cannot be used: {error}") from None


@router.get("/api/investments", tags=["planning"])
def investment_ranking(db: SessionDep, as_of: AsOf = None, days: Days = 90) -> dict[str, Any]:
    """Failure classes ranked by the scoring model, with each score's components."""
    return investments.rank(db, _today(as_of), days)


@router.get("/api/review/weekly", tags=["reviews"])
def weekly_review(db: SessionDep, groups: GroupsDep, as_of: AsOf = None) -> dict[str, Any]:
    """The weekly incident sync: last 7 days, action-item gaps, duplicates, near-misses."""
    return reviews.weekly(db, _today(as_of), groups)


@router.get("/api/review/monthly", tags=["reviews"])
def monthly_review(db: SessionDep, cache: CacheDep, as_of: AsOf = None) -> dict[str, Any]:
    """The monthly trend review: failure modes, services, MTTR/MTTA/MTTD, error budget."""
    return reviews.monthly(db, _today(as_of), cache)


@router.get("/api/review/quarterly", tags=["reviews"])
def quarterly_review(library: LibraryDep, db: SessionDep, as_of: AsOf = None) -> dict[str, Any]:
    """Quarterly resilience planning: targets and the investment ranking."""
    try:
        return reviews.quarterly(db, library.root, _today(as_of))
    except targets.TargetsError as error:
        raise HTTPException(409, f"{targets.FILE_NAME} cannot be used: {error}") from None


@router.get("/api/action-items", tags=["postmortems"])
def action_items(
    db: SessionDep,
    groups: GroupsDep,
    status: Annotated[
        list[Literal["open", "in_progress", "done", "wont_do"]], Query(max_length=4)
    ] = [],  # noqa: B006 (FastAPI copies query defaults)
    owner: Name = None,
    overdue: bool = False,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Action items across visible postmortems; `overdue=true` keeps open ones past due."""
    items = reviews.action_items(
        db, _today(as_of), groups, status=list(status), owner=owner, overdue=overdue
    )
    return {"total": len(items), "items": items}


@router.get("/api/digest", tags=["reviews"], response_model=None)
def weekly_digest(
    request: Request,
    db: SessionDep,
    week: Annotated[str | None, Query(max_length=10, description="ISO week, e.g. 2025-W07")] = None,
    format: Literal["json", "markdown", "html"] = "json",
) -> dict[str, Any] | Response:
    """Three anonymised postmortem summaries for the week; never restricted postmortems."""
    week = week or periods.label(datetime.now(UTC).date(), "week")
    with _bad_request():
        result = digest.build(db, week, base_url=str(request.base_url))
    if format == "markdown":
        return PlainTextResponse(result.markdown, media_type="text/markdown")
    if format == "html":
        return HTMLResponse(result.html)
    return result.as_dict()
