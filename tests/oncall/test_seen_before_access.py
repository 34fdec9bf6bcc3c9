"""Seen before keeps restricted postmortems to their audience (the outsider property).

Uses the two libraries of tests/api/test_outsider_view.py: the sample library
with restricted postmortems (one about orders' pool exhaustion, one about
credential stuffing) and the same library without them. An outsider's answer
must be the same from both; the audience gets the restricted one.
"""

from __future__ import annotations

from benchmarks.seen_before import payloads as alerts
from tests.api.test_outsider_view import (  # noqa: F401
    EXTRA_ID,
    INSIDER_GROUPS,
    Pair,
    _drop_timing,
    pair,
)

PAYLOADS = {
    "alertmanager": alerts.alertmanager(
        "PgbouncerPoolExhausted",
        {"job": "pgbouncer-orders"},
        "Orders database connection pool exhausted",
    ),
    "opsgenie": alerts.opsgenie(
        "Login failure ratio anomaly: credential stuffing suspected",
        tags=["service:identity"],
    ),
}
STORED = ("/api/incidents/csv/P0000260/seen-before", "/api/incidents/csv/PS8K5FO/seen-before")


def test_outsiders_get_the_answer_of_a_library_without_restricted_postmortems(
    pair: Pair,  # noqa: F811
) -> None:
    with_secrets, without, outsiders, _ = pair
    headers = {"Content-Type": "application/json"}
    for who, extra in outsiders.items():
        for source, body in PAYLOADS.items():
            url = f"/api/seen-before?source={source}"
            a = with_secrets.post(url, content=body, headers={**headers, **extra})
            b = without.post(url, content=body, headers={**headers, **extra})
            assert a.status_code == b.status_code == 200, (who, a.text)
            assert _drop_timing(a.json()) == _drop_timing(b.json()), (who, source)
            assert EXTRA_ID not in a.text
        for url in STORED:
            a, b = with_secrets.get(url, headers=extra), without.get(url, headers=extra)
            assert a.status_code == b.status_code, (who, url)
            assert a.text == b.text, (who, url)


def test_the_audience_sees_its_restricted_precedent(pair: Pair) -> None:  # noqa: F811
    """Each insider, in every auth mode, gets the restricted precedent exactly when it is theirs."""
    with_secrets, _, _, insiders = pair
    assert insiders
    for who, headers in insiders.items():
        answer = with_secrets.post(
            "/api/seen-before?source=alertmanager",
            content=PAYLOADS["alertmanager"],
            headers={"Content-Type": "application/json", **headers},
        ).json()
        mergers = "mergers" in INSIDER_GROUPS[who.rsplit(" ", 1)[1]]
        assert (EXTRA_ID in [item["id"] for item in answer["items"]]) is mergers, who
