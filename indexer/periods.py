"""Calendar arithmetic shared by every report: windows of days, weeks, months, quarters.

Every figure is computed "as of" a date, and everything is in UTC: an
incident belongs to the UTC day, week, month and quarter its `started_at`
falls in. A window of `days` days ending on `as_of` includes `as_of`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

Period = Literal["week", "month", "quarter"]
PERIODS: tuple[Period, ...] = ("week", "month", "quarter")
_WEEK = re.compile(r"(\d{4})-W(\d{2})\Z")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])\Z")


class PeriodError(ValueError):
    """A period or window the caller asked for does not exist; the message says why."""


@dataclass(frozen=True)
class Window:
    """Days `since` .. `until`, both included."""

    since: dt.date
    until: dt.date

    def contains(self, day: dt.date) -> bool:
        return self.since <= day <= self.until


def window(as_of: dt.date, days: int) -> Window:
    """The `days` days that end on `as_of`."""
    if days < 1:
        raise PeriodError(f"days must be at least 1, got {days}")
    return Window(as_of - dt.timedelta(days=days - 1), as_of)


def previous(current: Window) -> Window:
    """The window of the same length just before `current`."""
    length = current.until - current.since + dt.timedelta(days=1)
    return Window(current.since - length, current.since - dt.timedelta(days=1))


def end_of_day(day: dt.date) -> dt.datetime:
    """The last instant of a UTC day, for "resolved by as_of" comparisons."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)


def label(day: dt.date, period: Period) -> str:
    """`2025-W07`, `2025-02` or `2025-Q1` for the period that contains `day`."""
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def start_of(day: dt.date, period: Period) -> dt.date:
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def step_back(start: dt.date, period: Period) -> dt.date:
    """The first day of the period before the one starting on `start`."""
    if period == "week":
        return start - dt.timedelta(days=7)
    months = 1 if period == "month" else 3
    month = start.month - months
    year = start.year + (month - 1) // 12
    return dt.date(year, (month - 1) % 12 + 1, 1)


def last_day(start: dt.date, period: Period) -> dt.date:
    """The last day of the period that starts on `start`."""
    if period == "week":
        return start + dt.timedelta(days=6)
    if period == "month":
        next_month = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return next_month - dt.timedelta(days=1)
    return next_quarter(start) - dt.timedelta(days=1)


def last_periods(as_of: dt.date, period: Period, count: int) -> list[tuple[str, dt.date]]:
    """(label, first day) of `count` periods, oldest first, the last one holding `as_of`."""
    if period not in PERIODS:
        raise PeriodError(f"period must be one of {', '.join(PERIODS)}, got '{period}'")
    if count < 1:
        raise PeriodError(f"periods must be at least 1, got {count}")
    start = start_of(as_of, period)
    result = []
    for _ in range(count):
        result.append((label(start, period), start))
        start = step_back(start, period)
    return result[::-1]


def parse_week(text: str) -> Window:
    """`2025-W07` -> Monday .. Sunday of that ISO week."""
    match = _WEEK.match(text.strip())
    if not match:
        raise PeriodError(f"week must look like 2025-W07, got '{text}'")
    try:
        monday = dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
        return Window(monday, monday + dt.timedelta(days=6))
    except ValueError:
        raise PeriodError(f"{text} is not a week of {match[1]}") from None
    except OverflowError:  # the last week of year 9999 ends after the calendar does
        raise PeriodError(f"{text} ends after the last day of year 9999") from None


def parse_quarter(text: str) -> dt.date:
    """`2025-Q3` -> the first day of that quarter."""
    match = _QUARTER.match(str(text).strip())
    if not match:
        raise PeriodError(f"quarter must look like 2025-Q3, got '{text}'")
    return dt.date(int(match[1]), (int(match[2]) - 1) * 3 + 1, 1)


def next_quarter(start: dt.date) -> dt.date:
    month = start.month + 3
    return dt.date(start.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
