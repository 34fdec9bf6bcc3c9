"""The learning loop: trends, targets, investments, reviews, action items and the digest.

Each page, its JSON twin, the feeds and the digest sender take their figures
from one function here. Every figure is computed as of a day (`as_of`,
default today in UTC); a period the caller got wrong raises
`periods.PeriodError`, an unusable targets file `targets.TargetsError`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Literal

from indexer import periods
from indexer.db import store
from indexer.filters import ACTION_ITEM_FIELDS, Filters
from indexer.library import Library
from indexer.periods import Period
from indexer.reports import digest, investments, metrics, reviews, sending, targets

Cadence = Literal["weekly", "monthly", "quarterly"]
# Bounded so that windows and period boundaries stay inside the calendar (year 1 .. 9999).
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)
DIGEST_WEEKS = 8


def today(as_of: date | None = None) -> date:
    """The day figures are computed as of: `as_of`, else today in UTC."""
    return as_of or datetime.now(UTC).date()


def failure_modes(
    library: Library, as_of: date, days: int, scope: metrics.Scope | None = None
) -> dict[str, Any]:
    """Incidents per error class in the window, with the window before for comparison."""
    with store.session(library.engine) as db:
        return metrics.failure_modes(db, as_of, days, scope)


def services(
    library: Library, as_of: date, days: int, scope: metrics.Scope | None = None
) -> dict[str, Any]:
    """Incidents per service in the window, most pages first."""
    with store.session(library.engine) as db:
        return metrics.services(db, as_of, days, scope)


def duration_report(
    library: Library,
    cache: metrics.TrendCache,
    metric: metrics.Metric,
    as_of: date,
    period: Period,
    count: int,
    scope: metrics.Scope | None = None,
) -> dict[str, Any]:
    """MTTR, MTTA or MTTD per period and its trend."""
    with store.session(library.engine) as db:
        return metrics.duration_trend(
            db, metric, as_of, period=period, count=count, scope=scope, cache=cache
        )


def budget_report(
    library: Library,
    cache: metrics.TrendCache,
    as_of: date,
    period: Period,
    count: int,
    service: metrics.Names = None,
) -> dict[str, Any]:
    """Error-budget minutes per service and period (`service`: one, any of several, or all)."""
    with store.session(library.engine) as db:
        return metrics.error_budget(
            db, as_of, period=period, count=count, service=service, cache=cache
        )


def trend_reports(
    library: Library,
    cache: metrics.TrendCache,
    as_of: date,
    days: int,
    period: Period,
    count: int,
    scope: metrics.Scope | None = None,
) -> dict[str, Callable[[], dict[str, Any]]]:
    """The trends page's reports by name, each computed only when asked for (a CSV needs one).

    `scope` narrows them to services and/or error classes, as on the reviews
    (the error budget by service only: it is not kept per class).
    """
    scope = scope or metrics.Scope()
    return {
        "failure-modes": lambda: failure_modes(library, as_of, days, scope),
        "services": lambda: services(library, as_of, days, scope),
        "mttr": lambda: reviews.with_recent(
            duration_report(library, cache, "mttr", as_of, period, count, scope)
        ),
        "error-budget": lambda: budget_report(
            library, cache, as_of, period, count, scope.service or None
        ),
    }


def target_status(library: Library, as_of: date) -> dict[str, Any]:
    """Each resilience target's incidents per quarter and its status."""
    with store.session(library.engine) as db:
        return targets.report(db, library.root, as_of)


def investment_ranking(library: Library, as_of: date, days: int) -> dict[str, Any]:
    """Failure classes ranked by the scoring model, with each score's components."""
    with store.session(library.engine) as db:
        return investments.rank(db, as_of, days)


def review(
    library: Library,
    cadence: Cadence,
    as_of: date,
    cache: metrics.TrendCache,
    groups: frozenset[str] = frozenset(),
    scope: metrics.Scope | None = None,
) -> dict[str, Any]:
    """What one review meeting walks through; `scope` narrows every figure.

    Only the weekly review lists postmortems, so only it needs the reader's `groups`.
    """
    with store.session(library.engine) as db:
        if cadence == "weekly":
            return reviews.weekly(db, as_of, groups, scope)
        if cadence == "monthly":
            return reviews.monthly(db, as_of, cache, scope)
        return reviews.quarterly(db, library.root, as_of, scope)


def action_items(
    library: Library,
    as_of: date,
    groups: frozenset[str],
    chosen: Filters | None = None,
    overdue: bool = False,
    scope: metrics.Scope | None = None,
) -> dict[str, Any]:
    """Action items across the visible postmortems, soonest due first.

    `chosen` filters by `filters.ACTION_ITEM_FIELDS` (status, owner); `scope`
    keeps those of postmortems about any of its services and error classes."""
    chosen = chosen or Filters(fields=ACTION_ITEM_FIELDS)
    status, owner = chosen.get("status"), chosen.get("owner")
    with store.session(library.engine) as db:
        items = reviews.action_items(
            db, as_of, groups, status=status, owner=owner, overdue=overdue, scope=scope
        )
    return {"total": len(items), "items": items}


def weekly_digest(library: Library, week: str | None, base_url: str | None = None) -> digest.Digest:
    """`week`'s digest (default: this week), never with restricted postmortems.

    Links are absolute under `base_url` (default PML_PUBLIC_URL, never a request's
    Host header: anyone can send any Host); unset, relative to this server.
    """
    chosen = _digest_week(week)
    base = library.settings.public_url if base_url is None else base_url
    with store.session(library.engine) as db:
        return digest.build(db, chosen, base_url=base or "")


def send_digest(
    library: Library,
    week: str,
    *,
    force: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[sending.Outcome]:
    """Send `week`'s digest to every channel (PML_SMTP_*, PML_DIGEST_*) that has not had it,
    all of them with `force`; links under PML_PUBLIC_URL, else the address served on.

    PeriodError for a week that is not one, SendError when nothing or something
    wrong is configured; a channel that fails is an Outcome and the others still go.
    """
    chosen = _digest_week(week)
    base = sending.base_url(library.settings)
    return sending.send(
        library.engine,
        library.settings,
        chosen,
        lambda: weekly_digest(library, chosen, base),
        force=force,
        now=now,
    )


def digest_scheduler(library: Library) -> sending.Scheduler | None:
    """The thread that sends the digest on PML_DIGEST_SCHEDULE (None without one)."""

    def send(week: str, now: Callable[[], datetime]) -> list[sending.Outcome]:
        return send_digest(library, week, now=now)

    return sending.scheduler(library.engine, library.settings, send)


def _digest_week(week: str | None) -> str:
    """The week asked for (default: this week), PeriodError unless the calendar holds it."""
    chosen = week or periods.label(today(), "week")
    window = periods.parse_week(chosen)
    if window.since < EARLIEST or window.until > LATEST:
        # The digest looks 90 days back; near the calendar's ends that is not a date.
        raise periods.PeriodError(
            f"week must be between {EARLIEST.year} and {LATEST.year}, got '{chosen}'"
        )
    return chosen


def recent_weeks(count: int = DIGEST_WEEKS) -> list[tuple[str, date]]:
    """The last `count` ISO weeks (label, Monday), newest first."""
    return list(reversed(periods.last_periods(today(), "week", count)))
