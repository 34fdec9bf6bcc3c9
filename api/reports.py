"""The learning loop over HTTP: trends, targets, investments, reviews, action items, digest.

Two routers: `router` holds the JSON API, `page_router` the HTML pages and
their CSV and Markdown downloads (left out of the OpenAPI schema). Each
page and its JSON twin call the same function here (`duration_report`,
`review_data`, `digest_for`, ...) or in `indexer.reports`, so they cannot
disagree; the handlers only parse the request and choose the format. Every
figure takes `as_of` (default: today, UTC). Charts are drawn in the browser
from the tables on the page (`indexer.reports.tables`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlmodel import Session

from api import web
from api.deps import GroupsDep, LibraryDep, SessionDep
from indexer import periods
from indexer.library import Library
from indexer.periods import Period
from indexer.reports import digest, investments, metrics, reviews, tables, targets

router = APIRouter()
page_router = APIRouter(include_in_schema=False)

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
Week = Annotated[str | None, Query(max_length=10, description="ISO week, e.g. 2025-W07")]
Cadence = Literal["weekly", "monthly", "quarterly"]

WINDOWS = (30, 90, 180, 365)
PERIOD_COUNTS = (6, 12, 24)
DIGEST_WEEKS = 8


def get_trend_cache(request: Request) -> metrics.TrendCache:
    """The app's cache of settled periods (lifespan state; see metrics.TrendCache)."""
    cache: metrics.TrendCache = request.state.trend_cache
    return cache


CacheDep = Annotated[metrics.TrendCache, Depends(get_trend_cache)]


def today(as_of: date | None) -> date:
    return as_of or datetime.now(UTC).date()


@contextmanager
def _bad_request() -> Iterator[None]:
    """Turn a period the caller got wrong into a 400 with the reason."""
    try:
        yield
    except periods.PeriodError as error:
        raise HTTPException(400, str(error)) from None


@contextmanager
def _usable_targets() -> Iterator[None]:
    """A broken targets file is the library's state, not the request's: 409 with the reason."""
    try:
        yield
    except targets.TargetsError as error:
        raise HTTPException(409, f"{targets.FILE_NAME} cannot be used: {error}") from None


# --- Shared builders: each page and its JSON twin get their data from one of these.


def duration_report(
    db: Session,
    cache: metrics.TrendCache,
    metric: metrics.Metric,
    as_of: date,
    period: Period,
    count: int,
    scope: metrics.Scope | None = None,
) -> dict[str, Any]:
    """MTTR, MTTA or MTTD per period and its trend (/api/trends/mtt*, the trends page)."""
    with _bad_request():
        return metrics.duration_trend(
            db, metric, as_of, period=period, count=count, scope=scope, cache=cache
        )


def budget_report(
    db: Session,
    cache: metrics.TrendCache,
    as_of: date,
    period: Period,
    count: int,
    service: str | None = None,
) -> dict[str, Any]:
    """Error-budget minutes per service and period (/api/trends/error-budget, the trends page)."""
    with _bad_request():
        return metrics.error_budget(
            db, as_of, period=period, count=count, service=service, cache=cache
        )


def trend_reports(
    db: Session,
    cache: metrics.TrendCache,
    as_of: date,
    days: int,
    period: Period,
    count: int,
    scope: metrics.Scope | None = None,
) -> dict[str, Callable[[], dict[str, Any]]]:
    """The trends page's reports by name, each computed only when asked for (a CSV needs one).

    `scope` narrows them to a service and/or an error class, as on the reviews
    (the error budget by service only: it is not kept per class).
    """
    scope = scope or metrics.Scope()
    return {
        "failure-modes": lambda: metrics.failure_modes(db, as_of, days, scope),
        "services": lambda: metrics.services(db, as_of, days, scope),
        "mttr": lambda: reviews.with_recent(
            duration_report(db, cache, "mttr", as_of, period, count, scope)
        ),
        "error-budget": lambda: budget_report(db, cache, as_of, period, count, scope.service),
    }


TABLES: dict[str, Callable[[dict[str, Any], tables.Scope], tables.Table]] = {
    "failure-modes": tables.failure_modes,
    "services": tables.services,
    "mttr": tables.duration,
    "error-budget": tables.error_budget,
}


def review_data(
    cadence: Cadence,
    as_of: date,
    db: Session,
    library: Library,
    cache: metrics.TrendCache,
    groups: frozenset[str] = frozenset(),
    scope: metrics.Scope | None = None,
) -> dict[str, Any]:
    """What one review meeting walks through (/api/review/{cadence} and /review/{cadence}).

    Only the weekly review lists postmortems, so only it needs the reader's `groups`;
    the JSON routes of the others do not ask who is reading (asking is audited).
    `scope` narrows every figure to one service and/or error class.
    """
    if cadence == "weekly":
        return reviews.weekly(db, as_of, groups, scope)
    if cadence == "monthly":
        return reviews.monthly(db, as_of, cache, scope)
    with _usable_targets():
        return reviews.quarterly(db, library.root, as_of, scope)


def digest_for(db: Session, week: str | None, public_url: str | None) -> digest.Digest:
    """`week`'s digest (default: this week) for /api/digest, /digest and /digest.md.

    Links are absolute under PML_PUBLIC_URL, never under the request's Host header (anyone
    can send any Host); unset, they are relative to this server.
    """
    chosen = week or periods.label(datetime.now(UTC).date(), "week")
    with _bad_request():
        window = periods.parse_week(chosen)
        if window.since < EARLIEST or window.until > LATEST:
            # The digest looks 90 days back; near the calendar's ends that is not a date.
            raise periods.PeriodError(
                f"week must be between {EARLIEST.year} and {LATEST.year}, got '{chosen}'"
            )
        return digest.build(db, chosen, base_url=public_url or "")


# --- JSON API


@router.get("/api/trends/failure-modes", tags=["trends"])
def failure_modes(db: SessionDep, as_of: AsOf = None, days: Days = 90) -> dict[str, Any]:
    """Incidents per error class in the window, with the window before for comparison."""
    return metrics.failure_modes(db, today(as_of), days)


@router.get("/api/trends/services", tags=["trends"])
def services(db: SessionDep, as_of: AsOf = None, days: Days = 90) -> dict[str, Any]:
    """Incidents per service in the window, most pages first."""
    return metrics.services(db, today(as_of), days)


# The three duration trends differ only in their metric, so one handler serves them all;
# the descriptions are the OpenAPI text of /api/trends/mttr, /mtta and /mttd.
DURATION_DOCS: dict[metrics.Metric, str] = {
    "mttr": "Time to resolve (started -> resolved): median, mean, p90 per period, and the trend.",
    "mtta": "Time to acknowledge (detected -> acknowledged), the same way as MTTR.",
    "mttd": "Time to detect (started -> detected), the same way as MTTR.",
}


def _duration_route(metric: metrics.Metric) -> Callable[..., dict[str, Any]]:
    def route(
        db: SessionDep,
        cache: CacheDep,
        as_of: AsOf = None,
        period: PeriodQuery = "month",
        periods: Periods = 12,
        service: Name = None,
        error_class: Name = None,
    ) -> dict[str, Any]:
        scope = metrics.Scope(service=service, error_class=error_class)
        return duration_report(db, cache, metric, today(as_of), period, periods, scope)

    return route


for _metric, _description in DURATION_DOCS.items():
    # `name` gives the operation id (mttr_api_trends_mttr_get) and summary ("Mttr").
    router.add_api_route(
        f"/api/trends/{_metric}",
        _duration_route(_metric),
        methods=["GET"],
        tags=["trends"],
        name=_metric,
        description=_description,
    )


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
    return budget_report(db, cache, today(as_of), period, periods, service)


@router.get("/api/targets", tags=["planning"])
def target_status(library: LibraryDep, db: SessionDep, as_of: AsOf = None) -> dict[str, Any]:
    """Each resilience target's incidents per quarter and its status."""
    with _usable_targets():
        return targets.report(db, library.root, today(as_of))


@router.get("/api/investments", tags=["planning"])
def investment_ranking(db: SessionDep, as_of: AsOf = None, days: Days = 90) -> dict[str, Any]:
    """Failure classes ranked by the scoring model, with each score's components."""
    return investments.rank(db, today(as_of), days)


@router.get("/api/review/weekly", tags=["reviews"])
def weekly_review(
    library: LibraryDep,
    db: SessionDep,
    cache: CacheDep,
    groups: GroupsDep,
    as_of: AsOf = None,
    service: Name = None,
    error_class: Name = None,
) -> dict[str, Any]:
    """The weekly incident sync: last 7 days, action-item gaps, duplicates, near-misses."""
    scope = metrics.Scope(service=service, error_class=error_class)
    return review_data("weekly", today(as_of), db, library, cache, groups, scope)


@router.get("/api/review/monthly", tags=["reviews"])
def monthly_review(
    library: LibraryDep,
    db: SessionDep,
    cache: CacheDep,
    as_of: AsOf = None,
    service: Name = None,
    error_class: Name = None,
) -> dict[str, Any]:
    """The monthly trend review: failure modes, services, MTTR/MTTA/MTTD, error budget."""
    scope = metrics.Scope(service=service, error_class=error_class)
    return review_data("monthly", today(as_of), db, library, cache, scope=scope)


@router.get("/api/review/quarterly", tags=["reviews"])
def quarterly_review(
    library: LibraryDep,
    db: SessionDep,
    cache: CacheDep,
    as_of: AsOf = None,
    service: Name = None,
    error_class: Name = None,
) -> dict[str, Any]:
    """Quarterly resilience planning: targets and the investment ranking, joined."""
    scope = metrics.Scope(service=service, error_class=error_class)
    return review_data("quarterly", today(as_of), db, library, cache, scope=scope)


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
    service: Name = None,
    error_class: Name = None,
) -> dict[str, Any]:
    """Action items across visible postmortems; `overdue=true` keeps open ones past due;
    `service` and `error_class` keep those of postmortems about it (the page: /action-items)."""
    scope = metrics.Scope(service=service or None, error_class=error_class or None)
    items = reviews.action_items(
        db, today(as_of), groups, status=list(status), owner=owner, overdue=overdue, scope=scope
    )
    return {"total": len(items), "items": items}


@router.get("/api/digest", tags=["reviews"], response_model=None)
def weekly_digest(
    library: LibraryDep,
    db: SessionDep,
    week: Week = None,
    format: Literal["json", "markdown", "html"] = "json",
) -> dict[str, Any] | Response:
    """Three anonymised postmortem summaries for the week; never restricted postmortems."""
    result = digest_for(db, week, library.settings.public_url)
    if format == "markdown":
        return PlainTextResponse(result.markdown, media_type="text/markdown")
    if format == "html":
        return HTMLResponse(result.html)
    return result.as_dict()


# --- HTML pages and downloads


@page_router.get("/trends", response_class=HTMLResponse)
def trends_page(
    request: Request,
    db: SessionDep,
    cache: CacheDep,
    library: LibraryDep,
    as_of: AsOf = None,
    days: Days = 90,
    period: PeriodQuery = "month",
    periods: Periods = 12,
    service: Name = None,
    error_class: Name = None,
) -> HTMLResponse:
    """Failure modes, services, MTTR with its verdict, error budget; tables and CSV.

    The same as-of date and service / error-class filters as the reviews; every
    bar and row leads to the incidents it counts.
    """
    day = today(as_of)
    scope = metrics.Scope(service=service or None, error_class=error_class or None)
    makers = trend_reports(db, cache, day, days, period, periods, scope)
    reports = {name: make() for name, make in makers.items()}
    chosen = {"service": scope.service, "error_class": scope.error_class}
    found = {name: TABLES[name](report, chosen) for name, report in reports.items()}
    params: dict[str, Any] = {"days": days, "period": period, "periods": periods}
    if as_of:
        params["as_of"] = as_of.isoformat()
    params.update({name: value for name, value in chosen.items() if value})
    context: dict[str, Any] = {"nav": "trends", "title": "Trends", "mttr": reports["mttr"]}
    context["tables"] = found
    context.update(params=params, query=urlencode(params), windows=WINDOWS, scope=scope)
    context.update(period_counts=PERIOD_COUNTS, as_of=day.isoformat())
    context["services"] = sorted(library.taxonomy.services)
    context["error_classes"] = sorted(library.taxonomy.error_classes)
    return web.render(request, "trends.html", context)


@page_router.get("/trends/{name}.csv")
def trend_csv(
    name: str,
    db: SessionDep,
    cache: CacheDep,
    as_of: AsOf = None,
    days: Days = 90,
    period: PeriodQuery = "month",
    periods: Periods = 12,
    service: Name = None,
    error_class: Name = None,
) -> Response:
    """One table of the trends page as CSV."""
    scope = metrics.Scope(service=service or None, error_class=error_class or None)
    make = trend_reports(db, cache, today(as_of), days, period, periods, scope).get(name)
    if make is None:
        raise HTTPException(404, f"no trend table '{name}'; use one of {', '.join(TABLES)}")
    return PlainTextResponse(
        TABLES[name](make(), None).csv(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}.csv"'},
    )


@page_router.get("/review/{cadence}", response_class=HTMLResponse)
def review_page(
    request: Request,
    cadence: Cadence,
    library: LibraryDep,
    db: SessionDep,
    groups: GroupsDep,
    cache: CacheDep,
    as_of: AsOf = None,
    service: Name = None,
    error_class: Name = None,
) -> HTMLResponse:
    """What each review meeting walks through, from the review endpoints' function."""
    day = today(as_of)
    # An empty <select> submits "": no filter.
    scope = metrics.Scope(service=service or None, error_class=error_class or None)
    review = review_data(cadence, day, db, library, cache, groups, scope)
    context: dict[str, Any] = {"nav": "review", "cadence": cadence, "as_of": day.isoformat()}
    context["review"] = review
    context["scope"] = scope
    context["services"] = sorted(library.taxonomy.services)
    context["error_classes"] = sorted(library.taxonomy.error_classes)
    chosen = {"as_of": as_of.isoformat() if as_of else None}
    chosen.update(service=scope.service, error_class=scope.error_class)
    context["query"] = urlencode({k: v for k, v in chosen.items() if v})
    if cadence == "monthly":
        context["tables"] = _monthly_tables(review)
    context["title"] = f"{cadence.capitalize()} review"
    return web.render(request, f"review_{cadence}.html", context)


def _monthly_tables(review: dict[str, Any]) -> dict[str, tables.Table]:
    scope = review["scope"]
    return {
        "failure-modes": tables.failure_modes(review["failure_modes"], scope),
        "services": tables.services(review["services"], scope),
        "mttr": tables.duration(review["mttr"], scope),
        "mtta": tables.duration(review["mtta"], scope),
        "mttd": tables.duration(review["mttd"], scope),
        "error-budget": tables.error_budget(review["error_budget"], scope),
    }


@page_router.get("/digest", response_class=HTMLResponse)
def digest_page(
    request: Request,
    library: LibraryDep,
    db: SessionDep,
    week: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    """This week's digest (or `week`'s), earlier weeks, and the Markdown to copy."""
    result = digest_for(db, week, library.settings.public_url)
    last = periods.last_periods(datetime.now(UTC).date(), "week", DIGEST_WEEKS)
    recent = [label for label, _ in last][::-1]
    context = {"nav": "digest", "title": f"Digest {result.week}", "digest": result, "weeks": recent}
    return web.render(request, "digest.html", context)


@page_router.get("/digest.md")
def digest_download(library: LibraryDep, db: SessionDep, week: str | None = None) -> Response:
    """The digest as a Markdown file."""
    result = digest_for(db, week, library.settings.public_url)
    return Response(
        result.markdown,
        media_type="text/markdown; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="digest-{result.week}.md"'},
    )
