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
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from api import schemas, web
from api.deps import (
    ActionItemFiltersDep,
    GroupsDep,
    LibraryDep,
    ScopeDep,
    ServiceScopeDep,
)
from indexer import periods, usecases
from indexer.library import Library
from indexer.reports import digest, metrics, tables, targets

router = APIRouter()
page_router = APIRouter(include_in_schema=False)

EARLIEST, LATEST = usecases.EARLIEST, usecases.LATEST
AsOf = Annotated[
    date | None,
    Query(ge=EARLIEST, le=LATEST, description="Compute as of this day (default: today, UTC)."),
]
Days = Annotated[int, Query(ge=1, le=3660, description="Window length in days, ending on as_of.")]
PeriodQuery = Annotated[Literal["week", "month", "quarter"], Query()]
Periods = Annotated[int, Query(ge=1, le=120, description="How many periods, ending with as_of's.")]
Name = Annotated[str | None, Query(max_length=128)]
Names = Annotated[list[str] | None, Query(max_length=128)]
Week = Annotated[str | None, Query(max_length=10, description="ISO week, e.g. 2025-W07")]
Cadence = usecases.Cadence

WINDOWS = (30, 90, 180, 365)
PERIOD_COUNTS = (6, 12, 24)


def get_trend_cache(request: Request) -> metrics.TrendCache:
    """The app's cache of settled periods (lifespan state; see metrics.TrendCache)."""
    cache: metrics.TrendCache = request.state.trend_cache
    return cache


CacheDep = Annotated[metrics.TrendCache, Depends(get_trend_cache)]


today = usecases.today


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


TABLES: dict[str, Callable[[dict[str, Any], tables.Scope], tables.Table]] = {
    "failure-modes": tables.failure_modes,
    "services": tables.services,
    "mttr": tables.duration,
    "error-budget": tables.error_budget,
}


def review_data(
    library: Library,
    cadence: Cadence,
    as_of: date,
    cache: metrics.TrendCache,
    groups: frozenset[str] = frozenset(),
    scope: metrics.Scope | None = None,
) -> dict[str, Any]:
    """One review (/api/review/{cadence} and /review/{cadence}), its errors as HTTP errors.

    Only the weekly review lists postmortems, so only it needs the reader's `groups`;
    the JSON routes of the others do not ask who is reading (asking is audited).
    """
    with _bad_request(), _usable_targets():
        return usecases.review(library, cadence, as_of, cache, groups, scope)


def digest_for(library: Library, week: str | None) -> digest.Digest:
    """`week`'s digest (default: this week) for /api/digest, /digest and /digest.md."""
    with _bad_request():
        return usecases.weekly_digest(library, week)


# --- JSON API


@router.get("/api/trends/failure-modes", tags=["trends"], response_model=schemas.FailureModes)
def failure_modes(library: LibraryDep, as_of: AsOf = None, days: Days = 90) -> dict[str, Any]:
    """Incidents per error class in the window, with the window before for comparison."""
    return usecases.failure_modes(library, today(as_of), days)


@router.get("/api/trends/services", tags=["trends"], response_model=schemas.ServiceCounts)
def services(library: LibraryDep, as_of: AsOf = None, days: Days = 90) -> dict[str, Any]:
    """Incidents per service in the window, most pages first."""
    return usecases.services(library, today(as_of), days)


# The three duration trends differ only in their metric, so one handler serves them all;
# the descriptions are the OpenAPI text of /api/trends/mttr, /mtta and /mttd.
DURATION_DOCS: dict[metrics.Metric, str] = {
    "mttr": "Time to resolve (started -> resolved): median, mean, p90 per period, and the trend.",
    "mtta": "Time to acknowledge (detected -> acknowledged), the same way as MTTR.",
    "mttd": "Time to detect (started -> detected), the same way as MTTR.",
}


def _duration_route(metric: metrics.Metric) -> Callable[..., dict[str, Any]]:
    def route(
        library: LibraryDep,
        cache: CacheDep,
        chosen: ScopeDep,
        as_of: AsOf = None,
        period: PeriodQuery = "month",
        periods: Periods = 12,
    ) -> dict[str, Any]:
        scope = metrics.Scope.of(chosen)
        with _bad_request():
            return usecases.duration_report(
                library, cache, metric, today(as_of), period, periods, scope
            )

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
        response_model=schemas.DurationTrend,
    )


@router.get("/api/trends/error-budget", tags=["trends"], response_model=schemas.ErrorBudget)
def error_budget(
    library: LibraryDep,
    cache: CacheDep,
    chosen: ServiceScopeDep,
    as_of: AsOf = None,
    period: PeriodQuery = "month",
    periods: Periods = 12,
) -> dict[str, Any]:
    """Error-budget minutes consumed per service and period."""
    service = chosen.get("service")
    with _bad_request():
        return usecases.budget_report(library, cache, today(as_of), period, periods, service)


@router.get("/api/targets", tags=["planning"], response_model=schemas.Targets)
def target_status(library: LibraryDep, as_of: AsOf = None) -> dict[str, Any]:
    """Each resilience target's incidents per quarter and its status."""
    with _usable_targets():
        return usecases.target_status(library, today(as_of))


@router.get("/api/investments", tags=["planning"], response_model=schemas.Investments)
def investment_ranking(library: LibraryDep, as_of: AsOf = None, days: Days = 90) -> dict[str, Any]:
    """Failure classes ranked by the scoring model, with each score's components."""
    return usecases.investment_ranking(library, today(as_of), days)


@router.get("/api/review/weekly", tags=["reviews"], response_model=schemas.WeeklyReview)
def weekly_review(
    library: LibraryDep,
    cache: CacheDep,
    groups: GroupsDep,
    chosen: ScopeDep,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """The weekly incident sync: last 7 days, action-item gaps, duplicates, near-misses."""
    scope = metrics.Scope.of(chosen)
    return review_data(library, "weekly", today(as_of), cache, groups, scope)


@router.get("/api/review/monthly", tags=["reviews"], response_model=schemas.MonthlyReview)
def monthly_review(
    library: LibraryDep,
    cache: CacheDep,
    chosen: ScopeDep,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """The monthly trend review: failure modes, services, MTTR/MTTA/MTTD, error budget."""
    scope = metrics.Scope.of(chosen)
    return review_data(library, "monthly", today(as_of), cache, scope=scope)


@router.get("/api/review/quarterly", tags=["reviews"], response_model=schemas.QuarterlyReview)
def quarterly_review(
    library: LibraryDep,
    cache: CacheDep,
    chosen: ScopeDep,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Quarterly resilience planning: targets and the investment ranking, joined."""
    scope = metrics.Scope.of(chosen)
    return review_data(library, "quarterly", today(as_of), cache, scope=scope)


@router.get("/api/action-items", tags=["postmortems"], response_model=schemas.ActionItems)
def action_items(
    library: LibraryDep,
    groups: GroupsDep,
    chosen: ActionItemFiltersDep,
    overdue: bool = False,
    as_of: AsOf = None,
    service: Names = None,
    error_class: Names = None,
) -> dict[str, Any]:
    """Action items across visible postmortems; `overdue=true` keeps open ones past due;
    `service` and `error_class` (each repeats) keep those of postmortems about them
    (the page: /action-items)."""
    scope = metrics.Scope(service or None, error_class or None)
    return usecases.action_items(library, today(as_of), groups, chosen, overdue, scope)


@router.get(
    "/api/digest",
    tags=["reviews"],
    response_model=None,
    responses={200: {"model": schemas.Digest, "description": "The digest (format=json)"}},
)
def weekly_digest(
    library: LibraryDep,
    week: Week = None,
    format: Literal["json", "markdown", "html"] = "json",
) -> dict[str, Any] | Response:
    """Three anonymised postmortem summaries for the week; never restricted postmortems."""
    result = digest_for(library, week)
    if format == "markdown":
        return PlainTextResponse(result.markdown, media_type="text/markdown")
    if format == "html":
        return HTMLResponse(result.html)
    return result.as_dict()


# --- HTML pages and downloads


@page_router.get("/trends", response_class=HTMLResponse)
def trends_page(
    request: Request,
    library: LibraryDep,
    cache: CacheDep,
    chosen: ScopeDep,
    as_of: AsOf = None,
    days: Days = 90,
    period: PeriodQuery = "month",
    periods: Periods = 12,
) -> HTMLResponse:
    """Failure modes, services, MTTR with its verdict, error budget; tables and CSV.

    The same as-of date and service / error-class filters as the reviews; every
    bar and row leads to the incidents it counts.
    """
    day = today(as_of)
    scope = metrics.Scope.of(chosen)
    makers = usecases.trend_reports(library, cache, day, days, period, periods, scope)
    with _bad_request():
        reports = {name: make() for name, make in makers.items()}
    named = {"service": list(scope.service), "error_class": list(scope.error_class)}
    found = {name: TABLES[name](report, named) for name, report in reports.items()}
    params: dict[str, Any] = {"days": days, "period": period, "periods": periods}
    if as_of:
        params["as_of"] = as_of.isoformat()
    params.update({name: values for name, values in named.items() if values})
    context: dict[str, Any] = {"nav": "trends", "title": "Trends", "mttr": reports["mttr"]}
    context["tables"] = found
    query = urlencode(params, doseq=True)
    context.update(params=params, query=query, windows=WINDOWS, scope=scope)
    context.update(period_counts=PERIOD_COUNTS, as_of=day.isoformat())
    context["services"] = sorted(library.taxonomy.services)
    context["error_classes"] = sorted(library.taxonomy.error_classes)
    return web.render(request, "trends.html", context)


@page_router.get("/trends/{name}.csv")
def trend_csv(
    name: str,
    library: LibraryDep,
    cache: CacheDep,
    chosen: ScopeDep,
    as_of: AsOf = None,
    days: Days = 90,
    period: PeriodQuery = "month",
    periods: Periods = 12,
) -> Response:
    """One table of the trends page as CSV."""
    scope = metrics.Scope.of(chosen)
    make = usecases.trend_reports(library, cache, today(as_of), days, period, periods, scope).get(
        name
    )
    if make is None:
        raise HTTPException(404, f"no trend table '{name}'; use one of {', '.join(TABLES)}")
    with _bad_request():
        report = make()
    return PlainTextResponse(
        TABLES[name](report, None).csv(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}.csv"'},
    )


@page_router.get("/review/{cadence}", response_class=HTMLResponse)
def review_page(
    request: Request,
    cadence: Cadence,
    library: LibraryDep,
    groups: GroupsDep,
    cache: CacheDep,
    chosen: ScopeDep,
    as_of: AsOf = None,
) -> HTMLResponse:
    """What each review meeting walks through, from the review endpoints' function."""
    day = today(as_of)
    scope = metrics.Scope.of(chosen)  # an empty <select> submits "": no filter
    review = review_data(library, cadence, day, cache, groups, scope)
    context: dict[str, Any] = {"nav": "review", "cadence": cadence, "as_of": day.isoformat()}
    context["review"] = review
    context["scope"] = scope
    context["services"] = sorted(library.taxonomy.services)
    context["error_classes"] = sorted(library.taxonomy.error_classes)
    params = [("as_of", as_of.isoformat())] if as_of else []
    params += [(name, value) for name, values in chosen.active().items() for value in values]
    context["query"] = urlencode(params)
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
    week: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    """This week's digest (or `week`'s), earlier weeks, and the Markdown to copy."""
    result = digest_for(library, week)
    recent = [label for label, _ in usecases.recent_weeks()]
    context = {"nav": "digest", "title": f"Digest {result.week}", "digest": result, "weeks": recent}
    return web.render(request, "digest.html", context)


@page_router.get("/digest.md")
def digest_download(library: LibraryDep, week: str | None = None) -> Response:
    """The digest as a Markdown file."""
    result = digest_for(library, week)
    return Response(
        result.markdown,
        media_type="text/markdown; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="digest-{result.week}.md"'},
    )
