"""Pull mode: page through a vendor's API since a date and import what it returns.

    data = pull.fetch("pagerduty", token, since=date(2025, 1, 1))
    importers.import_bytes(engine, "pagerduty", data, vocabulary=...)

Each vendor's documented list endpoints and paging, one page after another,
the pages concatenated into one file for the vendor's importer (which reads
concatenated pages), so a pull and a file export import the same way:

- PagerDuty: `GET /incidents` then `GET /log_entries` (the acknowledge times
  the incident list forgets), `limit`/`offset` until `more` is false;
  `Authorization: Token token=...`.
- Opsgenie: `GET /v2/alerts?query=createdAt>=<epoch ms>`, `limit`/`offset`
  until a page has no `paging.next`; `Authorization: GenieKey ...`.
- FireHydrant: `GET /v1/incidents?start_date=`, `page`/`per_page` until
  `pagination.next` is null; `Authorization: <bot token>`.

The base URL is configurable (EU instances, proxies, and the tests' local
server replaying recorded responses).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

PAGE = 100
MAX_PAGES = 10_000  # a runaway `more: true` must end
TOKEN_VARIABLES = {
    "pagerduty": "PML_PAGERDUTY_TOKEN",
    "opsgenie": "PML_OPSGENIE_TOKEN",
    "firehydrant": "PML_FIREHYDRANT_TOKEN",
}
BASE_URLS = {
    "pagerduty": "https://api.pagerduty.com",
    "opsgenie": "https://api.opsgenie.com",
    "firehydrant": "https://api.firehydrant.io",
}


class PullError(Exception):
    """The vendor API could not be read; the message says why and is safe to show."""


@dataclass(frozen=True)
class Pull:
    source: str
    token: str
    since: dt.date
    base_url: str | None = None
    timeout: float = 30.0

    @property
    def base(self) -> str:
        return (self.base_url or BASE_URLS[self.source]).rstrip("/")


def fetch(pull: Pull) -> tuple[bytes, int]:
    """Every page since `pull.since`, concatenated (one JSON document per line), and the count."""
    pages = {"pagerduty": _pagerduty, "opsgenie": _opsgenie, "firehydrant": _firehydrant}
    reader = pages.get(pull.source)
    if reader is None:
        raise PullError(f"no pull mode for {pull.source!r}; use one of {', '.join(pages)}")
    with httpx.Client(timeout=pull.timeout, headers=_headers(pull)) as client:
        documents = list(reader(client, pull))
    text = "".join(json.dumps(page) + "\n" for page in documents)
    return text.encode("utf-8"), len(documents)


def _headers(pull: Pull) -> dict[str, str]:
    if pull.source == "pagerduty":
        return {
            "Authorization": f"Token token={pull.token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        }
    if pull.source == "opsgenie":
        return {"Authorization": f"GenieKey {pull.token}"}
    return {"Authorization": pull.token}


def _get(client: httpx.Client, url: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.get(url, params=params)
    except httpx.HTTPError as error:
        raise PullError(f"GET {url}: {error}") from None
    if response.status_code != 200:
        raise PullError(f"GET {response.url}: HTTP {response.status_code}: {response.text[:300]}")
    try:
        body = response.json()
    except ValueError:
        raise PullError(f"GET {response.url}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise PullError(f"GET {response.url}: expected a JSON object")
    return body


def _pagerduty(client: httpx.Client, pull: Pull) -> Iterator[dict[str, Any]]:
    since = dt.datetime.combine(pull.since, dt.time(), dt.UTC).isoformat()
    until = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for path in ("/incidents", "/log_entries"):
        offset = 0
        for _ in range(MAX_PAGES):
            params = {"since": since, "until": until, "limit": PAGE, "offset": offset}
            page = _get(client, pull.base + path, {**params, "time_zone": "UTC"})
            yield page
            key = path.strip("/")
            count = len(page.get(key) or [])
            if not page.get("more") or count == 0:
                break
            offset += count


def _opsgenie(client: httpx.Client, pull: Pull) -> Iterator[dict[str, Any]]:
    start = dt.datetime.combine(pull.since, dt.time(), dt.UTC)
    query = f"createdAt>={int(start.timestamp() * 1000)}"
    offset = 0
    for _ in range(MAX_PAGES):
        params = {"query": query, "limit": PAGE, "offset": offset, "sort": "createdAt",
                  "order": "asc"}  # fmt: skip
        page = _get(client, pull.base + "/v2/alerts", params)
        yield page
        count = len(page.get("data") or [])
        paging = page.get("paging")
        if count == 0 or not (isinstance(paging, dict) and paging.get("next")):
            break
        offset += count


def _firehydrant(client: httpx.Client, pull: Pull) -> Iterator[dict[str, Any]]:
    number = 1
    for _ in range(MAX_PAGES):
        params = {"start_date": pull.since.isoformat(), "page": number, "per_page": PAGE}
        page = _get(client, pull.base + "/v1/incidents", params)
        yield page
        pagination = page.get("pagination")
        following = pagination.get("next") if isinstance(pagination, dict) else None
        if not following:
            break
        number = int(following)
