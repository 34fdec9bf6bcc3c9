"""The one list of what postmortems can be filtered and faceted by.

`FIELDS` drives every door: the search index's keyword fields and facet
counts, the database listing, the HTTP query parameters (and so the OpenAPI
schema), the search page's facet sidebar and the `pml search` options. A new
filter is one line here (plus where its values come from: a link kind the
store writes, or a column of the postmortem table) and its test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from indexer.format.postmortem import SEVERITIES, STATUSES, TYPES

# Where a field's values live in the database: a vocabulary link
# (postmortem_link.kind), a column of the postmortem table, or the year of its date.
Source = Literal["link", "column", "year"]


@dataclass(frozen=True)
class Field:
    """One filterable field: the query parameter, CLI option and facet share its name."""

    name: str
    label: str
    source: Source
    counted: bool  # counted as a facet on every search (each costs an aggregation)
    help: str


FIELDS: tuple[Field, ...] = (
    Field("service", "Service", "link", True, "services the incident touched"),
    Field("error_class", "Error class", "link", True, "error classes from the taxonomy"),
    Field("contributing_factor", "Contributing factor", "link", True, "contributing factors"),
    Field("severity", "Severity", "column", True, ", ".join(SEVERITIES)),
    Field("type", "Type", "column", True, ", ".join(TYPES)),
    Field("status", "Status", "column", True, ", ".join(STATUSES)),
    Field("team", "Team", "link", True, "owning teams"),
    Field("tag", "Tag", "link", True, "free-form tags"),
    Field("year", "Year", "year", True, "the year of the incident date"),
)
NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
COUNTED: tuple[str, ...] = tuple(f.name for f in FIELDS if f.counted)
BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
MAX_VALUES = 20  # values of one field in one request
# What shared views (the home list, feeds, reviews) show unless the reader asks
# for a status: drafts and postmortems in review are not finished, and a
# reader who never opens them should not take them for lessons learned.
SHARED_STATUSES: tuple[str, ...] = ("published",)
UNFINISHED_STATUSES: tuple[str, ...] = tuple(s for s in STATUSES if s not in SHARED_STATUSES)


class FilterError(ValueError):
    """Filters that cannot be applied; the message is safe to show."""


@dataclass(frozen=True)
class Filters:
    """Values within one field are OR-ed, fields are AND-ed; dates bound the incident date."""

    values: Mapping[str, Sequence[str]] = field(default_factory=dict)
    since: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.values) - set(NAMES))
        if unknown:
            raise FilterError(f"unknown filter {', '.join(unknown)}; use {', '.join(NAMES)}")
        if self.since and self.until and self.since > self.until:
            raise FilterError(f"since ({self.since}) is after until ({self.until})")

    def get(self, name: str) -> list[str]:
        return list(self.values.get(name, ()))

    def active(self) -> dict[str, list[str]]:
        """The fields that filter, in the order of `FIELDS`."""
        return {name: list(values) for name in NAMES if (values := self.values.get(name))}

    def shared(self) -> Filters:
        """These filters as a shared view applies them: published only unless a status is chosen."""
        if self.values.get("status"):
            return self
        return Filters({**self.values, "status": SHARED_STATUSES}, self.since, self.until)

    def unfinished(self) -> Filters:
        """These filters, for the drafts and postmortems in review that `shared` leaves out."""
        return Filters({**self.values, "status": UNFINISHED_STATUSES}, self.since, self.until)

    @property
    def empty(self) -> bool:
        return not (self.active() or self.since or self.until)
