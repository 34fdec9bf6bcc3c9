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
- Jira Service Management operations: `GET <base>/v1/alerts` (the base is
  `https://api.atlassian.com/jsm/ops/api/<cloudId>`), `offset`/`size`,
  following `links.next`; `email:api-token` as Basic auth, else a Bearer
  (OAuth) token.
- incident.io: `GET /v2/incidents?created_at[gte]=`, `page_size`, the cursor
  `pagination_meta.after` until there is none; `Authorization: Bearer`.
- Grafana OnCall / IRM: `GET <base>/api/v1/alert_groups/`, following `next`
  (absolute URLs) until null; `Authorization: <token>`. The list has no date
  filter: alert groups created before `--since` are dropped here.

The base URL is configurable (EU instances, proxies, and the tests' local
server replaying recorded responses).
"""

from __future__ import annotations

import base64
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
    "jsm": "PML_JSM_TOKEN",
    "incident-io": "PML_INCIDENT_IO_TOKEN",
    "grafana-oncall": "PML_GRAFANA_ONCALL_TOKEN",
}
BASE_URLS = {
    "pagerduty": "https://api.pagerduty.com",
    "opsgenie": "https://api.opsgenie.com",
    "firehydrant": "https://api.firehydrant.io",
    "incident-io": "https://api.incident.io",
}
# Per-tenant APIs: the base URL names the site or stack, so it must be given.
BASE_URL_HINTS = {
    "jsm": "https://api.atlassian.com/jsm/ops/api/<cloudId>",
    "grafana-oncall": "your OnCall API URL (Grafana Cloud: OnCall settings, 'API URL')",
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
        base = self.base_url or BASE_URLS.get(self.source)
        if not base:
            hint = BASE_URL_HINTS.get(self.source, "the API's base URL")
            raise PullError(f"{self.source} needs --base-url: {hint}")
        return base.rstrip("/")


def fetch(pull: Pull) -> tuple[bytes, int]:
    """Every page since `pull.since`, concatenated (one JSON document per line), and the count."""
    pages = {
        "pagerduty": _pagerduty,
        "opsgenie": _opsgenie,
        "firehydrant": _firehydrant,
        "jsm": _jsm,
        "incident-io": _incident_io,
        "grafana-oncall": _grafana_oncall,
    }
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
    if pull.source == "jsm" and ":" in pull.token:
        basic = base64.b64encode(pull.token.encode("utf-8")).decode("ascii")
        return {"Authorization": f"Basic {basic}"}
    if pull.source in ("jsm", "incident-io"):
        return {"Authorization": f"Bearer {pull.token}"}
    return {"Authorization": pull.token}


def _get(client: httpx.Client, url: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """A page as JSON; `params` None keeps the URL's own query (a followed paging link)."""
    try:
        response = client.get(url, params=params) if params else client.get(url)
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


def _jsm(client: httpx.Client, pull: Pull) -> Iterator[dict[str, Any]]:
    start = dt.datetime.combine(pull.since, dt.time(), dt.UTC)
    params: dict[str, Any] | None = {
        "query": f"createdAt>={int(start.timestamp() * 1000)}",
        "offset": 0,
        "size": PAGE,
        "sort": "createdAt",
        "order": "asc",
    }
    url = pull.base + "/v1/alerts"
    for _ in range(MAX_PAGES):
        page = _get(client, url, params)
        yield page
        links = page.get("links")
        following = links.get("next") if isinstance(links, dict) else None
        if not following or not page.get("values"):
            break
        url, params = _absolute(pull, str(following)), None  # the link carries the paging


def _incident_io(client: httpx.Client, pull: Pull) -> Iterator[dict[str, Any]]:
    after: str | None = None
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"page_size": PAGE, "created_at[gte]": pull.since.isoformat()}
        if after:
            params["after"] = after
        page = _get(client, pull.base + "/v2/incidents", params)
        yield page
        meta = page.get("pagination_meta")
        after = meta.get("after") if isinstance(meta, dict) else None
        if not after or not page.get("incidents"):
            break


def _grafana_oncall(client: httpx.Client, pull: Pull) -> Iterator[dict[str, Any]]:
    url: str | None = pull.base + "/api/v1/alert_groups/"
    since = dt.datetime.combine(pull.since, dt.time(), dt.UTC)
    for _ in range(MAX_PAGES):
        if url is None:
            break
        page = _get(client, url, None)
        results = page.get("results") if isinstance(page.get("results"), list) else []
        page["results"] = [r for r in results or [] if _created_since(r, since)]
        yield page
        following = page.get("next")
        url = _absolute(pull, str(following)) if following else None


def _created_since(record: Any, since: dt.datetime) -> bool:
    """Whether an alert group was created on or after `since` (kept when its time is unreadable:
    the importer names the problem)."""
    created = record.get("created_at") if isinstance(record, dict) else None
    try:
        when = dt.datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return True
    return when.tzinfo is None or when >= since


def _absolute(pull: Pull, link: str) -> str:
    """A paging link as a URL: absolute links are followed only on the API's own host."""
    base = httpx.URL(pull.base)
    target = base.join(link)
    if target.host != base.host:
        raise PullError(f"paging link {link[:200]!r} leaves {base.host}")
    return str(target)
