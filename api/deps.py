"""Request dependencies: the library, a database session, who is asking, and the filters.

Route signatures read like a spec with these aliases (`library: LibraryDep`,
`groups: GroupsDep`, `chosen: FiltersDep`); routes never get a database
session: they call `indexer.usecases`, which opens its own. `get_groups` is the one place
every surface's visibility comes from; `guard_writes` runs app-wide.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BeforeValidator, StringConstraints

from api import security
from indexer import auth, filters
from indexer.filters import FilterError, Filters
from indexer.indexing.scheduler import CoalescingRunner
from indexer.library import Library
from indexer.search import MAX_LIMIT, MAX_OFFSET

# The dependencies every request runs are `async` where they only read the
# request: FastAPI runs a plain function dependency on a worker thread, and
# each such hop cost a search ~0.3 ms. What reads the database (a token's
# owner, the audit log) still goes to a worker thread, and only when needed.


async def get_library(request: Request) -> Library:
    library: Library = request.state.library
    return library


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pml"'}


def _peer(request: Request) -> str | None:
    """The direct peer, never a forwarded address: the trust check is about who connected."""
    if security.PEER in request.scope:
        peer: str | None = request.scope[security.PEER]
        return peer
    return request.client.host if request.client else None


def _client(request: Request) -> str | None:
    """The client for the audit log: the forwarded address when a trusted proxy gave one."""
    return request.client.host if request.client else None


def _target(request: Request) -> str:
    query = request.url.query
    return f"{request.method} {request.url.path}" + (f"?{query}" if query else "")


@contextmanager
def auth_errors() -> Iterator[None]:
    """AuthError -> 401 with a challenge, Forbidden -> 403."""
    try:
        yield
    except auth.AuthError as error:
        raise HTTPException(401, str(error), headers=CHALLENGE) from None
    except auth.Forbidden as error:
        raise HTTPException(403, str(error)) from None


async def get_identity(
    request: Request, library: Annotated[Library, Depends(get_library)]
) -> auth.Identity | None:
    """Who is asking (PML_AUTH): a trusted proxy's user, a token's name, or nobody.

    The answer now depends on who asks: the response is marked private (web.SecurityHeaders).
    Only a token is looked up in the database, on a worker thread.
    """
    request.state.identity_asked = True
    resolve = partial(
        auth.resolve, library.settings, library.engine, request.headers, _peer(request)
    )
    with auth_errors():
        if auth.reads_database(library.settings, request.headers):
            identity = await run_in_threadpool(resolve)
        else:
            identity = resolve()
    request.state.identity = identity
    return identity


IdentityDep = Annotated[auth.Identity | None, Depends(get_identity)]


async def get_groups(
    request: Request, library: Annotated[Library, Depends(get_library)], identity: IdentityDep
) -> frozenset[str]:
    """The reader's groups: the one place every surface's visibility comes from."""
    if identity is None or not identity.groups:  # nothing restricted to audit
        return frozenset()
    await run_in_threadpool(
        auth.audit_read, library.engine, identity, _target(request), _client(request)
    )
    return identity.groups


SAFE_METHODS = security.SAFE_METHODS
OWN_SECRETS = "/api/webhooks/"  # push webhooks are signed with PML_WEBHOOK_SECRET instead
# POSTs that only read (a payload to answer about, a Slack command with its own
# signature): they answer with what the caller may read and store nothing.
READS_BY_POST = ("/api/seen-before", "/api/slack/commands")


async def guard_writes(
    request: Request, library: Annotated[Library, Depends(get_library)], identity: IdentityDep
) -> None:
    """App-wide: every write, on any router (API or UI forms), needs a writer."""
    path = request.url.path
    if request.method in SAFE_METHODS or path.startswith(OWN_SECRETS) or path in READS_BY_POST:
        return
    with auth_errors():
        auth.check_writer(library.settings, identity)
    actor = identity.name if identity else "anonymous"
    await run_in_threadpool(
        auth.record, library.engine, actor, "write", _target(request), _client(request)
    )


async def get_follower(request: Request) -> CoalescingRunner | None:
    """The git follower of `pml serve`, or None when no repository is followed."""
    follower: CoalescingRunner | None = getattr(request.state, "sync", None)
    return follower


LibraryDep = Annotated[Library, Depends(get_library)]
GroupsDep = Annotated[frozenset[str], Depends(get_groups)]
FollowerDep = Annotated[CoalescingRunner | None, Depends(get_follower)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Mode = Literal["hybrid", "fulltext", "semantic"]


MAX_NAME = 128  # characters of one filter value (a service, a class, an owner)


def _blank_is_none(value: Any) -> Any:
    """An empty date field of the search form (`since=`) means no bound."""
    return None if value == "" else value


def _field_parameter(field: filters.Field, longest: int | None) -> inspect.Parameter:
    """One repeatable query parameter (`service=a&service=b`) for a declared field."""
    kind: Any = str if longest is None else Annotated[str, StringConstraints(max_length=longest)]
    kind = Literal[field.choices] if field.choices else kind
    return inspect.Parameter(
        field.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=[],
        annotation=Annotated[
            list[kind], Query(max_length=filters.MAX_VALUES, description=field.help)
        ],
    )


def _window_parameters(subject: str) -> list[inspect.Parameter]:
    return [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                date | None,
                BeforeValidator(_blank_is_none),
                Query(description=f"{subject} {word}"),
            ],
        )
        for name, word in (("since", "on or after"), ("until", "on or before"))
    ]


def filters_dependency(
    fields: tuple[filters.Field, ...],
    *,
    window: str | None = "incident date",
    error_status: int = 400,
    keep_blank: bool = False,
    longest: int | None = MAX_NAME,
) -> Any:
    """A dependency reading one list's `Filters` from the query string.

    One repeatable parameter per declared field (so the OpenAPI schema lists
    them all), plus `since`/`until` when the list has a date (`window` names
    it). Bad filters answer `error_status` with the reason; a value over
    `longest` characters, 422. Blank values (what an empty form field submits)
    are dropped unless `keep_blank`.

    `async` although it awaits nothing: FastAPI runs a plain function dependency
    on a worker thread, and that hop cost every search 1-2 ms at 10,000 postmortems.
    """

    async def read(**chosen: Any) -> Filters:
        since, until = chosen.pop("since", None), chosen.pop("until", None)
        if not keep_blank:
            chosen = {name: [v for v in values if v] for name, values in chosen.items()}
        values = {name: values for name, values in chosen.items() if values}
        try:
            return Filters(values, since, until, fields)
        except FilterError as error:
            raise HTTPException(error_status, str(error)) from None

    parameters = [_field_parameter(field, longest) for field in fields]
    parameters += _window_parameters(window) if window else []
    # FastAPI reads a dependency's parameters from its signature.
    read.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=Filters
    )
    return Depends(read)


# Search and the postmortem list keep blank values as given (`service=` matches nothing).
FiltersDep = Annotated[Filters, filters_dependency(filters.FIELDS, keep_blank=True, longest=None)]
IncidentFiltersDep = Annotated[
    Filters, filters_dependency(filters.INCIDENT_FIELDS, window="start day", error_status=422)
]
ScopeDep = Annotated[Filters, filters_dependency(filters.SCOPE_FIELDS, window=None)]
# The error budget is per service already: it is narrowed by service only.
_SERVICE = tuple(field for field in filters.SCOPE_FIELDS if field.name == "service")
ServiceScopeDep = Annotated[Filters, filters_dependency(_SERVICE, window=None)]
ActionItemFiltersDep = Annotated[
    Filters, filters_dependency(filters.ACTION_ITEM_FIELDS, window=None)
]
