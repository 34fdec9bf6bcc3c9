"""The outsider property: a library with restricted postmortems looks, to anyone outside
their audience, exactly like the same library without them.

Two libraries are built from the sample library: `with_secrets` holds it as
shipped (two restricted postmortems) plus one more restricted postmortem that
shares words, services, error classes, an owner and dates with the rest;
`without` is the same folder with every restricted file removed. Both import
the same incident history (some incidents link to the restricted postmortems)
and targets. Then every GET route the app has, API and pages, in every search
mode, with filters, exports and reports, is asked by outsiders (nobody, a
proxy user in other groups, a token of other groups), and the two answers must
be the same, byte for byte once timing fields are set aside. A difference is a
side channel: a count, a score, a facet, a name or an error class that only a
restricted postmortem could have put there.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from sqlalchemy import create_engine, text

from api.app import create_app
from indexer import auth
from indexer.config import Settings
from indexer.db.store import make_engine
from tests.conftest import BODY, PG_URL, SAMPLE_LIBRARY, postmortem_text, write
from tests.restriction_mutations import restricted_front_matter
from tests.routes import every_route

PROXY = "10.0.0.5"
EXTRA_ID = "2026-03-20-orders-pool-secret-merger"
# Shares the pool-exhaustion vocabulary, a service, an error class and a team
# with visible postmortems; adds an owner name nobody else has, a SEV1, an
# overdue action item and a mitigation maturity.
EXTRA_FIELDS: dict[str, Any] = dict(
    id=EXTRA_ID,
    title="Orders database connection pool exhausted during the merger cut-over",
    date="2026-03-20",
    visibility="restricted",
    audience=["mergers"],
    severity="SEV1",
    services=["orders", "checkout"],
    teams=["orders-team"],
    tags=["connection-pool", "merger"],
    error_classes=["connection-pool-exhaustion"],
    owner="valentina.okonkwo",
    authors=["valentina.okonkwo"],
    mitigation_maturity="manual",
    timestamps={
        "started_at": "2026-03-20T09:00:00Z",
        "detected_at": "2026-03-20T09:20:00Z",
        "mitigated_at": "2026-03-20T10:00:00Z",
        "resolved_at": "2026-03-20T11:00:00Z",
    },
    action_items=[
        {
            "id": "AI-1",
            "title": "Raise the pool limit before the merger",
            "status": "open",
            "owner": "valentina.okonkwo",
            "due": "2026-04-01",
            "type": "mitigate",
        }
    ],
)
EXTRA_SUMMARY = (
    "The orders database ran out of connections: the connection pool was exhausted "
    "when valentina.okonkwo moved the acquired company's traffic over."
)
EXTRA = postmortem_text(summary=EXTRA_SUMMARY, **EXTRA_FIELDS)
# Who reads which restricted postmortem: group -> the ids only that audience may read.
INSIDER_GROUPS = {"mergers": ["mergers"], "security": ["security"], "both": ["mergers", "security"]}
OUTSIDERS = {
    "nobody": {},
    "proxy user in other groups": {"X-Forwarded-User": "eve", "X-Forwarded-Groups": "payments"},
}
# Fields that measure time, not content (forms' CSRF tokens are per-request secrets, too).
TIMING = {"took_ms", "seconds", "uptime_seconds", "generated_at", "indexed_at"}


def _database_urls(tmp_path: Path, backend: str) -> Iterator[tuple[str, str]]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.sqlite3'}", f"sqlite:///{tmp_path / 'b.sqlite3'}"
        return
    schemas = [f"pml_test_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        for schema in schemas:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield tuple(f"{PG_URL}?options=-csearch_path%3D{s}" for s in schemas)  # type: ignore[misc]
    finally:
        with admin.begin() as connection:
            for schema in schemas:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


Pair = tuple[TestClient, TestClient, dict[str, dict[str, str]], dict[str, dict[str, str]]]


@pytest.fixture(
    params=[
        pytest.param(("proxy", "sqlite"), id="proxy-sqlite"),
        pytest.param(("token", "sqlite"), id="token-sqlite"),
        pytest.param(("proxy", "postgres"), id="proxy-postgres", marks=pytest.mark.postgres),
        pytest.param(("token", "postgres"), id="token-postgres", marks=pytest.mark.postgres),
    ]
)
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_available: bool
) -> Iterator[Pair]:
    mode, backend = request.param
    if backend == "postgres" and not postgres_available:
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    with_secrets, without = tmp_path / "with" / "library", tmp_path / "without" / "library"
    shutil.copytree(SAMPLE_LIBRARY, with_secrets)
    write(with_secrets, "2026/2026-03-20-orders-pool-secret-merger.md", EXTRA)
    shutil.copytree(SAMPLE_LIBRARY, without)
    restricted = [
        p for p in without.rglob("*.md") if "\nvisibility: restricted\n" in p.read_text("utf-8")
    ]
    assert len(restricted) == 2, "the sample library's restricted postmortems moved"
    for path in restricted:
        path.unlink()
    urls = iter(_database_urls(tmp_path, backend))
    first, second = next(urls)
    outsiders = dict(OUTSIDERS)
    insiders: dict[str, dict[str, str]] = {}
    if mode == "proxy":
        for name, groups in INSIDER_GROUPS.items():
            user = {"X-Forwarded-User": name, "X-Forwarded-Groups": ",".join(groups)}
            insiders[f"proxy user in {name}"] = user
    clients = []
    for library, url in ((with_secrets, first), (without, second)):
        settings = Settings(
            library=library,
            data_dir=library.parent / "data",
            database_url=url,
            embedding_model="hash",
            auth=mode,
            trusted_proxies=f"{PROXY}/32",
            admin_group="sre-admin",
        )
        engine = make_engine(settings.resolved_database_url)
        # The same token secret in both databases, so both see the same caller.
        secret = _token(engine, "payments-bot", ["payments"])
        for name, groups in INSIDER_GROUPS.items():
            insiders[f"token of {name}"] = {
                "Authorization": f"Bearer {_token(engine, f'{name}-bot', groups, name[0])}"
            }
        engine.dispose()
        outsiders["token of other groups"] = {"Authorization": f"Bearer {secret}"}
        client = TestClient(create_app(settings), client=(PROXY, 4321))
        clients.append(client.__enter__())
    try:
        for client in clients:
            deadline = time.monotonic() + 60
            while not client.get("/readyz").json().get("semantic"):
                assert time.monotonic() < deadline, "semantic search never became ready"
                time.sleep(0.05)
        if mode == "token":
            outsiders.pop("proxy user in other groups")
        yield clients[0], clients[1], outsiders, insiders
    finally:
        for client in clients:
            client.__exit__(None, None, None)
        next(urls, None)


def _token(engine: Any, name: str, groups: list[str], fill: str = "x") -> str:
    auth.create_token(engine, name, groups)
    # Replace the random secret with a fixed one so both libraries know the same caller.
    fixed = f"{auth.TOKEN_PREFIX}{fill * 40}"
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE api_token SET token_hash = :new WHERE name = :name"),
            {"new": auth._hash(fixed), "name": name},
        )
    return fixed


def _routes(app: Any) -> list[str]:
    """Every GET path of the app, through included routers."""
    routes = every_route(app.routes)
    return sorted({r.path for r in routes if "GET" in (getattr(r, "methods", None) or ())})


VISIBLE_IDS = (
    "2025-02-11-orders-pgbouncer-pool-exhaustion",
    "2026-03-09-checkout-hikari-pool-saturation",
)
SECRET_IDS = (EXTRA_ID, "2025-05-29-identity-credential-stuffing")
QUERIES = ("", "connection pool exhaustion", "credential stuffing", "merger", "login bots")
VALUES = {
    "{cadence}": ("weekly", "monthly", "quarterly"),
    "{name}": ("failure-modes", "services", "mttr", "mtta", "mttd", "error-budget"),
    "{postmortem_id}": VISIBLE_IDS + SECRET_IDS,
}
EXTRA_QUERIES = [
    "/api/postmortems?limit=100",
    "/api/postmortems?service=identity&limit=100",
    "/api/postmortems?tag=credential-stuffing",
    "/api/postmortems?severity=SEV1",
    "/api/postmortems?year=2026&sort=date",
    "/api/postmortems/2025-02-11-orders-pgbouncer-pool-exhaustion/related?scope=all&limit=50",
    "/api/duplicates?threshold=0.3",
    "/api/review/weekly?as_of=2026-03-22",
    "/api/review/weekly?as_of=2025-06-01",
    "/api/review/monthly?as_of=2026-03-31",
    "/api/review/quarterly?as_of=2026-03-31",
    "/api/action-items?as_of=2026-05-01",
    "/api/action-items?as_of=2026-05-01&overdue=true",
    "/api/digest?week=2026-W12",
    "/api/digest?week=2026-W12&format=markdown",
    "/api/digest?week=2025-W22&format=html",
    "/api/investments?as_of=2026-06-30",
    "/api/trends/failure-modes?as_of=2026-06-30",
    "/api/trends/services?as_of=2026-06-30",
    "/api/trends/mttr?as_of=2026-06-30&error_class=connection-pool-exhaustion",
    "/api/trends/mttr?as_of=2025-06-30&service=identity",
    "/review/weekly?as_of=2026-03-22",
    "/review/quarterly?as_of=2026-03-31",
    "/digest?week=2026-W12",
    "/digest.md?week=2025-W22",
    "/trends/services.csv?as_of=2026-06-30",
    "/trends/failure-modes.csv?as_of=2026-06-30",
    "/api/error-classes/connection-pool-exhaustion/pack",
    "/api/error-classes/rate-limiting/pack",
    "/error-classes/connection-pool-exhaustion/pack.md",
    f"/api/postmortems/2026-03-09-checkout-hikari-pool-saturation/pack?add={EXTRA_ID}",
    "/api/postmortems/2026-03-09-checkout-hikari-pool-saturation/pack?format=markdown",
    "/api/postmortems/2026-03-20-orders-pool-secret-mergr",
    "/feed.atom?q=credential+stuffing",
    "/feed.atom?q=merger&mode=hybrid",
    "/feed.atom?service=identity&severity=SEV1",
]


def _urls(app: Any) -> list[str]:
    urls = []
    for route in _routes(app):
        if route in ("/api/audit", "/docs/oauth2-redirect"):
            continue  # the audit log is for admins only
        expanded = [route]
        for placeholder, values in VALUES.items():
            expanded = [
                url.replace(placeholder, value) if placeholder in url else url
                for url in expanded
                for value in (values if placeholder in url else (None,))
            ]
        urls += expanded
    for mode in ("fulltext", "semantic", "hybrid"):
        for query in QUERIES:
            urls.append(f"/api/search?q={query}&mode={mode}&limit=50")
            urls.append(f"/api/search?q={query}&mode={mode}&service=identity")
            urls.append(f"/?q={query}&mode={mode}")
    return urls + EXTRA_QUERIES


def _normalised(reply: Any, url: str) -> Any:
    kind = reply.headers.get("content-type", "")
    if "json" in kind:
        return _drop_timing(reply.json())
    body = reply.text
    if url.startswith("/metrics"):
        # Request counts and durations (the test's own traffic) and process figures
        # are not the library's content; the rest must match.
        return [
            line
            for line in body.splitlines()
            if not re.match(r"(process_|python_gc|pml_http_request|\S+_created)", line)
        ]
    body = re.sub(r'name="csrf_token" value="[0-9a-f]+"', 'name="csrf_token" value="…"', body)
    return re.sub(r"\d+(\.\d+)? ?ms\b", "N ms", body)


def _drop_timing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_drop_timing(v) for v in value]
    return value


def test_outsiders_see_the_library_as_if_restricted_postmortems_did_not_exist(
    pair: Pair,
) -> None:
    with_secrets, without, outsiders, _ = pair
    urls = _urls(with_secrets.app)
    assert len(urls) > 120
    differences = []
    for who, headers in outsiders.items():
        for url in urls:
            a, b = with_secrets.get(url, headers=headers), without.get(url, headers=headers)
            assert a.status_code < 500 and b.status_code < 500, (url, a.text[:300])
            if a.status_code != b.status_code:
                differences.append(f"{who} {url}: status {a.status_code} != {b.status_code}")
            elif _normalised(a, url) != _normalised(b, url):
                differences.append(f"{who} {url}: {_first_difference(a, b, url)}")
    assert differences == [], "\n".join(differences[:40])


def test_insiders_do_see_them(pair: Pair) -> None:
    """The property is not met by hiding everything: each audience reads its own, in every mode."""
    with_secrets, _, _, insiders = pair
    # Tokens in every mode, and proxy users too with proxy auth: never nobody to check.
    assert {f"token of {name}" for name in INSIDER_GROUPS} <= set(insiders)
    audiences = {EXTRA_ID: "mergers", SECRET_IDS[1]: "security"}
    for who, headers in insiders.items():
        groups = set(INSIDER_GROUPS[who.rsplit(" ", 1)[1]])
        listed = with_secrets.get("/api/postmortems?limit=100", headers=headers).json()["items"]
        for identifier, audience in audiences.items():
            allowed = audience in groups
            detail = with_secrets.get(f"/api/postmortems/{identifier}", headers=headers)
            assert detail.status_code == (200 if allowed else 404), (who, identifier)
            assert (identifier in [item["id"] for item in listed]) is allowed, (who, identifier)
        hits = with_secrets.get("/api/search", params={"q": "merger"}, headers=headers).json()
        assert (EXTRA_ID in [hit["id"] for hit in hits["results"]]) is ("mergers" in groups), who


# What a restricted postmortem could show up in: searched for, listed, linked, counted.
MUTATION_URLS = (
    "/api/postmortems?limit=100",
    f"/api/postmortems/{EXTRA_ID}",
    f"/postmortems/{EXTRA_ID}",
    "/api/search?q=merger&mode=fulltext&limit=50",
    "/api/search?q=merger&mode=hybrid&limit=50",
    "/api/search?q=connection+pool+exhaustion&mode=semantic&limit=50",
    "/?q=merger",
    "/feed.atom",
    "/api/digest?week=2026-W12",
    "/api/review/weekly?as_of=2026-03-22",
    "/api/action-items?as_of=2026-05-01",
    "/api/trends/services?as_of=2026-06-30",
    "/api/investments?as_of=2026-06-30",
    "/api/duplicates?threshold=0.3",
    "/api/postmortems/2026-03-09-checkout-hikari-pool-saturation/related?scope=all&limit=50",
    "/api/problems",
    "/readyz",
)


def test_no_mangled_restriction_reaches_outsiders(pair: Pair) -> None:
    """The generator: EXTRA's front matter rewritten with its restriction mangled every way
    `tests.restriction_mutations` knows (issue 29), reindexed, and the outsiders' view compared
    with the library that never held it."""
    with_secrets, without, outsiders, _ = pair
    library = with_secrets.app_state["library"]
    path = library.root / "2026/2026-03-20-orders-pool-secret-merger.md"
    body = BODY.format(summary=EXTRA_SUMMARY)
    expected = {
        (who, url): _normalised(without.get(url, headers=headers), url)
        for who, headers in outsiders.items()
        for url in MUTATION_URLS
    }

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(front=restricted_front_matter(EXTRA_FIELDS))
    def outsiders_never_see_it(front: str) -> None:
        path.write_text(f"---\n{front}---\n{body}", "utf-8")
        report = library.refresh()
        assert not report.problems, (front, report.problems)
        for (who, url), answer in expected.items():
            reply = with_secrets.get(url, headers=outsiders[who])
            assert reply.status_code < 500, (url, reply.text[:300])
            assert _normalised(reply, url) == answer, (
                front,
                who,
                url,
                _first_difference(reply, without.get(url, headers=outsiders[who]), url),
            )

    outsiders_never_see_it()


def _first_difference(a: Any, b: Any, url: str) -> str:
    left = json.dumps(_normalised(a, url), sort_keys=True, default=str)
    right = json.dumps(_normalised(b, url), sort_keys=True, default=str)
    at = next((i for i, (x, y) in enumerate(zip(left, right, strict=False)) if x != y), 0)
    return f"…{left[max(0, at - 80) : at + 120]}… vs …{right[max(0, at - 80) : at + 120]}…"
