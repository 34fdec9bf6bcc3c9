"""Drill-down: one service, one error class, the error classes, the action items page.

Each answer is what the page renders and its JSON twin returns; an unknown
name raises `NotFound` with the closest names the taxonomy knows.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from indexer.db import store
from indexer.library import Library
from indexer.reports import browse, metrics
from indexer.usecases._errors import NotFound


def service_overview(
    library: Library, name: str, as_of: date, groups: frozenset[str]
) -> dict[str, Any]:
    """One service: its postmortems, recent incidents, trends, open action items, near-misses."""
    with store.session(library.engine) as db:
        found = browse.service(db, library.taxonomy, name, as_of, groups)
        if found is None:
            known = browse.known_services(db, library.taxonomy)
            raise NotFound(
                f"no service '{name[:200]}' in the taxonomy or the incidents",
                browse.close_names(name, known),
                "/services/{}",
            )
    return found


def error_class_overview(
    library: Library, name: str, as_of: date, groups: frozenset[str]
) -> dict[str, Any]:
    """One error class: its postmortems, recent incidents, trends and open action items."""
    with store.session(library.engine) as db:
        found = browse.error_class(db, library.taxonomy, name, as_of, groups)
    if found is None:
        raise NotFound(
            f"no error class '{name[:200]}' in the taxonomy",
            browse.close_names(name, list(library.taxonomy.error_classes)),
            "/error-classes/{}",
        )
    return found


def error_class_index(library: Library, as_of: date, groups: frozenset[str]) -> dict[str, Any]:
    """Every error class with its published postmortems and incidents in the last 90 days."""
    with store.session(library.engine) as db:
        return browse.error_classes(db, library.taxonomy, as_of, groups)


def action_item_overview(
    library: Library,
    as_of: date,
    groups: frozenset[str],
    *,
    owner: str | None = None,
    overdue: bool = False,
    status: list[str] | None = None,
    scope: metrics.Scope | None = None,
) -> dict[str, Any]:
    """The action items page: the filtered items, and the owners to choose from."""
    with store.session(library.engine) as db:
        return browse.action_items(
            db, as_of, groups, owner=owner, overdue=overdue, status=status, scope=scope
        )
