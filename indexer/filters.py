"""The one declaration of what every list can be filtered (and postmortems faceted) by.

Four lists are filtered, each by a tuple of `Field`s declared here once:
`FIELDS` (postmortems: search and the list), `INCIDENT_FIELDS` (the
incident list and page), `SCOPE_FIELDS` (trends and reviews) and
`ACTION_ITEM_FIELDS` (the action-item list). Each field says where its
values live (`source`): the module that queries that list reads them from
there, and fails at import when a field has no reader. Every field is
multi-valued everywhere (`service=a&service=b`: either); `Filters` holds the
values of one request, checked against its list's fields.

`FIELDS` drives every door for postmortems: the search index's keyword
fields and facet counts, the database listing, the HTTP query parameters
(and so the OpenAPI schema), the search page's facet sidebar and the `pml
search` options. A new filter is one line here (plus where its values come
from) and its sample in tests/filter_samples.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from indexer.format.postmortem import ACTION_STATUSES, SEVERITIES, STATUSES, TYPES

# Where a field's values live in the database: a vocabulary link
# (postmortem_link.kind), a column of the list's table (of the same name), the year of
# the postmortem's date, or the incident's error classes as the reader may see them.
Source = Literal["link", "column", "year", "incident_class"]


@dataclass(frozen=True)
class Field:
    """One filterable field: the query parameter, CLI option and facet share its name."""

    name: str
    label: str
    source: Source
    counted: bool  # counted as a facet on every search (each costs an aggregation)
    help: str
    choices: tuple[str, ...] = ()  # the only values it takes, when it is a closed set


def _field(
    name: str, label: str, source: Source, help: str, choices: tuple[str, ...] = ()
) -> Field:
    """A field of a list without facets."""
    return Field(name, label, source, False, help, choices)


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
INCIDENT_FIELDS: tuple[Field, ...] = (
    _field("source", "Source", "column", "the tool the incident came from (pagerduty, csv, ...)"),
    _field("service", "Service", "column", "the service the incident was counted under"),
    _field("severity", "Severity", "column", ", ".join(SEVERITIES)),
    _field("error_class", "Error class", "incident_class", "error classes, as you may see them"),
)
SCOPE_FIELDS: tuple[Field, ...] = (
    _field("service", "Service", "column", "only incidents of these services"),
    _field("error_class", "Error class", "column", "only incidents of these error classes"),
)
ACTION_ITEM_FIELDS: tuple[Field, ...] = (
    _field("status", "Status", "column", ", ".join(ACTION_STATUSES), ACTION_STATUSES),
    _field("owner", "Owner", "column", "who owns the item"),
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
    """Values within one field are OR-ed, fields are AND-ed; dates bound the incident date.

    `fields` is the list's declaration (`FIELDS`, `INCIDENT_FIELDS`, ...) the values are for.
    """

    values: Mapping[str, Sequence[str]] = field(default_factory=dict)
    since: date | None = None
    until: date | None = None
    fields: tuple[Field, ...] = field(default=FIELDS, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        unknown = sorted(set(self.values) - set(names))
        if unknown:
            raise FilterError(f"unknown filter {', '.join(unknown)}; use {', '.join(names)}")
        if self.since and self.until and self.since > self.until:
            raise FilterError(f"since ({self.since}) is after until ({self.until})")

    def get(self, name: str) -> list[str]:
        return list(self.values.get(name, ()))

    def active(self) -> dict[str, list[str]]:
        """The fields that filter, in the order of their declaration."""
        return {f.name: list(v) for f in self.fields if (v := self.values.get(f.name))}

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
