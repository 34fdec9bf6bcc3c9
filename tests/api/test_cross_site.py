"""Cross-site writes: Origin / Sec-Fetch-Site, form tokens, declared content types.

Every case runs with proxy auth and with token auth, on SQLite and PostgreSQL:
the victim is signed in, the request comes from a page on another site, and
nothing may be stored or audited as the victim's write.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from indexer import auth
from indexer.config import Settings
from indexer.db.store import make_engine
from tests.conftest import postmortem_text, write
from tests.routes import every_route

PROXY = "10.0.0.5"
EVIL = "https://evil.example"
OWN = "http://testserver"  # TestClient's base URL
ENTRY = {"date": "2025-03-15", "service": "orders", "what_failed": "pool", "caught_by": "alert"}
FORM_BODY = "date=2025-03-15&service=orders&what_failed=pool+nearly+full&caught_by=alert"
CSV = (
    "source_id,title,service,severity,started_at,detected_at,acknowledged_at,mitigated_at,"
    "resolved_at,error_class,error_budget_minutes,postmortem\n"
    "INC-9,Orders errors,orders,SEV2,2025-03-13T10:00:00Z,,,,,,,\n"
)
ALERT = (
    '{"version": "4", "alerts": [{"fingerprint": "f1", "status": "firing", '
    '"startsAt": "2025-03-13T10:00:00Z", "labels": {"alertname": "PoolHigh"}}]}'
)
FORM = "application/x-www-form-urlencoded"


class Victim:
    """A signed-in reader's client: proxy headers from the trusted proxy, or a bearer token."""

    def __init__(self, client: TestClient, headers: dict[str, str], admin: dict[str, str]):
        self.client, self.headers, self.admin = client, headers, admin

    def post(self, path: str, body: str, kind: str, **extra: Any) -> Any:
        headers = {**self.headers, "content-type": kind, **extra.pop("headers", {})}
        return self.client.post(path, content=body, headers=headers, **extra)

    def stored(self) -> tuple[int, int]:
        """(near-misses, incidents) in the database, whoever asks."""
        near = self.client.get("/api/near-misses", params={"as_of": "2025-03-31"}).json()
        services = self.client.get(
            "/api/trends/services", params={"as_of": "2025-03-31", "days": 30}
        ).json()
        return sum(g["count"] for g in near["groups"]), sum(
            s["incidents"] for s in services["items"]
        )

    def writes_audited(self) -> list[str]:
        log = self.client.get("/api/audit", headers=self.admin).json()["items"]
        return [e["target"] for e in log if e["action"] == "write"]


@pytest.fixture(params=["proxy", "token"])
def victim(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Victim]:
    write(settings.library, "a.md", postmortem_text(id="2025-03-12-a", date="2025-03-12"))
    mode = request.param
    secured = settings.model_copy(
        update={"auth": mode, "trusted_proxies": PROXY, "admin_group": "admins"}
    )
    engine = make_engine(secured.resolved_database_url)
    _, secret = auth.create_token(engine, "victim", ["sre"])
    _, admin_secret = auth.create_token(engine, "admin", ["admins"])
    engine.dispose()
    if mode == "proxy":
        headers = {"X-Forwarded-User": "victim", "X-Forwarded-Groups": "sre"}
    else:
        headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(secured), client=(PROXY, 1234)) as client:
        yield Victim(client, headers, {"Authorization": f"Bearer {admin_secret}"})


def _token(victim: Victim, required: bool = True) -> str:
    page = victim.client.get("/near-misses", headers=victim.headers).text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None or not required, "the near-miss form carries no token"
    return found[1] if found else ""


def test_writes_from_another_origin_store_nothing(victim: Victim) -> None:
    evil = {"headers": {"Origin": EVIL}}
    token = _token(victim, required=False)  # even a valid token does not help a cross-site post
    attempts = [
        victim.post("/near-misses", f"{FORM_BODY}&csrf_token={token}", FORM, **evil),
        victim.post("/api/near-misses", '{"date": "2025-03-15"}', "application/json", **evil),
        victim.post("/api/incidents/import?source=csv", CSV, "text/plain", **evil),
        victim.post("/api/alerts/alertmanager", ALERT, "text/plain", **evil),
        victim.post("/api/near-misses", "x", "text/plain", headers={"Sec-Fetch-Site": "same-site"}),
        victim.post("/near-misses", FORM_BODY, FORM, headers={"Origin": "null"}),
    ]
    for reply in attempts:
        assert reply.status_code == 403, (reply.request.url, reply.text)
        assert "cross-site request refused" in reply.text
    assert victim.stored() == (0, 0)
    assert victim.writes_audited() == []


def test_every_write_route_checks_the_origin(victim: Victim) -> None:
    """Found from the app's routes, so a write route added later is covered too."""
    writes = [
        (route.path, method)
        for route in every_route(victim.client.app.routes)  # type: ignore[attr-defined]
        if isinstance(route, APIRoute)
        for method in route.methods - {"GET", "HEAD"}
    ]
    assert {path for path, _ in writes} >= {
        "/near-misses", "/api/near-misses", "/api/incidents/import",
        "/api/alerts/alertmanager", "/api/webhooks/github", "/api/webhooks/gitlab",
    }  # fmt: skip
    for path, method in writes:
        for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}):
            reply = victim.client.request(method, path, headers={**victim.headers, **headers})
            assert reply.status_code == 403, (method, path, headers, reply.text)


def test_same_origin_and_machine_writes_still_work(victim: Victim) -> None:
    same = {"headers": {"Origin": OWN, "Sec-Fetch-Site": "same-origin"}}
    logged = victim.post("/api/near-misses", _json(ENTRY), "application/json", **same)
    assert logged.status_code == 201
    form = victim.post(
        "/near-misses", f"{FORM_BODY}&csrf_token={_token(victim)}", FORM, follow_redirects=False,
        **same,
    )  # fmt: skip
    assert form.status_code == 303
    # Alertmanager and scripts send no Origin: their credentials decide.
    assert victim.post("/api/alerts/alertmanager", ALERT, "application/json").status_code == 200
    imported = victim.post("/api/incidents/import?source=csv", CSV, "text/csv")
    assert imported.status_code == 200 and imported.json()["added"] == 1
    assert victim.stored() == (2, 1)
    assert len(victim.writes_audited()) == 4


def test_json_endpoints_refuse_other_content_types(victim: Victim) -> None:
    same = {"headers": {"Origin": OWN}}
    for kind in ("text/plain", FORM, "multipart/form-data; boundary=x"):
        for path in ("/api/near-misses", "/api/alerts/alertmanager"):
            body = ALERT if "alert" in path else _json(ENTRY)
            reply = victim.post(path, body, kind, **same)
            assert reply.status_code == 415, (path, kind, reply.text)
            assert "application/json" in reply.json()["detail"]
        imported = victim.post("/api/incidents/import?source=csv", CSV, kind, **same)
        if kind.startswith("multipart/"):  # a script's upload (curl -F): read for its file part
            assert imported.status_code == 400 and "multipart" in imported.json()["detail"]
            sibling = dict(same["headers"], **{"Sec-Fetch-Site": "same-site"})
            refused = victim.post("/api/incidents/import?source=csv", CSV, kind, headers=sibling)
            assert refused.status_code == 415  # a browser's form upload from a sibling site
            evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
            refused = victim.post("/api/incidents/import?source=csv", CSV, kind, headers=evil)
            assert refused.status_code == 403
        else:
            assert imported.status_code == 415 and "text/csv" in imported.json()["detail"]
    missing = victim.client.post("/api/near-misses", content=_json(ENTRY), headers=victim.headers)
    assert missing.status_code == 415
    assert victim.stored() == (0, 0)


def test_form_token_is_tied_to_the_cookie_and_the_reader(victim: Victim) -> None:
    no_token = victim.post("/near-misses", FORM_BODY, FORM)
    assert no_token.status_code == 403 and "reload the page" in no_token.text
    assert "<html" in no_token.text  # the form's error is a page, not JSON
    token = _token(victim)
    forged = token[:-1] + ("1" if token.endswith("0") else "0")
    assert victim.post("/near-misses", f"{FORM_BODY}&csrf_token={forged}", FORM).status_code == 403
    cookie = victim.client.cookies.get("pml_csrf")
    victim.client.cookies.clear()  # the token without its cookie (a page on another site)
    assert victim.post("/near-misses", f"{FORM_BODY}&csrf_token={token}", FORM).status_code == 403
    victim.client.cookies.set("pml_csrf", cookie or "")
    if "X-Forwarded-User" in victim.headers:  # another reader's token with this cookie
        other = {"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "sre"}
        reply = victim.post("/near-misses", f"{FORM_BODY}&csrf_token={token}", FORM, headers=other)
        assert reply.status_code == 403
    body = f"{FORM_BODY}&csrf_token={token}"
    assert victim.post("/near-misses", body, FORM, follow_redirects=False).status_code == 303
    assert victim.stored() == (1, 0)


def test_public_url_is_the_origin_writes_must_come_from(settings: Settings) -> None:
    public = settings.model_copy(update={"public_url": "https://pml.example.com/"})
    with TestClient(create_app(public)) as client:

        def post(origin: str) -> int:
            headers = {"Origin": origin, "content-type": "application/json"}
            reply = client.post("/api/near-misses", content=_json(ENTRY), headers=headers)
            return reply.status_code

        assert post(OWN) == 403  # the Host header is not our origin once PML_PUBLIC_URL is set
        assert post("https://pml.example.com:8443") == 403
        assert post("https://PML.example.com:443") == 201
        page = client.get("/near-misses")
        assert "secure" in page.headers["set-cookie"].lower()
        assert "samesite=strict" in page.headers["set-cookie"].lower()


def test_without_public_url_the_origin_is_the_requests_own(settings: Settings) -> None:
    """Scheme from X-Forwarded-Proto only when the peer is a trusted proxy."""
    behind = settings.model_copy(
        update={"trusted_proxies": PROXY, "allowed_hosts": "pml.example.com"}
    )
    headers = {
        "Origin": "https://pml.example.com",
        "Host": "pml.example.com",
        "X-Forwarded-Proto": "https",
        "content-type": "application/json",
    }
    for peer, status in ((PROXY, 201), ("10.0.0.99", 403)):
        with TestClient(create_app(behind), client=(peer, 1)) as client:
            reply = client.post("/api/near-misses", content=_json(ENTRY), headers=headers)
            assert reply.status_code == status, (peer, reply.text)


def test_every_post_form_in_the_templates_carries_the_token() -> None:
    import frontend

    for template in sorted(frontend.TEMPLATES.glob("*.html")):
        text = template.read_text(encoding="utf-8")
        for form in re.findall(r"<form\b[^>]*>.*?</form>", text, flags=re.S | re.I):
            if re.search(r'method="post"', form, flags=re.I):
                assert 'name="csrf_token" value="{{ csrf_token() }}"' in form, template.name


def _json(value: dict[str, str]) -> str:
    import json

    return json.dumps(value)
